"""The host's logic, free of I/O: one frame in, one :class:`Outcome` out.

The asyncio server feeds frames and carries out what the outcome says (send, wait, drop,
close); everything that decides -- decoding, MAC and PIN checks, the ledger, the journal,
scripted behaviours -- happens here, synchronously, so it can be tested without sockets.

A flow handler raises :class:`Decline` to answer with a response code; whatever it has
put in the response so far (echoes, clock) goes out with it.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from devices import events
from devices.host.config import HostConfig
from devices.host.issuer import Issuer
from devices.host.journal import Journal
from devices.host.refusals import Refusals
from devices.host.script import Behaviour, Script
from devices.host.state import TerminalState, Txn, TxnKey
from devices.masking import mask_pan
from devices.payments import framing
from devices.payments import messages as m
from devices.payments.crypto import Key, mac_matches
from devices.payments.keys import WorkingKeys
from devices.payments.spec import MessageFormatError, decode_message, describe
from devices.text import escape_controls


class Decline(Exception):
    """Answer the current request with ``rc``; ``note`` goes to the journal."""

    def __init__(self, rc: str, note: str = "", *, proc_req: int | None = None):
        super().__init__(f"{rc}: {note}")
        self.rc = rc
        self.note = note
        self.proc_req = proc_req


@dataclass
class Outcome:
    """What the server does with one request."""

    wire: bytes | None  # response to send; None: send nothing
    close: bool = False  # close the connection after (or instead of) sending
    delay_s: float = 0.0  # wait before sending


class Stamps:
    """The clock as the protocol and the journal write it, formatted once a second: at
    thousands of messages a second, strftime was a visible share of each one."""

    __slots__ = ("_key", "at_prefix", "at_suffix", "hhmmss", "mmdd")

    def __init__(self) -> None:
        self._key: tuple[int, ...] = ()
        self.hhmmss = self.mmdd = self.at_prefix = self.at_suffix = ""

    def update(self, now: datetime) -> None:
        key = (now.second, now.minute, now.hour, now.day, now.month, now.year)
        if key != self._key:
            self._key = key
            self.hhmmss, self.mmdd = f"{now:%H%M%S}", f"{now:%m%d}"
            # "2026-03-04T05:06:07.", milliseconds go between, then any UTC offset.
            iso = now.replace(microsecond=0).isoformat(timespec="milliseconds")
            self.at_prefix, self.at_suffix = iso[:20], iso[23:]

    def at(self, now: datetime) -> str:
        """The journal's ``at``: ISO time to the millisecond."""
        return f"{self.at_prefix}{now.microsecond // 1000:03d}{self.at_suffix}"


@dataclass(slots=True)
class Ctx:
    """One request being handled: its fields, the response being built, the journal row."""

    frame: framing.Frame
    req: dict[str, str]
    resp: dict[str, str]
    kind: str
    now: datetime
    term: TerminalState | None = None
    mac: bool = False  # MAC the response (if the terminal has a MAK and rc is not A0)
    proc_req: int = m.PROC_NONE
    behaviour: Behaviour | None = None
    row: dict[str, object] = field(default_factory=dict)
    after: list[Callable[[int], None]] = field(default_factory=list)  # run with journal id

    def echo(self, *fields: str) -> None:
        for f in fields:
            if f in self.req:
                self.resp[f] = self.req[f]

    def need(self, *fields: str) -> None:
        missing = [f for f in fields if f not in self.req]
        if missing:
            raise Decline("30", f"{self.req['t']} lacks DE{', DE'.join(missing)}")


Handler = Callable[["HostCore", Ctx], None]
#: MTI -> (journal kind, handler); filled by devices.host.dispatch.install() (the server calls it).
HANDLERS: dict[str, tuple[str, Handler]] = {}
#: Request MTIs of the CUP family this host does not implement: answered 40, not 30.
UNSUPPORTED = frozenset({"0100", "0120", "0620"})


class ScriptSource(Protocol):
    def take(self, tid: str | None, mti: str, kind: str) -> Behaviour | None: ...


class HostCore:
    """One host's logic and state. In a host of several worker processes each worker has
    one, holding the sessions and ledger of the terminals it owns (devices.host.workers);
    ``issuer``, ``script``, ``sessions`` and ``worker`` are then what they share."""

    def __init__(self, config: HostConfig, journal: Journal, *, issuer: Issuer | None = None,
                 script: ScriptSource | None = None, worker: tuple[int, int] = (0, 1),
                 sessions: MutableSequence[int] | None = None):
        self.config = config
        self.journal = journal
        self.issuer = issuer or Issuer(config.cards)
        self.terminals = {tid: TerminalState(tid, keys, Key(keys.tmk))
                          for tid, keys in config.terminals.items()}
        self.ledger: dict[TxnKey, Txn] = {}
        self.uploads: dict[tuple[str, str], Any] = {}  # (TID, batch) -> upload in progress
        self.script: ScriptSource = script or Script()
        self._seq = itertools.count(1)
        self._rng = random.Random()
        self.stamps = Stamps()
        self._worker, self._workers = worker
        # One flag per terminal (sorted TIDs) for a control channel in another process.
        self._sessions = sessions
        self._session_ix = {tid: i for i, tid in enumerate(sorted(config.terminals))}
        #: Rejected connections journaled per sender, not per connection (refusals.py).
        self.refusals = Refusals(self._summarise_rejections)

    def set_keys(self, term: TerminalState, keys: WorkingKeys | None,
                 key_mode: str | None = None) -> None:
        """A sign-in gave ``term`` working keys, or a sign-off (None) took them."""
        term.working = keys
        if key_mode is not None:
            term.key_mode = key_mode
        if self._sessions is not None:
            self._sessions[self._session_ix[term.tid]] = keys is not None

    # -- numbers the host hands out ---------------------------------------------------------
    def next_rrn(self, now: datetime) -> str:
        """Time + sequence; workers interleave their sequences so no two share a number."""
        self.stamps.update(now)
        seq = next(self._seq) * self._workers + self._worker
        return f"{self.stamps.hhmmss}{seq % 1_000_000:06d}"

    def next_auth_code(self) -> str:
        return f"{self._rng.randrange(1_000_000):06d}"

    # -- entry point ------------------------------------------------------------------------
    def handle(self, frame: framing.Frame, req: dict[str, str] | None = None,
               source: str = "") -> Outcome:
        """Answer ``frame``; ``req`` is its decoded body when the caller has it already;
        ``source`` the sender's address (rejections are journaled per sender)."""
        now = self.config.clock()
        if req is None:
            try:
                req = decode_message(frame.body)
            except MessageFormatError as exc:
                return self._format_error(frame, exc, now, source)
        mti = req["t"]
        kind, handler = HANDLERS.get(mti, ("unknown", None))
        if handler is None:
            if mti[2:] not in ("00", "20", "40"):
                self._record_error(now, req, f"MTI {mti} is not a request; connection closed",
                                   source=source)
                return Outcome(None, close=True)
            rc = "40" if mti in UNSUPPORTED else "30"
            handler = _refuse(rc, f"MTI {mti} is not handled by this host")
        kind = _classify(mti, req, kind)
        behaviour = self.script.take(req.get("41"), mti, kind)
        if behaviour is not None and behaviour.clock_shift_s:
            # This exchange only, as if the host's clock were that far ahead (or behind):
            # answer, expiry check and journal row all see the shifted time.
            now += timedelta(seconds=behaviour.clock_shift_s)
        stamps = self.stamps
        stamps.update(now)
        ctx = Ctx(frame, req, {"t": m.response_mti(mti), "12": stamps.hhmmss,
                               "13": stamps.mmdd}, kind, now)
        ctx.term = self.terminals.get(req.get("41", ""))
        ctx.behaviour = behaviour
        if behaviour is not None:
            ctx.row["behaviour"] = behaviour.describe()
            if behaviour.rc not in (None, "00"):
                handler = _scripted(behaviour.rc)
            if behaviour.resign:
                ctx.proc_req = m.PROC_SIGNIN
        try:
            handler(self, ctx)
            rc = ctx.resp.setdefault("39", "00")
        except Decline as d:
            rc = ctx.resp["39"] = d.rc
            ctx.row["note"] = d.note
            if d.proc_req is not None:
                ctx.proc_req = d.proc_req
        if behaviour is not None and behaviour.amount is not None and "4" in ctx.resp:
            ctx.resp["4"] = m.fmt_amount(behaviour.amount)
            ctx.row["amount"] = behaviour.amount
        outcome = self._finish(ctx, rc)
        if behaviour is not None:
            outcome = _carry_out(behaviour, outcome, ctx)
        return outcome

    def _finish(self, ctx: Ctx, rc: str) -> Outcome:
        req, resp, term = ctx.req, ctx.resp, ctx.term
        mak = term.working.mak if term and term.working and ctx.mac and rc != "A0" else None
        mac_alg = term.config.mac_alg if term else "cup-ecb"
        header = framing.make_header(ctx.frame.header[3:6], proc_req=ctx.proc_req,
                                     app_class=ctx.frame.header[0])
        wire = m.pack(resp, tpdu=framing.swap_tpdu(ctx.frame.tpdu), header=header,
                      mak=mak, mac_alg=mac_alg)
        row = {"at": self.stamps.at(ctx.now), "tid": req.get("41"), "mid": req.get("42"),
               "mti": req["t"], "kind": ctx.kind, "stan": req.get("11"),
               "batch": req.get("60", "")[2:8] or None, "rc": rc, "response_mti": resp["t"]}
        row.update(ctx.row)
        if rc != "00" and ctx.kind in ("sale", "void", "refund"):
            row.setdefault("state", "declined")
        entry_id = self.journal.add(row)
        for hook in ctx.after:
            hook(entry_id)
        if self.config.log_exchanges and _anyone_listening():
            log(f"{describe(req)} -> {describe(resp)}"
                + (f" [proc {ctx.proc_req}]" if ctx.proc_req else ""))
        return Outcome(wire)

    # -- bad input --------------------------------------------------------------------------
    def _format_error(self, frame: framing.Frame, exc: MessageFormatError,
                      now: datetime, source: str = "") -> Outcome:
        """Answer 30 when the MTI says what the reply is; otherwise close the line."""
        mti = exc.mti
        partial = exc.partial
        if not mti or mti[2:] not in ("00", "20", "40"):
            self._record_error(now, partial, f"unreadable message: {exc}; connection closed",
                               source=source)
            return Outcome(None, close=True)
        resp = {"t": m.response_mti(mti), "39": "30"}
        resp.update({f: partial[f] for f in ("3", "4", "11", "41", "42") if f in partial})
        header = framing.make_header(frame.header[3:6], app_class=frame.header[0])
        tpdu = framing.swap_tpdu(frame.tpdu)
        try:
            wire = m.pack(resp, tpdu=tpdu, header=header)
        except MessageFormatError:
            resp = {"t": resp["t"], "39": "30"}
            wire = m.pack(resp, tpdu=tpdu, header=header)
        self._record_error(now, partial, str(exc), rc="30", kind="format_error")
        if self.config.log_exchanges:
            log(f"format error: {exc} -> {describe(resp)}")
        return Outcome(wire)

    def reject_frame(self, reason: str, source: str = "") -> None:
        """The server could not even frame the input: journal why it closed the line."""
        self._record_error(self.config.clock(), {}, reason, source=source)

    def _record_error(self, now: datetime, req: dict[str, str], note: str, *,
                      rc: str | None = None, kind: str = "rejected", source: str = "",
                      summary: bool = False) -> None:
        if kind == "rejected" and not summary:
            if not self.refusals.admit(source, note, time.monotonic()):
                return  # counted: one summary row for the rest of this second
            if source:
                note = f"{note} (from {source})"
        self.journal.record(
            at=now.isoformat(timespec="milliseconds"), tid=req.get("41"), mid=req.get("42"),
            mti=req.get("t"), kind=kind, stan=req.get("11"), rc=rc, note=note)
        if self.config.log_exchanges and kind == "rejected":
            log(f"rejected: {note}")

    def _summarise_rejections(self, note: str) -> None:
        self._record_error(self.config.clock(), {}, note, summary=True)

    # -- checks shared by flows -------------------------------------------------------------
    def require_terminal(self, ctx: Ctx) -> TerminalState:
        term = ctx.term
        if term is None:
            raise Decline("97", f"terminal {ctx.req.get('41', '?')!r} is not registered")
        if term.config.mid is not None and ctx.req.get("42") != term.config.mid:
            raise Decline("03", f"merchant {ctx.req.get('42')!r} is not this terminal's")
        return term

    def verify_mac(self, ctx: Ctx, term: TerminalState) -> None:
        """A0 for a wrong or missing MAC; without working keys the MAC cannot be checked,
        so the answer is A0 with the order to sign in again (processing requirement 3)."""
        if term.working is None:
            raise Decline("A0", "terminal not signed in: MAC cannot be verified",
                          proc_req=m.PROC_SIGNIN)
        body = ctx.frame.body
        if "64" not in ctx.req:
            raise Decline("A0", f"{ctx.req['t']} carries no MAC")
        if not mac_matches(term.config.mac_alg, term.working.mak, body[:-8], body[-8:]):
            raise Decline("A0", "MAC does not verify")
        ctx.mac = True


def log(text: str) -> None:
    """A host log line: whatever a client put in a field (DE63 text, a note quoting its
    bytes) cannot start a forged line or repaint the operator's screen."""
    events.log("host", escape_controls(text))


def _anyone_listening() -> bool:
    """Formatting a decoded exchange costs as much as a MAC: only do it for a subscriber."""
    return events.listening()


def _classify(mti: str, req: dict[str, str], kind: str) -> str:
    """The kind a script can match before the handler runs (0200 and 0820 hold several)."""
    if mti == "0200":
        return {m.PC_SALE: "sale", m.PC_VOID: "void"}.get(req.get("3", ""), "financial")
    if mti == "0220":
        refund = (req.get("3"), req.get("60", "")[:2]) == (m.PC_VOID, m.TYPE_REFUND)
        return "refund" if refund else "advice"
    if mti == "0820":
        nmi = req.get("60", "")[8:11]
        return {m.NMI_SIGNOFF: "signoff", m.NMI_ECHO: "echo"}.get(nmi, "management")
    return kind


def _scripted(rc: str) -> Handler:
    """Answer ``rc`` without processing; MAC'd requests still have their MAC checked, so
    the scripted answer carries a MAC as a real one would."""
    def handler(core: HostCore, ctx: Ctx) -> None:
        ctx.echo("2", "3", "4", "11", "25", "41", "42", "49", "60")
        term = core.require_terminal(ctx)
        if ctx.req["t"] in m.MAC_MTIS:
            core.verify_mac(ctx, term)
        amount = ctx.req.get("4", "")
        if amount.isdigit():
            ctx.row["amount"] = int(amount)
        if ctx.req.get("2", "").isdigit():
            ctx.row["pan_masked"] = mask_pan(ctx.req["2"])
        if "22" in ctx.req:
            ctx.row["entry_mode"] = m.ENTRY_NAMES.get(ctx.req["22"][:2])
        raise Decline(rc, "scripted response code")
    return handler


def _carry_out(behaviour: Behaviour, outcome: Outcome, ctx: Ctx) -> Outcome:
    wire = outcome.wire
    if wire is not None and behaviour.corrupt_mac and "64" in ctx.resp:
        wire = wire[:-1] + bytes([wire[-1] ^ 0x01])
    if behaviour.drop or behaviour.close:
        wire = None
    return Outcome(wire, close=behaviour.close, delay_s=behaviour.delay_ms / 1000)


def _refuse(rc: str, note: str) -> Handler:
    def handler(core: HostCore, ctx: Ctx) -> None:
        ctx.echo("3", "4", "11", "41", "42")
        raise Decline(rc, note)
    return handler
