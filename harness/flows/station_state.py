"""The station's state: its power, and the known state every test starts from and ends in."""

from __future__ import annotations

import time

from devices import events
from devices.terminal.console import ConsoleTimeout
from devices.terminal.dialect import Response
from devices.terminal.driver import TerminalError
from devices.terminal.link import NoAck
from harness.flows.core import FlowError, source
from harness.station import Station, StationBroken

#: What a terminal's debug console says when its power-on ends: up, or halted in the
#: self-check (docs/posrig-ecr-1.md, the simulated terminal's console).
#: Anchored at the start of a console line after its timestamp, so a value the terminal
#: echoes (an operator id, say) can never pass for the boot's end.
BOOT_DONE = r"(?m)^\[[\d. ]+\] (READY|HALTED)"


def _relay(station: Station):
    station.check_usable()
    if station.power is None:
        raise StationBroken(f"{station.name}: the inventory names no power relay")
    return station.power


def power_off(station: Station) -> None:
    """Cut the terminal's power: RAM (login, keys, a transaction in flight) is lost."""
    relay = _relay(station)
    with events.step(source(station), "cut the terminal's power"):
        relay.off()
    station.strategy.powered(False)


def power_on(station: Station, boot_timeout: float | None = None) -> Response:
    """Restore power and wait until the terminal answers ``status``.

    With a debug console the wait follows the terminal's own account of its boot: "READY"
    ends it, "HALTED" fails it at once with the console's words, silence fails it after
    ``boot_timeout`` (the profile's ``power.boot_timeout_s`` unless given). Without one,
    ``status`` is polled. A terminal that does not come up is a terminal defect (failed):
    the relay's driver would have said if the relay failed.
    """
    relay = _relay(station)
    if station.console is not None:
        station.console.skip_to_end()  # only what this boot prints counts
    with events.step(source(station), "restore the terminal's power"):
        relay.on()
    station.strategy.powered(True)
    return _wait_for_boot(station, boot_timeout)


def power_cycle(station: Station, hold_s: float | None = None,
                boot_timeout: float | None = None) -> Response:
    """Cut and restore the terminal's power (off for ``hold_s``, the profile's
    ``power.hold_s`` unless given), then wait until it answers ``status``."""
    relay = _relay(station)
    hold_s = station.profile.power_hold if hold_s is None else hold_s
    if station.console is not None:
        station.console.skip_to_end()
    with events.step(source(station), "power cycle the terminal", hold_s=hold_s):
        relay.cycle(hold_s)
    station.strategy.powered(True)
    return _wait_for_boot(station, boot_timeout)


def _wait_for_boot(station: Station, boot_timeout: float | None) -> Response:
    boot_timeout = station.profile.boot_timeout if boot_timeout is None else boot_timeout
    with events.step(source(station), "wait for the terminal to boot", timeout_s=boot_timeout) as s:
        if station.console is not None:
            _boot_by_console(station, boot_timeout)
        response = _first_status(station, boot_timeout)
        s.result = f"up: {response.data}"
    return response


def _boot_by_console(station: Station, boot_timeout: float) -> None:
    assert station.console is not None
    try:
        found = station.console.expect(BOOT_DONE, timeout=boot_timeout)
    except ConsoleTimeout as exc:
        raise FlowError(f"{station.name}: the terminal did not boot within {boot_timeout:g} s "
                        f"after power returned. {exc}") from exc
    if found.group(1) == "HALTED":
        tail = "\n  ".join(station.console.lines()[-6:])
        raise FlowError(f"{station.name}: the terminal halted in its power-on self-check; "
                        f"its console says:\n  {tail}")


def _first_status(station: Station, boot_timeout: float) -> Response:
    """Poll ``status`` until the terminal answers. Silence (no ACK, no answer) is a terminal
    still booting, until the deadline makes it a terminal defect; a port that is gone is the
    station's fault at once (``LinkError`` travels up as it is)."""
    deadline = time.monotonic() + boot_timeout
    while True:
        try:
            # each call repeats the frame on silence, so this polls at the link's pace
            return station.terminal.call("status", timeout=5)
        except (NoAck, TerminalError) as exc:
            if time.monotonic() > deadline:
                raise FlowError(f"{station.name}: the terminal did not answer on its ECR link "
                                f"within {boot_timeout:.0f} s after power returned: {exc}") from exc


def restore_bench(station: Station) -> None:
    """No transaction pending, card back in its slot, robot homed, no host behaviour left
    scripted: the station's strategy restores it (harness/strategy.py). Runs after every
    test (OpenHTF's teardown: always, once setup began); a failure here is the station's."""
    station.strategy.restore()


def check_cards_home(station: Station) -> None:
    """Every card back in its magazine slot: a flow that ends holding one is unfinished."""
    held = station.robot.holding
    if held is not None:
        raise FlowError(f"{station.name}: the robot still holds the card of slot {held}")
