"""Step events: the one stream evidence travels on.

Devices and flows announce steps here; reporters (the Allure reporter, the console, the
per-device log files) subscribe in ``harness``. Nothing in ``devices`` knows who listens.
Arguments and payload text are masked before they are published, so a subscriber cannot
leak a card number even if it writes everything it receives.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from devices.faults import Verdict, classify
from devices.masking import scrub


@dataclass(frozen=True)
class Attachment:
    name: str
    body: bytes | str
    mime: str = "text/plain"


@dataclass
class StepEvent:
    """``phase`` is ``start`` or ``end``; ``end`` carries the result or the error."""

    source: str  # device or flow that announced it, e.g. "station-1/terminal"
    title: str
    phase: str
    args: dict[str, str] = field(default_factory=dict)
    result: str | None = None
    error: str | None = None
    #: whose fault the error is (devices/faults.py), decided where the exception was seen
    verdict: Verdict | None = None
    duration_s: float = 0.0
    attachments: list[Attachment] = field(default_factory=list)
    thread: int = field(default_factory=threading.get_ident)


@dataclass
class LogEvent:
    """A line a device wants in its own log (frames, console output, G-code)."""

    source: str
    text: str


Listener = Callable[[StepEvent | LogEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock, contextlib.suppress(ValueError):
            _listeners.remove(listener)

    return unsubscribe


def listening() -> bool:
    """Whether anyone subscribed: a publisher may skip costly formatting when nobody is."""
    return bool(_listeners)


def publish(event: StepEvent | LogEvent) -> None:
    with _lock:
        targets = list(_listeners)
    for listener in targets:
        listener(event)


def log(source: str, text: str) -> None:
    publish(LogEvent(source, scrub(text)))


def _masked(value: Any) -> str:
    return scrub(str(value))


class Step:
    """Handle for a running step: add attachments or a result before it ends."""

    def __init__(self, source: str, title: str, args: dict[str, Any]):
        self.source = source
        self.title = title
        self.args = {k: _masked(v) for k, v in args.items()}
        self.attachments: list[Attachment] = []
        self.result: str | None = None

    def attach(self, name: str, body: bytes | str, mime: str = "text/plain") -> None:
        if isinstance(body, str):
            body = scrub(body)
        self.attachments.append(Attachment(name, body, mime))


@contextlib.contextmanager
def step(source: str, title: str, **args: Any) -> Iterator[Step]:
    handle = Step(source, title, args)
    publish(StepEvent(source, title, "start", handle.args))
    started = time.monotonic()
    try:
        yield handle
    except BaseException as exc:
        publish(
            StepEvent(source, title, "end", handle.args, error=_masked(f"{type(exc).__name__}: {exc}"),
                      verdict=classify(exc), duration_s=time.monotonic() - started,
                      attachments=handle.attachments)
        )
        raise
    publish(
        StepEvent(source, title, "end", handle.args,
                  result=None if handle.result is None else _masked(handle.result),
                  duration_s=time.monotonic() - started, attachments=handle.attachments)
    )
