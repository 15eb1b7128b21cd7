"""Fixtures the rig's own tests share, and the one `posrig run` of a test session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@dataclass
class MainRun:
    """`posrig run` on the virtual lab, as a user runs it: the pytest scenarios, the Robot
    suites, the report. It is the only run of the scenario suite in the test command
    (testpaths leaves scenarios/ out), and the report tests and the scan for clear card data
    read what it wrote. It mostly waits on simulated devices, so it runs in the background
    while the session's other tests run."""

    where: Layout
    process: subprocess.Popen | None = None
    done: subprocess.CompletedProcess | None = None

    @property
    def console(self) -> Path:
        return self.where.out / "console.txt"  # under --out: the scan reads it too

    @property
    def errors(self) -> Path:
        return self.where.out / "console-errors.txt"

    def start(self) -> None:
        self.where.out.mkdir(parents=True, exist_ok=True)
        with self.console.open("wb") as stdout, self.errors.open("wb") as stderr:
            # its own process group: a session that ends before it does stops all of it
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "run", "--out", str(self.where.out)],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                start_new_session=True)

    def wait(self) -> subprocess.CompletedProcess:
        if self.done is None:
            if self.process is None:
                self.start()
            assert self.process is not None
            try:
                self.process.wait(timeout=MAIN_RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.stop()
                pytest.fail(f"posrig run took over {MAIN_RUN_TIMEOUT_S} s; its output so far: "
                            f"{self.console.read_text(errors='replace')[-3000:]}")
            self.done = subprocess.CompletedProcess(
                self.process.args, self.process.returncode,
                self.console.read_text(encoding="utf-8", errors="replace"),
                self.errors.read_text(encoding="utf-8", errors="replace"))
        return self.done

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "main_run" in getattr(item, "fixturenames", ()):
            # the first of them may wait for the whole run
            item.add_marker(pytest.mark.timeout(MAIN_RUN_TIMEOUT_S + 60))


@pytest.fixture(scope="session", autouse=True)
def _main_job(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainRun]:
    """Starts the session's `posrig run` with its first test when a selected test needs it.
    Under pytest-xdist each worker that needs it runs its own, when first asked."""
    job = MainRun(Layout(tmp_path_factory.mktemp("main-run")))
    needed = any("main_run" in getattr(item, "fixturenames", ()) for item in request.session.items)
    if needed and not os.environ.get("PYTEST_XDIST_WORKER"):
        job.start()
    try:
        yield job
    finally:
        job.stop()


@pytest.fixture(scope="session")
def main_run(_main_job: MainRun) -> tuple[Layout, subprocess.CompletedProcess]:
    """The session's `posrig run`, once it has ended: where it wrote, and how it ended."""
    return _main_job.where, _main_job.wait()
