"""The receipt, third witness: the slip must carry what the transaction was.

Today the slip's lines are read from the terminal's own report (``receipt`` in its ECR
response: what it says it printed), parsed with the profile's receipt template. The
camera reader (harness/receipts) will read the paper itself; the comparison stays this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from devices import events
from harness.flows.core import FlowError, TransactionResult, call, source
from harness.station import Station

#: The line a reprinted slip ends with (docs/posrig-ecr-1.md, ``reprint``).
REPRINT_MARK = "重打印 REPRINT"


@dataclass(frozen=True)
class Reprint:
    status: str
    trace: int | None
    receipt: tuple[str, ...]
    printed: bool
    reason: str | None = None

    @property
    def marked(self) -> bool:
        """The slip says it is a reprint (a copy must never pass for the original)."""
        return bool(self.receipt) and REPRINT_MARK in self.receipt[-1]


def reprint(station: Station, trace: int | None = None) -> Reprint:
    """The last slip again, or the one of ``trace`` in the open batch."""
    station.check_usable()
    args = {} if trace is None else {"trace": trace}
    title = "reprint the last slip" if trace is None else f"reprint the slip of trace {trace}"
    with events.step(source(station), title, **args) as s:
        response = call(station, "reprint", **args)
        d = response.data
        s.result = f"{response.status} trace={d.get('trace')} {d.get('reason') or ''}".strip()
    return Reprint(response.status, d.get("trace"), tuple(d.get("receipt", ())),
                   bool(d.get("printed")), d.get("reason"))


def read_slip(station: Station, lines: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{field key: value}`` from slip lines laid out as ``LABEL: value`` by the template."""
    labels = {f["label"]: f["key"] for f in station.profile.receipt_template.get("fields", [])}
    fields: dict[str, str] = {}
    for line in lines:
        label, sep, value = line.partition(":")
        if sep and label.strip() in labels:
            fields[labels[label.strip()]] = value.strip()
    return fields


def _fen(text: str) -> int | None:
    number = re.search(r"\d+(\.\d{1,2})?", text.replace(",", ""))
    try:
        return int(Decimal(number.group()) * 100) if number else None
    except InvalidOperation:
        return None


def check_receipt(station: Station, result: TransactionResult,
                  lines: tuple[str, ...] | None = None) -> dict[str, str]:
    """Every field of the slip agrees with ``result`` and the station; FlowError lists what
    does not. A transaction that printed nothing has no slip to check: that is an error too.
    ``lines``: another print of the slip (a reprint) instead of the one ``result`` carries."""
    lines = result.receipt if lines is None else lines
    with events.step(source(station), f"check the {result.kind} slip", trace=result.trace) as s:
        if not lines:
            raise FlowError(f"{station.name}: the terminal printed no slip for {result.kind} "
                            f"trace {result.trace} ({result.status})")
        slip = read_slip(station, lines)
        s.attach("slip", "\n".join(lines))
        txn_types = station.profile.receipt_template.get("txn_types", {})
        expected = {
            "merchant_id": station.profile.merchant_id,
            "terminal_id": station.tid,
            "card_number": result.card,
            "txn_type": txn_types.get(result.kind, result.kind),
            "batch": f"{result.batch:06d}" if result.batch is not None else None,
            "trace": f"{result.trace:06d}" if result.trace is not None else None,
            "auth_code": result.auth_code,
            "rrn": result.rrn,
        }
        wrong = [f"{key}: slip {slip.get(key)!r}, expected {want!r}"
                 for key, want in expected.items() if want is not None and slip.get(key) != want]
        if _fen(slip.get("amount", "")) != result.amount:
            wrong.append(f"amount: slip {slip.get('amount')!r}, expected {result.amount} fen")
        if wrong:
            raise FlowError(f"{station.name}: the {result.kind} slip of trace {result.trace} "
                            f"disagrees with the transaction: " + "; ".join(wrong))
        s.result = f"{len(slip)} fields agree"
    return slip
