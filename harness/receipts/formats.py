"""Value formats of a terminal family, and values parsed by them.

A CUP slip prints ``RMB 12.34`` and ``2026/01/31 15:41:07``; a German one ``12,34 EUR`` and
``31.01.26 15:41``; a Korean one ``29,000원`` and a card number as ``9440-03**-****-7569``.
A template says how its family writes each kind of value (``formats:`` in
fixtures/receipts/*.yaml); the layout-free reader and the expectations a person gives on
the command line are parsed by the same rules.

Two directions, two strictness levels:
- ``parse_*`` on what a recogniser read: the confusions a recogniser makes are undone where
  only digits can stand (O/0, I/1), and a value that does not fit the format is refused;
- ``expect_*`` on what a person typed: nothing is reinterpreted. A value that fits none of
  the accepted spellings, or fits two of them differently (``23.09.16``: which is the year?),
  is an error that says which spellings are accepted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from devices.faults import RigDefect
from harness.receipts.ocr import normalise

#: What stands for a hidden digit of a card number on slips (and what a recogniser reads
#: a printed asterisk as): asterisks, x, X, ×, #, bullets, full stops in a run.
MASK_CHARS = "*xX×#•●·"
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "¥": "CNY", "￥": "CNY", "₩": "KRW", "£": "GBP",
                    "元": "CNY", "원": "KRW", "円": "JPY", "RMB": "CNY", "NT$": "TWD", "NTD": "TWD"}
# Date and time spellings a person may type as an expectation, each unambiguous.
EXPECT_DATETIMES = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                    "%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M")
# Date and time spellings slips print (read from OCR, digits folded): the template's own
# first, then these. Two-digit years only through a template that says so.
SLIP_DATETIMES = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y.%m.%d %H:%M:%S", "%d.%m.%Y %H:%M:%S",
                  "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y.%m.%d %H:%M",
                  "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M", "%Y%m%d %H%M%S", "%Y%m%d%H%M%S")


class FormatError(RigDefect, ValueError):
    """A value that does not fit its format; the message says what would."""


@dataclass(frozen=True)
class Formats:
    """How one terminal family writes its values (a template's ``formats:`` section)."""

    currency: str | None = None  # ISO code the family prints amounts in; None: any
    decimal: str = "."  # decimal mark of amounts
    decimals: int | None = None  # digits after it (KRW, JPY: 0); None: as written
    datetime: tuple[str, ...] = ()  # the family's date-time formats, first preferred
    mask: str = MASK_CHARS
    lengths: dict[str, tuple[int, int]] = field(default_factory=dict)  # field -> (min, max) chars
    pad: tuple[str, ...] = ("batch", "trace")  # counters a person may give without leading zeros

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Formats:
        data = data or {}
        lengths = {}
        for key, value in (data.get("lengths") or {}).items():
            if isinstance(value, int):
                lengths[str(key)] = (value, value)
            else:
                lo, hi = value
                lengths[str(key)] = (int(lo), int(hi))
        dt = data.get("datetime") or ()
        return cls(currency=data.get("currency"), decimal=str(data.get("decimal", ".")),
                   decimals=None if data.get("decimals") is None else int(data["decimals"]),
                   datetime=(dt,) if isinstance(dt, str) else tuple(dt),
                   mask=str(data.get("mask", MASK_CHARS)), lengths=lengths,
                   pad=tuple(data.get("pad", ("batch", "trace"))))


@dataclass(frozen=True)
class ShownPan:
    """A card number as a slip shows it: the digits before the mask, the digits after it.
    Slips differ in what they show (first 6 and last 4; first 8 only; last 4 only)."""

    head: str
    tail: str
    masked: bool  # a mask stands between (or after) the digits shown
    digits_shown: int

    def agrees(self, other: ShownPan) -> bool:
        """Do the two show the same digits where both show any?"""
        head = min(len(self.head), len(other.head))
        tail = min(len(self.tail), len(other.tail))
        if head == 0 and tail == 0:
            return False  # nothing in common to compare: not a match
        return self.head[:head] == other.head[:head] and \
            (tail == 0 or self.tail[-tail:] == other.tail[-tail:])

    def __str__(self) -> str:
        return f"{self.head}…{self.tail}" if self.tail else f"{self.head}…"


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


# -- amounts -------------------------------------------------------------------------------
_AMOUNT = re.compile(r"^(?P<cur1>[A-Z]{3}|NT\$|[€$¥￥₩£])?\s*(?P<num>\d[\d,.' ]*\d|\d)\s*"
                     r"(?P<cur2>[A-Z]{3}|[€$¥￥₩£元원円])?$")


def _currency(code: str | None) -> str | None:
    if code is None:
        return None
    return CURRENCY_SYMBOLS.get(code, code)


def expect_amount(text: str, fmt: Formats) -> Decimal:
    """An amount a person gave: ``EUR 152,00``, ``152.00``, ``29,000`` (KRW), ``1.234,56 EUR``.
    One or two digits after the last separator make it the decimal mark; three make it a
    thousands separator (a family with three decimals is not supported)."""
    value = fold(text).strip().upper()
    m = _AMOUNT.match(value)
    if not m:
        raise FormatError(f"{text!r} is not an amount: write it as 12.34, 12,34, EUR 12,34 or 1,234.00")
    currency = _currency(m.group("cur1") or m.group("cur2"))
    if currency and fmt.currency and currency != fmt.currency:
        raise FormatError(f"{text!r} is in {currency}; this template's slips print {fmt.currency}")
    return _decimal(m.group("num"), text, fmt)


def _decimal(num: str, text: str, fmt: Formats, decimal: str | None = None) -> Decimal:
    last = max(num.rfind(c) for c in ",.' ")
    frac = num[last + 1:] if last >= 0 else ""
    if last >= 0 and len(frac) in (1, 2):
        if fmt.decimals == 0:
            raise FormatError(f"{text!r} has decimals; {fmt.currency or 'this family'}'s amounts have none")
        if decimal is not None and num[last] != decimal:
            raise FormatError(f"{text!r}: the family's decimal mark is {decimal!r}")
        units, frac = _split_decimal(num)
        return Decimal(f"{units}.{frac}")
    if fmt.decimals:
        raise FormatError(f"{text!r} has no decimals; the family prints {fmt.decimals}")
    groups = re.split(r"[,.' ]", num)
    if len(groups) > 1 and (len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        raise FormatError(f"{text!r} is not a number written with thousands separators")
    return Decimal("".join(groups))


def _split_decimal(num: str) -> tuple[int, str]:
    last = max(num.rfind(c) for c in ",.' ")
    head, frac = num[:last], num[last + 1:]
    groups = re.split(r"[,.' ]", head) if re.search(r"[,.' ]", head) else [head]
    if any(not g for g in groups) or any(len(g) != 3 for g in groups[1:]) or \
            (len(groups) > 1 and len(groups[0]) > 3):
        raise FormatError(f"{num!r} is not a number written with thousands separators")
    return int("".join(groups)), frac


def parse_amount(text: str, fmt: Formats) -> Decimal:
    """An amount read from a slip. Look-alike letters where digits stand are folded; anything
    else that is not the amount (words, a second number) refuses it."""
    value = fold(text).strip().upper().replace("：", ":").strip(":").strip()
    value = re.sub(r"\s+", " ", value)
    m = _AMOUNT.match(value) or _AMOUNT.match(normalise(value, digits=True))
    if not m:
        raise FormatError(f"not an amount: {text!r}")
    currency = _currency(m.group("cur1") or m.group("cur2"))
    if currency and fmt.currency and currency != fmt.currency:
        raise FormatError(f"an amount in {currency}, not {fmt.currency}")
    # a space is a thousands separator only between groups of three (1 234,56): "5 50.90" is a
    # dollar sign read as 5 before 50.90, not 550.90
    return _decimal(m.group("num"), text, fmt, decimal=fmt.decimal if fmt.decimals else None)


# -- dates and times -----------------------------------------------------------------------
def expect_datetime(text: str, fmt: Formats) -> datetime:
    """A date and time a person gave: the family's own formats first, then the unambiguous
    ones (ISO, 2026/01/31 15:41, 31.01.2026 15:41). Two readings that differ are an error."""
    value = " ".join(fold(text).split())
    found: dict[datetime, str] = {}
    for f in (*fmt.datetime, *EXPECT_DATETIMES):
        try:
            found.setdefault(datetime.strptime(value, f), f)
        except ValueError:
            continue
    if len(found) == 1:
        return next(iter(found))
    sample = datetime(2026, 1, 31, 15, 41, 7)
    accepted = ", ".join(dict.fromkeys(sample.strftime(f) for f in (
        *fmt.datetime, "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M")))
    if not found:
        raise FormatError(f"{text!r} is not a date and time in a format I can tell apart: write it "
                          f"as one of {accepted} (a four-digit year, or the template's own format)")
    raise FormatError(f"{text!r} reads as several dates ({', '.join(str(d) for d in found)}): "
                      f"write it as one of {accepted}")


def parse_datetime(text: str, fmt: Formats) -> datetime:
    """A date and time read from a slip. Separators are where a recogniser is least sure, so
    the digits and the positions of the separators decide; the family's formats first."""
    return find_datetime(text, fmt)[0]


def find_datetime(text: str, fmt: Formats) -> tuple[datetime, int, int]:
    """The first date and time in ``text`` and where it stands (start, end).

    Year first (2026/01/31) is never in doubt. Otherwise the order of day and month comes
    from the family's formats, or from the date itself (a part over 12 is the day; a dot is
    Europe's day.month.year); a date that reads two ways (12/10/2012: December or October?)
    is refused rather than guessed."""
    value = normalise(fold(text), digits=True)
    if len(value) != len(text):
        value = normalise(text, digits=True)
    # French slips put a word between date and time: LE 24/08/22 A 12:45:13 (à)
    time_part = (r"[日\s]*(?:[AÀà]\s+)?(?:\([^)]*\)\s*)?(\d{1,2})\s*[:.時时]\s*(\d{2})"
                 r"(?:\s*[:.分]\s*(\d{2}))?\s*([AaPp][Mm])?")
    # year first (a day has at most two digits, so 2026/09/2316:50 splits at the day), then
    # a four-digit year last, then two-digit years
    m = re.search(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})" + time_part, value) or \
        re.search(r"(\d{1,2})\s*([-/.])\s*(\d{1,2})\s*[-/.]\s*(\d{4})" + time_part, value) or \
        re.search(r"(\d{2})\s*([-/.])\s*(\d{1,2})\s*[-/.]\s*(\d{2})" + time_part, value)
    if not m:
        return _month_name_datetime(text, value)
    span = m.start(), m.end()
    groups = m.groups()
    if len(groups) == 7:  # year first
        y, mo, d = int(groups[0]), int(groups[1]), int(groups[2])
        hh, mi, ss, half = groups[3:]
    else:
        a, sep, b, c, hh, mi, ss, half = groups
        y, mo, d = _order(text, int(a), sep, int(b), c, fmt)
    hour = int(hh)
    if half:  # a 12-hour clock: 12:05 AM is 00:05, 03:39 PM is 15:39
        if hour > 12:
            raise FormatError(f"not a valid date and time: {text!r}")
        hour = hour % 12 + (12 if half.upper() == "PM" else 0)
    try:
        return datetime(y, mo, d, hour, int(mi), int(ss or 0)), span[0], span[1]
    except ValueError as exc:
        raise FormatError(f"not a valid date and time: {text!r}") from exc


def _order(text: str, a: int, sep: str, b: int, c: str, fmt: Formats) -> tuple[int, int, int]:
    """(year, month, day) of a date written a-b-c with the year last (c) or, with two digits
    everywhere, first; by the family's formats, else by the date itself."""
    year = int(c) + (2000 if len(c) == 2 else 0)
    for f in fmt.datetime:
        order = [d for d in re.findall(r"%([a-zA-Z])", f) if d in "yYmd"][:3]
        if order in (["d", "m", "y"], ["d", "m", "Y"]):
            return year, b, a
        if order in (["m", "d", "y"], ["m", "d", "Y"]):
            return year, a, b
        if order in (["y", "m", "d"], ["Y", "m", "d"]) and len(c) == 2:
            return 2000 + a, b, int(c)
    if a > 12 >= b or (sep == "." and b <= 12):
        return year, b, a  # day first
    if b > 12 >= a:
        return year, a, b  # month first, as the United States write it
    raise FormatError(f"{text!r}: day and month could be either way round, and the template does "
                      "not say which")


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _month_name_datetime(text: str, value: str) -> tuple[datetime, int, int]:
    """``14JUN19 15:37`` and ``JUN 14, 2019 15:37``, as slips in English often print them."""
    upper = value.upper()
    months = "|".join(_MONTHS)
    m = re.search(r"(\d{1,2})\s*(" + months + r")\s*(\d{2,4})\D{0,3}?(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?",
                  upper)
    if m:
        d, mon, y, hh, mi, ss = m.groups()
    else:
        m = re.search(r"(" + months + r")\w*\s*(\d{1,2}),?\s*(\d{4})\D{0,3}?(\d{1,2})[:.](\d{2})"
                      r"(?:[:.](\d{2}))?", upper)
        if not m:
            raise FormatError(f"no date and time in {text!r}")
        mon, d, y, hh, mi, ss = m.groups()
    year = int(y) + (2000 if len(y) == 2 else 0)
    try:
        return datetime(year, _MONTHS.index(mon) + 1, int(d), int(hh), int(mi), int(ss or 0)), \
            m.start(), m.end()
    except ValueError as exc:
        raise FormatError(f"not a valid date and time: {text!r}") from exc


# -- card numbers --------------------------------------------------------------------------
def _pan(text: str, mask: str, strict: bool) -> ShownPan:
    value = re.sub(r"[\s\-_—]", "", fold(text))
    if not strict:
        value = "".join("*" if ch in mask or ch in "※＊" else ch for ch in value)
        value = normalise(value, digits=True)
    else:
        value = "".join("*" if ch in mask else ch for ch in value)
    m = re.fullmatch(r"(\d*)(\*+)([\d*]*?)(\d*)", value)
    digits = sum(ch.isdigit() for ch in value)
    if m and (m.group(1) or m.group(4)):
        head, tail = m.group(1), m.group(4)
        if len(value) > 19 or len(value) < 12:
            raise FormatError(f"{text!r}: a card number has 12 to 19 characters")
        return ShownPan(head, tail, True, digits)
    if re.fullmatch(r"\d{12,19}", value):
        return ShownPan(value[:6], value[-4:], False, digits)
    raise FormatError(f"{text!r} is not a card number as slips print it (digits, a masked middle "
                      "or end: 621234******0019, ************0019, 94400327********)")


def parse_pan(text: str, fmt: Formats) -> ShownPan:
    return _pan(text, fmt.mask, strict=False)


def expect_pan(text: str, fmt: Formats) -> ShownPan:
    pan = _pan(text, fmt.mask + "*", strict=True)
    if not pan.masked:
        # a person may give the full synthetic PAN: only what slips may show is kept
        return ShownPan(pan.head, pan.tail, True, 10)
    return pan


# -- codes and ids -------------------------------------------------------------------------
def parse_code(key: str, text: str, fmt: Formats, digits_only: bool) -> str:
    """An id or a code read from a slip: its characters without spaces; O/0, I/1 folded where
    the family's codes are digits, or where the whole code reads as digits that way."""
    value = re.sub(r"[\s]", "", fold(text)).upper().strip(":").strip()
    folded = normalise(value, digits=True)
    if digits_only or folded.isdigit():
        value = folded
    if not value.isalnum() or (digits_only and not value.isdigit()):
        raise FormatError(f"{key}: {text!r} is not {'digits' if digits_only else 'letters and digits'}")
    _check_length(key, value, fmt)
    return value


def expect_code(key: str, text: str, fmt: Formats, digits_only: bool) -> str:
    value = fold(text).strip().upper()
    if not value.isalnum() or (digits_only and not value.isdigit()):
        raise FormatError(f"{key}={text!r}: expected {'digits' if digits_only else 'letters and digits'}")
    lo_hi = fmt.lengths.get(key)
    if lo_hi and len(value) < lo_hi[0] and key in fmt.pad and value.isdigit():
        value = value.zfill(lo_hi[0])  # a counter given without its leading zeros
    _check_length(key, value, fmt)
    return value


def _check_length(key: str, value: str, fmt: Formats) -> None:
    lo_hi = fmt.lengths.get(key)
    if lo_hi and not lo_hi[0] <= len(value) <= lo_hi[1]:
        want = str(lo_hi[0]) if lo_hi[0] == lo_hi[1] else f"{lo_hi[0]} to {lo_hi[1]}"
        raise FormatError(f"{key}={value!r}: this family prints {want} characters there")
