"""What the host knows of QR payments, and the test wallet that decides them (iso8583-cup-qr.md §4, §8).

One :class:`QrBook` per :class:`~devices.host.core.HostCore` (``book_of``). A payment is kept
under the TID, batch and STAN of the message that started it (C2B sale or B2C create) and
moves through the host states of §4: PENDING, PAID, CLOSED, DECLINED, REVERSED, VOIDED,
PART_REFUNDED, REFUNDED. Time moves it too, read lazily whenever a payment is looked at: a
scripted ``pending:<s>:...`` resolves ``s`` seconds after the ``FD``, a wallet ``pay(after_s)``
likewise, and a payment still pending 120 s after it started closes (``FE``).

The wallet's scripts, all posrig's (§8):

- by C2B code: ``approve``, ``decline:<rc>``, ``pending:<s>:approve``,
  ``pending:<s>:decline:<rc>``, ``pending:forever``, ``expired`` (54);
- for B2C, the same outcomes for the next order or for orders of one amount; an order with no
  script waits for ``pay`` (the customer's wallet scanning the code) or closes;
- a well-formed C2B code with no script approves at once (``unknown_code``: approve or 14);
- every code is single-use: after any outcome but 14 or 30 it is burnt, and reuse is 54.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from devices.faults import RigDefect
from devices.host.state import Txn, TxnKey

if TYPE_CHECKING:
    from devices.host.core import HostCore

ORDER_LIFE = timedelta(seconds=120)
REFUND_DAYS = 30
WALLET_DECLINES = ("51", "55", "61", "96")
_OUTCOME = re.compile(r"approve|expired|decline:(?:51|55|61|96)|pending:forever"
                      r"|pending:\d{1,4}:(?:approve|decline:(?:51|55|61|96))")
FINAL = ("PAID", "CLOSED", "DECLINED", "REVERSED", "VOIDED", "PART_REFUNDED", "REFUNDED")


class WalletError(RigDefect, ValueError):
    """A wallet script or control call the test wallet cannot take (says what it takes)."""


def check_outcome(outcome: str) -> str:
    if not isinstance(outcome, str) or not _OUTCOME.fullmatch(outcome):
        raise WalletError(
            f"wallet outcome {outcome!r}: one of approve, expired, decline:<51|55|61|96>, "
            "pending:<seconds>:approve, pending:<seconds>:decline:<rc>, pending:forever")
    return outcome


@dataclass
class QrPayment:
    key: TxnKey  # TID, batch, STAN of the starting message
    mid: str
    flow: str  # c2b | b2c
    amount: int
    order: str  # Q1
    rrn: str
    started: datetime
    code_masked: str | None = None  # C2B: the payment code, masked
    wallet: str | None = None  # Q3, known once paid (C2B: from the code's family)
    state: str = "PENDING"
    decline_rc: str | None = None
    resolve_at: datetime | None = None  # when a scripted or wallet outcome takes effect
    resolve_to: str | None = None  # approve | decline:<rc>
    paid_at: datetime | None = None
    voucher: str | None = None  # A4
    auth_code: str | None = None
    journal_id: int = 0  # the starting message's row
    txn: Txn | None = None  # the ledger's sale once paid
    refunded: int = 0
    events: list[str] = field(default_factory=list)


class QrBook:
    """Thread-safe: the host's loop answers terminals while the wallet control pays."""

    def __init__(self, unknown_code: str = "approve") -> None:
        if unknown_code not in ("approve", "14"):
            raise WalletError(f"unknown_code must be approve or 14, got {unknown_code!r}")
        self.lock = threading.RLock()
        self.unknown_code = unknown_code
        self.payments: dict[TxnKey, QrPayment] = {}
        self.by_order: dict[str, QrPayment] = {}
        self.by_voucher: dict[str, QrPayment] = {}
        self.code_scripts: dict[str, str] = {}
        self.order_scripts: list[str] = []  # for the next orders, in turn
        self.amount_scripts: dict[int, str] = {}
        self.burnt: set[str] = set()
        self.refund_answers: dict[TxnKey, tuple[tuple[str, int], dict[str, str]]] = {}
        self._serial = 0

    # -- scripts ---------------------------------------------------------------------------
    def script_code(self, code: str, outcome: str) -> None:
        if not (code.isdigit() and 1 <= len(code) <= 350):
            raise WalletError(f"a payment code is 1-350 digits, got {len(code)} characters")
        with self.lock:
            self.code_scripts[code] = check_outcome(outcome)

    def script_order(self, outcome: str, *, amount: int | None = None) -> None:
        check_outcome(outcome)
        if outcome == "expired":
            raise WalletError("expired is a C2B code's outcome; an order closes by itself")
        with self.lock:
            if amount is None:
                self.order_scripts.append(outcome)
            else:
                self.amount_scripts[int(amount)] = outcome

    def clear(self) -> None:
        with self.lock:
            self.code_scripts.clear()
            self.order_scripts.clear()
            self.amount_scripts.clear()

    def take_code_outcome(self, code: str) -> str:
        with self.lock:
            if code in self.burnt:
                return "used"
            return self.code_scripts.pop(code, self.unknown_code)

    def take_order_outcome(self, amount: int) -> str | None:
        with self.lock:
            if self.order_scripts:
                return self.order_scripts.pop(0)
            return self.amount_scripts.pop(amount, None)

    # -- numbers ---------------------------------------------------------------------------
    def next_voucher(self, now: datetime, worker: int = 0) -> str:
        with self.lock:
            self._serial += 1
            return f"{now:%Y%m%d}{worker % 10}{self._serial % 10**11:011d}"

    # -- life of a payment -----------------------------------------------------------------
    def add(self, payment: QrPayment) -> None:
        with self.lock:
            self.payments[payment.key] = payment
            self.by_order[payment.order] = payment

    def plan(self, payment: QrPayment, outcome: str, now: datetime) -> None:
        """Arrange a scripted outcome: now (approve, decline) or later (pending:...)."""
        if outcome.startswith("pending:"):
            rest = outcome[len("pending:"):]
            if rest == "forever":
                payment.resolve_at = payment.resolve_to = None
                return
            seconds, _, then = rest.partition(":")
            payment.resolve_at = now + timedelta(seconds=int(seconds))
            payment.resolve_to = then
        else:
            payment.resolve_at, payment.resolve_to = now, outcome


def book_of(core: HostCore) -> QrBook:
    """The QR book of ``core``, made on first use."""
    book = _BOOKS.get(core)
    if book is None:
        book = _BOOKS[core] = QrBook()
    return book


_BOOKS: weakref.WeakKeyDictionary[HostCore, QrBook] = weakref.WeakKeyDictionary()
