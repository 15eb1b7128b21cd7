"""The Concert driver: posrig's terminal interface over Ingenico Concert E+.

Concert expresses three transactions, so three commands map onto it:

    sale   -> debit (0)        refund -> credit (1)        void -> cancellation (2)

A Concert terminal logs in, signs in and settles on its own: ``login``, ``signin``,
``settle``, ``reprint`` and ``status`` have no Concert message and raise
``UnsupportedCommand`` rather than pretend. Concert sends no events either, so prompts
(insert card, enter PIN, supervisor password) come from the terminal's debug console when
one is given: each console line matching ``prompt_patterns`` becomes an ``Event``, which is
how the same flows drive a Concert terminal and a posrig-ecr/1 one. Without a console, the
driver only infers ``insert_card`` once the terminal has accepted a debit or credit.

A production terminal has no debug console: its prompts are on its screen. After
``prompts_from("screen")`` the driver neither infers nor takes the console's prompts, and
whoever reads the screen (the rig's display camera, harness/screen) hands each prompt it
sees to ``report_prompt``; it reaches the flows as any other prompt event.

The answer's result says success (0), refused (7) or not done (9); the driver reports
``approved``, ``declined`` (refused with a host response code in the report), ``refused``
(refused without one) or ``failed``.
"""

from __future__ import annotations

import contextlib
import queue
import re
import time
from typing import Any

from devices import events
from devices.faults import RigDefect
from devices.terminal import concert
from devices.terminal.concert import ConcertAnswer, ConcertLink, ConcertRequest
from devices.terminal.console import Console
from devices.terminal.dialect import Event, Message, Request, Response
from devices.terminal.driver import Pending, TerminalDriver, TerminalError
from devices.terminal.link import BoundedInbox, LinkTimeout
from devices.terminal.transport import open_port

#: Console lines that are the terminal's screen: (event, regular expression). The defaults
#: read the posrig simulated terminal's console; a real family's profile names its own.
DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("prompt", r"\bPROMPT (?P<prompt>[a-z_]+)"),
    ("display", r"\bDISPLAY (?P<text>.*)$"),
)
_TRANSACTION = {"sale": "debit", "refund": "credit", "void": "cancellation"}
#: Where the driver's prompts come from: the debug console's lines (and, without a console,
#: ``insert_card`` inferred when a debit or credit is accepted), or the screen (``report_prompt``).
PROMPT_SOURCES = ("console", "screen")


class UnsupportedCommand(RigDefect):
    """The command has no Concert message."""


class ConcertTerminal(TerminalDriver):
    def __init__(self, url: str, *, station: str = "station", console: Console | None = None,
                 baudrate: int = concert.BAUDRATE, ack_timeout: float = 1.0, repeats: int = 3,
                 response_timeout: float = 120.0, pos_number: int = 1,
                 prompt_patterns: tuple[tuple[str, str], ...] = DEFAULT_PATTERNS,
                 usb_backend: Any = None):
        super().__init__(url, station=station, response_timeout=response_timeout)
        self.baudrate, self.ack_timeout, self.repeats = baudrate, ack_timeout, repeats
        self.pos_number = pos_number
        self.usb_backend = usb_backend
        self.console = console
        self._patterns = [(kind, re.compile(rx)) for kind, rx in prompt_patterns]
        self._inbox: queue.Queue[bytes | Event] = BoundedInbox()
        self._outstanding: Request | None = None
        self._known: dict[int, tuple[int, str]] = {}  # trace -> (amount, private) of answers seen
        self.prompt_source = "console"
        self.link = self._open()
        if console is not None:
            console.on_line(self._console_line)

    def _open(self) -> ConcertLink:
        port = open_port(self.url, baudrate=self.baudrate, device=f"{self.station} terminal ECR",
                         usb_backend=self.usb_backend)
        return ConcertLink(port, name=f"{self.station} terminal Concert port {self.url}",
                           ack_timeout=self.ack_timeout, repeats=self.repeats,
                           log_source=self.source, inbox=self._inbox)

    def reopen(self, url: str | None = None) -> ConcertTerminal:
        with contextlib.suppress(Exception):
            self.link.close()
        if url is not None:
            self.url = url
        self._outstanding = None
        self.link = self._open()
        events.log(self.source, f"link reopened on {self.url}")
        return self

    # -- where the prompts come from ----------------------------------------------------------
    def prompts_from(self, source: str) -> None:
        """``console`` (the default) or ``screen``: then only ``report_prompt`` gives prompts."""
        if source not in PROMPT_SOURCES:
            raise ValueError(f"{self.station}: prompts come from {' or '.join(PROMPT_SOURCES)}, "
                             f"not {source!r}")
        if source != self.prompt_source:
            events.log(self.source, f"prompts now taken from the {source}")
        self.prompt_source = source

    def report_prompt(self, prompt: str, **data: Any) -> None:
        """A prompt the terminal shows, as its screen's reader saw it (any thread)."""
        self._inbox.put(Event("prompt", {"prompt": prompt, **data, "source": "screen"}))

    # -- the console as the terminal's screen -----------------------------------------------
    def _console_line(self, line: str) -> None:
        for kind, regex in self._patterns:
            m = regex.search(line)
            if m is None:
                continue
            if kind == "prompt":
                if self.prompt_source != "console":
                    return  # the screen is the witness of prompts now; the line is logged only
                self._inbox.put(Event("prompt", {"prompt": m["prompt"], "source": "console"}))
            else:
                self._inbox.put(Event("display", {"lines": m["text"].split(" | ")}))
            return

    # -- commands ---------------------------------------------------------------------------
    def send(self, cmd: str, **args: Any) -> Pending:
        if cmd not in _TRANSACTION:
            raise UnsupportedCommand(
                f"{self.station}: Concert has no message for {cmd!r} (only sale, refund and void "
                "as debit, credit and cancellation); a Concert terminal logs in, signs in and "
                "settles by itself")
        for secret in ("supervisor_password", "pin"):
            if secret in args:
                raise UnsupportedCommand(f"{self.station}: Concert carries no {secret}; it is "
                                         "typed on the terminal's keypad")
        if self._outstanding is not None:
            raise TerminalError(f"{self.station}: a Concert terminal runs one transaction at a "
                                f"time; {self._outstanding.cmd} #{self._outstanding.id} is "
                                "still waiting for its answer")
        amount, private = self._amount_and_private(cmd, args)
        request = Request(next(self._ids), cmd, dict(args))
        message = ConcertRequest(amount=amount, transaction=_TRANSACTION[cmd],
                                 pos_number=self.pos_number, private=private)
        self._check_link()
        self._sent(request)
        self.link.send(message.encode())
        self._outstanding = request
        if self.console is None and self.prompt_source == "console" and cmd != "void":
            # accepted: a Concert terminal now waits for the card (all we can know without
            # a console)
            self._inbox.put(Event("prompt", {"prompt": "insert_card", "source": "inferred"}))
        return Pending(self, request)

    def _amount_and_private(self, cmd: str, args: dict[str, Any]) -> tuple[int, str]:
        if cmd != "void":
            return int(args["amount"]), " " * 10
        if args.get("trace") is not None and int(args["trace"]) in self._known:
            amount, private = self._known[int(args["trace"])]
            return int(args.get("amount", amount)), private
        if "amount" not in args:
            raise TerminalError(f"{self.station}: a Concert cancellation needs the amount "
                                "(or the trace of an answer this driver received)")
        return int(args["amount"]), " " * 10

    # -- answers ----------------------------------------------------------------------------
    def _next_message(self, timeout: float) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            self.link.check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkTimeout("nothing from the terminal")
            try:
                item = self._inbox.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if isinstance(item, Event):
                return item
            return self._answer(item)

    def _answer(self, payload: bytes) -> Response:
        answer = ConcertAnswer.decode(payload)
        request = self._outstanding
        if request is None:
            raise TerminalError(f"{self.station}: the terminal answered a transaction nobody "
                                f"asked for: {concert.describe(payload)}")
        self._outstanding = None
        report = answer.report or concert.Report()
        if answer.result == concert.RESULT_SUCCESS:
            status = "approved"
        elif answer.result == concert.RESULT_REFUSED:
            status = "declined" if report.rc and report.rc != "00" else "refused"
        else:
            status = "failed"
        data: dict[str, Any] = {
            "result": answer.result, "amount": answer.amount, "card": report.card or None,
            "entry": report.entry or None, "rc": report.rc or None,
            "auth_code": report.auth_code or None, "rrn": report.rrn or None,
            "trace": report.trace, "batch": report.batch, "private": answer.private}
        if status == "approved" and report.trace is not None:
            self._known[report.trace] = (answer.amount, answer.private)
            while len(self._known) > 1_000:  # a batch holds fewer; a night's run must not grow it
                del self._known[next(iter(self._known))]
        return Response(request.id, request.cmd, status, data)

    def close(self) -> None:
        events.log(self.source, "link closed")
        self.link.close()
