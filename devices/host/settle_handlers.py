"""Settlement (0500), batch upload (0320), sign-off and echo (0820): no MAC on any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from devices.host.core import Ctx, Decline, HostCore
from devices.host.state import TerminalState
from devices.payments import messages
from devices.payments.settlement import (
    FLAG_BALANCED,
    FLAG_UNBALANCED,
    SettlementFormatError,
    SideTotals,
    Totals,
    parse_ic_record,
    parse_mag_records,
)

#: Called with (core, TID, batch, now) before a settlement reads the ledger: what must settle
#: first does (devices.host.qr.register, called by devices.host.dispatch.install, adds the
#: closing of pending QR orders).
BEFORE_TOTALS: list[Callable[[HostCore, str, str, datetime], None]] = []


def host_totals(core: HostCore, tid: str, batch: str) -> Totals:
    """The host's own view of a batch, from its ledger (not the journal: the property
    tests compare the two)."""
    dom, foreign = SideTotals(), SideTotals()
    for txn in core.ledger.values():
        if txn.key[0] == tid and txn.key[1] == batch and txn.state == "approved":
            if txn.scheme == "CUP":
                dom = dom.add(txn.kind, txn.amount)
            else:
                foreign = foreign.add(txn.kind, txn.amount)
    return Totals(dom, foreign)


def _management_de60(ctx: Ctx, allowed: tuple[str, ...]) -> tuple[str, str]:
    ctx.need("60")
    de60 = ctx.req["60"]
    if len(de60) < 11 or not de60.isdigit() or de60[8:11] not in allowed:
        raise Decline("30" if len(de60) < 11 else "40",
                      f"{ctx.req['t']} 60.3 {de60[8:11]!r} is not one of {', '.join(allowed)}")
    return de60[2:8], de60[8:11]


def _next_batch(batch: str) -> str:
    return f"{int(batch) % 999_999 + 1:06d}"


def settlement(core: HostCore, ctx: Ctx) -> None:
    """Compares the terminal's DE48 totals with the ledger, side by side; answers the same
    DE48 with the result flags set, and closes the batch (the next sign-in gets the next
    batch number)."""
    ctx.echo("11", "41", "42", "49", "60")
    term = core.require_terminal(ctx)
    ctx.need("11", "48")
    batch, _ = _management_de60(ctx, (messages.NMI_SETTLE,))
    try:
        claimed, _, _ = Totals.from_de48(ctx.req["48"])
    except SettlementFormatError as exc:
        raise Decline("30", str(exc)) from None
    for before in BEFORE_TOTALS:
        before(core, term.tid, batch, ctx.now)
    ours = host_totals(core, term.tid, batch)
    sides = ((claimed.domestic, ours.domestic), (claimed.foreign, ours.foreign))
    flags = [FLAG_BALANCED if terminal_side == host_side else FLAG_UNBALANCED
             for terminal_side, host_side in sides]
    if ctx.behaviour is not None and ctx.behaviour.unbalanced:
        flags = [FLAG_UNBALANCED, FLAG_UNBALANCED]
    ctx.resp["48"] = claimed.to_de48(*flags)
    ctx.resp["15"] = f"{ctx.now:%m%d}"
    _close_batch(term, batch)
    balanced = flags == [FLAG_BALANCED, FLAG_BALANCED]
    ctx.row.update(batch=batch, state="balanced" if balanced else "unbalanced",
                   note=f"terminal: {claimed.describe()} | host: {ours.describe()}")


def _close_batch(term: TerminalState, batch: str) -> None:
    term.settled_batches.add(batch)
    if term.batch in (batch, None):
        term.batch = _next_batch(batch)


@dataclass
class Upload:
    """One terminal's batch upload in progress."""

    records: int = 0
    problems: list[str] = field(default_factory=list)


def batch_upload(core: HostCore, ctx: Ctx) -> None:
    """Checks every uploaded record against the ledger. Answered 00 unless malformed: a
    record the host disagrees with is noted in the journal (the certification verdict),
    as a terminal cannot do anything about it mid-upload."""
    ctx.echo("11", "41", "42", "60")
    term = core.require_terminal(ctx)
    ctx.need("11")
    batch, nmi = _management_de60(ctx, ("201", "202", "203", "204", "205", "206", "207"))
    upload = core.uploads.setdefault((term.tid, batch), Upload())
    ctx.row["batch"] = batch
    if nmi in ("202", "207"):
        ctx.need("48")
        claimed = ctx.req["48"]
        if len(claimed) != 4 or not claimed.isdigit():
            raise Decline("30", f"batch-end DE48 must be a 4-digit count, got {claimed!r}")
        if int(claimed) != upload.records:
            upload.problems.append(f"end says {int(claimed)} records, host received "
                                   f"{upload.records}")
        del core.uploads[(term.tid, batch)]
        verdict = "; ".join(upload.problems) or "all records match the ledger"
        ctx.row["note"] = f"{nmi} end of upload, {upload.records} records: {verdict}"
        ctx.row["state"] = "clean" if not upload.problems else "discrepancies"
        return
    if nmi == "201":
        ctx.need("48")
        try:
            records = parse_mag_records(ctx.req["48"])
        except SettlementFormatError as exc:
            raise Decline("30", str(exc)) from None
        for record in records:
            _check_record(core, term.tid, batch, record.stan, record.pan, record.amount, upload)
        upload.records += len(records)
        ctx.row["note"] = f"201: {len(records)} magstripe records"
        return
    ctx.need("2", "4", "62")
    try:
        _, amount = parse_ic_record(ctx.req["62"])
    except SettlementFormatError as exc:
        raise Decline("30", str(exc)) from None
    if ctx.req["4"] != f"{amount:012d}":
        upload.problems.append(f"trace {ctx.req['11']}: DE4 and the DE62 record differ")
    _check_record(core, term.tid, batch, ctx.req["11"], ctx.req["2"], amount, upload)
    upload.records += 1
    ctx.row["note"] = f"{nmi}: IC record"


def _check_record(core: HostCore, tid: str, batch: str, stan: str, pan: str, amount: int,
                  upload: Upload) -> None:
    txn = core.ledger.get((tid, batch, stan))
    if txn is None or txn.state != "approved":
        upload.problems.append(f"trace {stan}: no approved transaction")
    elif txn.account is None:  # devices/host/qr.py books QR payments without a card
        upload.problems.append(f"trace {stan}: a QR payment, which is never batch-uploaded")
    elif txn.amount != amount:
        upload.problems.append(f"trace {stan}: amount {amount}, host booked {txn.amount}")
    elif txn.account.card.pan != pan:
        upload.problems.append(f"trace {stan}: another card than the one booked")


def management(core: HostCore, ctx: Ctx) -> None:
    """0820: sign-off (002) forgets the working keys; echo (301) only answers."""
    ctx.echo("11", "41", "42", "60")
    term = core.require_terminal(ctx)
    _, nmi = _management_de60(ctx, (messages.NMI_SIGNOFF, messages.NMI_ECHO))
    if nmi == messages.NMI_SIGNOFF:
        ctx.kind = "signoff"
        ctx.need("11")
        core.set_keys(term, None)
    else:
        ctx.kind = "echo"

