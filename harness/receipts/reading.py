"""What a slip says, as read: fields, copy, print grade. Card numbers masked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.receipts.grade import PrintGrade
from harness.receipts.paper import Flattened

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FieldReading:
    key: str
    text: str  # as recognised; a card number shown in clear is masked here
    value: Any  # canonical value (fields.parse), None when it could not be parsed
    confidence: float  # the weakest character's
    boxes: tuple[Box, ...]  # value boxes on the flattened slip
    label_box: Box | None
    problem: str | None = None  # why value is None


@dataclass(frozen=True)
class ReceiptReading:
    template: str
    status: str  # "read" or "unreadable"
    reason: str | None = None  # why unreadable
    copy: str | None = None  # merchant / customer
    fields: dict[str, FieldReading] = field(default_factory=dict)
    grade: PrintGrade | None = None
    qr: str | None = None
    flat: Flattened | None = field(default=None, repr=False, compare=False)
    ms: float = 0.0

    @property
    def readable(self) -> bool:
        return self.status == "read"

    def value(self, key: str) -> Any:
        reading = self.fields.get(key)
        return None if reading is None else reading.value
