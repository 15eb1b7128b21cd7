"""Void (消费撤销) of a sale in the open batch: supervisor password, the card again, online.

The original is named by its trace (posrig-ecr/1 ``trace``), by the private field a Concert
answer carried (batch and trace), or, for a Concert cancellation without one, as the last
sale of that amount not yet voided. The card must be the original's; a PIN is asked only
when the profile says so (``pin_on_void``), as the reference has it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devices.terminal.sim import card_and_keypad, online
from devices.terminal.sim.base import Refusal
from devices.terminal.sim.printer import format_amount
from devices.terminal.sim.sale import card_read, check_can_transact, finish

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal


def _original(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("trace") is not None:
        trace = int(args["trace"])
    elif args.get("private"):
        private = str(args["private"])
        if not private[4:10].isdigit():
            raise Refusal("refused", "original_not_found", "无原交易 ORIGINAL NOT FOUND")
        trace = int(private[4:10])
    else:
        amount = int(args["amount"])
        candidates = [i for i in terminal.state.batch_items
                      if i["kind"] == "sale" and not i["voided"] and i["amount"] == amount
                      and "qr" not in i]
        if not candidates:
            raise Refusal("refused", "original_not_found", "无原交易 ORIGINAL NOT FOUND")
        trace = candidates[-1]["trace"]
    item = terminal.state.item(trace)
    if item is None:
        raise Refusal("refused", "original_not_found", "无原交易 ORIGINAL NOT FOUND", trace=trace)
    if item["kind"] != "sale":
        raise Refusal("refused", "not_a_sale", "非消费交易 NOT A SALE", trace=trace)
    if "qr" in item:  # no card to present: a QR payment is voided by its voucher (qr_void)
        raise Refusal("refused", "qr_payment", "扫码交易 USE SCAN VOID", trace=trace)
    if item["voided"]:
        raise Refusal("refused", "already_voided", "原交易已撤销 ALREADY VOIDED", trace=trace)
    if "amount" in args and int(args["amount"]) != item["amount"]:
        raise Refusal("refused", "amount_mismatch", "金额不符 AMOUNT MISMATCH", trace=trace)
    return item


def void(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    check_can_transact(terminal, args)
    original = _original(terminal, args)
    amount = original["amount"]
    terminal.display("消费撤销 VOID", f"原凭证号 TRACE {original['trace']:06d}", format_amount(amount))
    card_and_keypad.check_supervisor(terminal, args.get("supervisor_password"))
    presented = card_and_keypad.take_card(terminal, amount)
    if terminal.vault.open(original["pan_sealed"]) != presented.card.pan:
        if presented.entry == "chip":
            terminal.prompt("remove_card")
        raise Refusal("refused", "card_mismatch", "卡号不符 NOT THE ORIGINAL CARD")
    pin = (card_and_keypad.ask_pin(terminal, args.get("pin"), presented)
           if terminal.cfg.pin_on_void
           and card_and_keypad.needs_pin(terminal, presented.entry, amount) else None)
    card_and_keypad.require_seated(terminal, presented)  # the chip must answer before online
    online.flush_reversal(terminal)
    trace = terminal.next_trace()
    out = terminal.session.void_request(
        stan=trace, batch=terminal.state.batch, amount=amount, read=card_read(presented, amount, trace),
        pin=pin, orig_batch=terminal.state.batch, orig_stan=original["trace"],
        orig_rrn=original["rrn"], orig_auth=original["auth_code"])
    terminal.display("处理中 PROCESSING")
    try:
        result = online.financial(terminal, out, "void", amount, card_and_keypad.kept(terminal, presented))
    finally:
        if presented.entry == "chip":
            terminal.prompt("remove_card")
    return finish(terminal, out, presented, result, kind="void", amount=amount,
                  orig_trace=original["trace"])
