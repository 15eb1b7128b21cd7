"""Where things are on the bench, in the robot's frame: the ``robot:`` section of a profile.

Checked once at the edge, so the driver and the simulator can trust every number: a bad
value raises ``GeometryError`` naming the file, the key and what was expected, and every
point the robot will visit must lie inside its travel (its soft limits).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from devices.datafile import nearest, unknown_key
from devices.faults import RigDefect
from devices.robot.gcode import Position


class GeometryError(RigDefect, ValueError):
    """The ``robot:`` section of a terminal profile is wrong; the message says where and how."""


@dataclass(frozen=True)
class Magazine:
    first_slot: tuple[float, float]
    pitch: tuple[float, float]
    slots: int
    pick_z: float

    def xy(self, slot: int) -> tuple[float, float]:
        return (self.first_slot[0] + (slot - 1) * self.pitch[0],
                self.first_slot[1] + (slot - 1) * self.pitch[1])


@dataclass(frozen=True)
class ChipReader:
    x: float
    y: float
    insert_z: float


@dataclass(frozen=True)
class MagReader:
    y: float
    x_from: float
    x_to: float
    z: float
    readable_mm_s: tuple[float, float]  # stroke speeds the reader's head can decode


@dataclass(frozen=True)
class Antenna:
    x: float
    y: float
    tap_z: float


@dataclass(frozen=True)
class PhoneStand:
    """The customer's phone (scan-to-pay): where it rests on the bench (``dock``, picked at
    ``pick_z``) and where the robot holds its screen to the terminal's scanner window."""

    dock: tuple[float, float]
    pick_z: float
    scanner: tuple[float, float]
    present_z: float


@dataclass(frozen=True)
class Keypad:
    press_z: float
    keys: Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class RobotGeometry:
    homing: str  # "G28" or "$H"
    feed_mm_min: float  # travel between stations
    plunge_feed_mm_min: float  # down into a reader, onto a key
    max_feed_mm_min: float  # the controller's top speed; G0 runs at it
    safe_z: float
    travel: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    home: Position
    gripper_close: str
    gripper_open: str
    card_sensor: str  # "probe": a card in the jaws closes the probe input (Pn:P); or "none"
    tolerance_mm: float
    magazine: Magazine
    chip_reader: ChipReader
    mag_reader: MagReader
    antenna: Antenna
    keypad: Keypad
    source: str = "<dict>"
    phone: PhoneStand | None = None  # a bench without a phone stand has none

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> RobotGeometry:
        return _build(_Node(data, source, "robot"), source)

    @classmethod
    def from_profile(cls, path: str | Path) -> RobotGeometry:
        """The ``robot:`` section of a terminal profile file."""
        with open(path, encoding="utf-8") as fh:
            profile = yaml.safe_load(fh)
        if not isinstance(profile, dict) or "robot" not in profile:
            raise GeometryError(f"{path}: no 'robot:' section; a terminal profile needs one")
        return cls.from_dict(profile["robot"], source=str(path))

    def inside_travel(self, point: Position) -> bool:
        tol = 1e-6
        return all(lo - tol <= v <= hi + tol for v, (lo, hi) in zip((point.x, point.y, point.z), self.travel,
                                                                     strict=True))

    def describe_travel(self) -> str:
        return ", ".join(f"{a} {lo:g}..{hi:g}" for a, (lo, hi) in zip("xyz", self.travel,
                                                                       strict=True))


# -- validation -----------------------------------------------------------------------------
#: Every key name the section may use somewhere (the dataclasses' fields are its keys): a key
#: outside it standing where a required one is missing is that key misspelt.
_ALL_KEYS = frozenset({"x", "y", "z"} | {f.name for cls in (RobotGeometry, Magazine, ChipReader,
                                                            MagReader, Antenna, Keypad)
                                         for f in fields(cls)})


class _Node:
    """A mapping being read, that knows its dotted path for error messages."""

    def __init__(self, data: Any, source: str, where: str):
        if not isinstance(data, Mapping):
            raise GeometryError(f"{source}: {where}: expected a mapping, got {_shown(data)}")
        self.data, self.source, self.where = data, source, where
        self.used: set[str] = set()

    def fail(self, key: str, expected: str) -> GeometryError:
        return GeometryError(f"{self.source}: {self.where}.{key}: expected {expected}, got "
                             f"{_shown(self.data.get(key))}")

    def raw(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            unread = [str(k) for k in self.data if k not in self.used and k not in _ALL_KEYS]
            typo = nearest(key, unread)
            if typo is not None:  # a misspelt required key: name the misspelling
                raise GeometryError(unknown_key(self.source, self.where, typo, [key]))
            if default is ...:
                raise GeometryError(f"{self.source}: {self.where}.{key} is missing")
            return default
        return self.data[key]

    def num(self, key: str, default: Any = ..., *, positive: bool = False) -> float:
        value = self.raw(key, default)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise self.fail(key, "a number (mm, mm/min or s)")
        if positive and value <= 0:
            raise self.fail(key, "a number greater than 0")
        return float(value)

    def pair(self, key: str, default: Any = ..., *, ordered: bool = False) -> tuple[float, float]:
        value = self.raw(key, default)
        ok = (isinstance(value, list | tuple) and len(value) == 2
              and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))
        if not ok:
            raise self.fail(key, "a list of two numbers, e.g. [20, 25]")
        if ordered and not value[0] < value[1]:
            raise self.fail(key, "[low, high] with low < high")
        return float(value[0]), float(value[1])

    def text(self, key: str, pattern: str, expected: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise self.fail(key, expected)
        return value

    def child(self, key: str) -> _Node:
        return _Node(self.raw(key), self.source, f"{self.where}.{key}")

    def done(self) -> None:
        extra = sorted(set(map(str, self.data)) - self.used)
        if extra:  # the terminal profile's wording: path, key, the nearest known key
            raise GeometryError(unknown_key(self.source, self.where, extra[0], self.used,
                                            set(map(str, self.data))))


def _shown(value: Any) -> str:
    return "nothing" if value is None else f"{value!r}"


def _build(root: _Node, source: str) -> RobotGeometry:
    feed = root.num("feed_mm_min", positive=True)
    max_feed = root.num("max_feed_mm_min", feed, positive=True)
    travel_node = root.child("travel")
    travel = tuple(travel_node.pair(axis, ordered=True) for axis in "xyz")
    travel_node.done()
    home_xyz = root.raw("home", [0, 0, 0])
    if not (isinstance(home_xyz, list) and len(home_xyz) == 3
            and all(isinstance(v, int | float) for v in home_xyz)):
        raise root.fail("home", "[x, y, z] in mm")

    mag = root.child("magazine")
    slots = mag.raw("slots")
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise mag.fail("slots", "a whole number of slots, at least 1")
    magazine = Magazine(mag.pair("first_slot"), mag.pair("pitch"), slots, mag.num("pick_z"))
    mag.done()
    chip = root.child("chip_reader")
    chip_reader = ChipReader(chip.num("x"), chip.num("y"), chip.num("insert_z"))
    chip.done()
    stripe = root.child("mag_reader")
    x_from, x_to = stripe.num("x_from"), stripe.num("x_to")
    if not x_from < x_to:
        raise stripe.fail("x_to", f"a number greater than x_from ({x_from:g})")
    mag_reader = MagReader(stripe.num("y"), x_from, x_to, stripe.num("z"),
                           stripe.pair("readable_mm_s", [50, 1500], ordered=True))
    stripe.done()
    ant = root.child("antenna")
    antenna = Antenna(ant.num("x"), ant.num("y"), ant.num("tap_z"))
    ant.done()
    kp = root.child("keypad")
    keys_node = kp.child("keys")
    keys = {str(name): keys_node.pair(name) for name in keys_node.data}
    if not keys:
        raise kp.fail("keys", "at least one key, e.g. \"1\": [140, 160]")
    keypad = Keypad(kp.num("press_z"), keys)
    kp.done()
    phone = None
    if root.raw("phone", None) is not None:
        ph = root.child("phone")
        phone = PhoneStand(ph.pair("dock"), ph.num("pick_z"), ph.pair("scanner"), ph.num("present_z"))
        ph.done()

    geometry = RobotGeometry(
        homing=root.text("homing", r"G28|\$H", "G28 or $H"),
        feed_mm_min=feed,
        plunge_feed_mm_min=root.num("plunge_feed_mm_min", feed, positive=True),
        max_feed_mm_min=max_feed,
        safe_z=root.num("safe_z"),
        travel=travel,  # type: ignore[arg-type]  # three pairs, built from "xyz"
        home=Position(*map(float, home_xyz)),
        gripper_close=root.text("gripper_close", r"M\d+", "an M-code such as M3"),
        gripper_open=root.text("gripper_open", r"M\d+", "an M-code such as M5"),
        card_sensor=root.text("card_sensor", r"probe|none", "probe or none", "none"),
        tolerance_mm=root.num("tolerance_mm", 0.5, positive=True),
        magazine=magazine, chip_reader=chip_reader, mag_reader=mag_reader, antenna=antenna,
        keypad=keypad, source=source, phone=phone,
    )
    root.done()
    _check(geometry, root)
    return geometry


def _check(geometry: RobotGeometry, root: _Node) -> None:
    """Cross-key rules: the robot can reach every point and works below its safe plane."""
    if geometry.gripper_close == geometry.gripper_open:
        raise root.fail("gripper_open", f"an M-code other than gripper_close ({geometry.gripper_close})")
    if max(geometry.feed_mm_min, geometry.plunge_feed_mm_min) > geometry.max_feed_mm_min:
        raise root.fail("max_feed_mm_min", "at least feed_mm_min and plunge_feed_mm_min")
    points: dict[str, Position] = {"home": geometry.home}
    magazine = geometry.magazine
    for slot in (1, magazine.slots):
        points[f"magazine slot {slot}"] = Position(*magazine.xy(slot), magazine.pick_z)
    chip = geometry.chip_reader
    points["chip_reader"] = Position(chip.x, chip.y, chip.insert_z)
    reader = geometry.mag_reader
    points["mag_reader.x_from"] = Position(reader.x_from, reader.y, reader.z)
    points["mag_reader.x_to"] = Position(reader.x_to, reader.y, reader.z)
    points["antenna"] = Position(geometry.antenna.x, geometry.antenna.y, geometry.antenna.tap_z)
    for name, (x, y) in geometry.keypad.keys.items():
        points[f"keypad.keys.{name}"] = Position(x, y, geometry.keypad.press_z)
    if geometry.phone is not None:
        points["phone.dock"] = Position(*geometry.phone.dock, geometry.phone.pick_z)
        points["phone.scanner"] = Position(*geometry.phone.scanner, geometry.phone.present_z)
    for name, point in points.items():
        for label, z in (("", point.z), (" at safe_z", geometry.safe_z)):
            at = Position(point.x, point.y, z)
            if not geometry.inside_travel(at):
                raise GeometryError(
                    f"{geometry.source}: robot.{name} ({at}){label} lies outside the robot's travel "
                    f"({geometry.describe_travel()}): fix the coordinate or robot.travel")
        if name != "home" and point.z > geometry.safe_z:
            raise GeometryError(f"{geometry.source}: robot.{name}: z {point.z:g} is above safe_z "
                                f"{geometry.safe_z:g}; working heights must be at or below the safe plane")
