"""What a person expects of a slip no template describes, and the verdict on it.

Expectations (``--expect amount=29,000``) are parsed by the family's formats
(harness.receipts.formats): one that does not parse is an error that says what would.
The verdict follows the template reader's rules (docs/receipts.md): a field is ``ok`` when
the slip shows the expected value; ``mismatch`` only when it was found by its label, read
surely (weakest character at least ``MISMATCH_MIN``) and says something else; a value found
by its shape or a learnt place alone only confirms; an id no label names is confirmed by
sight when the slip prints exactly it on its own (``sighted``); ``unreadable`` otherwise,
and when the slip does not show the field at all (a layout-free reader cannot tell a field
the terminal left out from one it could not find). Unsure is never a pass.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from harness.config import ConfigError
from harness.receipts import formats as fm
from harness.receipts.freeform import READ_MIN, FreeformReader, same_value
from harness.receipts.ocr import normalise
from harness.receipts.reading import ReceiptReading, SeenText
from harness.receipts.verify import (
    FAIL,
    FLAGGED,
    MISMATCH,
    OK,
    PASS,
    UNMASKED,
    UNREADABLE,
    FieldCheck,
    ReceiptVerdict,
)

# A layout-free reading blames the terminal only when every character of the value was read
# at least this surely: there is no template to score the expected value against.
MISMATCH_MIN = 0.90


def parse_expectation(reader: FreeformReader, key: str, text: str) -> Any:
    """The value ``key=text`` expects, by the family's formats; ConfigError when it does not parse."""
    fdef = reader.labels.fields.get(key)
    if fdef is None:
        names = ", ".join(sorted(reader.labels.fields))
        raise ConfigError(f"--expect {key}={text}: no field {key!r} (fields: {names})")
    fmt = reader.template.formats
    try:
        if fdef.kind == "amount":
            return fm.expect_amount(text, fmt)
        if fdef.kind == "datetime":
            return fm.expect_datetime(text, fmt)
        if fdef.kind == "pan":
            return fm.expect_pan(text, fmt)
        if fdef.kind in ("digits", "code"):
            return fm.expect_code(key, text, fmt, digits_only=fdef.kind == "digits")
        if not text.strip():
            raise fm.FormatError("an empty value")
        return text.strip()
    except fm.FormatError as exc:
        raise ConfigError(f"--expect {key}={text}: {exc}") from exc


# An id or a code no label names (a label in a script the recogniser cannot read) is still
# confirmed when the slip prints exactly the expected value as a text of its own, read surely,
# and not as the value of another field's label: ids of SIGHT_MIN characters or more do not
# appear by chance. Never a mismatch (another number may stand anywhere), never for amounts
# (a slip prints several) or card numbers (their own pattern).
SIGHT_KINDS = ("digits", "code")
SIGHT_MIN = 6
SIGHTED = "printed as a value of its own where no label names it"
_PIECES = re.compile(r"[^\s\[\](){}<>【】〔〕|/:：]+")  # ids hold none of these


def sighted(reading: ReceiptReading, key: str, want: Any) -> SeenText | None:
    """The text on the slip that is exactly ``want`` (an id), if any: a piece of a recognised
    text between spaces, brackets, slashes or colons (승인/가맹점 00373075/840895992,
    No:2873738), every character read at least READ_MIN surely."""
    target = normalise(str(want), digits=True).upper()
    if len(target) < SIGHT_MIN:
        return None
    for seen in reading.seen:
        if seen.claimed_by not in (None, key):
            continue
        for m in _PIECES.finditer(seen.text):
            piece = m.group(0)
            lo = m.start() + len(piece) - len(piece.lstrip(":：.,;#"))
            piece = piece.strip(":：.,;#")
            if normalise(piece, digits=True).upper() != target:
                continue
            confs = seen.confidences[lo:lo + len(piece)]
            if confs and min(confs) >= READ_MIN:
                return seen
    return None


def shown(value: Any) -> str:
    if value is None:
        return "—"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def verify(reader: FreeformReader, frame: np.ndarray, expected: dict[str, Any],
           tolerance_s: float = 120.0) -> ReceiptVerdict:
    """Read every slip in ``frame``; judge the one that shows most of what is expected."""
    readings = reader.read_all(frame)

    def agreeing(r: ReceiptReading) -> tuple[int, int]:
        ok = sum(1 for k, v in expected.items() if k in r.fields and r.fields[k].value is not None
                 and same_value(reader.labels.fields[k].kind, r.fields[k].value, v, tolerance_s))
        return ok, sum(f.value is not None for f in r.fields.values())

    reading = max(readings, key=agreeing)
    return judge(reader, reading, expected, tolerance_s)


def judge(reader: FreeformReader, reading: ReceiptReading, expected: dict[str, Any],
          tolerance_s: float = 120.0) -> ReceiptVerdict:
    checks = []
    if not expected:  # read without witnesses: each field read surely, or not
        for key, got in reading.fields.items():
            sure = got.value is not None and got.confidence >= READ_MIN
            why = "" if sure else (got.problem or f"weakest character {got.confidence:.2f}")
            checks.append(FieldCheck(key, OK if sure else UNREADABLE, got.text, {}, why))
    for key, want in expected.items():
        kind = reader.labels.fields[key].kind
        witnesses = {"given": shown(want)}
        got = reading.fields.get(key)
        if kind in SIGHT_KINDS and (got is None or got.label_box is None) and \
                not (got is not None and got.value is not None and same_value(kind, got.value, want)):
            sight = sighted(reading, key, want)
            if sight is not None:
                checks.append(FieldCheck(key, OK, sight.text, witnesses, SIGHTED))
                continue
        if got is None or got.value is None:
            detail = (got.problem if got is not None and got.problem else
                      "not on the slip as far as it could be read (no label of the dictionary, no value "
                      "of its shape)")
            checks.append(FieldCheck(key, UNREADABLE, got.text if got else "", witnesses, detail))
            continue
        value = got.value
        if kind == "pan" and isinstance(value, fm.ShownPan) and not value.masked and \
                value.digits_shown > 10 and got.confidence >= MISMATCH_MIN:
            checks.append(FieldCheck(key, UNMASKED, got.text, witnesses,
                                     f"the slip prints {value.digits_shown} digits of the card number"))
            continue
        if got.confidence < READ_MIN:
            checks.append(FieldCheck(key, UNREADABLE, got.text, witnesses,
                                     f"weakest character {got.confidence:.2f}"))
            continue
        if same_value(kind, value, want, tolerance_s):
            checks.append(FieldCheck(key, OK, got.text, witnesses))
        elif got.label_box is None:
            # found by its shape or its learnt place, not by its label: another number of that
            # shape (a loyalty card's, a subtotal) may stand there, so it can confirm the
            # expected value but never say the slip is wrong
            why = f"read {shown(value)} where no label names it: not sure it is the {key}"
            checks.append(FieldCheck(key, UNREADABLE, got.text, witnesses, why))
        elif got.confidence >= MISMATCH_MIN:
            checks.append(FieldCheck(key, MISMATCH, got.text, witnesses, "the slip prints another value"))
        else:
            checks.append(FieldCheck(key, UNREADABLE, got.text, witnesses,
                                     f"read {shown(value)}, weakest character {got.confidence:.2f}: "
                                     "not sure enough to say the slip is wrong"))
    faults = tuple(f"mismatch:{c.key}" if c.status == MISMATCH else "card_number_unmasked"
                   for c in checks if c.status in (MISMATCH, UNMASKED))
    flags = tuple(f"unreadable:{c.key}" for c in checks if c.status == UNREADABLE)
    if not reading.readable:
        flags = (reading.reason or "unreadable", *flags)
    if faults:
        status = FAIL
    elif expected:
        status = FLAGGED if flags else PASS
    else:  # nothing to judge: what was read, and whether anything was
        status = "read" if reading.readable else FLAGGED
    return ReceiptVerdict(status, tuple(checks), faults, flags, (), reading)


def evidence(frame: np.ndarray, verdict: ReceiptVerdict,
             ext: str = ".jpg") -> list[tuple[str, bytes | str, str]]:
    """The annotated photo (each field boxed and captioned, a card number printed in clear
    blacked out) and the verdict as text, as ReceiptReader.evidence gives them."""
    from harness.receipts.annotate import ANNOTATED, annotate, mime_of

    reading = verdict.reading
    out: list[tuple[str, bytes | str, str]] = [("receipt verdict", verdict.explain(), "text/plain")]
    if reading.flat is None:
        return out
    status = {c.key: c.status for c in verdict.checks}
    hide = [b for key, got in reading.fields.items() if isinstance(got.value, fm.ShownPan)
            and not got.value.masked for b in got.boxes]
    marks = [(status.get(key, "read"), f"{key}: {got.text}",
              ([got.label_box] if got.label_box else []) + list(got.boxes))
             for key, got in reading.fields.items()]
    out.insert(0, (ANNOTATED, annotate(frame, reading.flat, marks, hide, ext), mime_of(ext)))
    return out
