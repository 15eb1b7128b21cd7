"""The other two witnesses: what the ECR link reported and what the host journaled.

A slip is checked field by field against both. Fields neither reports (the merchant's
name, the operator) are checked against what the station is configured with. They also
say which note the slip must end with: a reprint's mark (the rig asked for a reprint), a
decline's response code (the ECR result and the journal), or none. A settlement slip's
witnesses are the ECR answer to ``settle`` (harness.receipts.settlement) and its journal row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.receipts.fields import MaskedPan, compact, parse_masked_pan
from harness.receipts.ocr import normalise
from harness.receipts.settlement import TOTAL_KEYS, SettlementReport, claimed_totals, host_note
from harness.receipts.template import FieldSpec

SOURCES = ("ecr", "host", "configured", "given")
#: (note name, response code) a witness expects the slip to end with; (None, None): no note.
NoteWitness = tuple[str | None, str | None]
NO_NOTE: NoteWitness = (None, None)


class _Blank:
    """A witness's word that a field is printed empty: a decline has no authorisation code
    (and a host may give it no reference number)."""

    def __repr__(self) -> str:
        return "BLANK"


BLANK = _Blank()


@dataclass(frozen=True)
class Witnesses:
    """What the slip should say. ``ecr`` is a harness.flows.TransactionResult and ``host`` a
    devices.host.journal.JournalEntry (typed loosely: the reader needs only their fields)."""

    ecr: Any = None
    host: Any = None
    merchant_name: str | None = None
    merchant_id: str | None = None
    terminal_id: str | None = None
    operator: str | None = None
    given: dict[str, Any] = field(default_factory=dict)  # canonical values a person expects (CLI)
    reprint: bool = False  # the slip is a reprint of ``ecr``'s: it must say so
    # how far the terminal's clock runs ahead of the host's: 0 unless a test had the host
    # set it elsewhere at sign-in (DE12/13); the slip prints the terminal's clock
    clock_offset_s: float = 0.0

    @classmethod
    def of(cls, ecr: Any, host: Any, profile: Any, terminal_id: str, *, reprint: bool = False,
           clock_offset_s: float = 0.0) -> Witnesses:
        """The witnesses of one transaction on a station: its ECR result, its journal entry,
        and what the station's harness.profiles.TerminalProfile configures; ``reprint`` when
        the slip is that transaction's reprint."""
        return cls(ecr=ecr, host=host, merchant_name=profile.merchant_name,
                   merchant_id=profile.merchant_id, terminal_id=terminal_id,
                   operator=profile.operator_id, reprint=reprint, clock_offset_s=clock_offset_s)

    def notes(self) -> dict[str, NoteWitness]:
        """``{source: (note, response code)}``: the note each witness says the slip ends with."""
        e, h = self.ecr, self.host
        out: dict[str, NoteWitness] = {}
        if self.reprint:
            # the host saw the original only; the reprint is the rig's request, answered over ECR
            out["ecr"] = ("reprint", None)
        elif isinstance(e, SettlementReport):  # balanced, or not balanced and uploaded
            if e.note:
                out["ecr"] = (e.note, None)
            if h is not None and host_note(h):
                out["host"] = (host_note(h), None)
        else:
            if e is not None and e.status:
                out["ecr"] = ("declined", e.rc) if _declined_ecr(e) else NO_NOTE
            if h is not None and h.rc:
                out["host"] = ("declined", h.rc) if _declined_host(h) else NO_NOTE
        if "note" in self.given:
            out["given"] = self.given["note"]
        return out

    def values(self, key: str) -> dict[str, Any]:
        """``{source: canonical value}`` for a template field; sources that say nothing are left out."""
        e, h = self.ecr, self.host
        out: dict[str, Any] = {}

        def put(source: str, value: Any) -> None:
            if value not in (None, ""):
                out[source] = value

        if key == "merchant_name":
            put("configured", self.merchant_name)
        elif key == "merchant_id":
            put("host", h and h.mid)
            put("configured", self.merchant_id)
        elif key == "terminal_id":
            put("host", h and h.tid)
            put("configured", self.terminal_id)
        elif key == "operator":
            put("configured", self.operator)
        elif key == "card_number":
            put("ecr", e and e.card and _pan(e.card))
            put("host", h and h.pan_masked and _pan(h.pan_masked))
        elif key == "txn_type":
            put("ecr", e and e.kind)
            put("host", h and h.kind)
        elif key == "batch":
            put("ecr", e and e.batch is not None and f"{int(e.batch):06d}")
            put("host", h and h.batch and f"{int(h.batch):06d}")
        elif key == "trace":
            put("ecr", e and e.trace is not None and f"{int(e.trace):06d}")
            put("host", h and h.stan and f"{int(h.stan):06d}")
        elif key in ("auth_code", "rrn"):
            # a declined transaction has no authorisation and may have no reference: what a
            # witness of a decline does not report, the slip must leave blank
            put("ecr", e and (compact(getattr(e, key)) if getattr(e, key) else
                              BLANK if _declined_ecr(e) else None))
            put("host", h and (compact(getattr(h, key)) if getattr(h, key) else
                               BLANK if _declined_host(h) else None))
        elif key == "amount":
            put("ecr", e and e.amount)
            put("host", h and h.amount)
        elif key in TOTAL_KEYS:  # a settlement's (count, fen) per side and kind
            put("ecr", e and getattr(e, "totals", {}).get(key))
            put("host", h and claimed_totals(h.note).get(key))
        elif key == "datetime":
            put("host", h and h.at and datetime.fromisoformat(h.at).replace(tzinfo=None)
                + timedelta(seconds=self.clock_offset_s))
        if key in self.given:
            out["given"] = self.given[key]
        return {k: v for k, v in out.items() if v not in (None, False, "")}


def _declined_ecr(ecr: Any) -> bool:
    return ecr.status == "declined"


def _declined_host(entry: Any) -> bool:
    return entry.rc not in (None, "", "00")


def show_note(note: NoteWitness) -> str:
    name, code = note
    return "no note" if name is None else name + (f" {code}" if code else "")


@dataclass(frozen=True)
class WitnessedPan:
    """A masked card number from a witness, and the PAN length it implies."""

    pan: MaskedPan
    length: int

    def __str__(self) -> str:
        return self.pan.first6 + "*" * (self.length - 10) + self.pan.last4


def pan_witness(masked: str) -> WitnessedPan:
    """A witness's masked card number; its length is the card's PAN length."""
    return _pan(masked)


def _pan(masked: str) -> WitnessedPan:
    return WitnessedPan(parse_masked_pan(masked), len(masked))


def same(spec: FieldSpec, slip: Any, witness: Any, tolerance_s: float) -> bool:
    """Does the slip's value agree with a witness's, for this kind of field?"""
    if spec.kind == "masked_pan":
        w = witness.pan if isinstance(witness, WitnessedPan) else witness
        return slip.first6 == w.first6 and slip.last4 == w.last4 and slip.masked
    if spec.kind == "datetime":
        return abs((slip - witness).total_seconds()) <= tolerance_s
    if spec.kind == "text":
        return compact(slip).casefold() == compact(str(witness)).casefold()
    if spec.kind == "alnum":
        # a recogniser's O/0 and I/1 are not a printing fault
        return normalise(compact(slip), digits=True) == normalise(compact(str(witness)), digits=True)
    return slip == witness


def show(value: Any, kind: str = "") -> str:
    if value is None:
        return "—"
    if value is BLANK:
        return "(blank)"
    if kind == "amount" and isinstance(value, int):
        return f"{value // 100}.{value % 100:02d}"
    if kind == "count_amount" and isinstance(value, tuple):
        return f"{value[0]} x {show(value[1], 'amount')}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, MaskedPan):
        return f"{value.first6}…{value.last4}" + ("" if value.masked else " (UNMASKED)")
    return str(value)
