"""The main job: run the certification suite on a lab, build the single-file report.

``posrig run`` runs the pytest scenarios, then the Robot Framework suites, each on the lab
it is given (the virtual lab by default, started by each runner in its own process), both
writing Allure results into one directory as they go; then it builds the report with
Allure 3 (one HTML file that opens from disk, history kept beside it), prints the
report's path and a summary line, and exits 0 only when every scenario passed.

On several stations (``stations=N``) each runner works them in parallel, one process per
station: pytest-xdist workers claiming a station each (harness/claim.py), and pabot
processes taking one from a resource file with a section per station
(``Acquire Value Set`` in each suite's setup, scenarios/robot/posrig.resource).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.inventory import load_inventory
from harness.paths import DEFAULT_LAB, REPO
from harness.report_files import install_categories, write_executor

SCENARIOS = REPO / "scenarios"
ROBOT_SUITES = SCENARIOS / "robot"
BAD = ("failed", "broken")
#: How many stations ``posrig run`` uses when not told (CI sets it to the bench count).
STATIONS_ENV = "POSRIG_STATIONS"


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


def run_suite(lab: str | None, out: Path, pytest_args: list[str], *, robot: bool = True,
              stations: int | None = None) -> int:
    """``stations``: how many of the lab's stations to run on (default ``POSRIG_STATIONS``,
    else 1)."""
    stations = int(os.environ.get(STATIONS_ENV, "1")) if stations is None else stations
    if stations < 1:
        raise ValueError(f"stations must be at least 1, got {stations}")
    inventory = load_inventory(lab or DEFAULT_LAB)
    names = [s.name for s in inventory.first(stations).stations]  # ConfigError if too few
    where = Layout(out.resolve())
    for stale in (where.results, where.robot, where.work):
        if stale.exists():
            shutil.rmtree(stale)  # a report shows one run; its history file stays
    where.results.mkdir(parents=True)
    where.work.mkdir()
    write_executor(where.results)
    install_categories(where.results)

    parallel = ["-n", str(stations)] if stations > 1 else []
    statuses = [run_pytest(where, lab, [*parallel, *pytest_args])]
    if robot and any(ROBOT_SUITES.glob("*.robot")):
        statuses.append(run_robot(where, lab) if stations == 1 else
                        run_pabot(where, lab, write_station_sets(where.robot / "stations.dat", names)))
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


def _robot_options(where: Layout, lab: str | None) -> list[str]:
    options = ["--outputdir", str(where.robot), "--report", "NONE",
               "--listener", f"allure_robotframework:{where.results}",
               "--variable", f"POSRIG_WORKDIR:{where.work / 'robot'}",
               "--variable", f"ALLURE_RESULTS:{where.results}"]
    return options + (["--variable", f"LAB:{lab}"] if lab else [])


def run_robot(where: Layout, lab: str | None) -> int:
    command = [sys.executable, "-m", "robot", *_robot_options(where, lab), "--console", "none",
               "--listener", "harness.robot.progress.RobotProgress"]
    return _robot_status("Robot Framework", subprocess.call([*command, str(ROBOT_SUITES)], cwd=REPO))


def run_pabot(where: Layout, lab: str | None, station_sets: Path) -> int:
    """The Robot suites in parallel, one pabot process per station of ``station_sets``; pabot
    prints a line per suite as it ends (each suite runs in its own process)."""
    count = len(read_station_sets(station_sets))
    command = [sys.executable, "-m", "pabot.pabot", "--processes", str(count),
               "--pabotlibport", "0", "--resourcefile", str(station_sets),
               "--pabotconsole", "quiet", *_robot_options(where, lab), "--console", "none"]
    return _robot_status("pabot", subprocess.call([*command, str(ROBOT_SUITES)], cwd=REPO))


def _robot_status(runner: str, status: int) -> int:
    if status > 250:
        print(f"posrig: {runner} ended with status {status}: the run did not complete", flush=True)
    return status


def write_station_sets(path: Path, stations: list[str]) -> Path:
    """pabot's resource file: one section (value set) per station, ``station=NAME`` in each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"[{name}]\nstation={name}\n\n" for name in stations), encoding="utf-8")
    return path


def read_station_sets(path: Path) -> list[str]:
    return [line.strip()[1:-1] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith("[")]


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
