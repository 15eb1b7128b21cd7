"""A slip as the terminal reports it printed: the lines of its ECR answer, checked like the paper.

A station without a camera over its tray has only the terminal's own word for its slip. The
lines are laid out as the template says (``LABEL: value``, then a note), so each value is
parsed by its field's kind and compared with every witness, as the reader compares what it
read; nothing is unreadable here, so any difference is the terminal's.
"""

from __future__ import annotations

from harness.receipts import fields as fx
from harness.receipts.notes import same_code
from harness.receipts.template import PrintLimits, ReceiptTemplate
from harness.receipts.witness import BLANK, NO_NOTE, NoteWitness, Witnesses, same, show, show_note


def fields_of(template: ReceiptTemplate, lines: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{field key: value}`` of the lines that carry a template field's label."""
    labels = {f.label: f.key for f in template.fields}
    out: dict[str, str] = {}
    for line in lines:
        label, sep, value = line.partition(":")
        if sep and label.strip() in labels:
            out[labels[label.strip()]] = value.strip()
    return out


def note_of(template: ReceiptTemplate, last: str) -> NoteWitness:
    """The note a slip's last line is, (name, response code), or NO_NOTE."""
    for note in template.notes:
        if note.value is None and last.strip() == note.text:
            return (note.key, None)
        if note.value is not None and last.startswith(note.text + ":"):
            code = last.split(":", 1)[1].split()
            return (note.key, code[0] if code else None)
    return NO_NOTE


def disagreements(template: ReceiptTemplate, limits: PrintLimits, lines: tuple[str, ...],
                  witnesses: Witnesses) -> tuple[dict[str, str], list[str]]:
    """The fields the lines print (and ``note``), and every way they disagree with a witness."""
    printed = fields_of(template, lines)
    wrong = []
    for spec in template.fields:
        expected = witnesses.values(spec.key)
        text = printed.get(spec.key)
        if text is None:
            wrong.append(f"{spec.key}: not on the slip")
            continue
        if any(v is BLANK for v in expected.values()):
            if text:
                wrong.append(f"{spec.key}: slip {text!r}, expected blank")
            continue
        if not expected:
            continue
        try:
            value = fx.parse(spec, text, template)
        except fx.FieldError as exc:
            wrong.append(f"{spec.key}: slip {fx.shown(spec, text)!r}: {exc}")
            continue
        differ = [f"{source} {show(v, spec.kind)}" for source, v in expected.items()
                  if not same(spec, value, v, limits.datetime_tolerance_s)]
        if differ:
            wrong.append(f"{spec.key}: slip {fx.shown(spec, text)!r}, " + ", ".join(differ))
    got = note_of(template, lines[-1]) if lines else NO_NOTE
    printed["note"] = show_note(got) if got != NO_NOTE else ""
    for source, (name, code) in witnesses.notes().items():
        if name != got[0] or (code is not None and not same_code(got[1] or "", code)):
            wrong.append(f"note: slip ends {lines[-1]!r}, {source} {show_note((name, code))}")
    return printed, wrong
