"""Evidence: the frame with every field boxed and labelled with what was read.

Boxes are drawn on the camera frame (mapped back from the flattened slip), green for a
field that agreed, red for a fault, amber for one that could not be read. A card number
printed in clear is blacked out in every image the rig keeps.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.camera.render import find_cjk_font
from harness.receipts.paper import Flattened, to_gray

COLOURS = {"ok": (40, 160, 40), "mismatch": (30, 30, 220), "unmasked": (30, 30, 220),
           "missing": (30, 30, 220), "unreadable": (0, 150, 230), "read": (160, 100, 20)}
Box = tuple[int, int, int, int]
JPEG_QUALITY = 80
CROP_MIME = "image/png"  # what crop_png returns
ANNOTATED = "slip, fields read"  # the evidence's annotated frame, by name


CAPTION_CHARS = 48


@functools.cache
def _caption_font(size: int) -> ImageFont.FreeTypeFont:
    # OpenCV's Hershey fonts have ASCII only (a caption read "txn_type: ?? SALE"): captions
    # are drawn with the CJK font the simulated printer prints with, which has Latin too
    return ImageFont.truetype(str(find_cjk_font()), size)


def _draw_captions(image: np.ndarray, captions: list[tuple[tuple[int, int], str, tuple[int, int, int]]],
                   size: int) -> list[np.ndarray]:
    """Draw each (baseline-left origin, text, BGR colour) on ``image`` in place, white-outlined
    so it reads on paper and tray alike; returns each caption's extent (2 x 2 points)."""
    if not captions:
        return []
    font = _caption_font(size)
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    extents = []
    for (x, y), text, (b, g, r) in captions:
        text = text[:CAPTION_CHARS]
        draw.text((x, y), text, font=font, fill=(r, g, b), anchor="ls",
                  stroke_width=max(1, size // 8), stroke_fill=(255, 255, 255))
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font, anchor="ls")
        extents.append(np.array([[x0, y0], [x1, y1]], np.float32))
    image[:] = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    return extents


def redact(image: np.ndarray, flat: Flattened, boxes: list[Box], on_frame: bool) -> None:
    """Black out the middle of each box (a card number's hidden digits), in place."""
    for x0, y0, x1, y1 in boxes:
        a, b = x0 + (x1 - x0) * 6 // 16, x0 + (x1 - x0) * 12 // 16
        quad = np.array([[a, y0 - 2], [b, y0 - 2], [b, y1 + 2], [a, y1 + 2]], dtype=np.float32)
        pts = flat.to_frame(quad) if on_frame else quad
        cv2.fillPoly(image, [np.round(pts).astype(np.int32)], (0, 0, 0))


def annotate(frame: np.ndarray, flat: Flattened, marks: list[tuple[str, str, list[Box]]],
             redact_boxes: list[Box], ext: str = ".jpg") -> bytes:
    """``frame`` with ``marks`` — (status, caption, boxes on the flat slip) — drawn, encoded
    as ``ext`` says (OpenCV's names: .jpg, .png, ...). JPEG by default: a report keeps one
    frame per slip, and a camera frame as PNG is ten times the size for nothing a reader
    of the report can see. Cropped to the slip and its captions: the bare tray around it
    shows nothing, and its sensor noise is what a JPEG spends most bytes on."""
    image = cv2.cvtColor(to_gray(frame), cv2.COLOR_GRAY2BGR)
    redact(image, flat, redact_boxes, on_frame=True)
    scale = max(1.0, image.shape[0] / 900)
    cv2.polylines(image, [np.round(flat.corners).astype(np.int32)], True, (200, 200, 0), 1)
    shown = [flat.corners]  # what the crop keeps: the paper, then each caption's extent
    captions = []
    for status, caption, boxes in marks:
        colour = COLOURS.get(status, (128, 128, 128))
        for x0, y0, x1, y1 in boxes:
            quad = flat.to_frame(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32))
            cv2.polylines(image, [np.round(quad).astype(np.int32)], True, colour, max(1, int(scale)))
        if boxes:
            x0, y0, x1, y1 = boxes[-1]
            anchor = flat.to_frame(np.array([[x1 + 4, y0 + (y1 - y0) * 0.7]], dtype=np.float32))[0]
            captions.append(((int(anchor[0]), int(anchor[1])), caption, colour))
    shown.extend(_draw_captions(image, captions, max(10, int(13 * scale))))
    return encode(_crop_to(image, np.concatenate(shown), margin=int(16 * scale)), ext)


def _crop_to(image: np.ndarray, points: np.ndarray, margin: int) -> np.ndarray:
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + margin
    h, w = image.shape[:2]
    return image[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]


def mime_of(ext: str) -> str:
    """The mime type of an image file named with ``ext`` (.jpg -> image/jpeg)."""
    kind = ext.lower().lstrip(".")
    return "image/jpeg" if kind in ("jpg", "jpeg", "jpe") else f"image/{kind}"


def encode(image: np.ndarray, ext: str) -> bytes:
    """``image`` as a file of type ``ext``; a JPEG at quality 80, which keeps print legible."""
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if mime_of(ext) == "image/jpeg" else []
    try:
        ok, data = cv2.imencode(ext, image, params)
    except cv2.error as exc:
        raise ValueError(f"cannot write an image as {ext!r}: use .jpg or .png") from exc
    if not ok:
        raise ValueError(f"cannot write an image as {ext!r}: use .jpg or .png")
    return data.tobytes()


def crop_png(flat: Flattened, boxes: list[Box], redact_boxes: list[Box]) -> bytes:
    """PNG of the flattened slip around ``boxes`` (a field's label and value): one printed
    row, a few kilobytes, kept lossless so every dot of the disputed print can be seen."""
    image = flat.image.copy()
    redact(image, flat, redact_boxes, on_frame=False)
    x0 = max(0, min(b[0] for b in boxes) - 6)
    y0 = max(0, min(b[1] for b in boxes) - 6)
    x1 = min(image.shape[1], max(b[2] for b in boxes) + 6)
    y1 = min(image.shape[0], max(b[3] for b in boxes) + 6)
    return encode(image[y0:y1, x0:x1], ".png")
