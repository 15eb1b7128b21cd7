"""The receipt, third witness: the slip must carry what the transaction was.

With a camera over the tray (``station.camera``) the paper itself is read: the camera's
frame of the slip, once it has come to rest, goes to the receipt reader (harness/receipts),
which compares every field with the terminal's ECR result and the host's journal, checks
the note a reprint or a decline's slip ends with, grades the print (faded ink, dead
printhead dots, a slip cut short) and attaches the annotated frame to the step. Without
one, the slip lines the terminal reports over ECR (what it says it printed) are parsed with
the profile's template and compared -- a weaker witness, since it is the terminal's own
word; a real bench should have a camera.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from devices import events
from harness.flows.core import FlowError, TransactionResult, call, source
from harness.flows.witness import journaled
from harness.receipts import (
    PrintLimits,
    ReceiptReader,
    ReceiptTemplate,
    ReceiptUnreadable,
    ReceiptVerdict,
    Witnesses,
)
from harness.station import Station

#: The line a reprinted slip ends with (docs/posrig-ecr-1.md, ``reprint``).
REPRINT_MARK = "重打印 REPRINT"
#: How long a slip may take to drop onto the tray and come to rest after the answer.
SLIP_SETTLE_S = 10.0


@dataclass(frozen=True)
class Reprint:
    status: str
    trace: int | None
    receipt: tuple[str, ...]
    printed: bool
    reason: str | None = None
    tray: Any = field(default=None, compare=False, repr=False)  # frame before it printed

    @property
    def marked(self) -> bool:
        """The slip says it is a reprint (a copy must never pass for the original)."""
        return bool(self.receipt) and REPRINT_MARK in self.receipt[-1]


def tray_before(station: Station) -> Any:
    """The tray as the camera sees it before a print, so the next slip is told from the last
    (None without a camera)."""
    camera = getattr(station, "camera", None)
    return camera.grab() if camera is not None else None


def reprint(station: Station, trace: int | None = None) -> Reprint:
    """The last slip again, or the one of ``trace`` in the open batch."""
    station.check_usable()
    args = {} if trace is None else {"trace": trace}
    title = "reprint the last slip" if trace is None else f"reprint the slip of trace {trace}"
    tray = tray_before(station)
    with events.step(source(station), title, **args) as s:
        response = call(station, "reprint", **args)
        d = response.data
        s.result = f"{response.status} trace={d.get('trace')} {d.get('reason') or ''}".strip()
    return Reprint(response.status, d.get("trace"), tuple(d.get("receipt", ())),
                   bool(d.get("printed")), d.get("reason"), tray)


def check_receipt(station: Station, result: TransactionResult, reprint: Reprint | None = None,
                  *, clock_offset_s: float = 0.0) -> dict[str, str]:
    """Every field of the slip of ``result`` (or of its ``reprint``) agrees with the
    transaction, the host's journal and the station, and the slip ends with the note it must:
    a reprint's mark, a decline's response code, or none. Returns the fields read and
    ``note`` (``reprint``, ``declined 51``, or empty). A slip that disagrees is a terminal
    defect (FlowError); one the camera cannot read breaks the test. ``clock_offset_s``: how
    far ahead of the host's the terminal's clock runs, when a test had the host set it so."""
    printed = reprint.printed if reprint is not None else bool(result.raw.get("printed", result.receipt))
    if not printed:
        raise FlowError(f"{station.name}: the terminal printed no slip for {result.kind} "
                        f"trace {result.trace} ({result.status})")
    what = f"{'reprinted ' if reprint else ''}{result.kind} slip of trace {result.trace}"
    if getattr(station, "camera", None) is None:
        lines = reprint.receipt if reprint else (result.receipt or result.raw.get("decline_receipt", ()))
        return _check_reported(station, result, tuple(lines), reprint is not None)
    verdict = inspect_receipt(station, result, reprint, clock_offset_s=clock_offset_s)
    if verdict.status == "fail":
        raise FlowError(f"{station.name}: the {what} disagrees: {verdict.explain()}")
    if verdict.status != "pass":
        raise ReceiptUnreadable(f"{station.name}: the camera's view of the {what} could not be "
                                f"verified: {verdict.explain()}")
    note = verdict.reading.note
    return {**{key: reading.text for key, reading in verdict.reading.fields.items()},
            "note": note.describe() if note else ""}


def inspect_receipt(station: Station, result: TransactionResult, reprint: Reprint | None = None,
                    *, clock_offset_s: float = 0.0) -> ReceiptVerdict:
    """The camera's reading of the slip, judged, as a report step with the annotated frame;
    whatever the verdict (a scenario that expects a bad print asks for its faults)."""
    camera = getattr(station, "camera", None)
    if camera is None:
        raise FlowError(f"{station.name}: reading the paper needs a camera over the tray; "
                        "the inventory names none")
    before = reprint.tray if reprint is not None else result.tray
    reader = _reader(station)
    witnesses = Witnesses.of(result, journaled(station, result), station.profile, station.tid,
                             reprint=reprint is not None, clock_offset_s=clock_offset_s)
    with events.step(source(station), f"check the {result.kind} slip by camera",
                     trace=result.trace, reprint=reprint is not None) as s:
        frame = camera.grab_settled(changed_from=before, timeout=SLIP_SETTLE_S)
        verdict = reader.verify(frame, witnesses)
        for name, body, mime in reader.evidence(frame, verdict):
            s.attach(name, body, mime)
        note = verdict.reading.note
        s.result = verdict.status + (f": {', '.join(verdict.faults)}" if verdict.faults else "") + (
            f" (note: {note.describe()})" if note else "")
    return verdict


_READERS: dict[Path, ReceiptReader] = {}


def _reader(station: Station) -> ReceiptReader:
    """One reader per profile and process: it learns the template's labels on its first slip."""
    profile = station.profile
    if profile.source not in _READERS:
        _READERS[profile.source] = ReceiptReader(profile.receipt_template,
                                                 PrintLimits.from_profile(profile.source))
    return _READERS[profile.source]


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


def _check_reported(station: Station, result: TransactionResult, lines: tuple[str, ...],
                    reprint: bool = False) -> dict[str, str]:
    """The slip as the terminal reports it printed, compared field by field, and its note."""
    with events.step(source(station), f"check the {result.kind} slip the terminal reports",
                     trace=result.trace) as s:
        if not lines:
            raise FlowError(f"{station.name}: the terminal reported no slip lines for "
                            f"{result.kind} trace {result.trace} ({result.status})")
        slip = read_slip(station, lines)
        s.attach("slip", "\n".join(lines))
        declined = result.status == "declined"
        txn_types = station.profile.receipt_template.get("txn_types", {})
        expected = {
            "merchant_id": station.profile.merchant_id,
            "terminal_id": station.tid,
            "card_number": result.card,
            "txn_type": txn_types.get(result.kind, result.kind),
            "batch": f"{result.batch:06d}" if result.batch is not None else None,
            "trace": f"{result.trace:06d}" if result.trace is not None else None,
            # a decline has no authorisation (and here no reference): printed blank
            "auth_code": result.auth_code or ("" if declined else None),
            "rrn": result.rrn or ("" if declined else None),
        }
        wrong = [f"{key}: slip {slip.get(key)!r}, expected {want!r}"
                 for key, want in expected.items() if want is not None and slip.get(key) != want]
        if _fen(slip.get("amount", "")) != result.amount:
            wrong.append(f"amount: slip {slip.get('amount')!r}, expected {result.amount} fen")
        slip["note"], note_wrong = _reported_note(station, result, lines[-1], reprint)
        wrong.extend(note_wrong)
        if wrong:
            raise FlowError(f"{station.name}: the {result.kind} slip of trace {result.trace} "
                            f"disagrees with the transaction: " + "; ".join(wrong))
        s.result = f"{len(slip)} fields agree"
    return slip


def _reported_note(station: Station, result: TransactionResult, last: str,
                   reprint: bool) -> tuple[str, list[str]]:
    """The note the reported slip ends with (``reprint``, ``declined 51``, or empty), and
    what is wrong with it: the template's ``notes`` say how each is printed."""
    notes = {n.key: n.text for n in ReceiptTemplate.from_dict(station.profile.receipt_template).notes}
    said = next((key for key, text in notes.items() if last.startswith(text)), None)
    code = last.split(":", 1)[1].split()[0] if said == "declined" and ":" in last else None
    got = "" if said is None else said + (f" {code}" if code else "")
    want = "reprint" if reprint else (f"declined {result.rc}" if result.status == "declined" else "")
    return got, ([] if got == want else [f"note: slip ends {last!r}, expected {want or 'no note'}"])
