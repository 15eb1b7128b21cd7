"""The camera over the printer's tray: a driver for any OpenCV source and a simulator.

``Camera`` is what the harness asks for; ``OpenCvCamera`` drives a USB camera, an IP
camera's stream or a folder of images; ``SimulatedCamera`` serves the station's tray as an
MJPEG stream that ``OpenCvCamera`` opens like any IP camera. ``render`` prints a slip's
paper, ``scene`` photographs it on the tray. See docs/camera.md.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from devices.camera.driver import (
    CameraError,
    CameraFrozen,
    NothingPrinted,
    OpenCvCamera,
    frame_difference,
    png_bytes,
)
from devices.camera.scene import LEVELS, Scene, render_scene, render_scene_with_truth
from devices.camera.sim import SimulatedCamera


class Camera(Protocol):
    """A camera looking at one station's printer tray. Frames are BGR ``uint8`` arrays."""

    station: str
    source: str  # how messages name it (a URL's password masked)

    def grab(self, *, attach: str | None = None) -> np.ndarray: ...

    def grab_settled(self, *, timeout: float = 5.0, frames: int = 3, tolerance: float = 6.0,
                     changed_from: np.ndarray | None = None, attach: str | None = None) -> np.ndarray: ...

    def close(self) -> None: ...


__all__ = [
    "LEVELS", "Camera", "CameraError", "CameraFrozen", "NothingPrinted", "OpenCvCamera", "Scene",
    "SimulatedCamera",
    "frame_difference", "png_bytes", "render_scene", "render_scene_with_truth",
]
