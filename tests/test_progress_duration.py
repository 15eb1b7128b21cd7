"""A progress line's time is the whole test's, setup and teardown included (issue 11).

Allure's result holds the test body's start and stop only; on a bench most of a test's
time is in its fixtures (a power cycle, a sign-in, the bench's restore). posrig run's plugin
(harness/run_plugin.py) labels each pytest result with its whole time, and the progress
line (harness/progress.py) shows that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import REPO
from harness.progress import DURATION_LABEL, Ended

SETUP_S, TEARDOWN_S = 0.4, 0.3

SCENARIO = f'''
import time

import pytest


@pytest.fixture
def slow_bench():
    time.sleep({SETUP_S})  # a bench's set-up: what the body's time leaves out
    yield
    time.sleep({TEARDOWN_S})


def test_quick_body(slow_bench):
    assert True
'''


def _result(name: str, start: int, stop: int, labels: list[dict] | None = None) -> dict:
    return {"name": name, "status": "passed", "start": start, "stop": stop, "labels": labels or []}


def test_the_line_takes_the_whole_time_from_the_label_else_the_body_s():
    labelled = _result("t", 1_000, 1_200, [{"name": DURATION_LABEL, "value": "2500"}])
    assert Ended.from_result(labelled).duration_s == 2.5
    assert Ended.from_result(_result("t", 1_000, 1_200)).duration_s == 0.2  # a Robot result
    odd = _result("t", 1_000, 1_200, [{"name": DURATION_LABEL, "value": "soon"}])
    assert Ended.from_result(odd).duration_s == 0.2


@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_the_run_plugin_labels_a_result_with_its_setup_and_teardown(tmp_path: Path):
    (tmp_path / "test_scenario.py").write_text(SCENARIO, encoding="utf-8")
    results = tmp_path / "allure-results"
    # as posrig run starts pytest (harness/run.py): its own plugin, no terminal reporter
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:terminal",
                          "-p", "harness.run_plugin", f"--alluredir={results}", "--rootdir", str(tmp_path),
                          str(tmp_path / "test_scenario.py")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    [path] = list(results.glob("*-result.json"))
    data = json.loads(path.read_text(encoding="utf-8"))
    labels = {lb["name"]: lb["value"] for lb in data["labels"]}
    whole_ms = int(labels[DURATION_LABEL])
    body_ms = data["stop"] - data["start"]
    assert body_ms < SETUP_S * 1000, data
    assert whole_ms >= (SETUP_S + TEARDOWN_S) * 1000 > body_ms
    assert Ended.from_result(data).duration_s == whole_ms / 1000
