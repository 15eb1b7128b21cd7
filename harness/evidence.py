"""Reporters on the step-event stream: one log file per device, and Allure steps with evidence.

Devices know nothing of either; they publish ``devices.events`` and these subscribe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import allure
from allure_commons import plugin_manager

from devices import events
from devices.events import LogEvent, StepEvent
from devices.faults import TerminalDefect, classify_name
from devices.masking import scrub
from harness.exchange_table import exchange_html


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


class StepFailed(TerminalDefect):
    """A step the terminal got wrong: shown failed, as its test is."""


class StepBroken(Exception):
    """A step the bench could not carry out: shown broken."""


#: What each kind of evidence is called in the report, by the log source it comes from.
EVIDENCE_NAMES = {"terminal": "ECR frames", "console": "debug console", "host": "ISO 8583 exchange"}


@dataclass
class _OpenStep:
    uuid: str
    evidence: dict[str, list[str]] = field(default_factory=dict)


class AllureSteps:
    """Turns one station's step events into nested Allure steps, each with its evidence.

    Steps come from the thread that runs the test; evidence comes from any thread (the
    ECR link's reader, the host's loop) while a step is open, and is attached to the
    innermost open step, where it happened: the ECR frames of the station's terminal, its
    debug console, and the host's decoded ISO 8583 exchanges with this terminal (the host
    masks them; ``devices.events.log`` has scrubbed them again), shown as a table per message
    (harness/exchange_table.py). A robot step attaches its own G-code. The host serves every
    station, so its lines are picked by terminal id.
    """

    def __init__(self, station: str | None = None, tid: str | None = None,
                 thread_id: int | None = None):
        self.station, self.tid = station, tid
        self.thread_id = thread_id or threading.get_ident()
        self._open: list[_OpenStep] = []
        self._lock = threading.Lock()
        self._unsubscribe = events.subscribe(self._on_event)

    def _kind_of(self, event: LogEvent) -> str | None:
        if event.source == "host":
            return "host" if self.tid and f"41={self.tid}" in event.text else None
        station, _, device = event.source.partition("/")
        if self.station is None or station != self.station:
            return None
        return device if device in ("terminal", "console") else None

    def _on_event(self, event: LogEvent | StepEvent) -> None:
        if isinstance(event, LogEvent):
            kind = self._kind_of(event)
            if kind is not None:
                stamp = datetime.now().isoformat(timespec="milliseconds")
                with self._lock:
                    if self._open:
                        self._open[-1].evidence.setdefault(kind, []).append(f"{stamp} {event.text}")
            return
        if event.thread != self.thread_id:
            return
        if event.phase == "start":
            step = _OpenStep(str(uuid4()))
            with self._lock:
                self._open.append(step)
            plugin_manager.hook.start_step(uuid=step.uuid, title=f"{event.source}: {event.title}",
                                           params=event.args)
            return
        with self._lock:
            if not self._open:
                return
            step = self._open.pop()
        for attachment in event.attachments:
            _attach(attachment.name, attachment.body, attachment.mime)
        for kind, lines in step.evidence.items():
            _attach_evidence(kind, lines)
        error = _step_error(event) if event.error else None
        plugin_manager.hook.stop_step(uuid=step.uuid, title=event.title,
                                      exc_type=type(error) if error else None,
                                      exc_val=error, exc_tb=None)

    def close(self) -> None:
        self._unsubscribe()


def _step_error(event: StepEvent) -> Exception:
    """The step's error as an exception of the status its verdict gives (Allure draws an
    AssertionError failed, anything else broken)."""
    text = event.error or ""
    verdict = event.verdict or classify_name([text.split(":", 1)[0]])
    return (StepFailed if verdict is not None and verdict.failed else StepBroken)(text)


def _attach_evidence(kind: str, lines: list[str]) -> None:
    """The host's exchanges as tables (harness/exchange_table.py), the rest as text."""
    table = exchange_html(lines) if kind == "host" else None
    if table is not None:
        _attach(EVIDENCE_NAMES[kind], table, "text/html")
    else:
        _attach(EVIDENCE_NAMES[kind], "\n".join(lines) + "\n", "text/plain")


def _attach(name: str, body: bytes | str, mime: str) -> None:
    kind = {"image/png": allure.attachment_type.PNG, "image/jpeg": allure.attachment_type.JPG,
            "application/json": allure.attachment_type.JSON,
            "text/html": allure.attachment_type.HTML}.get(mime, allure.attachment_type.TEXT)
    if isinstance(body, str):
        body = scrub(body)  # a last guard: nothing leaves for the report unmasked
    if mime == "image/jpeg":  # allure's JPG type is labelled image/jpg, which is no MIME type
        allure.attach(body, name=name, attachment_type="image/jpeg", extension="jpg")
        return
    allure.attach(body, name=name, attachment_type=kind)


def attach_device_logs(logs: DeviceLogs, mark: dict[Path, int], *, suffix: str = "") -> None:
    """Each device's log lines since ``mark``, attached to whatever Allure item is open."""
    for source, text in sorted(logs.since(mark).items()):
        allure.attach(text, name=f"{source}.log{suffix}", attachment_type=allure.attachment_type.TEXT)
