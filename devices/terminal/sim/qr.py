"""Scan-to-pay (扫码支付) on the simulated terminal: iso8583-cup-qr.md, terminal side.

- ``qr_sale`` (C2B): the customer's payment code is read by the scanner (qr_scan), sent in a
  0200 with DE59 ``A2`` + ``A3``; ``00`` is paid, ``FD`` means the customer must confirm in the
  wallet (a password): the terminal polls with result queries every ``qr_poll_s`` for up to
  ``qr_c2b_window_s``, then reverses (reason 06).
- ``qr_order`` (B2C): a 0200 / 700000 creates the order; its ``Q2`` is shown as a QR code on
  the screen with the amount and a countdown; the terminal polls until paid, closed, the
  window ``qr_b2c_window_s`` ends or the cancel key is pressed (then it reverses).
- ``qr_void`` / ``qr_refund``: by the payment voucher (``A4``) the sale's answer carried.

Every sale or order is protected by the card flows' reversal record (online.store_reversal),
whose DE59 keeps only ``A3``, ``Q1`` or ``A4`` (qr.reversal_fields). No answer to the sale or
create sends the reversal (98) at once. An approved payment is booked in the batch under
the trace of the message that started it, domestic (QR counts as domestic in settlement),
and is never batch-uploaded (settle.py).
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from devices.payments import qr
from devices.payments.framing import FramingError
from devices.payments.terminal_side import MacError, Outgoing, ProtocolError
from devices.terminal.dialect import Event
from devices.terminal.sim import online, qr_scan
from devices.terminal.sim.base import Refusal
from devices.terminal.sim.printer import _job as printer_job
from devices.terminal.sim.printer import format_amount, render_slip
from devices.terminal.sim.sale import check_can_transact

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal

QR_TEMPLATE = Path(__file__).resolve().parents[3] / "fixtures" / "receipts" / "cup-qr.yaml"
NO_SIGNATURE = "扫码交易，免签名"


@cache
def _default_template() -> dict[str, Any]:
    return yaml.safe_load(QR_TEMPLATE.read_text(encoding="utf-8"))


def template(terminal: SimulatedTerminal) -> dict[str, Any]:
    return terminal.cfg.qr_receipt_template or _default_template()


# -- commands ---------------------------------------------------------------------------------

def qr_sale(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    amount = _amount(terminal, args)
    terminal.display("扫码消费 SCAN SALE", f"金额 AMOUNT {format_amount(amount)}",
                     "请出示付款码 SHOW PAY CODE")
    terminal.prompt("scan_code")
    code = qr_scan.scan(terminal, terminal.cfg.card_timeout)  # CANCEL: cancelled / no_code
    if code is None:
        raise Refusal("cancelled", "no_code", "交易超时 TIMEOUT 未扫到付款码 NO CODE")
    if not (code.isdigit() and 1 <= len(code) <= 350):
        raise Refusal("refused", "invalid_code", "无效付款码 INVALID PAY CODE")
    online.flush_reversal(terminal)
    trace = terminal.next_trace()
    out = qr.c2b_sale_request(terminal.session, stan=trace, batch=terminal.state.batch, amount=amount,
                              code=code, serial=terminal.cfg.serial)
    terminal.display("处理中 PROCESSING")
    result = _start(terminal, out, "sale", amount, recover={"flow": "c2b",
                                                             "code_masked": qr.mask_code(code)})
    if result.pending:
        terminal.display("等待用户确认 WAITING FOR CUSTOMER", "请在手机上输入密码 CONFIRM ON PHONE")
        result = _poll(terminal, out, result, amount, terminal.cfg.qr_c2b_window_s)
    return _finish(terminal, out, result, kind="sale", amount=amount, flow="c2b",
                   code_masked=qr.mask_code(code))


def qr_order(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    amount = _amount(terminal, args)
    terminal.display("扫码收款 SCAN TO PAY", f"金额 AMOUNT {format_amount(amount)}")
    online.flush_reversal(terminal)
    trace = terminal.next_trace()
    out = qr.order_request(terminal.session, stan=trace, batch=terminal.state.batch, amount=amount,
                           serial=terminal.cfg.serial)
    terminal.display("处理中 PROCESSING")
    result = _start(terminal, out, "qr_order", amount, recover={"flow": "b2c", "code_masked": ""})
    if result.pending:
        if not result.payload:  # an order with nothing to show cannot be paid: undo it
            sent = _reverse_now(terminal)
            raise Refusal("failed", "bad_host_response", "交易失败 NO ORDER CODE",
                          reversal_pending=not sent)
        result = _poll(terminal, out, result, amount, terminal.cfg.qr_b2c_window_s, show=result.payload)
    return _finish(terminal, out, result, kind="sale", amount=amount, flow="b2c", code_masked="")


def qr_void(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    check_can_transact(terminal, args)
    original = _original(terminal, args)
    amount = original["amount"]
    terminal.display("扫码撤销 SCAN VOID", f"原凭证号 TRACE {original['trace']:06d}", format_amount(amount))
    online.flush_reversal(terminal)
    trace = terminal.next_trace()
    out = qr.void_request(terminal.session, stan=trace, batch=terminal.state.batch, amount=amount,
                          voucher=original["qr"]["voucher"], orig_batch=terminal.state.batch,
                          orig_stan=original["trace"], orig_rrn=original["rrn"],
                          orig_auth=original["auth_code"])
    terminal.display("处理中 PROCESSING")
    result = _start(terminal, out, "void", amount)
    return _finish(terminal, out, result, kind="void", amount=amount, flow=original["qr"]["flow"],
                   code_masked=original["card"], original=original)


def qr_refund(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    """By ``orig_trace`` (a QR sale of the open batch) or by ``voucher`` and ``orig_date``
    (MMDD) as printed on the sale's slip. Sent up to 1 + 3 times (same STAN) on silence:
    a refund is not reversed, it is resent (§3.5)."""
    check_can_transact(terminal, args)
    amount = int(args["amount"])
    original: dict[str, Any] | None = None
    held: dict[str, Any] | None = None  # the payment, when this terminal's batch still holds it
    if args.get("orig_trace") is not None:
        original = held = _original(terminal, {"trace": args["orig_trace"]}, voided_ok=False)
        voucher = original["qr"]["voucher"]
        mmdd = original["host_date"] or terminal.ram.now().strftime("%m%d")
    else:
        voucher, mmdd = str(args["voucher"]), str(args["orig_date"])
        held = _held_by_voucher(terminal, voucher)
    top = held["amount"] if held else terminal.cfg.max_amount
    if not terminal.cfg.min_amount <= amount <= top:  # never more than the payment, when known
        raise Refusal("refused", "amount_out_of_range", "金额超限 AMOUNT INVALID",
                      min_amount=terminal.cfg.min_amount, max_amount=top)
    terminal.display("扫码退货 SCAN REFUND", format_amount(amount), f"付款凭证号 {voucher}")
    online.flush_reversal(terminal)
    trace = terminal.next_trace()
    out = qr.refund_request(terminal.session, stan=trace, batch=terminal.state.batch, amount=amount,
                            voucher=voucher, orig_mmdd=mmdd,
                            orig_rrn=original["rrn"] if original else None,
                            orig_auth=original["auth_code"] if original else None)
    terminal.display("处理中 PROCESSING")
    result = None
    for attempt in range(4):
        try:
            result = qr.read_response(terminal.session, out, online.exchange(terminal, out))
            break
        except (TimeoutError, OSError, FramingError) as exc:
            terminal.console(f"QR refund attempt {attempt + 1} unanswered: {exc}")
        except MacError as exc:
            terminal.session.sign_out()
            raise Refusal("failed", "mac_error", "MAC错 MAC ERROR 请重新签到 SIGN IN") from exc
        except ProtocolError as exc:
            raise Refusal("failed", "bad_host_response", "交易失败 TRANSACTION FAILED") from exc
    if result is None:
        raise Refusal("failed", "no_host_response", "通讯超时 NO HOST RESPONSE")
    stub = {"trace": trace, "voucher": voucher, "orig_date": mmdd, "orig_trace":
            original["trace"] if original else None, "card": held["card"] if held else "",
            "qr": held["qr"] if held else {"voucher": voucher, "flow": "", "order": None,
                                            "wallet": result.wallet}}
    return _finish(terminal, out, result, kind="refund", amount=amount, flow=stub["qr"]["flow"],
                   code_masked=stub["card"], original=original, refund_of=stub)


# -- the exchange, the polling ----------------------------------------------------------------

def _amount(terminal: SimulatedTerminal, args: dict[str, Any]) -> int:
    amount = int(args["amount"])
    check_can_transact(terminal, args)
    if not terminal.cfg.min_amount <= amount <= terminal.cfg.max_amount:
        raise Refusal("refused", "amount_out_of_range", "金额超限 AMOUNT INVALID",
                      min_amount=terminal.cfg.min_amount, max_amount=terminal.cfg.max_amount)
    return amount


def _set_reversal(terminal: SimulatedTerminal, reason: str, order: str | None = None) -> None:
    record = terminal.state.pending_reversal
    if record is None:
        return
    record["reason"] = reason
    if order and record["fields"].get("3") == qr.PC_QR_ORDER:
        record["fields"]["59"] = qr.encode_tlv([("Q1", order)])
    terminal.save()


def _reverse_now(terminal: SimulatedTerminal) -> bool:
    """Send the pending reversal at once; whether it went (else it waits for the next message).
    The payment is given up: no query before it any more (REVERSE, not PENDING)."""
    record = terminal.state.pending_reversal
    if record is not None and record.pop("qr", None) is not None:
        terminal.save()
    try:
        online.flush_reversal(terminal)
        return True
    except Refusal:
        return False


def _start(terminal: SimulatedTerminal, out: Outgoing, kind: str, amount: int,
           recover: dict[str, Any] | None = None) -> qr.QrResult:
    """The sale, create or void under reversal protection (98 until answered). ``recover``:
    what a query after a power cut needs to finish the payment (kept with the reversal
    record while the payment is SENT or PENDING; see ``recover``)."""
    online.store_reversal(terminal, qr.reversal_fields(out), kind, amount)
    if recover is not None:
        terminal.state.pending_reversal["qr"] = {  # type: ignore[index]
            **recover, "order": None, "rrn": None, "mmdd": terminal.ram.now().strftime("%m%d")}
        terminal.save()
    try:
        wire = online.exchange(terminal, out)
    except TimeoutError as exc:
        sent = _reverse_now(terminal)
        raise Refusal("failed", "no_host_response", "通讯超时 NO HOST RESPONSE",
                      reversal_pending=not sent, reversal_sent=sent) from exc
    except (OSError, FramingError) as exc:
        raise Refusal("failed", "host_unreachable", "通讯失败 COMMS ERROR",
                      reversal_pending=True) from exc
    result = online.read_answer(terminal, lambda: qr.read_response(terminal.session, out, wire))
    if result.pending:
        record = terminal.state.pending_reversal
        if record is not None and "qr" in record:
            record["qr"].update(order=result.order, rrn=result.base.rrn,
                                mmdd=result.base.host_date or record["qr"]["mmdd"])
        _set_reversal(terminal, "06", result.order)
    else:
        terminal.state.pending_reversal = None
        terminal.save()
    return result


def _poll(terminal: SimulatedTerminal, out: Outgoing, first: qr.QrResult, amount: int, window: float,
          show: str | None = None) -> qr.QrResult:
    """Query every ``qr_poll_s`` until a final answer; at the window's end (or the cancel key
    while a B2C code is shown) reverse with reason 06 and fail."""
    started = time.monotonic()
    orig_batch, orig_stan = int(out.fields["60"][2:8]), int(out.fields["11"])
    mmdd = first.base.host_date or terminal.ram.now().strftime("%m%d")
    cancelled = False
    while True:
        left = window - (time.monotonic() - started)
        if show:  # the code, the amount and a countdown, redrawn at every poll
            terminal.emit(Event("display", {"lines": [
                "扫码支付 SCAN TO PAY", f"金额 AMOUNT {format_amount(amount)}",
                "微信/支付宝/云闪付", f"剩余 {max(0, int(left))} 秒 S"], "qr": show}))
        pause = min(terminal.cfg.qr_poll_s, max(left, 0))
        if pause > 0 and terminal.wait(
                lambda: show is not None and terminal.model.take_key() == "cancel", pause):
            cancelled = True
            break
        if time.monotonic() - started >= window:
            break
        query = qr.query_request(terminal.session, stan=terminal.next_trace(), batch=terminal.state.batch,
                                 amount=amount, orig_batch=orig_batch, orig_stan=orig_stan,
                                 orig_mmdd=mmdd, order=first.order)
        try:
            answer = qr.read_response(terminal.session, query, online.exchange(terminal, query))
        except (TimeoutError, OSError, FramingError, ProtocolError) as exc:
            terminal.console(f"QR query unanswered or unreadable: {exc}; polling on")
            continue
        terminal.console(f"QR query for trace {orig_stan:06d} answered {answer.rc}")
        if answer.rc in (qr.RC_PENDING, "96"):
            continue
        # paid (the caller books it), or FE, 25, a decline: nothing taken, nothing to undo
        terminal.state.pending_reversal = None
        terminal.save()
        return answer
    sent = _reverse_now(terminal)
    if cancelled:
        raise Refusal("cancelled", "cancelled_by_user", "交易取消 CANCELLED", reversal_sent=sent,
                      reversal_pending=not sent, order=first.order, trace=orig_stan)
    raise Refusal("failed", "qr_timeout", "支付超时 PAYMENT TIMEOUT", reversal_sent=sent,
                  reversal_pending=not sent, order=first.order, trace=orig_stan)


def recover(terminal: SimulatedTerminal, record: dict[str, Any]) -> bool:
    """A QR payment cut by a power loss while SENT or PENDING (its reversal record still
    says how to ask about it): one query before anything else goes online (§4). Paid: book it
    under its own trace and print its slip; closed, unknown or declined: nothing to undo.
    Returns True when nothing is left to reverse; False sends the reversal as stored (06, or
    98 when the payment itself was never answered; a SENT payment with neither order nor
    reference goes straight to it)."""
    info = record.pop("qr")
    terminal.save()
    if not (info.get("order") or info.get("rrn")):
        return False
    fields = record["fields"]
    query = qr.query_request(terminal.session, stan=terminal.next_trace(), batch=terminal.state.batch,
                             amount=int(record["amount"]), orig_batch=int(fields["60"][2:8]),
                             orig_stan=int(fields["11"]), orig_mmdd=str(info["mmdd"]),
                             order=info.get("order"))
    terminal.display("查询中 QUERYING PAYMENT")
    try:
        answer = qr.read_response(terminal.session, query, online.exchange(terminal, query))
    except (TimeoutError, OSError, FramingError, ProtocolError) as exc:
        terminal.console(f"QR recovery query for trace {int(fields['11']):06d} failed: {exc}")
        return False
    terminal.console(f"QR recovery query for trace {int(fields['11']):06d} answered {answer.rc}")
    if answer.pending:
        return False
    terminal.state.pending_reversal = None
    terminal.save()
    if answer.approved:
        _finish(terminal, Outgoing("0200", dict(fields), b"", ""), answer, kind="sale",
                amount=int(record["amount"]), flow=str(info["flow"]),
                code_masked=str(info["code_masked"]))
    return True


# -- the outcome: book, print, answer -----------------------------------------------------------

def _held_by_voucher(terminal: SimulatedTerminal, voucher: str) -> dict[str, Any] | None:
    """The QR payment of the open batch whose voucher this is (a refund by voucher of a
    payment the terminal still holds answers with its flow, code, order and wallet)."""
    for item in terminal.state.batch_items:
        if item["kind"] == "sale" and item.get("qr", {}).get("voucher") == voucher:
            return item
    return None


def _original(terminal: SimulatedTerminal, args: dict[str, Any], *,
              voided_ok: bool = False) -> dict[str, Any]:
    trace = int(args["trace"])
    item = terminal.state.item(trace, "sale")
    if item is None or "qr" not in item:
        raise Refusal("refused", "original_not_found", "无原交易 ORIGINAL NOT FOUND", trace=trace)
    if item["voided"] and not voided_ok:
        raise Refusal("refused", "already_voided", "原交易已撤销 ALREADY VOIDED", trace=trace)
    return item


def slip_values(terminal: SimulatedTerminal, *, kind: str, trace: int, amount: int, result: qr.QrResult,
                code_masked: str, order: str | None, voucher: str | None, wallet: str | None,
                original: dict[str, Any] | None) -> dict[str, Any]:
    """What a QR slip shows (§7), template keys as in fixtures/receipts/cup-qr.yaml."""
    txn_types = template(terminal).get("txn_types", {})
    remark = ""
    if kind == "void" and original:
        remark = f"原凭证号 {original['trace']:06d}"
    elif kind == "refund":
        remark = "原交易日期 " + str((original or {}).get("host_date") or "")
    return {
        "merchant_name": terminal.cfg.merchant_name, "merchant_id": terminal.cfg.mid,
        "terminal_id": terminal.cfg.tid, "operator": terminal.ram.operator or "", "card_number": code_masked,
        # 30 characters do not fit the 58 mm printhead's row: split where a reader expects it
        "order": f"{order[:16]} {order[16:]}" if order else "", "txn_type": txn_types.get(kind, kind),
        "wallet": qr.WALLETS.get(wallet or "", ""), "voucher": voucher or "",
        "batch": f"{terminal.state.batch:06d}", "trace": f"{trace:06d}",
        "auth_code": result.base.auth_code or "", "rrn": result.base.rrn or "",
        "datetime": terminal.ram.now().strftime("%Y/%m/%d %H:%M:%S"), "amount": format_amount(amount),
        "amount_fen": amount, "remark": remark or NO_SIGNATURE,
    }


def _finish(terminal: SimulatedTerminal, out: Outgoing, result: qr.QrResult, *, kind: str, amount: int,
            flow: str, code_masked: str, original: dict[str, Any] | None = None,
            refund_of: dict[str, Any] | None = None) -> dict[str, Any]:
    trace = int(out.fields["11"])
    base = (original or refund_of or {}).get("qr", {}) if kind != "sale" else {}
    order = result.order or base.get("order")
    voucher = result.voucher or base.get("voucher")
    wallet = result.wallet or base.get("wallet")
    approved = result.approved
    data: dict[str, Any] = {
        "rc": result.rc, "trace": trace, "batch": terminal.state.batch, "rrn": result.base.rrn,
        "auth_code": result.base.auth_code, "card": code_masked or None, "entry": "qr", "amount": amount,
        "host_date": result.base.host_date, "host_time": result.base.host_time, "flow": flow,
        "order": order, "voucher": voucher, "wallet": wallet}
    if original is not None:
        data["orig_trace"] = original["trace"]
    elif refund_of is not None:
        data["orig_date"] = refund_of["orig_date"]
    slip = slip_values(terminal, kind=kind, trace=trace, amount=amount, result=result,
                       code_masked=code_masked, order=order, voucher=voucher, wallet=wallet,
                       original=original)
    if approved:
        item = {"kind": kind, "trace": trace, "amount": amount, "rrn": result.base.rrn,
                "auth_code": result.base.auth_code, "host_date": result.base.host_date,
                "card": code_masked, "entry": "qr", "entry_mode": qr.ENTRY_QR, "seq_no": None,
                "icc": None, "domestic": True, "voided": False, "slip": slip,
                "qr": {"flow": flow, "order": order, "voucher": voucher, "wallet": wallet}}
        if original is not None:
            item["orig_trace"] = original["trace"]
            if kind == "void":
                original["voided"] = True
        if not terminal.state.batch_items:
            terminal.state.batch_opened = terminal.ram.today().isoformat()
        terminal.state.batch_items.append(item)
        terminal.state.last_slip = slip
    terminal.save()
    online.after_answer(terminal, result.base.proc_req, result.rc)
    if approved:
        terminal.display("交易成功 APPROVED", format_amount(amount))
        data["receipt"], data["printed"] = print_slip(terminal, slip)
        data["status"] = "approved"
        return data
    text = qr.RESPONSE_TEXT.get(result.rc) or _card_text(result.rc)
    if result.rc == qr.RC_CLOSED:
        terminal.display("订单已关闭 ORDER CLOSED", f"RC {result.rc} {text}")
    else:
        terminal.display("交易拒绝 DECLINED", f"RC {result.rc} {text}")
    data["rc_text"] = text
    data["status"] = "declined"
    return data


def _card_text(rc: str) -> str:
    from devices.payments import messages as m
    return m.RESPONSE_TEXT.get(rc, "declined")


def print_slip(terminal: SimulatedTerminal, slip: dict[str, Any], *, notes: tuple[str, ...] = (),
               copies: tuple[str, ...] | None = None) -> tuple[list[str], bool]:
    """The QR slip (the profile's copies, or ``copies``; ``notes`` after the last field, a
    reprint's mark): the QR template's lines, through the printer as any slip, its faults included."""
    copies = terminal.cfg.receipt_copies if copies is None else copies
    slips = [render_slip(template(terminal), slip, copy, notes=notes) for copy in copies]
    return list(slips[0].lines), printer_job(terminal, slips)


__all__ = ["print_slip", "qr_order", "qr_refund", "qr_sale", "qr_void", "recover", "template"]
