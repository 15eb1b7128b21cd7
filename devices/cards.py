"""Synthetic test cards: what a card carries, and what its cardholder knows (the PIN).

All data is synthetic: PANs are Luhn-valid numbers in test ranges, never a real card's.
``repr`` masks the PAN and hides the PIN, so a card printed in a log or an assertion
message never shows either in clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.masking import luhn_ok, mask_pan


class CardDataError(ValueError):
    pass


@dataclass(frozen=True)
class Card:
    card_id: str
    pan: str = field(repr=False)
    expiry: str  # YYMM
    service_code: str  # 2xx = chip present: a swipe must be refused unless falling back
    pin: str = field(repr=False)
    chip: bool = True
    contactless: bool = False
    seq_no: str = "001"  # PAN sequence number (DE23) read from the chip
    scheme: str = "CUP"  # card organisation; CUP = domestic
    balance: int = 10_000_000  # fen, what the issuer lets this card spend
    # Faults the physical card has: a chip that does not answer, a worn stripe.
    chip_fault: bool = False
    stripe_fault: bool = False

    def __post_init__(self) -> None:
        if not (13 <= len(self.pan) <= 19 and self.pan.isdigit() and luhn_ok(self.pan)):
            raise CardDataError(f"card {self.card_id}: the PAN must be 13-19 digits and Luhn-valid")
        if not (len(self.expiry) == 4 and self.expiry.isdigit()):
            raise CardDataError(f"card {self.card_id}: expiry must be YYMM, got {self.expiry!r}")
        if not (len(self.service_code) == 3 and self.service_code.isdigit()):
            raise CardDataError(f"card {self.card_id}: service code must be 3 digits")
        if not (self.pin.isdigit() and 4 <= len(self.pin) <= 12):
            raise CardDataError(f"card {self.card_id}: PIN must be 4-12 digits")

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    @property
    def track2(self) -> str:
        """ISO 7813 track 2 without sentinels: PAN ``=`` YYMM service code discretionary data."""
        return f"{self.pan}={self.expiry}{self.service_code}0000000000"[:37]

    def __repr__(self) -> str:  # dataclass repr already hides pan/pin; name the card plainly
        return f"Card({self.card_id}, {self.masked_pan}, exp {self.expiry}, sc {self.service_code})"
