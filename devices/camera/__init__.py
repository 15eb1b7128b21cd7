"""The camera over the printer's tray: a driver for any OpenCV source and a simulator.

``Camera`` is what the harness asks for; ``OpenCvCamera`` drives a USB camera, an IP
camera's stream or a folder of images; ``SimulatedCamera`` serves the station's tray as an
MJPEG stream that ``OpenCvCamera`` opens like any IP camera. ``render`` prints a slip's
paper, ``scene`` photographs it on the tray. See docs/camera.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
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

# Imported on first use: the driver brings HTTP and TLS, the simulator an HTTP server, and
# `posrig receipt read` needs only render's layouts from this package (0.3-0.7 s a read).
_LAZY = {
    "CameraError": "driver", "CameraFrozen": "driver", "NothingPrinted": "driver",
    "OpenCvCamera": "driver", "frame_difference": "driver", "png_bytes": "driver",
    "LEVELS": "scene", "Scene": "scene", "render_scene": "scene", "render_scene_with_truth": "scene",
    "SimulatedCamera": "sim",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"devices.camera.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
