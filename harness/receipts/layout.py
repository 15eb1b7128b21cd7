"""Printed rows and the bar on a flattened slip.

The printer's layout (devices/camera/render.py, and any thermal printer): one row of text
per line pitch (24-dot text on a 32-dot pitch unless the template's ``print`` section says
otherwise), a value that does not fit moved to the next row and indented, a full-width black
bar after the last line. On the flattened slip (8 px/mm) rows are found from the ink profile
across the paper; a band taller than one pitch (rows merged by blur) is cut at the pitch. A
value set flush right on its label's row (two columns) is part of that row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINE_PITCH = 32
INDENT_PX = 12  # a value row starts at least this far right of the labels (printers: 24)
INK_LEVEL = 0.6  # reflectance under which a pixel is ink
EDGE_X, EDGE_Y = 16, 6  # paper edges no print reaches
MIN_ROW_PX = 10  # a text row is ~22 px; thinner bands are fringes of the bar or the edge
PAD_VALUE = 4  # paper kept above and below a row when it is cropped for recognition


@dataclass(frozen=True)
class Row:
    """A printed row: its box (x0, y0, x1, y1) on the flattened slip."""

    box: tuple[int, int, int, int]
    indented: bool = False

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class Layout:
    rows: tuple[Row, ...]
    bar: tuple[int, int, int, int] | None  # the full-width bar's box, None when absent
    left: int  # where the labels start (the printhead's first dot, nearly)
    right: int  # the printhead's last dot, from the bar when there is one
    paper_bottom_gap: int  # blank paper under the last print: a cut-short slip has none
    ink_level: float = INK_LEVEL  # reflectance under which a pixel is ink, on this slip


def _bands(active: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    bands, start = [], None
    for i, on in enumerate(active):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if i - start >= min_len:
                bands.append((start, i))
            start = None
    if start is not None and len(active) - start >= min_len:
        bands.append((start, len(active)))
    return bands


def ink_level(reflectance: np.ndarray) -> float:
    """Otsu's split between paper and ink, so faded print (ink at 0.75 of the paper) still
    counts as ink; held within bounds so blank paper's noise is never taken for print."""
    import cv2

    as_u8 = np.clip(reflectance * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(as_u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark, light = as_u8[as_u8 <= otsu], as_u8[as_u8 > otsu]
    if dark.size == 0 or light.size == 0:
        return INK_LEVEL
    # halfway between the two classes' means: Otsu's own split sits on the ink's level
    # when the print is one flat tone (a thermal printer's is)
    return float(np.clip((float(dark.mean()) + float(light.mean())) / 2 / 255.0, INK_LEVEL, 0.9))


def find_layout(reflectance: np.ndarray, pitch: int = LINE_PITCH) -> Layout:
    """Rows and the bar; ``pitch``: the printer's line pitch in dots (= px at 8 px/mm)."""
    level = ink_level(reflectance)
    ink = reflectance < level
    h, w = ink.shape
    # ignore the outer paper: the printhead starts 5 mm (40 px) in, and a slightly wide
    # warp leaves a sliver of tray along the edges
    ink[:, :EDGE_X] = False
    ink[:, w - EDGE_X:] = False
    ink[:EDGE_Y, :] = False
    ink[h - EDGE_Y:, :] = False
    per_row = ink.sum(axis=1)
    # the bar first: rows of ink across most of the paper (blur may join it to the last line)
    bar = None
    for y0, y1 in _bands(per_row > 0.7 * w, min_len=8):
        cols = np.flatnonzero(ink[y0:y1].mean(axis=0) > 0.5)
        bar = (int(cols[0]), y0, int(cols[-1]) + 1, y1) if cols.size else (0, y0, w, y1)
        break
    if bar is not None:
        # text above the bar only; the bar's blurred fringe is not a row
        per_row = per_row.copy()
        per_row[max(0, bar[1] - 8):] = 0
    bands = _bands(per_row >= 2, min_len=3)
    # merge bands split by a thin gap inside one row (a Chinese character's strokes)
    merged: list[list[int]] = []
    for y0, y1 in bands:
        if merged and y0 - merged[-1][1] <= 3 and y1 - merged[-1][0] <= pitch:
            merged[-1][1] = y1
        else:
            merged.append([y0, y1])
    rows: list[tuple[int, int, int, int]] = []
    for y0, y1 in merged:
        n = max(1, round((y1 - y0) / pitch)) if y1 - y0 > 1.4 * pitch else 1
        for k in range(n):
            ya = y0 + (y1 - y0) * k // n
            yb = y0 + (y1 - y0) * (k + 1) // n
            cols = np.flatnonzero(ink[ya:yb].any(axis=0))
            if cols.size:
                rows.append((int(cols[0]), ya, int(cols[-1]) + 1, yb))
    rows = [r for r in rows if r[3] - r[1] >= MIN_ROW_PX]
    left = int(np.median(sorted(r[0] for r in rows)[: max(1, len(rows) // 2)])) if rows else 0
    right = bar[2] if bar else (max((r[2] for r in rows), default=w))
    last = bar[3] if bar else (rows[-1][3] if rows else 0)
    out = tuple(Row(r, indented=r[0] - left >= INDENT_PX) for r in rows)
    return Layout(out, bar, left, right, h - last, level)
