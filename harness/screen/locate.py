"""Where the screen is in a display camera's frame, and its rows of text.

``find_screen`` finds the lit screen: the largest bright quadrilateral on the terminal's
darker body (a backlit panel outshines plastic under any bench light), or takes the
profile's ``crop`` when the mount is fixed and the screen's surroundings are not dark.
``rectify`` turns it square, ``SCREEN_W`` pixels wide, so a state's region (shares of the
screen) means the same at any camera angle. ``text_rows`` finds the rows of text by their
ink, after dividing out the backlight's and the glare's unevenness, so only those rows are
given to the recogniser: a few line crops instead of the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SCREEN_W = 480  # rectified width, pixels
FIND_W = 240  # the frame is searched at this width: a screen is big, and this is cheap
MIN_AREA = 0.04  # of the frame: anything smaller is not the screen
RECTANGULAR = 0.9  # a lit panel fills its corners' quadrilateral (within 10 %); a glare's ellipse does not
INK = 0.72  # a pixel darker than this share of its lit surroundings is ink


@dataclass(frozen=True)
class Row:
    """A row of text on the rectified screen: its box (x0, y0, x1, y1) in pixels."""

    box: tuple[int, int, int, int]

    def centre(self, size: tuple[int, int]) -> tuple[float, float]:
        """The box's centre as shares of a (width, height) screen."""
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2 / size[0], (y0 + y1) / 2 / size[1]


def to_gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def find_screen(gray: np.ndarray) -> np.ndarray | None:
    """The lit screen's corners (tl, tr, br, bl; float32 4 x 2, frame pixels), or None when
    no lit screen is in view (a dark panel: the terminal is off)."""
    h, w = gray.shape
    k = FIND_W / w
    small = cv2.resize(gray, (FIND_W, max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0)
    level, mask = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # a dark panel has no bright half: Otsu then splits noise, and both halves are dark
    if level < 60 or float(np.percentile(small, 99)) - float(np.percentile(small, 1)) < 50:
        return None
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))  # text is no hole
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    biggest = max(contours, key=cv2.contourArea)
    if cv2.contourArea(biggest) < MIN_AREA * small.shape[0] * small.shape[1]:
        return None
    hull = cv2.convexHull(biggest)
    quad = None
    for eps in (0.02, 0.04, 0.06, 0.1):
        approx = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float32)
            break
    if quad is None:
        quad = cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)
    # a panel, however skewed, fills the quadrilateral of its corners; a round blob (a
    # reflection on a dark screen's glass) does not, or has no four corners at all
    if abs(cv2.contourArea(biggest) / max(cv2.contourArea(quad), 1.0) - 1.0) > 1.0 - RECTANGULAR:
        return None
    return order_corners(quad / k)


def order_corners(pts: np.ndarray) -> np.ndarray:
    """tl, tr, br, bl of four points."""
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    return np.float32([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])


def crop_corners(crop: tuple[float, float, float, float], shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    x0, y0, x1, y1 = crop
    return np.float32([[x0 * w, y0 * h], [x1 * w, y0 * h], [x1 * w, y1 * h], [x0 * w, y1 * h]])


def rectify(gray: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The screen square and SCREEN_W wide, its height by its measured aspect."""
    tl, tr, br, bl = corners
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    out_h = max(16, round(SCREEN_W * height / max(width, 1.0)))
    # a little inside the edge: the glass's rim and the bezel's shadow are not text
    inset = 0.01
    src = corners + (np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * inset * np.float32([width, height]))
    dst = np.float32([[0, 0], [SCREEN_W, 0], [SCREEN_W, out_h], [0, out_h]])
    m = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
    return cv2.warpPerspective(gray, m, (SCREEN_W, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def flatten(screen: np.ndarray) -> np.ndarray:
    """The screen divided by its lit background (a max filter of it, smoothed): 1.0 is bare
    backlight whatever the glare or the backlight's falloff, ink well below."""
    background = cv2.dilate(screen, np.ones((15, 15), np.uint8))
    background = cv2.blur(background, (31, 31)).astype(np.float32)
    return screen.astype(np.float32) / np.maximum(background, 1.0)


def flat_image(screen: np.ndarray) -> np.ndarray:
    """``flatten`` as an 8-bit image: bare backlight white whatever the glare, ink dark.
    Rows are recognised from this: a reflection over half a row no longer hides that half."""
    return np.clip(flatten(screen) * 255.0, 0, 255).astype(np.uint8)


def text_rows(flat: np.ndarray, *, min_height: int = 8) -> list[Row]:
    """Rows of text on the flattened screen (``flat_image``), top to bottom: bands of rows
    holding ink."""
    ink = (flat < INK * 255).astype(np.uint8)
    ink = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))  # noise specks are no ink
    h, w = ink.shape
    per_row = ink.sum(axis=1)
    on = per_row >= max(2, w // 200)
    rows: list[Row] = []
    y = 0
    while y < h:
        if not on[y]:
            y += 1
            continue
        start = y
        while y < h and on[y]:
            y += 1
        if y - start >= min_height:
            cols = np.flatnonzero(ink[start:y].sum(axis=0))
            pad = max(2, (y - start) // 4)
            rows.append(Row((max(0, int(cols[0]) - pad), max(0, start - pad),
                             min(w, int(cols[-1]) + 1 + pad), min(h, y + pad))))
    return rows
