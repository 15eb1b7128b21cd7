"""The terminal driver: commands over the ECR link, events collected, expect() on them.

It never knows whether a real terminal or the simulator is at the other end of the URL.
A command is sent and returns a ``Pending``; the caller may then act (have the robot
insert a card, press the PIN) while the terminal works, waiting for prompts with
``expect_prompt``, and finally collect the ``Response``.

``TerminalDriver`` holds what every dialect's driver shares (responses and events in
arrival order, waits that end with the terminal's last words in the error); ``EcrTerminal``
speaks posrig-ecr/1, ``devices.terminal.concert_driver.ConcertTerminal`` Ingenico Concert.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices import events
from devices.faults import TerminalDefect
from devices.terminal import dialect
from devices.terminal.dialect import Event, Message, Request, Response
from devices.terminal.link import EcrLink, LinkTimeout
from devices.terminal.transport import open_port


class TerminalError(TerminalDefect):
    """The terminal did not do what was asked in time; the message shows what it last said."""


@dataclass
class Pending:
    terminal: TerminalDriver
    request: Request

    def result(self, timeout: float | None = None) -> Response:
        return self.terminal._await_response(self.request, timeout)


class TerminalDriver:
    """Responses by request id and events in order, filled by ``_next_message``."""

    def __init__(self, url: str, *, station: str, response_timeout: float):
        self.url = url
        self.station = station
        self.source = f"{station}/terminal"
        self.response_timeout = response_timeout
        self._ids = itertools.count(1)
        self._responses: dict[int, Response] = {}
        self._events: deque[Event] = deque()
        self.history: deque[str] = deque(maxlen=200)  # what the terminal said, for error tails
        self.received: deque[Event] = deque(maxlen=1000)  # every event, consumed or not

    def _next_message(self, timeout: float) -> Message:
        """The next message from the terminal; ``LinkTimeout`` when none came in time."""
        raise NotImplementedError

    def send(self, cmd: str, **args: Any) -> Pending:
        raise NotImplementedError

    def reopen(self, url: str | None = None) -> TerminalDriver:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def call(self, cmd: str, timeout: float | None = None, **args: Any) -> Response:
        return self.send(cmd, **args).result(timeout)

    # -- events -----------------------------------------------------------------------------
    def expect_event(self, match: Callable[[Event], bool], *, what: str,
                     timeout: float = 30.0) -> Event:
        """Wait for an event ``match`` accepts; events seen before it are consumed."""
        deadline = time.monotonic() + timeout
        while True:
            while self._events:
                event = self._events.popleft()
                if match(event):
                    return event
            self._pump(deadline, what)

    def expect_prompt(self, prompt: str, timeout: float = 30.0) -> Event:
        return self.expect_event(
            lambda e: e.event == "prompt" and e.data.get("prompt") == prompt,
            what=f"prompt {prompt!r}", timeout=timeout)

    def prompt_or_response(self, pending: Pending, prompts: tuple[str, ...],
                           timeout: float = 30.0) -> Event | Response:
        """The next prompt among ``prompts``, or the response if the command ended first
        (a terminal refusing a sale answers at once instead of asking for a card)."""
        deadline = time.monotonic() + timeout
        what = f"prompt {'/'.join(prompts)} or the response to {pending.request.cmd}"
        while True:
            while self._events:
                event = self._events.popleft()
                if event.event == "prompt" and event.data.get("prompt") in prompts:
                    return event
            if pending.request.id in self._responses:
                return self._responses.pop(pending.request.id)
            self._pump(deadline, what)

    def _await_response(self, request: Request, timeout: float | None) -> Response:
        deadline = time.monotonic() + (self.response_timeout if timeout is None else timeout)
        while request.id not in self._responses:
            self._pump(deadline, f"the response to {request.cmd} #{request.id}")
        return self._responses.pop(request.id)

    def _pump(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise LinkTimeout("deadline passed")
            message = self._next_message(remaining)
        except LinkTimeout:
            tail = "\n  ".join(list(self.history)[-8:]) or "(nothing)"
            raise TerminalError(
                f"{self.station}: waited in vain for {what} on {self.url}. "
                f"Last from the terminal:\n  {tail}"
            ) from None
        self._record(message)

    def _record(self, message: Message) -> None:
        if isinstance(message, Response):
            self.history.append(f"response {message.cmd} {message.status}")
            self._responses[message.id] = message
        elif isinstance(message, Event):
            self.history.append(f"{message.event} {message.data}")
            self._events.append(message)
            self.received.append(message)
        else:
            raise TerminalError(f"{self.station}: the terminal sent a request ({message.cmd}); "
                                "a terminal only answers and reports")

    def events_seen(self) -> list[Event]:
        return list(self._events)


class EcrTerminal(TerminalDriver):
    """A terminal speaking posrig-ecr/1 over a serial URL or ``usb://VID:PID[/serial]``."""

    def __init__(self, url: str, *, station: str = "station", baudrate: int = 115200,
                 ack_timeout: float = 1.0, repeats: int = 3, response_timeout: float = 60.0,
                 usb_backend: Any = None):
        super().__init__(url, station=station, response_timeout=response_timeout)
        self.baudrate, self.ack_timeout, self.repeats = baudrate, ack_timeout, repeats
        self.usb_backend = usb_backend
        self.link = self._open()

    def _open(self) -> EcrLink:
        port = open_port(self.url, baudrate=self.baudrate, device=f"{self.station} terminal ECR",
                         usb_backend=self.usb_backend)
        return EcrLink(port, name=f"{self.station} terminal ECR port {self.url}",
                       ack_timeout=self.ack_timeout, repeats=self.repeats,
                       log_source=self.source, describe=dialect.describe)

    def reopen(self, url: str | None = None) -> EcrTerminal:
        """Close the link and open it again, at ``url`` if the device came back elsewhere (a
        USB-serial adapter may re-enumerate as another ttyACM). Responses to requests sent
        before are lost with the old link; events already received are kept."""
        with contextlib.suppress(Exception):
            self.link.close()
        if url is not None:
            self.url = url
        self._responses.clear()
        self.link = self._open()
        events.log(self.source, f"link reopened on {self.url}")
        return self

    def send(self, cmd: str, **args: Any) -> Pending:
        request = Request(next(self._ids), cmd, dict(args))
        self.link.send(dialect.encode(request))
        return Pending(self, request)

    def _next_message(self, timeout: float) -> Message:
        return dialect.decode(self.link.receive(timeout))

    def close(self) -> None:
        events.log(self.source, "link closed")
        self.link.close()
