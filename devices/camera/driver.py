"""The camera driver: frames from any OpenCV source, a settled frame after a slip drops.

Sources (``OpenCvCamera(source)``):

- a device index, ``0`` or ``"0"`` (a USB camera through V4L2);
- a stream URL, ``http://…``, ``https://…``, ``rtsp://…`` (FFmpeg): an IP camera's MJPEG or
  H.264 stream, or the simulated camera's ``http://127.0.0.1:PORT/stream.mjpg``; any other
  string OpenCV can open (``/dev/video2``, a video file) is passed to it as it is;
- a folder of images, ``dir:///abs/path`` or the path of an existing folder: PNG, JPEG, BMP,
  TIFF or WebP files in natural name order (``2.png`` before ``10.png``), one per grab; the
  last one is shown again until a later name appears (a tool may keep adding photos). The
  folder is listed again at every grab.

A stream is read by a thread of its own that always holds the newest frame, as a camera
driver must: OpenCV's ``read()`` otherwise hands out frames queued seconds ago. ``grab()``
returns the first frame that arrives after it was called. When the stream drops, the thread
reopens it (backing off up to a second) for ``reconnect_for`` seconds before giving up;
then every grab raises a ``CameraError`` that names the station and the source.

A stream that keeps sending one frame is a frozen camera (a hung capture device, an encoder
stuck on its last buffer): a live camera's frames always differ, if only in sensor noise.
Once the thread has read ``frozen_frames`` frames in a row that are the same, pixel for
pixel, over ``frozen_after`` seconds or more, every read (``grab``, ``frame``,
``grab_settled``) raises ``CameraFrozen``, a ``CameraError``: the bench is broken, not the
terminal. While it waits for a change, ``grab_settled`` counts a repeated frame as no new
view, and a wait that saw nothing but one frame repeated (``frozen_frames`` times or more)
ends in ``CameraFrozen`` too, never in ``NothingPrinted``. ``frozen_after=None`` turns this
off (an H.264 camera whose encoder skips every block of a still scene between key frames;
see docs/camera.md). A folder source repeats its last image by design and is never frozen.

Grabs are steps on ``devices.events`` (source ``<station>/camera``); ``attach="name"`` adds
the frame as a PNG to the step. A raw frame is the slip as printed: if a terminal printed a
card number in clear, so does the frame. Attach the receipt reader's annotated frame (which
blacks card numbers out) where a slip may be in view, and raw frames only where none is.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from devices import events
from devices.faults import StationFault, TerminalDefect

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
STREAM_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "udp", "tcp")
FOLDER_FPS = 5.0  # how often a folder source offers its last image again
THUMB_WIDTH = 320  # frames are compared at this width: noise averages out, a slip does not
FROZEN_FRAMES = 5  # identical frames in a row, at least, before a stream is frozen ...
FROZEN_AFTER_S = 2.0  # ... spanning this long at least (a slip check waits 10 s)


class CameraError(StationFault):
    """The camera cannot deliver frames: the bench is broken, not the terminal."""


class CameraFrozen(CameraError):
    """The stream keeps sending one frame, pixel for pixel: the camera is frozen (a hung
    capture device or driver, an encoder stuck on its last buffer), or it sees nothing but
    one flat colour. A station fault: what the terminal did is unknown."""


class NothingPrinted(TerminalDefect):
    """Frames kept arriving and the tray never changed: the terminal printed nothing where a
    slip was due. A terminal defect; a camera that stops sending frames is a ``CameraError``,
    one that keeps sending the same frame a ``CameraFrozen``."""


@dataclass(frozen=True)
class Source:
    """A parsed camera source: what kind, what OpenCV (or the folder reader) is given."""

    kind: str  # "index", "stream" or "folder"
    target: int | str
    shown: str  # how messages name it (a password in a URL is masked)

    @classmethod
    def parse(cls, source: str | int | Path) -> Source:
        if isinstance(source, Path):
            source = str(source)
        if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
            return cls("index", int(source), str(int(source)))
        if not isinstance(source, str) or not source.strip():
            raise CameraError(f"camera source {source!r}: expected a device index, a stream URL "
                              "(http://, rtsp://) or a folder (dir:///abs/path)")
        source = source.strip()
        if source.startswith("dir://"):
            path = source[len("dir://"):]
            if not path.startswith("/"):
                raise CameraError(f"camera source {source!r}: a folder URL needs an absolute path, "
                                  "dir:///abs/path (three slashes)")
            return cls("folder", path, source)
        if "://" not in source and Path(source).is_dir():
            return cls("folder", str(Path(source).resolve()), source)
        return cls("stream", source, _mask_password(source))


def _mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """The frame small and gray, as frames are compared."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    size = (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.int16)


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """How different two views are, in gray levels: the 99th percentile of the absolute
    difference of their thumbnails. Sensor noise averages away in a thumbnail; a slip
    moving or appearing changes far more than 1 % of it. Frames of two sizes differ infinitely."""
    ta = a if a.dtype == np.int16 else thumbnail(a)
    tb = b if b.dtype == np.int16 else thumbnail(b)
    if ta.shape != tb.shape:
        return float("inf")
    return float(np.percentile(np.abs(ta - tb), 99))


def png_bytes(frame: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", frame)
    if not ok:
        raise CameraError("OpenCV could not encode the frame as PNG")
    return buf.tobytes()


class OpenCvCamera:
    """A camera over the tray. ``open()``, ``grab()`` / ``grab_settled()``, ``close()``."""

    def __init__(self, source: str | int | Path, *, station: str = "station", timeout: float = 5.0,
                 reconnect_for: float = 10.0, frozen_after: float | None = FROZEN_AFTER_S,
                 frozen_frames: int = FROZEN_FRAMES):
        if frozen_after is not None and (frozen_after < 0 or frozen_frames < 2):
            raise ValueError(f"frozen_after={frozen_after}, frozen_frames={frozen_frames}: a frozen "
                             "stream is two or more identical frames over zero seconds or more "
                             "(frozen_after=None turns the check off)")
        self.station = station
        self._source = Source.parse(source)
        self.source = self._source.shown
        self.timeout = timeout  # to open, and for each frame to arrive
        self.reconnect_for = reconnect_for
        self.frozen_after, self.frozen_frames = frozen_after, frozen_frames
        self._events_source = f"{station}/camera"
        self._feed: _StreamFeed | _FolderFeed | None = None

    def _error(self, what: str, kind: type[CameraError] = CameraError) -> CameraError:
        return kind(f"{self.station}: camera {self.source}: {what}")

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> OpenCvCamera:
        if self._feed is not None:
            return self
        with events.step(self._events_source, "open camera", camera=self.source):
            if self._source.kind == "folder":
                feed: _StreamFeed | _FolderFeed = _FolderFeed(Path(str(self._source.target)), self._error)
            else:
                freeze = None if self.frozen_after is None else (self.frozen_frames, self.frozen_after)
                feed = _StreamFeed(self._source, self.timeout, self.reconnect_for, self._error,
                                   lambda text: events.log(self._events_source, text), freeze)
            feed.start()
            self._feed = feed
        return self

    def close(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.close()

    def __enter__(self) -> OpenCvCamera:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def reconnects(self) -> int:
        """How many times the stream dropped and came back."""
        return self._feed.reconnects if isinstance(self._feed, _StreamFeed) else 0

    def _open_feed(self) -> _StreamFeed | _FolderFeed:
        if self._feed is None:
            raise self._error("not open: call open() (or use it as a context manager) first")
        return self._feed

    # -- frames -----------------------------------------------------------------------------
    def grab(self, *, attach: str | None = None) -> np.ndarray:
        """The next frame (BGR): for a stream, the first to arrive after this call."""
        with events.step(self._events_source, "grab frame", camera=self.source) as step:
            frame = self._open_feed().next_frame(self.timeout)
            if frame is None:
                raise self._error(f"no frame in {self.timeout:g} s (the stream is open but sends nothing)")
            step.result = f"{frame.shape[1]}x{frame.shape[0]}"
            if attach:
                step.attach(attach, png_bytes(frame), "image/png")
            return frame

    def frame(self, timeout: float | None = None) -> np.ndarray | None:
        """The next frame as ``grab`` gives it, but announced as no step, and None (not an
        error) when none arrives in ``timeout`` (default: the camera's): for a reader that
        watches a stream several times a second (the screen reader, harness/screen)."""
        return self._open_feed().next_frame(self.timeout if timeout is None else timeout)

    def grab_settled(self, *, timeout: float = 5.0, frames: int = 3, tolerance: float = 6.0,
                     changed_from: np.ndarray | None = None, attach: str | None = None) -> np.ndarray:
        """The last of ``frames`` consecutive frames that agree (``frame_difference`` of
        each from the one before at most ``tolerance``): a slip that has stopped moving.

        With ``changed_from`` (a frame grabbed before the print), frames that still look like
        it do not count: the call waits for the new slip, then for it to settle, instead of
        settling at once on the empty tray. Raises ``CameraError`` after ``timeout`` seconds:
        ``NothingPrinted`` (the terminal's fault) when live frames kept showing the view
        before, ``CameraFrozen`` when the stream sent one frame over and over.

        A frame that repeats the one before it pixel for pixel is no new look at the tray
        (a live camera's frames differ in their noise): it neither settles a slip nor
        counts as the view before (a stream with the frozen check off excepted)."""
        if frames < 2:
            raise ValueError(f"frames={frames}: settling needs at least two frames to compare")
        feed = self._open_feed()
        skip_repeats = feed.detects_freeze
        with events.step(self._events_source, "grab settled frame", camera=self.source, frames=frames,
                         tolerance=tolerance, after_change=changed_from is not None) as step:
            before = None if changed_from is None else thumbnail(changed_from)
            deadline = time.monotonic() + timeout
            run: list[tuple[np.ndarray, np.ndarray]] = []  # (frame, thumbnail), all agreeing
            seen = changed = looks = 0  # looks: frames that were not a repeat of the one before
            last: np.ndarray | None = None
            biggest_step = 0.0
            while len(run) < frames:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if skip_repeats and seen >= self.frozen_frames and looks <= 1:
                        raise self._error(_frozen_text(seen, timeout, last), CameraFrozen)
                    if not seen:
                        why = "no frame arrived"
                    elif before is not None and not changed:
                        raise NothingPrinted(
                            f"{self.station}: camera {self.source}: nothing new on the tray in "
                            f"{timeout:g} s ({seen} frames arrived, all like the view before): "
                            "the terminal printed no slip")
                    else:
                        why = (f"frames kept moving (steps up to {biggest_step:.1f} gray levels, "
                               f"tolerance {tolerance})")
                    raise self._error(f"no settled frame in {timeout:g} s over {seen} frames: {why}")
                frame = feed.next_frame(remaining)
                if frame is None:
                    continue  # the deadline check above says why
                seen += 1
                repeat, last = frame is last, frame  # the feed hands a repeat out as the same object
                if repeat and skip_repeats:
                    continue
                looks += 1
                thumb = thumbnail(frame)
                if before is not None and frame_difference(thumb, before) <= tolerance:
                    run.clear()  # still the view from before the print
                    continue
                changed += 1
                if run:
                    change = frame_difference(run[-1][1], thumb)
                    if change > tolerance:
                        biggest_step = max(biggest_step, change)
                        run.clear()
                run.append((frame, thumb))
            settled = run[-1][0]
            step.result = f"{settled.shape[1]}x{settled.shape[0]}, settled after {seen} frames"
            if attach:
                step.attach(attach, png_bytes(settled), "image/png")
            return settled


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two frames are the same, pixel for pixel (a quarter of a millisecond for a
    1280 x 960 frame: a maximum of absolute differences in OpenCV)."""
    return a.shape == b.shape and a.dtype == b.dtype and cv2.norm(a, b, cv2.NORM_INF) == 0


def _frozen_text(frames: int, seconds: float, frame: np.ndarray | None) -> str:
    flat = ""
    if frame is not None and frame.size and int(frame.min()) == int(frame.max()):
        flat = (f" Every pixel is {int(frame.min())}: if the stream is live, the camera sees "
                "nothing (lens covered, lamp out) -- check that too.")
    return (f"the stream has sent the same frame, pixel for pixel, for {seconds:.1f} s ({frames} frames "
            "in a row): the camera is frozen (a live camera's frames always differ, if only in "
            "sensor noise). Check the capture device: a hung capture card, USB camera or driver, "
            "or an encoder stuck on its last buffer; restart the camera or its stream server, "
            "then put the station back in service." + flat)


class _StreamFeed:
    """A VideoCapture read by its own thread, reopened when it drops. With ``freeze``
    (frames, seconds) it watches for a frozen stream: a frame identical to the one before is
    kept as that same object (so a reader tells a repeat by identity), and once ``frames``
    of them in a row span ``seconds`` every read raises ``CameraFrozen``."""

    def __init__(self, source: Source, timeout: float, reconnect_for: float,
                 error: Callable[..., CameraError], log: Callable[[str], None],
                 freeze: tuple[int, float] | None = None):
        self._source, self._timeout, self._reconnect_for = source, timeout, reconnect_for
        self._err, self._log = error, log
        self._freeze = freeze
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._same = 0  # frames in a row identical to the current one (1: it is new)
        self._same_since = self._same_until = 0.0  # when the first and the latest of them arrived
        self._failure: CameraError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconnects = 0

    @property
    def detects_freeze(self) -> bool:
        return self._freeze is not None

    def _open(self) -> cv2.VideoCapture:
        cap, why = self._try_open()
        if cap is None:
            raise self._err(f"cannot open the stream: {why}")
        return cap

    def _try_open(self) -> tuple[cv2.VideoCapture | None, str]:
        target = self._source.target
        if isinstance(target, str) and urlsplit(target).scheme.lower() in STREAM_SCHEMES:
            ms = int(self._timeout * 1000)
            cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        else:
            cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            return None, ("is the camera plugged in and free (not held by another process)?"
                          if self._source.kind == "index" else
                          "is the camera (or the virtual lab) running, and the URL right?")
        return cap, ""

    def start(self) -> None:
        cap = self._open()
        self._thread = threading.Thread(target=self._run, args=(cap,), daemon=True,
                                        name=f"camera {self._source.shown}")
        self._thread.start()
        try:
            if self.next_frame(self._timeout) is None:  # an open stream that sends nothing is no camera
                raise self._err(f"the stream opened but sent no frame in {self._timeout:g} s")
        except CameraError:
            self.close()
            raise

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            # the reader owns the capture and releases it; a read returns within its timeout
            self._thread.join(timeout=self._timeout + 2)

    def _run(self, cap: cv2.VideoCapture | None) -> None:
        try:
            while cap is not None and not self._stop.is_set():
                ok, frame = cap.read()
                if ok and frame is not None:
                    now = time.monotonic()
                    last = self._frame  # only this thread writes it
                    repeat = self._freeze is not None and last is not None and identical(last, frame)
                    with self._cond:
                        if repeat:
                            frame, self._same = last, self._same + 1
                        else:
                            self._same, self._same_since = 1, now
                        self._same_until = now
                        self._frame, self._seq = frame, self._seq + 1
                        self._cond.notify_all()
                    continue
                cap.release()
                cap = None
                if self._stop.is_set():
                    break
                self._log("stream dropped: reconnecting")
                cap = self._reconnect()
        finally:
            if cap is not None:
                cap.release()

    def _reconnect(self) -> cv2.VideoCapture | None:
        deadline = time.monotonic() + self._reconnect_for
        delay, why = 0.05, ""
        while not self._stop.is_set():
            cap, why = self._try_open()
            if cap is not None:
                with self._cond:
                    self.reconnects += 1
                self._log(f"stream back (reconnect {self.reconnects})")
                return cap
            if time.monotonic() + delay > deadline:
                break
            self._stop.wait(delay)  # back off between attempts; close() cuts it short
            delay = min(delay * 2, 1.0)
        if not self._stop.is_set():
            failure = self._err(f"the stream dropped and did not come back in {self._reconnect_for:g} s "
                                f"(cannot open it: {why})")
            self._log(str(failure))
            with self._cond:
                self._failure = failure
                self._cond.notify_all()
        return None

    def next_frame(self, timeout: float) -> np.ndarray | None:
        """The first frame to arrive after the call; None if none came within ``timeout``."""
        with self._cond:
            seen = self._seq
            arrived = self._cond.wait_for(
                lambda: self._seq > seen or self._failure is not None or self._stop.is_set(), timeout)
            if self._failure is not None:
                raise CameraError(str(self._failure))  # a fresh one: each grab's traceback its own
            if self._stop.is_set():
                raise self._err("closed")
            if not arrived:
                return None
            if self._freeze is not None:
                frames, seconds = self._freeze
                spanned = self._same_until - self._same_since
                if self._same >= frames and spanned >= seconds:
                    raise self._err(_frozen_text(self._same, spanned, self._frame), CameraFrozen)
            return self._frame


class _FolderFeed:
    """Images in a folder, one per grab in natural name order; the last one repeats."""

    def __init__(self, folder: Path, error: Callable[[str], CameraError]):
        self._folder, self._err = folder, error
        self._last: tuple[str, np.ndarray] | None = None
        self._stop = threading.Event()
        self.reconnects = 0
        self.detects_freeze = False  # the last image repeats by design: no folder is ever frozen

    def start(self) -> None:
        if not self._folder.is_dir():
            raise self._err(f"{self._folder} is not a folder")
        if not self._names():
            raise self._err(f"no images in {self._folder} (expected {', '.join(IMAGE_SUFFIXES)})")

    def close(self) -> None:
        self._stop.set()

    def _names(self) -> list[str]:
        try:
            names = [p.name for p in self._folder.iterdir()
                     if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        except OSError as exc:
            raise self._err(f"cannot list {self._folder}: {exc}") from exc
        return sorted(names, key=_natural)

    def next_frame(self, timeout: float) -> np.ndarray | None:
        if self._stop.is_set():
            raise self._err("closed")
        names = self._names()
        later = [n for n in names if self._last is None or _natural(n) > _natural(self._last[0])]
        if not later:
            if self._last is None:
                raise self._err(f"no images in {self._folder}")
            # nothing new: the camera still sees the last image, one frame period later
            self._stop.wait(min(timeout, 1.0 / FOLDER_FPS))
            return self._last[1]
        path = self._folder / later[0]
        try:
            data = np.fromfile(path, dtype=np.uint8)  # imread cannot open every non-ASCII path
        except OSError as exc:
            raise self._err(f"cannot read {path}: {exc}") from exc
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if frame is None:
            raise self._err(f"{path} is not an image OpenCV can decode")
        self._last = (later[0], frame)
        return frame


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part)
