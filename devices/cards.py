"""Synthetic test cards: what a card carries, and what its cardholder knows (the PIN).

All data is synthetic: PANs are Luhn-valid numbers in test ranges, never a real card's.
``repr`` masks the PAN and hides the PIN, so a card printed in a log or an assertion
message never shows either in clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from devices.faults import RigDefect
from devices.masking import luhn_ok, mask_pan


class CardDataError(RigDefect, ValueError):
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


#: Fields a card list gives as text even where YAML would read a number ("0019", 3012).
_TEXT_FIELDS = frozenset({"pan", "expiry", "service_code", "pin", "seq_no", "scheme"})


def load_cards(path: Path) -> dict[str, Card]:
    """The lab's card list (``fixtures/cards.yaml``), by card id.

    ``cards: [{id, pan, expiry, service_code, pin, [chip, contactless, seq_no, scheme,
    balance, chip_fault, stripe_fault]}]``. The one parser of that file: the host and the
    harness both call it. Errors name the file and the entry (``cards[2] (cup-expired)``)
    and never show a PAN or a PIN.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CardDataError(f"{path}: cannot read the card list ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise CardDataError(f"{path}: the card list is not valid YAML: {exc}") from None
    entries = data.get("cards") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CardDataError(f"{path}: cards: expected a non-empty list")
    # ``from __future__ import annotations`` makes these the annotation strings.
    known = {f.name: f.type for f in fields(Card) if f.name != "card_id"} | {"id": "str"}
    cards: dict[str, Card] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: cards[{i}]"
        if not isinstance(entry, dict):
            raise CardDataError(f"{where}: expected a mapping, got {type(entry).__name__}")
        card_id = entry.get("id")
        if not isinstance(card_id, str | int) or isinstance(card_id, bool) or card_id == "":
            raise CardDataError(f"{where}: id: expected a string")
        card_id = str(card_id)
        where += f" ({card_id})"
        if card_id in cards:
            raise CardDataError(f"{where}: id {card_id!r} is already used by another card")
        unknown = sorted(set(entry) - known.keys())
        if unknown:
            raise CardDataError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for key, value in entry.items():
            if key == "id":
                continue
            if known[key] == "bool" and not isinstance(value, bool):
                raise CardDataError(f"{where}: {key}: expected true or false")
            if known[key] == "int" and (isinstance(value, bool) or not isinstance(value, int)
                                        or value < 0):
                raise CardDataError(f"{where}: {key}: expected a whole number >= 0")
            values[key] = str(value) if key in _TEXT_FIELDS and value is not None else value
        try:
            cards[card_id] = Card(card_id=card_id, **values)
        except TypeError:  # a required key is missing: name it, not Python's message
            missing = sorted({"pan", "expiry", "service_code", "pin"} - entry.keys())
            raise CardDataError(f"{where}: missing {', '.join(missing)} (required)") from None
        except CardDataError as exc:
            raise CardDataError(f"{where}: {exc}") from None
    return cards
