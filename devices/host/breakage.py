"""The rig's own acquirer host, broken from outside: what a bench's host suffers, not a test's script.

A test's script (devices/host/script.py) is a stimulus: the host answers as the test asked,
and the journal says so beside the exchange (its ``behaviour`` column). The faults here are
the other kind: the host itself fails, as a host process that hangs, crashes on a message or
sends a spoiled answer would. Nothing is journaled as a script; an exchange the host did
handle and then spoiled leaves a row of kind :data:`HOST_FAULT` saying what went wrong on the
host's side (as a host's own error log would). The fault-injection matrix (bench/faults.py)
breaks the host this way, and the rig's rule for a terminal that blames the host
(harness/host_blame.py) must then file the test as a station fault.

    broken = break_host(host, "hang_up", tid="10000001")
    ...                       # every line from that terminal is closed unanswered
    broken.mend()

Modes:

- ``hang``: the host's event loop stops on the terminal's next message, as a host process
  stopped (SIGSTOP) or deadlocked: connections are still accepted by the kernel, nothing is
  read, handled, journaled or answered -- for any terminal -- until :meth:`Breakage.mend`
  (or :data:`HANG_LIMIT_S`). The message it stopped on is dropped with its line.
- ``hang_up``: every line the terminal sends a message on is closed before the message is
  handled (the host crashed on it): no answer, no row.
- ``bad_mac``: answers are handled and journaled as usual, then go out with a bit of their
  MAC flipped (the host's key store corrupted); a ``host_fault`` row says so.
- ``wrong_amount``: answers that carry an amount go out with ``amount_delta`` fen more,
  MAC'd as if right (the host's answer built wrongly); a ``host_fault`` row says so. What
  the host booked is what was asked.

Only a host serving in one process can be broken this way (the host's ``core``); a host of
several worker processes is broken by stopping its processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devices.faults import RigDefect
from devices.host.core import HostCore, Outcome
from devices.payments import framing
from devices.payments import messages as m
from devices.payments.spec import MessageFormatError, decode_message

if TYPE_CHECKING:
    from devices.host.server import AcquirerHost

#: The journal kind of a row in which the host says it spoiled an exchange.
HOST_FAULT = "host_fault"
MODES = ("hang", "hang_up", "bad_mac", "wrong_amount")
#: A hung host's loop goes on by itself after this long, so a bench that never mends it
#: (a crashed test) cannot keep the host's thread, and its ``stop()``, waiting for ever.
HANG_LIMIT_S = 120.0


class BreakageError(RigDefect, ValueError):
    """A breakage the rig cannot put on this host (an unknown mode, a host of workers)."""


@dataclass(eq=False)
class Breakage:
    """One fault put on a host's core; ``mend()`` takes it back (idempotent)."""

    core: HostCore
    mode: str
    tid: str | None
    amount_delta: int
    hit: int = 0  # messages the fault has met so far
    _thawed: threading.Event = field(default_factory=threading.Event)
    _before: Callable[..., Outcome] | None = None
    _had_own: bool = False

    def mend(self) -> None:
        self._thawed.set()  # a loop hung on a message goes on (and drops it)
        if "handle" in vars(self.core) and vars(self.core)["handle"] == self._handle:
            if self._had_own and self._before is not None:
                self.core.handle = self._before  # type: ignore[method-assign]
            else:
                del self.core.handle

    # -- the spoiled handler ----------------------------------------------------------------
    def _handle(self, frame: framing.Frame, req: dict[str, str] | None = None,
                source: str = "") -> Outcome:
        assert self._before is not None
        if req is None:
            try:
                req = decode_message(frame.body)
            except MessageFormatError:
                return self._before(frame, None, source)  # not a message of any terminal
        if self._thawed.is_set() or (self.tid is not None and req.get("41") != self.tid):
            return self._before(frame, req, source)
        self.hit += 1
        if self.mode == "hang":
            self._thawed.wait(HANG_LIMIT_S)  # the loop stops here, as a stopped process's
            return Outcome(None, close=True)
        if self.mode == "hang_up":
            return Outcome(None, close=True)
        outcome = self._before(frame, req, source)
        if outcome.wire is None:
            return outcome
        spoiled, what = self._spoil(outcome.wire)
        if what:
            self.core.journal.record(
                at=self.core.config.clock().isoformat(timespec="milliseconds"), tid=req.get("41"),
                mid=req.get("42"), mti=req.get("t"), kind=HOST_FAULT, stan=req.get("11"),
                note=f"{what} (the host's own fault, injected from outside; nothing was scripted)")
        return Outcome(spoiled, close=outcome.close, delay_s=outcome.delay_s)

    def _spoil(self, wire: bytes) -> tuple[bytes, str]:
        """The answer as the broken host sends it, and what was done to it ("": nothing)."""
        decoded = m.unpack(wire)
        doc = dict(decoded.doc)
        if self.mode == "bad_mac":
            if "64" not in doc:
                return wire, ""  # an answer without a MAC (A0, a refusal) has none to spoil
            return wire[:-1] + bytes([wire[-1] ^ 0x01]), f"answer {doc['t']} sent with a corrupted MAC"
        amount = doc.get("4", "")
        if not amount.isdigit():
            return wire, ""
        wrong = int(amount) + self.amount_delta
        doc["4"] = m.fmt_amount(wrong)
        term = self.core.terminals.get(doc.get("41", ""))
        mak = term.working.mak if term is not None and term.working is not None and "64" in doc else None
        mac_alg = term.config.mac_alg if term is not None else "cup-ecb"
        out = m.pack(doc, tpdu=decoded.frame.tpdu, header=decoded.frame.header, mak=mak, mac_alg=mac_alg)
        return out, f"answer {doc['t']} sent with amount {wrong} fen instead of {int(amount)}"


def break_host(host: AcquirerHost | HostCore, mode: str, *, tid: str | None = None,
               amount_delta: int = 100) -> Breakage:
    """Break ``host`` (its messages from terminal ``tid``, or from every terminal) in
    ``mode`` until the returned breakage is mended."""
    if mode not in MODES:
        raise BreakageError(f"unknown host breakage {mode!r}; known: {', '.join(MODES)}")
    core: Any = host if isinstance(host, HostCore) else host.core
    if core is None:
        raise BreakageError("this host serves from several worker processes: break it by "
                            "stopping its processes (SIGSTOP), not through its core")
    if amount_delta == 0:
        raise BreakageError("a wrong amount must differ from the right one: amount_delta 0")
    own = vars(core).get("handle")
    broken = Breakage(core, mode, tid, amount_delta, _before=own or core.handle,
                      _had_own=own is not None)
    core.handle = broken._handle
    return broken
