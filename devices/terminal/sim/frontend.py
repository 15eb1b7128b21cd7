"""The simulated terminal's ECR port: a pty, a link discipline and a dialect.

The terminal's application sees requests (``Incoming``) and answers them (``Outcome``);
a frontend turns those into a dialect on the wire. Two exist: posrig-ecr/1 (JSON, with
events while a request runs) and Ingenico Concert E+ (fixed-length messages, no events,
and a terminal that logs in and signs in by itself).

The port can be unplugged and plugged back (``unplug``/``replug``), and the faults
``corrupt_lrc`` and ``port_vanishes_mid_frame`` act here, on the wire.
"""

from __future__ import annotations

import array
import fcntl
import termios
import threading
import time
from typing import Any

from devices import events
from devices.channels import PtyPort
from devices.terminal import concert, dialect
from devices.terminal.dialect import Event, Request, Response
from devices.terminal.link import EcrLink, LinkError, LinkTimeout, PortReader, encode_frame
from devices.terminal.sim.base import Incoming, Outcome
from devices.terminal.sim.faults import Faults


class EcrPty(PtyPort):
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
        self._plugged.set()

    @property
    def url(self) -> str:
        return self.pty.path

    def mute(self, muted: bool) -> None:
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
            events.log(self.log_source, f"could not deliver a frame: {exc}")

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

    def next_request(self, timeout: float) -> Incoming | None:
        raise NotImplementedError

    def reply(self, incoming: Incoming, outcome: Outcome) -> None:
        raise NotImplementedError

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

    def next_request(self, timeout: float) -> Incoming | None:
        payload = self.receive(timeout)
        if payload is None:
            return None
        try:
            message = dialect.decode(payload)
        except dialect.DialectError as exc:
            self.send_frame(dialect.encode(Response(0, "?", "error",
                                                    {"reason": "bad_frame", "message": str(exc)})))
            return None
        if not isinstance(message, Request):
            return None  # an ECR has nothing else to send a terminal
        return Incoming(message.cmd, message.args, message.id)

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

    def next_request(self, timeout: float) -> Incoming | None:
        payload = self.receive(timeout)
        if payload is None:
            return None
        try:
            request = concert.ConcertRequest.decode(payload)
        except concert.ConcertFormatError as exc:
            # Concert has no error answer: a terminal ignores what it cannot read
            events.log(self.log_source, f"ignored a message that is not Concert E+: {exc}")
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
