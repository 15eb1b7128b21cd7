"""Text boxes found by the pinned wheel's text detector, run here on onnxruntime.

The model is rapidocr's own (PP-OCRv6 det small, in the rapidocr wheel pinned in
pyproject.toml); what this module adds is what rapidocr's ``TextDetector`` does around it:
scale the image to multiples of 32, normalise, run, and turn the probability map into boxes
(Differentiable Binarization: threshold, contours, the box's mean probability, the box grown
by its "unclip" distance with pyclipper, rapidocr's own dependency). It is not rapidocr's
class because that class cannot be imported without rapidocr's engine registry, which parses
the whole model catalogue with OmegaConf: 0.5-0.9 s of CPU on every ``posrig receipt read``
before a pixel is looked at (measured with ``python -X importtime``), and its detect-only
call also cuts out every box it found. Each step keeps rapidocr 3.10's defaults (its
config.yaml, ``Det``), so the boxes are the same (tests/test_receipts_detect.py compares
them on real photos); rapidocr itself still reads whole pages (``OcrEngine.read_page``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pyclipper

THRESH = 0.3  # a pixel of the probability map above this is text
BOX_THRESH = 0.5  # a box whose mean probability is below this is dropped
UNCLIP_RATIO = 1.6  # the map marks a text's shrunk core; grown back by area * ratio / perimeter
MAX_CANDIDATES = 1000
MIN_SIZE = 3  # px of the map: a box's short side below this is noise
_DILATE = np.ones((2, 2), np.uint8)


class TextDetector:
    """One onnxruntime session of the detector model; ``boxes`` is thread-safe (the session's
    ``run`` is)."""

    def __init__(self, model: str, options: object) -> None:
        import onnxruntime as ort

        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def boxes(self, image: np.ndarray) -> list[np.ndarray]:
        """Text boxes of ``image`` (BGR or gray, at the size given: the caller scales it), each
        4 x 2 float in image pixels, clockwise from the top-left, top to bottom."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        # the network wants sides that are multiples of 32 (rounded, as rapidocr does)
        rh, rw = max(32, int(round(h / 32) * 32)), max(32, int(round(w / 32) * 32))
        resized = cv2.resize(image, (rw, rh)) if (rh, rw) != (h, w) else image
        x = (resized.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        prob = self._session.run(None, {self._input: x})[0][0, 0]
        return _sorted(_boxes_from_map(prob, w, h))


def _boxes_from_map(prob: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    mh, mw = prob.shape
    mask = cv2.dilate((prob > THRESH).astype(np.uint8), _DILATE)
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for contour in contours[:MAX_CANDIDATES]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < MIN_SIZE:
            continue
        if _mean_inside(prob, _corners(rect)) < BOX_THRESH:
            continue
        box = _corners(rect)
        # grown by its unclip distance as rapidocr grows it (pyclipper's offset with round
        # joins, on whole pixels: the recogniser's confidence in a row follows its box)
        offset = pyclipper.PyclipperOffset()
        offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
        distance = cv2.contourArea(box) * UNCLIP_RATIO / cv2.arcLength(box, True)
        grown = cv2.minAreaRect(np.array(offset.Execute(distance), np.float32).reshape(-1, 1, 2))
        if min(grown[1]) < MIN_SIZE + 2:
            continue
        box = _corners(grown)
        box[:, 0] = np.clip(np.round(box[:, 0] / mw * width), 0, width - 1)
        box[:, 1] = np.clip(np.round(box[:, 1] / mh * height), 0, height - 1)
        box = _clockwise(box)
        if int(np.linalg.norm(box[0] - box[1])) <= 3 or int(np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        out.append(box.astype(np.int32).astype(np.float32))
    return out


def _corners(rect: tuple) -> np.ndarray:
    """The rectangle's corners: top-left, top-right, bottom-right, bottom-left."""
    pts = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(pts[:2], key=lambda p: p[1])
    right = sorted(pts[2:], key=lambda p: p[1])
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def _clockwise(pts: np.ndarray) -> np.ndarray:
    """Corners from the top-left clockwise, judged by position (a box tilted past 45 degrees
    keeps its reading direction: the two left-most corners are its left side)."""
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], np.float32)


def _mean_inside(prob: np.ndarray, box: np.ndarray) -> float:
    h, w = prob.shape
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(box - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _sorted(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Top to bottom by the top-left corner, left to right within 10 px (rapidocr's order)."""
    if not boxes:
        return []
    arr = np.stack(boxes)
    order = np.argsort(arr[:, 0, 1], kind="stable")
    arr = arr[order]
    lines = np.concatenate([[0], np.cumsum(np.diff(arr[:, 0, 1]) >= 10)])
    final = np.lexsort((arr[:, 0, 0], lines))
    return [arr[i] for i in final]
