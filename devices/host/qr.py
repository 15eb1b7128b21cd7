"""The host's QR flows (iso8583-cup-qr.md §3): C2B scan sale, B2C order create and result
query, QR void, QR refund, the reversal of a QR message, and what settlement must do first.

:func:`register` puts them in the host's dispatch tables; the server calls it once at start
(nothing here registers itself on import). QR messages are told from card messages by DE22
starting ``03`` on the codes they share with cards (sale, void, refund, reversal) and by their
own codes (700000, 730000). Each exchange is one journal row, as card exchanges are:

==========  =================  ===========================================================
row kind    message            state
==========  =================  ===========================================================
sale        C2B sale 0200      approved (00), pending (FD), then approved / closed /
                               declined / reversed / voided as the payment moves
qr_order    B2C create 0200    pending (FD), then as above
qr_query    result query 0200  the payment's state when answered
void        QR void 0200       approved / declined / reversed
refund      QR refund 0220     approved / declined
reversal    0400               undone / acknowledged (as for cards)
wallet      (control, no 8583) paid / cancelled / refused: the customer's side
==========  =================  ===========================================================

QR rows carry ``entry_mode`` ``qr``, the masked payment code in ``pan_masked`` (C2B), and the
order (``Q1``), voucher (``A4``) and wallet (``Q3``) in their own columns. A payment becomes a
sale in the host's ledger when it is paid (scheme CUP: QR counts as domestic, §6), so
settlement totals count it like a card sale; QR voids and refunds are credits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from devices.host import settle_handlers
from devices.host.core import HANDLERS, Ctx, Decline, HostCore
from devices.host.qr_book import (
    ORDER_LIFE,
    REFUND_DAYS,
    QrBook,
    QrPayment,
    WalletError,
    book_of,
    check_outcome,
)
from devices.host.sale_handlers import FINANCIAL, booking_key, check_amount
from devices.host.state import Txn
from devices.payments import messages as m
from devices.payments import qr

#: Card fields a QR message must not carry (§2): DE2 on a 03x message is 30.
_CARD_FIELDS = ("2", "14", "23", "26", "35", "36", "52", "53", "55")
ACQUIRER_ID = "00010000"


def is_qr(ctx: Ctx) -> bool:
    return ctx.req.get("22", "")[:2] == "03"


# -- shared checks ------------------------------------------------------------------------------

def _begin(core: HostCore, ctx: Ctx, kind: str) -> tuple[Any, QrBook]:
    ctx.kind = kind
    ctx.echo("3", "4", "11", "25", "41", "42", "49", "60")
    term = core.require_terminal(ctx)
    core.verify_mac(ctx, term)
    ctx.row["entry_mode"] = "qr"
    card = [f for f in _CARD_FIELDS if f in ctx.req]
    if card:
        raise Decline("30", f"a QR message (DE22 {ctx.req.get('22')}) carries card field(s) "
                            f"DE{', DE'.join(card)}")
    if ctx.req.get("22") not in qr.ENTRY_QR_ACCEPTED:
        raise Decline("30", f"DE22 {ctx.req.get('22')!r}: a QR message says 032 (or 031)")
    return term, book_of(core)


def _items(ctx: Ctx, *need: str) -> dict[str, str]:
    try:
        items = qr.parse_tlv(ctx.req.get("59", ""))
    except qr.Tlv59Error as exc:
        raise Decline("30", str(exc)) from None
    for tag in need:
        if not items.get(tag):
            raise Decline("30", f"DE59 lacks {tag}")
        cap = qr.TAG_CAPS.get(tag)
        if cap is not None and len(items[tag]) > cap:
            raise Decline("30", f"DE59 {tag} is {len(items[tag])} bytes; at most {cap}")
    return items


def _check_a2(items: dict[str, str]) -> None:
    """Presence and lengths of the terminal information (the SN cipher is not verified:
    the profile's ``verify_sn_cipher`` is off in posrig's host)."""
    try:
        a2 = qr.parse_tlv(items["A2"])
    except qr.Tlv59Error as exc:
        raise Decline("30", f"A2: {exc}") from None
    for sub, size in (("01", 2), ("02", None), ("03", None), ("04", 8)):
        value = a2.get(sub)
        if not value or (size is not None and len(value) != size):
            raise Decline("30", f"A2 sub-item {sub} missing or of the wrong length")


def _answer_payment(ctx: Ctx, p: QrPayment, *, voucher_first: bool = True) -> None:
    """The fields of a 00 about payment ``p`` (sale, create or query answer)."""
    assert p.paid_at is not None
    ctx.resp["12"], ctx.resp["13"] = f"{p.paid_at:%H%M%S}", f"{p.paid_at:%m%d}"
    ctx.resp["15"] = f"{p.paid_at:%m%d}"
    ctx.resp["32"] = ACQUIRER_ID
    ctx.resp["37"] = p.rrn
    ctx.resp["38"] = p.auth_code or ""
    ctx.resp["59"] = qr.encode_tlv([("A4", p.voucher or ""), ("Q1", p.order),
                                    ("Q3", p.wallet or "03")])
    ctx.echo("42")
    ctx.row.update(rrn=p.rrn, auth_code=p.auth_code, qr_voucher=p.voucher, wallet=p.wallet,
                   scheme="CUP")


def _answer_pending(ctx: Ctx, p: QrPayment, *, with_url: bool = False) -> None:
    ctx.resp["37"] = p.rrn
    items = [("Q1", p.order)] + ([("Q2", qr.order_url(p.order))] if with_url else [])
    ctx.resp["59"] = qr.encode_tlv(items)
    ctx.row.update(rrn=p.rrn, state="pending")
    raise Decline(qr.RC_PENDING, "payment in progress: the terminal polls")


def _answer_state(ctx: Ctx, p: QrPayment) -> None:
    """Answer with what ``p`` is now: 00 (paid, voided or refunded: the payment's data),
    FD (pending), FE (closed or reversed) or the wallet's decline."""
    ctx.row["qr_order"] = p.order
    if p.state in ("PAID", "VOIDED", "PART_REFUNDED", "REFUNDED"):
        _answer_payment(ctx, p)
        ctx.row["state"] = p.state.lower()
        return
    if p.state == "PENDING":
        _answer_pending(ctx, p)
    if p.state in ("CLOSED", "REVERSED"):
        ctx.row["state"] = p.state.lower()
        raise Decline(qr.RC_CLOSED, f"order {p.order} is {p.state.lower()}")
    ctx.row["state"] = "declined"
    raise Decline(p.decline_rc or "05", f"the wallet declined order {p.order}")


# -- the payment's life ---------------------------------------------------------------------------

def refresh(core: HostCore, p: QrPayment, now: datetime) -> None:
    """Let time act on ``p``: a planned outcome that is due, or the order's end of life."""
    with book_of(core).lock:
        if p.state != "PENDING":
            return
        if p.resolve_at is not None and now >= p.resolve_at:
            outcome, at = p.resolve_to or "approve", p.resolve_at
            if at < p.started + ORDER_LIFE:
                resolve(core, p, outcome, max(at, p.started))
                return
        if now >= p.started + ORDER_LIFE:
            close(core, p, "order life of 120 s ended unpaid")


def resolve(core: HostCore, p: QrPayment, outcome: str, at: datetime) -> None:
    """The wallet's decision takes effect: paid (a sale in the ledger) or declined."""
    book = book_of(core)
    if outcome == "approve":
        p.state, p.paid_at = "PAID", at
        p.voucher = book.next_voucher(at, core._worker)
        p.auth_code = core.next_auth_code()
        p.wallet = p.wallet or "03"
        book.by_voucher[p.voucher] = p
        p.txn = Txn(key=p.key, kind="sale", amount=p.amount, account=None,  # type: ignore[arg-type]
                    rrn=p.rrn, auth_code=p.auth_code, journal_id=p.journal_id, ic=False,
                    scheme="CUP", pan_masked=p.code_masked or "", pc=_pc_of(p))
        core.ledger[p.key] = p.txn
        _set_row(core, p.journal_id, "approved")
    else:
        p.state, p.decline_rc = "DECLINED", outcome.rpartition(":")[2]
        _set_row(core, p.journal_id, "declined")
    p.resolve_at = p.resolve_to = None


def close(core: HostCore, p: QrPayment, why: str) -> None:
    p.state = "CLOSED"
    p.resolve_at = p.resolve_to = None
    p.events.append(why)
    _set_row(core, p.journal_id, "closed")


def _set_row(core: HostCore, entry_id: int, state: str) -> None:
    if entry_id:
        core.journal.set_state(entry_id, state)


def _pc_of(p: QrPayment) -> str:
    return m.PC_SALE if p.flow == "c2b" else qr.PC_QR_ORDER


def _bind(ctx: Ctx, p: QrPayment) -> None:
    def bind(entry_id: int) -> None:
        p.journal_id = entry_id
        if p.txn is not None:
            p.txn.journal_id = entry_id
    ctx.after.append(bind)


# -- C2B scan sale (§3.2) --------------------------------------------------------------------------

def c2b_sale(core: HostCore, ctx: Ctx) -> None:
    term, book = _begin(core, ctx, "sale")
    amount = check_amount(ctx)
    items = _items(ctx, "A2", "A3")
    _check_a2(items)
    code = items["A3"]
    ctx.row["pan_masked"] = qr.mask_code(code)
    key = booking_key(core, ctx, term)
    if key in book.payments:
        raise Decline("94", f"trace {key[2]} of batch {key[1]} was already used")
    wallet = qr.wallet_of(code)
    if wallet is None:
        raise Decline("14", "payment code is not digits of a known wallet's family")
    outcome = book.take_code_outcome(code)
    if outcome == "14":  # unknown_code: 14 -- a code no script names is refused, not burnt
        raise Decline("14", "no wallet script for this payment code (unknown_code: 14)")
    with book.lock:
        book.burnt.add(code)
    if outcome in ("used", "expired"):
        raise Decline("54", "payment code already used" if outcome == "used" else
                      "payment code expired (wallet script)")
    ctx.row["wallet"] = wallet
    p = _start(core, ctx, term.tid, "c2b", amount, code_masked=qr.mask_code(code), wallet=wallet)
    book.plan(p, outcome, ctx.now)
    refresh(core, p, ctx.now)
    _after_start(ctx, p)


def _start(core: HostCore, ctx: Ctx, tid: str, flow: str, amount: int, **kw: Any) -> QrPayment:
    book = book_of(core)
    key = (tid, ctx.req["60"][2:8], ctx.req["11"])
    p = QrPayment(key=key, mid=ctx.req.get("42", ""), flow=flow, amount=amount,
                  order=qr.order_number(ctx.now, tid, ctx.req["11"]),
                  rrn=core.next_rrn(ctx.now), started=ctx.now, **kw)
    book.add(p)
    ctx.row.update(qr_order=p.order, scheme="CUP")  # domestic whatever the wallet (§6)
    _bind(ctx, p)
    return p


def _after_start(ctx: Ctx, p: QrPayment) -> None:
    if p.state == "PAID":
        _answer_payment(ctx, p)
        ctx.row["state"] = "approved"
        ctx.row["qr_order"] = p.order
        return
    if p.state == "DECLINED":
        ctx.row["state"] = "declined"
        raise Decline(p.decline_rc or "05", "the wallet declined the payment")
    _answer_pending(ctx, p, with_url=p.flow == "b2c")


# -- B2C order (§3.3) ------------------------------------------------------------------------------

def create_order(core: HostCore, ctx: Ctx) -> None:
    term, book = _begin(core, ctx, "qr_order")
    amount = check_amount(ctx)
    items = _items(ctx, "A2")
    _check_a2(items)
    booking_key(core, ctx, term)
    key = (term.tid, ctx.req["60"][2:8], ctx.req["11"])
    if key in book.payments:
        raise Decline("94", f"trace {key[2]} of batch {key[1]} was already used")
    p = _start(core, ctx, term.tid, "b2c", amount)
    outcome = book.take_order_outcome(amount)
    if outcome is not None:
        book.plan(p, outcome, ctx.now)
        p.events.append(f"scripted {outcome}")
        if outcome.startswith("pending:"):  # the customer takes a while: FD now whatever
            _answer_pending(ctx, p, with_url=True)
    refresh(core, p, ctx.now)
    _after_start(ctx, p)


def query(core: HostCore, ctx: Ctx) -> None:
    term, book = _begin(core, ctx, "qr_query")
    ctx.need("11", "60", "61")
    de61 = ctx.req["61"]
    if len(de61) != 16 or not de61.isdigit():
        raise Decline("30", f"query DE61 must be original batch + STAN + MMDD (16 digits), "
                            f"got {len(de61)}")
    key = (term.tid, de61[:6], de61[6:12])
    ctx.row.update(orig_batch=key[1], orig_stan=key[2])
    items = _items(ctx)
    p = book.payments.get(key)
    if p is None:
        raise Decline("25", f"no QR payment with batch {key[1]} STAN {key[2]}")
    if items.get("Q1") and items["Q1"] != p.order:
        raise Decline("25", f"Q1 {items['Q1']} is not the order of batch {key[1]} STAN {key[2]}")
    if "4" in ctx.req and ctx.req["4"].isdigit():
        ctx.row["amount"] = int(ctx.req["4"])
    refresh(core, p, ctx.now)
    with book.lock:
        _answer_state(ctx, p)


# -- QR void (§3.4) and refund (§3.5) -------------------------------------------------------------

def _payment_by_voucher(book: QrBook, ctx: Ctx, items: dict[str, str]) -> QrPayment:
    p = book.by_voucher.get(items["A4"])
    if p is None or p.mid != ctx.req.get("42") or \
            (ctx.req["t"] == "0200" and p.key[0] != ctx.req.get("41")):
        raise Decline("25", "payment voucher (A4) unknown here")
    ctx.row.update(pan_masked=p.code_masked, qr_order=p.order, qr_voucher=p.voucher,
                   wallet=p.wallet, scheme="CUP")
    return p


def qr_void(core: HostCore, ctx: Ctx) -> None:
    term, book = _begin(core, ctx, "void")
    amount = check_amount(ctx)
    ctx.need("61")
    items = _items(ctx, "A4")
    with book.lock:
        p = _payment_by_voucher(book, ctx, items)
        ctx.row.update(orig_batch=p.key[1], orig_stan=p.key[2])
        key = booking_key(core, ctx, term)
        if p.state != "PAID":
            raise Decline("12", f"the payment is {p.state.lower()}: only a paid one is voided")
        if p.key[1] != ctx.req["60"][2:8] or p.key[1] in term.settled_batches:
            raise Decline("12", f"the payment is of batch {p.key[1]}: refund it instead")
        if amount != p.amount:
            raise Decline("13", f"void amount {amount} differs from the payment's {p.amount}")
        txn = Txn(key=key, kind="void", amount=amount, account=None,  # type: ignore[arg-type]
                  rrn=core.next_rrn(ctx.now), auth_code=p.auth_code or "", journal_id=0, ic=False,
                  scheme="CUP", pan_masked=p.code_masked or "", pc=m.PC_VOID, original=p.key)
        core.ledger[key] = txn
        assert p.txn is not None
        p.txn.voided_by = key
        p.state = "VOIDED"
    ctx.resp["37"], ctx.resp["38"] = txn.rrn, txn.auth_code
    ctx.resp["59"] = qr.encode_tlv([("A4", p.voucher or "")])
    ctx.echo("42")
    ctx.row.update(rrn=txn.rrn, auth_code=txn.auth_code, state="approved")
    entry = p.journal_id

    def bind(entry_id: int) -> None:
        txn.journal_id = entry_id
        _set_row(core, entry, "voided")
    ctx.after.append(bind)


def qr_refund(core: HostCore, ctx: Ctx) -> None:
    term, book = _begin(core, ctx, "refund")
    amount = check_amount(ctx)
    ctx.need("61")
    items = _items(ctx, "A4")
    key = (term.tid, ctx.req["60"][2:8], ctx.req["11"])
    fingerprint = (items["A4"], amount)
    with book.lock:
        seen = book.refund_answers.get(key)
        if seen is not None:
            if seen[0] != fingerprint:
                raise Decline("94", f"trace {key[2]} of batch {key[1]} was used for another refund")
            ctx.resp.update(seen[1])
            ctx.row.update(state="repeat", note="repeat of an answered refund: same answer")
            return
        p = _payment_by_voucher(book, ctx, items)
        ctx.row.update(orig_batch=p.key[1], orig_stan=p.key[2], orig_rrn=p.rrn)
        key = booking_key(core, ctx, term)
        if p.state not in ("PAID", "PART_REFUNDED"):
            raise Decline("12", f"the payment is {p.state.lower()}: nothing to refund")
        assert p.paid_at is not None
        if ctx.now - p.paid_at > timedelta(days=REFUND_DAYS):
            raise Decline("22", f"the payment is over {REFUND_DAYS} days old")
        left = p.amount - p.refunded
        if amount > left:
            raise Decline("13", f"refund of {amount} fen exceeds the {left} fen left")
        p.refunded += amount
        p.state = "REFUNDED" if p.refunded == p.amount else "PART_REFUNDED"
        txn = Txn(key=key, kind="refund", amount=amount, account=None,  # type: ignore[arg-type]
                  rrn=core.next_rrn(ctx.now), auth_code="", journal_id=0, ic=False, scheme="CUP",
                  pan_masked=p.code_masked or "", pc=m.PC_VOID, original=p.key)
        core.ledger[key] = txn
        ctx.resp["37"] = txn.rrn
        ctx.resp["59"] = qr.encode_tlv([("A4", p.voucher or "")])
        ctx.echo("42")
        ctx.resp["39"] = "00"
        book.refund_answers[key] = (fingerprint, {k: v for k, v in ctx.resp.items()
                                                  if k not in ("t", "64")})
    ctx.row.update(rrn=txn.rrn, state="approved")

    def bind(entry_id: int) -> None:
        txn.journal_id = entry_id
    ctx.after.append(bind)


# -- reversal (§3.6) --------------------------------------------------------------------------------

def qr_reversal(core: HostCore, ctx: Ctx) -> None:
    ctx.kind = "reversal"
    ctx.echo("3", "4", "11", "25", "41", "42", "49", "60")
    term = core.require_terminal(ctx)
    core.verify_mac(ctx, term)
    ctx.need("3", "11", "39", "60")
    ctx.row["entry_mode"] = "qr"
    reason = ctx.req["39"]
    if reason not in ("98", "A0", "06"):
        raise Decline("30", f"reversal reason {reason!r}: must be 98, A0 or 06")
    amount = int(ctx.req["4"]) if ctx.req.get("4", "").isdigit() else 0
    key = (term.tid, ctx.req["60"][2:8], ctx.req["11"])
    ctx.row.update(amount=amount, orig_batch=key[1], orig_stan=key[2])
    why = f"reason {reason}"
    book = book_of(core)
    with book.lock:
        p = book.payments.get(key)
        if p is not None and p.amount == amount and _pc_of(p) == ctx.req["3"]:
            ctx.row.update(pan_masked=p.code_masked, qr_order=p.order, qr_voucher=p.voucher)
            _reverse_payment(core, ctx, p, why)
            return
        txn = core.ledger.get(key)
        if txn is not None and txn.kind == "void" and txn.pc == ctx.req["3"] \
                and txn.amount == amount and txn.original in book.payments:
            _reverse_void(core, ctx, txn, book.payments[txn.original], why)
            return
    ctx.row.update(state="acknowledged", note=f"{why}; unknown original: nothing to undo")


def _reverse_payment(core: HostCore, ctx: Ctx, p: QrPayment, why: str) -> None:
    refresh(core, p, ctx.now)
    if p.state == "PENDING":
        close(core, p, "reversed while pending")
        p.state = "REVERSED"
        _set_row(core, p.journal_id, "reversed")
        ctx.row.update(state="undone", note=f"{why}; pending order {p.order} closed")
    elif p.state == "PAID":
        if p.key[1] in core.terminals[p.key[0]].settled_batches:
            raise Decline("12", f"{why}; the payment's batch {p.key[1]} is settled")
        p.state = "REVERSED"
        assert p.txn is not None
        p.txn.state = "reversed"
        _set_row(core, p.journal_id, "reversed")
        ctx.row.update(state="undone", note=f"{why}; payment {p.rrn} given back to the wallet")
    elif p.state in ("VOIDED", "PART_REFUNDED", "REFUNDED"):
        ctx.row.update(state="anomaly", note=f"{why}; the payment was {p.state.lower()} since: "
                                             "nothing changed")
    else:
        ctx.row.update(state="acknowledged", note=f"{why}; payment already {p.state.lower()}")


def _reverse_void(core: HostCore, ctx: Ctx, void: Txn, p: QrPayment, why: str) -> None:
    if void.state == "reversed":
        ctx.row.update(state="acknowledged", note=f"{why}; repeat: void already reversed")
        return
    void.state = "reversed"
    _set_row(core, void.journal_id, "reversed")
    if p.txn is not None and p.txn.voided_by == void.key:
        p.txn.voided_by = None
    if p.state == "VOIDED":
        p.state = "PAID"
        _set_row(core, p.journal_id, "approved")
    ctx.row.update(state="undone", note=f"{why}; QR void {void.rrn} undone: the payment stands",
                   pan_masked=p.code_masked, qr_voucher=p.voucher)


# -- the wallet's control (§8): the customer's side, outside 8583 -----------------------------------

def _wallet_order(core: HostCore, order: str, now: datetime) -> QrPayment:
    """The payment of ``order``, brought up to ``now`` (the book's lock held by the caller)."""
    p = book_of(core).by_order.get(order)
    if p is None:
        raise WalletError(f"no order {order!r} at this host")
    refresh(core, p, now)
    return p


def _wallet_row(p: QrPayment, order: str, now: datetime) -> dict[str, Any]:
    """The journal row every wallet action on ``order`` starts from."""
    return {"kind": "wallet", "tid": p.key[0], "mid": p.mid, "stan": p.key[2], "batch": p.key[1],
            "amount": p.amount, "qr_order": order, "at": now.isoformat(timespec="milliseconds"),
            "entry_mode": "qr"}


def wallet_pay(core: HostCore, order: str, outcome: str = "approve", after_s: float = 0) -> dict:
    """The customer's wallet scanned order ``order`` and pays it (or declines, or takes
    ``after_s`` seconds for a password). Refused for an order that is closed or reversed."""
    check_outcome(outcome)
    if outcome not in ("approve",) and not outcome.startswith("decline:"):
        raise WalletError(f"pay takes approve or decline:<rc>, got {outcome!r}")
    if not 0 <= after_s <= 600:
        raise WalletError(f"after_s must be 0..600 seconds, got {after_s}")
    now = core.config.clock()
    book = book_of(core)
    with book.lock:
        p = _wallet_order(core, order, now)
        row = _wallet_row(p, order, now)
        if p.state != "PENDING":
            core.journal.add({**row, "state": "refused", "rc": qr.RC_CLOSED,
                              "note": f"pay {outcome}: the order is {p.state.lower()}"})
            core.journal.flush()
            return {"state": p.state, "refused": True}
        book.plan(p, outcome, now + timedelta(seconds=after_s))
        refresh(core, p, now)
        core.journal.add({**row, "state": "paying" if p.state == "PENDING" else p.state.lower(),
                          "note": f"pay {outcome}" + (f" after {after_s:g} s" if after_s else ""),
                          "qr_voucher": p.voucher, "wallet": p.wallet})
        core.journal.flush()
        return {"state": p.state, "refused": False, "voucher": p.voucher}


def wallet_cancel(core: HostCore, order: str) -> dict:
    now = core.config.clock()
    book = book_of(core)
    with book.lock:
        p = _wallet_order(core, order, now)
        refused = p.state != "PENDING"
        if not refused:
            close(core, p, "cancelled by the customer")
        core.journal.add({**_wallet_row(p, order, now),
                          "state": "refused" if refused else "cancelled", "note": "cancel"})
        core.journal.flush()
        return {"state": p.state, "refused": refused}


def wallet_command(core: HostCore, msg: dict[str, Any]) -> dict[str, Any]:
    """The control channel's ``wallet`` command: ``{"cmd": "wallet", "op": ...}`` with op
    ``code`` (code, outcome), ``order`` (outcome[, amount]), ``pay`` (order[, outcome,
    after_s]), ``cancel`` (order), ``clear``, ``orders`` (tid)."""
    op = msg.get("op")
    book = book_of(core)
    if op == "code":
        book.script_code(str(msg["code"]), str(msg["outcome"]))
        return {}
    if op == "order":
        amount = msg.get("amount")
        book.script_order(str(msg["outcome"]), amount=None if amount is None else int(amount))
        return {}
    if op == "pay":
        return wallet_pay(core, str(msg["order"]), str(msg.get("outcome", "approve")),
                          float(msg.get("after_s", 0)))
    if op == "cancel":
        return wallet_cancel(core, str(msg["order"]))
    if op == "clear":
        book.clear()
        return {}
    if op == "orders":
        now = core.config.clock()
        with book.lock:
            found = []
            for p in book.payments.values():
                if msg.get("tid") in (None, p.key[0]):
                    refresh(core, p, now)
                    found.append({"order": p.order, "state": p.state, "amount": p.amount,
                                  "batch": p.key[1], "stan": p.key[2], "voucher": p.voucher})
        return {"orders": found}
    raise WalletError(f"unknown wallet op {op!r}: code, order, pay, cancel, clear, orders")


# -- settlement: pending orders of the batch close first ----------------------------------------

def close_pending(core: HostCore, tid: str, batch: str, now: datetime) -> None:
    book = book_of(core)
    with book.lock:
        for p in book.payments.values():
            if p.key[0] == tid and p.key[1] == batch:
                refresh(core, p, now)
                if p.state == "PENDING":
                    close(core, p, "batch settled while pending")


# -- other acquirers' QR schemes (QR page §9): recognised, refused, journaled -------------------------

#: Processing codes of QR variants posrig does not speak, and whose they are.
VARIANTS = {"450000": "[S] jnbank C2B sale", "670000": "[S] jnbank query",
            "680000": "[S] jnbank void", "690000": "[S] jnbank last-scan query",
            "710000": "[P] posp C2B (主扫)", "720000": "[P] posp void"}


def _variants_first(financial):
    def dispatch(core: HostCore, ctx: Ctx) -> None:
        variant = VARIANTS.get(ctx.req.get("3", ""))
        if variant is None:
            financial(core, ctx)
            return
        ctx.kind = "financial"
        ctx.echo("3", "4", "11", "41", "42")
        term = core.require_terminal(ctx)
        core.verify_mac(ctx, term)
        raise Decline("12", f"QR variant {variant} (DE3 {ctx.req['3']}): another acquirer's "
                            "scheme, not spoken here")
    dispatch.qr_handler = True  # type: ignore[attr-defined]
    return dispatch


# -- registration -------------------------------------------------------------------------------

def _either(qr_handler, card_handler):
    def dispatch(core: HostCore, ctx: Ctx) -> None:
        (qr_handler if is_qr(ctx) else card_handler)(core, ctx)
    dispatch.qr_handler = qr_handler  # type: ignore[attr-defined]
    return dispatch


def _refund_or_advice(advice):
    def dispatch(core: HostCore, ctx: Ctx) -> None:
        if is_qr(ctx) and (ctx.req.get("3"), ctx.req.get("60", "")[:2]) == (m.PC_VOID,
                                                                            m.TYPE_REFUND):
            qr_refund(core, ctx)
        else:
            advice(core, ctx)
    dispatch.qr_handler = qr_refund  # type: ignore[attr-defined]
    return dispatch


def register() -> None:
    """Put the QR flows in the host's dispatch tables (idempotent): a C2B sale, QR void, QR
    refund and QR reversal where DE22 says 03x on the codes they share with cards; B2C
    create and query on their own codes; pending orders closed before settlement totals."""
    sale_key, void_key = (m.PC_SALE, m.TYPE_SALE), (m.PC_VOID, m.TYPE_VOID)
    if hasattr(FINANCIAL.get(sale_key), "qr_handler"):
        return
    FINANCIAL[sale_key] = _either(c2b_sale, FINANCIAL[sale_key])
    FINANCIAL[void_key] = _either(qr_void, FINANCIAL[void_key])
    FINANCIAL[(qr.PC_QR_ORDER, qr.TYPE_QR)] = create_order
    FINANCIAL[(qr.PC_QR_QUERY, qr.TYPE_QR)] = query
    kind, advice = HANDLERS["0220"]
    HANDLERS["0220"] = (kind, _refund_or_advice(advice))
    kind, reversal = HANDLERS["0400"]
    HANDLERS["0400"] = (kind, _either(qr_reversal, reversal))
    kind, financial = HANDLERS["0200"]
    HANDLERS["0200"] = (kind, _variants_first(financial))
    if close_pending not in settle_handlers.BEFORE_TOTALS:
        settle_handlers.BEFORE_TOTALS.append(close_pending)


__all__ = ["WalletError", "register", "wallet_call", "wallet_cancel", "wallet_command", "wallet_pay"]


def wallet_call(host: Any, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """``wallet_command`` on an :class:`AcquirerHost` of this process, run in the host's own
    loop (where every exchange is handled), so a test thread never races a terminal's query."""
    import concurrent.futures
    import threading

    if host.core is None:
        raise WalletError("the test wallet needs a host of one worker (workers: 1)")
    loop = host._loop
    if loop is None or not loop.is_running() or threading.current_thread() is host._thread:
        return wallet_command(host.core, msg)
    done: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(wallet_command(host.core, msg))
        except BaseException as exc:  # handed to the caller's thread
            done.set_exception(exc)
    loop.call_soon_threadsafe(run)
    return done.result(timeout)
