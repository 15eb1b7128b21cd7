"""What ``posrig run`` adds to the pytest it starts (``-p harness.run_plugin``).

- The number of scenarios, for the run's progress lines (``--posrig-total-file``): the run
  prints the lines from the result files (harness/progress.py), and only pytest knows the
  total once it has collected.
- An interrupted test has a result: Ctrl-C (the run forwards SIGINT, or the run died and
  the kernel sent it) raises KeyboardInterrupt in the running test; pytest stops there and
  gives it no report, so allure-pytest would write what the test had before (*passed*
  after its setup). Here it gets the verdict the fault taxonomy gives an interruption
  (``devices.faults.classify``): broken, "interrupted".
- Under pytest-xdist the controller does not take the SIGINT itself: taken there it would
  tear its workers down in the middle of their tests. It hands it to its workers, once;
  each ends its running test as above, and the controller stops when they have.
- The time a test took, setup and teardown included (its fixtures: a power cycle, a
  sign-in, the bench's restore), as the label ``posrig_duration_ms`` of its result: the
  Allure result's start and stop cover the test's body only, and a progress line that
  showed that hid most of a bench's time (harness/progress.py reads the label).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from allure_commons.model2 import Label

from devices.faults import BROKEN, FAILED, classify
from harness.processes import children_of, signal_all
from harness.progress import DURATION_LABEL
from harness.verdict import mark_result

#: When each running test began (its setup), by node id; the hooks that bound a test's whole
#: run (logstart, logfinish) are given no config, so the plugin keeps its own.
_STARTED: dict[str, float] = {}
_CONFIG: list[pytest.Config] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("posrig").addoption(
        "--posrig-total-file", default=None, metavar="PATH",
        help="write the number of collected scenarios here (posrig run's progress lines)")
    # posrig run turns pytest's terminal reporter off (-p no:terminal), and with it goes the
    # verbosity option that other plugins read (labgrid's asks for it on every run); it is given
    # back, doing nothing. With the reporter on, its own -v stays.
    with contextlib.suppress(ValueError):
        parser.addoption("--verbose", action="count", dest="verbose", default=0, help=argparse.SUPPRESS)


def pytest_collection_finish(session: pytest.Session) -> None:
    path = session.config.getoption("--posrig-total-file")
    if path and session.items:  # an xdist worker collects them all too: the same number
        target = Path(path)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(str(len(session.items)), encoding="utf-8")
        os.replace(tmp, target)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[Any]:
    # Inside allure-pytest's wrapper (tryfirst), so the mark is made before it writes the result.
    try:
        return (yield)
    except KeyboardInterrupt as exc:
        mark_interrupted(item, exc)
        raise


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG[:] = [config]


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _STARTED[nodeid] = time.monotonic()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """After the teardown, before allure-pytest writes the result (its logfinish wrapper
    writes it once the hook's implementations have run)."""
    started = _STARTED.pop(nodeid, None)
    listener = _CONFIG[0].pluginmanager.get_plugin("allure_listener") if _CONFIG else None
    if started is None or listener is None:
        return
    uuid = listener._cache.get(nodeid)
    result = listener.allure_logger.get_test(uuid) if uuid else None
    if result is not None:
        ms = round((time.monotonic() - started) * 1000)
        result.labels.append(Label(name=DURATION_LABEL, value=str(ms)))


def mark_interrupted(item: pytest.Item, exc: KeyboardInterrupt) -> None:
    listener = item.config.pluginmanager.get_plugin("allure_listener")
    if listener is None:
        return
    uuid = listener._cache.get(item.nodeid)
    result = listener.allure_logger.get_test(uuid) if uuid else None
    if result is None or result.status in (FAILED, BROKEN):
        return  # it had its verdict before the interruption
    verdict = classify(exc)
    mark_result(result, verdict, verdict.cause)


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or config.pluginmanager.get_plugin("dsession") is None:
        return
    forwarded: list[bool] = []

    def hand_to_workers(signum: int, frame: Any) -> None:
        if forwarded:
            return  # once: a second SIGINT would stop a worker in its teardown
        forwarded.append(True)
        signal_all([child.pid for child in children_of(os.getpid())], signal.SIGINT)  # the workers

    signal.signal(signal.SIGINT, hand_to_workers)
