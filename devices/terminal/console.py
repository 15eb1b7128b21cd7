"""The terminal's debug console: a second serial channel, logged and searchable.

Modelled on pytest-embedded's ``dut.expect``: every line the terminal prints goes to one
log file per terminal (timestamped, prefixed with the station), and ``expect(pattern,
timeout)`` waits for a regular expression in what arrived since the last match. When it
times out the error carries the tail of the buffer and the path of the full log, so a
failed test shows what the terminal was saying instead of only that it said the wrong thing.

Card numbers are masked before anything is buffered, logged or raised: a terminal's debug
output is not trusted to do it.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from devices import events
from devices.faults import StationFault, TerminalDefect
from devices.masking import scrub
from devices.terminal.transport import open_port

LineListener = Callable[[str], None]


class ConsoleTimeout(TerminalDefect):
    """The pattern did not appear in time. An AssertionError: the terminal did not say what
    the test expected (a terminal defect), unlike a console port that broke (``ConsoleError``)."""


class ConsoleError(StationFault):
    """The console channel itself failed (port gone)."""


class Console:
    """A terminal's debug console over any serial URL (or ``usb://``)."""

    def __init__(self, url: str, station: str, log_dir: Path | str, *, baudrate: int = 115200,
                 tail_lines: int = 20, usb_backend: Any = None, publish: bool = True):
        self.url = url
        self.station = station
        self.source = f"{station}/console"
        self.tail_lines = tail_lines
        self.publish = publish
        self.log_path = Path(log_dir) / f"{station}-terminal-console.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._port = open_port(url, baudrate=baudrate, timeout=0.05,
                               device=f"{station} terminal debug console", usb_backend=usb_backend)
        self._cond = threading.Condition()
        self._buffer = ""  # everything received (masked), for expect()
        self._cursor = 0  # expect() searches from here; a match moves it past itself
        self._partial = ""  # a line not yet ended
        self._listeners: list[LineListener] = []
        self._failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name=f"console {station}", daemon=True)
        self._thread.start()

    # -- capture ----------------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._port.read(1)
                if data and self._port.in_waiting:
                    data += self._port.read(self._port.in_waiting)
            except Exception as exc:  # the port vanished
                if not self._stop.is_set():
                    with self._cond:
                        self._failure = exc
                        self._cond.notify_all()
                return
            if data:
                self._take(data.decode("utf-8", "replace"))

    def _take(self, text: str) -> None:
        text = self._partial + text.replace("\r\n", "\n").replace("\r", "\n")
        *lines, self._partial = text.split("\n")
        if not lines:
            return
        lines = [scrub(line) for line in lines]
        stamp = datetime.now().isoformat(timespec="milliseconds")
        with self.log_path.open("a", encoding="utf-8") as fh:
            # written line by line and closed: a killed run keeps what it captured
            fh.writelines(f"{stamp} [{self.station}] {line}\n" for line in lines)
        with self._cond:
            self._buffer += "".join(f"{line}\n" for line in lines)
            listeners = list(self._listeners)
            self._cond.notify_all()
        for line in lines:
            if self.publish:
                events.log(self.source, line)
            for listener in listeners:
                listener(line)

    def on_line(self, listener: LineListener) -> None:
        """Call ``listener`` with every line from now on (from the capture thread)."""
        with self._cond:
            self._listeners.append(listener)

    # -- searching --------------------------------------------------------------------------
    def expect(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """The first match of ``pattern`` in what arrived since the last match; consumes up
        to its end. Raises ``ConsoleTimeout`` with the buffer's tail and the log path."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        found: list[re.Match[str]] = []

        def matched() -> bool:
            m = regex.search(self._buffer, self._cursor)
            if m is not None:
                found.append(m)
                return True
            return self._failure is not None

        with self._cond:
            self._cond.wait_for(matched, timeout)
            if found:
                self._cursor = found[0].end()
                return found[0]
            tail = "\n  ".join(self._buffer.splitlines()[-self.tail_lines:]) or "(nothing at all)"
            if self._failure is not None:
                raise ConsoleError(f"{self.station}: the debug console port {self.url} failed "
                                   f"({self._failure}) while waiting for {regex.pattern!r}. "
                                   f"Last lines:\n  {tail}\nFull log: {self.log_path}")
            raise ConsoleTimeout(
                f"{self.station}: {regex.pattern!r} did not appear on the debug console {self.url} "
                f"within {timeout:g} s. Last {self.tail_lines} lines:\n  {tail}\n"
                f"Full log: {self.log_path}")

    def lines(self) -> list[str]:
        """Every line captured so far (masked)."""
        with self._cond:
            return self._buffer.splitlines()

    def skip_to_end(self) -> None:
        """Forget what arrived so far: the next ``expect`` sees only newer output."""
        with self._cond:
            self._cursor = len(self._buffer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(Exception):  # a vanished port needs no closing
            self._port.close()
