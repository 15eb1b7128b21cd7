"""The simulated terminal's LCD: what its screen shows, as the panel lights it.

A countertop CUP terminal has a small backlit colour LCD (here 480 x 272 pixels, a common
4.3-inch panel). The firmware draws the lines of its current screen centred, one per row,
in its own font (the monospaced face of the CJK font the printer uses, anti-aliased as an
LCD shows it, never the printer's 1-bit dots), and its current prompt on the bottom row.
A line too wide for the panel is broken at spaces.

``Content`` is what is on the screen; ``render_panel`` is the panel's light: a backlit
background whose brightness is ``backlight`` (0..1) and text whose darkness against it is
``contrast`` (0..1). A panel with no power is dark, and shows nothing.

Layout, which the screen reader does not rely on (it finds rows by their ink), but a
profile's state regions may: display lines from the top, 40 px pitch; the prompt on the
last of the six rows (y 232..272, the bottom 15 % of the panel).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.camera.render import find_cjk_font

PANEL_W, PANEL_H = 480, 272
FONT_PX = 26
ROW_PITCH = 40
TOP = 12
ROWS = (PANEL_H - TOP) // ROW_PITCH  # 6
SIDE_MARGIN = 12
MONO_FACE = 1  # wqy-microhei.ttc's second face is WenQuanYi Micro Hei Mono
BACKLIGHT = 240.0  # the panel's gray at full backlight (the camera's scene gives it its tint)
DARK_PANEL = 14.0  # an unlit panel under the bench's light


@dataclass(frozen=True)
class Content:
    """What the screen shows: the firmware's display lines, its prompt, and whether it is lit."""

    lines: tuple[str, ...] = ()
    prompt: str | None = None
    lit: bool = True
    qr: str | None = None  # a code the screen shows (a B2C order): drawn on the right, lines left


    def text(self) -> str:
        """The screen's text, one line per row as drawn (for logs and ground truth)."""
        return "\n".join(row for row, _ in layout(self)) if self.lit else ""


@functools.cache
def lcd_font(size: int = FONT_PX) -> ImageFont.FreeTypeFont:
    """The panel's font: the monospaced face of the CJK font (the printer uses the proportional one)."""
    path = str(find_cjk_font())
    try:
        return ImageFont.truetype(path, size, index=MONO_FACE)
    except OSError:  # a single-face font file (another CJK font): its only face
        return ImageFont.truetype(path, size)


def _wrap(text: str, width: float) -> list[str]:
    font = lcd_font()
    if font.getlength(text) <= width:
        return [text]
    rows: list[str] = []
    words = text.split(" ")
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > width:
            rows.append(current)
            current = word
        else:
            current = candidate
    if current:
        rows.append(current)
    return rows


def qr_side(content: Content) -> int:
    """Pixels of the square a shown code takes on the right of the panel (0: none)."""
    return PANEL_H - 2 * SIDE_MARGIN if content.qr else 0


def layout(content: Content) -> list[tuple[str, int]]:
    """(text, row index) for every row drawn: display lines from the top, the prompt on the
    last row. Lines beyond the rows above the prompt are not shown, as on a real panel."""
    width = PANEL_W - 2 * SIDE_MARGIN - (qr_side(content) + SIDE_MARGIN if content.qr else 0)
    rows = [row for line in content.lines for row in _wrap(line, width)]
    last = ROWS - 1
    placed = [(text, i) for i, text in enumerate(rows[:last])]
    if content.prompt:
        placed.append((_wrap(content.prompt, width)[0], last))
    elif len(rows) > last:
        placed.append((rows[last], last))
    return placed


def render_panel(content: Content, *, backlight: float = 0.9, contrast: float = 0.8) -> np.ndarray:
    """The panel's light, PANEL_H x PANEL_W float32 gray (0..255): what the camera sees of
    the screen before the glass's glare and the lens."""
    if not (0.0 < backlight <= 1.0 and 0.0 < contrast <= 1.0):
        raise ValueError(f"backlight {backlight} and contrast {contrast}: each within (0, 1]")
    if not content.lit:
        return np.full((PANEL_H, PANEL_W), DARK_PANEL, np.float32)
    # draw coverage (0..1) once in gray, anti-aliased, then light it
    ink = Image.new("L", (PANEL_W, PANEL_H), 0)
    draw = ImageDraw.Draw(ink)
    font = lcd_font()
    side = qr_side(content)
    text_w = PANEL_W - (side + SIDE_MARGIN if side else 0)
    for text, row in layout(content):
        x = (text_w - font.getlength(text)) / 2
        draw.text((x, TOP + row * ROW_PITCH), text, fill=255, font=font)
    cover = np.asarray(ink, np.float32) / 255.0
    if side:
        cover[SIDE_MARGIN:SIDE_MARGIN + side, PANEL_W - SIDE_MARGIN - side:PANEL_W - SIDE_MARGIN] = \
            _qr_cover(str(content.qr), side)
    # liquid crystal over a pixel blocks ``contrast`` of the backlight (never all of it)
    return (1.0 - contrast * cover) * np.float32(BACKLIGHT * backlight)


@functools.lru_cache(maxsize=8)
def _qr_cover(text: str, side: int) -> np.ndarray:
    """The QR code of ``text`` as ink coverage (1 = dark module), ``side`` pixels square, with
    its quiet zone (zxing-cpp writes it)."""
    import cv2
    import zxingcpp

    image = np.asarray(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
                       .to_image(scale=1, add_quiet_zones=True), np.uint8)
    scaled = cv2.resize(image, (side, side), interpolation=cv2.INTER_NEAREST)
    return (255 - scaled).astype(np.float32) / 255.0
