"""Power relay driver against its simulator over a pty, and what a power cut does."""

from __future__ import annotations

import pytest

from devices.bench_model import BenchModel
from devices.channels import PtyPort
from devices.power import protocol
from devices.power.driver import PowerError, SerialPowerRelay
from devices.power.sim import SimulatedPowerRelay


@pytest.fixture
def bench():
    model = BenchModel("bench-p", {})
    sim = SimulatedPowerRelay(model).start()
    relay = SerialPowerRelay(sim.url, station="bench-p")
    yield model, relay
    relay.close()
    sim.stop()


def test_frames_carry_a_checksum():
    assert protocol.encode(1, protocol.ON) == bytes([0xA0, 0x01, 0x01, 0xA2])
    assert protocol.decode(bytes([0xA0, 0x01, 0x00, 0xA1])) == (1, 0)
    with pytest.raises(protocol.RelayProtocolError):
        protocol.decode(bytes([0xA0, 0x01, 0x00, 0xA2]))


def test_off_on_query_follow_the_bench(bench):
    model, relay = bench
    assert relay.is_on() and model.powered
    relay.off()
    assert not model.powered and not relay.is_on()
    relay.on()
    assert model.powered and relay.is_on()


def test_cycle_cuts_then_restores_and_listeners_see_both(bench):
    model, relay = bench
    seen: list[bool] = []
    model.on_power(seen.append)
    relay.cycle(hold_s=0.01)
    assert seen == [False, True]
    assert model.powered


def test_silent_board_is_a_clear_error():
    mute = PtyPort()  # a port with nothing behind it: a relay board without supply
    try:
        relay = SerialPowerRelay(mute.url, station="bench-q", timeout=0.3)
        with pytest.raises(PowerError, match=r"bench-q.*did not answer"):
            relay.on()
        relay.close()
    finally:
        mute.close()
