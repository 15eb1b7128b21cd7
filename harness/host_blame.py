"""When the terminal blames the host, the rig asks its own host: one rule, for every flow.

The acquirer host is part of the bench (the rig plays it), so a terminal that says the
host failed -- no answer, a line that dropped, an answer it must not accept, a bad MAC, a
refusal -- is either right, and the *bench* failed (a station fault), or wrong, and the
*terminal* failed (a terminal defect). The host's journal (devices/host/journal.py, read
through the station's HostLink) is the witness. Every flow that goes online (sale, void,
refund, sign-in, settlement, and the reversal a terminal sends before them) marks the
journal before it starts and, once the terminal has answered, calls :func:`check`:

=============================================================  ==============================
the host's journal for this terminal since the flow began       verdict
=============================================================  ==============================
an exchange changed by a test's script (``behaviour``)          the test's stimulus: the
                                                                flow returns the outcome
a ``host_fault`` row: the host says it spoiled an answer        station fault (``HostFailed``)
no row of the request the claim is about (the host never        station fault (``HostFailed``)
received it, or was down or hung)
the request answered normally, and the terminal says no         terminal defect
answer / a bad answer / another response code                   (``HostClaimFalse``)
the request refused with the code the terminal reports          the flow returns the outcome
=============================================================  ==============================

A terminal that says the host is unreachable is also checked from the rig: a host the rig
cannot reach either is a station fault at once. A journal the rig cannot read (a lab whose
host is not the rig's) leaves the terminal's word standing, as before this rule.

In a flow of several messages (a settlement: the 0500, the batch upload, always its end
message) a claim of no answer is about the terminal's last message: if the last message the
host journaled is one the terminal had to follow with another (a settlement's 0500), the
unanswered one is that next message, which the host never journaled -- the host's fault; if
it ended the exchange (the upload's end), the host answered the last message normally.

Limits: the journal says what the host received, not what the terminal sent, so a terminal
that never sent its request and blames the host is filed as a station fault too (the bench
is then checked, and the host's log shows no connection). An unscripted host slower than the
terminal's host timeout journals a normal answer, so the terminal's "no answer" is filed as
its defect (the journal does not say when the answer left).
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devices import events
from devices.faults import TerminalDefect
from devices.host.breakage import HOST_FAULT
from devices.host.journal import JournalEntry, JournalError
from harness.station import Station
from harness.strategy import StationBroken

#: The terminal says the host did not answer (docs/posrig-ecr-1.md, Reasons).
NO_ANSWER = frozenset({"no_host_response", "host_unreachable", "reversal_pending"})
#: It says the host answered what it must not accept.
BAD_ANSWER = frozenset({"bad_host_response", "mac_error"})
#: It says the host refused, with a response code.
REFUSED = frozenset({"signin_declined", "settlement_error", "upload_refused"})
#: The journal kinds a flow's requests are journaled under.
FLOW_KINDS: dict[str, tuple[str, ...]] = {
    "sale": ("sale",), "void": ("void",), "refund": ("refund",), "signin": ("signin",),
    "settle": ("settlement", "batch_upload"),
}
#: A claim about another message than the flow's own request.
CLAIM_KINDS: dict[str, tuple[str, ...]] = {
    "reversal_pending": ("reversal",), "signin_declined": ("signin",),
    "upload_refused": ("batch_upload",), "settlement_error": ("settlement",),
}

SCRIPT, HOST, TERMINAL, AGREED = "script", "host", "terminal", "agreed"


class HostFailed(StationBroken):
    """The rig's own acquirer host failed the terminal (never got the request, was down or
    hung, or spoiled its answer): the bench's fault, not the terminal's."""


class HostClaimFalse(TerminalDefect):
    """The terminal blames the host for an exchange the host's journal shows answered
    normally: the terminal's claim is wrong."""


@dataclass(frozen=True)
class Claim:
    """What the terminal said against the host, in a flow's answer."""

    flow: str
    status: str
    reason: str | None
    rc: str | None

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.reason in CLAIM_KINDS:
            return CLAIM_KINDS[self.reason]
        return FLOW_KINDS.get(self.flow, (self.flow,))

    @property
    def refusal(self) -> bool:
        """A refusal with a response code, rather than no answer or a bad one."""
        return self.reason not in NO_ANSWER | BAD_ANSWER

    def __str__(self) -> str:
        said = self.reason or self.status
        return f"{said} (rc {self.rc})" if self.rc and self.refusal else said


def claim_of(flow: str, status: str, data: Mapping[str, Any]) -> Claim | None:
    """The terminal's claim against the host in an answer, or None when it makes none (an
    approval, a local refusal, a cancellation, an interrupted flow)."""
    reason = data.get("reason")
    rc = data.get("rc")
    if reason in NO_ANSWER | BAD_ANSWER | REFUSED or status == "declined":
        return Claim(flow, status, reason if isinstance(reason, str) else None,
                     str(rc) if rc is not None else None)
    return None


@dataclass(frozen=True)
class Finding:
    whose: str  # SCRIPT, HOST, TERMINAL or AGREED
    why: str
    row: JournalEntry | None = None


def judge(claim: Claim, rows: Iterable[JournalEntry]) -> Finding:
    """The rule, on the journal's rows for the terminal since the flow began (oldest first)."""
    rows = list(rows)
    scripted = [row for row in rows if row.behaviour]
    if scripted:
        row = scripted[-1]
        return Finding(SCRIPT, f"the test scripted the host ({row.behaviour}) for its {row.kind} "
                               f"stan {row.stan}", row)
    faults = [row for row in rows if row.kind == HOST_FAULT]
    if faults:
        row = faults[-1]
        return Finding(HOST, f"the host journaled its own fault on {row.mti} stan {row.stan}: "
                             f"{row.note}", row)
    request = [row for row in rows if row.kind in claim.kinds]
    if not request:
        return Finding(HOST, f"the host journaled no {' or '.join(claim.kinds)} from this terminal "
                             f"since the {claim.flow} began: it never received the request, or was "
                             "down or hung")
    row = request[-1]
    answered = f"the host journaled its {row.kind} stan {row.stan} at {row.at}, answered rc {row.rc}"
    if claim.reason in NO_ANSWER and not _ends_exchange(row):
        return Finding(HOST, f"{answered}, and journaled nothing after it, though the terminal "
                             f"had to send its next message: the host never received it", row)
    if not claim.refusal:
        return Finding(TERMINAL, f"{answered}, with nothing scripted", row)
    if claim.rc is not None and claim.rc != row.rc:
        return Finding(TERMINAL, f"{answered}, not {claim.rc}, with nothing scripted", row)
    return Finding(AGREED, answered, row)


def _ends_exchange(row: JournalEntry) -> bool:
    """Whether the message in ``row`` may be the terminal's last of its flow: a settlement's
    0500 never is (the batch upload's end message always follows it, docs/host.md), an upload
    message only when it is that end (its row's state says how the upload ended)."""
    if row.kind == "settlement":
        return row.rc not in (None, "00")  # refused: the terminal stops there
    if row.kind == "batch_upload":
        return row.state in ("clean", "discrepancies") or row.rc not in (None, "00")
    return True


@dataclass(frozen=True)
class JournalMark:
    """Where the host's journal stood when a flow began (None: it could not be read)."""

    last_id: int | None


def mark(station: Station) -> JournalMark:
    """Mark the host's journal before a flow goes online."""
    try:
        return JournalMark(station.host.journal.last_id())
    except (LookupError, JournalError, sqlite3.Error, OSError):
        # no journal named, or none to read yet: the claim is then the terminal's word alone
        return JournalMark(None)


def check(station: Station, flow: str, status: str, data: Mapping[str, Any], since: JournalMark) -> None:
    """Apply the rule to a flow's answer (``status``, ``data``): returns when the terminal
    blames nobody, its claim is the test's stimulus or the host's journal bears it out;
    raises :class:`HostFailed` (a station fault) or :class:`HostClaimFalse` (a terminal
    defect) otherwise."""
    claim = claim_of(flow, status, data)
    if claim is None:
        return
    src = f"{station.name}/flow"
    with events.step(src, "the terminal blames the host: ask the host's journal", claim=str(claim),
                     tid=station.tid) as step:
        if claim.reason == "host_unreachable":
            _probe(station)
        if since.last_id is None:
            step.result = "the host's journal could not be read: the terminal's word stands"
            return
        rows = [row for row in station.host.entries(station.tid) if row.id > since.last_id]
        finding = judge(claim, rows)
        step.result = f"{finding.whose}: {finding.why}"
        if finding.whose == HOST:
            raise HostFailed(f"{station.name}: the terminal says {claim} in its {flow}, and the "
                             f"rig's acquirer host is at fault: {finding.why}. Check the host (its "
                             "log, its process, its keys), then mend the station")
        if finding.whose == TERMINAL:
            raise HostClaimFalse(f"the terminal says {claim} in its {flow}, but {finding.why}: "
                                 "the terminal's claim is false")


def _probe(station: Station) -> None:
    """The terminal says the host is unreachable: is it, from the rig too?"""
    address = station.host.address
    if address is None:
        return
    try:
        with socket.create_connection(address, timeout=2.0):
            pass
    except OSError as exc:
        raise HostFailed(f"{station.name}: the acquirer host at {address[0]}:{address[1]} "
                         f"is unreachable from the rig too ({exc}); restart the host") from exc
