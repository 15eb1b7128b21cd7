"""Settlement totals (DE48 of 0500/0510) and batch-upload records (0320), both ends.

DE48 in settlement is 62 digits (reference §4.1): domestic debit amount (12) and count
(3), domestic credit amount (12) and count (3), a flag digit, then the same for foreign
cards and a second flag. The request sends 0 flags; the response sets 1 balanced, 2 not
balanced, 3 settlement error. Totals (posrig's choice): debit = every approved sale of the
batch, voided or not; credit = voids (and refunds); reversed items are not in the batch.

Batch upload (reference §4.2): magstripe records in DE48, 2-digit count then up to 8
records of org flag (2) + STAN (6) + PAN (20, right-aligned, zero-filled) + amount (12);
IC records in DE62 as 21 ASCII characters ``61`` + org flag + ``00`` + amount + ``156``;
the end message carries the count of records uploaded, 4 digits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from devices.faults import TerminalDefect
from devices.masking import mask_pan

FLAG_NONE, FLAG_BALANCED, FLAG_UNBALANCED, FLAG_ERROR = "0", "1", "2", "3"
MAX_MAG_RECORDS = 8


class SettlementFormatError(TerminalDefect, ValueError):
    pass


@dataclass(frozen=True)
class SideTotals:
    debit_amount: int = 0
    debit_count: int = 0
    credit_amount: int = 0
    credit_count: int = 0

    def digits(self) -> str:
        if max(self.debit_count, self.credit_count) > 999 or \
                max(self.debit_amount, self.credit_amount) > 999_999_999_999:
            raise SettlementFormatError("totals overflow DE48 (12-digit amounts, 3-digit counts)")
        return (f"{self.debit_amount:012d}{self.debit_count:03d}"
                f"{self.credit_amount:012d}{self.credit_count:03d}")

    @classmethod
    def parse(cls, digits: str) -> SideTotals:
        return cls(int(digits[0:12]), int(digits[12:15]), int(digits[15:27]), int(digits[27:30]))

    def add(self, kind: str, amount: int) -> SideTotals:
        if kind == "sale":
            return SideTotals(self.debit_amount + amount, self.debit_count + 1,
                              self.credit_amount, self.credit_count)
        return SideTotals(self.debit_amount, self.debit_count,
                          self.credit_amount + amount, self.credit_count + 1)


@dataclass(frozen=True)
class Totals:
    domestic: SideTotals = SideTotals()
    foreign: SideTotals = SideTotals()

    def to_de48(self, domestic_flag: str = FLAG_NONE, foreign_flag: str = FLAG_NONE) -> str:
        return self.domestic.digits() + domestic_flag + self.foreign.digits() + foreign_flag

    @classmethod
    def from_de48(cls, de48: str) -> tuple[Totals, str, str]:
        """(totals, domestic flag, foreign flag)."""
        if len(de48) != 62 or not de48.isdigit():
            raise SettlementFormatError(
                f"settlement DE48 must be 62 digits, got {len(de48)} characters")
        return (cls(SideTotals.parse(de48[0:30]), SideTotals.parse(de48[31:61])),
                de48[30], de48[61])

    @classmethod
    def of(cls, items: Iterable[BatchItem]) -> Totals:
        """Totals of a terminal's batch: the items it holds as approved, not reversed."""
        dom, foreign = SideTotals(), SideTotals()
        for item in items:
            if item.domestic:
                dom = dom.add(item.kind, item.amount)
            else:
                foreign = foreign.add(item.kind, item.amount)
        return cls(dom, foreign)

    def describe(self) -> str:
        d, f = self.domestic, self.foreign
        return (f"domestic D {d.debit_count}/{d.debit_amount} C {d.credit_count}/"
                f"{d.credit_amount}; foreign D {f.debit_count}/{f.debit_amount} "
                f"C {f.credit_count}/{f.credit_amount}")


@dataclass(frozen=True)
class BatchItem:
    """An approved transaction as the terminal keeps it for settlement and upload."""

    stan: str
    pan: str = field(repr=False)
    amount: int
    kind: str = "sale"  # sale | void | refund (void and refund are credits)
    ic: bool = False  # chip or contactless: uploaded as 203/205, else 201
    domestic: bool = True  # card organisation CUP
    # What a 203/205 upload repeats of a chip transaction (DE22, DE23, DE55).
    entry_mode: str = "051"
    seq_no: str | None = None
    icc: bytes | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"BatchItem({self.kind} {self.stan} {mask_pan(self.pan)} {self.amount})"


def mag_records_de48(items: list[BatchItem]) -> str:
    if not 1 <= len(items) <= MAX_MAG_RECORDS:
        raise SettlementFormatError(f"a 201 upload carries 1 to 8 records, got {len(items)}")
    return f"{len(items):02d}" + "".join(
        f"{'00' if i.domestic else '01'}{i.stan}{i.pan:0>20}{i.amount:012d}" for i in items)


@dataclass(frozen=True)
class UploadRecord:
    domestic: bool
    stan: str
    pan: str = field(repr=False)
    amount: int


def parse_mag_records(de48: str) -> list[UploadRecord]:
    if len(de48) < 2 or not de48.isdigit():
        raise SettlementFormatError("batch upload DE48 must be digits starting with a count")
    n = int(de48[:2])
    if not 1 <= n <= MAX_MAG_RECORDS or len(de48) != 2 + 40 * n:
        raise SettlementFormatError(
            f"batch upload DE48 says {n} records but holds {len(de48) - 2} digits (40 each)")
    out = []
    for i in range(n):
        r = de48[2 + 40 * i:42 + 40 * i]
        out.append(UploadRecord(r[:2] == "00", r[2:8], r[8:28].lstrip("0"), int(r[28:40])))
    return out


def ic_record_de62(item: BatchItem) -> str:
    """21 ASCII characters, as DE62 hex for the pyiso8583 dict."""
    text = f"61{'00' if item.domestic else '01'}00{item.amount:012d}156"
    return text.encode("ascii").hex().upper()


def parse_ic_record(de62_hex: str) -> tuple[bool, int]:
    """(domestic, amount) of an IC upload record."""
    try:
        text = bytes.fromhex(de62_hex).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise SettlementFormatError("IC upload DE62 is not 21 ASCII characters") from None
    if len(text) != 21 or text[:2] != "61" or not text[2:].isdigit():
        raise SettlementFormatError(f"IC upload DE62 {text!r} is not 61 + org + 00 + amount + 156")
    return text[2:4] == "00", int(text[6:18])


@dataclass(frozen=True)
class UploadPlan:
    """What a terminal uploads after the settlement response (posrig's choice table)."""

    mag: list[list[BatchItem]]  # 201 messages, up to 8 records each
    ic: list[BatchItem]  # one 203 (balanced) or 205 (unbalanced) message each
    ic_nmi: str
    end_nmi: str  # 207 balanced, 202 not

    @property
    def count(self) -> int:
        return sum(len(group) for group in self.mag) + len(self.ic)


def plan_uploads(items: list[BatchItem], domestic_flag: str, foreign_flag: str) -> UploadPlan:
    """Balanced on both sides: IC records (203), then 207. Otherwise the unbalanced side's
    records: magstripe 201 (8 per message) and chip 205, then 202."""
    if domestic_flag == FLAG_BALANCED and foreign_flag == FLAG_BALANCED:
        return UploadPlan([], [i for i in items if i.ic], "203", "207")
    sides = {True: domestic_flag != FLAG_BALANCED, False: foreign_flag != FLAG_BALANCED}
    chosen = [i for i in items if sides[i.domestic]]
    mag = [i for i in chosen if not i.ic]
    return UploadPlan([mag[k:k + MAX_MAG_RECORDS] for k in range(0, len(mag), MAX_MAG_RECORDS)],
                      [i for i in chosen if i.ic], "205", "202")
