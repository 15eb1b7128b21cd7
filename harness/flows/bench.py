"""The bench itself: power, and the known state every test starts from and ends in."""

from __future__ import annotations

import time

from devices import events
from devices.terminal.driver import TerminalError
from devices.terminal.link import LinkError
from harness.flows.core import FlowError, source
from harness.station import Station, StationBroken, StationState
from harness.verdict import describe_fault


def power_cycle(station: Station, hold_s: float = 0.2, boot_timeout: float = 30.0):
    """Cut and restore the terminal's power, then wait until it answers ``status``.

    A terminal that never answers after power returns is a terminal defect (failed): the
    relay did its part, which the relay's own driver would have reported otherwise.
    """
    station.check_usable()
    if station.power is None:
        raise StationBroken(f"{station.name}: the inventory names no power relay")
    src = source(station)
    with events.step(src, "power cycle the terminal", hold_s=hold_s):
        station.power.cycle(hold_s)
    station.state = StationState.POWERED
    deadline = time.monotonic() + boot_timeout
    with events.step(src, "wait for the terminal to boot") as s:
        while True:
            try:
                # each call repeats the frame on silence, so this polls at the link's pace
                response = station.terminal.call("status", timeout=5)
                s.result = f"up: {response.data}"
                return response
            except (LinkError, TerminalError) as exc:
                if time.monotonic() > deadline:
                    raise FlowError(f"{station.name}: the terminal did not come up within "
                                    f"{boot_timeout:.0f} s after power returned: {exc}") from exc


def restore_bench(station: Station) -> None:
    """Card back in its slot, robot homed, no host behaviour left scripted for the terminal.

    Runs after every test (OpenHTF's teardown: always, once setup began). A failure here is
    the station's: it is marked broken and takes no more tests.
    """
    with events.step(source(station), "restore the bench"):
        try:
            host = station.host.host
            if host is not None:
                host.script.clear(station.tid)  # an unused rule must not hit the next test
            robot = station.robot
            if not robot.homed:
                robot.home()
            if robot.holding is not None:
                robot.return_card()
            robot.home()
        except Exception as exc:
            station.mark_broken(f"teardown could not restore the bench: {describe_fault(exc)}")
            raise


def check_cards_home(station: Station) -> None:
    """Every card back in its magazine slot: a flow that ends holding one is unfinished."""
    held = station.robot.holding
    if held is not None:
        raise FlowError(f"{station.name}: the robot still holds the card of slot {held}")
