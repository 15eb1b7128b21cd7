"""A small local control channel for a host running in another process.

A Unix socket (mode 0600, so only the rig's user can script the host), one JSON object
per line each way:

    {"cmd": "next", "tid": "10000001", "kind": "sale", "times": 1, "behaviour": {"rc": "51"}}
    {"cmd": "always", "behaviour": {"delay_ms": 300}}
    {"cmd": "clear"}            {"cmd": "pending"}            {"cmd": "status"}
    {"cmd": "entries", "tid": "10000001", "kind": "sale"}

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. Journal entries
are already masked, so they may cross the socket. :class:`HostControl` is the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices.faults import StationFault
from devices.host.script import Behaviour, ScriptError

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


async def _serve(host: AcquirerHost, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            try:
                answer = {"ok": True, **_command(host, json.loads(line))}
            except (ValueError, TypeError, ScriptError, KeyError) as exc:
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
    except (ConnectionError, ValueError):  # ValueError: a line over MAX_LINE
        pass
    finally:
        writer.close()


def _command(host: AcquirerHost, msg: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(msg, dict):
        raise TypeError("a command is a JSON object")
    cmd = msg.get("cmd")
    if cmd in ("next", "always"):
        behaviour = Behaviour.from_dict(dict(msg.get("behaviour") or {}))
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
    if cmd == "wallet":  # the test wallet of QR payments (devices/host/qr.py)
        return wallet(host, msg)
    raise ValueError(f"unknown command {cmd!r}: next, always, clear, pending, status, entries, "
                     "wallet")


def wallet(host: AcquirerHost, msg: dict[str, Any]) -> dict[str, Any]:
    """The customer's wallet (QR payments): only a host whose terminals' payments live in
    this process (one worker) has it."""
    from devices.host.qr import wallet_command
    if host.core is None:
        raise ValueError("the test wallet needs a host of one worker (workers: 1): with "
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
        answer = json.loads(data or b"{}")
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
