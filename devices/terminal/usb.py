"""USB transport: ``usb://VID:PID[/serial]``, a bulk OUT/IN endpoint pair through pyusb.

Many terminals (Ingenico Telium among them) offer their ECR link as a vendor-specific
USB interface with one bulk endpoint each way instead of a CDC serial port. ``UsbPort``
gives that pair the small pyserial surface the links use (``read``, ``in_waiting``,
``write``, ``flush``, ``timeout``, ``close``), so ``EcrLink`` and ``ConcertLink`` run over it
unchanged.

- ``read(n)`` returns buffered bytes first; with nothing buffered it does one bulk read
  of up to a packet within ``timeout`` and keeps what it does not return.
- ``in_waiting`` is what is already buffered: USB has no "bytes pending" query, so the
  link reads one byte (which fetches a whole packet) and then the rest of that packet.
- A device that goes away mid-transfer raises ``serial.SerialException`` naming the URL,
  as a vanished serial port does.

``backend`` is a pyusb backend (``usb.backend.IBackend``); None means pyusb's default
(libusb 1.0). Tests pass :class:`devices.terminal.usb_sim.SimulatedUsbBackend`.
"""

from __future__ import annotations

import contextlib
import errno
import re
import threading
from dataclasses import dataclass
from typing import Any

import serial
import usb.core
import usb.util

from devices.channels import ChannelError

_URL = re.compile(r"usb://(?P<vid>[0-9A-Fa-f]{4}):(?P<pid>[0-9A-Fa-f]{4})(?:/(?P<serial>[^/?#\s]+))?/?$")


@dataclass(frozen=True)
class UsbAddress:
    vid: int
    pid: int
    serial: str | None = None

    @classmethod
    def parse(cls, url: str) -> UsbAddress:
        match = _URL.match(url)
        if match is None:
            raise ChannelError(f"{url!r} is not a USB device URL: write usb://VID:PID or "
                               "usb://VID:PID/SERIAL with VID and PID as 4 hex digits "
                               "(e.g. usb://0b00:0080/12345678)")
        return cls(int(match["vid"], 16), int(match["pid"], 16), match["serial"])

    def __str__(self) -> str:
        tail = f"/{self.serial}" if self.serial else ""
        return f"usb://{self.vid:04x}:{self.pid:04x}{tail}"


def _device_gone(exc: usb.core.USBError) -> bool:
    return exc.errno in (errno.ENODEV, errno.EPIPE, errno.EIO) or exc.backend_error_code == -4


class UsbPort:
    """A bulk endpoint pair behaving like an open pyserial port."""

    def __init__(self, url: str, *, timeout: float | None = 0.05, backend: Any = None,
                 interface: int = 0, device: str = "device"):
        self.url = url
        self.address = UsbAddress.parse(url)
        self.timeout = timeout
        self._buffer = bytearray()
        self._lock = threading.Lock()  # one bulk read at a time; the buffer is shared
        self._closed = False
        self._dev = self._find(backend, device)
        try:
            try:
                cfg = self._dev.get_active_configuration()
            except usb.core.USBError:  # unconfigured: take the first configuration
                self._dev.set_configuration()
                cfg = self._dev.get_active_configuration()
            intf = cfg[(interface, 0)]
            usb.util.claim_interface(self._dev, intf.bInterfaceNumber)
        except (usb.core.USBError, KeyError, IndexError) as exc:
            raise ChannelError(f"cannot open {device} port {url}: interface {interface} cannot "
                               f"be claimed ({exc}); is another program using the terminal?"
                               ) from exc
        self._interface = intf.bInterfaceNumber
        self._ep_out = usb.util.find_descriptor(
            intf, custom_match=lambda e: _is_bulk(e, usb.util.ENDPOINT_OUT))
        self._ep_in = usb.util.find_descriptor(
            intf, custom_match=lambda e: _is_bulk(e, usb.util.ENDPOINT_IN))
        if self._ep_out is None or self._ep_in is None:
            raise ChannelError(f"cannot open {device} port {url}: interface {interface} has no "
                               "bulk IN and OUT endpoint pair; is this the terminal's ECR interface?")
        self._packet = int(self._ep_in.wMaxPacketSize) or 64

    def _find(self, backend: Any, device: str) -> usb.core.Device:
        a = self.address

        def matches(dev: usb.core.Device) -> bool:
            if a.serial is None:
                return True
            try:
                return dev.serial_number == a.serial
            except (usb.core.USBError, ValueError):
                return False

        try:
            dev = usb.core.find(idVendor=a.vid, idProduct=a.pid, custom_match=matches, backend=backend)
        except usb.core.NoBackendError as exc:
            raise ChannelError(f"cannot open {device} port {self.url}: pyusb finds no USB library "
                               "(install libusb-1.0)") from exc
        if dev is None:
            serial_text = f" with serial {a.serial}" if a.serial else ""
            raise ChannelError(f"cannot open {device} port {self.url}: no USB device "
                               f"{a.vid:04x}:{a.pid:04x}{serial_text} is attached. Check the cable, "
                               "that the terminal is powered and that the URL's serial is its own.")
        return dev

    # -- the pyserial surface ---------------------------------------------------------------
    def read(self, size: int = 1) -> bytes:
        with self._lock:
            if not self._buffer:
                self._fill(self.timeout)
            out = bytes(self._buffer[:size])
            del self._buffer[:size]
            return out

    @property
    def in_waiting(self) -> int:
        return len(self._buffer)

    def _fill(self, timeout: float | None) -> None:
        self._check_open()
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        try:
            data = self._dev.read(self._ep_in.bEndpointAddress, self._packet, timeout=ms)
        except usb.core.USBTimeoutError:
            return
        except usb.core.USBError as exc:
            raise self._gone(exc) from exc
        self._buffer += bytes(data)

    def write(self, data: bytes) -> int:
        self._check_open()
        view = memoryview(bytes(data))
        size = int(self._ep_out.wMaxPacketSize) or 64
        ms = 2000 if self.timeout is None else max(2000, int(self.timeout * 1000))
        try:
            while view:
                written = self._dev.write(self._ep_out.bEndpointAddress, view[:size], timeout=ms)
                view = view[written:]
        except usb.core.USBError as exc:
            raise self._gone(exc) from exc
        return len(data)

    def flush(self) -> None:  # bulk writes complete before write() returns
        pass

    def reset_input_buffer(self) -> None:
        with self._lock:
            self._buffer.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise serial.PortNotOpenError()

    def _gone(self, exc: usb.core.USBError) -> serial.SerialException:
        if _device_gone(exc):
            return serial.SerialException(f"USB device {self.url} is gone ({exc})")
        return serial.SerialException(f"USB transfer on {self.url} failed ({exc})")

    @property
    def is_open(self) -> bool:
        return not self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(usb.core.USBError):  # an unplugged device has nothing to release
            usb.util.release_interface(self._dev, self._interface)
        usb.util.dispose_resources(self._dev)


def _is_bulk(endpoint: Any, direction: int) -> bool:
    return (usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
            and usb.util.endpoint_direction(endpoint.bEndpointAddress) == direction)
