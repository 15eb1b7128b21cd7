"""One line per scenario as it ends, the same from pytest and from Robot Framework.

``posrig run`` runs both; a person watching the nightly log reads one format:

    posrig [ 3/24] passed   pytest  Sale > Chip sale with PIN ...   station-1   0.4 s
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from devices.masking import scrub

WIDTH = 70


@dataclass
class Progress:
    runner: str
    total: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    stream: TextIO = field(default_factory=lambda: sys.stdout)

    def start(self, total: int) -> None:
        self.total = total
        self.stream.write(f"posrig: {self.runner}: {total} scenario(s)\n")
        self.stream.flush()

    def ended(self, name: str, status: str, duration_s: float, *, station: str = "",
              reason: str = "") -> None:
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        width = len(str(max(self.total, self.done)))
        title = name if len(name) <= WIDTH else name[: WIDTH - 3] + "..."
        line = (f"posrig [{self.done:>{width}}/{max(self.total, self.done)}] {status:<8} "
                f"{self.runner:<6} {title:<{WIDTH}} {station:<10} {duration_s:5.1f} s")
        if reason and status != "passed":
            line += f"\n         {scrub(reason.strip().splitlines()[0])[:200]}"
        self.stream.write(line + "\n")
        self.stream.flush()

    def summary(self) -> str:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return f"{self.runner}: {self.done} scenario(s): {parts or 'none ran'}"
