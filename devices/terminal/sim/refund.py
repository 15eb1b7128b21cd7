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


def _original(t: SimulatedTerminal, args: dict[str, Any], amount: int) -> dict[str, Any]:
    """``rrn``, ``date`` (MMDD) and, when the sale is in the open batch, its item."""
    if args.get("orig_trace") is not None:
        item = t.state.item(int(args["orig_trace"]), "sale")
    elif args.get("orig_rrn") is not None:
        rrn, date = str(args["orig_rrn"]), str(args["orig_date"])
        item = next((i for i in t.state.batch_items if i["kind"] == "sale" and i["rrn"] == rrn), None)
        if item is None:
            return {"rrn": rrn, "date": date, "item": None}
    else:
        candidates = [i for i in t.state.batch_items if i["kind"] == "sale" and not i["voided"]
                      and i["amount"] >= amount and i.get("rrn")]
        item = candidates[-1] if candidates else None
    if item is None:
        raise Refusal("refused", "original_not_found", "无原交易 ORIGINAL NOT FOUND")
    if item["voided"]:
        raise Refusal("refused", "already_voided", "原交易已撤销 ALREADY VOIDED", trace=item["trace"])
    return {"rrn": item["rrn"], "date": item["host_date"], "item": item}


def refund(t: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    amount = int(args["amount"])
    check_can_transact(t, args)
    if not t.cfg.min_amount <= amount <= t.cfg.max_amount:
        raise Refusal("refused", "amount_out_of_range", "金额超限 AMOUNT INVALID",
                      min_amount=t.cfg.min_amount, max_amount=t.cfg.max_amount)
    original = _original(t, args, amount)
    item = original["item"]
    t.display("退货 REFUND", format_amount(amount), f"原参考号 RRN {original['rrn']}")
    card_and_keypad.check_supervisor(t, args.get("supervisor_password"))
    presented = card_and_keypad.take_card(t, amount)
    try:
        if item is not None and t.vault.open(item["pan_sealed"]) != presented.card.pan:
            raise Refusal("refused", "card_mismatch", "卡号不符 NOT THE ORIGINAL CARD")
        pin = (card_and_keypad.ask_pin(t, args.get("pin"))
               if t.cfg.pin_on_refund and card_and_keypad.needs_pin(t, presented.entry, amount) else None)
        online.flush_reversal(t)
        trace = t.next_trace()
        out = t.session.refund_request(
            stan=trace, batch=t.state.batch, amount=amount,
            read=card_read(presented, amount, trace), pin=pin, orig_rrn=original["rrn"],
            orig_date=original["date"], orig_batch=t.state.batch if item else None,
            orig_stan=item["trace"] if item else None)
        t.display("处理中 PROCESSING")
        wire = online.online(t, out)
        try:
            result = t.session.financial_response(out, wire)
        except MacError as exc:
            t.session.sign_out()
            raise Refusal("failed", "mac_error", "MAC错 MAC ERROR 请重新签到 SIGN IN") from exc
        except ProtocolError as exc:
            raise Refusal("failed", "bad_host_response", "交易失败 TRANSACTION FAILED") from exc
    finally:
        if presented.entry == "chip":
            t.prompt("remove_card")
    return finish(t, out, presented, result, kind="refund", amount=amount,
                  orig_rrn=original["rrn"])
