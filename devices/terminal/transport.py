"""Opening a terminal's port from its URL: serial-like URLs through pyserial, ``usb://``
through pyusb. Whatever comes back has the pyserial surface the links use."""

from __future__ import annotations

from typing import Any

from devices.channels import open_serial


def open_port(url: str, *, baudrate: int = 115200, timeout: float = 0.05,
              device: str = "device", usb_backend: Any = None) -> Any:
    """``usb://VID:PID[/serial]`` opens the bulk endpoint pair of that USB device (the baud
    rate means nothing there); anything else goes to pyserial's ``serial_for_url``.
    Raises ``ChannelError`` naming the device and the URL."""
    if url.startswith("usb://"):
        from devices.terminal.usb import UsbPort  # pyusb only when a lab uses it

        return UsbPort(url, timeout=timeout, backend=usb_backend, device=device)
    return open_serial(url, baudrate=baudrate, timeout=timeout, device=device)
