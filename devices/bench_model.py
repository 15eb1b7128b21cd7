"""The bench's physical model, shared by one station's simulators.

A card reaches the chip reader only because the simulated robot moved it there; the
simulated terminal learns of cards and key presses only from here; a slip lies on the tray
only because the terminal printed it; power is whatever the relay says. Drivers never
touch this: they see devices only through their channels.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from devices.cards import Card
from devices.faults import RigDefect


class Place(StrEnum):
    MAGAZINE = "magazine"  # in its slot
    GRIPPER = "gripper"  # held by the robot, in the air
    CHIP_READER = "chip_reader"  # inserted, contacts engaged
    ANTENNA = "antenna"  # held over the contactless antenna


class BenchError(RigDefect):
    """A physically impossible move: two cards in one reader, a card that is not there."""


@dataclass(frozen=True)
class Slip:
    """What the printer put on the tray: the lines as printed and how well."""

    lines: tuple[str, ...]
    printed_at: float = field(default_factory=time.time)
    quality: str = "good"  # "good", "faded", "dead_column", "cut_short"
    # how the printer set it, as (name, value) pairs of devices.camera.render.PrintLayout
    # (paper_mm, values, font_px, pitch, font); empty: the CUP layout
    layout: tuple[tuple[str, object], ...] = ()


class BenchModel:
    """One station's physical world. Thread-safe; every change wakes waiters."""

    def __init__(self, station: str, magazine: dict[int, Card]):
        self.station = station
        self.magazine = dict(magazine)
        self._where: dict[int, Place] = {slot: Place.MAGAZINE for slot in magazine}
        self._cond = threading.Condition()
        self._keys: deque[str] = deque()
        self._swipes: deque[tuple[int, Card]] = deque()
        self.tray: list[Slip] = []
        self.powered = True
        self._power_listeners: list[Callable[[bool], None]] = []
        # What faces the terminal's code scanner: a callable giving the image it sees now
        # (a phone's screen held there), or None when the window is empty.
        self._at_scanner: Callable[[], object] | None = None
        # The customer's phone on its stand: what its screen shows, and where it is (dock,
        # gripper, scanner); None without a phone on the bench.
        self._phone_view: Callable[[], object] | None = None
        self.phone_place: str | None = None

    # -- cards --------------------------------------------------------------------------
    def place_of(self, slot: int) -> Place:
        with self._cond:
            if slot not in self._where:
                raise BenchError(f"{self.station}: magazine has no slot {slot}")
            return self._where[slot]

    def card_at(self, place: Place) -> tuple[int, Card] | None:
        with self._cond:
            for slot, where in self._where.items():
                if where is place:
                    return slot, self.magazine[slot]
        return None

    def move(self, slot: int, place: Place) -> None:
        with self._cond:
            if slot not in self._where:
                raise BenchError(f"{self.station}: magazine has no slot {slot}")
            if place is not Place.MAGAZINE:
                other = self.card_at(place)
                if other is not None and other[0] != slot:
                    raise BenchError(f"{self.station}: {place} already holds the card of slot {other[0]}")
            self._where[slot] = place
            self._cond.notify_all()

    def swipe(self, slot: int) -> None:
        """The card in the gripper passed through the magnetic reader."""
        with self._cond:
            self._swipes.append((slot, self.magazine[slot]))
            self._cond.notify_all()

    def take_swipe(self) -> Card | None:
        with self._cond:
            return self._swipes.popleft()[1] if self._swipes else None

    # -- keypad -------------------------------------------------------------------------
    def press(self, key: str) -> None:
        with self._cond:
            self._keys.append(key)
            self._cond.notify_all()

    def take_key(self) -> str | None:
        with self._cond:
            return self._keys.popleft() if self._keys else None

    def clear_inputs(self) -> None:
        with self._cond:
            self._keys.clear()
            self._swipes.clear()

    # -- power ----------------------------------------------------------------------------
    def set_power(self, on: bool) -> None:
        with self._cond:
            changed = self.powered != on
            self.powered = on
            listeners = list(self._power_listeners)
            self._cond.notify_all()
        if changed:
            for listener in listeners:
                listener(on)

    def on_power(self, listener: Callable[[bool], None]) -> None:
        with self._cond:
            self._power_listeners.append(listener)

    # -- the code scanner's window --------------------------------------------------------
    def hold_at_scanner(self, view: Callable[[], object] | None) -> None:
        """``view`` (what a phone's screen shows, as an image) faces the scanner; None: taken away."""
        with self._cond:
            self._at_scanner = view
            self._cond.notify_all()

    def scanner_view(self) -> Callable[[], object] | None:
        with self._cond:
            if self._at_scanner is None and self.phone_place == "scanner":
                return self._phone_view
            return self._at_scanner

    def place_phone(self, view: Callable[[], object]) -> None:
        """A phone showing ``view()`` is put on its dock (the robot can pick it there)."""
        with self._cond:
            self._phone_view, self.phone_place = view, "dock"
            self._cond.notify_all()

    def move_phone(self, place: str) -> None:
        """The robot moved the phone: ``dock``, ``gripper`` or ``scanner``."""
        if place not in ("dock", "gripper", "scanner"):
            raise BenchError(f"{self.station}: a phone is on its dock, in the gripper or at the "
                             f"scanner, not {place!r}")
        with self._cond:
            if self.phone_place is None:
                raise BenchError(f"{self.station}: there is no phone on this bench")
            self.phone_place = place
            self._cond.notify_all()

    # -- printer tray ---------------------------------------------------------------------
    def print_slip(self, slip: Slip) -> None:
        with self._cond:
            self.tray.append(slip)
            self._cond.notify_all()

    # -- waiting ----------------------------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds (checked under the model's lock) or time runs out."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def snapshot(self) -> dict[str, object]:
        with self._cond:
            return {
                "powered": self.powered,
                "cards": {slot: str(place) for slot, place in self._where.items()},
                "keys_pending": len(self._keys),
                "slips": len(self.tray),
            }
