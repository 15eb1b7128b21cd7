"""The terminal driver: commands over the ECR link, events collected, expect() on them.

It never knows whether a real terminal or the simulator is at the other end of the URL.
A command is sent and returns a ``Pending``; the caller may then act (have the robot
insert a card, press the PIN) while the terminal works, waiting for prompts with
``expect_prompt``, and finally collect the ``Response``.

``TerminalDriver`` holds what every dialect's driver shares (responses and events in
arrival order, waits that end with the terminal's last words in the error); ``EcrTerminal``
speaks posrig-ecr/1, ``devices.terminal.concert_driver.ConcertTerminal`` Ingenico Concert.

What the terminal sends is input: a frame that is not the dialect reaches the caller as a
``DialectError`` (a terminal defect) naming the station, and the next frame is read as
usual; a fault of the link's reader thread reaches it once as a ``ReaderFault`` (a station
fault). Nothing the terminal sends can make the driver hold more than ``MAX_EVENTS`` events
and ``MAX_RESPONSES`` uncollected answers: answers to requests nobody sent (or answered
twice) are logged and dropped, and the oldest unconsumed events go first.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices import events
from devices.faults import TerminalDefect
from devices.terminal import dialect
from devices.terminal.dialect import DialectError, Event, Message, Request, Response
from devices.terminal.link import EcrLink, LinkTimeout, safe_log
from devices.terminal.transport import open_port
from devices.text import printable

MAX_EVENTS = 256  # events kept for expect_event and in ``received``, each
MAX_RESPONSES = 256  # answers received and not yet collected; requests awaiting one


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
        self._awaited: OrderedDict[int, str] = OrderedDict()  # request id -> cmd, not yet answered
        self._responses: OrderedDict[int, Response] = OrderedDict()
        self._events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self.dropped_events = 0  # events that fell out of ``_events`` unconsumed
        self.history: deque[str] = deque(maxlen=200)  # what the terminal said, for error tails
        self.received: deque[Event] = deque(maxlen=MAX_EVENTS)  # the latest events, consumed or not

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

    def _sent(self, request: Request) -> None:
        """Note a request that went out: only its answer will be taken."""
        self._awaited[request.id] = request.cmd
        while len(self._awaited) > MAX_RESPONSES:
            self._awaited.popitem(last=False)

    def _check_link(self) -> None:
        """Raise, once, a fault the link's reader met since the last call."""
        link = getattr(self, "link", None)
        fault = link.take_fault() if link is not None else None
        if fault is not None:
            raise fault

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
        self._check_link()
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise LinkTimeout("deadline passed")
            message = self._next_message(remaining)
        except DialectError as exc:
            self.history.append(printable(f"unreadable frame: {exc}", 300))
            raise
        except LinkTimeout:
            tail = "\n  ".join(list(self.history)[-8:]) or "(nothing)"
            raise TerminalError(
                f"{self.station}: waited in vain for {what} on {self.url}. "
                f"Last from the terminal:\n  {tail}"
            ) from None
        self._record(message)

    def _record(self, message: Message) -> None:
        if isinstance(message, Response):
            self.history.append(printable(f"response {message.cmd} {message.status}", 300))
            if self._awaited.pop(message.id, None) is None:
                safe_log(self.source, printable(
                    f"dropped an answer to #{message.id} ({message.cmd} {message.status}): no request "
                    "of this link awaits it (never sent, answered already, or sent before a reopen)", 400))
                return
            self._responses[message.id] = message
            while len(self._responses) > MAX_RESPONSES:
                self._responses.popitem(last=False)
        elif isinstance(message, Event):
            self.history.append(printable(f"{message.event} {message.data}", 300))
            if len(self._events) == self._events.maxlen:
                self.dropped_events += 1
                if self.dropped_events in (1, 10, 100, 1000, 10_000, 100_000):
                    safe_log(self.source, f"{self.dropped_events} event(s) nobody waited for were "
                                          f"dropped (the oldest first; {MAX_EVENTS} are kept)")
            self._events.append(message)
            self.received.append(message)
        else:
            raise TerminalError(f"{self.station}: the terminal sent a request ({message.cmd}); "
                                "a terminal only answers and reports")

    def outstanding(self) -> list[str]:
        """The commands sent whose response has not arrived: a transaction still running."""
        return list(self._awaited.values())

    def abandon_outstanding(self) -> None:
        """Forget the commands still unanswered: the terminal lost its power, and with it
        every transaction it was running (a late answer would be a terminal defect)."""
        self._awaited.clear()

    def settle_outstanding(self, timeout: float) -> None:
        """Wait until every command sent has been answered, and drop those answers: the
        station's restore after a test that left a transaction running (and cancelled it)."""
        deadline = time.monotonic() + timeout
        while self._awaited:
            self._pump(deadline, f"the end of {', '.join(self._awaited.values())} left running")
        self._responses.clear()
        self._events.clear()


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
        self._awaited.clear()
        self.link = self._open()
        events.log(self.source, f"link reopened on {self.url}")
        return self

    def send(self, cmd: str, **args: Any) -> Pending:
        self._check_link()
        request = Request(next(self._ids), cmd, dict(args))
        self._sent(request)
        self.link.send(dialect.encode(request))
        return Pending(self, request)

    def _next_message(self, timeout: float) -> Message:
        payload = self.link.receive(timeout)
        try:
            return dialect.decode(payload)
        except DialectError as exc:
            raise DialectError(f"{self.station}: the terminal on {self.url} sent a frame that is "
                               f"not {dialect.NAME}: {exc}. The frame: {dialect.describe(payload, 200)}",
                               id=exc.id, cmd=exc.cmd) from None

    def close(self) -> None:
        events.log(self.source, "link closed")
        self.link.close()
