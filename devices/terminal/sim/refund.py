"""Refund (退货): money back to a card for an earlier sale, with the supervisor password.

The original is named by its trace when it is in the open batch (reference and date come
from there), or by its reference number and date (``orig_rrn``, ``orig_date`` MMDD) for a
sale of a batch settled before (隔日退货). A Concert credit names neither: the terminal
takes the last sale of its batch, not voided, of at least that amount (posrig's choice).

A refund is an advice (0220): it is not reversed. One without an answer is ``failed`` and
stays out of the terminal's batch, so if the host booked it the settlement comes out
unbalanced and the batch upload tells the host what the terminal holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devices.payments.terminal_side import MacError, ProtocolError
from devices.terminal.sim import card_and_keypad, online
from devices.terminal.sim.base import Refusal
from devices.terminal.sim.printer import format_amount
from devices.terminal.sim.sale import card_read, check_can_transact, finish

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal


def _original(terminal: SimulatedTerminal, args: dict[str, Any], amount: int) -> dict[str, Any]:
    """``rrn``, ``date`` (MMDD) and, when the sale is in the open batch, its item."""
    if args.get("orig_trace") is not None:
        item = terminal.state.item(int(args["orig_trace"]), "sale")
    elif args.get("orig_rrn") is not None:
        rrn, date = str(args["orig_rrn"]), str(args["orig_date"])
        item = next((i for i in terminal.state.batch_items if i["kind"] == "sale" and i["rrn"] == rrn), None)
        if item is None:
            return {"rrn": rrn, "date": date, "item": None}
    else:
        candidates = [i for i in terminal.state.batch_items if i["kind"] == "sale" and not i["voided"]
                      and i["amount"] >= amount and i.get("rrn") and "qr" not in i]
        item = candidates[-1] if candidates else None
    if item is None:
        raise Refusal("refused", "original_not_found", "无原交易 ORIGINAL NOT FOUND")
    if "qr" in item:  # no card to present: a QR payment is refunded by its voucher (qr_refund)
        raise Refusal("refused", "qr_payment", "扫码交易 USE SCAN REFUND", trace=item["trace"])
    if item["voided"]:
        raise Refusal("refused", "already_voided", "原交易已撤销 ALREADY VOIDED", trace=item["trace"])
    return {"rrn": item["rrn"], "date": item["host_date"], "item": item}


def refund(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    amount = int(args["amount"])
    check_can_transact(terminal, args)
    if not terminal.cfg.min_amount <= amount <= terminal.cfg.max_amount:
        raise Refusal("refused", "amount_out_of_range", "金额超限 AMOUNT INVALID",
                      min_amount=terminal.cfg.min_amount, max_amount=terminal.cfg.max_amount)
    original = _original(terminal, args, amount)
    item = original["item"]
    terminal.display("退货 REFUND", format_amount(amount), f"原参考号 RRN {original['rrn']}")
    card_and_keypad.check_supervisor(terminal, args.get("supervisor_password"))
    presented = card_and_keypad.take_card(terminal, amount)
    try:
        if item is not None and terminal.vault.open(item["pan_sealed"]) != presented.card.pan:
            raise Refusal("refused", "card_mismatch", "卡号不符 NOT THE ORIGINAL CARD")
        pin = (card_and_keypad.ask_pin(terminal, args.get("pin"))
               if terminal.cfg.pin_on_refund
               and card_and_keypad.needs_pin(terminal, presented.entry, amount) else None)
        online.flush_reversal(terminal)
        trace = terminal.next_trace()
        out = terminal.session.refund_request(
            stan=trace, batch=terminal.state.batch, amount=amount,
            read=card_read(presented, amount, trace), pin=pin, orig_rrn=original["rrn"],
            orig_date=original["date"], orig_batch=terminal.state.batch if item else None,
            orig_stan=item["trace"] if item else None)
        terminal.display("处理中 PROCESSING")
        wire = online.online(terminal, out)
        try:
            result = terminal.session.financial_response(out, wire)
        except MacError as exc:
            terminal.session.sign_out()
            raise Refusal("failed", "mac_error", "MAC错 MAC ERROR 请重新签到 SIGN IN") from exc
        except ProtocolError as exc:
            raise Refusal("failed", "bad_host_response", "交易失败 TRANSACTION FAILED") from exc
    finally:
        if presented.entry == "chip":
            terminal.prompt("remove_card")
    return finish(terminal, out, presented, result, kind="refund", amount=amount,
                  orig_rrn=original["rrn"])
