"""The main job: run the certification suite on a lab, build the single-file report.

``posrig run`` runs the pytest scenarios, then the Robot Framework suites, each on the lab
it is given (the virtual lab by default, started by each runner in its own process), both
writing Allure results into one directory as they go; then it builds the report with
Allure 3 (one HTML file that opens from disk, history kept beside it), prints the
report's path and a summary line, and exits 0 only when every scenario passed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.paths import REPO
from harness.report_files import install_categories, write_executor

SCENARIOS = REPO / "scenarios"
ROBOT_SUITES = SCENARIOS / "robot"
BAD = ("failed", "broken")


@dataclass(frozen=True)
class Layout:
    """Where a run leaves things under ``--out``."""

    out: Path

    @property
    def results(self) -> Path:
        return self.out / "allure-results"

    @property
    def report(self) -> Path:
        return self.out / "report"

    @property
    def robot(self) -> Path:
        return self.out / "robot"

    @property
    def work(self) -> Path:
        return self.out / "work"  # the labs' temporary files: journals, terminal flash, logs


def run_suite(lab: str | None, out: Path, pytest_args: list[str], *, robot: bool = True) -> int:
    where = Layout(out.resolve())
    for stale in (where.results, where.robot, where.work):
        if stale.exists():
            shutil.rmtree(stale)  # a report shows one run; its history file stays
    where.results.mkdir(parents=True)
    where.work.mkdir()
    write_executor(where.results)
    install_categories(where.results)

    statuses = [run_pytest(where, lab, pytest_args)]
    if robot and any(ROBOT_SUITES.glob("*.robot")):
        statuses.append(run_robot(where, lab))
    report = build_report(where)
    counts = count_results(where.results)
    print(f"posrig: {summarize(counts)}; report: {report or 'not built (see above)'}", flush=True)
    passed = all(s == 0 for s in statuses) and not any(counts.get(s) for s in BAD) and report is not None
    return 0 if passed else 1


def run_pytest(where: Layout, lab: str | None, extra: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", str(SCENARIOS), "-p", "no:cacheprovider",
               "-p", "no:terminal", "--posrig-progress", f"--alluredir={where.results}",
               f"--basetemp={where.work / 'pytest'}", *extra]
    if lab:
        command.append(f"--lab={lab}")
    status = subprocess.call(command, cwd=REPO)
    # pytest's exit 1 is "some test failed": the results and summary tell which. Anything
    # else (2 interrupted, 3 internal error, 4 usage) means the run itself went wrong.
    if status not in (0, 1, 5):
        print(f"posrig: pytest ended with status {status}: the run did not complete", flush=True)
    return 0 if status == 5 else status  # 5: nothing collected, e.g. every module deselected


def run_robot(where: Layout, lab: str | None) -> int:
    command = [sys.executable, "-m", "robot", "--outputdir", str(where.robot), "--report", "NONE",
               "--console", "none", "--listener", f"allure_robotframework:{where.results}",
               "--listener", "harness.robot.progress.RobotProgress",
               "--variable", f"POSRIG_WORKDIR:{where.work / 'robot'}",
               "--variable", f"ALLURE_RESULTS:{where.results}"]
    if lab:
        command += ["--variable", f"LAB:{lab}"]
    status = subprocess.call([*command, str(ROBOT_SUITES)], cwd=REPO)
    if status > 250:
        print(f"posrig: Robot Framework ended with status {status}: the run did not complete",
              flush=True)
    return status


def build_report(where: Layout) -> Path | None:
    """Allure 3 (npm ``allure``, installed by ``npm ci --prefix reports``) as one HTML file;
    its history (``allure-history.jsonl``) stays in ``--out`` between runs."""
    allure_bin = REPO / "reports" / "node_modules" / ".bin" / "allure"
    if not allure_bin.exists():
        print("posrig: the report builder is not installed; run `npm ci --prefix reports`",
              file=sys.stderr)
        return None
    command = [str(allure_bin), "generate", str(where.results), "--config",
               str(REPO / "reports" / "allurerc.mjs"), "--output", str(where.report)]
    done = subprocess.run(command, cwd=where.out, capture_output=True, text=True)
    index = where.report / "index.html"
    if done.returncode != 0 or not index.exists():
        print(f"posrig: the report build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}",
              file=sys.stderr)
        return None
    return index


def count_results(results: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in results.glob("*-result.json"):
        status = json.loads(path.read_text(encoding="utf-8")).get("status", "unknown")
        counts[status] = counts.get(status, 0) + 1
    return counts


def summarize(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    order = ("passed", "failed", "broken", "skipped", "unknown")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return f"{total} scenarios: " + (", ".join(parts) or "none ran")
