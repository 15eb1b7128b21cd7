"""The simulated terminal's debug console: a second pty it prints its goings-on to.

A real terminal's debug UART runs whether or not anyone listens; bytes nobody reads are
lost. So writes never block the terminal: when the pty's buffer is full (no rig attached)
the line is dropped, as a UART drops it. Lines carry the time since power-on, as firmware
consoles print their uptime; card numbers are masked before they are written, and control
characters escaped (``devices.text.printable``): an operator id or any other value
the terminal echoes stays on its own line, so it can never forge one (a ``READY``).
"""

from __future__ import annotations

import fcntl
import os
import time

from devices.channels import PtyPort
from devices.masking import scrub
from devices.text import printable


class DebugConsolePort(PtyPort):
    def __init__(self) -> None:
        super().__init__()
        flags = fcntl.fcntl(self._master, fcntl.F_GETFL)
        fcntl.fcntl(self._master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._since = time.monotonic()
        self.dropped = 0  # lines nobody could receive

    def power_on(self) -> None:
        self._since = time.monotonic()

    def line(self, text: str) -> None:
        if self.closed:
            return
        data = f"[{time.monotonic() - self._since:9.3f}] {printable(scrub(text), 2_000)}\r\n".encode()
        try:
            with self._write_lock:
                os.write(self._master, data)
        except (BlockingIOError, OSError):
            self.dropped += 1
