"""The USB transport through pyusb with a backend that simulates the bus (pyusb's own
extension point), the simulated terminal behind the device's bulk endpoints: the same
driver and link code as over serial, unchanged."""

from __future__ import annotations

import pytest

from devices.channels import ChannelError
from devices.terminal.driver import EcrTerminal
from devices.terminal.link import LinkError
from devices.terminal.testing import open_bench
from devices.terminal.usb import UsbAddress
from devices.terminal.usb_sim import SimulatedUsbBackend, SimulatedUsbDevice

INGENICO = 0x0B00


@pytest.fixture
def usb_bench(tmp_path):
    bench = open_bench(tmp_path)
    bus = SimulatedUsbBackend()
    decoy = bus.plug(SimulatedUsbDevice(INGENICO, 0x0080, "DECOY001", peer="loop://"))
    device = bus.plug(SimulatedUsbDevice(INGENICO, 0x0080, "SIM00001", peer=bench.sim.url))
    bench.terminal.close()  # the serial driver steps aside: this bench is cabled by USB
    terminal = EcrTerminal("usb://0b00:0080/SIM00001", station="bench-t", usb_backend=bus,
                           ack_timeout=0.5, response_timeout=30)
    bench.terminal = terminal
    yield bench, bus, device
    terminal.close()
    for dev in (device, decoy):
        dev.unplug()
    bench.close()


def test_usb_urls_parse_and_bad_ones_say_how_to_write_them():
    assert UsbAddress.parse("usb://0B00:0080/12345678") == UsbAddress(0x0B00, 0x80, "12345678")
    assert UsbAddress.parse("usb://0b00:0080") == UsbAddress(0x0B00, 0x80, None)
    with pytest.raises(ChannelError, match="usb://VID:PID"):
        UsbAddress.parse("usb://ingenico")


def test_sign_in_and_a_chip_sale_over_usb_bulk_endpoints(usb_bench):
    bench, _, _ = usb_bench
    bench.sign_in()
    sale = bench.sale(9_900, "cup-debit-chip")
    assert (sale.status, sale.data["entry"]) == ("approved", "chip")
    assert bench.journal("sale")[-1].amount == 9_900


def test_the_serial_number_picks_the_device_and_a_missing_one_is_named(usb_bench):
    bench, bus, _ = usb_bench
    assert bench.terminal.call("status", timeout=10).data["tid"] == bench.tid  # not the decoy
    with pytest.raises(ChannelError, match="no USB device 0b00:0080 with serial NOPE0000"):
        EcrTerminal("usb://0b00:0080/NOPE0000", station="bench-t", usb_backend=bus)


def test_unplugging_the_usb_cable_is_a_link_error_and_replugging_reopens(usb_bench):
    bench, bus, device = usb_bench
    assert bench.terminal.call("status", timeout=10).ok
    device.unplug()
    with pytest.raises(LinkError, match=r"bench-t terminal ECR port usb://0b00:0080/SIM00001.*gone"):
        bench.terminal.call("status", timeout=10)
    with pytest.raises(ChannelError, match="is attached"):
        bench.terminal.reopen()
    bus.plug(device)
    assert bench.terminal.reopen().call("status", timeout=10).ok


def test_concert_runs_over_usb_unchanged(tmp_path):
    from devices.terminal.concert_driver import ConcertTerminal

    bench = open_bench(tmp_path, dialect="concert")
    bus = SimulatedUsbBackend()
    device = bus.plug(SimulatedUsbDevice(INGENICO, 0x0080, "TELIUM01", peer=bench.sim.url))
    bench.terminal.close()
    bench.terminal = ConcertTerminal("usb://0b00:0080/TELIUM01", station="bench-t",
                                     console=bench.console, usb_backend=bus, response_timeout=30)
    try:
        sale = bench.sale(2_200, "cup-debit-chip")
        assert (sale.status, sale.data["result"]) == ("approved", "0")
    finally:
        bench.terminal.close()
        device.unplug()
        bench.close()
