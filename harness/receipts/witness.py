"""The other two witnesses: what the ECR link reported and what the host journaled.

A slip is checked field by field against both. Fields neither reports (the merchant's
name, the operator) are checked against what the station is configured with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.receipts.fields import MaskedPan, compact, parse_masked_pan
from harness.receipts.ocr import normalise
from harness.receipts.template import FieldSpec

SOURCES = ("ecr", "host", "configured", "given")


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

    @classmethod
    def of(cls, ecr: Any, host: Any, profile: Any, terminal_id: str) -> Witnesses:
        """The witnesses of one transaction on a station: its ECR result, its journal entry,
        and what the station's harness.profiles.TerminalProfile configures."""
        return cls(ecr=ecr, host=host, merchant_name=profile.merchant_name,
                   merchant_id=profile.merchant_id, terminal_id=terminal_id,
                   operator=profile.operator_id)

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
            put("ecr", e and getattr(e, key) and compact(getattr(e, key)))
            put("host", h and getattr(h, key) and compact(getattr(h, key)))
        elif key == "amount":
            put("ecr", e and e.amount)
            put("host", h and h.amount)
        elif key == "datetime":
            put("host", h and h.at and datetime.fromisoformat(h.at).replace(tzinfo=None))
        if key in self.given:
            out["given"] = self.given[key]
        return {k: v for k, v in out.items() if v not in (None, False, "")}


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
    if kind == "amount" and isinstance(value, int):
        return f"{value // 100}.{value % 100:02d}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, MaskedPan):
        return f"{value.first6}…{value.last4}" + ("" if value.masked else " (UNMASKED)")
    return str(value)
