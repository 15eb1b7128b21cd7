"""Fixtures the rig's own tests share, and the one `posrig run` of a test session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from devices.host import AcquirerHost
from devices.host.testing import LAB_CLOCK, lab_config
from devices.terminal.testing import open_bench
from harness.paths import REPO
from harness.run import Layout

#: How long the main job may take on a loaded machine (it takes about a minute on idle cores).
MAIN_RUN_TIMEOUT_S = 900


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bench(signed_in=False, **options): how the `bench` fixture opens its bench "
                   "(options go to devices.terminal.testing.open_bench, e.g. dialect='concert')")


@pytest.fixture
def bench(request: pytest.FixtureRequest, tmp_path):
    """A simulated terminal, host, robot and relay reached only through their drivers.

    A module says how it wants the bench with ``pytestmark = pytest.mark.bench(...)``.
    """
    marker = request.node.get_closest_marker("bench")
    options = dict(marker.kwargs) if marker else {}
    signed_in = options.pop("signed_in", False)
    opened = open_bench(tmp_path, **options)
    try:
        if signed_in:
            opened.sign_in()
        yield opened
    finally:
        opened.close()


@pytest.fixture
def host() -> Iterator[AcquirerHost]:
    """The acquirer host alone on an ephemeral port, its clock pinned to ``LAB_CLOCK``
    (a test module that needs another set-up defines its own ``host``)."""
    host = AcquirerHost(lab_config(clock=lambda: LAB_CLOCK))
    host.start_in_thread()
    yield host
    host.stop()


class MainRun:
    """`posrig run` on the virtual lab, as a user runs it: the pytest scenarios, the Robot
    suites, the report. It is the only run of the scenario suite in the test command
    (testpaths leaves scenarios/ out), and the report tests and the scan for clear card data
    read what it wrote. It mostly waits on simulated devices, so it runs in the background
    while the session's other tests run, and on two stations (a pytest-xdist worker and a
    pabot process each): the suite's waits (a customer who never pays, a power cycle) then
    overlap, and the test command exercises the lab of several stations a nightly job uses.

    One per session, whichever process asks first: under pytest-xdist every worker shares
    ``root`` (the session's base temp directory) and the first to get there starts it; a file
    lock, held until it ends, is what the others wait on.
    """

    def __init__(self, root: Path) -> None:
        self.where = Layout(root / "main-run")
        self._start_lock = FileLock(root / "main-run.start.lock")
        self._running = root / "main-run.running.lock"
        self._status = root / "main-run.status"  # its exit status, written once it has ended
        self._command = [sys.executable, "-m", "harness.cli", "run", "--stations", "2",
                         "--out", str(self.where.out)]
        self.process: subprocess.Popen | None = None  # only in the process that started it
        self._done: subprocess.CompletedProcess | None = None

    @property
    def console(self) -> Path:
        return self.where.out / "console.txt"  # under --out: the scan reads it too

    @property
    def errors(self) -> Path:
        return self.where.out / "console-errors.txt"

    def start(self) -> None:
        """Starts it, unless a process of this session already has."""
        with self._start_lock:
            if self.where.out.exists():
                return
            self.where.out.mkdir(parents=True)
            running = FileLock(self._running, thread_local=False)
            running.acquire()  # released by the reaper once the run has ended
            # run as a user runs it: not as a pytest-xdist worker (the pytest plugin claims a
            # station when it believes it is one), not inside the test that started it
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("PYTEST_XDIST_") and k != "PYTEST_CURRENT_TEST"}
            with self.console.open("wb") as stdout, self.errors.open("wb") as stderr:
                # its own session: the terminal's Ctrl-C reaches pytest, which stops it (stop)
                self.process = subprocess.Popen(self._command, cwd=REPO, env=env,
                                                stdin=subprocess.DEVNULL, stdout=stdout,
                                                stderr=stderr, start_new_session=True)
            threading.Thread(target=self._reap, args=(self.process, running),
                             name="posrig-run-reaper", daemon=True).start()

    def _reap(self, process: subprocess.Popen, running: FileLock) -> None:
        self._status.write_text(str(process.wait()))
        running.release()

    def wait(self) -> subprocess.CompletedProcess:
        if self._done is None:
            self.start()
            try:
                with FileLock(self._running, timeout=MAIN_RUN_TIMEOUT_S):
                    pass  # taken only once the run has ended
            except Timeout:
                self.stop()
                pytest.fail(f"posrig run took over {MAIN_RUN_TIMEOUT_S} s; its output so far: "
                            f"{self.console.read_text(errors='replace')[-3000:]}")
            if not self._status.exists():
                pytest.fail("posrig run ended without an exit status: the test process that "
                            "started it died (see the other worker's output)")
            self._done = subprocess.CompletedProcess(
                self._command, int(self._status.read_text()),
                self.console.read_text(encoding="utf-8", errors="replace"),
                self.errors.read_text(encoding="utf-8", errors="replace"))
        return self._done

    def stop(self) -> None:
        """At the session's end (under pytest-xdist, once every worker's tests are done): a
        run still going is stopped as Ctrl-C stops it, its partial report built."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _reads_the_main_run(item: pytest.Item) -> bool:
    return "main_run" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _reads_the_main_run(item):
            # the first of them may wait for the whole run
            item.add_marker(pytest.mark.timeout(MAIN_RUN_TIMEOUT_S + 60))
    # The tests that read the run go last (a stable sort: every xdist worker collects the same
    # order), so no worker sits waiting for the run while other tests are left to do.
    items.sort(key=_reads_the_main_run)


@pytest.fixture(scope="session", autouse=True)
def _main_job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainRun]:
    """Starts the session's `posrig run` with the first test, when a selected test needs it."""
    base = tmp_path_factory.getbasetemp()
    # an xdist worker's base temp is the session's, one level down (popen-gw0)
    job = MainRun(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)
    if any("main_run" in getattr(item, "fixturenames", ()) for item in request.session.items):
        job.start()
        # The run's simulated devices keep real timers (a card timeout, a QR window) and its
        # length bounds the session's: this test process yields the CPU to it (the run, started
        # just above or by another worker, keeps its own priority) and fills the run's idle time.
        os.nice(5)
    try:
        yield job
    finally:
        job.stop()


@pytest.fixture(scope="session")
def main_run(_main_job: MainRun) -> tuple[Layout, subprocess.CompletedProcess]:
    """The session's `posrig run`, once it has ended: where it wrote, and how it ended."""
    return _main_job.where, _main_job.wait()
