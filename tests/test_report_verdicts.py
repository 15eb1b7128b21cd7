"""Failed vs broken, as the report shows it: a terminal defect and a station fault.

The demonstration scenarios (tests/report_demo/demo_verdicts.py, not part of the suite)
make a host report a wrong amount and jam a station's card robot. The report must file the
first as *failed* under "Terminal defect", the second as *broken* under "Station fault",
and skip the jammed station's next test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import REPO
from harness.report_files import install_categories
from harness.report_view import categories, counters, find_chromium, render
from harness.run import Layout, build_report

DEMO = REPO / "tests" / "report_demo" / "demo_verdicts.py"
ALLURE = REPO / "reports" / "node_modules" / ".bin" / "allure"


def needs(tool: Path | str | None, what: str) -> None:
    """Where CI promises a tool (.ci/run installs it), its absence fails; elsewhere it skips."""
    if tool and Path(tool).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing on CI; .ci/run installs it")
    pytest.skip(f"{what} is not installed here")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    where = Layout(tmp_path_factory.mktemp("demo-run"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(DEMO), "-q", "-p", "no:cacheprovider",
         f"--alluredir={where.results}", f"--basetemp={where.out / 'basetemp'}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, "the demonstration scenarios must fail:\n" + run.stdout[-3000:]
    install_categories(where.results)
    return where


def statuses(where: Layout) -> dict[str, str]:
    out = {}
    for path in where.results.glob("*-result.json"):
        result = json.loads(path.read_text())
        out[result["name"]] = result["status"]
    return out


def test_results_say_failed_for_the_terminal_and_broken_for_the_station(demo_run: Layout):
    assert statuses(demo_run) == {  # titled by the case and the function name (report_results.py)
        "CUP-SALE-001: Host reports a wrong amount": "failed",
        "CUP-SALE-002: Card robot jams": "broken",
        "CUP-SALE-005: Jammed station takes no more tests": "skipped",
    }
    skipped = next(json.loads(p.read_text()) for p in demo_run.results.glob("*-result.json")
                   if json.loads(p.read_text())["name"] == "CUP-SALE-005: Jammed station takes no more tests")
    assert "out of service" in skipped["statusDetails"]["message"]
    assert "RobotError" in skipped["statusDetails"]["message"], "the skip must say what broke"


def test_report_files_them_under_terminal_defect_and_station_fault(demo_run: Layout):
    needs(ALLURE, "the report builder (npm ci --prefix reports)")
    index = build_report(demo_run)
    assert index is not None
    assert categories(index) == {
        "Terminal defect": ["CUP-SALE-001: Host reports a wrong amount"],
        "Station fault": ["CUP-SALE-002: Card robot jams"],
    }
    needs(find_chromium(), "Chromium")
    shown = counters(render(index))
    assert {k: shown.get(k) for k in ("total", "failed", "broken", "skipped")} == \
        {"total": 3, "failed": 1, "broken": 1, "skipped": 1}, shown
