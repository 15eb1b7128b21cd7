"""A settlement slip's witnesses: the totals the terminal answered ``settle`` with over ECR,
and the ones it sent the host (DE48), as the host's journal keeps them.

The settlement slip (fixtures/receipts/cup-settlement.yaml) prints the batch's totals per
side (domestic / foreign cards) and kind (debit / credit) as a count and an amount, and
ends with the host's verdict: balanced, or not balanced and uploaded. ``Witnesses.values``
and ``Witnesses.notes`` take them from here when the ECR witness is a ``SettlementReport``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SIDES = ("domestic", "foreign")
TOTAL_KEYS = tuple(f"{side}_{kind}" for side in SIDES for kind in ("debit", "credit"))
# How the host journals a settlement's totals (devices.payments.settlement.Totals.describe):
# "terminal: domestic D 1/4200 C 0/0; foreign D 0/0 C 0/0 | host: ..."
_CLAIMED = re.compile(r"terminal: domestic D (\d+)/(\d+) C (\d+)/(\d+); foreign D (\d+)/(\d+) C (\d+)/(\d+)")

Total = tuple[int, int]  # (count, fen)


@dataclass(frozen=True)
class SettlementReport:
    """What the terminal answered a ``settle`` command with over its ECR link."""

    status: str  # ok / failed / refused
    batch: int | None
    balanced: bool | None
    totals: dict[str, Total] = field(default_factory=dict)  # TOTAL_KEYS -> (count, fen)
    kind: str = "settlement"

    @classmethod
    def from_response(cls, status: str, data: dict[str, Any]) -> SettlementReport:
        totals = {}
        for side in SIDES:
            given = (data.get("totals") or {}).get(side) or {}
            for kind in ("debit", "credit"):
                if f"{kind}_count" in given:
                    totals[f"{side}_{kind}"] = (int(given[f"{kind}_count"]), int(given[f"{kind}_amount"]))
        return cls(status, data.get("batch"), data.get("balanced"), totals)

    @property
    def note(self) -> str | None:
        """The note the slip ends with, by the terminal's account."""
        return None if self.balanced is None else ("balanced" if self.balanced else "unbalanced")


def claimed_totals(note: str | None) -> dict[str, Total]:
    """The totals the terminal sent the host, from the host journal's note of a settlement;
    empty when the note does not hold them."""
    match = _CLAIMED.search(note or "")
    if match is None:
        return {}
    n = [int(g) for g in match.groups()]
    return {key: (n[2 * i], n[2 * i + 1]) for i, key in enumerate(TOTAL_KEYS)}


def host_note(entry: Any) -> str | None:
    """The note the host's journal says a settlement slip ends with (its state)."""
    return entry.state if entry.state in ("balanced", "unbalanced") else None
