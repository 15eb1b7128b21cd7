"""The terminal's display seen by a camera: the simulated LCD and its MJPEG stream.

A real station's display camera is any OpenCV source (``devices.camera.OpenCvCamera``);
in the virtual lab, ``SimulatedDisplay`` renders what the simulated terminal shows (``lcd``:
the panel, its font, backlight and contrast; ``scene``: the camera's angle, the glass's
glare, blur and noise at levels L0-L3) and serves it through the tray camera's stream
server. The harness reads it with ``harness.screen``. See docs/screen.md.
"""

from __future__ import annotations

from devices.display.lcd import Content, render_panel
from devices.display.scene import LEVELS, DisplayScene, render_display
from devices.display.sim import PROMPT_TEXT, ScreenModel, SimulatedDisplay

__all__ = ["LEVELS", "PROMPT_TEXT", "Content", "DisplayScene", "ScreenModel", "SimulatedDisplay",
           "render_display", "render_panel"]
