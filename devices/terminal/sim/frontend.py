"""The simulated terminal's ECR port: a pty, a link discipline and a dialect.

The terminal's application sees requests (``Incoming``) and answers them (``Outcome``);
a frontend turns those into a dialect on the wire. Two exist: posrig-ecr/1 (JSON, with
events while a request runs) and Ingenico Concert E+ (fixed-length messages, no events,
and a terminal that logs in and signs in by itself).

The port can be unplugged and plugged back (``unplug``/``replug``), and the faults
``corrupt_lrc`` and ``port_vanishes_mid_frame`` act here, on the wire.

The posrig-ecr/1 frontend is where a frame becomes a request, so it answers at once what
cannot be one (``Rejection``): a frame that is not the dialect (``bad_frame``), arguments that
are missing, unknown or of the wrong kind (``bad_arguments``), an id already used in this link
session (``duplicate_id``), a command this terminal does not have (``not_supported``). A *link
session* begins at power-on, when the ECR port is plugged in, and with a request of id 1 (a
client counting from the start, unless the request before also had id 1: that is a repeat);
within it ids must increase, so a request sent twice is never carried out twice.
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

from devices import events
from devices.channels import PtyPort
from devices.terminal import concert, dialect
from devices.terminal.dialect import Event, Request, Response
from devices.terminal.link import EcrLink, LinkError, LinkTimeout, PortReader, encode_frame
from devices.terminal.sim.base import Incoming, Outcome, Rejection
from devices.terminal.sim.faults import Faults
from devices.text import printable

WRITE_TIMEOUT_S = 2.0  # a driver that reads nothing for this long is a broken link, not a stall


class EcrPty(PtyPort):
    def write(self, data: bytes) -> int:
        """Write all of ``data``, but give up (OSError) when the driver has read nothing for
        ``WRITE_TIMEOUT_S``: a terminal is never held by an ECR that stopped reading."""
        with self._write_lock:
            view = memoryview(data)
            deadline = time.monotonic() + WRITE_TIMEOUT_S
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OSError(f"{self.path}: the ECR read nothing for {WRITE_TIMEOUT_S:g} s")
                _, ready, _ = select.select([], [self._master], [], remaining)
                if ready:
                    flags = fcntl.fcntl(self._master, fcntl.F_GETFL)
                    fcntl.fcntl(self._master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
                    try:
                        view = view[os.write(self._master, view):]
                        deadline = time.monotonic() + WRITE_TIMEOUT_S  # it reads: wait on
                    except BlockingIOError:
                        pass
                    finally:
                        fcntl.fcntl(self._master, fcntl.F_SETFL, flags)
        return len(data)

    def pending_to_peer(self) -> int:
        """Bytes we wrote that the driver has not read yet (the slave's input queue)."""
        buf = array.array("i", [0])
        try:
            fcntl.ioctl(self._slave, termios.FIONREAD, buf, True)
        except OSError:
            return 0
        return buf[0]


class Frontend:
    """What the terminal core needs of its ECR port, whatever the dialect."""

    name = "?"
    self_managed = False  # True: the terminal logs in and signs in by itself

    def __init__(self, station: str, faults: Faults, log_source: str):
        self.station, self.faults, self.log_source = station, faults, log_source
        # where the terminal's own problems with its port are told: its debug console
        self.console: Callable[[str], None] = lambda text: None
        self._muted = True
        self._plugged = threading.Event()
        self.pty: EcrPty
        self.link: PortReader
        self._open()

    def _make_link(self, pty: EcrPty) -> PortReader:
        raise NotImplementedError

    def _open(self) -> None:
        self.pty = EcrPty()
        self.link = self._make_link(self.pty)
        self.link.mute(self._muted)
        self.new_session()
        self._plugged.set()

    def new_session(self) -> None:
        """Power-on or a cable plugged in: a new link session (the posrig frontend's ids)."""

    @property
    def url(self) -> str:
        return self.pty.path

    def mute(self, muted: bool) -> None:
        if self._muted and not muted:
            self.new_session()
        self._muted = muted
        self.link.mute(muted)

    def unplug(self) -> None:
        """The cable is pulled: the driver's port vanishes."""
        self._plugged.clear()
        self.link.close()
        self.pty.close()
        events.log(self.log_source, f"ECR port {self.pty.path} unplugged")

    def replug(self) -> str:
        """The cable is back: a new port (its path may differ, as a re-enumerated USB port's
        does); returns the URL to reopen."""
        if not self._plugged.is_set():
            self._open()
            events.log(self.log_source, f"ECR port plugged in at {self.pty.path}")
        return self.url

    def receive(self, timeout: float) -> bytes | None:
        if not self._plugged.wait(timeout):
            return None
        fault = self.link.take_fault()
        if fault is not None:
            self.console(f"ECR port fault: {fault}")
        try:
            return self.link.receive(timeout)
        except LinkTimeout:
            return None
        except LinkError:
            # the port died under us (unplugged): wait for replug()
            if self._plugged.is_set() and not self.link.alive:
                self._plugged.clear()
            return None

    def send_frame(self, payload: bytes) -> None:
        """Send with the wire faults applied; a frame that cannot be delivered is logged."""
        if not self._plugged.is_set():
            events.log(self.log_source, "not sent, the ECR port is unplugged")
            return
        if self.faults.fire("port_vanishes_mid_frame"):
            self._vanish_mid_frame(payload)
            return
        try:
            self._send(payload, corrupt_lrc=self.faults.fire("corrupt_lrc"))
        except LinkError as exc:
            # the link broken: the frame is dropped, the debug console says so
            self.console(f"ECR LINK BROKEN, frame not delivered: {exc}")
            events.log(self.log_source, printable(f"could not deliver a frame: {exc}", 2_000))

    def _send(self, payload: bytes, *, corrupt_lrc: bool) -> None:
        raise NotImplementedError

    def _vanish_mid_frame(self, payload: bytes) -> None:
        frame = encode_frame(payload)
        self.pty.write(frame[: len(frame) // 2])
        # let the driver read the half frame before the port goes: a hangup discards what
        # is still queued, and the point is a port lost *mid-frame*
        deadline = time.monotonic() + 2.0
        while self.pty.pending_to_peer() and time.monotonic() < deadline:
            threading.Event().wait(0.005)
        events.log(self.log_source, f"fault: port vanishes after {len(frame) // 2} of "
                                    f"{len(frame)} bytes")
        self.unplug()

    def next_request(self, timeout: float) -> Incoming | Rejection | None:
        raise NotImplementedError

    def reply(self, incoming: Incoming, outcome: Outcome) -> None:
        raise NotImplementedError

    def reject(self, rejection: Rejection) -> None:
        """Answer a frame that could not be taken as a request."""

    def event(self, event: Event) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._plugged.clear()
        self.link.close()
        self.pty.close()


class PosrigFrontend(Frontend):
    name = dialect.NAME

    def _make_link(self, pty: EcrPty) -> PortReader:
        return EcrLink(pty, name=f"{self.station} simulated terminal {pty.path}",
                       log_source=self.log_source, describe=dialect.describe)

    def _send(self, payload: bytes, *, corrupt_lrc: bool) -> None:
        assert isinstance(self.link, EcrLink)
        self.link.send(payload, corrupt_lrc=corrupt_lrc)

    def new_session(self) -> None:
        self._last_id: int | None = None

    def next_request(self, timeout: float) -> Incoming | Rejection | None:
        payload = self.receive(timeout)
        if payload is None:
            return None
        try:
            message = dialect.decode(payload)
        except dialect.DialectError as exc:
            return Rejection("error", exc.reason, str(exc), exc.cmd or "?", exc.id or 0)
        if not isinstance(message, Request):
            kind = "a response" if isinstance(message, Response) else "an event"
            return Rejection("error", "bad_frame", f"a terminal takes requests only; this frame is {kind}")
        rid, cmd = message.id, message.cmd
        if self._last_id is not None and rid <= self._last_id and (rid != 1 or self._last_id == 1):
            return Rejection("error", "duplicate_id",
                             f"request id {rid} was used already in this link session (the last "
                             f"request had id {self._last_id}); ids must increase within a session, "
                             "and a client that starts again begins at 1", cmd, rid)
        self._last_id = rid
        if cmd not in dialect.COMMANDS:
            return Rejection("refused", "not_supported",
                             f"this terminal has no command {printable(repr(cmd))}; "
                             f"{dialect.NAME} commands are {', '.join(dialect.COMMANDS)}", cmd, rid)
        try:
            args = dialect.check_args(cmd, message.args, id=rid)
        except dialect.ArgumentError as exc:
            return Rejection("error", "bad_arguments", str(exc), cmd, rid)
        return Incoming(cmd, args, rid)

    def reject(self, rejection: Rejection) -> None:
        self.send_frame(dialect.encode(Response(
            rejection.ref, rejection.cmd, rejection.status,
            {"reason": rejection.reason, "message": rejection.message[:dialect.MAX_STRING]})))

    def reply(self, incoming: Incoming, outcome: Outcome) -> None:
        self.send_frame(dialect.encode(Response(incoming.ref, incoming.cmd, outcome.status,
                                                outcome.data)))

    def event(self, event: Event) -> None:
        self.send_frame(dialect.encode(event))


#: Concert transaction -> the terminal's command.
_CONCERT_COMMANDS = {"debit": "sale", "credit": "refund", "cancellation": "void"}


class ConcertFrontend(Frontend):
    """Concert E+: requests are debit/credit/cancellation, the answer carries the result
    and the report; there are no unsolicited events (the screen shows on the console)."""

    name = concert.NAME
    self_managed = True

    def _make_link(self, pty: EcrPty) -> PortReader:
        return concert.ConcertLink(pty, name=f"{self.station} simulated terminal {pty.path}",
                                   log_source=self.log_source)

    def _send(self, payload: bytes, *, corrupt_lrc: bool) -> None:
        assert isinstance(self.link, concert.ConcertLink)
        self.link.send(payload)  # the LRC fault is a posrig-ecr/1 test aid only

    def next_request(self, timeout: float) -> Incoming | Rejection | None:
        payload = self.receive(timeout)
        if payload is None:
            return None
        try:
            request = concert.ConcertRequest.decode(payload)
        except concert.ConcertFormatError as exc:
            # Concert has no error answer: a terminal ignores what it cannot read
            events.log(self.log_source, printable(f"ignored a message that is not Concert E+: {exc}", 2_000))
            return None
        args: dict[str, Any] = {"amount": request.amount}
        if request.transaction == "cancellation" and request.private.strip():
            args["private"] = request.private
        return Incoming(_CONCERT_COMMANDS[request.transaction], args, request)

    def reply(self, incoming: Incoming, outcome: Outcome) -> None:
        request: concert.ConcertRequest = incoming.ref
        d = outcome.data
        if outcome.status in ("approved", "ok"):
            result = concert.RESULT_SUCCESS
        elif outcome.status in ("declined", "refused", "cancelled"):
            result = concert.RESULT_REFUSED
        else:
            result = concert.RESULT_NOT_DONE
        trace, batch = d.get("trace"), d.get("batch")
        report = concert.Report(card=d.get("card") or "", entry=d.get("entry") or "",
                                rc=d.get("rc") or "", auth_code=d.get("auth_code") or "",
                                rrn=d.get("rrn") or "", trace=trace, batch=batch)
        private = f"{batch % 10000:04d}{trace:06d}" if trace and batch else " " * 10
        answer = concert.ConcertAnswer(
            result=result, amount=int(d.get("amount", request.amount)),
            pos_number=request.pos_number, payment_mode=request.payment_mode,
            report=report if request.full_answer else None, currency=request.currency,
            private=private)
        self.send_frame(answer.encode())

    def event(self, event: Event) -> None:
        pass  # Concert carries no events; the terminal's screen goes to its debug console


def make_frontend(name: str, station: str, faults: Faults, log_source: str) -> Frontend:
    kinds: dict[str, type[Frontend]] = {dialect.NAME: PosrigFrontend, concert.NAME: ConcertFrontend}
    return kinds[name](station, faults, log_source)
