"""Channels: how a driver opens a device URL, and how a simulator offers a pty.

Drivers open every serial-like device through ``open_serial`` (pyserial's
``serial_for_url``: a local port, a pty path, ``rfc2217://``, ``socket://``, ``loop://``), so a
lab inventory moves a device without code changes. Simulators sit on the master side of a
pseudo-terminal (``PtyPort``) and hand its slave path out as the device URL.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import select
import termios
import threading
import tty

import serial

from devices.faults import StationFault


class ChannelError(StationFault):
    """A device channel could not be opened or broke; the message says which and what to do."""


def open_serial(url: str, *, baudrate: int = 115200, timeout: float = 0.05,
                device: str = "device") -> serial.SerialBase:
    # pyserial's RFC 2217 client refuses any write timeout ("currently not supported"); its
    # writes go to a TCP socket, which a dead lab host ends with an error instead
    write_timeout = None if url.startswith("rfc2217://") else 2.0
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, write_timeout=write_timeout)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise ChannelError(
            f"cannot open {device} port {url!r}: {exc}. Check that the device is plugged in and "
            f"the URL in the lab inventory is right (for a virtual lab: is `posrig lab up` running?)"
        ) from exc


class PtyPort:
    """The simulator's end of a pty; the slave's path is what a driver opens.

    The slave goes to raw mode at once: the default line discipline would take ETX (0x03)
    for Ctrl-C, echo it back and flush the frame, and rewrite CR/LF (ANCHORS.md). We keep our
    own slave fd open for the pty's lifetime so the master never reads EIO while no driver
    is attached, as a real UART keeps its line whether or not a cable is plugged in.
    """

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        self.path = os.ttyname(self._slave)
        self._closed = threading.Event()
        self._write_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.path

    # The read side mimics pyserial (``timeout`` attribute, ``read``, ``in_waiting``) so the
    # link code that runs over a driver's serial port runs unchanged over a simulator's pty.
    timeout: float | None = 0.05

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, or b"" after ``self.timeout`` with nothing to read."""
        if self._closed.is_set():
            raise ChannelError(f"pty {self.path} is closed")
        ready, _, _ = select.select([self._master], [], [], self.timeout)
        if not ready:
            return b""
        try:
            return os.read(self._master, size)
        except OSError:
            return b""

    @property
    def in_waiting(self) -> int:
        buf = array.array("i", [0])
        try:
            fcntl.ioctl(self._master, termios.FIONREAD, buf, True)
        except OSError:
            return 0
        return buf[0]

    def write(self, data: bytes) -> int:
        with self._write_lock:
            view = memoryview(data)
            while view:
                written = os.write(self._master, view)
                view = view[written:]
        return len(data)

    def flush(self) -> None:  # pyserial-compatible no-op: os.write is unbuffered
        pass

    def reset_input_buffer(self) -> None:
        while self.in_waiting:
            os.read(self._master, self.in_waiting)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()
