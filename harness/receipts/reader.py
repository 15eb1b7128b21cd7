"""The receipt reader: a frame in, the slip's fields and print grade out.

``ReceiptReader.read`` reads a slip on its own (a photo taken by hand, ``posrig receipt
read``). ``ReceiptReader.verify`` reads it against the other two witnesses and gives a
verdict; that is what a test does after every printed transaction. One reader per
template; its OCR engine and label book are kept between slips.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from devices import events
from devices.faults import StationFault, TerminalDefect
from harness.receipts import fields as fx
from harness.receipts.annotate import ANNOTATED, CROP_MIME, annotate, crop_png, mime_of
from harness.receipts.grade import grade
from harness.receipts.layout import PAD_VALUE, Layout, find_layout
from harness.receipts.lines import LabelBook, Located, LocatedLines, locate
from harness.receipts.notes import note_spec, read_note
from harness.receipts.ocr import LineRead, OcrEngine
from harness.receipts.paper import Flattened, PaperNotFound, flatten
from harness.receipts.qr import read_qr
from harness.receipts.reading import Box, FieldReading, ReceiptReading
from harness.receipts.template import FieldSpec, PrintLimits, ReceiptTemplate
from harness.receipts.verify import FAIL, FLAGGED, OK, ReceiptVerdict, judge
from harness.receipts.witness import Witnesses


class ReceiptMismatch(TerminalDefect):
    """The slip disagrees with the transaction or is badly printed: the terminal failed."""


class ReceiptUnreadable(StationFault, RuntimeError):
    """The slip could not be verified from the camera: the bench's problem, not the terminal's."""


@functools.cache
def shared_engine() -> OcrEngine:
    """One OCR engine per process: loading takes seconds, reading a slip milliseconds."""
    return OcrEngine()


@dataclass
class _Work:
    """What one read produced, before it is frozen into a ReceiptReading."""

    flat: Flattened
    layout: Layout
    located: LocatedLines
    reads: dict[str, list[LineRead]]


class ReceiptReader:
    def __init__(self, template: ReceiptTemplate | dict[str, Any], limits: PrintLimits | None = None,
                 engine: OcrEngine | None = None, book: LabelBook | None = None, give_up: int = 0):
        self.give_up = give_up  # see lines.locate: a reader that is only trying its layout
        self.template = template if isinstance(template, ReceiptTemplate) else \
            ReceiptTemplate.from_dict(template)
        self.limits = limits or PrintLimits()
        self.engine = engine or shared_engine()
        self.book = book or LabelBook()

    # -- reading ---------------------------------------------------------------------------
    def read(self, frame: np.ndarray) -> ReceiptReading:
        reading, _ = self._read(frame)
        return reading

    def verify(self, frame: np.ndarray, witnesses: Witnesses) -> ReceiptVerdict:
        """Read the slip and judge it against the ECR result and the host journal."""
        reading, work = self._read(frame)
        return judge(self.template, self.limits, reading, work.reads if work else {}, witnesses)

    def check(self, frame: np.ndarray, witnesses: Witnesses, source: str = "receipt") -> ReceiptVerdict:
        """``verify`` as a test step with its evidence attached; raises ReceiptMismatch (the
        terminal failed) or ReceiptUnreadable (the bench could not verify the slip)."""
        with events.step(source, "read the slip and check it against ECR and host") as step:
            verdict = self.verify(frame, witnesses)
            for name, body, mime in self.evidence(frame, verdict):
                step.attach(name, body, mime)
            step.result = verdict.status
        if verdict.status == FAIL:
            raise ReceiptMismatch(verdict.explain())
        if verdict.status == FLAGGED:
            raise ReceiptUnreadable(verdict.explain())
        return verdict

    def evidence(self, frame: np.ndarray, verdict: ReceiptVerdict,
                 ext: str = ".jpg") -> list[tuple[str, bytes | str, str]]:
        """Attachments: the annotated frame (JPEG, or as ``ext`` says), a crop of each field
        that did not agree (PNG: a row or two), the verdict."""
        reading = verdict.reading
        out: list[tuple[str, bytes | str, str]] = [("receipt verdict", verdict.explain(), "text/plain")]
        flat = reading.flat
        if flat is None:
            return out
        hide = _hide(self.template, reading)
        status = {c.key: c.status for c in verdict.checks}
        marked = [(key, f"{key}: {got.text}", got.label_box, got.boxes)
                  for key, got in reading.fields.items()]
        marked += [("note", f"note: {n.describe()}", n.label_box, n.boxes) for n in reading.notes]
        marks, crops = [], []
        for key, caption, label_box, value_boxes in marked:
            boxes = ([label_box] if label_box else []) + list(value_boxes)
            marks.append((status.get(key, "read"), caption, boxes))
            if status.get(key, OK) != OK and boxes:
                crops.append((f"{key} on the slip", crop_png(flat, boxes, hide), CROP_MIME))
        out.insert(0, (ANNOTATED, annotate(frame, flat, marks, hide, ext), mime_of(ext)))
        return out + crops

    def _read(self, frame: np.ndarray) -> tuple[ReceiptReading, _Work | None]:
        started = time.perf_counter()
        name = self.template.name

        def done(**kw: Any) -> ReceiptReading:
            return ReceiptReading(name, ms=(time.perf_counter() - started) * 1000, **kw)

        try:
            flat = flatten(frame, self.template.layout.paper_mm)
        except PaperNotFound as exc:
            return done(status="unreadable", reason=f"paper not found: {exc}"), None
        layout = find_layout(flat.reflectance, self.template.layout.pitch)
        if not layout.rows:
            upside_down = layout.bar is not None and layout.bar[1] < flat.reflectance.shape[0] / 3
            return done(status="unreadable", flat=flat, reason=(
                "the slip lies upside down (its bar is at the top): turn it on the tray"
                if upside_down else "no print found on the paper")), None
        located = locate(flat.reflectance, layout, self.template, self.book, self.engine, self.give_up)
        by_key = {hit.line.key: hit for hit in located.found}
        copy = next((k.split(":", 1)[1] for k in by_key if k.startswith("copy:")), None)
        # all value crops in one go (fields', and a decline note's code and reason), the only
        # recognition a slip with known labels needs
        valued = [hit for hit in located.found if hit.line.has_value]
        jobs = [(i, box) for i, hit in enumerate(valued) for box in hit.value_boxes]
        crops = [_crop(flat, box) for _, box in jobs]
        of_hit: dict[int, list[LineRead]] = {id(hit): [] for hit in valued}
        for (i, _), line in zip(jobs, self.engine.read_lines(crops), strict=True):
            of_hit[id(valued[i])].append(line)
        # a line found twice (a misprint) is read from its last row, as by_key has it
        reads = {hit.line.key: of_hit[id(hit)] for hit in valued}
        fields = {spec.key: self._field(spec, by_key.get(spec.key), reads.get(spec.key, []))
                  for spec in self.template.fields}
        notes = tuple(read_note(note_spec(self.template, hit.line.key), hit, of_hit.get(id(hit), []))
                      for hit in located.found if hit.line.optional)
        print_grade = grade(flat.reflectance, layout, located, self.template, self.limits)
        qr = read_qr(flat.image) if self.template.qr else None
        work = _Work(flat, layout, located, reads)
        total = len(self.template.fields) + 2
        kept = {"copy": copy, "fields": fields, "notes": notes, "grade": print_grade, "flat": flat,
                "unreadable_rows": located.unreadable_rows}
        if len(located.found) < total / 2 and not print_grade.cut_short:
            return done(status="unreadable", **kept,
                        reason=f"only {len(located.found)} of {total} template lines recognised"), work
        return done(status="read", qr=qr, **kept), work

    def _field(self, spec: FieldSpec, hit: Located | None, reads: list[LineRead]) -> FieldReading:
        if hit is None:
            return FieldReading(spec.key, "", None, 0.0, (), None, "label not found")
        # a colon the label's bitmap left over belongs to the label, not the value
        text = " ".join(r.text for r in reads).strip().lstrip(":：").strip()
        confidence = min((r.confidence for r in reads), default=0.0)
        boxes = tuple(hit.value_boxes)
        try:
            value = fx.parse(spec, text, self.template)
            problem = None
        except fx.FieldError as exc:
            value, problem = None, str(exc)
        return FieldReading(spec.key, fx.shown(spec, text), value, confidence, boxes,
                            hit.label_box, problem)


def _hide(template: ReceiptTemplate, reading: ReceiptReading) -> list[Box]:
    """Value boxes of a card number that is not plainly masked: blacked out in evidence."""
    out: list[Box] = []
    for spec in template.fields:
        got = reading.fields.get(spec.key)
        if spec.kind == "masked_pan" and got is not None and not (
                isinstance(got.value, fx.MaskedPan) and got.value.masked):
            out.extend(got.boxes)
    return out


def _crop(flat: Flattened, box: Box) -> np.ndarray:
    img = flat.reflectance
    h, w = img.shape
    x0, y0, x1, y1 = box
    sub = img[max(0, y0 - PAD_VALUE):min(h, y1 + PAD_VALUE), max(0, x0 - 4):min(w, x1 + 4)]
    return np.clip(sub * 255.0, 0, 255).astype(np.uint8)
