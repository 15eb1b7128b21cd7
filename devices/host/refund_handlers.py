"""Refund (退货): the 0220 advice with DE3 200000 and 60.1 25 (reference §3.3).

posrig's choices where the reference is silent (docs/host.md):

- The original is the sale whose reference (DE37) the refund names, made at the same
  terminal, approved and neither voided nor reversed; the host looks it up in the journal,
  so a sale of a batch settled days ago can be refunded, as 隔日退货 means. Another
  terminal's sale is 12, as for a void; no such sale 25; another card 12.
- DE61 is [C]'s: original batch and trace (zeros when the terminal does not know them)
  and the original date MMDD, which must be the sale's.
- Several refunds may give back parts of one sale, never more than it was (13).
- A refund books a credit: the card's open-to-buy grows, and settlement counts it on the
  credit side with voids.
"""

from __future__ import annotations

from devices.host.core import Ctx, Decline, HostCore
from devices.host.sale_handlers import approve, booking_key, check_amount, check_pin, read_card
from devices.host.state import Txn
from devices.payments import messages


def advice(core: HostCore, ctx: Ctx) -> None:
    """0220 dispatches on DE3 and 60.1: refunds here; other advices (offline sale,
    completion advice, adjustments) are not implemented: 40, after the MAC check."""
    if (ctx.req.get("3"), ctx.req.get("60", "")[:2]) == (messages.PC_VOID, messages.TYPE_REFUND):
        refund(core, ctx)
        return
    ctx.echo("3", "4", "11", "41", "42")
    core.verify_mac(ctx, core.require_terminal(ctx))
    raise Decline("40", f"0220 with DE3 {ctx.req.get('3')} and 60.1 "
                        f"{ctx.req.get('60', '')[:2]} is not supported")


def refund(core: HostCore, ctx: Ctx) -> None:
    ctx.echo("2", "3", "4", "11", "14", "25", "41", "42", "49", "60")
    term = core.require_terminal(ctx)
    core.verify_mac(ctx, term)
    amount = check_amount(ctx)
    ctx.need("37", "61")
    rrn, de61 = ctx.req["37"], ctx.req["61"]
    if len(de61) != 16 or not de61.isdigit():
        raise Decline("30", f"refund DE61 must be batch + trace + MMDD (16 digits), got "
                            f"{len(de61)} digits")
    ctx.row["orig_rrn"] = rrn
    if de61[:12] != "0" * 12:
        ctx.row.update(orig_batch=de61[:6], orig_stan=de61[6:12])
    account, card_row = read_card(core, ctx, term)
    ctx.row.update(card_row)
    key = booking_key(core, ctx, term)
    original = core.journal.approved_sale(term.tid, rrn)
    if original is None:
        other = core.journal.other_terminal_of(rrn, term.tid)
        if other is not None:
            raise Decline("12", f"original {rrn} belongs to terminal {other}")
        raise Decline("25", f"no approved sale with reference {rrn} at this terminal")
    if original.pan_masked != card_row["pan_masked"]:
        raise Decline("12", "card differs from the original's")
    sold_on = original.at[5:7] + original.at[8:10]
    if de61[12:] != sold_on:
        raise Decline("25", f"original date {de61[12:]} is not the sale's ({sold_on})")
    left = (original.amount or 0) - core.journal.refunded(term.tid, rrn)
    if amount > left:
        raise Decline("13", f"refund of {amount} fen exceeds the {left} fen left of the "
                            f"original")
    check_pin(ctx, term, account)
    core.issuer.credit(account, amount)
    approve(core, ctx, Txn(
        key=key, kind="refund", amount=amount, account=account, rrn="", auth_code="",
        journal_id=0, ic=card_row["entry_mode"] in ("chip", "contactless"),
        scheme=account.card.scheme, pan_masked=str(card_row["pan_masked"]), pc=messages.PC_VOID))

