"""The issuer behind the acquirer: which cards exist, their PINs and what they may spend.

A stub, but a strict one: a sale debits the card's open-to-buy, a void or reversal gives it
back, so a test that approves too much sees 51 as it would in the field.

The balances live in a store that several host worker processes can share (an array in
shared memory and its lock, see devices.host.workers): a card's open-to-buy is the
issuer's, not a terminal's, so it cannot be split the way terminals are.
"""

from __future__ import annotations

import contextlib
from collections.abc import MutableSequence
from dataclasses import dataclass, field
from typing import Any

from devices.cards import Card


@dataclass(frozen=True)
class Account:
    card: Card
    index: int  # in the issuer's balance store
    issuer: Issuer = field(repr=False, compare=False)

    @property
    def available(self) -> int:
        """Open-to-buy in fen."""
        return self.issuer.balances[self.index]


class Issuer:
    def __init__(self, cards: list[Card], balances: MutableSequence[int] | None = None,
                 lock: Any = None):
        """``balances`` (one per card, in order) and ``lock`` are given when shared."""
        self.balances = balances if balances is not None else [c.balance for c in cards]
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._accounts = {card.pan: Account(card, i, self) for i, card in enumerate(cards)}

    def account(self, pan: str) -> Account | None:
        return self._accounts.get(pan)

    def debit(self, account: Account, amount: int) -> bool:
        with self._lock:
            if amount > self.balances[account.index]:
                return False
            self.balances[account.index] -= amount
            return True

    def credit(self, account: Account, amount: int) -> None:
        with self._lock:
            self.balances[account.index] += amount

    def take_back(self, account: Account, amount: int) -> None:
        """Undo a credit (a reversed void): the money was the merchant's, so no limit."""
        with self._lock:
            self.balances[account.index] -= amount
