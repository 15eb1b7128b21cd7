"""The simulated phone's control socket: how a client outside the rig's process tells the
phone which payment code to show (a C2B sale from a second shell, another language's client).

A Unix socket (mode 0600, only the rig's user may drive the phone), one JSON object per line
each way, as the host's control socket (docs/qr.md, "The phone's control socket", is the wire
format in full):

    {"cmd": "show", "code": "130000000000000021"}      the wallet's payment-code screen
    {"cmd": "blank"}                                    the screen off
    {"cmd": "present"}   {"cmd": "withdraw"}            held to the scanner by hand / taken away
    {"cmd": "status"}                                   what it shows (masked), where it is

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A request it cannot
take (not JSON, not an object, no or an unknown ``cmd``, an unknown field, a value of the
wrong JSON type) is answered with what was wrong and what to send; the connection serves on
(a line over 4 KiB is answered, then the connection closed). Each connection has its own
thread, so a client that connects and says nothing stalls no other. The code itself never
comes back: a live payment code is a bearer credential (masked as a card number).
:class:`PhoneControl` is the client, and is a :class:`~devices.phone.sim.Phone`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices import events
from devices.faults import RigDefect, StationFault
from devices.payments.qr import mask_code
from devices.phone.sim import PhoneError

if TYPE_CHECKING:
    from devices.phone.sim import SimulatedPhone

MAX_LINE = 4 * 1024  # a payment code is at most 350 characters: 4 KiB is plenty
IDLE_S = 300.0  # a silent connection is closed after this long: no thread is held for ever
PAGE = "docs/qr.md, \"The phone's control socket\""
EXAMPLE = '{"cmd": "show", "code": "130000000000000021"}'
#: each command's fields and their JSON types
COMMANDS: dict[str, dict[str, type]] = {
    "show": {"code": str}, "blank": {}, "present": {}, "withdraw": {}, "status": {},
}
_JSON_TYPES = {str: "a string", bool: "true or false", int: "a number", float: "a number",
               list: "an array", dict: "an object", type(None): "null"}


class PhoneControlError(StationFault):
    """The phone's control socket cannot be reached, or refused what it was asked."""


class _BadRequest(RigDefect, ValueError):
    """A request the phone cannot take: answered with what to send, never raised out of the
    server; its writer's bug (a rig defect), never the terminal's."""


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _request(line: bytes) -> dict[str, Any]:
    usage = f"send one JSON object per line, e.g. {EXAMPLE} (commands: {', '.join(COMMANDS)}; {PAGE})"
    try:
        msg = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest(f"not JSON: {usage}") from None
    if not isinstance(msg, dict):
        raise _BadRequest(f"the request is {_json_type(msg)}, not an object: {usage}")
    cmd = msg.get("cmd")
    if cmd is None:
        raise _BadRequest(f"no \"cmd\": {usage}")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        raise _BadRequest(f"unknown cmd {json.dumps(cmd)}: {usage}")
    fields = COMMANDS[cmd]
    unknown = sorted(set(msg) - set(fields) - {"cmd"})
    if unknown:
        takes = ", ".join(f'"{f}"' for f in fields) or "no other field"
        raise _BadRequest(f"{cmd}: unknown field {', '.join(json.dumps(u) for u in unknown)}; "
                          f"{cmd} takes {takes} ({PAGE})")
    for name, kind in fields.items():
        if name not in msg or msg[name] is None:
            raise _BadRequest(f"{cmd}: \"{name}\" missing: give it as {_JSON_TYPES[kind]}, e.g. {EXAMPLE}")
        if not isinstance(msg[name], kind):
            raise _BadRequest(f"{cmd}: \"{name}\" is {_json_type(msg[name])}, give {_JSON_TYPES[kind]}")
    return msg


def answer(phone: SimulatedPhone, line: bytes) -> dict[str, Any]:
    """The answer to one request line (what the socket sends back)."""
    try:
        msg = _request(line)
    except _BadRequest as exc:
        return {"ok": False, "error": str(exc)}
    cmd = msg["cmd"]
    try:
        if cmd == "show":
            phone.show_code(msg["code"])
        elif cmd == "blank":
            phone.blank()
        elif cmd == "present":
            phone.present()
        elif cmd == "withdraw":
            phone.withdraw()
    except PhoneError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # the phone's own fault: answered as such, the socket serves on
        events.log(phone.source, f"control {cmd} failed: {type(exc).__name__}: {exc}")
        return {"ok": False, "error": f"the simulated phone failed: {exc}"}
    return {"ok": True, **status(phone)}


def status(phone: SimulatedPhone) -> dict[str, Any]:
    code = phone.code
    return {"station": phone.model.station, "showing": code is not None,
            "code_masked": mask_code(code) if code else None, "at_scanner": phone.at_scanner,
            "place": phone.model.phone_place}


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.connection.settimeout(IDLE_S)
        with contextlib.suppress(OSError):
            while True:
                line = self.rfile.readline(MAX_LINE + 1)
                if not line:
                    return
                if len(line) > MAX_LINE and not line.endswith(b"\n"):
                    self._send({"ok": False, "error": f"a request line is at most {MAX_LINE} bytes; "
                                f"send one JSON object per line, e.g. {EXAMPLE}"})
                    return
                if not line.strip():
                    continue
                self._send(answer(self.server.phone, line))

    def _send(self, msg: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(msg, ensure_ascii=False).encode() + b"\n")
        self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, phone: SimulatedPhone):
        self.phone = phone
        super().__init__(str(path), _Handler)


class PhoneControlServer:
    """Serves ``phone`` on a Unix socket at ``path`` in its own thread until ``stop()``."""

    def __init__(self, phone: SimulatedPhone, path: Path):
        self.phone, self.path = phone, Path(path)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> PhoneControlServer:
        if _listening(self.path):
            raise PhoneControlError(f"phone control socket {self.path} is served by another process; "
                                    "stop it first, or give this phone another socket")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by a rig that died
        self._server = _Server(self.path, self.phone)
        os.chmod(self.path, 0o600)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"phone-control-{self.phone.model.station}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _listening(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class PhoneControl:
    """The client: a :class:`~devices.phone.sim.Phone` driven through its control socket."""

    def __init__(self, path: Path | str, timeout: float = 5.0):
        self.path, self.timeout = Path(path), timeout

    def _call(self, **msg: Any) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.path))
                sock.sendall(json.dumps(msg).encode() + b"\n")
                with sock.makefile("rb") as reader:
                    line = reader.readline(MAX_LINE * 4)
        except OSError as exc:
            raise PhoneControlError(f"phone control socket {self.path}: {exc}") from exc
        if not line:
            raise PhoneControlError(f"phone control socket {self.path} closed without answering")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise PhoneControlError(f"phone {self.path}: {reply.get('error')}")
        return reply

    def show_code(self, code: str) -> None:
        self._call(cmd="show", code=code)

    def blank(self) -> None:
        self._call(cmd="blank")

    def present(self) -> None:
        self._call(cmd="present")

    def withdraw(self) -> None:
        self._call(cmd="withdraw")

    def status(self) -> dict[str, Any]:
        return self._call(cmd="status")


__all__ = ["PhoneControl", "PhoneControlError", "PhoneControlServer", "answer"]
