"""One line per scenario as it ends, the same from pytest and from Robot Framework.

``posrig run`` runs both, on one station or several; a person watching the nightly log
reads one format:

    posrig [ 3/24] passed   pytest  CUP-SALE-001 test_chip_sale_with_pin        station-1   0.4 s

``posrig run`` prints these lines itself, from the Allure result files (``ResultPrinter``):
a line says *passed* (or any status) only once that scenario's result is on disk, however
the runner was started (pytest, pytest-xdist workers, robot, pabot processes) and whatever
happens to it next (Ctrl-C, SIGKILL). allure-python writes each result to a temporary name
and renames it, so a ``*-result.json`` that exists is whole.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from devices.masking import scrub

WIDTH = 70
#: The label with a pytest result's whole time in ms, setup and teardown included
#: (harness/run_plugin.py): Allure's start and stop are the test body's only. A Robot
#: test's start and stop already hold its [Setup] and [Teardown].
DURATION_LABEL = "posrig_duration_ms"
#: The Allure ``framework`` label of each runner's results, by the runner's name in the line.
FRAMEWORKS = {"pytest": "pytest", "robot": "robotframework"}


def format_line(done: int, total: int, status: str, runner: str, name: str, station: str,
                duration_s: float, reason: str = "") -> str:
    total = max(total, done)
    width = len(str(total))
    title = name if len(name) <= WIDTH else name[: WIDTH - 3] + "..."
    line = (f"posrig [{done:>{width}}/{total}] {status:<8} {runner:<6} {title:<{WIDTH}} "
            f"{station:<10} {duration_s:5.1f} s")
    first = reason.strip().splitlines()[0] if reason and reason.strip() else ""
    if first and status != "passed":
        line += f"\n         {scrub(first)[:200]}"
    return line


def header(runner: str, total: int) -> str:
    return f"posrig: {runner}: {total} scenario(s)"


@dataclass(frozen=True)
class Ended:
    """One scenario's line, as its Allure result file tells it."""

    name: str
    status: str
    station: str
    duration_s: float
    reason: str
    stop: int  # ms since the epoch: lines found in one look are printed in the order tests ended

    @classmethod
    def from_result(cls, data: dict[str, Any]) -> Ended:
        labels = {lb.get("name"): lb.get("value") for lb in data.get("labels", [])}
        tags = [lb.get("value", "") for lb in data.get("labels", []) if lb.get("name") == "tag"]
        case = labels.get("case_id") or next((t[len("case:"):] for t in tags if t.startswith("case:")), "")
        name = str(data.get("name") or data.get("fullName") or "?")
        station = next((str(p.get("value", "")).strip("'\"") for p in data.get("parameters", [])
                        if p.get("name") == "station"), "")
        start, stop = data.get("start") or 0, data.get("stop") or 0
        whole = str(labels.get(DURATION_LABEL) or "")
        duration_ms = int(whole) if whole.isdigit() else max(stop - start, 0)
        return cls(name=f"{case} {name}" if case and case not in name else name,
                   status=str(data.get("status") or "unknown"), station=station,
                   duration_s=duration_ms / 1000,
                   reason=str((data.get("statusDetails") or {}).get("message") or ""), stop=stop)


def framework_of(data: dict[str, Any]) -> str:
    return next((str(lb.get("value")) for lb in data.get("labels", []) if lb.get("name") == "framework"), "")


class ResultPrinter:
    """Prints a runner's lines from the results directory, as its result files appear.

    ``begin(runner, total)`` starts a runner's lines (``total`` may come later, from
    ``total_of``: pytest knows it only once it has collected); ``poll()`` prints a line for
    each new result of that runner; ``finish()`` is the last look once the runner ended.
    """

    def __init__(self, results: Path, stream: TextIO | None = None):
        self.results = results
        self.stream = stream if stream is not None else sys.stdout
        self.seen: set[str] = set()
        self.runner = ""
        self.total: int | None = None
        self.total_of: Callable[[], int | None] | None = None
        self.done = 0
        self.counts: dict[str, int] = {}

    def begin(self, runner: str, total: int | None = None,
              total_of: Callable[[], int | None] | None = None) -> None:
        self.runner, self.total, self.total_of, self.done = runner, None, total_of, 0
        if total is not None:
            self._announce(total)

    def _announce(self, total: int) -> None:
        self.total = total
        self._write(header(self.runner, total))

    def poll(self) -> int:
        """Print the lines of the results that appeared since the last look; how many."""
        if self.total is None and self.total_of is not None:
            total = self.total_of()
            if total is not None:
                self._announce(total)
        ended: list[Ended] = []
        try:
            names = sorted(p.name for p in self.results.iterdir() if p.name.endswith("-result.json"))
        except FileNotFoundError:
            return 0
        for name in names:
            if name in self.seen:
                continue
            try:
                data = json.loads((self.results / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # removed meanwhile, or not a result allure-python wrote: not a line
            if framework_of(data) not in ("", FRAMEWORKS.get(self.runner, self.runner)):
                continue  # another runner's, left for its own lines
            self.seen.add(name)
            ended.append(Ended.from_result(data))
        for one in sorted(ended, key=lambda e: e.stop):
            self.done += 1
            self.counts[one.status] = self.counts.get(one.status, 0) + 1
            self._write(format_line(self.done, self.total or 0, one.status, self.runner, one.name,
                                    one.station, one.duration_s, one.reason))
        return len(ended)

    def finish(self) -> int:
        return self.poll()

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
