"""A small local control channel for a host running in another process.

A Unix socket (mode 0600, so only the rig's user can script the host), one JSON object
per line each way (docs/host.md, "Control socket", is the wire format in full):

    {"cmd": "next", "tid": "10000001", "kind": "sale", "times": 1, "behaviour": {"rc": "51"}}
    {"cmd": "always", "behaviour": {"delay_ms": 300}}
    {"cmd": "clear"}            {"cmd": "pending"}            {"cmd": "status"}
    {"cmd": "entries", "tid": "10000001", "kind": "sale"}
    {"cmd": "wallet", "op": "pay", "order": "PR..."}

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A request the host
cannot take (not JSON, no or an unknown ``cmd``, an unknown field, a value of the wrong
JSON type) is answered with what was wrong and what to send, in JSON's words, never a
Python exception's; the connection stays usable (but for a line over 64 KiB, answered, then
closed). Journal entries are already masked, so they may cross the socket.
:class:`HostControl` is the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices import events
from devices.faults import RigDefect, StationFault
from devices.host.qr_book import WalletError
from devices.host.script import Behaviour, ScriptError
from devices.text import printable

if TYPE_CHECKING:
    from devices.host.server import AcquirerHost

MAX_LINE = 64 * 1024


class ControlError(StationFault):
    pass


async def start_control(host: AcquirerHost, path: Path) -> asyncio.AbstractServer:
    holder = _listening(path)
    if holder is not None:
        raise ControlError(f"control socket {path} is served by another host (pid {holder}); "
                           "stop it first, or give this host another control socket")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket left by a host that died
    server = await asyncio.start_unix_server(
        lambda r, w: _serve(host, r, w), path=str(path), limit=MAX_LINE)
    os.chmod(path, 0o600)
    return server


def _listening(path: Path) -> int | str | None:
    """The PID of the process serving the socket at ``path`` (``"?"`` when the kernel does
    not say), or None when nothing answers there."""
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return None  # a socket file left by a host that died
        try:
            cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            return int(struct.unpack("3i", cred)[0])
        except (OSError, AttributeError):
            return "?"


#: JSON's names of the types a request can carry, for messages a client writer understands.
_JSON_TYPE = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              dict: "an object", list: "an array", type(None): "null"}


class BadRequest(RigDefect, ValueError):
    """A control request the host cannot take; the message says what was wrong and what to
    send. Answered, never raised out of the server; like ScriptError, a request the host
    cannot take is its writer's bug (a rig defect), never the terminal's."""


@dataclass(frozen=True)
class Arg:
    """One field of a request: the JSON types it takes, and how the page calls it."""

    types: tuple[type, ...]
    what: str
    required: bool = False


_TID = Arg((str, type(None)), "a terminal ID (string, DE41) or null for every terminal")
_MTI = Arg((str, type(None)), "a message type (string, e.g. \"0200\") or null for any")
_KIND = Arg((str, type(None)), "a message kind (string: signin, sale, void, refund, reversal, "
                               "settlement, batch_upload, signoff, echo, advice, …) or null for any")
_BEHAVIOUR = Arg((dict, type(None)), "an object of behaviours, e.g. {\"rc\": \"51\"}")

#: Every command and the fields it takes besides ``cmd`` (docs/host.md lists the same).
COMMANDS: dict[str, dict[str, Arg]] = {
    "next": {"tid": _TID, "mti": _MTI, "kind": _KIND,
             "times": Arg((int,), "an integer, 1 or more (default 1)"), "behaviour": _BEHAVIOUR},
    "always": {"tid": _TID, "mti": _MTI, "kind": _KIND, "behaviour": _BEHAVIOUR},
    "clear": {"tid": _TID},
    "pending": {},
    "status": {},
    "entries": {"tid": _TID, "kind": Arg((str, type(None)), "a journal row kind (string) or null for all")},
    "wallet": {"op": Arg((str,), "one of code, order, pay, cancel, clear, orders", required=True)},
}

_OUTCOME = "a wallet outcome (string: approve, expired, decline:<rc>, pending:<s>:approve, …)"
#: The wallet's operations and their fields besides ``cmd`` and ``op`` (docs/qr.md).
WALLET_OPS: dict[str, dict[str, Arg]] = {
    "code": {"code": Arg((str,), "the payment code (string of 1-350 digits)", required=True),
             "outcome": Arg((str,), _OUTCOME, required=True)},
    "order": {"outcome": Arg((str,), _OUTCOME, required=True),
              "amount": Arg((int, type(None)), "an amount in fen (integer) or null for the next order")},
    "pay": {"order": Arg((str,), "the order number (string) the terminal's answer gave", required=True),
            "outcome": Arg((str,), "approve or decline:<rc> (string; default approve)"),
            "after_s": Arg((int, float), "seconds, 0 to 600 (number; default 0)")},
    "cancel": {"order": Arg((str,), "the order number (string)", required=True)},
    "clear": {},
    "orders": {"tid": _TID},
}

_USAGE = ("send one JSON object per line, with \"cmd\" one of: " + ", ".join(COMMANDS)
          + " (e.g. {\"cmd\": \"next\", \"kind\": \"sale\", \"behaviour\": {\"rc\": \"51\"}}); "
          "docs/host.md, Control socket, gives each command's fields and answer")


def _json_type(value: object) -> str:
    return _JSON_TYPE.get(type(value), "a value JSON does not have")


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_fields(msg: dict[str, Any], spec: dict[str, Arg], where: str, skip: tuple[str, ...],
                  hint: str = "") -> None:
    """Unknown fields, missing ones, and values of the wrong JSON type, said in JSON's words."""
    takes = ", ".join(spec) or "no other field"
    for name in msg:
        if name in skip:
            continue
        if name not in spec:
            raise BadRequest(f"{where}: unknown field {_shown(name)}; {where} takes {takes}{hint}")
    for name, arg in spec.items():
        if name not in msg:
            if arg.required:
                raise BadRequest(f"{where}: field {_shown(name)} is missing (or null): {arg.what}")
            continue
        value = msg[name]
        is_bool = isinstance(value, bool)
        if (is_bool and bool not in arg.types) or not isinstance(value, arg.types):
            raise BadRequest(f"{where}: field {_shown(name)} must be {arg.what}; got "
                             f"{_json_type(value)}, {_shown(value)}")


_BEHAVIOUR_TYPES = {"str | None": (str, type(None)), "int | None": (int, type(None)), "int": (int,),
                    "bool": (bool,)}


def _behaviour(cmd: str, given: dict[str, Any] | None) -> Behaviour:
    """The ``behaviour`` object, its names and JSON types checked before its values."""
    given = given or {}
    known = {f.name: f for f in dataclasses.fields(Behaviour)}
    for name, value in given.items():
        field = known.get(name)
        if field is None:
            raise BadRequest(f"{cmd}: unknown behaviour {_shown(name)}; behaviours: {', '.join(known)} "
                             "(docs/host.md, Scripted behaviour)")
        types = _BEHAVIOUR_TYPES.get(str(field.type))
        if types is None:
            continue  # a type this table does not know yet: the Behaviour's own checks decide
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            wanted = " or ".join(_JSON_TYPE[t] for t in types)
            raise BadRequest(f"{cmd}: behaviour {_shown(name)} must be {wanted}; got "
                             f"{_json_type(value)}, {_shown(value)}")
    return Behaviour.from_dict(given)  # the values' own checks (ScriptError says what is wrong)


def _request(line: bytes) -> dict[str, Any]:
    """A line as a request object with a known ``cmd`` and well-typed fields, or BadRequest."""
    try:
        msg = json.loads(line)
    except UnicodeDecodeError:
        raise BadRequest(f"the line is not UTF-8 text; {_USAGE}") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the line is not JSON ({exc.msg} at column {exc.colno}); {_USAGE}") from None
    if not isinstance(msg, dict):
        raise BadRequest(f"a request is a JSON object, got {_json_type(msg)}; {_USAGE}")
    if "cmd" not in msg:
        raise BadRequest(f"the request has no \"cmd\"; {_USAGE}")
    cmd = msg["cmd"]
    if not isinstance(cmd, str):
        raise BadRequest(f"\"cmd\" must be a string, got {_json_type(cmd)}; {_USAGE}")
    spec = COMMANDS.get(cmd)
    if spec is None:
        raise BadRequest(f"unknown command {_shown(cmd)}; {_USAGE}")
    msg = {name: value for name, value in msg.items() if value is not None}  # null: left out
    hint = ""
    if cmd in ("next", "always"):
        behaviours = {f.name for f in dataclasses.fields(Behaviour)}
        hint = " (behaviours such as rc go inside \"behaviour\": {\"rc\": \"51\"})" \
            if behaviours & set(msg) else ""
        if cmd == "always" and "times" in msg:
            hint = " (always lasts until clear; for a number of messages use next with times)"
    if cmd == "wallet":  # the op first; the op's own fields below
        _check_fields({"op": msg.get("op")} if "op" in msg else {}, spec, cmd, ())
    else:
        _check_fields(msg, spec, cmd, ("cmd",), hint)
    if cmd == "next" and msg.get("times", 1) < 1:
        raise BadRequest(f"next: field \"times\" must be {COMMANDS['next']['times'].what}; "
                         f"got {msg['times']}")
    if cmd == "wallet":
        ops = WALLET_OPS.get(msg["op"])
        if ops is None:
            raise BadRequest(f"wallet: unknown op {_shown(msg['op'])}; ops: {', '.join(WALLET_OPS)} "
                             "(docs/qr.md, The test wallet)")
        _check_fields(msg, ops, f"wallet {msg['op']}", ("cmd", "op"))
    return msg


def answer(host: AcquirerHost, line: bytes) -> dict[str, Any]:
    """The answer to one request line: ``{"ok": true, ...}`` or ``{"ok": false, "error"}``."""
    try:
        return {"ok": True, **_command(host, _request(line))}
    except (BadRequest, ScriptError, WalletError) as exc:  # each says what was wrong
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # a host bug: the client is told, the host keeps serving
        events.log("host", printable(f"control request failed inside the host: "
                                     f"{type(exc).__name__}: {exc}", 500))
        return {"ok": False, "error": "the host failed on this request (its own fault, not the "
                                      "request's); the host's log says where"}


async def _serve(host: AcquirerHost, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # a line over MAX_LINE: its end cannot be found again
                over = {"ok": False, "error": f"a request line longer than {MAX_LINE} bytes; one JSON "
                                              "object per line, ended by a newline (connection closed)"}
                writer.write(json.dumps(over).encode() + b"\n")
                await writer.drain()
                break
            if not line:
                break
            if not line.strip():
                continue  # an empty line is no request
            writer.write(json.dumps(answer(host, line)).encode() + b"\n")
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):  # the client left, or the host stops
        pass
    finally:
        writer.close()


def _command(host: AcquirerHost, msg: dict[str, Any]) -> dict[str, Any]:
    cmd = msg["cmd"]
    if cmd in ("next", "always"):
        behaviour = _behaviour(cmd, msg.get("behaviour"))
        times = None if cmd == "always" else int(msg.get("times", 1))
        host.script.next(behaviour, tid=msg.get("tid"), mti=msg.get("mti"),
                         kind=msg.get("kind"), times=times)
        return {}
    if cmd == "clear":
        host.script.clear(msg.get("tid"))
        return {}
    if cmd == "pending":
        return {"rules": [rule.to_dict() for rule in host.script.pending()]}
    if cmd == "status":
        return {"port": host.port, "signed_in": host.signed_in()}
    if cmd == "entries":
        rows = host.journal.entries(tid=msg.get("tid"), kind=msg.get("kind"))
        return {"entries": [dataclasses.asdict(row) for row in rows]}
    assert cmd == "wallet", cmd  # _request let only COMMANDS through
    return wallet(host, msg)


def wallet(host: AcquirerHost, msg: dict[str, Any]) -> dict[str, Any]:
    """The customer's wallet (QR payments): only a host whose terminals' payments live in
    this process (one worker) has it."""
    from devices.host.qr import wallet_command
    if host.core is None:
        raise BadRequest("the test wallet needs a host of one worker (workers: 1): with "
                         "several, each worker keeps its own terminals' QR payments")
    return wallet_command(host.core, msg)


class HostControl:
    """Client of a host's control socket (``HostConfig.control_path``)."""

    def __init__(self, path: Path | str, timeout: float = 5.0):
        self.path, self.timeout = str(path), timeout

    def _call(self, **msg: Any) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(json.dumps(msg).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise ControlError(f"host control socket {self.path}: {exc}. Is the host running "
                               f"with control_path set to it?") from None
        if not data:
            raise ControlError(f"host control socket {self.path} closed without answering "
                               f"{msg.get('cmd')}; the host's log may say why")
        answer = json.loads(data)
        if not answer.get("ok"):
            raise ControlError(f"host refused {msg.get('cmd')}: {answer.get('error')}")
        return answer

    def next(self, *, tid: str | None = None, mti: str | None = None, kind: str | None = None,
             times: int = 1, **behaviour: Any) -> None:
        self._call(cmd="next", tid=tid, mti=mti, kind=kind, times=times, behaviour=behaviour)

    def always(self, *, tid: str | None = None, mti: str | None = None,
               kind: str | None = None, **behaviour: Any) -> None:
        self._call(cmd="always", tid=tid, mti=mti, kind=kind, behaviour=behaviour)

    def clear(self, tid: str | None = None) -> None:
        self._call(cmd="clear", tid=tid)

    def pending(self) -> list[dict[str, Any]]:
        return list(self._call(cmd="pending")["rules"])

    def status(self) -> dict[str, Any]:
        return self._call(cmd="status")

    def entries(self, tid: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return list(self._call(cmd="entries", tid=tid, kind=kind)["entries"])

    def wallet(self, op: str, **args: Any) -> dict[str, Any]:
        """The test wallet of QR payments: ``wallet("pay", order=Q1)``, ``wallet("code",
        code=..., outcome="pending:5:approve")``, ... (devices/host/qr.py ``wallet_command``)."""
        return self._call(cmd="wallet", op=op, **args)
