"""The printer's tray as a camera mounted above it sees it: pure, seeded, fast.

``render_scene(slip_image, level, seed)`` puts a printed slip (``render.py``'s paper, 8 px
per mm) on the tray and photographs it; ``None`` is the empty tray. The same level and seed
give the same frame, bit for bit. ``render_scene_with_truth`` also returns where the paper
landed (its four corners in the frame), so a bench can tell a paper-finding error from a
reading error.

What the tray looks like: a matte dark-gray plastic tray (gray 64-72 under full light, a
little low-frequency mottling) filling the whole frame. The slip lies on it print side up,
its printed top towards the top of the frame (the tray's fixture keeps it within the level's
rotation, never more than 10 degrees), wholly in view. Paper is 240 and ink 24 before the
light; everything in view, tray and paper alike, is then lit by one lamp whose light falls
off with distance, blurred by the lens and given sensor noise. At every level the darkest
bare paper stays well lighter than the lightest tray (``paper_tray_margin``):
the receipt reader finds the slip as the large light quadrilateral on a darker ground.

Levels (``LEVELS``; a +/- figure is drawn uniformly within it, per seed):

=====  =====  ========  ======  ========  ====  ======  =======  =====  =====  =================
level  px/mm  rotation  offset  perspec-  tray  mottle  light    blur   noise  lamp colour
              deg +/-   px +/-  tive +/-  gray  +/-     falloff  sigma  sigma  (B, G, R gain)
=====  =====  ========  ======  ========  ====  ======  =======  =====  =====  =================
L0     8.0    0         0       0         64    0       0        0      0      1, 1, 1
L1     8.0    2         30      6         68    3       0.15     0.6    2      0.98, 1, 1
L2     7.0    5         60      16        70    6       0.30     1.0    4      0.94, 0.98, 1
L3     6.0    10        80      32        72    8       0.35     1.7    8      0.90, 0.96, 1
=====  =====  ========  ======  ========  ====  ======  =======  =====  =====  =================

- L0 is a flat scan: the paper square to the frame at the printhead's own 8 px/mm, even light,
  no blur, no noise (only the tray around it, so the paper's outline is there to find).
- *px/mm* is the paper's scale; a slip too long for the frame at that scale is shrunk to fit
  (the bench's camera is placed to see a whole slip).
- *offset* moves the paper's centre from the frame's; *perspective* moves each corner
  independently (a camera not quite square above the tray); *light falloff* is the share of
  the light lost at the frame point farthest from the lamp (the lamp's spot is seeded, within
  the middle half of the frame), quadratic in distance.

Frames are 1280 x 960 BGR uint8. Rendering one costs a few tens of milliseconds (two warps of
the paper, a blur and a noise field), so a benchmark can render hundreds.

``drop`` (0..1) renders the slip still falling from the printer's mouth at the top of the
frame: moved up by ``drop`` x a quarter of the frame and smeared along its fall. The
simulated camera shows a couple of such frames before the slip settles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

FRAME_W, FRAME_H = 1280, 960
PRINTHEAD_PX_PER_MM = 8.0  # render.py's paper: one pixel per printhead dot
PAPER_GRAY = 240  # render.PAPER: what bare paper is before the light


@dataclass(frozen=True)
class Level:
    """One named camera preset. Distances in frame pixels, grays in 0..255."""

    name: str
    px_per_mm: float
    rotation_deg: float  # +/-
    offset_px: float  # +/- on each axis
    perspective_px: float  # +/- on each corner, each axis
    tray_gray: float
    tray_mottle: float  # +/- gray, low frequency
    light_falloff: float  # share of light lost at the frame point farthest from the lamp
    blur_sigma: float
    noise_sigma: float
    lamp_bgr: tuple[float, float, float]
    description: str


LEVELS: dict[str, Level] = {
    "L0": Level("L0", 8.0, 0, 0, 0, 64, 0, 0.0, 0.0, 0.0, (1.0, 1.0, 1.0),
                "flat scan: square, 8 px/mm, even light, sharp, clean"),
    "L1": Level("L1", 8.0, 2, 30, 6, 68, 3, 0.15, 0.6, 2.0, (0.98, 1.0, 1.0),
                "good bench camera: nearly square above the tray, soft lamp"),
    "L2": Level("L2", 7.0, 5, 60, 16, 70, 6, 0.30, 1.0, 4.0, (0.94, 0.98, 1.0),
                "average bench camera: skewed, a lamp to one side, some blur and noise"),
    "L3": Level("L3", 6.0, 10, 80, 32, 72, 8, 0.35, 1.7, 8.0, (0.90, 0.96, 1.0),
                "poor bench camera: tilted, far, uneven warm light, blurred and noisy"),
}

# The fall of a slip from the printer's mouth: how far up it starts (share of frame height)
# and how long its smear is at full speed (pixels).
DROP_RISE = 0.25
DROP_SMEAR_PX = 40


@dataclass(frozen=True)
class Scene:
    """A rendered frame and the truth about it."""

    frame: np.ndarray  # FRAME_H x FRAME_W x 3, BGR uint8
    corners: np.ndarray | None  # 4 x 2 float32: the paper's tl, tr, br, bl in the frame; None = empty tray
    level: str
    seed: int
    scale: float  # frame pixels per paper pixel (px/mm / 8)


def level_of(name: str) -> Level:
    try:
        return LEVELS[name]
    except KeyError:
        raise ValueError(f"unknown camera level {name!r}: expected one of {sorted(LEVELS)}") from None


def render_scene(slip_image: np.ndarray | None, level: str, seed: int) -> np.ndarray:
    """The tray with ``slip_image`` on it (None: empty), as the camera at ``level`` sees it."""
    return render_scene_with_truth(slip_image, level, seed).frame


def render_scene_with_truth(slip_image: np.ndarray | None, level: str, seed: int, *,
                            drop: float = 0.0) -> Scene:
    """``render_scene`` plus the paper's corners; ``drop`` > 0 shows the slip still falling."""
    lv = level_of(level)
    if not 0.0 <= drop <= 1.0:
        raise ValueError(f"drop is a share of the fall, 0..1, not {drop}")
    paper = None if slip_image is None else _as_gray(slip_image)
    # One generator per (seed, level): the same seed at two levels draws independently,
    # and every draw below happens in a fixed order whether or not a slip is there.
    rng = np.random.default_rng([seed & 0xFFFFFFFF, int(lv.name[1:])])
    pose = _draw_pose(rng, lv)
    tray = _tray(rng, lv)
    gain = _light(rng, lv)

    corners = None
    scale = lv.px_per_mm / PRINTHEAD_PX_PER_MM
    img = tray
    if paper is not None:
        corners, scale = _place(paper.shape, lv, pose, drop)
        img = _composite(tray, paper, corners, drop)
    img *= gain
    frame = sensor(img, rng, blur_sigma=lv.blur_sigma, noise_sigma=lv.noise_sigma, lamp_bgr=lv.lamp_bgr)
    return Scene(frame, corners, lv.name, seed, scale)


def sensor(img: np.ndarray, rng: np.random.Generator, *, blur_sigma: float, noise_sigma: float,
           lamp_bgr: tuple[float, float, float]) -> np.ndarray:
    """What every simulated camera does last to the light it receives (``img``, float32 gray,
    any size): lens blur, sensor noise, 8 bits, and the lamp's colour. Returns BGR uint8.
    The display camera (devices/display) photographs its screen through this too."""
    if blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    if noise_sigma > 0:
        img += _noise(rng, noise_sigma, img.shape[:2])
    gray = np.clip(img, 0, 255).astype(np.uint8)
    # the lamp's colour, as one lookup table per channel (a float multiply per channel costs 5x)
    return cv2.LUT(cv2.merge([gray, gray, gray]), _lamp_lut(lamp_bgr))


#: Frame-to-frame sensor noise (``flicker``): how many different noise patterns a still
#: scene cycles through, and how far apart (in rows) they are cut from one noise field.
FLICKER_FRAMES = 8
FLICKER_STRIDE = 7


def flicker(frame: np.ndarray, index: int) -> np.ndarray:
    """``frame`` (BGR uint8) as the ``index``-th of a still scene's frames: each pixel moved by
    -1, 0 or +1 gray level (sd 0.8), the way a real sensor's frames of an unchanging view
    differ. A live camera never sends the same frame twice; the camera driver takes a stream
    that does for a frozen camera (docs/camera.md). Frame ``index`` and ``index + 1`` always
    differ; the patterns repeat every ``FLICKER_FRAMES`` frames.

    Cheap on purpose (two saturating adds on a precomputed field, well under a millisecond a
    frame): the patterns are rows ``index * FLICKER_STRIDE`` on of one seeded noise field,
    views, not copies. ``render_scene`` itself stays noise-free between calls: the same level
    and seed still give the same frame, bit for bit."""
    if frame.dtype != np.uint8 or frame.ndim != 3:
        raise ValueError(f"flicker takes an H x W x C uint8 frame, got {frame.dtype} {frame.shape}")
    h = frame.shape[0]
    start = (index % FLICKER_FRAMES) * FLICKER_STRIDE
    field = _flicker_field(frame.shape)[start:start + h]
    return cv2.subtract(cv2.add(frame, field), (1, 1, 1, 1))


@functools.lru_cache(maxsize=4)
def _flicker_field(shape: tuple[int, ...]) -> np.ndarray:
    """0, 1 or 2 per pixel and channel (minus 1 when applied): one field a few rows taller
    than a frame, so every pattern is a view into it."""
    h, w, channels = shape
    rng = np.random.default_rng(0x5EED)
    field = rng.integers(0, 3, (h + FLICKER_FRAMES * FLICKER_STRIDE, w, channels), dtype=np.uint8)
    field.flags.writeable = False  # shared by every stream's thread
    return field


@dataclass(frozen=True)
class _Pose:
    angle: float  # radians
    offset: np.ndarray  # 2
    corner_jitter: np.ndarray  # 4 x 2


def _draw_pose(rng: np.random.Generator, lv: Level) -> _Pose:
    angle = np.deg2rad(rng.uniform(-lv.rotation_deg, lv.rotation_deg))
    offset = rng.uniform(-lv.offset_px, lv.offset_px, 2)
    jitter = rng.uniform(-lv.perspective_px, lv.perspective_px, (4, 2))
    return _Pose(float(angle), offset, jitter)


def _as_gray(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"a slip image is uint8 paper, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        # thermal paper is monochrome: a colour image of it carries nothing more
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code)
    raise ValueError(f"a slip image is H x W (gray) or H x W x 3 (BGR), got shape {image.shape}")


def _tray(rng: np.random.Generator, lv: Level) -> np.ndarray:
    """The bare tray, float32, before the light: a flat gray with slow mottling."""
    coarse = rng.uniform(-1.0, 1.0, (6, 8)).astype(np.float32)
    if lv.tray_mottle == 0:
        return np.full((FRAME_H, FRAME_W), lv.tray_gray, np.float32)
    # cubic to a 1/16 grid, then linear: as smooth to the eye, ten times cheaper than cubic to full size
    mottle = cv2.resize(coarse, (FRAME_W // 16, FRAME_H // 16), interpolation=cv2.INTER_CUBIC)
    mottle = cv2.resize(mottle, (FRAME_W, FRAME_H), interpolation=cv2.INTER_LINEAR)
    return np.float32(lv.tray_gray) + np.float32(lv.tray_mottle) * np.clip(mottle, -1, 1)


def _light(rng: np.random.Generator, lv: Level) -> np.ndarray:
    """The lamp's gain over the frame: 1 under the lamp, 1 - falloff at the farthest point."""
    lamp = rng.uniform([0.25 * FRAME_W, 0.25 * FRAME_H], [0.75 * FRAME_W, 0.75 * FRAME_H])
    if lv.light_falloff == 0:
        return np.ones((FRAME_H, FRAME_W), np.float32)
    # computed on a coarse grid and scaled up: the light is smooth and this is 60x cheaper
    gw, gh = FRAME_W // 16, FRAME_H // 16
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    d2 = (xs * 16 + 8 - lamp[0]) ** 2 + (ys * 16 + 8 - lamp[1]) ** 2
    far2 = max((cx - lamp[0]) ** 2 + (cy - lamp[1]) ** 2
               for cx in (0, FRAME_W) for cy in (0, FRAME_H))
    coarse = (1.0 - lv.light_falloff * d2 / far2).astype(np.float32)
    return cv2.resize(coarse, (FRAME_W, FRAME_H), interpolation=cv2.INTER_LINEAR)


def _noise(rng: np.random.Generator, sigma: float,
           shape: tuple[int, int] = (FRAME_H, FRAME_W)) -> np.ndarray:
    """Sensor noise of standard deviation ``sigma``: the sum of two uniform bytes, centred.

    That triangular distribution looks like Gaussian noise in a frame and costs a third of
    drawing normals (which dominated the render time)."""
    h, w = shape
    pair = np.frombuffer(rng.bytes(2 * w * h), np.uint8).reshape(2, h, w)
    total = cv2.add(pair[0], pair[1], dtype=cv2.CV_32F)  # 0..510, sd 255 * sqrt(2/12)
    k = sigma / (255.0 * np.sqrt(2.0 / 12.0))
    return cv2.addWeighted(total, k, total, 0.0, -255.0 * k)


@functools.cache
def _lamp_lut(bgr: tuple[float, float, float]) -> np.ndarray:
    ramp = np.arange(256, dtype=np.float32)
    return np.stack([np.clip(ramp * g, 0, 255) for g in bgr], axis=-1).astype(np.uint8).reshape(1, 256, 3)


def _place(shape: tuple[int, ...], lv: Level, pose: _Pose, drop: float) -> tuple[np.ndarray, float]:
    """Where the paper's corners land: rotated, scaled to fit, offset, then each corner jittered."""
    h, w = shape
    cos, sin = abs(np.cos(pose.angle)), abs(np.sin(pose.angle))
    margin = 2 * (lv.offset_px + lv.perspective_px) + 24
    fit = min((FRAME_W - margin) / (w * cos + h * sin), (FRAME_H - margin) / (w * sin + h * cos))
    scale = min(lv.px_per_mm / PRINTHEAD_PX_PER_MM, fit)
    rot = np.array([[np.cos(pose.angle), -np.sin(pose.angle)], [np.sin(pose.angle), np.cos(pose.angle)]])
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], dtype=np.float64) * scale / 2
    size = np.array([w, h], dtype=np.float64) * scale
    # an unturned paper starts on a whole pixel: at L0 the frame holds the print dot for dot
    centre = np.floor((np.array([FRAME_W, FRAME_H]) - size) / 2) + size / 2 + pose.offset
    corners = half @ rot.T + centre + pose.corner_jitter
    corners[:, 1] -= drop * DROP_RISE * FRAME_H
    return corners.astype(np.float32), float(scale)


def _composite(tray: np.ndarray, paper: np.ndarray, corners: np.ndarray, drop: float) -> np.ndarray:
    """The paper warped onto the tray, its edge anti-aliased by a warped coverage mask."""
    h, w = paper.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    warp = cv2.getPerspectiveTransform(src, corners)
    size = (FRAME_W, FRAME_H)
    layer = cv2.warpPerspective(paper.astype(np.float32), warp, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.warpPerspective(np.ones((h, w), np.float32), warp, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if drop > 0:
        # a falling slip is smeared along its fall (the tray under it is not)
        k = max(1, round(drop * DROP_SMEAR_PX))
        layer = cv2.blur(layer, (1, k))
        cover = cv2.blur(cover, (1, k))
    # layer is paper x coverage already (border 0), so this is a premultiplied "over"
    return layer + tray * (1.0 - cover)


def paper_tray_margin(lv: Level) -> float:
    """Darkest lit paper minus lightest lit tray, in gray levels, worst case over any draw.

    The darkest paper is bare paper at the farthest point from the lamp under the weakest
    lamp channel; the lightest tray is its top mottle right under the lamp in the strongest.
    The receipt reader needs this well above zero (tests keep it above 60)."""
    darkest_paper = PAPER_GRAY * (1.0 - lv.light_falloff) * min(lv.lamp_bgr)
    lightest_tray = (lv.tray_gray + lv.tray_mottle) * max(lv.lamp_bgr)
    return darkest_paper - lightest_tray
