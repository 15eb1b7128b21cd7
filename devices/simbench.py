"""One simulated bench: the physical model and every simulator around it, built in one place.

The virtual lab's stations (harness/virtual_lab.py), a lab host's exported stations
(harness/labgrid) and the terminal's own test bench (devices/terminal/testing.py) all build
their simulators here, from the same strict terminal profile: a ``BenchModel`` holding the
magazine's cards, the simulated terminal (ECR link and debug console on ptys), the card
robot (G-code on a pty) with the profile's geometry, the power relay and, when asked, the
tray camera (an MJPEG stream), seeded so every run photographs a slip the same way, and the
display camera on the terminal's screen (devices/display, the profile's screen: section).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devices.bench_model import BenchModel
from devices.camera import SimulatedCamera
from devices.cards import Card
from devices.display import SimulatedDisplay
from devices.phone import SimulatedPhone
from devices.power.sim import SimulatedPowerRelay
from devices.robot.sim import SimulatedRobot
from devices.terminal.profile import TerminalProfile, sim_config
from devices.terminal.sim import SimulatedTerminal


class SimulatedBench:
    """``model``, ``terminal``, ``robot``, ``power``, ``phone``, ``camera`` and ``display``
    (the last two None unless asked for);
    ``start()`` starts them all (a failure stops what started), ``stop()`` stops them."""

    def __init__(self, name: str, profile: TerminalProfile, magazine: Mapping[int, Card], *,
                 tid: str, tmk: bytes, host: tuple[str, int], state_dir: Path,
                 instant: bool = True, camera: bool = False, seed: int = 0,
                 camera_bind: str | None = None, display: bool = False,
                 phone_control: Path | None = None, **terminal_settings: Any):
        self.name = name
        self.model = BenchModel(name, dict(magazine))
        self.terminal = SimulatedTerminal(self.model, sim_config(  # all the profile says
            profile, tid=tid, tmk=tmk, host=host, state_dir=state_dir, **terminal_settings))
        self.robot = SimulatedRobot(self.model, profile.geometry, instant=instant)
        self.power = SimulatedPowerRelay(self.model)
        # the customer's phone, for the terminal's code scanner (scan-to-pay); with
        # ``phone_control`` another process tells it what to show (devices/phone/control.py)
        self.phone = SimulatedPhone(self.model, seed=seed, control=phone_control)
        camera_args: dict[str, Any] = {} if camera_bind is None else {"bind": camera_bind}
        self.camera = (SimulatedCamera(self.model, level=profile.camera_level, seed=seed, **camera_args)
                       if camera else None)
        self.display = None
        if display:
            screen = profile.screen
            self.display = SimulatedDisplay(
                self.model, seed=seed, **camera_args, **({} if screen is None else dict(
                    level=screen.level, backlight=screen.backlight, contrast=screen.contrast)))
            self.display.attach(self.terminal)  # the LCD draws what the terminal emits

    @property
    def devices(self) -> list:
        return [d for d in (self.terminal, self.robot, self.power, self.phone, self.camera, self.display)
                if d is not None]

    def start(self) -> SimulatedBench:
        started = []
        try:
            for device in self.devices:
                device.start()
                started.append(device)
        except BaseException:
            for device in reversed(started):
                device.stop()
            raise
        return self

    def stop(self) -> None:
        for device in reversed(self.devices):
            device.stop()
