"""A station: one bench's drivers together, and its strategy (harness/strategy.py).

The strategy knows the station's state (off, booting, idle, logged in, signed in, in a
transaction) by looking at the bench, brings it to the state a test needs, and latches
*broken* after a station fault (a port gone, a jammed robot, an unreachable host): a broken
station takes no more tests, and the tests that wanted it are skipped with the cause,
while other stations go on.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from devices.camera import Camera, OpenCvCamera
from devices.cards import Card
from devices.power import PowerRelay
from devices.power.driver import SerialPowerRelay
from devices.robot import CardRobot, RobotGeometry
from devices.robot.driver import GcodeRobot
from devices.terminal import Terminal, open_terminal
from devices.terminal.console import Console
from harness.hostlink import HostLink
from harness.inventory import StationSpec
from harness.profiles import TerminalProfile
from harness.screen import Screen
from harness.strategy import StationBroken, StationState, StationStrategy


class Station:
    def __init__(self, spec: StationSpec, profile: TerminalProfile, cards: dict[str, Card],
                 terminal: Terminal, robot: CardRobot, host: HostLink,
                 power: PowerRelay | None = None, console: Console | None = None,
                 camera: Camera | None = None, screen: Screen | None = None):
        self.spec, self.profile, self.cards = spec, profile, cards
        self.terminal, self.robot, self.host, self.power = terminal, robot, host, power
        self.console = console
        self.camera = camera
        self.screen = screen  # the display camera's screen states (harness/screen), None without one
        self.strategy = StationStrategy(self)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tid(self) -> str:
        return self.spec.terminal.tid

    @classmethod
    def open(cls, spec: StationSpec, profile: TerminalProfile, cards: dict[str, Card],
             host: HostLink, log_dir: Path | None = None) -> Station:
        """Open every driver the inventory names; any failure leaves nothing open."""
        opened: list = []
        try:
            console = None
            if spec.terminal.console:
                console = Console(spec.terminal.console, spec.name, log_dir or Path("logs"))
                opened.append(console)
            terminal = open_terminal(spec.terminal.ecr, dialect=profile.dialect, station=spec.name,
                                     console=console, baudrate=profile.baudrate,
                                     ack_timeout=profile.ack_timeout, repeats=profile.repeats,
                                     response_timeout=profile.response_timeout)
            opened.append(terminal)
            robot = GcodeRobot(spec.robot.url, RobotGeometry.from_dict(
                profile.robot, source=str(profile.source)), station=spec.name)
            opened.append(robot)
            robot.home()
            power = SerialPowerRelay(spec.power, station=spec.name) if spec.power else None
            if power is not None:
                opened.append(power)
            camera = OpenCvCamera(spec.camera, station=spec.name).open() if spec.camera else None
            screen = (Screen.open_source(spec.display, profile.screen, station=spec.name,
                                         profile_name=str(profile.source)) if spec.display else None)
        except Exception as exc:
            for device in opened:
                device.close()
            raise StationBroken(f"{spec.name}: cannot open its devices: {exc}") from exc
        return cls(spec, profile, cards, terminal, robot, host, power, console, camera, screen)

    def card(self, card: Card | str) -> Card:
        if isinstance(card, Card):
            return card
        try:
            return self.cards[card]
        except KeyError:
            raise LookupError(f"no card {card!r} in the card list; known: {sorted(self.cards)}") from None

    def slot_of(self, card: Card) -> int:
        return self.spec.slot_of(card.card_id)

    @property
    def state(self) -> StationState:
        return self.strategy.state

    @property
    def broken_reason(self) -> str | None:
        return self.strategy.broken_reason

    def mark_broken(self, reason: str) -> None:
        self.strategy.mark_broken(reason)

    def check_usable(self) -> None:
        self.strategy.check_usable()

    def close(self) -> None:
        for device in (self.terminal, self.robot, self.power, self.console, self.camera, self.screen):
            if device is not None:
                with contextlib.suppress(Exception):  # a vanished device needs no closing
                    device.close()
