"""``GcodeRobot``: the card robot in lab words, spoken as G-code to a GRBL-style controller.

The driver keeps the bench's state it is responsible for (which slot's card it has taken,
whether that card sits in the chip reader) and turns each action into moves from the
profile's geometry: up to the safe plane, across, down. A controller answers a move's
``ok`` as soon as it is queued, so each action ends with a synchronising block and waits
for it as long as its moves should take, plus the timeout.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Literal

from devices import events
from devices.channels import open_serial
from devices.robot import gcode
from devices.robot.gcode import Position
from devices.robot.geometry import PhoneStand, RobotGeometry
from devices.robot.link import GrblLink, RobotError

_SYNC = gcode.dwell(0)


class GcodeRobot:
    def __init__(self, url: str, geometry: RobotGeometry, *, station: str = "station",
                 timeout: float = 10.0, baudrate: int = 115200):
        self.geometry, self.station, self.url = geometry, station, url
        self._source = f"{station}/robot"
        port = open_serial(url, baudrate=baudrate, device=f"{station} card robot")
        self._link = GrblLink(port, url=url, station=station, timeout=timeout)
        self._homed = False
        self._slot: int | None = None  # the card we took out of the magazine
        self._in_reader = False
        self._phone = False  # the customer's phone is in the jaws (scan-to-pay)
        self._at: Position | None = None  # where our last queued move ends
        self._queued_s = 0.0  # motion time queued since the last synchronising block
        try:
            with self._action("connect", needs_home=False, url=url):
                self._link.handshake()
        except RobotError:
            port.close()
            raise

    # -- what the station knows -------------------------------------------------------
    @property
    def holding(self) -> int | None:
        """The slot whose card the robot has out of the magazine (in its jaws or the reader)."""
        return self._slot

    @property
    def card_in_reader(self) -> bool:
        return self._in_reader

    @property
    def homed(self) -> bool:
        return self._homed

    # -- actions ------------------------------------------------------------------------
    def home(self) -> None:
        geometry = self.geometry
        with self._action("home", needs_home=False, command=geometry.homing):
            self._link.handshake()  # clears a latched alarm and whatever was half sent
            (lo_x, hi_x), (lo_y, hi_y), (lo_z, hi_z) = geometry.travel
            worst = math.dist((lo_x, lo_y, lo_z), (hi_x, hi_y, hi_z)) / (geometry.max_feed_mm_min / 60)
            self._link.send(geometry.homing, motion_s=2 * worst)  # answered when the cycle is done
            self._link.send("G21 G90")  # millimetres, absolute: what every move below assumes
            self._at = self._link.status().position or geometry.home
            self._queued_s = 0.0
            self._homed = True

    def pick(self, slot: int) -> None:
        magazine = self.geometry.magazine
        with self._action("pick card", slot=slot):
            if self._slot is not None:
                raise self._refuse(f"it already holds the card of slot {self._slot}",
                                   "return_card() first")
            if self._phone:
                raise self._refuse("it holds the phone", "return_phone() first")
            if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot <= magazine.slots:
                raise self._refuse(f"the magazine has no slot {slot!r} (slots 1..{magazine.slots})",
                                   "pick one of the profile's slots")
            self._travel(*magazine.xy(slot))
            self._gripper(close=False)
            self._move(z=magazine.pick_z, feed=self.geometry.plunge_feed_mm_min)
            self._gripper(close=True)
            if self._jaws_empty():
                self._gripper(close=False)
                self._move(z=self.geometry.safe_z)
                self._sync()
                raise self._refuse(f"missed pick: the gripper closed at slot {slot} but its card "
                                   "sensor reports no card", f"check that slot {slot} holds its "
                                   "card, square in the magazine, then pick again")
            self._slot = slot
            self._move(z=self.geometry.safe_z)
            self._sync()

    def insert(self) -> None:
        reader = self.geometry.chip_reader
        with self._action("insert card", slot=self._slot):
            self._need_card_in_jaws()
            self._travel(reader.x, reader.y)
            self._move(z=reader.insert_z, feed=self.geometry.plunge_feed_mm_min)
            self._gripper(close=False)  # the reader holds the card; the finger needs the head
            self._in_reader = True
            self._move(z=self.geometry.safe_z)
            self._sync()

    def remove(self) -> None:
        with self._action("remove card", slot=self._slot):
            if not self._in_reader:
                raise self._refuse("no card of ours is in the chip reader", "insert() first")
            self._take_from_reader()

    def return_card(self) -> None:
        magazine = self.geometry.magazine
        with self._action("return card", slot=self._slot):
            if self._slot is None:
                raise self._refuse("it holds no card", "pick(slot) first")
            if self._in_reader:
                self._take_from_reader()
            self._travel(*magazine.xy(self._slot))
            self._move(z=magazine.pick_z, feed=self.geometry.plunge_feed_mm_min)
            self._gripper(close=False)
            self._slot = None
            self._move(z=self.geometry.safe_z)
            self._sync()

    @property
    def holding_phone(self) -> bool:
        return self._phone

    def present_phone(self) -> None:
        """Take the customer's phone from its dock and hold its screen to the terminal's
        scanner (scan-to-pay); ``return_phone()`` puts it back."""
        with self._action("present the phone to the scanner"):
            phone = self._phone_stand()
            if self._slot is not None:
                raise self._refuse(f"it holds the card of slot {self._slot}", "return_card() first")
            if not self._phone:
                self._travel(*phone.dock)
                self._gripper(close=False)
                self._move(z=phone.pick_z, feed=self.geometry.plunge_feed_mm_min)
                self._gripper(close=True)
                if self._jaws_empty():
                    self._gripper(close=False)
                    self._move(z=self.geometry.safe_z)
                    self._sync()
                    raise self._refuse("the gripper closed at the phone's dock but its sensor "
                                       "reports nothing", "put the phone on its dock")
                self._phone = True
                self._move(z=self.geometry.safe_z)
            self._travel(*phone.scanner)
            self._move(z=phone.present_z, feed=self.geometry.plunge_feed_mm_min)
            self._sync()

    def return_phone(self) -> None:
        """Put the phone back on its dock (nothing to do when the robot does not hold it)."""
        with self._action("return the phone to its dock"):
            phone = self._phone_stand()
            if not self._phone:
                return
            self._travel(*phone.dock)
            self._move(z=phone.pick_z, feed=self.geometry.plunge_feed_mm_min)
            self._gripper(close=False)
            self._phone = False
            self._move(z=self.geometry.safe_z)
            self._sync()

    def _phone_stand(self) -> PhoneStand:
        if self.geometry.phone is None:
            raise self._refuse("the profile's robot section has no phone stand",
                               "add robot.phone (dock, pick_z, scanner, present_z) to the profile")
        return self.geometry.phone

    def press(self, key: str) -> None:
        with self._action("press key", key=key):
            self._press(key, secret=False)
            self._sync()

    def press_keys(self, keys: str | Sequence[str], *, secret: bool = False) -> None:
        """A string is pressed character by character (a PIN, an amount); a list by key name.
        ``secret`` keeps the keys out of the evidence: the step and the G-code log hide them."""
        sequence = list(keys)
        shown = f"{len(sequence)} keys, hidden" if secret else " ".join(sequence)
        with self._action("press keys", keys=shown):
            for key in sequence:  # all or none: half a PIN typed would confuse the terminal
                self._check_key(key, secret=secret)
            for key in sequence:
                self._press(key, secret=secret)
            self._sync()

    def swipe(self, *, speed_mm_s: float = 300.0,
              direction: Literal["forward", "backward"] = "forward") -> None:
        """One stroke through the magnetic reader; forward runs from ``x_from`` to ``x_to``."""
        g, r = self.geometry, self.geometry.mag_reader
        with self._action("swipe card", slot=self._slot, speed_mm_s=speed_mm_s,
                          direction=direction):
            self._need_card_in_jaws()
            if direction not in ("forward", "backward"):
                raise self._refuse(f"unknown direction {direction!r}", "use forward or backward")
            if not 0 < speed_mm_s * 60 <= g.max_feed_mm_min:
                raise self._refuse(f"swipe speed {speed_mm_s:g} mm/s is not within the "
                                   f"controller's 0..{g.max_feed_mm_min / 60:g} mm/s",
                                   "choose a slower stroke or raise max_feed_mm_min")
            start, end = (r.x_from, r.x_to) if direction == "forward" else (r.x_to, r.x_from)
            self._travel(start, r.y)
            self._move(z=r.z, feed=g.plunge_feed_mm_min)
            self._move(x=end, feed=speed_mm_s * 60)
            self._move(z=g.safe_z)
            self._sync()

    def tap(self, duration_s: float = 0.5) -> None:
        """Hold the card on the contactless antenna for ``duration_s``."""
        a = self.geometry.antenna
        with self._action("tap card", slot=self._slot, duration_s=duration_s):
            self._need_card_in_jaws()
            if not 0 <= duration_s <= 60:
                raise self._refuse(f"tap duration {duration_s:g} s", "use 0..60 s")
            self._travel(a.x, a.y)
            self._move(z=a.tap_z, feed=self.geometry.plunge_feed_mm_min)
            self._sync(gcode.dwell(duration_s))
            self._move(z=self.geometry.safe_z)
            self._sync()

    def status(self) -> gcode.Status:
        self._link.action = "read status"
        self._link.transcript = []
        self._link.drain()
        return self._link.status()

    def position(self) -> Position:
        reported = self.status().position
        if reported is None:
            raise self._link.error("its status report carries no machine position",
                                   "enable MPos in the controller's status mask ($10)")
        return reported

    def gcode(self, line: str) -> None:
        """Send one raw block (service and diagnosis); the driver's own state is not updated."""
        with self._action("send G-code", needs_home=False, line=line):
            self._link.send(line)

    def close(self) -> None:
        self._link.port.close()

    def __enter__(self) -> GcodeRobot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building blocks --------------------------------------------------------------------
    @contextlib.contextmanager
    def _action(self, title: str, *, needs_home: bool = True, **args: object) -> Iterator[None]:
        detail = ", ".join(f"{k}={v}" for k, v in args.items() if k != "url")
        self._link.action = f"{title} ({detail})" if detail else title
        self._link.transcript = []
        with events.step(self._source, title, **args) as step:
            try:
                if not self._link.port.is_open:
                    raise self._refuse(f"its port {self.url} is closed", "open a new GcodeRobot")
                if needs_home and not self._homed:
                    raise self._refuse("it is not homed (just connected, or its last action "
                                       "failed)", "call home() first")
                self._link.drain()
                yield
            except RobotError as exc:
                if exc.rehome:
                    self._homed = False
                raise
            finally:
                step.attach("gcode", "\n".join(self._link.transcript))

    def _refuse(self, problem: str, advice: str) -> RobotError:
        """A request the driver turns down before moving: the position is still known."""
        return self._link.error(problem, advice, rehome=False)

    def _need_card_in_jaws(self) -> None:
        if self._slot is None:
            raise self._refuse("it holds no card", "pick(slot) first")
        if self._in_reader:
            raise self._refuse(f"the card of slot {self._slot} is in the chip reader",
                               "remove() it first")

    def _move(self, *, x: float | None = None, y: float | None = None, z: float | None = None,
              feed: float | None = None, secret: bool = False) -> None:
        assert self._at is not None  # homed, so known
        target = Position(self._at.x if x is None else x, self._at.y if y is None else y,
                          self._at.z if z is None else z)
        feed = feed or self.geometry.feed_mm_min
        if not self.geometry.inside_travel(target):
            raise self._refuse(f"the move to {target} leaves its travel "
                               f"({self.geometry.describe_travel()})", "fix the profile")
        self._link.send(gcode.move(x=x, y=y, z=z, feed_mm_min=feed), secret=secret)
        self._queued_s += self._at.distance_to(target) / (feed / 60)
        self._at = target

    def _travel(self, x: float, y: float, *, secret: bool = False) -> None:
        assert self._at is not None
        if self._at.z != self.geometry.safe_z:
            self._move(z=self.geometry.safe_z)
        if (self._at.x, self._at.y) != (x, y):
            self._move(x=x, y=y, secret=secret)

    def _sync(self, line: str = _SYNC) -> None:
        """A block the controller answers only once every queued move has finished."""
        self._link.send(line, motion_s=self._queued_s)
        self._queued_s = 0.0
        self._link.position = self._at  # the machine stands where the last move ended

    def _gripper(self, *, close: bool) -> None:
        self._sync(self.geometry.gripper_close if close else self.geometry.gripper_open)

    def _jaws_empty(self) -> bool:
        return self.geometry.card_sensor == "probe" and "P" not in self._link.status().pins

    def _take_from_reader(self) -> None:
        reader = self.geometry.chip_reader
        self._travel(reader.x, reader.y)
        self._gripper(close=False)
        self._move(z=reader.insert_z, feed=self.geometry.plunge_feed_mm_min)
        self._gripper(close=True)
        if self._jaws_empty():
            self._gripper(close=False)
            self._move(z=self.geometry.safe_z)
            self._sync()
            raise self._refuse("the gripper closed at the chip reader but its card sensor "
                               "reports no card", "check the reader by hand; the terminal may "
                               "have ejected or swallowed the card")
        self._move(z=self.geometry.safe_z)
        self._sync()
        self._in_reader = False

    def _check_key(self, key: str, *, secret: bool) -> None:
        keys = self.geometry.keypad.keys
        if key not in keys:
            shown = "a key" if secret else f"key {key!r}"
            raise self._refuse(f"the keypad has no {shown}", f"use one of {', '.join(keys)}")

    def _press(self, key: str, *, secret: bool) -> None:
        self._check_key(key, secret=secret)
        self._travel(*self.geometry.keypad.keys[key], secret=secret)
        self._move(z=self.geometry.keypad.press_z, feed=self.geometry.plunge_feed_mm_min)
        self._move(z=self.geometry.safe_z, feed=self.geometry.plunge_feed_mm_min)
