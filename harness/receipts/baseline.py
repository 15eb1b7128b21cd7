"""Whole-frame OCR without the template's positions: the baseline the reader is measured
against (bench/receipts.py), and what ANCHORS.md measured before it.

Text is detected and recognised over the whole frame; the boxes are grouped into lines
after turning them by the text's own angle (a skewed photo otherwise merges neighbouring
lines, ANCHORS.md), and fields are found by their labels in the lines' text.
"""

from __future__ import annotations

import math

import numpy as np

from harness.receipts import fields as fx
from harness.receipts.ocr import OcrEngine, PageLine
from harness.receipts.template import ReceiptTemplate


def text_lines(page: list[PageLine]) -> list[str]:
    """Boxes grouped into printed lines, top to bottom, each line's boxes left to right."""
    if not page:
        return []
    angles = [math.atan2(p.box[1][1] - p.box[0][1], p.box[1][0] - p.box[0][0]) for p in page]
    theta = float(np.median(angles))
    cos, sin = math.cos(theta), math.sin(theta)
    items = []
    for p in page:
        cx, cy = p.box[:, 0].mean(), p.box[:, 1].mean()
        height = float(np.linalg.norm(p.box[3] - p.box[0]))
        items.append((-sin * cx + cos * cy, cos * cx + sin * cy, height, p.text))
    items.sort()
    pitch = float(np.median([i[2] for i in items]))
    lines: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        if lines and abs(item[0] - np.mean([i[0] for i in lines[-1]])) < 0.5 * pitch:
            lines[-1].append(item)
        else:
            lines.append([item])
    return [" ".join(i[3] for i in sorted(line, key=lambda i: i[1])) for line in lines]


def read_fields(engine: OcrEngine, template: ReceiptTemplate, frame: np.ndarray) -> dict[str, str | None]:
    """``{field key: value text}``, None where the label was not found."""
    lines = text_lines(engine.read_page(frame))
    out: dict[str, str | None] = {}
    for spec in template.fields:
        want = fx.compact(spec.label)
        best, best_i = 0.0, -1
        for i, line in enumerate(lines):
            head = fx.compact(line).replace("：", ":").split(":", 1)[0]
            score = fx.similarity(head, want)
            if score > best:
                best, best_i = score, i
        if best < 0.7:
            out[spec.key] = None
            continue
        line = lines[best_i].replace("：", ":")
        value = line.split(":", 1)[1].strip() if ":" in line else ""
        if not value and best_i + 1 < len(lines):
            value = lines[best_i + 1].strip()  # the printer moved the value to its own row
        out[spec.key] = value
    return out
