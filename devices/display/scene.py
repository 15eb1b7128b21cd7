"""The terminal's screen as a camera on the bench sees it: pure, seeded, fast.

``render_display(content, level, seed)`` lights the LCD (``lcd.py``), sets it in the
terminal's dark bezel, and photographs it at ``level``: the camera's angle (rotation and
perspective), the glass's glare (a soft reflection of the room's lamp, on the glass only:
the bezel is matte), then lens blur, sensor noise and the light's tint through the same
sensor as the tray camera (``devices.camera.scene.sensor``). The same arguments give the
same frame, bit for bit.

=====  =====  ========  ======  ========  =====  ======  =====  =====
level  scale  rotation  offset  perspec-  glare  glare   blur   noise
              deg +/-   px +/-  tive +/-  peak   radius  sigma  sigma
=====  =====  ========  ======  ========  =====  ======  =====  =====
L0     1.6    0         0       0         0      -       0      0
L1     1.5    2         20      8         30     0.25    0.7    2
L2     1.35   5         40      20        60     0.30    1.1    4
L3     1.2    9         50      34        90     0.35    1.6    7
=====  =====  ========  ======  ========  =====  ======  =====  =====

*scale* is frame pixels per panel pixel; *glare peak* the gray a reflection adds at its
centre (its spot seeded anywhere on the glass), *glare radius* its size as a share of the
panel's width. A lit panel is gray 216 (backlight 0.9), so from L2 the reflection saturates
the sensor at its centre and takes most of the text's contrast there: the text stays legible
to a person at every level, barely at L3. Frames are 960 x 720 BGR uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from devices.camera.scene import sensor
from devices.display.lcd import PANEL_H, PANEL_W, Content, render_panel

FRAME_W, FRAME_H = 960, 720
BEZEL_GRAY = 40.0  # the terminal's dark plastic around the glass
TINT_BGR = (1.0, 0.97, 0.93)  # a cold white LED backlight and the bench light: faintly blue


@dataclass(frozen=True)
class DisplayLevel:
    name: str
    scale: float
    rotation_deg: float
    offset_px: float
    perspective_px: float
    glare_peak: float
    glare_radius: float
    blur_sigma: float
    noise_sigma: float
    description: str


LEVELS: dict[str, DisplayLevel] = {
    "L0": DisplayLevel("L0", 1.6, 0, 0, 0, 0, 0.25, 0.0, 0.0,
                       "square to the screen, sharp, no reflection"),
    "L1": DisplayLevel("L1", 1.5, 2, 20, 8, 30, 0.25, 0.7, 2.0,
                       "good mount: nearly square, a faint reflection"),
    "L2": DisplayLevel("L2", 1.35, 5, 40, 20, 60, 0.30, 1.1, 4.0,
                       "average mount: at an angle, a reflection, some blur and noise"),
    "L3": DisplayLevel("L3", 1.2, 9, 50, 34, 90, 0.35, 1.6, 7.0,
                       "poor mount: steep angle, strong glare, blurred and noisy"),
}


@dataclass(frozen=True)
class DisplayScene:
    frame: np.ndarray  # FRAME_H x FRAME_W x 3, BGR uint8
    corners: np.ndarray  # 4 x 2 float32: the panel's tl, tr, br, bl in the frame
    level: str
    seed: int


def level_of(name: str) -> DisplayLevel:
    try:
        return LEVELS[name]
    except KeyError:
        raise ValueError(f"unknown display camera level {name!r}: expected one of {sorted(LEVELS)}") from None


def render_display(content: Content, level: str, seed: int, *, backlight: float = 0.9,
                   contrast: float = 0.8) -> DisplayScene:
    """The screen showing ``content`` as the display camera at ``level`` sees it."""
    lv = level_of(level)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 100 + int(lv.name[1:])])
    # every draw in a fixed order, whatever the screen shows: one seed, one pose, one glare
    angle = np.deg2rad(rng.uniform(-lv.rotation_deg, lv.rotation_deg))
    offset = rng.uniform(-lv.offset_px, lv.offset_px, 2)
    jitter = rng.uniform(-lv.perspective_px, lv.perspective_px, (4, 2))
    glare_at = rng.uniform(0.1, 0.9, 2)

    panel = render_panel(content, backlight=backlight, contrast=contrast)
    w, h = PANEL_W * lv.scale, PANEL_H * lv.scale
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    centre = np.array([FRAME_W, FRAME_H]) / 2 + offset
    corners = (half @ rot.T + centre + jitter).astype(np.float32)
    src = np.float32([[0, 0], [PANEL_W, 0], [PANEL_W, PANEL_H], [0, PANEL_H]])
    warp = cv2.getPerspectiveTransform(src, corners)
    size = (FRAME_W, FRAME_H)
    glass = cv2.warpPerspective(panel, warp, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.warpPerspective(np.ones((PANEL_H, PANEL_W), np.float32), warp, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if lv.glare_peak > 0:
        # a reflection on the glass: light added, strongest at its spot, fading as a Gaussian
        # (computed on a coarse grid: it is smooth, and this is 40x cheaper)
        gw, gh = PANEL_W // 8, PANEL_H // 8
        ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
        sx, sy = glare_at[0] * gw, glare_at[1] * gh
        r = lv.glare_radius * gw
        blob = np.exp(-((xs - sx) ** 2 + ((ys - sy) * 1.6) ** 2) / (2 * r * r)).astype(np.float32)
        blob = cv2.resize(blob, (PANEL_W, PANEL_H), interpolation=cv2.INTER_LINEAR)
        blob *= np.float32(lv.glare_peak)
        glass += cv2.warpPerspective(blob, warp, size, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    img = glass + np.float32(BEZEL_GRAY) * (1.0 - cover)
    frame = sensor(img, rng, blur_sigma=lv.blur_sigma, noise_sigma=lv.noise_sigma, lamp_bgr=TINT_BGR)
    return DisplayScene(frame, corners, lv.name, seed)
