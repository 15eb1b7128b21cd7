"""The simulated thermal printer's ink: a Slip's lines as the paper shows them.

A 58 mm thermal printer has a 384-dot printhead (48 mm at 8 dots/mm) and prints each dot
black or not at all, so the text is drawn without anti-aliasing. The paper is wider than
the printhead: the image keeps a plain paper margin on either side, so a camera sees paper
edges that no print touches.

Layout, which the receipt reader may rely on:
- one printed row per slip line, in order, 24-dot font, 32-dot pitch; a line too long for
  the printhead breaks after ``": "`` (label on one row, value on the next, indented), then
  at spaces, then anywhere;
- after the last line, a full-width black bar (every printhead dot fired), so a dead
  element shows as a blank column through it; text gaps would hide one (ANCHORS.md);
- then the blank feed a printer leaves before the cutter.

Print quality (``Slip.quality``): ``good``; ``faded`` (print contrast about 0.25, below the
reader's fail threshold of 0.30 but still legible); ``dead_column`` (one printhead dot
never fires, through text and bar alike); ``cut_short`` (the paper ends partway, bar and
the last lines missing).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.bench_model import Slip
from devices.faults import RigDefect

QUALITIES = ("good", "faded", "dead_column", "cut_short")

FONT_ENV = "POSRIG_CJK_FONT"
FONT_PACKAGE = "fonts-wqy-microhei"
# Debian's CJK fonts, smallest first; any one of them has the glyphs a UnionPay slip needs.
_KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)

FONT_PX = 24  # the printer's 24-dot font
LINE_PITCH = 32
TOP_FEED = 24
BAR_GAP = 16
BAR_DOTS = 24
BOTTOM_FEED = 64  # blank paper the printer feeds before the cutter
VALUE_INDENT = 24

# Gray levels of paper and ink. Contrast = (paper - ink) / paper.
PAPER = 240
INK = {"good": 24, "faded": 180}  # 0.90 and 0.25


class FontMissingError(RigDefect, RuntimeError):
    """No CJK font on this machine; the message says which package to install."""


def find_cjk_font() -> Path:
    """The font file slips are printed with: $POSRIG_CJK_FONT, a known Debian path, or fontconfig."""
    override = os.environ.get(FONT_ENV)
    if override:
        if Path(override).is_file():
            return Path(override)
        raise FontMissingError(f"{FONT_ENV}={override!r} is not a font file")
    for candidate in _KNOWN_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    fc_list = shutil.which("fc-list")
    if fc_list:
        listed = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True,
                                check=False, timeout=10).stdout
        for line in sorted(listed.splitlines()):
            path = Path(line.split(":")[0].strip())
            if path.suffix.lower() in (".ttf", ".ttc", ".otf") and path.is_file():
                return path
    raise FontMissingError(
        "no CJK font found to print slips with (Chinese labels): install the Debian package "
        f"{FONT_PACKAGE} (apt-get install {FONT_PACKAGE}), or point {FONT_ENV} at a .ttf/.ttc "
        "with Chinese glyphs"
    )


@functools.cache
def _font(size: int, path: str | None = None) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path or str(find_cjk_font()), size)


#: Paper widths of the common thermal printers: printhead dots at 8 dots/mm.
PRINTHEAD_DOTS = {58: 384, 80: 576}


@dataclass(frozen=True)
class PrintLayout:
    """How a terminal family's printer sets a slip: the CUP layout by default (58 mm, 24-dot
    CJK font, 32-dot pitch, a value after its label's ``": "``). Other families print on
    80 mm paper, in another font, or with each value flush right on its label's row (two
    columns): the layout-free reader is tested on those too."""

    paper_mm: int = 58
    font_px: int = FONT_PX
    pitch: int = LINE_PITCH
    values: str = "after"  # "after" the label, or "right": flush right on the label's row
    font: str | None = None  # a font file (a monospaced Latin one, say); None: the CJK font

    def __post_init__(self) -> None:
        if self.paper_mm not in PRINTHEAD_DOTS:
            raise ValueError(f"paper of {self.paper_mm} mm: expected one of {sorted(PRINTHEAD_DOTS)}")
        if self.values not in ("after", "right"):
            raise ValueError(f"values {self.values!r}: expected 'after' or 'right'")
        if not 12 <= self.font_px < self.pitch:
            raise ValueError(f"a {self.font_px}-dot font on a {self.pitch}-dot pitch is not a printer")

    @property
    def dots(self) -> int:
        return PRINTHEAD_DOTS[self.paper_mm]

    def face(self) -> ImageFont.FreeTypeFont:
        return _font(self.font_px, self.font)


CUP_LAYOUT = PrintLayout()


@dataclass(frozen=True)
class PrintedRow:
    """A row of print: its text and its box (x0, y0, x1, y1) in the slip image."""

    text: str
    box: tuple[int, int, int, int]
    line_index: int  # which Slip.lines entry it belongs to


@dataclass(frozen=True)
class SlipImage:
    """A rendered slip: the grayscale paper and where things were printed on it."""

    image: np.ndarray  # uint8, H x W, read-only
    rows: tuple[PrintedRow, ...]  # only rows that survive on the paper
    bar_box: tuple[int, int, int, int] | None  # None when the slip was cut before the bar
    dead_column: int | None  # x of the dead printhead dot, in image pixels
    margin_px: int


def _text_width(text: str, layout: PrintLayout = CUP_LAYOUT) -> float:
    return layout.face().getlength(text)


def _break_to_width(text: str, width: float, layout: PrintLayout = CUP_LAYOUT) -> list[str]:
    if _text_width(text, layout) <= width:
        return [text]
    out: list[str] = []
    rest = text
    while rest and _text_width(rest, layout) > width:
        cut = len(rest)
        while cut > 1 and _text_width(rest[:cut], layout) > width:
            cut -= 1
        space = rest.rfind(" ", 0, cut + 1)
        if space > 0:
            cut = space
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        out.append(rest)
    return out


def layout_rows(lines: tuple[str, ...], width_px: int,
                layout: PrintLayout = CUP_LAYOUT) -> list[tuple[str, int, int]]:
    """(text, x offset within the printhead, line index) for every printed row."""
    rows: list[tuple[str, int, int]] = []
    for index, line in enumerate(lines):
        if layout.values == "right" and ": " in line:
            label, value = line.split(": ", 1)
            gap = _text_width("  ", layout)
            if _text_width(label, layout) + gap + _text_width(value, layout) <= width_px:
                # two columns: the label at the left, its value flush right on the same row
                rows.append((label, 0, index))
                rows.append((value, int(width_px - _text_width(value, layout)), -1 - index))
                continue
        if _text_width(line, layout) <= width_px or ": " not in line:
            rows.extend((part, 0, index) for part in _break_to_width(line, width_px, layout))
            continue
        label, value = line.split(": ", 1)
        rows.extend((part, 0, index) for part in _break_to_width(label + ":", width_px, layout))
        rows.extend((part, VALUE_INDENT, index)
                    for part in _break_to_width(value, width_px - VALUE_INDENT, layout))
    return rows


def dead_dot_of(slip: Slip, width_px: int) -> int:
    """Which printhead dot is dead: fixed per slip text, away from the edges."""
    return 16 + zlib.crc32("\n".join(slip.lines).encode()) % (width_px - 32)


def render_slip(slip: Slip, *, width_px: int | None = None, margin_px: int = 40,
                layout: PrintLayout | None = None) -> SlipImage:
    """Render ``slip`` with ``layout``, else the layout it was printed with (``Slip.layout``,
    the CUP layout when it names none); ``width_px`` printhead dots (default: the layout's
    paper's), ``margin_px`` paper each side."""
    if layout is None:
        layout = PrintLayout(**dict(slip.layout)) if slip.layout else CUP_LAYOUT
    width_px = layout.dots if width_px is None else width_px
    if slip.quality not in QUALITIES:
        raise ValueError(f"unknown slip quality {slip.quality!r}: expected one of {QUALITIES}")
    if width_px < 64 or margin_px < 0:
        raise ValueError(f"printhead of {width_px} dots / margin {margin_px} px is not a printer")
    placed = layout_rows(slip.lines, width_px, layout)
    # a value set flush right shares its label's row (its line index is stored as -1 - index)
    row_of: list[int] = []
    for _text, _x, index in placed:
        row_of.append(row_of[-1] if index < 0 and row_of else (row_of[-1] + 1 if row_of else 0))
    rows = [(text, x, index if index >= 0 else -1 - index) for text, x, index in placed]
    n_rows = (row_of[-1] + 1) if row_of else 0
    pitch = layout.pitch
    bar_top = TOP_FEED + n_rows * pitch + BAR_GAP
    height = bar_top + BAR_DOTS + BOTTOM_FEED

    # Print onto a 1-bit head buffer first: a dot fires or not.
    head = Image.new("1", (width_px, height), 0)
    draw = ImageDraw.Draw(head)
    draw.fontmode = "1"
    boxes: list[PrintedRow] = []
    face = layout.face()
    for i, (text, indent, line_index) in enumerate(rows):
        y = TOP_FEED + row_of[i] * pitch
        draw.text((indent, y), text, fill=1, font=face)
        x0, y0, x1, y1 = draw.textbbox((indent, y), text, font=face)
        boxes.append(PrintedRow(text, (x0 + margin_px, y0, x1 + margin_px, y1), line_index))
    draw.rectangle((0, bar_top, width_px - 1, bar_top + BAR_DOTS - 1), fill=1)
    dots = np.array(head, dtype=bool)

    dead = None
    if slip.quality == "dead_column":
        dead = dead_dot_of(slip, width_px)
        dots[:, dead] = False

    ink = INK["faded"] if slip.quality == "faded" else INK["good"]
    paper = np.full((height, width_px + 2 * margin_px), PAPER, dtype=np.uint8)
    paper[:, margin_px:margin_px + width_px][dots] = ink
    bar_box: tuple[int, int, int, int] | None = (
        margin_px, bar_top, margin_px + width_px, bar_top + BAR_DOTS)

    if slip.quality == "cut_short":
        # The cutter fired early: keep the top 60 % of the printed rows, lose the rest and the bar.
        keep = TOP_FEED + max(1, (n_rows * 3) // 5) * pitch
        paper = paper[:keep]
        boxes = [row for row in boxes if row.box[3] <= keep]
        bar_box = None

    paper.setflags(write=False)
    return SlipImage(paper, tuple(boxes), bar_box,
                     None if dead is None else dead + margin_px, margin_px)


def render_slip_image(slip: Slip, *, width_px: int | None = None, margin_px: int = 40,
                      layout: PrintLayout | None = None) -> np.ndarray:
    """The slip as grayscale paper (uint8, H x W), black print on white; see ``render_slip``."""
    return render_slip(slip, width_px=width_px, margin_px=margin_px, layout=layout).image
