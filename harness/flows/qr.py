"""Scan-to-pay (扫码支付) flows, both ways (docs/qr.md, ../shared/iso8583-cup-qr.md).

- C2B, ``qr_sale``: the test makes a payment code (``payment_code``: a code of a wallet's
  family, its outcome scripted at the host's test wallet), the bench's phone shows it and is
  held to the terminal's scanner (``present_payment_code``); the terminal decodes it and
  goes online, polling while the customer "types a password" on the phone.
- B2C, ``qr_order``: the terminal shows the host's order as a QR code on its screen; the
  display camera reads it (zxing-cpp), and the test pays it through the host's wallet control
  as the customer's wallet would (``pay_code_on_screen``).
- ``qr_void`` and ``qr_refund`` name the payment by its trace (or voucher and date).

Witnesses: the ECR answer, the host's journal (the payment's row, the query or wallet rows
that paid it) and the slip read by camera with the QR template (fixtures/receipts/cup-qr.yaml).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import cv2
import yaml

from devices import events
from devices.host.control import ControlError, HostControl
from devices.host.journal import JournalEntry
from devices.host.qr import wallet_call
from devices.payments import qr
from devices.phone import Phone
from devices.terminal.dialect import Response
from devices.terminal.driver import TerminalError
from harness import host_blame
from harness.flows.core import FlowError, TransactionResult, call, source
from harness.flows.receipt import _accepted, _check_reported, _inspect, _without_camera, tray_before
from harness.paths import REPO
from harness.receipts import PrintLimits, ReceiptReader, ReceiptTemplate, Witnesses
from harness.receipts.ocr import normalise
from harness.receipts.qr import read_qr
from harness.receipts.witness import BLANK
from harness.screen.witness import check_screen
from harness.station import Station, StationBroken

QR_TEMPLATE = REPO / "fixtures" / "receipts" / "cup-qr.yaml"
#: How long the display camera may take to show the order's code once the terminal has it.
CODE_ON_SCREEN_S = 20.0
_serials = itertools.count(int(time.time() * 1000) % 10**9 * 1000 + os.getpid() % 1000)


# -- the customer's side ------------------------------------------------------------------------

def _wallet(station: Station, **msg: Any) -> dict[str, Any]:
    """The host's test wallet, in this process or through its control socket."""
    link = station.host
    try:
        if link.host is not None:
            return wallet_call(link.host, msg)
        if link.control_path is None:
            raise StationBroken(f"{station.name}: the host runs in another process and the "
                                "inventory names no control socket (host.control) to reach its "
                                "test wallet through")
        op = msg.pop("op")
        return HostControl(link.control_path).wallet(op, **msg)
    except (ValueError, ControlError) as exc:  # WalletError, a refusal: the bench is wrong
        raise StationBroken(f"{station.name}: the host's test wallet: {exc}") from exc


def payment_code(station: Station, wallet: str = "03", outcome: str | None = None) -> str:
    """A new payment code of ``wallet``'s family (01 WeChat Pay, 02 Alipay, 03 UnionPay QR),
    with its outcome scripted at the host's wallet (approve, expired, decline:<rc>,
    pending:<s>:approve, pending:forever, ...; None: approve at once)."""
    code = qr.make_code(wallet, next(_serials))
    with events.step(source(station), "make a payment code", wallet=wallet,
                     code=qr.mask_code(code), outcome=outcome or "approve") as s:
        if outcome is not None:
            _wallet(station, op="code", code=code, outcome=outcome)
        s.result = qr.mask_code(code)
    return code


def present_payment_code(station: Station, phone: Phone, code: str) -> None:
    """The phone shows ``code`` (barcode and QR code) and is held to the terminal's scanner:
    by the card robot when the profile gives the phone's stand (``robot.phone``), else by its
    own holder."""
    with events.step(source(station), "present the payment code to the scanner",
                     code=qr.mask_code(code)) as s:
        phone.show_code(code)
        if station.profile.geometry.phone is not None:
            station.robot.present_phone()
            s.result = "held by the robot"
        else:
            phone.present()
            s.result = "held by its stand"


def withdraw_phone(station: Station, phone: Phone) -> None:
    """The phone away from the scanner (back on its dock when the robot holds it)."""
    if station.profile.geometry.phone is not None:
        if getattr(station.robot, "holding_phone", False):
            station.robot.return_phone()
    else:
        phone.withdraw()


def code_on_screen(station: Station, timeout: float = CODE_ON_SCREEN_S) -> str:
    """The QR code the terminal's screen shows, as the display camera decodes it."""
    screen = station.screen
    if screen is None:
        raise StationBroken(f"{station.name}: reading the code on the terminal's screen needs a "
                            "display camera (display: in the inventory)")
    with events.step(source(station), "read the code on the terminal's screen") as s:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen.read(timeout=max(0.5, deadline - time.monotonic()))
            frame = screen.last_frame
            if frame is None:
                continue
            gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            text = read_qr(gray)
            if text:
                s.result = text
                return text
        raise FlowError(f"{station.name}: the terminal's screen showed no readable QR code "
                        f"within {timeout:g} s (it said {screen.state or 'nothing known'})")


def pay_code_on_screen(station: Station, outcome: str = "approve", after_s: float = 0,
                       timeout: float = CODE_ON_SCREEN_S) -> str:
    """The customer's wallet scans the code the terminal shows and pays it (or declines it,
    ``decline:<rc>``; ``after_s``: the customer's password takes that long). Returns the order."""
    text = code_on_screen(station, timeout)
    order = qr.order_from_url(text)
    if order is None:
        raise FlowError(f"{station.name}: the screen's code {text[:80]!r} is not an order of this "
                        "host (https://qr.posrig.test/o/<order>)")
    with events.step(source(station), "the customer's wallet pays the code", order=order,
                     outcome=outcome, after_s=after_s) as s:
        answer = _wallet(station, op="pay", order=order, outcome=outcome, after_s=after_s)
        s.result = answer.get("state")
    if answer.get("refused"):
        raise FlowError(f"{station.name}: the host refused the payment of order {order}: it is "
                        f"{str(answer.get('state')).lower()}")
    return order


# -- the terminal's side -------------------------------------------------------------------------

def _result(station: Station, flow: str, kind: str, amount: int, response: Any, tray: Any,
            since: host_blame.JournalMark) -> TransactionResult:
    """The answer as a result; a terminal that blames the host (no answer, a bad one) is
    judged by the host's journal (harness/host_blame.py). A decline is compared with the
    journal by ``check_qr_witnesses``, which knows the queries that may have brought it."""
    if response.data.get("reason") in host_blame.NO_ANSWER | host_blame.BAD_ANSWER:
        host_blame.check(station, flow, response.status, response.data, since)
    return TransactionResult.from_response(kind, amount, response, tray=tray)


@dataclass
class Started:
    """A scan sale or an order the terminal is working on: what finishing it needs."""

    flow: str  # qr_sale | qr_order
    amount: int
    pending: Any  # the driver's Pending
    tray: Any
    since: host_blame.JournalMark
    early: Response | None = None  # the answer, when the terminal refused before asking


def start_qr_sale(station: Station, amount: int) -> Started:
    """Start a C2B sale: the terminal asks for the customer's payment code (``scan_code``)."""
    station.check_usable()
    tray, since = tray_before(station), host_blame.mark(station)
    with events.step(source(station), f"start a scan sale of {amount / 100:.2f}") as s:
        pending = station.terminal.send("qr_sale", amount=amount)
        step = station.terminal.prompt_or_response(pending, ("scan_code",))
        early = step if isinstance(step, Response) else None
        s.result = "refused: " + str(early.data.get("reason")) if early else "waiting for a code"
    return Started("qr_sale", amount, pending, tray, since, early)


def start_qr_order(station: Station, amount: int) -> Started:
    """Start a B2C order: the terminal gets the order from the host and shows its code."""
    station.check_usable()
    tray, since = tray_before(station), host_blame.mark(station)
    with events.step(source(station), f"start an order of {amount / 100:.2f} by code"):
        pending = station.terminal.send("qr_order", amount=amount)
    return Started("qr_order", amount, pending, tray, since)


def finish(station: Station, started: Started) -> TransactionResult:
    """The terminal's answer to a started scan sale or order (it may poll for its whole
    window first), judged as any online flow's answer."""
    window = 60 if started.flow == "qr_sale" else 90
    with station.strategy.watch(), events.step(source(station), f"the terminal's answer to the "
                                               f"{started.flow.replace('_', ' ')}") as s:
        response = started.early or _answer(station, started.pending, window)
        s.result = f"{response.status} rc={response.data.get('rc')} {response.data.get('reason') or ''}"
    flow = "sale" if started.flow == "qr_sale" else "qr_order"
    return _result(station, flow, "sale", started.amount, response, started.tray, started.since)


def qr_sale(station: Station, amount: int, code: str, phone: Phone) -> TransactionResult:
    """A C2B sale: the phone shows ``code`` to the scanner; the terminal's answer (it may poll
    for up to its C2B window while the wallet waits for the customer)."""
    started = start_qr_sale(station, amount)
    try:
        if started.early is None:
            present_payment_code(station, phone, code)
        return finish(station, started)
    finally:
        withdraw_phone(station, phone)


def qr_order(station: Station, amount: int, *, pay: str | None = "approve", after_s: float = 0
             ) -> TransactionResult:
    """A B2C order: the terminal shows its code; with ``pay`` the customer's wallet pays it
    (``approve``, ``decline:<rc>``); ``pay=None`` leaves it unpaid until the terminal gives up."""
    started = start_qr_order(station, amount)
    if pay is not None:
        pay_code_on_screen(station, pay, after_s)
    else:
        code_on_screen(station)  # shown, and the customer walks away
    return finish(station, started)


def qr_void(station: Station, original: TransactionResult) -> TransactionResult:
    """Void the QR payment ``original`` (same batch, full amount)."""
    station.check_usable()
    tray = tray_before(station)
    since = host_blame.mark(station)
    with events.step(source(station), f"void of QR trace {original.trace}") as s:
        response = call(station, "qr_void", trace=original.trace,
                        timeout=station.profile.response_timeout)
        s.result = f"{response.status} rc={response.data.get('rc')}"
    return _result(station, "void", "void", original.amount, response, tray, since)


def qr_refund(station: Station, original: TransactionResult, amount: int | None = None, *,
              by_voucher: bool = False) -> TransactionResult:
    """Give back ``amount`` (all by default) of ``original``: by its trace, or ``by_voucher``
    (its voucher and date, as its slip prints them)."""
    station.check_usable()
    amount = original.amount if amount is None else amount
    where: dict[str, Any] = ({"voucher": original.raw.get("voucher"),
                              "orig_date": original.raw.get("host_date")} if by_voucher
                             else {"orig_trace": original.trace})
    tray = tray_before(station)
    since = host_blame.mark(station)
    with events.step(source(station), f"refund {amount / 100:.2f} of QR trace {original.trace}",
                     **where) as s:
        response = call(station, "qr_refund", amount=amount,
                        timeout=station.profile.response_timeout, **where)
        s.result = f"{response.status} rc={response.data.get('rc')}"
    return _result(station, "refund", "refund", amount, response, tray, since)


def _answer(station: Station, pending: Any, window_s: float) -> Response:
    """The terminal's answer, waited for as long as its polling window, its queries and a
    reversal may take beyond the profile's response timeout; none is a terminal defect."""
    try:
        return pending.result(station.profile.response_timeout + window_s + 30)
    except TerminalError as exc:
        raise FlowError(str(exc)) from exc


# -- witnesses --------------------------------------------------------------------------------------

def journaled_payment(station: Station, result: TransactionResult) -> tuple[JournalEntry, JournalEntry]:
    """(the row of the message that started or made ``result``, the row that brought its 00):
    for a payment paid by a later query, that query's row; otherwise the same row twice."""
    rows = station.host.entries(station.tid)
    trace = f"{result.trace:06d}" if result.trace is not None else None
    kinds = {"sale": ("sale", "qr_order"), "void": ("void",), "refund": ("refund",)}[result.kind]
    start = next((r for r in reversed(rows) if r.kind in kinds and r.stan == trace
                  and r.entry_mode == "qr"), None)
    if start is None:
        raise FlowError(f"{station.name}: the host journaled no QR {result.kind} with trace "
                        f"{result.trace}; the terminal reported {result.status} rc={result.rc}")
    paid = start
    if start.rc != "00":
        paid = next((r for r in reversed(rows) if r.kind == "qr_query" and r.orig_stan == trace
                     and r.orig_batch == start.batch and r.rc == "00"), start)
    return start, paid


def check_qr_witnesses(station: Station, result: TransactionResult) -> JournalEntry:
    """The terminal's answer and the host's journal tell one story of a QR payment, void or
    refund: code, amount, batch, reference, authorisation, voucher, order, wallet, and the
    payment's state. Returns the journal's row as the slip check uses it."""
    with events.step(source(station), f"compare the terminal's QR {result.kind} with the host's "
                     "journal", trace=result.trace) as s:
        start, paid = journaled_payment(station, result)
        approved = result.status == "approved"
        d = result.raw
        pairs = [
            ("response code", paid.rc if approved else start.rc, result.rc),
            ("amount (fen)", start.amount, result.amount),
            ("payment code", start.pan_masked or None, result.card),
            ("batch", int(start.batch) if start.batch else None, result.batch),
            ("reference number", start.rrn if approved else None, result.rrn if approved else None),
            ("authorisation code", paid.auth_code if approved else None,
             result.auth_code if approved else None),
            ("payment voucher", (paid.qr_voucher or start.qr_voucher) if approved else None,
             d.get("voucher") if approved else None),
            ("order", start.qr_order if result.kind == "sale" else None,
             d.get("order") if result.kind == "sale" else None),
        ]
        wrong = [f"{what}: host {host!r}, terminal {term!r}" for what, host, term in pairs if host != term]
        if approved and start.state not in ("approved", "voided", "refunded", "part_refunded"):
            wrong.append(f"state: the host's row says {start.state!r} for an approved payment")
        s.attach("witnesses", "\n".join(f"{w}: host={h!r} terminal={t!r}" for w, h, t in pairs))
        if wrong:
            raise FlowError(f"{station.name}: the witnesses of QR {result.kind} trace {result.trace} "
                            "disagree: " + "; ".join(wrong))
        s.result = "agree"
    return replace(start, kind=result.kind, rc=paid.rc, auth_code=paid.auth_code,
                   qr_voucher=paid.qr_voucher or start.qr_voucher, wallet=paid.wallet or start.wallet)


def check_qr_reversed(station: Station, result: TransactionResult) -> JournalEntry:
    """A QR payment the terminal gave up on: the host reversed it (nothing taken) and
    journaled the terminal's reversal."""
    with events.step(source(station), f"the host undid QR {result.kind} trace {result.trace}") as s:
        start, _ = journaled_payment(station, result)
        trace = f"{result.trace:06d}"
        reversals = [r for r in station.host.entries(station.tid, "reversal")
                     if r.orig_stan == trace and r.orig_batch == start.batch]
        if not reversals:
            raise FlowError(f"{station.name}: no reversal of QR trace {result.trace} reached the host")
        if start.state not in ("reversed", "closed"):
            raise FlowError(f"{station.name}: QR trace {result.trace} is {start.state!r} at the host "
                            "after the terminal reversed it")
        s.result = f"{start.state}; reversal reason {reversals[-1].note}"
    return start


@cache
def _qr_template_data() -> dict[str, Any]:
    return yaml.safe_load(QR_TEMPLATE.read_text(encoding="utf-8"))


_QR_READERS: dict[Any, ReceiptReader] = {}


def _qr_reader(station: Station) -> ReceiptReader:
    key = station.profile.source
    if key not in _QR_READERS:
        template = ReceiptTemplate.from_dict(_qr_template_data(), str(QR_TEMPLATE))
        _QR_READERS[key] = ReceiptReader(template, PrintLimits.from_profile(station.profile.source))
    return _QR_READERS[key]


def check_qr_receipt(station: Station, result: TransactionResult, host: JournalEntry) -> dict[str, str]:
    """The QR slip, read by camera with the QR template, agrees with the ECR answer, the
    host's journal (``host``: ``check_qr_witnesses``' row) and the station: the masked code
    (blank for a B2C order), the order, the wallet, the voucher, amounts, numbers, time."""
    if not result.raw.get("printed"):
        raise FlowError(f"{station.name}: the terminal printed no slip for QR {result.kind} "
                        f"trace {result.trace}")
    d = result.raw
    wallet = qr.WALLETS.get(d.get("wallet") or "", "")
    given: dict[str, Any] = {
        "voucher": d.get("voucher") or BLANK, "order": d.get("order") or BLANK,
        "wallet": " ".join(normalise(wallet).split()) if wallet else BLANK,
    }
    for key, value in (("card_number", result.card), ("auth_code", result.auth_code),
                       ("rrn", result.rrn)):
        if not value:  # a B2C order has no code, a refund no authorisation: printed blank
            given[key] = BLANK
    witnesses = replace(Witnesses.of(result, host, station.profile, station.tid), given=given)
    reader = _qr_reader(station)
    what = f"QR {result.kind} slip of trace {result.trace}"
    if getattr(station, "camera", None) is None:
        _without_camera(station, what)
        return _check_reported(station, reader, witnesses, tuple(result.receipt), what)
    return _accepted(station, _inspect(station, reader, witnesses, result.tray,
                                       f"check the {what} by camera", trace=result.trace), what)


def check_qr_payment(station: Station, result: TransactionResult) -> JournalEntry:
    """Every witness of a QR payment, void or refund: the ECR answer against the host's
    journal, the slip by camera (approvals print one), and the screen's outcome."""
    row = check_qr_witnesses(station, result)
    if result.approved:
        check_qr_receipt(station, result, row)
    if station.screen is not None:
        check_screen(station.screen, result)
    return row


__all__ = [
    "Started", "check_qr_payment", "check_qr_receipt", "check_qr_reversed", "check_qr_witnesses",
    "code_on_screen",
    "finish", "journaled_payment", "pay_code_on_screen", "payment_code", "present_payment_code",
    "qr_order", "qr_refund", "qr_sale", "qr_void", "start_qr_order", "start_qr_sale",
    "withdraw_phone",
]
