"""The driver's end of the G-code line: send a block, wait for its answer, read status.

Every line either way is logged on the event stream and kept in the running action's
transcript (its evidence). Anything that means the robot cannot go on — no answer in
time, ``error:N``, an alarm, a controller that restarted under us — becomes a
``RobotError`` naming the station, the action and the last position we know.
"""

from __future__ import annotations

import re
import termios
import time

import serial

from devices import events
from devices.faults import StationFault
from devices.robot import gcode
from devices.robot.gcode import Position

#: What a serial port raises when it (or the lab host serving it) goes away: pyserial's
#: error, the OS's, and termios' own (not an OSError) from flushing a vanished tty.
PORT_ERRORS = (serial.SerialException, OSError, termios.error)


class RobotError(StationFault):
    """The robot could not do what it was asked. ``rehome`` says its position is now in doubt."""

    def __init__(self, station: str, action: str, position: Position | None, problem: str,
                 advice: str, *, rehome: bool = True):
        where = f"at {position}" if position is not None else "at an unknown position"
        super().__init__(f"{station}/robot: {action} failed {where}: {problem}. "
                         f"{advice[:1].upper()}{advice[1:]}.")
        self.station, self.action, self.position = station, action, position
        self.problem, self.advice, self.rehome = problem, advice, rehome


_SECRET_WORDS = re.compile(r"([XY])[-+\d.]+")


class GrblLink:
    def __init__(self, port: serial.SerialBase, *, url: str, station: str, timeout: float):
        self.port, self.url, self.station, self.timeout = port, url, station, timeout
        self.source = f"{station}/robot"
        self.action = "open"
        self.position: Position | None = None  # last reported by the controller
        self.transcript: list[str] = []
        self._buf = bytearray()

    # -- errors --------------------------------------------------------------------------------
    def error(self, problem: str, advice: str, *, rehome: bool = True) -> RobotError:
        return RobotError(self.station, self.action, self.position, problem, advice, rehome=rehome)

    def _refresh_position(self) -> None:
        """After a failure, ask where the machine stopped; the error is clearer with it."""
        try:
            self.port.write(gcode.STATUS_QUERY)
            deadline = time.monotonic() + min(self.timeout, 1.0)
            while (line := self._readline(deadline)) is not None:
                reply = gcode.parse_reply(line)
                self._note(line)
                if isinstance(reply, gcode.Status):
                    self._take_status(reply)
                    return
        except PORT_ERRORS:
            pass  # the port itself is gone; the position we had is the best we know

    # -- lines ----------------------------------------------------------------------------------
    def _note(self, text: str, *, outgoing: bool = False) -> None:
        entry = f"{'>' if outgoing else '<'} {text}"
        self.transcript.append(entry)
        events.log(self.source, entry)

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except PORT_ERRORS as exc:
            raise self.error(f"cannot write to {self.url}: {exc}",
                             "check the cable and the lab inventory's URL, then home()") from exc

    def _readline(self, deadline: float) -> str | None:
        while b"\n" not in self._buf:
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self.port.read(max(1, self.port.in_waiting))
            except PORT_ERRORS as exc:
                raise self.error(f"cannot read from {self.url}: {exc}", "check the cable and "
                                 "the lab inventory's URL, then home()") from exc
            self._buf += chunk
        raw, _, rest = self._buf.partition(b"\n")
        self._buf = bytearray(rest)
        return raw.decode("ascii", "replace").strip()

    def _take_status(self, status: gcode.Status) -> None:
        if status.position is not None:
            self.position = status.position

    def _unsolicited(self, reply: gcode.Reply) -> None:
        """Lines that end the action whatever we were waiting for."""
        if isinstance(reply, gcode.Alarm):
            self._refresh_position()
            raise self.error(f"the controller raised {reply}",
                             "free the mechanism if something jammed, then home() to reset it")
        if isinstance(reply, gcode.Banner):
            self.position = None
            raise self.error(f"the controller restarted ({reply.text!r}): it lost its home",
                             "check its power and USB link, then home()")
        if isinstance(reply, gcode.Status):
            self._take_status(reply)

    # -- what the driver calls ----------------------------------------------------------
    def handshake(self) -> None:
        """Soft-reset the controller and wait for its banner: this clears any half-sent line,
        and since the port drops what arrived before we opened it, we must speak first."""
        self._buf.clear()
        try:
            self.port.reset_input_buffer()
        except PORT_ERRORS as exc:
            raise self.error(f"cannot reach {self.url}: {exc}", "check the cable and the lab "
                             "inventory's URL, then home()") from exc
        self._note("^X (soft reset)", outgoing=True)
        self._write(gcode.SOFT_RESET)
        deadline = time.monotonic() + self.timeout
        while (line := self._readline(deadline)) is not None:
            self._note(line)
            if isinstance(gcode.parse_reply(line), gcode.Banner):
                return
        raise self.error(f"no start-up banner from {self.url} within {self.timeout:g} s after a "
                         f"soft reset", "check that the controller is powered, the URL and baud "
                         "rate are right (virtual lab: is the simulator running?)")

    def _waiting(self) -> int:
        try:
            return self.port.in_waiting
        except PORT_ERRORS as exc:
            raise self.error(f"cannot read from {self.url}: {exc}", "check the cable and "
                             "the lab inventory's URL, then home()") from exc

    def drain(self) -> None:
        """Read what the controller said unasked since the last command (an alarm, a restart)."""
        while self._waiting() or b"\n" in self._buf:
            line = self._readline(time.monotonic() + self.timeout)
            if line is None:
                return
            self._note(line)
            self._unsolicited(gcode.parse_reply(line))

    def send(self, line: str, *, motion_s: float = 0.0, secret: bool = False) -> None:
        """One block, answered ``ok``. ``motion_s``: how long queued moves may still run first
        (a synchronising block such as ``G4`` or a gripper code is answered only after them)."""
        self._note(_SECRET_WORDS.sub(r"\1***", line) if secret else line, outgoing=True)
        self._write(line.encode("ascii") + b"\n")
        wait = self.timeout + motion_s
        deadline = time.monotonic() + wait
        while (text := self._readline(deadline)) is not None:
            self._note(text)
            reply = gcode.parse_reply(text)
            if isinstance(reply, gcode.Ok):
                return
            if isinstance(reply, gcode.Error):
                self._refresh_position()
                raise self.error(f"the controller answered {reply} to {line!r}",
                                 "check the profile's robot section against the controller's "
                                 "G-code dialect, then home()")
            self._unsolicited(reply)
        self._refresh_position()
        raise self.error(f"no answer to {line!r} from {self.url} within {wait:.3g} s",
                         "check that the controller is powered and the link is up, then home()")

    def status(self) -> gcode.Status:
        self._note("?", outgoing=True)
        self._write(gcode.STATUS_QUERY)
        deadline = time.monotonic() + self.timeout
        while (text := self._readline(deadline)) is not None:
            self._note(text)
            reply = gcode.parse_reply(text)
            if isinstance(reply, gcode.Status):
                self._take_status(reply)
                return reply
            self._unsolicited(reply)
        raise self.error(f"no status report from {self.url} within {self.timeout:g} s",
                         "check that the controller is powered and the link is up, then home()")
