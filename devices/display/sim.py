"""The simulated display camera: the simulated terminal's screen as an MJPEG stream.

``ScreenModel`` is the LCD's state, driven by what the simulated terminal emits (its
``screen_listeners``) and by the bench's power: a ``display`` event replaces the screen's
lines and clears its prompt row; a ``prompt`` shows the prompt's text on the bottom row; a
``printing`` event shows the printer's state there while it prints; a power cut darkens the
panel and the next boot lights it blank until the terminal draws its idle screen.

The texts of the prompt row are the simulated firmware's (``PROMPT_TEXT``): where the
terminal already shows a text for the same thing (``请插卡 PLEASE INSERT CARD``,
``请输入密码 ENTER PIN``) it is that text.

``SimulatedDisplay`` serves the screen through the tray camera's stream server
(``devices.camera.sim.MjpegServer``): ``/stream.mjpg`` and ``/frame.jpg``, any OpenCV client
reads it. The camera is fixed on its mount, so its pose and glare are the station's (its
seed), whatever the screen shows; a frame is rendered only when the screen changes, and a
screen at rest streams live frames (a little sensor noise each, never the same frame twice
in a row) as the tray camera does; ``freeze()`` makes it repeat its last frame (a frozen
camera, which the driver reports as ``CameraFrozen``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from devices import events
from devices.bench_model import BenchModel
from devices.camera.render import find_cjk_font
from devices.camera.sim import JPEG_QUALITY, MjpegServer
from devices.display import scene
from devices.display.lcd import Content

#: What the firmware's prompt row shows for each prompt it emits.
PROMPT_TEXT = {
    "insert_card": "请插卡 PLEASE INSERT CARD",
    "swipe_card": "请刷卡 PLEASE SWIPE",
    "enter_pin": "请输入密码 ENTER PIN",
    "supervisor_password": "主管密码 SUPERVISOR PWD",
    "remove_card": "请拔卡 REMOVE CARD",
}
#: ... and for the printer's states (``done`` clears the row; paper out has its own display).
PRINTING_TEXT = {"started": "打印中 PRINTING"}


class ScreenModel:
    """The LCD's content, thread-safe. ``content`` is a new object at every change."""

    def __init__(self, station: str, powered: bool = True):
        self.station = station
        self._lock = threading.Lock()
        self._content = Content(lit=powered)
        self.changes = 0

    @property
    def content(self) -> Content:
        with self._lock:
            return self._content

    def _set(self, content: Content) -> None:
        with self._lock:
            if content == self._content:
                return
            self._content = content
            self.changes += 1

    def apply(self, event: Any) -> None:
        """One event the terminal emitted (``devices.terminal.dialect.Event``)."""
        kind, data = event.event, event.data
        current = self.content
        if not current.lit:
            return  # a terminal that lost its power draws nothing (its thread is about to learn it)
        if kind == "display":
            qr = data.get("qr")  # a code the terminal shows (B2C), beside its lines
            self._set(Content(tuple(str(line) for line in data.get("lines", ())),
                              qr=str(qr) if qr else None))
        elif kind == "prompt":
            text = PROMPT_TEXT.get(str(data.get("prompt")))
            if text is not None:
                self._set(Content(current.lines, text, qr=current.qr))
        elif kind == "printing":
            self._set(Content(current.lines, PRINTING_TEXT.get(str(data.get("state"))),
                              qr=current.qr))

    def power(self, on: bool) -> None:
        """The relay switched: off darkens the panel, on lights it blank (the boot screen)."""
        self._set(Content(lit=on))

    def show(self, *lines: str, prompt: str | None = None) -> None:
        """Put ``lines`` on the screen directly (a bench's or a test's own screen)."""
        self._set(Content(tuple(lines), prompt))


@dataclass(frozen=True)
class _Shown:
    content: Content
    jpegs: tuple[bytes, ...]
    truth: scene.DisplayScene

    @property
    def still(self) -> np.ndarray:
        return self.truth.frame  # the stream's live frames add their sensor noise to it


class SimulatedDisplay(MjpegServer):
    """A camera on the simulated terminal's screen. ``start()``, read ``url``, ``stop()``;
    ``screen`` is the LCD the terminal draws on (connect it with ``attach``)."""

    def __init__(self, model: BenchModel, *, level: str = "L1", seed: int = 0, fps: float = 5,
                 backlight: float = 0.9, contrast: float = 0.8, bind: str = "127.0.0.1"):
        scene.level_of(level)  # fail here, not in a server thread
        if not (0.0 < backlight <= 1.0 and 0.0 < contrast <= 1.0):
            raise ValueError(f"backlight {backlight} and contrast {contrast}: each within (0, 1]")
        super().__init__(f"{model.station}/display-sim", fps=fps, bind=bind)
        self.level, self.seed, self.backlight, self.contrast = level, seed, backlight, contrast
        self.screen = ScreenModel(model.station, model.powered)
        model.on_power(self.screen.power)
        self.renders = 0
        self._render_lock = threading.Lock()
        self._shown: _Shown | None = None

    def attach(self, terminal: Any) -> None:
        """Draw what ``terminal`` (a ``SimulatedTerminal``) emits on this screen."""
        terminal.screen_listeners.append(self.screen.apply)

    def start(self) -> SimulatedDisplay:
        find_cjk_font()  # a missing font says which package to install, now
        return super().start()

    def _streaming(self) -> str:
        return f"streaming the screen at {self.level}, {self.fps:g} fps on {self.url}"

    def truth(self) -> scene.DisplayScene:
        """The frame for the screen as it is now, with the panel's corners."""
        return self._current().truth

    def _current(self) -> _Shown:
        content = self.screen.content
        with self._render_lock:
            shown = self._shown
            if shown is not None and shown.content is content:
                return shown
            started = time.monotonic()
            shot = scene.render_display(content, self.level, self.seed, backlight=self.backlight,
                                        contrast=self.contrast)
            ok, buf = cv2.imencode(".jpg", shot.frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError("OpenCV could not encode a frame as JPEG")
            self._shown = _Shown(content, (buf.tobytes(),), shot)
            self.renders += 1
            events.log(self.source, f"screen shows {content.text()!r}; rendered in "
                                    f"{(time.monotonic() - started) * 1000:.0f} ms")
            return self._shown
