"""The simulated camera: the station's tray as an MJPEG stream over HTTP on loopback.

It is reached through the same driver as a real IP camera (``OpenCvCamera(sim.url)``): a
``multipart/x-mixed-replace`` stream at ``/stream.mjpg``, one JPEG part every ``1/fps``
seconds, each with its ``Content-Length`` so a client never has to wait for the next
boundary to know a frame ended (FFmpeg's demuxer would otherwise lag one frame behind).
``/frame.jpg`` serves a single frame, for a browser or curl.

What it shows is the newest slip on the bench model's tray (the one on top), rendered by
``render.py`` and photographed by ``scene.py`` at the camera's level, seeded by the
station's seed and the slip's place in the tray so a run repeats. A scene is rendered only
when the tray changes. Each stream shows a new slip falling first (``DROP_FRAMES``, one
frame each), then at rest, so a client that grabs too early sees motion, as it would under
a real printer. ``/frame.jpg`` is always the frame at rest, the same bytes until the tray
changes.

At rest the stream is live as a real camera's is: every frame carries a little sensor noise
of its own (``scene.flicker``, one gray level, cycled through ``FLICKER_FRAMES`` patterns
encoded once each per scene), so no two frames in a row are the same -- the camera driver
takes a stream that repeats one frame for a frozen camera. ``freeze()`` injects that fault:
the server keeps sending the last JPEG it sent, byte for byte, until ``thaw()``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, Self
from urllib.parse import urlsplit

import cv2
import numpy as np

from devices import events
from devices.bench_model import BenchModel, Slip
from devices.camera import render, scene

STREAM_PATH = "/stream.mjpg"
SNAPSHOT_PATH = "/frame.jpg"
BOUNDARY = "posrigframe"
DROP_FRAMES = (0.66, 0.33)  # how much of its fall a new slip still has, one frame each
JPEG_QUALITY = 90


@dataclass(frozen=True)
class _Shown:
    """What the stream shows for one state of the tray."""

    count: int  # slips on the tray
    top: Slip | None  # the one on top (held, so its identity cannot be reused)
    jpegs: tuple[bytes, ...]  # falling frames, then the frame at rest
    truth: scene.Scene  # the frame at rest, with the paper's corners

    @property
    def still(self) -> np.ndarray:
        return self.truth.frame


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (no leaks after stop()); they end promptly
    # because stop() sets the stop event and shuts their sockets down.
    daemon_threads = False
    block_on_close = True

    def __init__(self, camera: MjpegServer):
        self.camera = camera
        super().__init__((camera.bind, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "posrig-camera-sim/1"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == STREAM_PATH:
            self.server.camera._stream(self)
        elif path == SNAPSHOT_PATH:
            jpeg = self.server.camera._snapshot()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)
        else:
            self.send_error(404, f"the camera serves {STREAM_PATH} and {SNAPSHOT_PATH}")

    def log_message(self, format: str, *args: object) -> None:
        events.log(self.server.camera.source, format % args)


class Shown(Protocol):
    """What a stream shows for one state of its scene: frames in the order a client that
    sees the change gets them, the last one at rest (and what ``/frame.jpg`` serves);
    ``still`` is that frame at rest before JPEG, which the live frames add their noise to."""

    @property
    def jpegs(self) -> tuple[bytes, ...]: ...

    @property
    def still(self) -> np.ndarray: ...


class _Live:
    """The live frames of one scene at rest: ``still`` with ``scene.flicker``'s noise, each
    pattern encoded on first use and kept while the scene lasts (streams share them)."""

    def __init__(self, shown: Shown):
        self.shown = shown
        self._jpegs: list[bytes | None] = [None] * scene.FLICKER_FRAMES

    def jpeg(self, index: int) -> bytes:
        i = index % scene.FLICKER_FRAMES
        jpeg = self._jpegs[i]
        if jpeg is None:  # two streams may both encode it once: the same bytes, no lock needed
            jpeg = self._jpegs[i] = _encode(scene.flicker(self.shown.still, i))
        return jpeg


class MjpegServer:
    """An MJPEG camera stream over HTTP of whatever ``_current()`` shows: the tray camera
    below, the display camera (devices/display) too. ``start()``, read ``url``, ``stop()``.

    ``_current()`` returns the same object while the scene is unchanged, and a new one
    when it changes: each stream then sends the new ``jpegs`` in turn, once, then the last
    one's live frames (``_Live``) until the next change. ``freeze()`` makes every stream
    repeat the last JPEG sent instead, as a hung capture device does."""

    def __init__(self, source: str, *, fps: float = 10, bind: str = "127.0.0.1"):
        if not 0 < fps <= 60:
            raise ValueError(f"fps {fps}: a camera runs at 0 < fps <= 60")
        self.fps = float(fps)
        self.bind = bind  # loopback; a lab host exporting it over labgrid binds its own address
        self.source = source
        self.connections = 0  # streams opened so far (a reconnect is a new one)
        self.last_error: str | None = None  # why a stream last ended other than by its client
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._live: _Live | None = None
        self._last_sent: bytes | None = None
        self._frozen: bytes | None = None  # what every stream repeats while frozen
        # a stream picks its next frame and records it as the last sent under this lock, so
        # that freeze() repeats exactly the frame that went out last
        self._pick_lock = threading.Lock()

    def _current(self) -> Shown:
        raise NotImplementedError

    def _streaming(self) -> str:
        """What the start-up log line says is being streamed."""
        return f"streaming at {self.fps:g} fps on {self.url}"

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{self.source}: already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.source, daemon=True)
        self._thread.start()
        events.log(self.source, self._streaming())
        return self

    def stop(self) -> None:
        """Shut the server down, end every stream and join every thread it started."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        self.drop_clients()
        server.shutdown()
        server.server_close()  # joins the handler threads
        thread.join()
        self._server = self._thread = None
        events.log(self.source, "stopped")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.source}: not started, so it has no URL yet")
        return f"http://{self.bind}:{self._server.server_address[1]}{STREAM_PATH}"

    # -- faults and truth -------------------------------------------------------------------
    def drop_clients(self) -> int:
        """Cut every open stream, as a camera that reboots or a flaky switch does.
        The server keeps listening, so a client can reconnect. Returns how many were cut."""
        with self._clients_lock:
            clients = list(self._clients)
            self._clients.clear()  # gone as of now, whenever their threads notice
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if clients:
            events.log(self.source, f"dropped {len(clients)} stream(s)")
        return len(clients)

    def freeze(self) -> None:
        """Freeze the stream, as a hung capture device or an encoder stuck on its last buffer
        does: frames keep going out at the same rate, every one the last JPEG sent, byte for
        byte, whatever the scene does. ``thaw()`` ends it."""
        with self._pick_lock:
            jpeg = self._last_sent
            self._frozen = jpeg if jpeg is not None else self._current().jpegs[-1]
        events.log(self.source, "frozen: repeating the last frame")

    def thaw(self) -> None:
        """The stream is live again: it shows the scene as it is now."""
        if self._frozen is not None:
            self._frozen = None
            events.log(self.source, "thawed: live again")

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def _snapshot(self) -> bytes:
        frozen = self._frozen
        return frozen if frozen is not None else self._current().jpegs[-1]

    def _live_jpeg(self, shown: Shown, index: int) -> bytes:
        live = self._live
        if live is None or live.shown is not shown:
            live = self._live = _Live(shown)  # the scene changed: the old live frames are done
        return live.jpeg(index)

    @property
    def clients(self) -> int:
        """Streams open now."""
        with self._clients_lock:
            return len(self._clients)

    # -- streaming --------------------------------------------------------------------------
    def _stream(self, handler: _Handler) -> None:
        conn = handler.connection
        with self._clients_lock:
            if self._stopping.is_set():
                return
            self._clients.add(conn)
            self.connections += 1
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            handler.send_header("Cache-Control", "no-cache, no-store")
            handler.end_headers()
            period = 1.0 / self.fps
            due = time.monotonic()
            # A client joining finds the scene already at rest; each change it then sees is
            # shown frame by frame (a slip falling), to that client exactly once.
            seen = self._current()
            step = len(seen.jpegs)
            while not self._stopping.is_set():
                shown = self._current()  # outside the lock: rendering a change takes a while
                with self._pick_lock:
                    jpeg = self._frozen
                    if jpeg is None:
                        if shown is not seen:
                            seen, step = shown, 0
                        # a change's frames once each, then the scene at rest, live
                        jpeg = (shown.jpegs[step] if step < len(shown.jpegs) - 1
                                else self._live_jpeg(shown, step))
                        step += 1
                        self._last_sent = jpeg
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n").encode("ascii")
                handler.wfile.write(head + jpeg + b"\r\n")
                # frames at least a period apart: after a slow render, skip ticks, never burst
                # (a burst of copies of one frame would look like a still view)
                due += period
                now = time.monotonic()
                if due < now:
                    due = now + period
                self._stopping.wait(due - now)
        except OSError:
            pass  # the client left, or drop_clients() cut it: either way this stream is over
        except Exception as exc:  # a rendering fault: end this stream, keep serving, say why
            self.last_error = f"{type(exc).__name__}: {exc}"
            events.log(self.source, f"stream ended: {self.last_error}")
        finally:
            with self._clients_lock:
                self._clients.discard(conn)


class SimulatedCamera(MjpegServer):
    """An MJPEG camera over the station's tray. ``start()``, read ``url``, ``stop()``."""

    def __init__(self, model: BenchModel, *, level: str = "L1", seed: int = 0, fps: float = 10,
                 bind: str = "127.0.0.1"):
        scene.level_of(level)  # fail here, not in a server thread
        super().__init__(f"{model.station}/camera-sim", fps=fps, bind=bind)
        self.model, self.level, self.seed = model, level, seed
        self.renders = 0  # tray states rendered: one per change, however many clients watch
        self._render_lock = threading.Lock()
        self._shown: _Shown | None = None

    def start(self) -> Self:
        render.find_cjk_font()  # a missing font says which package to install, now
        return super().start()

    def _streaming(self) -> str:
        return f"streaming {self.level} at {self.fps:g} fps on {self.url}"

    def truth(self) -> scene.Scene:
        """The frame at rest for the tray as it is now, with the paper's corners (None when empty)."""
        return self._current().truth

    # -- rendering --------------------------------------------------------------------------
    def _current(self) -> _Shown:
        tray = self.model.tray  # appended under the model's lock; reading a list's end is atomic
        count = len(tray)
        top = tray[-1] if count else None
        with self._render_lock:
            shown = self._shown
            if shown is not None and shown.count == count and shown.top is top:
                return shown
            # the first view of a tray, or a cleared one, has nothing in motion
            falling = DROP_FRAMES if top is not None and shown is not None else ()
            self._shown = self._render(count, top, falling)
            return self._shown

    def _render(self, count: int, top: Slip | None, falling: tuple[float, ...]) -> _Shown:
        started = time.monotonic()
        paper = None if top is None else render.render_slip_image(top)
        # every slip lands a little differently, and the same way on every run
        seed = int(np.random.SeedSequence([self.seed, count]).generate_state(1)[0])
        shots = [scene.render_scene_with_truth(paper, self.level, seed, drop=d) for d in (*falling, 0.0)]
        jpegs = tuple(_encode(s.frame) for s in shots)
        self.renders += 1  # under _render_lock
        events.log(self.source, f"tray shows {count} slip(s); rendered in "
                                f"{(time.monotonic() - started) * 1000:.0f} ms")
        return _Shown(count, top, jpegs, shots[-1])


def _encode(frame: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a frame as JPEG")
    return buf.tobytes()
