"""A field's value from what OCR read, and the string a slip prints for a known value.

Each template field has a ``kind``. ``parse`` turns recognised text into a canonical value
(digits as a string, an amount in fen, a count and an amount, a datetime, a transaction
kind, a masked card number split into its parts), undoing the confusions a recogniser makes where the kind
allows it: full-width characters always, O/0 and I/1 where only digits can stand.
``printed`` goes the other way, so a value the witnesses report can be scored against
the pixels (harness.receipts.ocr.LineRead.logp).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapidfuzz.distance import Levenshtein

from devices.faults import RigDefect
from devices.masking import mask_pan
from harness.receipts.ocr import normalise
from harness.receipts.template import FieldSpec, ReceiptTemplate

MASK_CHARS = "*xX×+#"  # what a recogniser makes of a printed run of asterisks


@dataclass(frozen=True)
class MaskedPan:
    """A card number as a slip shows it: first 6, last 4; the middle only judged masked or not."""

    first6: str
    last4: str
    masked: bool  # the middle shows no digit
    digits_shown: int  # digits the slip shows in all: more than 10 means a PAN in clear

    def __str__(self) -> str:
        return f"{self.first6}…{self.last4}"


class FieldError(RigDefect, ValueError):
    """The text does not hold a value of the field's kind."""


def compact(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def parse(spec: FieldSpec, text: str, template: ReceiptTemplate) -> Any:
    """The canonical value of ``text`` for ``spec``; FieldError when it cannot be one."""
    kind = spec.kind
    if kind == "text":
        value = " ".join(normalise(text).split())
        if not value:
            raise FieldError("nothing printed")
        return value
    if kind == "digits":
        value = re.sub(r"\s+", "", normalise(text, digits=True))
        if not value.isdigit() or (spec.length and len(value) != spec.length):
            raise FieldError(f"expected {spec.length or 'some'} digits")
        return value
    if kind == "alnum":
        value = compact(text)
        # a code of digits read with an O or an I in it is a code of digits
        folded = normalise(value, digits=True)
        if folded.isdigit():
            value = folded
        if not value.isalnum() or (spec.length and len(value) != spec.length):
            raise FieldError(f"expected {spec.length or 'some'} letters or digits")
        return value
    if kind == "masked_pan":
        return parse_masked_pan(text)
    if kind == "txn_type":
        return parse_txn_type(text, template)
    if kind == "datetime":
        # separators and spaces are where a recogniser is least sure (18:38.52): the digits
        # carry the value, so compare those, in the format's order
        digits = re.sub(r"\D", "", normalise(text, digits=True))
        digit_format = "".join(re.findall(r"%[a-zA-Z]", spec.format))
        try:
            return datetime.strptime(digits, digit_format)
        except ValueError as exc:
            raise FieldError(f"not a date and time as {spec.format}") from exc
    if kind == "amount":
        return _amount(spec, text)
    if kind == "count_amount":
        # "3 RMB 126.00": how many, then their total; the printer puts a space between
        count, _, rest = normalise(text).strip().partition(" ")
        count = normalise(count, digits=True)
        if not count.isdigit() or not rest:
            raise FieldError(f"not a count and an amount as 0 {spec.currency} 0.00")
        return (int(count), _amount(spec, rest))
    raise FieldError(f"unknown field kind {kind!r}")


def _amount(spec: FieldSpec, text: str) -> int:
    """Fen of an amount written as ``RMB 12.34``."""
    value = compact(normalise(text))
    # the currency as a recogniser may spell it (RM8 for RMB); a different one is refused
    currency = spec.currency.upper()
    if fx_similar(value[:len(currency)], currency) >= 0.6:
        value = value[len(currency):]
    elif re.search(r"[A-Z]", value):
        raise FieldError(f"not an amount in {spec.currency}")
    value = normalise(value, digits=True)
    match = re.fullmatch(r"(\d+)[.,](\d{2})", value)
    if not match:
        raise FieldError(f"not an amount as {spec.currency} 0.00")
    return int(match.group(1)) * 100 + int(match.group(2))


def parse_masked_pan(text: str) -> MaskedPan:
    value = re.sub(r"\s+", "", normalise(text))
    folded = "".join("*" if ch in MASK_CHARS else ch for ch in value)
    folded = normalise(folded, digits=True)
    digits = sum(ch.isdigit() for ch in folded)
    match = re.fullmatch(r"(\d{6})([\d*]+)(\d{4})", folded)
    if not match:
        if digits >= 13 and re.fullmatch(r"\d+", folded):
            return MaskedPan(folded[:6], folded[-4:], False, digits)
        raise FieldError("not a card number (6 digits, a masked middle, 4 digits)")
    middle = match.group(2)
    return MaskedPan(match.group(1), match.group(3), masked="*" in middle and not any(
        ch.isdigit() for ch in middle), digits_shown=digits)


def parse_txn_type(text: str, template: ReceiptTemplate) -> str:
    """The transaction kind (``sale``, ``void``) whose printed name ``text`` is closest to."""
    got = compact(text)
    best, best_score = None, 0.0
    for kind, printed in template.txn_types.items():
        want = compact(printed)
        score = similarity(got, want)
        if score > best_score:
            best, best_score = kind, score
    if best is not None and best_score >= 0.8:
        return best
    # blur garbles the Chinese first: accept the type whose English word is read exactly when
    # the Chinese has that type's length and starts alike (消费撤销 VOID read as 消费微情VOID);
    # a sale's Chinese with a void's English stays unread
    latin = re.sub(r"[^A-Z]", "", got)
    cjk = re.sub(r"[\x00-\x7f]", "", got)
    fits = []
    for kind, printed_as in template.txn_types.items():
        want = compact(printed_as)
        want_latin, want_cjk = re.sub(r"[^A-Z]", "", want), re.sub(r"[\x00-\x7f]", "", want)
        if latin == want_latin and len(cjk) == len(want_cjk) and similarity(cjk, want_cjk) >= 0.5:
            fits.append(kind)
    if len(fits) == 1:
        return fits[0]
    raise FieldError(f"not one of the template's transaction types ({', '.join(template.txn_types)})")


def printed(spec: FieldSpec, value: Any, template: ReceiptTemplate, pan_length: int | None = None) -> str:
    """What the slip prints for ``value``: the string a reading is scored against."""
    kind = spec.kind
    if kind == "digits":
        return str(value).zfill(spec.length or 0)
    if kind == "amount":
        return f"{spec.currency} {int(value) // 100}.{int(value) % 100:02d}"
    if kind == "count_amount":
        count, fen = value
        return f"{int(count)} {spec.currency} {int(fen) // 100}.{int(fen) % 100:02d}"
    if kind == "datetime":
        return value.strftime(spec.format)
    if kind == "txn_type":
        return template.txn_types.get(str(value), str(value))
    if kind == "masked_pan":
        length = pan_length or 16
        return value.first6 + "*" * (length - 10) + value.last4
    return str(value)


def shown(spec: FieldSpec, text: str) -> str:
    """Text as it may appear in evidence: a card number never in clear."""
    if spec.kind != "masked_pan":
        return text
    digits = re.sub(r"\D", "", normalise(text, digits=True))
    return mask_pan(digits) if len(digits) > 10 else text


def fx_similar(a: str, b: str) -> float:
    """Similarity of letters that a recogniser may have read as digits (8 for B, 0 for O)."""
    back = {"8": "B", "0": "O", "1": "I", "5": "S", "2": "Z"}
    return similarity("".join(back.get(c, c) for c in a), b)


def similarity(a: str, b: str) -> float:
    """1 - edit distance / longer length (1.0 for two empty texts). rapidfuzz's C++ edit
    distance: label matching compares every box of a slip with every alias of every field,
    and the same computed in Python was a quarter of a layout-free read's CPU (measured)."""
    return Levenshtein.normalized_similarity(a, b)
