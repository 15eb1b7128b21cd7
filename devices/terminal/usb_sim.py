"""A simulated USB bus for pyusb: terminals with a vendor-specific bulk interface.

pyusb lets a program supply its own backend (``usb.core.find(backend=...)``); this one
answers the descriptor requests of the devices plugged into it and moves bulk transfers
between the host (the rig's ``UsbPort``) and each device's far side, a byte stream
such as the simulated terminal's ECR pty. So the USB driver path (enumeration, serial
number string, configuration, interface claim, endpoint lookup, packetised transfers,
timeouts, a device unplugged mid-transfer) is exercised as with hardware, and the
terminal behind it is the same simulator the serial tests use.

    bus = SimulatedUsbBackend()
    dev = bus.plug(SimulatedUsbDevice(0x0B00, 0x0080, "SIM00001", peer=sim.url))
    terminal = EcrTerminal("usb://0b00:0080/SIM00001", usb_backend=bus)
    dev.unplug()   # every transfer now fails as a vanished device does
"""

from __future__ import annotations

import array
import contextlib
import errno
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import usb.backend
import usb.core

from devices.channels import open_serial

EP_OUT, EP_IN = 0x01, 0x81
PACKET = 64
_NO_DEVICE = -4  # libusb's LIBUSB_ERROR_NO_DEVICE
_TIMEOUT = -7  # LIBUSB_ERROR_TIMEOUT
_STRING = 3  # descriptor type of a string
_GET_DESCRIPTOR = 6


@dataclass(eq=False)
class SimulatedUsbDevice:
    """One device on the simulated bus: descriptors, and a byte stream behind its bulk
    endpoints (``peer``: a serial URL the device's firmware talks to, e.g. a pty)."""

    vid: int
    pid: int
    serial: str
    peer: str
    manufacturer: str = "posrig"
    product: str = "posrig simulated terminal (USB)"
    address: int = 0
    _in: bytearray = field(default_factory=bytearray, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _plugged: bool = False
    _port: Any = None
    _thread: threading.Thread | None = None

    # -- the device's own side: its link to the firmware ---------------------------------------
    def plug(self) -> None:
        self._port = open_serial(self.peer, device=f"USB device {self.serial} firmware link")
        with self._cond:
            self._plugged = True
            self._in.clear()
        self._thread = threading.Thread(target=self._pump, name=f"usb-sim {self.serial}", daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        with self._cond:
            self._plugged = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with contextlib.suppress(Exception):
            self._port.close()

    @property
    def plugged(self) -> bool:
        return self._plugged

    def _pump(self) -> None:
        """Firmware to host: what the terminal says waits in the IN endpoint's FIFO."""
        while self._plugged:
            try:
                data = self._port.read(PACKET)
            except Exception:
                return
            if data:
                with self._cond:
                    self._in += data
                    self._cond.notify_all()

    # -- what the backend asks of it -----------------------------------------------------------
    def _check(self) -> None:
        if not self._plugged:
            raise usb.core.USBError("No such device (it may have been disconnected)",
                                    _NO_DEVICE, errno.ENODEV)

    def host_write(self, data: bytes) -> int:
        self._check()
        try:
            self._port.write(data)
        except Exception as exc:
            raise usb.core.USBError(f"device firmware link failed: {exc}", _NO_DEVICE,
                                    errno.ENODEV) from exc
        return len(data)

    def host_read(self, size: int, timeout_ms: int) -> bytes:
        with self._cond:
            self._check()
            self._cond.wait_for(lambda: self._in or not self._plugged,
                                timeout=timeout_ms / 1000 if timeout_ms else None)
            self._check()
            if not self._in:
                raise usb.core.USBTimeoutError("Operation timed out", _TIMEOUT, errno.ETIMEDOUT)
            out = bytes(self._in[:size])
            del self._in[:size]
            return out

    def string(self, index: int) -> str | None:
        return {1: self.manufacturer, 2: self.product, 3: self.serial}.get(index)


class SimulatedUsbBackend(usb.backend.IBackend):
    """A USB bus holding simulated devices; hand it to ``usb.core.find(backend=...)``."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[SimulatedUsbDevice] = []
        self._config: dict[int, int] = {}

    def plug(self, device: SimulatedUsbDevice) -> SimulatedUsbDevice:
        device.address = device.address or len(self.devices) + 2
        if device not in self.devices:
            self.devices.append(device)
        device.plug()
        return device

    # -- enumeration and descriptors -----------------------------------------------------------
    def enumerate_devices(self):
        return [d for d in self.devices if d.plugged]

    def get_parent(self, dev):
        return None

    def get_device_descriptor(self, dev: SimulatedUsbDevice):
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=dev.vid, idProduct=dev.pid,
            bcdDevice=0x0100, iManufacturer=1, iProduct=2, iSerialNumber=3,
            bNumConfigurations=1, address=dev.address, bus=1, port_number=dev.address,
            port_numbers=(dev.address,), speed=2)

    def get_configuration_descriptor(self, dev, config):
        if config != 0:
            raise IndexError(f"configuration index {config}")
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
                               bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80,
                               bMaxPower=50, extra_descriptors=[])

    def get_interface_descriptor(self, dev, intf, alt, config):
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError(f"interface {intf} alternate {alt}")
        # vendor-specific class: the terminal's ECR interface, not CDC
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=0,
                               bAlternateSetting=0, bNumEndpoints=2, bInterfaceClass=0xFF,
                               bInterfaceSubClass=0, bInterfaceProtocol=0, iInterface=0,
                               extra_descriptors=[])

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        if ep not in (0, 1):
            raise IndexError(f"endpoint {ep}")
        return SimpleNamespace(bLength=7, bDescriptorType=5, bEndpointAddress=(EP_OUT, EP_IN)[ep],
                               bmAttributes=0x02, wMaxPacketSize=PACKET, bInterval=0,
                               bRefresh=0, bSynchAddress=0, extra_descriptors=[])

    # -- handles -------------------------------------------------------------------------------
    def open_device(self, dev: SimulatedUsbDevice):
        dev._check()
        return dev

    def close_device(self, dev_handle) -> None:
        pass

    def set_configuration(self, dev_handle, config_value) -> None:
        dev_handle._check()
        self._config[id(dev_handle)] = config_value

    def get_configuration(self, dev_handle) -> int:
        dev_handle._check()
        return self._config.get(id(dev_handle), 0)

    def set_interface_altsetting(self, dev_handle, intf, altsetting) -> None:
        dev_handle._check()

    def claim_interface(self, dev_handle, intf) -> None:
        dev_handle._check()

    def release_interface(self, dev_handle, intf) -> None:
        dev_handle._check()

    # -- transfers -----------------------------------------------------------------------------
    def bulk_write(self, dev_handle, ep, intf, data, timeout) -> int:
        if ep != EP_OUT:
            raise usb.core.USBError(f"endpoint {ep:#x} is not bulk OUT", -5, errno.EPIPE)
        return dev_handle.host_write(bytes(data))

    def bulk_read(self, dev_handle, ep, intf, buff, timeout) -> int:
        if ep != EP_IN:
            raise usb.core.USBError(f"endpoint {ep:#x} is not bulk IN", -5, errno.EPIPE)
        data = dev_handle.host_read(len(buff) * buff.itemsize, timeout)
        buff[:len(data)] = array.array(buff.typecode, data)
        return len(data)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        dev_handle._check()
        if bRequest != _GET_DESCRIPTOR or wValue >> 8 != _STRING:
            raise usb.core.USBError("request not supported by this device", -9, errno.EPIPE)
        index = wValue & 0xFF
        if index == 0:
            body = (0x0409).to_bytes(2, "little")  # one language: US English
        else:
            text = dev_handle.string(index)
            if text is None:
                raise usb.core.USBError(f"no string descriptor {index}", -9, errno.EPIPE)
            body = text.encode("utf-16-le")
        desc = bytes([2 + len(body), _STRING]) + body
        n = min(len(desc), len(data))
        data[:n] = array.array(data.typecode, desc[:n])
        return n
