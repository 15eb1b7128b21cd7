"""The main job end to end: `posrig run` on the virtual lab, then its report opened from disk.

This is what a vendor gets: one HTML file that opens in a browser without a server,
showing every scenario the run wrote (pytest and Robot alike), each with its flow steps
and their evidence, labelled by the certification plan.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from test_report_verdicts import ALLURE, needs

from harness.report_view import counters, embedded, find_chromium, render
from harness.run import Layout, build_report


@pytest.fixture(scope="module")
def main_run(
        main_run: tuple[Layout, subprocess.CompletedProcess]) -> tuple[Layout, subprocess.CompletedProcess]:
    """The session's `posrig run` (tests/conftest.py), which the report needs built."""
    needs(ALLURE, "the report builder (npm ci --prefix reports)")
    return main_run


def results(where: Layout) -> list[dict]:
    return [json.loads(p.read_text()) for p in where.results.glob("*-result.json")]


def test_every_scenario_passes_and_the_summary_names_the_report(main_run):
    where, done = main_run
    # the test command runs the scenario suite only in this run: name each one that did not pass
    not_passed = [f"{r['status']} {r['name']}: {r.get('statusDetails', {}).get('message', '')[:500]}"
                  for r in results(where) if r["status"] != "passed"]
    assert not not_passed, "\n".join(not_passed) + "\n" + done.stdout[-2000:] + done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    frameworks = {label["value"] for r in results(where) for label in r["labels"]
                  if label["name"] == "framework"}
    assert frameworks == {"pytest", "robotframework"}, "one report for both runners' scenarios"
    last = done.stdout.strip().splitlines()[-1]
    total = len(results(where))
    assert re.fullmatch(rf"posrig: {total} scenarios: {total} passed; report: (\S+)", last), last
    assert Path(last.rsplit("report: ", 1)[1]) == where.report / "index.html"
    assert total >= 2
    assert {r["status"] for r in results(where)} == {"passed"}


def test_each_scenario_is_filed_by_the_plan_with_steps_and_evidence(main_run):
    where, _ = main_run
    for result in results(where):
        labels = {label["name"]: label["value"] for label in result["labels"]}
        assert labels.get("epic") == "CUP POS terminal certification", result["name"]
        assert {"feature", "story", "severity", "case_id"} <= labels.keys(), result["name"]
        assert [link["name"] for link in result["links"]] == [labels["case_id"]]
        params = {p["name"] for p in result.get("parameters", [])}
        assert {"station", "terminal model", "firmware", "serial"} <= params, result["name"]
        assert result.get("steps"), f"{result['name']} has no steps"
        # a terminal without power says nothing: its test shows the relay's log instead
        assert any(a["name"].endswith(".log") for a in result["attachments"]), \
            f"{result['name']}: no device log is attached to the test"
    sale = next(r for r in results(where) if "Signed in chip sale" in r["name"])  # titled (report_results.py)
    assert any(a["name"].endswith("/terminal.log") for a in sale["attachments"]), \
        "the terminal's log is not attached to the sale"
    evidence = {a["name"] for step in _all_steps(sale["steps"]) for a in step.get("attachments", [])}
    assert {"ECR frames", "ISO 8583 exchange", "gcode", "witnesses", "slip, fields read"} <= evidence


def _all_steps(steps: list[dict]) -> list[dict]:
    return [s for step in steps for s in (step, *_all_steps(step.get("steps", [])))]


@pytest.mark.heavy  # CPU-heavy (a browser; two whole runs): the heavy set .ci/run runs
def test_report_opens_from_disk_and_shows_every_scenario(main_run):
    where, _ = main_run
    index = where.report / "index.html"
    assert index.exists()
    assert not (where.report / "data").exists(), "a single-file report carries its data inside"
    tree = embedded(index, "widgets/tree.json")
    assert tree, "the report carries no test tree"
    needs(find_chromium(), "Chromium")
    shown = counters(render(index))
    total = len(results(where))
    assert shown.get("total") == total and shown.get("passed") == total, shown


def test_history_is_kept_between_runs(main_run):
    where, _ = main_run
    history = where.out / "allure-history.jsonl"
    before = len(history.read_text().splitlines())
    assert before >= 1
    assert build_report(where) is not None  # the next night's report, on the same --out
    nights = [json.loads(line) for line in history.read_text().splitlines()]
    assert len(nights) == before + 1
    for night in nights:  # each night remembers every scenario, so trends can be drawn
        assert {t["name"] for t in night["testResults"].values()} == {r["name"] for r in results(where)}
