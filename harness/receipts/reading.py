"""What a slip says, as read: fields, copy, the note it ends with, print grade. Card numbers masked."""

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
class NoteReading:
    """A note the slip ends with (harness.receipts.notes): which, and a decline's response code."""

    key: str  # the template's name for it: reprint / declined
    text: str  # the line as read (card numbers never appear in a note)
    code: str | None  # the response code a declined note prints; None for a fixed line or unread
    confidence: float | None  # the code's weakest character; None when there is no code
    boxes: tuple[Box, ...]  # the value's boxes on the flattened slip
    label_box: Box | None
    problem: str | None = None  # why a code that should be there was not read

    def describe(self) -> str:
        return self.key + (f" {self.code}" if self.code else "")


@dataclass(frozen=True)
class SeenText:
    """A piece of text the layout-free reader recognised on the slip, whatever field it is:
    what a value nothing labels can be confirmed against (freeform_check). A long run of
    digits is masked as a card number is (the same length, so confidences line up)."""

    text: str
    confidences: tuple[float, ...]  # per character of ``text``
    box: Box
    claimed_by: str | None = None  # the field whose label named this text as its value


@dataclass(frozen=True)
class ReceiptReading:
    template: str
    status: str  # "read" or "unreadable"
    reason: str | None = None  # why unreadable
    copy: str | None = None  # merchant / customer
    fields: dict[str, FieldReading] = field(default_factory=dict)
    notes: tuple[NoteReading, ...] = ()  # in print order; a slip has at most one when right
    unreadable_rows: int = 0  # rows that matched no template line and could not be read clearly
    grade: PrintGrade | None = None
    qr: str | None = None
    flat: Flattened | None = field(default=None, repr=False, compare=False)
    ms: float = 0.0
    seen: tuple[SeenText, ...] = field(default=(), repr=False, compare=False)  # layout-free only

    @property
    def readable(self) -> bool:
        return self.status == "read"

    @property
    def note(self) -> NoteReading | None:
        """The note the slip ends with (a reprint's mark, a decline's reason), if any."""
        return self.notes[0] if self.notes else None

    def value(self, key: str) -> Any:
        reading = self.fields.get(key)
        return None if reading is None else reading.value
