"""Rejected input journaled in proportion to its sender, not to its volume.

A connection the host closes for bad input (not a frame, a length it will not read, a frame
too slow, too many lines) is worth a journal row: it is evidence of what a terminal did. A
flood of them is not worth one row each. Each row is its own SQLite commit (the connections
arrive one loop iteration apart), and a commit rewrites whole 4 KiB pages into the WAL:
10,000 rejected connections wrote 130 MB. So per sender (the peer's address) the first
rejection of each second is journaled in full and the others of that second are counted,
then written as one summary row when the second is over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Seconds a sender's first rejection covers: later ones in it are counted, not journaled.
WINDOW_S = 1.0


@dataclass
class _Window:
    start: float
    count: int = 0  # rejections after the first, not journaled yet
    last: str = ""  # the newest of them


class Refusals:
    """``admit(source, note, now)`` says whether to journal a rejection now (else it is
    counted); ``sweep(now)`` writes, through ``write``, the summaries of windows that are
    over."""

    def __init__(self, write: Callable[[str], None]):
        self._write = write
        self._windows: dict[str, _Window] = {}

    def admit(self, source: str, note: str, now: float) -> bool:
        window = self._windows.get(source)
        if window is not None and now - window.start < WINDOW_S:
            window.count += 1
            window.last = note
            return False
        if window is not None and window.count:
            self._summarise(source, window)
        self._windows[source] = _Window(now)
        return True

    def sweep(self, now: float) -> None:
        """Write the summaries of windows that are over (the server's sweeper calls this)."""
        for source, window in list(self._windows.items()):
            if now - window.start >= WINDOW_S:
                del self._windows[source]
                if window.count:
                    self._summarise(source, window)

    def flush(self) -> None:
        """Write every pending summary now (the host is stopping)."""
        for source, window in self._windows.items():
            if window.count:
                self._summarise(source, window)
        self._windows.clear()

    def _summarise(self, source: str, window: _Window) -> None:
        self._write(f"{window.count} more connection(s) from {source or 'this peer'} rejected "
                    f"within {WINDOW_S:g} s of the one before; the last: {window.last}")
