"""Void (0200, DE3 200000, 60.1 23) and reversal (0400): undoing what the host booked."""

from __future__ import annotations

from devices.host.core import Ctx, Decline, HostCore
from devices.host.sale_handlers import approve, booking_key, check_amount, check_pin, read_card
from devices.host.state import Txn
from devices.payments import messages

REVERSAL_REASONS = {"98": "no response", "A0": "MAC failure", "06": "other"}


def void(core: HostCore, ctx: Ctx) -> None:
    """Finds the original by DE61 (batch + trace) of this terminal and checks DE37, DE4 and
    the card against it. Codes: 25 not found (or DE37 does not match), 64 amount differs,
    12 already voided / not a sale / another card, 22 original batch already settled."""
    ctx.kind = "void"
    ctx.echo("2", "3", "4", "11", "14", "25", "41", "42", "49", "60")
    term = core.require_terminal(ctx)
    core.verify_mac(ctx, term)
    amount = check_amount(ctx)
    ctx.need("37", "61")
    de61 = ctx.req["61"]
    if len(de61) < 12 or not de61[:12].isdigit():
        raise Decline("30", f"void DE61 must start with original batch + trace, got {de61!r}")
    orig_key = (term.tid, de61[:6], de61[6:12])
    ctx.row.update(orig_batch=orig_key[1], orig_stan=orig_key[2])
    account, card_row = read_card(core, ctx, term)
    ctx.row.update(card_row)
    key = booking_key(core, ctx, term)
    orig = core.ledger.get(orig_key)
    if orig is None or orig.state != "approved":
        foreign = core.journal.other_terminal_of(ctx.req["37"], term.tid)
        if foreign is not None:
            raise Decline("12", f"original {ctx.req['37']} belongs to terminal {foreign}")
        raise Decline("25", f"no approved transaction with batch {orig_key[1]} "
                            f"trace {orig_key[2]}")
    if orig.kind != "sale":
        raise Decline("12", "only a sale can be voided")
    if orig.voided_by is not None:
        raise Decline("12", f"original already voided by trace {orig.voided_by[2]}")
    if orig_key[1] in term.settled_batches:
        raise Decline("22", f"original batch {orig_key[1]} is settled: refund instead")
    if ctx.req["37"] not in (orig.rrn, "0" * 12):
        raise Decline("25", f"DE37 {ctx.req['37']} is not the original's reference")
    if amount != orig.amount:
        raise Decline("64", f"amount {amount} differs from the original's {orig.amount}")
    if account is not orig.account:
        raise Decline("12", "card differs from the original's")
    check_pin(ctx, term, account)
    core.issuer.credit(account, amount)
    txn = Txn(key=key, kind="void", amount=amount, account=account, rrn="", auth_code="",
              journal_id=0, ic=orig.ic, scheme=orig.scheme, pan_masked=orig.pan_masked,
              pc=messages.PC_VOID, original=orig_key)
    orig.voided_by = key
    approve(core, ctx, txn)
    ctx.after.append(lambda _id: core.journal.set_state(orig.journal_id, "voided"))



def reversal(core: HostCore, ctx: Ctx) -> None:
    """Matches TID + 60.2 + DE11 + DE4 and undoes the original if the host had approved it.
    Unknown original: 00, nothing to undo. Repeats: answered the same. An original in a
    settled batch cannot be undone: 12."""
    ctx.echo("2", "3", "4", "11", "14", "25", "41", "42", "49", "60")
    term = core.require_terminal(ctx)
    core.verify_mac(ctx, term)
    ctx.need("3", "11", "39", "60")
    reason = ctx.req["39"]
    if reason not in REVERSAL_REASONS:
        raise Decline("30", f"reversal reason {reason!r}: must be 98, A0 or 06")
    de4 = ctx.req.get("4", "0")
    if not de4.isdigit():
        raise Decline("30", "DE4 is not BCD digits")
    amount = int(de4)
    key = (term.tid, ctx.req["60"][2:8], ctx.req["11"])
    ctx.row.update(amount=amount, orig_batch=key[1], orig_stan=key[2])
    why = f"reason {reason} ({REVERSAL_REASONS[reason]})"
    orig = core.ledger.get(key)
    if orig is None or orig.amount != amount or orig.pc != ctx.req["3"]:
        ctx.row["note"] = f"{why}; unknown original: nothing to undo"
        ctx.row["state"] = "acknowledged"
        return
    ctx.row.update(pan_masked=orig.pan_masked, scheme=orig.scheme)
    if orig.state == "reversed":
        ctx.row["note"] = f"{why}; repeat: original already reversed"
        ctx.row["state"] = "acknowledged"
        return
    if key[1] in term.settled_batches:
        raise Decline("12", f"{why}; original batch {key[1]} is settled")
    undo(core, orig)
    ctx.row["note"] = f"{why}; {orig.kind} {orig.rrn} undone"
    ctx.row["state"] = "undone"


def undo(core: HostCore, txn: Txn) -> None:
    """Take ``txn`` out of the batch and give back (or take back) what it moved."""
    txn.state = "reversed"
    core.journal.set_state(txn.journal_id, "reversed")
    if txn.kind == "sale":
        core.issuer.credit(txn.account, txn.amount)
        if txn.voided_by is not None:  # its void goes with it
            void_txn = core.ledger[txn.voided_by]
            if void_txn.state == "approved":
                void_txn.state = "reversed"
                core.journal.set_state(void_txn.journal_id, "reversed")
                core.issuer.take_back(void_txn.account, void_txn.amount)
    else:
        core.issuer.take_back(txn.account, txn.amount)
        original = core.ledger.get(txn.original) if txn.original else None
        if original is not None and original.voided_by == txn.key:
            original.voided_by = None
            if original.state == "approved":
                core.journal.set_state(original.journal_id, "approved")

