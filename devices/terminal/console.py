"""The terminal's debug console: a second serial channel, logged and searchable.

Modelled on pytest-embedded's ``dut.expect``: every line the terminal prints goes to one
log file per terminal (timestamped, prefixed with the station), and ``expect(pattern,
timeout)`` waits for a regular expression in what arrived since the last match. When it
times out the error carries the tail of the buffer and the path of the full log, so a
failed test shows what the terminal was saying instead of only that it said the wrong thing.

Card numbers are masked before anything is buffered, logged or raised: a terminal's debug
output is not trusted to do it. Nor is it trusted to be text: lines end at LF (CRLF and LFCR
count as one end), and every other control character -- a lone CR, ESC, NUL, the Unicode
line separators -- is shown escaped (``\\r``, ``\\x1b``), so what a terminal echoes can never
start a forged line of its own in the log or in what ``expect`` searches. A line longer than
``MAX_LINE`` is cut into pieces; ``expect`` searches at most the last ``MAX_BUFFER``
characters (the log file keeps everything). The capture thread never dies of what arrives or
of a listener that raises: the error is logged and ``expect`` raises it once as a
``ConsoleError`` (a station fault).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.faults import StationFault, TerminalDefect
from devices.masking import scrub
from devices.terminal.link import safe_log
from devices.terminal.transport import open_port
from devices.text import printable

LineListener = Callable[[str], None]
MAX_LINE = 4_096  # characters; a longer line (or one never ended) is cut here
MAX_BUFFER = 2 * 1024 * 1024  # characters expect() can search; older text is forgotten


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
        self._faults: list[str] = []  # what went wrong in the capture thread, told once
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
                try:
                    self._take(data.decode("utf-8", "replace"))
                except Exception as exc:  # nothing that arrives may end the capture
                    self._fault("capturing a line failed", exc)

    def _fault(self, what: str, exc: BaseException) -> None:
        message = f"{what} ({type(exc).__name__}: {printable(str(exc), 300)})"
        with self._cond:
            if len(self._faults) < 16:
                self._faults.append(message)
            self._cond.notify_all()
        safe_log(self.source, f"station fault: {self.station} debug console {self.url}: {message}")

    @staticmethod
    def split(partial: str, text: str) -> tuple[list[str], str]:
        """Whole lines (control characters escaped, long ones cut) and the unended rest."""
        text = partial + text
        *lines, rest = text.replace("\r\n", "\n").replace("\n\r", "\n").split("\n")
        if rest.endswith("\r"):  # the CR of a CRLF whose LF is still on its way
            rest, held = rest[:-1], "\r"
        else:
            held = ""
        while len(rest) > MAX_LINE:
            lines.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        out: list[str] = []
        for line in lines:
            line = printable(line)
            out.extend(line[i:i + MAX_LINE] for i in range(0, max(len(line), 1), MAX_LINE))
        return out, rest + held

    def _take(self, text: str) -> None:
        lines, self._partial = self.split(self._partial, text)
        if not lines:
            return
        lines = [scrub(line) for line in lines]
        stamp = datetime.now().isoformat(timespec="milliseconds")
        try:
            with self.log_path.open("a", encoding="utf-8") as fh:
                # written line by line and closed: a killed run keeps what it captured
                fh.writelines(f"{stamp} [{self.station}] {line}\n" for line in lines)
        except OSError as exc:  # a full disk loses the file, not the capture
            self._fault(f"writing {self.log_path} failed", exc)
        with self._cond:
            self._buffer += "".join(f"{line}\n" for line in lines)
            if len(self._buffer) > MAX_BUFFER:
                cut = len(self._buffer) - MAX_BUFFER // 2
                cut = self._buffer.index("\n", cut) + 1 if "\n" in self._buffer[cut:] else cut
                self._buffer = self._buffer[cut:]
                self._cursor = max(0, self._cursor - cut)
            listeners = list(self._listeners)
            self._cond.notify_all()
        for line in lines:
            if self.publish:
                safe_log(self.source, line)
            for listener in listeners:
                try:
                    listener(line)
                except Exception as exc:
                    self._fault(f"a line listener ({getattr(listener, '__qualname__', listener)}) failed",
                                exc)

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
            return self._failure is not None or bool(self._faults)

        with self._cond:
            self._cond.wait_for(matched, timeout)
            if self._faults:
                raise ConsoleError(f"{self.station}: the debug console {self.url}: "
                                   f"{self._faults.pop(0)}; the capture went on, lines may be lost. "
                                   f"Full log: {self.log_path}")
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
