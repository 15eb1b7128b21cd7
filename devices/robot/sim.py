"""``SimulatedRobot``: a GRBL-style card robot controller on a pty, with its bench physics.

It answers as GRBL 1.1 does: a move is answered ``ok`` when it is queued, and blocks that
must see the machine still (``G4``, gripper codes, homing) wait for the queue to drain; ``?``
and Ctrl-X act at once. Moves take the time their feed rate says, unless ``instant``; a
dwell always takes its time, since what the card does there (rest on the antenna) is the
point of it. Faults are armed on demand or drawn from a seeded generator, so a run repeats.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from devices import events
from devices.bench_model import BenchModel
from devices.channels import ChannelError, PtyPort
from devices.robot import gcode
from devices.robot.gcode import Block, GcodeSyntaxError, Position
from devices.robot.geometry import RobotGeometry
from devices.robot.physics import BenchPhysics, Blocked

_PLANNER_BLOCKS = 15  # GRBL's planner buffer, less the block being executed
_POLL_S = 0.05  # how often the loop looks up when nothing is due


class Fault(StrEnum):
    JAM = "jam"  # the next move stops part-way: ALARM:1, position lost
    MISSED_PICK = "missed_pick"  # the next close at a full slot misses the card
    LOST_HOME = "lost_home"  # the controller restarts as the next line arrives (brown-out)


@dataclass
class _Block:
    kind: str  # "move", "home", "dwell"
    target: Position  # the head's true position at the end
    feed_mm_min: float
    duration_s: float
    start: Position | None = None
    t0: float = 0.0
    stop_at: float = 1.0  # fraction of the move done when a jam stops it

    def at(self, fraction: float) -> Position:
        assert self.start is not None
        start, target = self.start, self.target
        return Position(*(a + (b - a) * fraction
                          for a, b in ((start.x, target.x), (start.y, target.y), (start.z, target.z))))


class SimulatedRobot:
    def __init__(self, model: BenchModel, geometry: RobotGeometry, *, instant: bool = True,
                 seed: int = 0, fault_rates: Mapping[Fault | str, float] | None = None):
        self.model, self.geometry, self.instant = model, geometry, instant
        self._source = f"{model.station}/robot-sim"
        self._port = PtyPort()
        self.url = self._port.url
        self._physics = BenchPhysics(model, geometry, self._log)
        self._rng = random.Random(seed)
        self._rates = {Fault(k): float(v) for k, v in (fault_rates or {}).items()}
        self._armed: set[Fault] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self._source, daemon=True)
        self._head = geometry.home  # where the head truly is; it survives a restart
        self._offset = Position(0, 0, 0)  # machine position = head - offset; 0 once homed
        self._homed = False
        self._latched = False  # an alarm that only a reset clears
        self._unlocked = False  # $X lets an un-homed machine move; a reset locks it again
        self._reset_modes()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SimulatedRobot:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._port.close()

    def __enter__(self) -> SimulatedRobot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, fault: Fault | str) -> None:
        """Arm ``fault`` for its next chance (the next move, pick, or line)."""
        with self._lock:
            self._armed.add(Fault(fault))

    @property
    def head(self) -> Position:
        """Where the head truly is (tests compare it with what the controller reports)."""
        return self._head

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # leave a trace in the evidence, not only on stderr
            self._log(f"simulator stopped: {type(exc).__name__}: {exc}")
            raise

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._advance(time.monotonic())
            self._dispatch()
            self._port.timeout = self._wait_s(time.monotonic())
            try:
                data = self._port.read(4096)
            except ChannelError:
                return
            for byte in data:
                self._receive(byte)

    def _wait_s(self, now: float) -> float:
        if self._current is not None:
            b = self._current
            return min(_POLL_S, max(0.0, b.t0 + b.duration_s * b.stop_at - now))
        return 0.0 if self._planner else _POLL_S

    def _receive(self, byte: int) -> None:
        if byte == gcode.STATUS_QUERY[0]:
            self._say(self._status())
        elif byte == gcode.SOFT_RESET[0]:
            self._soft_reset()
        elif byte in b"\r\n":
            line, self._rx = self._rx.decode("ascii", "replace"), bytearray()
            if self._chance(Fault.LOST_HOME):
                self._brown_out()
            elif not self._latched:
                self._lines.append(line)
        elif len(self._rx) < 256:  # GRBL's line buffer; longer lines are cut, not grown
            self._rx.append(byte)

    def _say(self, text: str) -> None:
        self._port.write(text.encode("ascii") + b"\r\n")

    def _log(self, text: str) -> None:
        events.log(self._source, text)

    def _chance(self, fault: Fault) -> bool:
        with self._lock:
            if fault in self._armed:
                self._armed.discard(fault)
                return True
        rate = self._rates.get(fault, 0.0)
        return rate > 0 and self._rng.random() < rate

    # -- controller state ----------------------------------------------------------------------
    def _reset_modes(self) -> None:
        self._rx = bytearray()
        self._lines: deque[str] = deque()
        self._planner: deque[_Block] = deque()
        self._current: _Block | None = None
        self._ok_when_idle = False
        self._absolute, self._rapid, self._feed = True, True, 0.0

    def _machine(self, head: Position) -> Position:
        o = self._offset
        return Position(head.x - o.x, head.y - o.y, head.z - o.z)

    def _now_head(self) -> Position:
        b = self._current
        if b is None or b.duration_s <= 0:
            return self._head
        done = min(b.stop_at, (time.monotonic() - b.t0) / b.duration_s)
        return b.at(max(0.0, done))

    def _state(self) -> str:
        if self._latched or (not self._homed and not self._unlocked):
            return "Alarm"
        block = self._running_block()
        if block is not None and block.kind == "home":
            return "Home"
        return "Run" if block is not None else "Idle"

    def _running_block(self) -> _Block | None:
        """The block the machine is executing: the current one, else the first planned one (a
        question between a move's ``ok`` and the loop's next turn finds it queued, not yet
        started; GRBL reports it running, with its feed)."""
        if self._current is not None:
            return self._current
        return self._planner[0] if self._planner else None

    def _status(self) -> str:
        block = self._running_block()
        moving = block is not None and block.kind != "dwell"
        sensor = self.geometry.card_sensor == "probe" and self._physics.card_sensed
        return gcode.status_report(self._state(), self._machine(self._now_head()),
                                   feed_mm_min=block.feed_mm_min if moving else 0.0,
                                   pins="P" if sensor else "")

    def _soft_reset(self) -> None:
        if self._current is not None and self._current.kind != "dwell":
            with contextlib.suppress(Blocked):  # it stops here whatever it ran into
                self._stop_block(self._now_head())
            self._say("ALARM:3")
            self._homed = False
        self._reset_modes()
        self._latched = self._unlocked = False
        self._say("")
        self._say(gcode.BANNER)
        if not self._homed:
            self._say(gcode.UNLOCK_HINT)

    def _brown_out(self) -> None:
        """Power dipped: the controller restarts, its counters read zero where the head is."""
        self._log("fault: the controller restarted (brown-out); it lost its home")
        self._reset_modes()
        self._homed = self._latched = self._unlocked = False
        self._offset = self._head
        self._say("")
        self._say(gcode.BANNER)
        self._say(gcode.UNLOCK_HINT)

    def _alarm(self, code: int, why: str) -> None:
        self._log(f"ALARM:{code}: {why}")
        self._planner.clear()
        self._lines.clear()
        self._current = None
        self._ok_when_idle = False
        self._latched = True
        if code in (1, 3):
            self._homed = False
        self._say(f"ALARM:{code}")
        self._say(gcode.RESET_HINT)

    # -- motion -------------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        started_at = now
        while self._current is not None or self._planner:
            if self._current is None:
                block = self._planner.popleft()
                block.start, block.t0 = self._head, started_at
                if block.kind == "move" and block.start != block.target \
                        and self._chance(Fault.JAM):
                    block.stop_at = self._rng.uniform(0.25, 0.75)
                self._current = block
            block = self._current
            ends = block.t0 + block.duration_s * block.stop_at
            if now < ends:
                return
            jammed = block.stop_at < 1.0
            try:
                self._stop_block(block.at(block.stop_at) if jammed else block.target)
            except Blocked as exc:
                self._alarm(1, f"blocked: {exc}")
                return
            if jammed:
                self._alarm(1, f"fault: jammed {block.stop_at:.0%} of the way to {block.target}")
                return
            if block.kind == "home":
                self._offset, self._homed = Position(0, 0, 0), True
            started_at = ends
        if self._ok_when_idle:
            self._ok_when_idle = False
            self._say("ok")

    def _stop_block(self, where: Position) -> None:
        block, self._current = self._current, None
        assert block is not None and block.start is not None
        self._head = where
        if block.kind != "dwell":
            self._physics.moved(block.start, where, block.feed_mm_min)

    def _queue(self, kind: str, target: Position, feed: float,
               duration: float | None = None) -> None:
        if duration is None:
            distance = self._planned_end().distance_to(target)
            duration = 0.0 if self.instant else distance / (feed / 60)
        self._planner.append(_Block(kind, target, feed, duration))

    def _planned_end(self) -> Position:
        if self._planner:
            return self._planner[-1].target
        return self._current.target if self._current is not None else self._head

    # -- lines --------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while self._lines and not self._ok_when_idle and not self._latched:
            line = self._lines[0].strip()
            try:
                block = None if line.startswith("$") or not line else gcode.parse_block(line)
            except GcodeSyntaxError as exc:
                self._lines.popleft()
                self._say(f"error:{exc.code}")
                continue
            busy = self._current is not None or bool(self._planner)
            if busy and (block is None or self._synchronising(block)):
                return  # GRBL answers these only with the machine standing still
            if len(self._planner) >= _PLANNER_BLOCKS:
                return  # a full planner holds the answer back: the host's flow control
            self._lines.popleft()
            reply = self._system(line) if block is None else self._execute(block)
            if reply:
                self._say(reply)

    def _synchronising(self, block: Block) -> bool:
        geometry = self.geometry
        return any(c in ("G4", "G28", geometry.gripper_close, geometry.gripper_open) for c in block.commands)

    def _system(self, line: str) -> str | None:
        if not line:
            return "ok"
        if line.upper() == "$H":
            if self.geometry.homing != "$H":
                return "error:5"
            return self._home()
        if line.upper() == "$X":
            self._unlocked = True
            self._say("[MSG:Caution: Unlocked]")
            return "ok"
        return "error:3"

    def _home(self) -> str | None:
        self._unlocked = False
        self._queue("home", self.geometry.home, self.geometry.max_feed_mm_min)
        self._ok_when_idle = True
        return None

    def _execute(self, block: Block) -> str | None:
        geometry = self.geometry
        known = {"G0", "G1", "G4", "G21", "G28", "G90", "G91", geometry.gripper_close, geometry.gripper_open}
        if any(c not in known for c in block.commands) or set(block.values) - set("XYZFP"):
            return "error:20"
        homing = "G28" in block.commands and geometry.homing == "G28"
        if self._state() == "Alarm" and not homing:
            return "error:9"
        if homing:
            return self._home()
        for c in block.commands:
            if c in ("G90", "G91"):
                self._absolute = c == "G90"
            elif c in ("G0", "G1"):
                self._rapid = c == "G0"
        if "F" in block.values:
            if block.values["F"] <= 0:
                return "error:33"
            self._feed = block.values["F"]
        if "G4" in block.commands:
            seconds = block.values.get("P", 0.0)
            self._queue("dwell", self._planned_end(), 0.0, max(0.0, seconds))
            self._ok_when_idle = True
            return None
        if geometry.gripper_close in block.commands or geometry.gripper_open in block.commands:
            close = geometry.gripper_close in block.commands
            miss = close and self._chance(Fault.MISSED_PICK)
            try:
                if close:
                    self._physics.close_gripper(self._head, miss=miss)
                else:
                    self._physics.open_gripper(self._head)
            except Blocked as exc:
                self._alarm(1, f"blocked: {exc}")
                return None
            return "ok"
        if "G28" in block.commands:  # a $H machine's G28: go to the home position
            return self._move_to(self._machine(geometry.home), geometry.max_feed_mm_min)
        if any(a in block.values for a in "XYZ"):
            return self._move(block)
        return "ok"

    def _move(self, block: Block) -> str | None:
        geometry = self.geometry
        base = self._machine(self._planned_end())
        target = Position(*(
            block.values[a] if self._absolute and a in block.values
            else b + block.values.get(a, 0.0)
            for a, b in (("X", base.x), ("Y", base.y), ("Z", base.z))))
        if self._rapid:
            feed = geometry.max_feed_mm_min
        elif self._feed <= 0:
            return "error:22"
        else:
            feed = min(self._feed, geometry.max_feed_mm_min)
        return self._move_to(target, feed)

    def _move_to(self, target: Position, feed: float) -> str | None:
        if not self.geometry.inside_travel(target):
            self._alarm(2, f"target {target} outside travel ({self.geometry.describe_travel()})")
            return None
        o = self._offset
        self._queue("move", Position(target.x + o.x, target.y + o.y, target.z + o.z), feed)
        return "ok"
