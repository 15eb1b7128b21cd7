"""``posrig-ecr/1``: the rig's own ECR dialect, one UTF-8 JSON object per frame.

Written once, spoken by the driver and by the simulated terminal. The full description a
vendor could implement from is docs/posrig-ecr-1.md. Three kinds of message:

- request  ``{"type": "request", "id": 7, "cmd": "sale", "args": {"amount": 1234}}``
- response ``{"type": "response", "id": 7, "cmd": "sale", "status": "approved", "data": {...}}``
- event    ``{"type": "event", "event": "prompt", "data": {"prompt": "insert_card", ...}}``

``status`` is one of ``STATUSES``: ``approved`` / ``declined`` (the host answered),
``refused`` (the terminal would not start it, ``data.reason`` says why), ``failed`` (it
started and could not finish: no host answer, a bad MAC), ``cancelled`` (no card, no PIN),
``ok`` (a non-financial command succeeded), ``error`` (the request itself was wrong).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devices.faults import TerminalDefect

NAME = "posrig-ecr/1"
COMMANDS = ("login", "signin", "sale", "void", "refund", "settle", "reprint", "status")
STATUSES = ("ok", "approved", "declined", "refused", "failed", "cancelled", "error")
EVENTS = ("display", "prompt", "printing")
PROMPTS = ("insert_card", "swipe_card", "enter_pin", "remove_card", "supervisor_password")
PRINTING_STATES = ("started", "done", "out_of_paper")
#: Argument names whose values never reach a log line: ``describe`` shows them as ****.
SECRET_ARGS = frozenset({"password", "pin", "supervisor_password"})


class DialectError(TerminalDefect, ValueError):
    """A frame that is not valid posrig-ecr/1."""


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


def describe(payload: bytes) -> str:
    """A frame as a log line: the JSON with every secret argument replaced by ``****``
    (card numbers are masked later by the event stream, whatever the dialect)."""
    text = payload.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    if isinstance(obj, dict) and isinstance(obj.get("args"), dict) and \
            SECRET_ARGS & obj["args"].keys():
        obj["args"] = {k: "****" if k in SECRET_ARGS else v for k, v in obj["args"].items()}
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text


def decode(payload: bytes) -> Message:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DialectError(f"not a {NAME} frame (not UTF-8 JSON): {exc}") from exc
    if not isinstance(obj, dict):
        raise DialectError(f"not a {NAME} frame: expected a JSON object")
    kind = obj.get("type")
    try:
        if kind == "request":
            if obj["cmd"] not in COMMANDS:
                raise DialectError(f"unknown command {obj['cmd']!r}; {NAME} knows {', '.join(COMMANDS)}")
            return Request(int(obj["id"]), obj["cmd"], dict(obj.get("args") or {}))
        if kind == "response":
            if obj["status"] not in STATUSES:
                raise DialectError(f"unknown status {obj['status']!r}")
            return Response(int(obj["id"]), obj["cmd"], obj["status"], dict(obj.get("data") or {}))
        if kind == "event":
            return Event(str(obj["event"]), dict(obj.get("data") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, DialectError):
            raise
        raise DialectError(f"{NAME} {kind} frame is missing or mangles a key: {exc}") from exc
    raise DialectError(f"{NAME} frame has unknown type {kind!r}")
