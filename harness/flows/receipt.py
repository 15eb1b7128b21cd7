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

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices import events
from harness.flows.core import FlowError, Settlement, TransactionResult, call, source
from harness.flows.journal_witness import journaled
from harness.receipts import (
    PrintLimits,
    ReceiptReader,
    ReceiptTemplate,
    ReceiptUnreadable,
    ReceiptVerdict,
    Witnesses,
)
from harness.receipts.reported import disagreements, fields_of
from harness.receipts.settlement import SettlementReport
from harness.station import Station, StationBroken

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
        _check_paper(station, f"the {result.kind} slip of trace {result.trace}")
        raise FlowError(f"{station.name}: the terminal printed no slip for {result.kind} "
                        f"trace {result.trace} ({result.status})")
    what = f"{'reprinted ' if reprint else ''}{result.kind} slip of trace {result.trace}"
    if getattr(station, "camera", None) is None:
        _without_camera(station, what)
        lines = reprint.receipt if reprint else (result.receipt or result.raw.get("decline_receipt", ()))
        witnesses = _witnesses(station, result, reprint, clock_offset_s)
        return _check_reported(station, _reader(station), witnesses, tuple(lines), what)
    return _accepted(station, inspect_receipt(station, result, reprint, clock_offset_s=clock_offset_s),
                     what)


def inspect_receipt(station: Station, result: TransactionResult, reprint: Reprint | None = None,
                    *, clock_offset_s: float = 0.0) -> ReceiptVerdict:
    """The camera's reading of the slip, judged, as a report step with the annotated frame;
    whatever the verdict (a scenario that expects a bad print asks for its faults)."""
    before = reprint.tray if reprint is not None else result.tray
    return _inspect(station, _reader(station), _witnesses(station, result, reprint, clock_offset_s),
                    before, f"check the {result.kind} slip by camera", trace=result.trace,
                    reprint=reprint is not None)


def check_settlement_slip(station: Station, settled: Settlement, *,
                          clock_offset_s: float = 0.0) -> dict[str, str]:
    """The slip a settlement printed agrees with the terminal's answer over ECR (batch, totals
    per side, balanced or not) and the host's journal of the settlement (what the terminal
    sent it, its verdict). Returns the fields read and ``note`` (``balanced`` / ``unbalanced``)."""
    if not settled.data.get("printed"):
        _check_paper(station, "the settlement slip")
        raise FlowError(f"{station.name}: the terminal printed no settlement slip ({settled.status})")
    report = SettlementReport.from_response(settled.status, settled.data)
    entry = next((e for e in reversed(station.host.entries(station.tid, "settlement"))
                  if e.batch is not None and report.batch is not None and int(e.batch) == report.batch), None)
    if entry is None:
        raise FlowError(f"{station.name}: the host journaled no settlement of batch {report.batch}")
    witnesses = Witnesses.of(report, entry, station.profile, station.tid, clock_offset_s=clock_offset_s)
    reader = _reader(station, settlement=True)
    what = f"settlement slip of batch {report.batch}"
    if getattr(station, "camera", None) is None:
        _without_camera(station, what)
        return _check_reported(station, reader, witnesses, tuple(settled.data.get("receipt", ())), what)
    return _accepted(station, _inspect(station, reader, witnesses, settled.tray,
                                       "check the settlement slip by camera", batch=report.batch), what)


#: Set (to 1) by ``posrig run --strict``: no slip is checked from the lines the terminal
#: reports; a station without a camera over the tray cannot run a slip check at all.
STRICT_ENV = "POSRIG_STRICT"


def slip_check_method(station: Station) -> str:
    """How this station's slips are checked, as each test shows it (a parameter)."""
    if getattr(station, "camera", None) is not None:
        return "camera"
    return "none (strict)" if _strict(station) else "reported lines"


def _strict(station: Station) -> bool:
    return station.profile.require_camera or os.environ.get(STRICT_ENV, "") not in ("", "0")


def _without_camera(station: Station, what: str) -> None:
    """The weaker check says so on the test; in strict mode it is not made at all."""
    if _strict(station):
        raise StationBroken(
            f"{station.name}: the {what} must be read by camera (strict: `posrig run --strict` or "
            "the profile's receipt.require_camera) and the station has no camera over the tray; "
            "name one under `camera:` in the inventory")
    with events.step(source(station), f"WARNING: the {what} is checked from the lines the terminal "
                     "reports, not by camera") as s:
        s.result = ("no camera over the tray: a slip printed wrong but reported right would pass; "
                    "`posrig run --strict` refuses such checks")


def _check_paper(station: Station, what: str) -> None:
    """A terminal that said its printer ran out of paper did right: the bench needs paper
    (a consumable, like a card robot's magazine), so the missing slip is a station fault."""
    printing = [e for e in station.terminal.received if e.event == "printing"]
    if printing and printing[-1].data.get("state") == "out_of_paper":
        raise StationBroken(f"{station.name}: {what} was not printed: the terminal reports its "
                            "printer out of paper; load a paper roll")


def _witnesses(station: Station, result: TransactionResult, reprint: Reprint | None,
               clock_offset_s: float) -> Witnesses:
    return Witnesses.of(result, journaled(station, result), station.profile, station.tid,
                        reprint=reprint is not None, clock_offset_s=clock_offset_s)


def _inspect(station: Station, reader: ReceiptReader, witnesses: Witnesses, before: Any, title: str,
             **args: Any) -> ReceiptVerdict:
    camera = getattr(station, "camera", None)
    if camera is None:
        raise FlowError(f"{station.name}: reading the paper needs a camera over the tray; "
                        "the inventory names none")
    with events.step(source(station), title, **args) as s:
        frame = camera.grab_settled(changed_from=before, timeout=SLIP_SETTLE_S)
        verdict = reader.verify(frame, witnesses)
        for name, body, mime in reader.evidence(frame, verdict):
            s.attach(name, body, mime)
        note = verdict.reading.note
        s.result = verdict.status + (f": {', '.join(verdict.faults)}" if verdict.faults else "") + (
            f" (note: {note.describe()})" if note else "")
    return verdict


def _accepted(station: Station, verdict: ReceiptVerdict, what: str) -> dict[str, str]:
    """The fields read and the note of a slip that passed; FlowError (the terminal's fault)
    or ReceiptUnreadable (the bench's) otherwise."""
    if verdict.status == "fail":
        raise FlowError(f"{station.name}: the {what} disagrees: {verdict.explain()}")
    if verdict.status != "pass":
        raise ReceiptUnreadable(f"{station.name}: the camera's view of the {what} could not be "
                                f"verified: {verdict.explain()}")
    note = verdict.reading.note
    return {**{key: reading.text for key, reading in verdict.reading.fields.items()},
            "note": note.describe() if note else ""}


#: Readers by (profile file, settlement slip): a few terminal families per run; the oldest
#: goes when a 17th arrives, so a long-lived process never grows it without bound.
_READERS: OrderedDict[tuple[Path, bool], ReceiptReader] = OrderedDict()
MAX_READERS = 16


def _reader(station: Station, settlement: bool = False) -> ReceiptReader:
    """One reader per profile and slip: it learns the template's labels on its first slip
    and reads each slip in the layout the template's ``print`` section sets (the CUP layout,
    or 80 mm paper with values flush right: terminals/posrig-sim-tw.yaml). The settlement
    slip's template is the one the profile's receipt template names."""
    profile = station.profile
    key = (profile.source, settlement)
    if key not in _READERS:
        template = ReceiptTemplate.from_dict(profile.receipt_template, str(profile.source))
        if settlement:
            if template.settlement is None:
                raise FlowError(f"{station.name}: receipt template {template.name} names no "
                                "settlement slip template (settlement: in its file)")
            template = ReceiptTemplate.from_dict(profile.settlement_template,
                                                 f"receipts/{template.settlement}.yaml")
        _READERS[key] = ReceiptReader(template, PrintLimits.from_profile(profile.source))
        while len(_READERS) > MAX_READERS:
            _READERS.popitem(last=False)
    return _READERS[key]


def read_slip(station: Station, lines: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{field key: value}`` from slip lines laid out as ``LABEL: value`` by the template."""
    return fields_of(_reader(station).template, lines)


def _check_reported(station: Station, reader: ReceiptReader, witnesses: Witnesses,
                    lines: tuple[str, ...], what: str) -> dict[str, str]:
    """The slip as the terminal reports it printed, field by field and its note, against the
    same witnesses the camera's reading is judged by."""
    with events.step(source(station), f"check the {what} the terminal reports") as s:
        if not lines:
            raise FlowError(f"{station.name}: the terminal reported no lines of the {what}")
        s.attach("slip", "\n".join(lines))
        slip, wrong = disagreements(reader.template, reader.limits, lines, witnesses)
        if wrong:
            raise FlowError(f"{station.name}: the {what} disagrees with the transaction: "
                            + "; ".join(wrong))
        s.result = f"{len(slip) - 1} fields agree" + (f" (note: {slip['note']})" if slip["note"] else "")
    return slip
