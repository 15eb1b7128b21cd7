"""``station.screen``: the terminal's screen through its display camera.

``Screen(camera, profile.screen, station=...)`` watches the display camera (any OpenCV
source, ``devices.camera.OpenCvCamera``), opened on first use. ``read()`` reads the next
frame; ``expect(state, timeout)`` waits until the screen shows ``state`` and returns the
reading (its ``groups`` hold what the state's patterns captured: a decline's code).

Evidence: every change of the recognised state is a step (source ``<station>/screen``, title
``screen: <state>``) with the frame attached as JPEG; ``expect`` is a step of its own. A frame
is read again only when it differs from the last one read (``changed``): a still screen
costs a thumbnail comparison, not an OCR.

Errors: a screen that does not show the state in time raises ``ScreenNotShown`` (a
``TerminalDefect``: the terminal under test showed something else) naming the text it did
see, with the last frame attached to the step and kept on the error; a display camera that
delivers no frame raises the camera's ``CameraError`` (a ``StationFault``); a profile with no
``screen:`` section, or a state it does not define, is a ``ScreenConfigError`` (a ``RigDefect``).
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from devices import events
from devices.camera import CameraError, OpenCvCamera
from devices.camera.driver import thumbnail
from devices.faults import RigDefect, TerminalDefect
from devices.terminal.screen import ScreenProfile
from harness.screen.reader import ScreenReader, ScreenReading

CHANGE_LEVEL = 12  # gray levels: a thumbnail pixel that moved more than this changed
CHANGE_SHARE = 0.0005  # ... and a frame with more such pixels than this share is a new screen
POLL_S = 0.05


class ScreenNotShown(TerminalDefect):
    """The terminal's screen never showed the state a test expected."""

    def __init__(self, message: str, reading: ScreenReading | None, frame_jpeg: bytes | None):
        super().__init__(message)
        self.reading = reading
        self.frame_jpeg = frame_jpeg


class ScreenConfigError(RigDefect, LookupError):
    """The terminal profile defines no screen, or not the state asked for."""


def jpeg_bytes(frame: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CameraError("OpenCV could not encode the frame as JPEG")
    return buf.tobytes()


def changed(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two thumbnails show different screens: more than a few pixels moved far
    (sensor noise moves many pixels a little; a glyph changes a few pixels a lot)."""
    if a.shape != b.shape:
        return True
    return float((np.abs(a - b) > CHANGE_LEVEL).mean()) > CHANGE_SHARE


class Screen:
    """One station's screen, read through its display camera."""

    def __init__(self, camera: OpenCvCamera, profile: ScreenProfile | None, *, station: str,
                 reader: ScreenReader | None = None, profile_name: str = "the terminal profile"):
        self.camera = camera
        self.profile = profile
        self.station = station
        self.source = f"{station}/screen"
        self._profile_name = profile_name
        self._reader = reader
        self._lock = threading.Lock()  # one reader of the camera at a time
        self._opened = False
        self._last: tuple[np.ndarray, ScreenReading] | None = None  # (thumbnail, reading)
        self.last_frame: np.ndarray | None = None
        self.state: str | None = None  # the state last recognised (None: none, or not read yet)
        self.reads = 0  # frames actually recognised (not skipped as unchanged)

    @classmethod
    def open_source(cls, source: str, profile: ScreenProfile | None, *, station: str,
                    profile_name: str = "the terminal profile") -> Screen:
        """A screen on any OpenCV source (the inventory's ``display:``), opened on first use."""
        return cls(OpenCvCamera(source, station=station), profile, station=station,
                   profile_name=profile_name)

    def _profile(self) -> ScreenProfile:
        if self.profile is None:
            raise ScreenConfigError(f"{self.station}: the inventory names a display camera but "
                                    f"{self._profile_name} has no screen: section; add the screen "
                                    "states (docs/screen.md)")
        return self.profile

    @property
    def reader(self) -> ScreenReader:
        if self._reader is None:
            self._reader = ScreenReader(self._profile())
        return self._reader

    def _camera(self) -> OpenCvCamera:
        if not self._opened:
            self.camera.open()  # a CameraError (station fault) if it cannot
            self._opened = True
        return self.camera

    def close(self) -> None:
        if self._opened:
            self.camera.close()
            self._opened = False

    # -- reading ----------------------------------------------------------------------------
    def _next(self, timeout: float, *, none_ok: bool = False) -> tuple[np.ndarray, ScreenReading]:
        frame = self._camera().frame(timeout)
        if frame is None and none_ok:
            return None  # type: ignore[return-value]  # poll(): the caller counts the silence
        if frame is None:
            raise CameraError(f"{self.station}: display camera {self.camera.source}: no frame in "
                              f"{timeout:g} s (the stream is open but sends nothing)")
        thumb = thumbnail(frame)
        if self._last is not None and not changed(thumb, self._last[0]):
            reading = self._last[1]
        else:
            reading = self.reader.read(frame)
            self.reads += 1
            self._last = (thumb, reading)
        self.last_frame = frame
        if reading.state != self.state:
            self.state = reading.state
            with events.step(self.source, f"screen: {reading.state or 'no known state'}",
                             text=reading.text) as step:
                step.result = ", ".join(reading.states) or "none"
                step.attach("screen", jpeg_bytes(frame), "image/jpeg")
        return frame, reading

    def read(self, timeout: float | None = None) -> ScreenReading:
        """The screen in the next frame."""
        self._profile()
        with self._lock:
            return self._next(self.camera.timeout if timeout is None else timeout)[1]

    def poll(self, timeout: float) -> ScreenReading | None:
        """The screen in the next frame, or None if none arrived within ``timeout`` (a
        watcher that must stop promptly waits in short slices; it decides when silence is a
        broken camera)."""
        self._profile()
        with self._lock:
            got = self._next(timeout, none_ok=True)
            return None if got is None else got[1]

    def expect(self, state: str, timeout: float = 10.0) -> ScreenReading:
        """Wait until the screen shows ``state`` (the profile's name); the reading that showed it."""
        return self.expect_any((state,), timeout)

    def expect_any(self, states: tuple[str, ...] | list[str], timeout: float = 10.0) -> ScreenReading:
        """Wait until the screen shows one of ``states``; the reading that showed it (which
        one: ``reading.states``)."""
        states = tuple(states)
        for state in states:
            if not self._has(state):
                self._unknown(state)
        wanted = " or ".join(states)
        with self._lock, events.step(self.source, f"expect screen {wanted}", state=wanted,
                                     timeout=timeout) as step:
            deadline = time.monotonic() + timeout
            seen: list[str] = []  # every distinct text seen, for the error
            while True:
                # a frame at least every camera timeout, or the camera is broken (CameraError)
                frame, reading = self._next(self.camera.timeout)
                shown = [s for s in states if reading.shows(s)]
                if shown:
                    step.result = f"{reading.text} {reading.groups.get(shown[0]) or ''}".strip()
                    return reading
                if reading.text not in seen:
                    seen.append(reading.text)
                if time.monotonic() >= deadline:
                    break
            jpeg = jpeg_bytes(frame)
            step.attach("last frame", jpeg, "image/jpeg")
            earlier = [t for t in seen if t != reading.text][-3:]
            recognised = f"recognised as {reading.state}" if reading.state else "no state of the profile"
            raise ScreenNotShown(
                f"{self.station}: the screen did not show {wanted} in {timeout:g} s; it showed "
                f"{reading.text!r} ({recognised})"
                + (f"; before that {' | '.join(repr(t) for t in earlier)}" if earlier else ""),
                reading, jpeg)

    def _has(self, state: str) -> bool:
        return any(s.name == state for s in self._profile().states)

    def _unknown(self, state: str) -> None:
        names = ", ".join(s.name for s in self._profile().states)
        raise ScreenConfigError(f"{self.station}: no screen state {state!r} in {self._profile_name}; "
                                f"it defines {names}")
