"""The ECR link: ``STX payload ETX LRC`` frames with ACK/NAK, over any serial-like port.

Written once and used by both ends: the terminal driver runs it over pyserial
(``serial_for_url``) or a USB bulk pair (``devices.terminal.usb``), the simulated terminal
over the master side of its pty. The payload is a dialect's business; this module never
looks inside it, except through the ``describe`` function a dialect hands in to turn a
payload into a log line with its secrets (passwords, PINs) hidden.

- LRC is the XOR of every payload byte and ETX.
- The receiver answers ACK for a good frame and NAK for a bad LRC.
- The sender repeats on NAK or on silence (``ack_timeout``), ``repeats`` times after the
  first send, then raises ``LinkError`` naming the port and what it heard.

``PortReader`` is the part every byte-framed link shares (a reader thread, the failure it
saw, muting while the device has no power); the Concert link (``devices.terminal.concert``)
builds its ENQ/EOT session on it too.

The reader thread takes input from another device, so it never dies of it: whatever goes
wrong while it handles a frame (a dialect's ``describe``, a log listener that raises) is
caught, logged, and kept as a ``ReaderFault`` (a station fault) that the driver raises to
its caller once (``take_fault``); the next frame is read as usual. Frames nobody collects
wait in a bounded inbox (``INBOX_FRAMES`` / ``INBOX_BYTES``): beyond it the oldest go.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from devices import events
from devices.faults import StationFault
from devices.text import printable

STX, ETX, EOT, ENQ, ACK, NAK = 0x02, 0x03, 0x04, 0x05, 0x06, 0x15
MAX_PAYLOAD = 64 * 1024  # a frame longer than this is line noise, not a message
INBOX_FRAMES = 256  # frames received and not yet collected, at most ...
INBOX_BYTES = 4 * 1024 * 1024  # ... and bytes of them; beyond either the oldest are dropped
_fallback = logging.getLogger("posrig.terminal.link")

Describe = Callable[[bytes], str]


class LinkError(StationFault):
    """The link failed: no ACK after every repeat, or the port went away."""


class NoAck(LinkError):
    """Every repeat of a frame went unacknowledged: the far end is silent (unpowered,
    booting, unplugged). A port that is gone is a plain ``LinkError``."""


class LinkTimeout(LinkError):
    """Nothing arrived in time."""


class ReaderFault(LinkError):
    """The link's reader thread hit an error while handling what arrived (a log listener
    that raised, a bug); it went on reading, and the driver reports it once."""


def safe_log(source: str, text: str) -> BaseException | None:
    """``events.log`` that never raises into a device thread: a listener's exception goes to
    Python's logging instead, and is returned so the caller can report it."""
    try:
        events.log(source, text)
    except Exception as exc:
        _fallback.error("%s: a log listener failed (%s: %s) on: %s", source, type(exc).__name__,
                        exc, printable(text, 300))
        return exc
    return None


def _size(item: Any) -> int:
    return len(item) if isinstance(item, bytes | bytearray) else 256


class BoundedInbox(queue.Queue):
    """A queue a reader thread puts into without ever blocking and that never outgrows its
    budget: when it is full the oldest item is dropped and counted in ``dropped``."""

    def __init__(self, max_items: int = INBOX_FRAMES, max_bytes: int = INBOX_BYTES):
        super().__init__()
        self.max_items, self.max_bytes = max_items, max_bytes
        self.dropped = 0
        self._bytes = 0

    def _put(self, item: Any) -> None:  # called by Queue.put under its lock
        self.queue.append(item)
        self._bytes += _size(item)
        while len(self.queue) > 1 and (len(self.queue) > self.max_items or self._bytes > self.max_bytes):
            self._bytes -= _size(self.queue.popleft())
            self.dropped += 1

    def _get(self) -> Any:
        item = self.queue.popleft()
        self._bytes -= _size(item)
        return item


def lrc(payload: bytes) -> int:
    value = 0
    for byte in payload:
        value ^= byte
    return value ^ ETX


def encode_frame(payload: bytes) -> bytes:
    if STX in payload or ETX in payload:
        raise ValueError("an ECR payload may not contain raw STX or ETX bytes")
    return bytes([STX]) + payload + bytes([ETX, lrc(payload)])


def utf8_text(payload: bytes) -> str:
    """A payload as a log line when no dialect says better: control characters escaped, cut."""
    return printable(payload[:8_000].decode("utf-8", "replace"), 2_000)


@dataclass(frozen=True)
class Received:
    kind: str  # "frame" (good), "bad" (LRC mismatch), "ack", "nak", "enq", "eot"
    payload: bytes = b""


_CONTROL = {ACK: "ack", NAK: "nak", ENQ: "enq", EOT: "eot"}


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole frames and control bytes."""

    def __init__(self) -> None:
        self._buf: bytearray | None = None  # None: between frames
        self._await_lrc = False

    @property
    def mid_frame(self) -> int | None:
        """Bytes of a frame received so far, or None between frames."""
        return None if self._buf is None else len(self._buf) + 1 + self._await_lrc

    def feed(self, data: bytes) -> list[Received]:
        out: list[Received] = []
        for byte in data:
            if self._buf is None:
                if byte in _CONTROL:
                    out.append(Received(_CONTROL[byte]))
                elif byte == STX:
                    self._buf = bytearray()
                # anything else between frames is noise: a real line has it, drop it
            elif self._await_lrc:
                payload = bytes(self._buf)
                out.append(Received("frame" if byte == lrc(payload) else "bad", payload))
                self._buf, self._await_lrc = None, False
            elif byte == ETX:
                self._await_lrc = True
            elif byte == STX:  # a new frame began: the previous one was cut short
                self._buf = bytearray()
            else:
                self._buf.append(byte)
                if len(self._buf) > MAX_PAYLOAD:
                    out.append(Received("bad", b""))
                    self._buf = None
        return out


class PortReader:
    """A reader thread on a serial-like port (``read``, ``in_waiting``, ``write``, ``flush``,
    ``close``), decoding frames; subclasses say what to do with each item."""

    def __init__(self, port: Any, *, name: str, log_source: str | None = None,
                 describe: Describe = utf8_text, inbox: queue.Queue | None = None):
        self.port = port
        self.name = name  # e.g. "station-1 terminal ECR port /dev/pts/4": goes into every error
        self.log_source = log_source or name
        self.describe = describe
        self._inbox: queue.Queue = inbox if inbox is not None else BoundedInbox()
        self._faults: deque[ReaderFault] = deque(maxlen=16)  # reported once each, oldest lost
        self._next_drop_report = 1
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._failed_mid_frame: int | None = None
        self._decoder = FrameDecoder()
        # A muted link is a UART without power: bytes arriving are lost, nothing is sent.
        self._muted = False
        self._thread = threading.Thread(target=self._read_loop, name=f"link {name}", daemon=True)
        self._thread.start()

    def mute(self, muted: bool) -> None:
        self._muted = muted
        self._decoder = FrameDecoder()
        while not self._inbox.empty():
            self._inbox.get_nowait()

    @property
    def muted(self) -> bool:
        return self._muted

    # -- receiving --------------------------------------------------------------------------
    def receive(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkTimeout(f"{self.name}: nothing received within {timeout:.1f} s")
            try:
                return self._inbox.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.port.read(1)
                if data:
                    waiting = self.port.in_waiting
                    if waiting:
                        data += self.port.read(waiting)
            except Exception as exc:  # the port vanished (or closed under us during close())
                if not self._stop.is_set():
                    self._failed_mid_frame = self._decoder.mid_frame
                    self._failure = exc
                return
            if self._muted:
                continue
            try:
                items = self._decoder.feed(data)
            except Exception as exc:  # a decoder bug must not end the reading
                self._fault("the frame decoder failed", exc)
                self._decoder = FrameDecoder()
                continue
            for item in items:
                try:
                    self._on_received(item)
                except Exception as exc:
                    self._fault(f"handling a received {item.kind} failed", exc)
            self._note_drops()

    def _on_received(self, item: Received) -> None:
        raise NotImplementedError

    def _fault(self, what: str, exc: BaseException) -> None:
        fault = ReaderFault(f"{self.name}: {what} ({type(exc).__name__}: {printable(str(exc), 300)}); "
                            "the reader went on, but what arrived may be lost")
        self._faults.append(fault)
        safe_log(self.log_source, f"station fault: {fault}")

    def take_fault(self) -> ReaderFault | None:
        """The oldest fault the reader met and nobody was told of yet (then forgotten)."""
        try:
            return self._faults.popleft()
        except IndexError:
            return None

    def _note_drops(self) -> None:
        dropped = getattr(self._inbox, "dropped", 0)
        # said at the 1st, 10th, 100th ... drop: a flood must not become a flood of log lines
        if dropped >= self._next_drop_report:
            self._next_drop_report = dropped * 10
            self._log(f"inbox full: {dropped} received frame(s) nobody collected were dropped "
                      f"(oldest first; at most {INBOX_FRAMES} frames / {INBOX_BYTES} bytes wait)")

    def check_alive(self) -> None:
        if self._failure is None:
            return
        where = ("" if self._failed_mid_frame is None
                 else f" mid-frame, {self._failed_mid_frame} bytes of a frame received,")
        raise LinkError(f"{self.name}: the port vanished{where} ({self._failure}). "
                        "Reconnect the device, then reopen the link.") from self._failure

    @property
    def alive(self) -> bool:
        return self._failure is None and not self._stop.is_set()

    # -- writing ----------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        try:
            with self._write_lock:
                self.port.write(data)
                self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.name}: write failed, the port is gone ({exc}). "
                            "Reconnect the device and reopen the link.") from exc
        except Exception as exc:  # a channel closed under us
            raise LinkError(f"{self.name}: write failed, the port is closed ({exc}). "
                            "Reopen the link.") from exc

    def _safe_write(self, data: bytes) -> None:
        try:
            self._write(data)
        except LinkError as exc:
            self._failure = exc

    def _log(self, text: str) -> None:
        error = safe_log(self.log_source, text)
        if error is not None:
            self._faults.append(ReaderFault(f"{self.name}: a log listener failed "
                                            f"({type(error).__name__}: {printable(str(error), 300)})"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(Exception):  # a port that already vanished needs no closing
            self.port.close()


class EcrLink(PortReader):
    """One end of an ECR link. A reader thread ACKs/NAKs frames and queues good payloads."""

    def __init__(self, port: Any, *, name: str, ack_timeout: float = 1.0, repeats: int = 3,
                 log_source: str | None = None, describe: Describe = utf8_text):
        self.ack_timeout = ack_timeout
        self.repeats = repeats
        self._acks: queue.Queue[str] = queue.Queue()
        super().__init__(port, name=name, log_source=log_source, describe=describe)

    # -- sending ----------------------------------------------------------------------------
    def send(self, payload: bytes, *, corrupt_lrc: bool = False) -> None:
        """Send one frame and wait for its ACK. ``corrupt_lrc`` sends the first copy with a
        wrong LRC (a line fault the simulated terminal can be told to make)."""
        frame = encode_frame(payload)
        heard: list[str] = []
        self._drain_acks()
        for attempt in range(1 + self.repeats):
            self.check_alive()
            if self._muted:
                raise LinkError(f"{self.name}: cannot send, the device has no power")
            bad = corrupt_lrc and attempt == 0
            self._write(frame[:-1] + bytes([frame[-1] ^ 0xFF]) if bad else frame)
            repeat = f" (repeat {attempt})" if attempt else ""
            self._log(f"-> {self.describe(payload)}{repeat}{' [LRC corrupted]' if bad else ''}")
            try:
                answer = self._acks.get(timeout=self.ack_timeout)
            except queue.Empty:
                self.check_alive()
                heard.append("silence")
                continue
            if answer == "ack":
                return
            heard.append("NAK")
        raise NoAck(
            f"{self.name}: no ACK after {1 + self.repeats} sends (heard: {', '.join(heard)}). "
            "Check the cable/port and that the terminal is powered and in ECR mode."
        )

    def _drain_acks(self) -> None:
        while not self._acks.empty():
            self._acks.get_nowait()

    def _on_received(self, item: Received) -> None:
        if item.kind in ("ack", "nak"):
            self._acks.put(item.kind)
        elif item.kind == "bad":
            self._log("<- frame with bad LRC: NAK")
            self._safe_write(bytes([NAK]))
        elif item.kind == "frame":
            self._safe_write(bytes([ACK]))
            self._log(f"<- {self.describe(item.payload)}")
            self._inbox.put(item.payload)
        # ENQ and EOT belong to other link disciplines (Concert): noise here
