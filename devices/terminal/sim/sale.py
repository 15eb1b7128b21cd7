"""Sale (消费): amount checks, the card, the PIN, online under reversal protection, the slip.

Shared with the void: ``card_read`` (what the chip, stripe or antenna gave), ``book`` (the
batch item kept in flash) and ``finish`` (screen, slip, the answer's data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devices.payments import messages as m
from devices.payments.terminal_side import CardRead, FinancialResult, Outgoing
from devices.terminal.sim import card_and_keypad, online
from devices.terminal.sim.admin import settlement_required
from devices.terminal.sim.base import Refusal
from devices.terminal.sim.chip import generate_ac
from devices.terminal.sim.printer import format_amount, note_line, print_transaction, slip_values

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal


def check_can_transact(terminal: SimulatedTerminal, args: dict[str, Any]) -> None:
    terminal.require_ready()
    why = settlement_required(terminal)
    if why is not None:
        raise Refusal("refused", "settlement_required", "请先结算 PLEASE SETTLE FIRST", detail=why)
    if "pin" in args and not terminal.cfg.pin_over_link:
        raise Refusal("refused", "pin_over_link_not_allowed", "请在键盘输入密码 USE THE KEYPAD")


def card_read(presented: card_and_keypad.Presented, amount: int, atc: int) -> CardRead:
    card, entry = presented.card, presented.entry
    on_chip = entry in ("chip", "contactless")
    return CardRead(pan=card.pan, track2=card.track2, expiry=card.expiry, entry=entry,
                    seq_no=card.seq_no if on_chip else None,
                    icc=generate_ac(card, amount, atc=atc) if on_chip else None)


def sale(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    amount = int(args["amount"])
    check_can_transact(terminal, args)
    if not terminal.cfg.min_amount <= amount <= terminal.cfg.max_amount:
        raise Refusal("refused", "amount_out_of_range", "金额超限 AMOUNT INVALID",
                      min_amount=terminal.cfg.min_amount, max_amount=terminal.cfg.max_amount)
    terminal.display("消费 SALE", f"金额 AMOUNT {format_amount(amount)}")
    presented = card_and_keypad.take_card(terminal, amount)
    pin = (card_and_keypad.ask_pin(terminal, args.get("pin"), presented)
           if card_and_keypad.needs_pin(terminal, presented.entry, amount) else None)
    card_and_keypad.require_seated(terminal, presented)  # the chip must answer before online
    online.flush_reversal(terminal)
    trace = terminal.next_trace()
    read = card_read(presented, amount, atc=trace)
    out = terminal.session.sale_request(stan=trace, batch=terminal.state.batch, amount=amount, read=read,
                                        pin=pin)
    terminal.display("处理中 PROCESSING")
    try:
        result = online.financial(terminal, out, "sale", amount, card_and_keypad.kept(terminal, presented))
    finally:
        if presented.entry == "chip":
            terminal.prompt("remove_card")
    return finish(terminal, out, presented, result, kind="sale", amount=amount)


def book(terminal: SimulatedTerminal, out: Outgoing, presented: card_and_keypad.Presented,
         result: FinancialResult, *, kind: str, amount: int, slip: dict[str, Any],
         **extra: Any) -> dict[str, Any]:
    """The batch item an approved sale or void leaves in flash (card number sealed)."""
    card = presented.card
    item = {"kind": kind, "trace": int(out.fields["11"]), "amount": amount, "rrn": result.rrn,
            "auth_code": result.auth_code, "host_date": result.host_date, "card": card.masked_pan,
            "pan_sealed": terminal.vault.seal(card.pan), "entry": presented.entry,
            "entry_mode": out.fields["22"], "seq_no": out.fields.get("23"),
            "icc": out.fields.get("55"), "domestic": card.scheme == "CUP", "voided": False,
            "slip": slip, **extra}
    if not terminal.state.batch_items:
        terminal.state.batch_opened = terminal.ram.today().isoformat()
    terminal.state.batch_items.append(item)
    return item


def finish(terminal: SimulatedTerminal, out: Outgoing, presented: card_and_keypad.Presented,
           result: FinancialResult, *, kind: str, amount: int, **extra: Any) -> dict[str, Any]:
    """Book (if approved), save, print, and build the answer."""
    trace = int(out.fields["11"])
    slip = slip_values(terminal, kind=kind, card=presented.card.masked_pan, trace=trace,
                       batch=terminal.state.batch, amount=amount, auth_code=result.auth_code,
                       rrn=result.rrn)
    if result.approved:
        book(terminal, out, presented, result, kind=kind, amount=amount, slip=slip,
             **{k: v for k, v in extra.items() if k in ("orig_trace", "orig_rrn")})
        if kind == "void":
            original = terminal.state.item(int(extra["orig_trace"]), "sale")
            if original is not None:
                original["voided"] = True
        terminal.state.last_slip = slip
    terminal.save()  # the batch item and the cleared reversal reach flash together
    online.after_answer(terminal, result.proc_req, result.rc)
    data: dict[str, Any] = {
        "rc": result.rc, "trace": trace, "batch": terminal.state.batch, "rrn": result.rrn,
        "auth_code": result.auth_code, "card": presented.card.masked_pan,
        "entry": presented.entry, "amount": amount, "host_date": result.host_date,
        "host_time": result.host_time, **extra}
    if result.approved:
        terminal.display("交易成功 APPROVED", f"{format_amount(amount)}")
        data["receipt"], data["printed"] = print_transaction(terminal, slip)
        data["status"] = "approved"
    else:
        text = m.RESPONSE_TEXT.get(result.rc, "declined")
        terminal.display("交易拒绝 DECLINED", f"RC {result.rc} {text}")
        if terminal.cfg.print_declines:  # one merchant copy; ``receipt`` stays for approvals only
            data["decline_receipt"], data["printed"] = print_transaction(
                terminal, slip,
                notes=(note_line(terminal.cfg.receipt_template, "declined", f"{result.rc} {text}"),),
                copies=("merchant",))
        data["rc_text"] = text
        data["status"] = "declined"
    return data
