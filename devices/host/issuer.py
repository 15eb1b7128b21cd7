"""The issuer behind the acquirer: which cards exist, their PINs and what they may spend.

A stub, but a strict one: a sale debits the card's open-to-buy, a void or reversal gives it
back, so a test that approves too much sees 51 as it would in the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.cards import Card


@dataclass
class Account:
    card: Card
    available: int  # fen


class Issuer:
    def __init__(self, cards: list[Card]):
        self._accounts = {card.pan: Account(card, card.balance) for card in cards}

    def account(self, pan: str) -> Account | None:
        return self._accounts.get(pan)

    def debit(self, account: Account, amount: int) -> bool:
        if amount > account.available:
            return False
        account.available -= amount
        return True

    def credit(self, account: Account, amount: int) -> None:
        account.available += amount

    def take_back(self, account: Account, amount: int) -> None:
        """Undo a credit (a reversed void): the money was the merchant's, so no limit."""
        account.available -= amount
