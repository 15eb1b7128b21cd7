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

Nothing lost, nothing orphaned: a progress line is printed from the scenario's result
file, so it is never ahead of what is on disk (harness/progress.py); Ctrl-C ends the
running test with a result (broken, "interrupted"), builds the partial report and exits
130; every process a run starts carries its mark, and what a killed run left running is
stopped by the next run on the same ``--out`` (harness/processes.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness.config import ConfigError
from harness.inventory import load_inventory
from harness.labgrid.reserve import labgrid_lab
from harness.paths import DEFAULT_LAB, REPO
from harness.processes import (
    RUN_ENV,
    Found,
    RunLock,
    children_of,
    die_with_parent,
    processes_of,
    reap,
    signal_all,
    wait_gone,
)
from harness.progress import ResultPrinter
from harness.report_files import install_categories, write_executor

SCENARIOS = REPO / "scenarios"
ROBOT_SUITES = SCENARIOS / "robot"
BAD = ("failed", "broken")
#: How many stations ``posrig run`` uses when not told (CI sets it to the bench count).
STATIONS_ENV = "POSRIG_STATIONS"
#: The exit status of an interrupted run (128 + SIGINT, as a shell reports one).
INTERRUPTED = 130
#: How often the run looks for new result files while a runner works.
LINE_PERIOD_S = 0.2
#: How long an interrupted runner has to end its running test before it is stopped.
INTERRUPT_GRACE_S = 60.0
#: The runner's name in the progress lines.
RUNNER_OF = {"pytest": "pytest", "robot": "robot", "pabot": "robot"}
#: Tells a runner to end its running test(s); the processes still to wait for.
Interrupt = Callable[[subprocess.Popen], list[int]]


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
              pytest: bool = True, stations: int | None = None, stream: TextIO | None = None) -> int:
    """``stations``: how many of the lab's stations to run on (default ``POSRIG_STATIONS``,
    else 1). Exit status: 0 when every scenario passed, 130 when interrupted, else 1."""
    stations = int(os.environ.get(STATIONS_ENV, "1")) if stations is None else stations
    if stations < 1:
        raise ConfigError(f"--stations must be at least 1, got {stations}")
    from harness.quality_gate import gate_from_env

    gate_from_env(os.environ)  # a POSRIG_QUALITY_GATE it cannot read is said now, not after the run
    inventory = load_inventory(lab or DEFAULT_LAB)
    names = [s.name for s in inventory.first(stations).stations]  # ConfigError if too few
    where = Layout(out.resolve())
    stream = stream if stream is not None else sys.stdout
    with RunLock(where.out):
        left = reap(where.out)  # what a killed run on this --out left running
        if left:
            say(stream, f"stopped {len(left)} process(es) a killed run left: {_listed(left)}")
        for stale in (where.results, where.robot, where.work):
            if stale.exists():
                shutil.rmtree(stale)  # a report shows one run; its history file stays
        where.results.mkdir(parents=True)
        where.work.mkdir()
        write_executor(where.results)
        install_categories(where.results)

        supervisor = Supervisor(where, stream)
        with labgrid_lab(inventory.first(stations), where.work, results=where.results) as held, \
                supervisor.signals():
            lab = str(held) if held else lab  # a labgrid lab: its acquired places' devices by URL
            parallel = ["-n", str(stations)] if stations > 1 else []
            statuses = [run_pytest(where, lab, [*parallel, *pytest_args], supervisor)] if pytest else []
            if robot and any(ROBOT_SUITES.glob("*.robot")) and not supervisor.stopping():
                statuses.append(run_robot(where, lab, supervisor) if stations == 1 else
                                run_pabot(where, lab, write_station_sets(where.robot / "stations.dat", names),
                                          supervisor))
        report = build_report(where)
        counts = count_results(where.results)
    shown = report or "not built (see above)"
    if supervisor.interrupted:
        say(stream, f"interrupted: {summarize(counts)}; partial report: {shown}")
        return INTERRUPTED
    say(stream, f"{summarize(counts)}; report: {shown}")
    passed = all(s == 0 for s in statuses) and not any(counts.get(s) for s in BAD) and report is not None
    from harness.quality_gate import run_status  # with POSRIG_QUALITY_GATE set, its thresholds decide

    return run_status(where.results, lambda line: say(stream, line), passed=passed,
                      completed=report is not None)


def say(stream: TextIO, line: str) -> None:
    stream.write(f"posrig: {line}\n")
    stream.flush()


def _listed(found: list[Found]) -> str:
    return ", ".join(str(f) for f in found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")


class Supervisor:
    """Starts the runners, prints their progress lines as their results land, and keeps
    Ctrl-C orderly.

    Each runner starts a session of its own, so a Ctrl-C at the terminal reaches this process
    alone; the first one (SIGINT or SIGTERM) is handed to the runner in the way that lets it
    end its running test with a result (``interrupt``), no further runner starts, and the
    partial report is built. A second one stops every process of the run at once. Should the
    run itself die, each runner gets SIGINT from the kernel (``die_with_parent``).
    """

    def __init__(self, where: Layout, stream: TextIO | None = None):
        self.where = where
        self.stream = stream if stream is not None else sys.stdout
        self.printer = ResultPrinter(where.results, self.stream)
        self.signals_seen = 0
        self.handled = 0
        self.interrupted = False
        self.env = {**os.environ, RUN_ENV: str(where.out)}

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        def seen(signum: int, frame: object) -> None:
            self.signals_seen += 1  # acted on by the wait loop: a handler must not print

        previous = {sig: signal.signal(sig, seen) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stopping(self) -> bool:
        """Interrupted, or a Ctrl-C came between two runners: the next one is not started."""
        if self.signals_seen > self.handled:
            self.handled, self.interrupted = self.signals_seen, True
        return self.interrupted

    def start(self, command: list[str], console: Path | None = None) -> subprocess.Popen:
        with contextlib.ExitStack() as files:
            if console is not None:
                console.parent.mkdir(parents=True, exist_ok=True)
            out = files.enter_context(open(console, "wb")) if console is not None else None
            return subprocess.Popen(command, cwd=REPO, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT if out is not None else None,
                                    start_new_session=True, preexec_fn=die_with_parent)

    def run(self, name: str, command: list[str], interrupt: Interrupt, *, total: int | None = None,
            total_of: Callable[[], int | None] | None = None, console: ConsoleRelay | None = None) -> int:
        """Run one runner to its end, printing its lines; its exit status."""
        self.printer.begin(RUNNER_OF[name], total, total_of)
        process = self.start(command, console.path if console is not None else None)
        waiting: list[int] = []  # after an interrupt: the processes ending their tests (pabot's)
        deadline = None
        while True:
            if waiting:
                waiting = wait_gone(waiting, LINE_PERIOD_S)
                if not waiting and process.poll() is None:
                    signal_all([process.pid], signal.SIGKILL)  # held by interrupt: its work is over
            elif process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=LINE_PERIOD_S)
            else:
                break
            self.printer.poll()
            if console is not None:
                console.poll(self.stream)
            if self.signals_seen > self.handled:
                self.handled = self.signals_seen
                if not self.interrupted:
                    self.interrupted = True
                    say(self.stream, "interrupted: ending the running test(s) with a result, then "
                                     "the partial report (Ctrl-C again stops at once)")
                    waiting = interrupt(process)
                    deadline = time.monotonic() + INTERRUPT_GRACE_S
                else:
                    self.kill_all()
            if deadline is not None and time.monotonic() > deadline:
                say(self.stream, f"{name} did not stop within {INTERRUPT_GRACE_S:.0f} s; stopping it")
                self.kill_all()
                deadline = None
        self.printer.finish()
        if console is not None:
            console.poll(self.stream)
        left = reap(self.where.out)
        if left:
            say(self.stream, f"stopped {len(left)} process(es) {name} left running: {_listed(left)}")
        return process.returncode

    def kill_all(self) -> None:
        signal_all([f.pid for f in processes_of(self.where.out)], signal.SIGKILL)


class ConsoleRelay:
    """A runner's console kept in a file; the lines ``shown`` lets through are printed as
    they come (the progress lines are the run's, not the runner's)."""

    def __init__(self, path: Path, shown: Callable[[str], bool]):
        self.path, self.shown = path, shown
        self.offset = 0
        self.partial = b""

    def poll(self, stream: TextIO) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            if line.strip() and self.shown(line):
                stream.write(line + "\n")
        stream.flush()

    def tail(self, chars: int = 3000) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")[-chars:]


#: What Robot writes to its console besides errors: its signal handler's notes (the run
#: says it was interrupted, once).
ROBOT_CHATTER = ("Second signal will force exit.", "Execution forcefully stopped.")


def run_pytest(where: Layout, lab: str | None, extra: list[str], supervisor: Supervisor | None = None) -> int:
    supervisor = supervisor or Supervisor(where)
    total_file = where.work / "pytest-total"
    command = [sys.executable, "-m", "pytest", str(SCENARIOS), "-p", "no:cacheprovider",
               "-p", "no:terminal", "-p", "no:benchmark", "-p", "harness.run_plugin",
               f"--posrig-total-file={total_file}", f"--alluredir={where.results}",
               f"--basetemp={where.work / 'pytest'}", *extra]
    if lab:
        command.append(f"--lab={lab}")

    def interrupt(process: subprocess.Popen) -> list[int]:
        started = _read_total(total_file) is not None  # it has collected: tests may run
        return (interrupt_runner if started else stop_unstarted)(process)

    status = supervisor.run("pytest", command, interrupt, total_of=lambda: _read_total(total_file))
    # pytest's exit 1 is "some test failed": the results and summary tell which; 2 is
    # "interrupted", expected after Ctrl-C. Anything else (3 internal error, 4 usage, or 2
    # without a Ctrl-C) means the run itself went wrong.
    if status not in (0, 1, 5) and not supervisor.interrupted:
        say(supervisor.stream, f"pytest ended with status {status}: the run did not complete")
    return 0 if status == 5 else status  # 5: nothing collected, e.g. every module deselected


def _read_total(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def interrupt_runner(process: subprocess.Popen) -> list[int]:
    """pytest (its xdist controller hands the signal to its workers, harness/run_plugin.py)
    and robot each end their running test on SIGINT."""
    signal_all([process.pid], signal.SIGINT)
    return []


def stop_unstarted(process: subprocess.Popen) -> list[int]:
    """A runner still starting has begun no test, and would only print a traceback for a
    SIGINT that comes before its own handler: it is stopped outright, with its children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return []


def _robot_started(where: Layout) -> Path:
    return where.work / "robot-started"  # written by RobotInterrupt once Robot runs suites


def robot_total() -> int:
    from robot.api import TestSuiteBuilder

    return TestSuiteBuilder().build(str(ROBOT_SUITES)).test_count


def _robot_options(where: Layout, lab: str | None) -> list[str]:
    options = ["--outputdir", str(where.robot), "--report", "NONE",
               "--listener", f"allure_robotframework:{where.results}",
               "--listener", f"harness.run_listener.RobotInterrupt:{_robot_started(where)}",
               "--variable", f"POSRIG_WORKDIR:{where.work / 'robot'}",
               "--variable", f"ALLURE_RESULTS:{where.results}"]
    return options + (["--variable", f"LAB:{lab}"] if lab else [])


def run_robot(where: Layout, lab: str | None, supervisor: Supervisor | None = None) -> int:
    """Robot's console (errors only, with ``--console none``) is printed, but for its notes
    on signals."""
    supervisor = supervisor or Supervisor(where)
    command = [sys.executable, "-m", "robot", *_robot_options(where, lab),
               "--console", "none", str(ROBOT_SUITES)]
    console = ConsoleRelay(where.robot / "robot-console.log",
                           lambda line: line.strip() not in ROBOT_CHATTER)

    def interrupt(process: subprocess.Popen) -> list[int]:
        return (interrupt_runner if _robot_started(where).exists() else stop_unstarted)(process)

    return _robot_status(supervisor, "Robot Framework",
                         supervisor.run("robot", command, interrupt, total=robot_total(), console=console))


def run_pabot(where: Layout, lab: str | None, station_sets: Path,
              supervisor: Supervisor | None = None) -> int:
    """The Robot suites in parallel, one pabot process per station of ``station_sets``.
    pabot's own console goes to a file: the run prints the same lines as with one station."""
    supervisor = supervisor or Supervisor(where)
    count = len(read_station_sets(station_sets))
    console = ConsoleRelay(where.robot / "pabot-console.log", lambda line: False)
    command = [sys.executable, "-m", "pabot.pabot", "--processes", str(count),
               "--pabotlibport", "0", "--resourcefile", str(station_sets),
               "--pabotconsole", "quiet", *_robot_options(where, lab), "--console", "none",
               str(ROBOT_SUITES)]
    def interrupt(process: subprocess.Popen) -> list[int]:
        if _robot_started(where).exists():
            return interrupt_pabot(process)
        supervisor.kill_all()  # pabot, pabotlib and robot processes still starting
        return []

    status = supervisor.run("pabot", command, interrupt, total=robot_total(), console=console)
    if status > 250 and not supervisor.interrupted:
        say(supervisor.stream, f"pabot ended with status {status}; the end of its console "
                               f"({console.path}):\n{console.tail()}")
    return status


def interrupt_pabot(process: subprocess.Popen) -> list[int]:
    """pabot's own Ctrl-C handling gives its robot processes 5 s to end, then runs their
    suites dry to mark every test failed, and a failed test reads as a terminal defect. So
    pabot is held (SIGSTOP: it starts no further suite, and the pipes it reads its robot
    processes' output from stay open), each robot process gets the SIGINT that makes it end
    its running test with a result, and pabot is stopped once they have ended (pabotlib,
    through which they release their stations, after it)."""
    signal_all([process.pid], signal.SIGSTOP)
    robots = [f.pid for f in children_of(process.pid) if "pabotlib" not in f.command]
    signal_all(robots, signal.SIGINT)
    return robots


def _robot_status(supervisor: Supervisor, runner: str, status: int) -> int:
    if status > 250 and not supervisor.interrupted:
        say(supervisor.stream, f"{runner} ended with status {status}: the run did not complete")
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
        try:
            status = json.loads(path.read_text(encoding="utf-8")).get("status", "unknown")
        except (OSError, ValueError):
            status = "unknown"  # not a result allure-python wrote (it writes whole files)
        counts[status] = counts.get(status, 0) + 1
    return counts


def summarize(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    order = ("passed", "failed", "broken", "skipped", "unknown")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return f"{total} scenarios: " + (", ".join(parts) or "none ran")
