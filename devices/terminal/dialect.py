"""``posrig-ecr/1``: the rig's own ECR dialect, one UTF-8 JSON object per frame.

Written once, spoken by the driver and by the simulated terminal. The full description a
vendor could implement from is docs/posrig-ecr-1.md (and its JSON Schema,
docs/posrig-ecr-1.schema.json). Three kinds of message:

- request  ``{"type": "request", "id": 7, "cmd": "sale", "args": {"amount": 1234}}``
- response ``{"type": "response", "id": 7, "cmd": "sale", "status": "approved", "data": {...}}``
- event    ``{"type": "event", "event": "prompt", "data": {"prompt": "insert_card", ...}}``

``status`` is one of ``STATUSES``: ``approved`` / ``declined`` (the host answered),
``refused`` (the terminal would not start it, ``data.reason`` says why), ``failed`` (it
started and could not finish: no host answer, a bad MAC), ``cancelled`` (no card, no PIN),
``ok`` (a non-financial command succeeded), ``error`` (the request itself was wrong).

A frame is input from another device, so ``decode`` works within bounds (``LIMITS``): frame
size, nesting depth, number of values, string length, and integers only where integers go,
never Infinity, NaN or a number too large to be an amount. Anything outside them is a
``DialectError`` (a terminal defect when the terminal sent it), never a bare ValueError,
OverflowError or RecursionError; ``describe`` never raises at all (a reader thread calls it).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from devices.faults import TerminalDefect
from devices.text import printable

NAME = "posrig-ecr/1"
COMMANDS = ("login", "signin", "sale", "void", "refund", "settle", "reprint", "status",
            "qr_sale", "qr_order", "qr_void", "qr_refund")
STATUSES = ("ok", "approved", "declined", "refused", "failed", "cancelled", "error")
EVENTS = ("display", "prompt", "printing")
PROMPTS = ("insert_card", "swipe_card", "enter_pin", "remove_card", "supervisor_password",
           "scan_code")
PRINTING_STATES = ("started", "done", "out_of_paper")
#: Argument names whose values never reach a log line: ``describe`` shows them as ****.
SECRET_ARGS = frozenset({"password", "pin", "supervisor_password"})

MAX_FRAME = 16 * 1024  # bytes of payload; a settlement answer with its slip is ~2 KiB
MAX_DEPTH = 8  # nested objects/arrays, the frame's own object included (answers use 4)
MAX_VALUES = 2_000  # values in one frame, containers included
MAX_STRING = 1_024  # characters in one string (a key or a value)
MAX_INT = 2**53 - 1  # the largest integer every JSON implementation reads exactly
MAX_ID = 2**31 - 1  # request ids are 1 .. MAX_ID; a response's id 0 answers an unreadable one
MAX_NAME = 32  # characters of a command or event name
LIMITS = {"frame_bytes": MAX_FRAME, "depth": MAX_DEPTH, "values": MAX_VALUES,
          "string_chars": MAX_STRING, "integer": MAX_INT, "id": MAX_ID}


class DialectError(TerminalDefect, ValueError):
    """A frame that is not valid posrig-ecr/1. ``id`` and ``cmd`` are the request's when
    they could be read, so an error answer can name the request it answers."""

    def __init__(self, message: str, *, id: int | None = None, cmd: str | None = None,
                 reason: str = "bad_frame"):
        super().__init__(message)
        self.id, self.cmd, self.reason = id, cmd, reason


class ArgumentError(DialectError):
    """A request whose arguments are missing, unknown or of the wrong kind (``bad_arguments``)."""

    def __init__(self, message: str, *, id: int | None = None, cmd: str | None = None):
        super().__init__(message, id=id, cmd=cmd, reason="bad_arguments")


@dataclass(frozen=True)
class Request:
    id: int
    cmd: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    id: int
    cmd: str
    status: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "approved")


@dataclass(frozen=True)
class Event:
    event: str
    data: dict[str, Any] = field(default_factory=dict)


Message = Request | Response | Event


def encode(message: Message) -> bytes:
    if isinstance(message, Request):
        obj: dict[str, Any] = {"type": "request", "id": message.id, "cmd": message.cmd,
                               "args": message.args}
    elif isinstance(message, Response):
        obj = {"type": "response", "id": message.id, "cmd": message.cmd,
               "status": message.status, "data": message.data}
    else:
        obj = {"type": "event", "event": message.event, "data": message.data}
    # ensure_ascii=False keeps Chinese receipt lines readable; JSON never emits raw
    # control bytes, so STX/ETX cannot appear inside a payload.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- reading a frame within bounds --------------------------------------------------------------

class _NumberError(DialectError):
    """A number out of bounds in an otherwise readable frame: its id and cmd can still be read."""


_TOKENS = re.compile(r'[\[\]{}"\\]')


def _depth_exceeds(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (scanned before parsing,
    so ``[`` x 40,000 never reaches the parser's recursion)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # too few brackets to nest that deep: nearly every real frame
    depth, in_string, skip = 0, False, -1
    for m in _TOKENS.finditer(text):
        if m.start() == skip:  # the character after a backslash in a string
            continue
        char = m.group()
        if in_string:
            if char == "\\":
                skip = m.start() + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _bad_number(text: str) -> DialectError:
    shown = text if len(text) <= 24 else f"{text[:12]}…({len(text)} characters)"
    return _NumberError(f"not a {NAME} frame: the number {shown} is out of range ({NAME} numbers "
                        f"are integers of at most {MAX_INT} or short finite decimals)")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_INT)):
        raise _bad_number(text)
    value = int(text)
    if abs(value) > MAX_INT:
        raise _bad_number(text)
    return value


def _parse_float(text: str) -> float:
    value = float(text) if len(text) <= 32 else math.inf
    if not math.isfinite(value):
        raise _bad_number(text)
    return value


def _parse_constant(text: str) -> Any:
    raise _NumberError(f"not a {NAME} frame: {text} is not a JSON number (JSON has no "
                       "Infinity or NaN)")


def _check_values(obj: Any) -> None:
    """Count values and measure strings (the depth is already known to be small)."""
    count = 0
    stack = [obj]
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise DialectError(f"not a {NAME} frame: more than {MAX_VALUES} values")
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise DialectError(f"not a {NAME} frame: a string of {len(value)} characters "
                                   f"(at most {MAX_STRING})")
        elif isinstance(value, dict):
            for key in value:
                if len(key) > MAX_STRING:
                    raise DialectError(f"not a {NAME} frame: a key of {len(key)} characters "
                                       f"(at most {MAX_STRING})")
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def parse(payload: bytes) -> Any:
    """The payload's JSON value, within ``LIMITS``; ``DialectError`` otherwise."""
    if len(payload) > MAX_FRAME:
        raise DialectError(f"not a {NAME} frame: {len(payload)} bytes (at most {MAX_FRAME})")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DialectError(f"not a {NAME} frame: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if _depth_exceeds(text, MAX_DEPTH):
        raise DialectError(f"not a {NAME} frame: nested deeper than {MAX_DEPTH} levels")
    try:
        obj = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                         parse_constant=_parse_constant)
    except DialectError:
        raise
    except json.JSONDecodeError as exc:
        raise DialectError(f"not a {NAME} frame: not JSON ({exc.msg} at character {exc.pos})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # belt and braces: never a bare error
        raise DialectError(f"not a {NAME} frame: {type(exc).__name__}") from None
    _check_values(obj)
    return obj


def _name(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and 0 < len(value) <= MAX_NAME else None


def _id(obj: dict[str, Any], *, low: int) -> int | None:
    value = obj.get("id")
    if type(value) is int and low <= value <= MAX_ID:
        return value
    return None


def _object(obj: dict[str, Any], key: str, what: str, **known: Any) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DialectError(f"{what}: {key!r} must be a JSON object, got {type(value).__name__}",
                           **known)
    return value


def _describe_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f"the string {printable(repr(value), 40)}"
    return f"a JSON {'array' if isinstance(value, list) else 'object'}"


def _lenient(text: str) -> Any:
    """The frame read with every out-of-bounds number as null: only to find the id and cmd
    an error answer echoes (the depth and size were checked already)."""
    def number(s: str) -> Any:
        return None if len(s) > 17 else float(s)
    return json.loads(text, parse_int=number, parse_float=number, parse_constant=lambda s: None)


def decode(payload: bytes) -> Message:
    try:
        obj = parse(payload)
    except _NumberError as exc:
        try:
            whole = _lenient(payload.decode("utf-8"))
        except Exception:
            raise DialectError(str(exc)) from None
        if isinstance(whole, dict) and whole.get("type") == "request":
            rid = whole.get("id")
            exc.id = int(rid) if isinstance(rid, float) and rid.is_integer() and 1 <= rid <= MAX_ID \
                else None
            exc.cmd = _name(whole, "cmd")
        raise
    if not isinstance(obj, dict):
        raise DialectError(f"not a {NAME} frame: expected a JSON object, got {_describe_value(obj)}")
    kind = obj.get("type")
    if kind == "request":
        rid, cmd = _id(obj, low=1), _name(obj, "cmd")
        known = {"id": rid, "cmd": cmd}
        if rid is None:
            raise DialectError(f"{NAME} request: 'id' must be an integer from 1 to {MAX_ID}, got "
                               f"{_describe_value(obj.get('id'))}", cmd=cmd)
        if cmd is None:
            raise DialectError(f"{NAME} request #{rid}: 'cmd' must be a command name such as "
                               f"\"status\", got {_describe_value(obj.get('cmd'))}", id=rid)
        return Request(rid, cmd, dict(_object(obj, "args", f"{NAME} request #{rid}", **known)))
    if kind == "response":
        rid, cmd, status = _id(obj, low=0), _name(obj, "cmd"), obj.get("status")
        if rid is None:
            raise DialectError(f"{NAME} response: 'id' must be an integer from 0 to {MAX_ID}, got "
                               f"{_describe_value(obj.get('id'))}")
        if cmd is None:
            raise DialectError(f"{NAME} response #{rid}: 'cmd' must be the request's command, got "
                               f"{_describe_value(obj.get('cmd'))}")
        if status not in STATUSES:
            raise DialectError(f"{NAME} response #{rid} to {cmd}: unknown status "
                               f"{_describe_value(status)}; one of {', '.join(STATUSES)}")
        return Response(rid, cmd, status, dict(_object(obj, "data", f"{NAME} response #{rid}")))
    if kind == "event":
        event = _name(obj, "event")
        if event is None:
            raise DialectError(f"{NAME} event: 'event' must be an event name such as \"prompt\", "
                               f"got {_describe_value(obj.get('event'))}")
        return Event(event, dict(_object(obj, "data", f"{NAME} event {event}")))
    raise DialectError(f"not a {NAME} frame: 'type' must be request, response or event, got "
                       f"{_describe_value(kind)}", id=_id(obj, low=1), cmd=_name(obj, "cmd"))


#: A secret argument in a frame too broken to parse: hidden all the same.
_SECRET_IN_TEXT = re.compile(r'("(?:' + "|".join(sorted(SECRET_ARGS))
                             + r')"\s*:\s*)(?:"(?:[^"\\]|\\.)*"?|[^,}\]]*)')


def describe(payload: bytes, limit: int = 2_000) -> str:
    """A frame as a log line: the JSON with every secret argument replaced by ``****``
    (card numbers are masked later by the event stream, whatever the dialect), control
    characters escaped, cut to ``limit`` characters. Never raises: a reader thread calls it
    on whatever arrived."""
    try:
        obj = parse(payload)
    except DialectError:
        text = payload[:limit * 4].decode("utf-8", "replace")
        return printable(_SECRET_IN_TEXT.sub(r'\1"****"', text), limit)
    except Exception:  # describe must never take a reader thread down
        return f"({len(payload)} bytes, not shown)"
    if isinstance(obj, dict) and isinstance(obj.get("args"), dict) and \
            SECRET_ARGS & obj["args"].keys():
        obj["args"] = {k: "****" if k in SECRET_ARGS else v for k, v in obj["args"].items()}
        return printable(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), limit)
    return printable(payload.decode("utf-8", "replace"), limit)


# -- the commands' arguments ----------------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    """One argument of a command: its kind (``ARG_KINDS``) and whether it must be given."""

    kind: str
    required: bool = False


#: What each kind accepts, as the page and the schema say it.
ARG_KINDS: dict[str, str] = {
    "amount": f"an integer number of fen (cents) from 0 to {10**12 - 1}, e.g. 12345 for RMB 123.45",
    "trace": "an integer trace number from 1 to 999999",
    "operator": 'a string of 2 digits, e.g. "01"',
    "password": "a string of 1 to 32 characters",
    "digits": "a string of 4 to 12 digits",
    "rrn": "a string of 12 letters or digits (the sale's reference number)",
    "mmdd": 'a string of 4 digits, month and day (MMDD), e.g. "0412"',
    "voucher": "a string of 20 digits (the payment voucher number a QR slip prints)",
}
#: Every command's arguments. ``null`` for an argument that is not required means absent.
COMMAND_ARGS: dict[str, dict[str, Arg]] = {
    "status": {},
    "login": {"operator": Arg("operator", True), "password": Arg("password", True)},
    "signin": {},
    "sale": {"amount": Arg("amount", True), "pin": Arg("digits")},
    "void": {"trace": Arg("trace"), "amount": Arg("amount"), "supervisor_password": Arg("digits"),
             "pin": Arg("digits")},
    "refund": {"amount": Arg("amount", True), "orig_trace": Arg("trace"), "orig_rrn": Arg("rrn"),
               "orig_date": Arg("mmdd"), "supervisor_password": Arg("digits"), "pin": Arg("digits")},
    "settle": {},
    "reprint": {"trace": Arg("trace")},
    "qr_sale": {"amount": Arg("amount", True)},
    "qr_order": {"amount": Arg("amount", True)},
    "qr_void": {"trace": Arg("trace", True)},
    "qr_refund": {"amount": Arg("amount", True), "orig_trace": Arg("trace"),
                  "voucher": Arg("voucher"), "orig_date": Arg("mmdd")},
}


def _arg_ok(kind: str, value: Any) -> bool:
    if kind in ("amount", "trace"):
        top = 10**12 - 1 if kind == "amount" else 999_999
        return type(value) is int and (0 if kind == "amount" else 1) <= value <= top
    if not isinstance(value, str):
        return False
    if kind == "operator":
        return re.fullmatch(r"[0-9]{2}", value) is not None
    if kind == "password":
        return 1 <= len(value) <= 32
    if kind == "digits":
        return re.fullmatch(r"[0-9]{4,12}", value) is not None
    if kind == "rrn":
        return re.fullmatch(r"[0-9A-Za-z]{12}", value) is not None
    if kind == "voucher":
        return re.fullmatch(r"[0-9]{20}", value) is not None
    return re.fullmatch(r"(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])", value) is not None  # mmdd


def _hint(kind: str, value: Any) -> str:
    """What to do about a wrong value, for the kinds people get wrong most."""
    if kind in ("amount", "trace") and isinstance(value, str) and value.isdigit():
        return f" (send the number {int(value)}, not a string)"
    if kind == "amount" and isinstance(value, str | float):
        try:
            fen = round(float(value) * 100)
        except ValueError:
            return ""
        return f" (RMB {value} is {fen})" if 0 < fen < 10**12 else ""
    if kind in ("operator", "digits", "mmdd") and type(value) is int:
        return " (send it as a string: a leading zero matters)"
    return ""


def check_args(cmd: str, args: dict[str, Any], *, id: int | None = None) -> dict[str, Any]:
    """The request's arguments checked against ``COMMAND_ARGS`` (nulls dropped), or
    ``ArgumentError`` saying in words what is wrong and what is expected."""
    spec = COMMAND_ARGS[cmd]
    given = {k: v for k, v in args.items() if v is not None}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        takes = ", ".join(spec) if spec else "no arguments"
        raise ArgumentError(f"{cmd} does not take {', '.join(map(repr, unknown))}; {cmd} takes {takes}",
                            id=id, cmd=cmd)
    for name, arg in spec.items():
        if name not in given:
            if arg.required:
                raise ArgumentError(f"{cmd} needs {name!r}: {ARG_KINDS[arg.kind]}", id=id, cmd=cmd)
            continue
        value = given[name]
        if not _arg_ok(arg.kind, value):
            shown = "****" if name in SECRET_ARGS else _describe_value(value)
            raise ArgumentError(f"{cmd}: {name!r} must be {ARG_KINDS[arg.kind]}; got {shown}"
                                f"{'' if name in SECRET_ARGS else _hint(arg.kind, value)}",
                                id=id, cmd=cmd)
    if cmd == "void" and "trace" not in given and "amount" not in given:
        raise ArgumentError("void needs 'trace' (the sale's trace number) or 'amount' (then the "
                            "last sale of that amount not yet voided)", id=id, cmd=cmd)
    by_voucher = [k for k in ("voucher", "orig_date") if k in given]
    if cmd == "qr_refund" and (len(by_voucher) != (0 if "orig_trace" in given else 2)):
        raise ArgumentError("qr_refund names the payment either by 'orig_trace' (a QR sale of the open "
                            "batch) or by both 'voucher' and 'orig_date' (as its slip prints them)",
                            id=id, cmd=cmd)
    if cmd == "refund":
        by_ref = [k for k in ("orig_rrn", "orig_date") if k in given]
        if "orig_trace" in given and by_ref:
            raise ArgumentError("refund names the sale either by 'orig_trace' or by 'orig_rrn' and "
                                "'orig_date', not both", id=id, cmd=cmd)
        if "orig_trace" not in given and len(by_ref) != 2:
            raise ArgumentError("refund needs 'orig_trace' (a sale of the open batch) or both "
                                "'orig_rrn' and 'orig_date' (a sale of an earlier batch)",
                                id=id, cmd=cmd)
    return given
