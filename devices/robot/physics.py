"""What physically happens around the simulated robot's head, decided from the geometry.

The simulator's controller only knows positions and its gripper output; this module turns
those into the bench's facts on the station's ``BenchModel``: a card picked, seated in the
chip reader, pulled out, held on the antenna, stroked through the magnetic reader, put
back; a key pressed. Rules are checked where a move ends (or stops), because that is where
the driver's moves put the head: straight down onto a reader, a key or a slot.
"""

from __future__ import annotations

from collections.abc import Callable

from devices.bench_model import BenchError, BenchModel, Place
from devices.robot.gcode import Position
from devices.robot.geometry import RobotGeometry


class Blocked(Exception):
    """The mechanism hit something (a reader that already holds a card): the sim jams."""


class BenchPhysics:
    def __init__(self, model: BenchModel, geometry: RobotGeometry, log: Callable[[str], None]):
        self.model, self.geometry, self._log = model, geometry, log
        self.closed = False
        self.gripped: int | None = None  # slot of the card between the jaws
        self.phone_held = False  # the customer's phone between the jaws

    @property
    def card_sensed(self) -> bool:
        # the probe closes on whatever the jaws hold: a card, or the phone's edge
        return self.gripped is not None or self.phone_held

    # -- where the head is ------------------------------------------------------------------
    def _near(self, head: Position, x: float, y: float, z: float) -> bool:
        tol = self.geometry.tolerance_mm
        return abs(head.x - x) <= tol and abs(head.y - y) <= tol and abs(head.z - z) <= tol

    def _slot_at(self, head: Position) -> int | None:
        magazine = self.geometry.magazine
        for slot in range(1, magazine.slots + 1):
            if self._near(head, *magazine.xy(slot), magazine.pick_z):
                return slot
        return None

    def _at_reader(self, head: Position) -> bool:
        reader = self.geometry.chip_reader
        return self._near(head, reader.x, reader.y, reader.insert_z)

    def _at_antenna(self, head: Position) -> bool:
        antenna = self.geometry.antenna
        return self._near(head, antenna.x, antenna.y, antenna.tap_z)

    def _at_phone(self, head: Position, where: str) -> bool:
        phone = self.geometry.phone
        if phone is None:
            return False
        if where == "dock":
            return self._near(head, *phone.dock, phone.pick_z)
        return self._near(head, *phone.scanner, phone.present_z)

    def _key_at(self, head: Position) -> str | None:
        for key, (x, y) in self.geometry.keypad.keys.items():
            if self._near(head, x, y, self.geometry.keypad.press_z):
                return key
        return None

    def _move_card(self, slot: int, place: Place) -> None:
        try:
            self.model.move(slot, place)
        except BenchError as exc:
            raise Blocked(str(exc)) from exc
        self._log(f"card of slot {slot} -> {place}")

    # -- the gripper -------------------------------------------------------------------------
    def close_gripper(self, at: Position, *, miss: bool = False) -> None:
        self.closed = True
        if self.gripped is not None or self.phone_held:
            return
        if self.model.phone_place == "dock" and self._at_phone(at, "dock"):
            self.phone_held = True
            self.model.move_phone("gripper")
            self._log("phone picked from its dock")
            return
        slot = self._slot_at(at)
        if slot is not None and slot in self.model.magazine \
                and self.model.place_of(slot) is Place.MAGAZINE:
            if miss:
                self._log(f"fault: the jaws closed beside the card of slot {slot} (missed pick)")
                return
            self._move_card(slot, Place.GRIPPER)
            self.gripped = slot
            return
        seated = self.model.card_at(Place.CHIP_READER)
        if seated is not None and self._at_reader(at):
            self.gripped = seated[0]  # it stays in the reader until the head lifts it out

    def open_gripper(self, at: Position) -> None:
        self.closed = False
        if self.phone_held:
            if self._at_phone(at, "dock"):
                self.phone_held = False
                self.model.move_phone("dock")
                self._log("phone put back on its dock")
            else:
                self._log(f"jaws opened at {at} with the phone: nothing takes it")
            return
        slot = self.gripped
        if slot is None:
            return
        place = self.model.place_of(slot)
        if place is Place.CHIP_READER:
            self.gripped = None  # the reader holds it
        elif place is Place.GRIPPER and self._slot_at(at) == slot:
            self.gripped = None
            self._move_card(slot, Place.MAGAZINE)
        else:
            # Nothing here to take the card (wrong slot, mid-air): it stays between the jaws,
            # as the robot's spring-loaded jaws keep a card unless it is pushed into a seat.
            self._log(f"jaws opened at {at} with the card of slot {slot}: nothing takes it")

    # -- the head moved -----------------------------------------------------------------------
    def moved(self, start: Position, end: Position, feed_mm_min: float) -> None:
        """A straight move from ``start`` ended (or stopped) at ``end``."""
        if start == end:
            return
        if self.phone_held:
            if self._at_phone(end, "scanner"):
                self.model.move_phone("scanner")
                self._log("phone held to the terminal's scanner")
            elif self.model.phone_place == "scanner":
                self.model.move_phone("gripper")
        slot = self.gripped
        if slot is not None:
            place = self.model.place_of(slot)
            if place is Place.GRIPPER:
                self._stroke(slot, start, end, feed_mm_min)
                if self._at_reader(end):
                    self._move_card(slot, Place.CHIP_READER)
                elif self._at_antenna(end):
                    self._move_card(slot, Place.ANTENNA)
            elif (place is Place.CHIP_READER and not self._at_reader(end)) or (
                    place is Place.ANTENNA and not self._at_antenna(end)):
                self._move_card(slot, Place.GRIPPER)  # lifted out of the reader, off the antenna
        key = self._key_at(end)
        if key is not None:
            self._log("finger pressed a key")  # which one stays unsaid: it may be a PIN digit
            self.model.press(key)

    def _stroke(self, slot: int, start: Position, end: Position, feed_mm_min: float) -> None:
        """A card stroked along the magnetic reader's whole path, in one move, is read."""
        reader, tol = self.geometry.mag_reader, self.geometry.tolerance_mm
        on_path = all(abs(point.y - reader.y) <= tol and abs(point.z - reader.z) <= tol
                      for point in (start, end))
        covers = min(start.x, end.x) <= reader.x_from + tol and max(start.x, end.x) >= reader.x_to - tol
        if not (on_path and covers):
            return
        speed = feed_mm_min / 60
        low, high = reader.readable_mm_s
        if not low <= speed <= high:
            self._log(f"card of slot {slot} swiped at {speed:g} mm/s: the reader cannot decode "
                      f"it outside {low:g}..{high:g} mm/s")
            return
        self._log(f"card of slot {slot} swiped at {speed:g} mm/s")
        self.model.swipe(slot)
