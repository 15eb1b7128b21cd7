"""The screen watched through a whole transaction: the states it went through, and the
prompts it showed.

A terminal's screen moves on by itself (approved, then remove card, then idle), and most
terminals report their prompts nowhere else. ``ScreenWatch`` reads the display camera in a
thread of its own from the moment a transaction starts (``Screen.read``: only frames that
changed are recognised) and keeps:

- ``history``: every change of the recognised state, with its time, text, captures and
  frame, so that the fourth witness (``check_screen``) compares the terminal's answer with
  every outcome the screen showed during the transaction, not only with the frame in view
  when the answer came;
- the prompts: each time the screen *comes to* show a prompt state (``PROMPT_STATES``, in
  the profile's order the first one shown), it is handed to ``on_prompt`` once -- the
  Concert driver's ``report_prompt`` when the profile says ``prompts: screen``. A frame that
  matches no state (a misread, a screen being redrawn) does not end a prompt: only another
  recognised state or a dark screen does, so one misread frame never makes the robot answer
  a prompt twice.

Steps from a thread other than the test's do not reach the report, so the watch's evidence
is published by ``step()``, from the flow's thread, once the transaction ended: one step
with the states in order and each state's frame attached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from devices import events
from devices.camera import CameraError
from harness.screen.reader import ScreenReading
from harness.screen.screen import Screen, jpeg_bytes

#: The screen states that are prompts, in the words of the terminal's driver events.
PROMPT_STATES = ("insert_card", "swipe_card", "enter_pin", "supervisor_password", "remove_card")
MAX_HISTORY = 64  # changes of state kept per transaction (a transaction shows about ten)
POLL_S = 0.05  # how long one wait for a frame lasts: stop() returns within it (and a read)

PromptListener = Callable[[str, ScreenReading], None]


@dataclass(frozen=True)
class Seen:
    """One change of the recognised state during the watch."""

    at: float  # time.monotonic()
    reading: ScreenReading
    frame_jpeg: bytes | None

    @property
    def state(self) -> str | None:
        return self.reading.state


class ScreenWatch:
    """Reads ``screen`` until ``stop()``; ``history`` and the prompts as above."""

    def __init__(self, screen: Screen, *, on_prompt: PromptListener | None = None,
                 prompts: tuple[str, ...] = PROMPT_STATES, name: str = "transaction"):
        self.screen = screen
        self.name = name
        self.on_prompt = on_prompt
        profile = screen.profile
        known = {s.name for s in profile.states} if profile is not None else set()
        self.prompts = tuple(p for p in prompts if p in known)
        self.history: list[Seen] = []
        self.reported: list[str] = []  # the prompts handed to on_prompt, in order
        self.failure: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._prompt: str | None = None  # the prompt the screen shows now (reported once)
        self._thread: threading.Thread | None = None

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> ScreenWatch:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"screen watch {self.screen.station}")
        self._thread.start()
        return self

    def stop(self, *, raise_failure: bool = True) -> None:
        """Stop reading; a failure of the camera during the watch (a ``CameraError``, a station
        fault) is raised here, in the flow's thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.screen.camera.timeout + 5)
        if raise_failure and self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def __enter__(self) -> ScreenWatch:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(raise_failure=exc is None)

    # -- reading ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            silent_since = time.monotonic()
            while not self._stop.is_set():
                # short slices, so stop() returns within one (not a whole camera timeout)
                reading = self.screen.poll(POLL_S)
                if reading is None:
                    if time.monotonic() - silent_since > self.screen.camera.timeout:
                        raise CameraError(f"{self.screen.station}: display camera "
                                          f"{self.screen.camera.source}: no frame in "
                                          f"{self.screen.camera.timeout:g} s while watching the "
                                          f"{self.name} (the stream is open but sends nothing)")
                    continue
                silent_since = time.monotonic()
                self._take(reading)
        except BaseException as exc:  # told to the flow at stop(); the thread must end quietly
            self.failure = exc

    def _take(self, reading: ScreenReading) -> None:
        with self._lock:
            last = self.history[-1].reading if self.history else None
            changed = last is None or reading.states != last.states or reading.lit != last.lit
            if changed and len(self.history) < MAX_HISTORY:
                frame = self.screen.last_frame
                self.history.append(Seen(time.monotonic(), reading,
                                         jpeg_bytes(frame) if frame is not None else None))
            shown = next((s for s in reading.states if s in self.prompts), None)
            if shown is None and reading.lit and not reading.states:
                return  # no state at all: a misread or a redraw, not the end of a prompt
            if shown == self._prompt:
                return
            self._prompt = shown
            if shown is None:
                return
            if len(self.reported) < MAX_HISTORY:  # a screen flickering all night stays bounded
                self.reported.append(shown)
        if self.on_prompt is not None:
            self.on_prompt(shown, reading)

    # -- what was seen --------------------------------------------------------------------------
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self.history)

    def states(self) -> list[str]:
        """The recognised states in the order the screen showed them."""
        return [s.state or "no known state" for s in self.seen()]

    def step(self, source: str) -> None:
        """The watch's evidence as a step of the calling thread: the states in order, each
        change's frame attached."""
        seen = self.seen()
        with events.step(source, f"the screen during the {self.name}",
                         prompts=", ".join(self.reported) or "none") as step:
            step.result = " -> ".join(self.states()) or "no frame read"
            for index, entry in enumerate(seen, 1):
                step.attach(f"screen {index}: {entry.state or 'no known state'}",
                            entry.reading.text)
                if entry.frame_jpeg is not None:
                    step.attach(f"screen {index} frame", entry.frame_jpeg, "image/jpeg")
