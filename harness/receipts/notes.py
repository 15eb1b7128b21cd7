"""The note a slip may end with, read back: which one, and a decline's response code.

A reprint ends with its mark (``重打印 REPRINT``), a decline's merchant copy with the host's
answer (``交易失败 DECLINED: 51 insufficient funds``). The template lists them (``notes:``);
``harness.receipts.lines`` finds the row like any label, and the value after a decline's
colon is recognised with the fields' values. The response code is its first two
characters: ISO 8583 DE39 is two letters or digits, whatever words follow it.
"""

from __future__ import annotations

from harness.receipts.fields import compact
from harness.receipts.lines import NOTE, Located
from harness.receipts.ocr import LineRead, normalise
from harness.receipts.reading import NoteReading
from harness.receipts.template import NoteSpec, ReceiptTemplate

CODE_LENGTH = 2  # ISO 8583 DE39


def note_spec(template: ReceiptTemplate, key: str) -> NoteSpec:
    """The template's note of a line key (``note:declined``) or of a note name."""
    name = key.removeprefix(NOTE)
    return next(n for n in template.notes if n.key == name)


def read_note(spec: NoteSpec, hit: Located, reads: list[LineRead]) -> NoteReading:
    """The note found at ``hit``; ``reads`` are its value's rows, recognised."""
    label = hit.label_read or spec.text
    if spec.value is None:
        return NoteReading(spec.key, label, None, None, tuple(hit.value_boxes), hit.label_box)
    value = " ".join(r.text for r in reads).strip().lstrip(":：").strip()
    text = f"{spec.text}: {value}".strip()
    boxes = tuple(hit.value_boxes)
    head = compact(value)[:CODE_LENGTH]
    if len(head) < CODE_LENGTH:
        return NoteReading(spec.key, text, None, None, boxes, hit.label_box, "no response code printed")
    # a code of digits read with an O or an I in it is a code of digits (as for alnum fields)
    folded = normalise(head, digits=True)
    code = folded if folded.isdigit() else head
    if not code.isalnum():
        return NoteReading(spec.key, text, None, None, boxes, hit.label_box,
                           f"{head!r} is not a response code")
    return NoteReading(spec.key, text, code, _code_confidence(reads), boxes, hit.label_box)


def same_code(a: str, b: str) -> bool:
    """A recogniser's O/0 and I/1 in a response code are not a printing fault."""
    return normalise(compact(a), digits=True) == normalise(compact(b), digits=True)


def _code_confidence(reads: list[LineRead]) -> float:
    """The weaker of the code's two characters, as the recogniser was sure of them."""
    if not reads:
        return 0.0
    read = reads[0]
    sure = [c for ch, c in zip(read.text, read.confidences, strict=False)
            if not ch.isspace() and ch not in ":："]
    return min(sure[:CODE_LENGTH], default=0.0)
