"""Find the slip in a frame, flatten it top-down, and flatten the light on it.

The paper is the large light quadrilateral on a darker tray. It is warped to a fixed
scale, 8 px per mm (the printhead's own dot pitch), so the template's layout holds in
pixels: 58 mm paper = 464 px, a 32 px line pitch. A flat scan whose paper fills the whole
image is taken as it is. Lighting is divided out against a smooth estimate of the bare
paper, which leaves each pixel as a fraction of the paper around it: that is the print
contrast the grader measures, whatever the lamp did (ANCHORS.md: thresholding did not
help the recogniser, so the reader keeps gray levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PX_PER_MM = 8
PAPER_MM = 58
PAPER_PX = PAPER_MM * PX_PER_MM  # 464
PAPER_OVER_GROUND = 1.6  # paper's median gray over the tray's, at the least (see find_paper)


class PaperNotFound(Exception):
    """No slip-shaped paper in the frame."""


@dataclass(frozen=True)
class Flattened:
    """The slip top-down at 8 px/mm."""

    gray: np.ndarray  # uint8, lighting as captured, warped
    reflectance: np.ndarray  # float32 0..1: each pixel as a fraction of the bare paper near it
    corners: np.ndarray  # 4 x 2 float32: the paper's corners in the frame (tl, tr, br, bl)
    homography: np.ndarray  # frame -> flattened

    @property
    def image(self) -> np.ndarray:
        """The light-flattened slip as uint8 (paper near 255, ink dark): what OCR reads."""
        return np.clip(self.reflectance * 255.0, 0, 255).astype(np.uint8)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Map points (N x 2) of the flattened slip back into the frame."""
        inv = np.linalg.inv(self.homography)
        pts = cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float32), inv)
        return pts.reshape(-1, 2)


def to_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def _order(quad: np.ndarray) -> np.ndarray:
    """tl, tr, br, bl; the slip's long side runs down the frame (print top at the top)."""
    pts = quad.reshape(4, 2).astype(np.float32)
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    return np.array([pts[s.argmin()], pts[d.argmin()], pts[s.argmax()], pts[d.argmax()]],
                    dtype=np.float32)


def find_paper(gray: np.ndarray) -> np.ndarray:
    """The paper's four corners in the frame."""
    h, w = gray.shape
    small_scale = min(1.0, 640 / max(h, w))
    small = cv2.resize(gray, None, fx=small_scale, fy=small_scale, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0)
    if float(small.std()) < 4:
        raise PaperNotFound("the frame is one flat tone: no slip in view (camera covered or tray empty?)")
    _, mask = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # close the print into the paper so text never splits the outline
    k = max(5, int(min(small.shape) * 0.04) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise PaperNotFound("no light region in the frame: is the tray lit and the slip on it?")
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour)
    if area < 0.05 * small.shape[0] * small.shape[1]:
        raise PaperNotFound(f"the largest light region covers {area / small.size:.0%} of the "
                            "frame: no slip there, or the camera is too far away")
    if area > 0.97 * small.shape[0] * small.shape[1]:
        # a flat scan: the paper is the image (and paper is light)
        if float(np.median(small)) < 100:
            raise PaperNotFound("the frame is dark all over: no slip in view")
        return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    hull = cv2.convexHull(contour)
    _check_lighter_than_ground(small, hull)
    quad = None
    for eps in (0.01, 0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True)
        if len(approx) == 4:
            quad = approx
            break
    if quad is None:
        quad = cv2.boxPoints(cv2.minAreaRect(hull))
    return _order(np.asarray(quad, dtype=np.float32) / small_scale)


def _check_lighter_than_ground(small: np.ndarray, hull: np.ndarray) -> None:
    """Otsu always splits a frame in two, so on an empty tray it splits the tray itself
    where the lamp's falloff and the mottling cross its middle. Paper is several times
    lighter than the tray (measured 3.3x at the least over the camera's levels L0-L3, median
    for median, faded slips too); the lit part of a bare tray at most 1.3x the rest. Below
    PAPER_OVER_GROUND, no paper."""
    inside = np.zeros(small.shape, np.uint8)
    cv2.fillPoly(inside, [hull.astype(np.int32)], 255)
    region, ground = small[inside > 0], small[inside == 0]
    if region.size == 0 or ground.size == 0:
        return
    ratio = float(np.median(region)) / max(1.0, float(np.median(ground)))
    if ratio < PAPER_OVER_GROUND:
        raise PaperNotFound(f"the lightest region is only {ratio:.2f}x as light as the rest of the "
                            "frame: no paper in view (tray empty?)")


def flatten(frame: np.ndarray, paper_mm: int = PAPER_MM) -> Flattened:
    """Find the paper in ``frame`` (gray or BGR) and return it top-down, light flattened, at
    8 px/mm for paper ``paper_mm`` wide (the template's: 58 mm, or 80 mm)."""
    gray = to_gray(frame)
    corners = find_paper(gray)
    tl, tr, br, bl = corners
    width_px = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height_px = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    if width_px < 40 or height_px < 40:
        raise PaperNotFound(f"the paper is {width_px:.0f} x {height_px:.0f} px in the frame: "
                            "too small to read")
    paper_px = paper_mm * PX_PER_MM
    out_h = round(float(paper_px * height_px / width_px))
    dst = np.array([[0, 0], [paper_px - 1, 0], [paper_px - 1, out_h - 1], [0, out_h - 1]],
                   dtype=np.float32)
    homography = cv2.getPerspectiveTransform(corners, dst)
    warped = cv2.warpPerspective(gray, homography, (paper_px, out_h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    return Flattened(warped, _reflectance(warped), corners, homography)


def _reflectance(gray: np.ndarray) -> np.ndarray:
    """Divide out the light: the bare-paper level is a max filter wider than any print
    (the 3 mm bar included), smoothed, computed at quarter size for speed."""
    h, w = gray.shape
    small = cv2.resize(gray, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (13, 13)))
    paper = cv2.GaussianBlur(paper.astype(np.float32), (0, 0), 4)
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(gray.astype(np.float32) / np.maximum(paper, 8.0), 0.0, 1.0)
