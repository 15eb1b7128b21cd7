"""Grading the print on the flattened slip: contrast, dead dots, lines, a short cut.

Each fault has a name a report can group by. Contrast is measured on the full-width bar
when there is one: it is solid ink, so blur does not lighten it as it lightens thin
strokes. Dead printhead elements are looked for on the bar too (ANCHORS.md: the gaps
between characters hide a blank column in text).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.receipts.layout import Layout
from harness.receipts.lines import LocatedLines
from harness.receipts.template import PrintLimits, ReceiptTemplate

# Fault names, as they appear in a verdict and in the report
CONTRAST_LOW = "print_contrast_low"
DEAD_DOTS = "dead_dot_columns"
LABELS_MISSING = "labels_missing"
LABELS_OUT_OF_ORDER = "labels_out_of_order"
CUT_SHORT = "cut_short"


@dataclass(frozen=True)
class PrintGrade:
    contrast: float | None  # (paper - ink) / paper
    contrast_grade: str  # pass / warn / fail / unknown
    dead_columns: tuple[int, ...]  # x on the flattened slip (1 px = 1 printhead dot)
    missing_labels: tuple[str, ...]
    out_of_order: tuple[str, ...]
    cut_short: bool
    faults: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    unknown_lines: tuple[str, ...] = field(default=())  # rows read clearly that no template line matches

    @property
    def ok(self) -> bool:
        return not self.faults


def measure_contrast(refl: np.ndarray, layout: Layout) -> float | None:
    if layout.bar is not None:
        x0, y0, x1, y1 = layout.bar
        inner = refl[y0 + 3:y1 - 3, x0 + 3:x1 - 3]
        if inner.size:
            ink = float(np.median(inner))
            paper = float(np.percentile(refl, 90))
            return (paper - ink) / paper if paper > 0 else None
    if not layout.rows:
        return None
    # no bar (a short cut): the darkest text pixels, which blur makes lighter than they are
    ink_px = np.concatenate([refl[r.box[1]:r.box[3], r.box[0]:r.box[2]].ravel() for r in layout.rows])
    ink = float(np.percentile(ink_px, 2))
    paper = float(np.percentile(refl, 90))
    return (paper - ink) / paper if paper > 0 else None


def dead_columns(refl: np.ndarray, layout: Layout, drop: float) -> tuple[int, ...]:
    """Columns across the bar lighter than their neighbours by ``drop`` of the print contrast."""
    if layout.bar is None:
        return ()
    x0, y0, x1, y1 = layout.bar
    band = refl[y0 + 3:y1 - 3, x0:x1]
    if band.shape[0] < 3 or band.shape[1] < 20:
        return ()
    profile = band.mean(axis=0)
    ink = float(np.median(profile))
    depth = max(1e-3, float(np.percentile(refl, 90)) - ink)
    # local reference: the median of 15 columns around each (a dead dot is one or two wide)
    padded = np.pad(profile, 7, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 15)
    local = np.median(windows, axis=1)
    lift = (profile - local) / depth
    lift[:2] = lift[-2:] = 0  # the bar's own ends
    # a faint bar is noisy relative to its depth: stay well above the profile's own noise
    noise = 1.4826 * float(np.median(np.abs(lift - np.median(lift))))
    drop = max(drop, 8 * noise)
    out = []
    # blur spreads one blank dot over a few columns: one dead dot per run, at its peak
    above = lift > drop
    x = 0
    while x < len(lift):
        if above[x]:
            end = x
            while end < len(lift) and above[end]:
                end += 1
            out.append(int(x0 + x + np.argmax(lift[x:end])))
            x = end
        else:
            x += 1
    return tuple(out)


def grade(refl: np.ndarray, layout: Layout, located: LocatedLines, template: ReceiptTemplate,
          limits: PrintLimits) -> PrintGrade:
    contrast = measure_contrast(refl, layout)
    if contrast is None:
        contrast_grade = "unknown"
    elif contrast >= limits.contrast_pass:
        contrast_grade = "pass"
    elif contrast >= limits.contrast_fail:
        contrast_grade = "warn"
    else:
        contrast_grade = "fail"
    dead = dead_columns(refl, layout, limits.dead_dot_drop)
    # a cut-short slip lacks the bar and its last lines, the paper ending right under the
    # print; and it is a slip: its first lines are there (noise lacks a bar too)
    last_field = template.fields[-1].key
    cut = template.bar and layout.bar is None and len(located.found) >= 2 and (
        last_field in located.missing or layout.paper_bottom_gap < 24)
    faults, warnings = [], []
    if contrast_grade == "fail":
        faults.append(CONTRAST_LOW)
    elif contrast_grade == "warn":
        warnings.append(CONTRAST_LOW)
    if dead:
        faults.append(DEAD_DOTS)
    if cut:
        faults.append(CUT_SHORT)
    # a line the recogniser could not make out is not a misprint: the reading is flagged
    if (located.missing or located.garbled) and not located.unreadable_rows:
        faults.append(LABELS_MISSING)
    if located.out_of_order:
        faults.append(LABELS_OUT_OF_ORDER)
    return PrintGrade(contrast, contrast_grade, dead, tuple(located.missing),
                      tuple(located.out_of_order), bool(cut), tuple(faults), tuple(warnings),
                      tuple(located.garbled))
