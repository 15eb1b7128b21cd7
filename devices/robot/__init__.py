"""The card robot: takes a card from the magazine, inserts, swipes, taps, presses keys.

``CardRobot`` is what the harness asks for; ``GcodeRobot`` drives a GRBL-style controller
over any serial URL; ``SimulatedRobot`` is such a controller on a pty, moving cards on the
station's ``BenchModel``. The driver reaches the simulator exactly as it reaches hardware.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from devices.robot.driver import GcodeRobot
from devices.robot.gcode import Position
from devices.robot.geometry import GeometryError, RobotGeometry
from devices.robot.link import RobotError
from devices.robot.sim import Fault, SimulatedRobot


@runtime_checkable
class CardRobot(Protocol):
    """A card robot in lab words. Every failure is a ``RobotError``; after one whose
    ``rehome`` is true the robot refuses to move until ``home()`` succeeds."""

    @property
    def holding(self) -> int | None:
        """The slot whose card is out of the magazine (in the jaws or the reader), or None."""
        ...

    @property
    def homed(self) -> bool:
        """False until ``home()`` succeeds, and again after an error that lost the position."""
        ...

    def home(self) -> None: ...

    def pick(self, slot: int) -> None: ...

    def insert(self) -> None:
        """Into the chip reader; the card stays there, the jaws let go, until ``remove()``."""
        ...

    def remove(self) -> None: ...

    def return_card(self) -> None:
        """Back to its slot, taking it out of the reader first if it is there."""
        ...

    def press(self, key: str) -> None: ...

    def press_keys(self, keys: str | Sequence[str], *, secret: bool = False) -> None: ...

    def swipe(self, *, speed_mm_s: float = 300.0,
              direction: Literal["forward", "backward"] = "forward") -> None: ...

    def tap(self, duration_s: float = 0.5) -> None: ...

    def position(self) -> Position: ...

    def close(self) -> None: ...


__all__ = [
    "CardRobot",
    "Fault",
    "GcodeRobot",
    "GeometryError",
    "Position",
    "RobotError",
    "RobotGeometry",
    "SimulatedRobot",
]
