"""The G-code line protocol the card robot speaks, written once for driver and simulator.

GRBL 1.1 style: the host sends one block per line and the controller answers each with
``ok`` or ``error:N``; ``?`` and Ctrl-X are real-time bytes (a status report, a soft reset)
that are acted on at once and never answered with ``ok``; ``ALARM:N``, the start-up banner
and ``[MSG:...]`` lines arrive when the controller has something to say. Numbers here are
GRBL's own, so a log from a real controller and one from the simulator read the same.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from devices.faults import RigDefect

STATUS_QUERY = b"?"
SOFT_RESET = b"\x18"
BANNER_PREFIX = "Grbl "
BANNER = "Grbl 1.1h ['$' for help]"
UNLOCK_HINT = "[MSG:'$H'|'$X' to unlock]"
RESET_HINT = "[MSG:Reset to continue]"

ERRORS: dict[int, str] = {
    1: "a G-code word has no letter",
    2: "a number is missing or malformed",
    3: "the '$' system command is not recognised",
    5: "the homing cycle is not enabled ($H is not this controller's homing command)",
    9: "G-code is locked out while the controller is in alarm",
    20: "unsupported or invalid G-code command",
    22: "no feed rate set for a G1 move",
    24: "two commands in one block both want the axis words",
    33: "the motion target is invalid",
}

ALARMS: dict[int, str] = {
    1: "hard limit or stall switch tripped: the machine stopped mid-move (a jam?) and its "
       "position is lost",
    2: "soft limit: the motion target is outside the machine's travel",
    3: "reset while in motion: the position is lost",
    9: "homing failed: a limit switch was not found",
}


class GcodeSyntaxError(RigDefect, ValueError):
    """A block the controller cannot parse; ``code`` is the ``error:N`` it answers."""

    def __init__(self, code: int, block: str):
        super().__init__(f"error:{code} ({ERRORS.get(code, 'unknown error')}) in {block!r}")
        self.code = code


@dataclass(frozen=True)
class Position:
    """A machine position in mm."""

    x: float
    y: float
    z: float

    def distance_to(self, other: Position) -> float:
        return math.dist((self.x, self.y, self.z), (other.x, other.y, other.z))

    def __str__(self) -> str:
        return f"X{num(self.x)} Y{num(self.y)} Z{num(self.z)}"


def num(value: float) -> str:
    """A coordinate as G-code writes it: at most 3 decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# -- host side: formatting -----------------------------------------------------------------
def move(*, x: float | None = None, y: float | None = None, z: float | None = None,
         feed_mm_min: float | None = None, rapid: bool = False) -> str:
    words = ["G0" if rapid else "G1"]
    words += [f"{axis}{num(v)}" for axis, v in (("X", x), ("Y", y), ("Z", z)) if v is not None]
    if feed_mm_min is not None:
        words.append(f"F{num(feed_mm_min)}")
    return " ".join(words)


def dwell(seconds: float) -> str:
    """``G4`` waits until every queued move has finished, then for ``seconds``."""
    return f"G4 P{num(seconds)}"


# -- controller side: parsing blocks -----------------------------------------------------
_WORD = re.compile(r"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))")
_COMMENT = re.compile(r"\([^)]*\)|;.*$")


@dataclass(frozen=True)
class Block:
    """One parsed G-code line: its commands (``G1``, ``M3``) and its value words (X, F, P)."""

    text: str
    commands: tuple[str, ...]
    values: dict[str, float] = field(default_factory=dict)


def parse_block(line: str) -> Block:
    text = _COMMENT.sub("", line).replace(" ", "").upper()
    commands: list[str] = []
    values: dict[str, float] = {}
    pos = 0
    while pos < len(text):
        match = _WORD.match(text, pos)
        if match is None:
            raise GcodeSyntaxError(2 if text[pos].isalpha() else 1, line)
        letter, number = match.groups()
        if letter in "GM":
            value = float(number)
            commands.append(f"{letter}{int(value) if value.is_integer() else value}")
        else:
            values[letter] = float(number)
        pos = match.end()
    return Block(line, tuple(commands), values)


# -- controller side: formatting replies -------------------------------------------------
def status_report(state: str, position: Position, *, feed_mm_min: float = 0.0,
                  pins: str = "") -> str:
    fields = [state, f"MPos:{position.x:.3f},{position.y:.3f},{position.z:.3f}",
              f"FS:{num(feed_mm_min)},0"]
    if pins:
        fields.append(f"Pn:{pins}")
    return "<" + "|".join(fields) + ">"


# -- host side: parsing replies ----------------------------------------------------------
@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Error:
    code: int

    @property
    def meaning(self) -> str:
        return ERRORS.get(self.code, "see the controller's error table")

    def __str__(self) -> str:
        return f"error:{self.code} ({self.meaning})"


@dataclass(frozen=True)
class Alarm:
    code: int

    @property
    def meaning(self) -> str:
        return ALARMS.get(self.code, "see the controller's alarm table")

    def __str__(self) -> str:
        return f"ALARM:{self.code} ({self.meaning})"


@dataclass(frozen=True)
class Status:
    """A ``<State|MPos:...|...>`` report. ``pins`` holds GRBL's ``Pn:`` letters (P = probe)."""

    state: str  # Idle, Run, Hold, Home, Alarm, ...; a ``:n`` sub-state is dropped
    position: Position | None
    feed_mm_min: float | None = None
    pins: str = ""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Banner:
    """The controller (re)started: after a reset or a power glitch."""

    text: str


@dataclass(frozen=True)
class Message:
    text: str  # ``[MSG:...]`` and other bracketed feedback, and anything unrecognised


Reply = Ok | Error | Alarm | Status | Banner | Message


def parse_reply(line: str) -> Reply:
    line = line.strip()
    if line == "ok":
        return Ok()
    for prefix, kind in (("error:", Error), ("ALARM:", Alarm)):
        if line.startswith(prefix) and line[len(prefix):].isdigit():
            return kind(int(line[len(prefix):]))
    if line.startswith("<") and line.endswith(">"):
        return _parse_status(line)
    if line.startswith(BANNER_PREFIX):
        return Banner(line)
    return Message(line)


def _parse_status(line: str) -> Status | Message:
    state, *rest = line[1:-1].split("|")
    fields = dict(part.split(":", 1) for part in rest if ":" in part)
    position = feed = None
    try:
        if "MPos" in fields:
            x, y, z = (float(v) for v in fields["MPos"].split(",")[:3])
            position = Position(x, y, z)
        if "FS" in fields:
            feed = float(fields["FS"].split(",")[0])
        elif "F" in fields:
            feed = float(fields["F"])
    except ValueError:
        return Message(line)  # garbled on the wire: not a status we can trust
    return Status(state.split(":")[0], position, feed, fields.get("Pn", ""), fields)
