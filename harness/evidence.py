"""Reporters on the step-event stream: one log file per device, and Allure steps.

Devices know nothing of either; they publish ``devices.events`` and these subscribe.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import allure
from allure_commons import plugin_manager

from devices import events
from devices.events import LogEvent, StepEvent
from devices.masking import scrub


class DeviceLogs:
    """``logs/<station>/<device>.log``: every line timestamped, as pytest-embedded keeps them."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._lock = threading.Lock()
        self._files: dict[str, Path] = {}
        self._unsubscribe = events.subscribe(self._on_event)

    def path_for(self, source: str) -> Path:
        with self._lock:
            if source not in self._files:
                path = self.directory.joinpath(*source.split("/")).with_suffix(".log")
                path.parent.mkdir(parents=True, exist_ok=True)
                self._files[source] = path
            return self._files[source]

    def _on_event(self, event: LogEvent | StepEvent) -> None:
        if isinstance(event, LogEvent):
            line = event.text
        elif event.phase == "end":
            outcome = event.error or event.result or "done"
            line = f"step {event.title!r} {event.args} -> {outcome} ({event.duration_s:.3f} s)"
        else:
            return
        path = self.path_for(event.source)
        stamp = datetime.now().isoformat(timespec="milliseconds")
        with self._lock, path.open("a", encoding="utf-8") as fh:
            # written and closed line by line: a killed run keeps everything up to its last line
            fh.write(f"{stamp} [{event.source}] {scrub(line)}\n")

    def mark(self) -> dict[Path, int]:
        with self._lock:
            return {p: p.stat().st_size for p in self._files.values() if p.exists()}

    def since(self, mark: dict[Path, int]) -> dict[str, str]:
        """What each device logged after ``mark``: the part of each log a test produced."""
        out = {}
        with self._lock:
            files = dict(self._files)
        for source, path in files.items():
            if not path.exists():
                continue
            with path.open("rb") as fh:
                fh.seek(mark.get(path, 0))
                text = fh.read().decode("utf-8", "replace")
            if text:
                out[source] = text
        return out

    def close(self) -> None:
        self._unsubscribe()


class StepFailed(Exception):
    """Carries a step's error into Allure; the real exception propagates on its own."""


class AllureSteps:
    """Turns the step events of one thread (the test's) into nested Allure steps."""

    def __init__(self, thread_id: int | None = None):
        self.thread_id = thread_id or threading.get_ident()
        self._open: list[str] = []
        self._unsubscribe = events.subscribe(self._on_event)

    def _on_event(self, event: LogEvent | StepEvent) -> None:
        if not isinstance(event, StepEvent) or event.thread != self.thread_id:
            return
        if event.phase == "start":
            uuid = str(uuid4())
            self._open.append(uuid)
            plugin_manager.hook.start_step(uuid=uuid, title=f"{event.source}: {event.title}",
                                           params=event.args)
            return
        if not self._open:
            return
        for attachment in event.attachments:
            kind = (allure.attachment_type.PNG if attachment.mime == "image/png"
                    else allure.attachment_type.JSON if attachment.mime == "application/json"
                    else allure.attachment_type.TEXT)
            allure.attach(attachment.body, name=attachment.name, attachment_type=kind)
        uuid = self._open.pop()
        error = StepFailed(event.error) if event.error else None
        plugin_manager.hook.stop_step(uuid=uuid, title=event.title,
                                      exc_type=type(error) if error else None,
                                      exc_val=error, exc_tb=None)

    def close(self) -> None:
        self._unsubscribe()
