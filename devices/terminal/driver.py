"""The terminal driver: commands over the ECR link, events collected, expect() on them.

It never knows whether a real terminal or the simulator is at the other end of the URL.
A command is sent and returns a ``Pending``; the caller may then act (have the robot
insert a card, press the PIN) while the terminal works, waiting for prompts with
``expect_prompt``, and finally collect the ``Response``.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from devices import events
from devices.channels import open_serial
from devices.terminal import dialect
from devices.terminal.dialect import Event, Request, Response
from devices.terminal.link import EcrLink, LinkTimeout


class TerminalError(Exception):
    """The terminal did not do what was asked in time; the message shows what it last said."""


@dataclass
class Pending:
    terminal: EcrTerminal
    request: Request

    def result(self, timeout: float | None = None) -> Response:
        return self.terminal._await_response(self.request, timeout)


class EcrTerminal:
    def __init__(self, url: str, *, station: str = "station", baudrate: int = 115200,
                 ack_timeout: float = 1.0, repeats: int = 3, response_timeout: float = 60.0):
        self.url = url
        self.station = station
        self.source = f"{station}/terminal"
        self.response_timeout = response_timeout
        port = open_serial(url, baudrate=baudrate, device=f"{station} terminal ECR")
        self.link = EcrLink(port, name=f"{station} terminal ECR port {url}",
                            ack_timeout=ack_timeout, repeats=repeats, log_source=self.source)
        self._ids = itertools.count(1)
        self._responses: dict[int, Response] = {}
        self._events: deque[Event] = deque()
        self.history: deque[str] = deque(maxlen=200)  # what the terminal said, for error tails

    # -- commands ---------------------------------------------------------------------------
    def send(self, cmd: str, **args: object) -> Pending:
        request = Request(next(self._ids), cmd, dict(args))
        self.link.send(dialect.encode(request))
        return Pending(self, request)

    def call(self, cmd: str, timeout: float | None = None, **args: object) -> Response:
        return self.send(cmd, **args).result(timeout)

    # -- events ---------------------------------------------------------------------------------
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
            payload = self.link.receive(remaining)
        except LinkTimeout:
            tail = "\n  ".join(list(self.history)[-8:]) or "(nothing)"
            raise TerminalError(
                f"{self.station}: waited in vain for {what} on {self.url}. "
                f"Last from the terminal:\n  {tail}"
            ) from None
        message = dialect.decode(payload)
        if isinstance(message, Response):
            self.history.append(f"response {message.cmd} {message.status}")
            self._responses[message.id] = message
        elif isinstance(message, Event):
            self.history.append(f"{message.event} {message.data}")
            self._events.append(message)
        else:
            raise TerminalError(f"{self.station}: the terminal sent a request ({message.cmd}); "
                                f"a terminal only answers and reports in {dialect.NAME}")

    def events_seen(self) -> list[Event]:
        return list(self._events)

    def close(self) -> None:
        events.log(self.source, "link closed")
        self.link.close()
