"""Three witnesses: the slip against the ECR link and the host journal, field by field.

Telling a terminal fault from a reading fault is the point. A field whose reading
differs from the witnesses is a *mismatch* only when the pixels clearly say something
else: the reading is confident and the recogniser gives the witnesses' value a
probability under 1e-4 (CTC over its own output, harness.receipts.ocr.ctc_logp).
Otherwise the field is *unreadable*, and the slip is flagged rather than failed or
passed: a wrong slip is never accepted, and a poor photo never blames the terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.receipts import fields as fx
from harness.receipts import grade as gx
from harness.receipts.notes import note_spec, same_code
from harness.receipts.ocr import LineRead, normalise
from harness.receipts.reading import FieldReading, ReceiptReading
from harness.receipts.template import FieldSpec, PrintLimits, ReceiptTemplate
from harness.receipts.witness import BLANK, WitnessedPan, Witnesses, same, show, show_note

# A reading whose weakest character is below this is not trusted to say "printed wrong"
# (nor, for a card number, "printed in clear").
CONFIDENT = 0.70
# log P(expected) above this: the pixels say the expected value (P > 0.5) whatever the
# greedy decode made of them. Below REJECT_LOGP (P < 1e-4), they do not say it.
ACCEPT_LOGP = math.log(0.5)
REJECT_LOGP = math.log(1e-4)

OK, MISMATCH, UNREADABLE, MISSING, UNMASKED = "ok", "mismatch", "unreadable", "missing", "unmasked"
PASS, FAIL, FLAGGED = "pass", "fail", "unreadable"
PAN_UNMASKED = "card_number_unmasked"
UNKNOWN_LINE = "unreadable:line"  # a printed line that matches no template line, not read clearly
NOTE_MISSING = "note_missing"  # a reprint without its mark, a decline slip without its reason


@dataclass(frozen=True)
class FieldCheck:
    key: str
    status: str  # ok / mismatch / unreadable / missing / unmasked
    slip: str  # what the slip shows (card numbers masked)
    witnesses: dict[str, str]  # ecr / host / configured -> shown value
    detail: str = ""

    def line(self) -> str:
        w = "  ".join(f"{k}={v}" for k, v in self.witnesses.items()) or "no witness"
        return f"{self.key}: {self.status} — slip={self.slip or '—'}  {w}" + (
            f"  ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class ReceiptVerdict:
    status: str  # pass / fail / unreadable
    checks: tuple[FieldCheck, ...]
    faults: tuple[str, ...]  # named failures: mismatch:<field>, card_number_unmasked, print faults
    flags: tuple[str, ...]  # why the slip could not be verified (unreadable fields, no paper)
    warnings: tuple[str, ...]
    reading: ReceiptReading = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def check(self, key: str) -> FieldCheck:
        return next(c for c in self.checks if c.key == key)

    def explain(self) -> str:
        head = f"receipt {self.status}"
        if self.faults:
            head += ": " + ", ".join(self.faults)
        if self.flags:
            head += "; not verified: " + ", ".join(self.flags)
        g = self.reading.grade
        if g is not None and g.contrast is not None:
            head += f" (print contrast {g.contrast:.2f} {g.contrast_grade})"
        bad = [c.line() for c in self.checks if c.status != OK]
        if g is not None:
            bad.extend(f"a line no template line matches: {text}" for text in g.unknown_lines)
        return "\n".join([head, *bad])


def judge(template: ReceiptTemplate, limits: PrintLimits, reading: ReceiptReading,
          reads: dict[str, list[LineRead]], witnesses: Witnesses) -> ReceiptVerdict:
    if not reading.readable:
        # what the bar shows (contrast, dead dots, a short cut) stands even when the text does not
        faults = tuple(f for f in (reading.grade.faults if reading.grade else ())
                       if f not in (gx.LABELS_MISSING, gx.LABELS_OUT_OF_ORDER))
        return ReceiptVerdict(FAIL if faults else FLAGGED, (), faults,
                              (reading.reason or "unreadable",), (), reading)
    checks = [_check(template, limits, spec, reading.fields[spec.key], reads.get(spec.key, []),
                     witnesses.values(spec.key))
              for spec in template.fields]
    grade = reading.grade
    cut = grade is not None and grade.cut_short
    note = _check_note(template, reading, witnesses)
    if note is not None:
        checks.append(note)
    faults: list[str] = []
    flags: list[str] = []
    for c in checks:
        if c.status == MISMATCH:
            faults.append(f"mismatch:{c.key}")
        elif c.status == UNMASKED:
            faults.append(PAN_UNMASKED)
        elif c.status == UNREADABLE:
            flags.append(f"unreadable:{c.key}")
        elif c.status == MISSING and c.key == "note" and not cut:
            faults.append(NOTE_MISSING)  # a cut that took the note is the cut's fault, named once
    if grade is not None:
        for fault in grade.faults:
            if fault == gx.LABELS_MISSING and grade.cut_short:
                continue  # a short cut loses the last labels: one fault, not two
            faults.append(fault)
    # a missing label on a slip cut short is the cut, not a separate misprint
    checks = [c if not (c.status == MISSING and grade is not None and grade.cut_short) else
              FieldCheck(c.key, MISSING, c.slip, c.witnesses, "slip cut short") for c in checks]
    if grade is not None and grade.missing_labels and gx.LABELS_MISSING not in grade.faults \
            and not grade.cut_short:
        # labels not seen on rows that could not be read: the reading is flagged, not the print
        checks = [FieldCheck(c.key, UNREADABLE, c.slip, c.witnesses, "its line could not be read")
                  if c.status == MISSING else c for c in checks]
        flags.extend(f"unreadable:{c.key}" for c in checks if c.detail == "its line could not be read")
    if reading.unreadable_rows and not any(c.status in (UNREADABLE, MISSING) for c in checks):
        # a row that is no template line and could not be read: an unknown line is never let pass
        flags.append(UNKNOWN_LINE)
    status = FAIL if faults else (FLAGGED if flags else PASS)
    warnings = tuple(grade.warnings) if grade is not None else ()
    return ReceiptVerdict(status, tuple(checks), tuple(dict.fromkeys(faults)), tuple(flags),
                          warnings, reading)


def _check(template: ReceiptTemplate, limits: PrintLimits, spec: FieldSpec, got: FieldReading,
           reads: list[LineRead], expected: dict[str, Any]) -> FieldCheck:
    shown_w = {k: show(v, spec.kind) for k, v in expected.items()}
    value = got.value
    if isinstance(value, fx.MaskedPan) and not value.masked and value.digits_shown > 10 \
            and got.confidence >= CONFIDENT:
        return FieldCheck(spec.key, UNMASKED, got.text, shown_w,
                          f"the slip prints {value.digits_shown} digits of the card number")
    if got.label_box is None:
        return FieldCheck(spec.key, MISSING, "", shown_w, got.problem or "label not found")
    if not expected:
        status = OK if value is not None else UNREADABLE
        return FieldCheck(spec.key, status, got.text, shown_w, "" if value is not None else got.problem or "")
    values = list(expected.values())
    if any(v is BLANK for v in values):
        return _check_blank(spec, got, values, shown_w)
    witnesses_agree = all(same(spec, _plain(values[0]), _plain(v), 0.0) if spec.kind != "datetime"
                          else True for v in values[1:])
    agrees = value is not None and all(same(spec, value, _plain(v), limits.datetime_tolerance_s)
                                       for v in values)
    if not witnesses_agree:
        # e.g. the terminal told the ECR one thing and the host another: a fault whatever the slip says
        sides = [k for k, v in expected.items() if value is not None and
                 same(spec, value, _plain(v), limits.datetime_tolerance_s)]
        return FieldCheck(spec.key, MISMATCH, got.text, shown_w, "the witnesses disagree" + (
            f"; the slip agrees with {' and '.join(sides)}" if sides else ""))
    if agrees:
        return FieldCheck(spec.key, OK, got.text, shown_w)
    # what do the pixels say about the witnesses' value?
    target = values[0]
    if spec.kind == "datetime" and value is not None:
        target = _nearest_time(spec, value, target, limits.datetime_tolerance_s)
    logp = _logp(template, spec, reads, target, value)
    if logp is not None and logp >= ACCEPT_LOGP:
        # the recogniser's first guess was off, but the witnesses' value is the likeliest text
        return FieldCheck(spec.key, OK, got.text, shown_w, "read by scoring the expected value")
    # "printed another value" needs a parsed reading, sure of the characters where it differs
    # from the witnesses' value, and far likelier than that value: 10^4 times, that value
    # itself under 1e-4
    confident = value is not None and got.confidence >= CONFIDENT
    if value is not None and logp is not None:
        expected_text = _expected_text(template, spec, target)
        confident = _weakest_difference(reads[0], expected_text, _digits(spec)) >= CONFIDENT and \
            logp < REJECT_LOGP and reads[0].logp(reads[0].text) - logp >= -REJECT_LOGP
    if confident:
        return FieldCheck(spec.key, MISMATCH, got.text, shown_w, "the slip prints another value")
    why = got.problem or f"weakest character {got.confidence:.2f}"
    if logp is not None:
        why += f", expected value P={pow(2.718281828, max(logp, -700)):.1e}"
    return FieldCheck(spec.key, UNREADABLE, got.text, shown_w, why)


def _check_blank(spec: FieldSpec, got: FieldReading, values: list[Any],
                 shown_w: dict[str, str]) -> FieldCheck:
    """A field a witness says is printed empty (a decline's authorisation code)."""
    if not all(v is BLANK for v in values):
        return FieldCheck(spec.key, MISMATCH, got.text, shown_w, "the witnesses disagree")
    if not got.text and not got.boxes:
        return FieldCheck(spec.key, OK, "", shown_w)
    if got.value is not None and got.confidence >= CONFIDENT:
        return FieldCheck(spec.key, MISMATCH, got.text, shown_w,
                          "the slip prints a value where the transaction has none")
    return FieldCheck(spec.key, UNREADABLE, got.text, shown_w,
                      f"print where the slip should be blank, weakest character {got.confidence:.2f}")


def _check_note(template: ReceiptTemplate, reading: ReceiptReading,
                witnesses: Witnesses) -> FieldCheck | None:
    """The note the slip ends with against the one the witnesses call for; None when neither
    the slip nor any witness has one (an ordinary slip)."""
    expected = witnesses.notes()
    read = reading.notes
    shown_w = {k: show_note(v) for k, v in expected.items()}
    slip = ", ".join(n.text for n in read)
    wanted = {name for name, _ in expected.values()}
    if not read and wanted <= {None}:
        return None

    def verdict(status: str, detail: str = "") -> FieldCheck:
        return FieldCheck("note", status, slip, shown_w, detail)

    if not expected:  # read without witnesses: what the slip says, if it says it clearly
        unread = [n.problem for n in read if n.problem]
        return verdict(UNREADABLE, unread[0]) if unread else verdict(OK)
    if len(wanted) > 1:
        return verdict(MISMATCH, "the witnesses disagree")
    want = wanted.pop()
    if want is None:
        return verdict(MISMATCH, "the slip ends with a note the transaction does not call for")
    if not read:
        if reading.unreadable_rows:
            return verdict(UNREADABLE, "a line could not be read: the note may be on it")
        return verdict(MISSING, f"the slip does not end with its {want} note")
    if len(read) > 1 or read[0].key != want:
        return verdict(MISMATCH, f"the slip ends with {slip}, not with the {want} note")
    note = read[0]
    if note_spec(template, want).value is None:
        return verdict(OK)
    codes = {code for _, code in expected.values() if code is not None}
    if len(codes) > 1:
        return verdict(MISMATCH, "the witnesses disagree")
    if not codes:
        return verdict(OK)  # no witness names a code (note=declined on the CLI): the note is the ask
    code = codes.pop()
    if note.code is not None and same_code(note.code, code):
        return verdict(OK)
    if note.code is not None and note.confidence is not None and note.confidence >= CONFIDENT:
        return verdict(MISMATCH, f"the slip prints response code {note.code}")
    return verdict(UNREADABLE, note.problem or "response code not read clearly"
                   + (f" (weakest character {note.confidence:.2f})" if note.confidence is not None else ""))


def _plain(v: Any) -> Any:
    return v.pan if isinstance(v, WitnessedPan) else v


def _digits(spec: FieldSpec) -> bool:
    return spec.kind in ("digits", "amount", "count_amount", "datetime", "masked_pan")


def _expected_text(template: ReceiptTemplate, spec: FieldSpec, target: Any) -> str:
    if isinstance(target, WitnessedPan):
        return fx.printed(spec, target.pan, template, target.length)
    return fx.printed(spec, target, template)


def _nearest_time(spec: FieldSpec, read: datetime, witness: datetime, tolerance_s: float) -> datetime:
    """The time a terminal could have printed (within the tolerance of the witness's clock)
    that is written most like what was read: the one to score the pixels against."""
    got = read.strftime(spec.format)
    best, best_diff = witness, len(got) + 1
    for shift in range(-int(tolerance_s), int(tolerance_s) + 1):
        candidate = witness + timedelta(seconds=shift)
        text = candidate.strftime(spec.format)
        diff = sum(a != b for a, b in zip(text, got, strict=False)) + abs(len(text) - len(got))
        if diff < best_diff:
            best, best_diff = candidate, diff
    return best


def _logp(template: ReceiptTemplate, spec: FieldSpec, reads: list[LineRead], target: Any,
          value: Any) -> float | None:
    """log P(witness's value | the value's pixels), for a value printed on one row. For the
    date and time, ``target`` is the acceptable time written most like the reading."""
    if len(reads) != 1:
        return None
    return reads[0].logp(_expected_text(template, spec, target), digits=_digits(spec))


def _weakest_difference(read: LineRead, expected: str, digits: bool) -> float:
    """The confidence of the least sure character where the reading differs from
    ``expected``; the weakest character overall when they do not line up one to one."""
    got, want = normalise(read.text, digits), normalise(expected, digits)
    if len(got) != len(want) or len(got) != len(read.confidences):
        return read.confidence
    return min((c for g, w, c in zip(got, want, read.confidences, strict=True) if g != w),
               default=read.confidence)
