"""A Robot listener printing the same one line per scenario as the pytest runs do."""

from __future__ import annotations

from typing import Any

from harness.progress import Progress

_STATUS = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped", "NOT RUN": "skipped"}


class RobotProgress:
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self) -> None:
        self.progress = Progress("robot")
        self._started = False

    def start_suite(self, data: Any, result: Any) -> None:
        if not self._started:
            self._started = True
            self.progress.start(data.test_count)

    def end_test(self, data: Any, result: Any) -> None:
        cases = [t[len("case:"):] for t in data.tags if t.startswith("case:")]
        name = f"{cases[0]} {data.name}" if cases else data.name
        self.progress.ended(name, _STATUS.get(result.status, result.status.lower()),
                            result.elapsed_time.total_seconds(), reason=result.message)
