"""What ``posrig run`` adds to the robot processes it starts (``--listener
harness.run_listener.RobotInterrupt``): an interrupted test reads as interrupted.

On the first SIGINT (or SIGTERM) Robot Framework stops gracefully: the running keyword
fails with "Execution terminated by signal", teardowns still run, and every test after it
fails at once with "Test execution stopped due to a fatal error." Robot knows only FAIL,
which a report reads as a terminal defect. Here the interrupted test gets the verdict the
fault taxonomy gives an interruption (``devices.faults.classify``: broken, "interrupted"),
and a test that never ran is skipped, saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devices.faults import classify

#: Robot's own messages (robot/running/signalhandler.py, robot/running/status.py).
TERMINATED = "Execution terminated by signal"
NOT_RUN = "Test execution stopped due to a fatal error."
NOT_RUN_REASON = "not run: the run was interrupted before this test"


def _signals() -> int:
    from robot.running.signalhandler import STOP_SIGNAL_MONITOR

    return STOP_SIGNAL_MONITOR._signal_count


class RobotInterrupt:
    """``started``: a file written once Robot runs suites (its signal handler is in place:
    a SIGINT from then on ends the running test instead of printing a traceback)."""

    ROBOT_LISTENER_API_VERSION = 3
    # After the library's listener (priority 0), which writes a failing test's verdict: the
    # interruption is the verdict of a test it ended.
    ROBOT_LISTENER_PRIORITY = -1

    def __init__(self, started: str | None = None):
        self.started = Path(started) if started else None

    def start_suite(self, data: Any, result: Any) -> None:
        if self.started is not None and not self.started.exists():
            self.started.parent.mkdir(parents=True, exist_ok=True)
            self.started.touch()

    def end_test(self, data: Any, result: Any) -> None:
        if not _signals() or result.passed or result.skipped:
            return
        from harness.robot import allure_bridge

        if TERMINATED in result.message:
            verdict = classify(KeyboardInterrupt())
            allure_bridge.mark_test(verdict, verdict.cause)
        elif result.message.startswith(NOT_RUN):
            last = allure_bridge._last_test()
            if last is not None:
                from allure_commons.model2 import StatusDetails

                last[0].status = "skipped"
                last[0].statusDetails = StatusDetails(message=NOT_RUN_REASON)
            result.status, result.message = "SKIP", NOT_RUN_REASON  # output.xml says the same
