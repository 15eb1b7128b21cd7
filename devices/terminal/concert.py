"""Ingenico Telium *Concert* (protocol E+): the cash-register link of French-market terminals.

Written once, used by the driver (``concert_driver``) and the simulated terminal. What is
implemented, and where posrig chose, is in docs/concert.md. In short:

Session (either side may be the sender; the ECR sends requests, the terminal answers):

    sender  ENQ                      receiver  ACK   (ready; silence or NAK: busy)
    sender  STX message ETX LRC      receiver  ACK   (NAK on a bad LRC: the sender repeats)
    sender  EOT                                      (the session ends)

LRC is the XOR of the message and ETX, as on the posrig link; 9600 baud by default.

Messages are fixed-length ASCII ("E+"): a 34-character request, an 80-character answer
with a 55-character report (``answer_flag`` 1) or a 25-character one without (0).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

from devices.faults import TerminalDefect
from devices.terminal.link import (
    ACK,
    ENQ,
    EOT,
    NAK,
    Describe,
    LinkError,
    PortReader,
    Received,
    encode_frame,
)
from devices.text import printable

NAME = "concert"
BAUDRATE = 9600
REQUEST_LEN = 34
ANSWER_LEN = 80
SHORT_ANSWER_LEN = 25
REPORT_LEN = 55

#: Transaction type (request character 13).
TRANSACTIONS = {"0": "debit", "1": "credit", "2": "cancellation"}
TRANSACTION_CODES = {v: k for k, v in TRANSACTIONS.items()}
#: Transaction result (answer character 3).
RESULT_SUCCESS, RESULT_REFUSED, RESULT_NOT_DONE = "0", "7", "9"
DELAY_AT_END, DELAY_IMMEDIATE = "A010", "A011"
AUTH_TERMINAL_DECIDES, AUTH_FORCED = "B010", "B011"
PAYMENT_CARD = "1"
CURRENCY_CNY = "156"

#: Card entry as the report's entry letter says it.
ENTRY_LETTERS = {"chip": "C", "swipe": "S", "fallback": "F", "contactless": "T"}
ENTRY_BY_LETTER = {v: k for k, v in ENTRY_LETTERS.items()}


class ConcertFormatError(TerminalDefect, ValueError):
    """A message that is not a Concert E+ message."""


def _digits(value: str, size: int, what: str) -> str:
    if len(value) != size or not value.isdigit():
        raise ConcertFormatError(f"Concert {what} must be {size} digits, got {value!r}")
    return value


@dataclass(frozen=True)
class ConcertRequest:
    """What the cash register asks (34 characters)."""

    amount: int  # cents (fen): 8 digits
    transaction: str = "debit"  # debit | credit | cancellation
    pos_number: int = 1  # the checkout's number, 01-99
    full_answer: bool = True  # answer with the 55-character report
    payment_mode: str = PAYMENT_CARD
    currency: str = CURRENCY_CNY
    private: str = " " * 10  # cancellation: the original's private field (posrig's choice)
    delay: str = DELAY_AT_END
    authorization: str = AUTH_TERMINAL_DECIDES

    def encode(self) -> bytes:
        if not 0 <= self.amount <= 99_999_999:
            raise ConcertFormatError(f"Concert amounts are 8 digits of cents, got {self.amount}")
        if self.transaction not in TRANSACTION_CODES:
            raise ConcertFormatError(f"transaction must be one of {sorted(TRANSACTION_CODES)}")
        if not 1 <= self.pos_number <= 99 or len(self.private) != 10:
            raise ConcertFormatError("POS number is 01-99 and the private field 10 characters")
        text = (f"{self.pos_number:02d}{self.amount:08d}{'1' if self.full_answer else '0'}"
                f"{self.payment_mode}{TRANSACTION_CODES[self.transaction]}{self.currency}"
                f"{self.private}{self.delay}{self.authorization}")
        assert len(text) == REQUEST_LEN
        return text.encode("ascii")

    @classmethod
    def decode(cls, payload: bytes) -> ConcertRequest:
        try:
            text = payload.decode("ascii")
        except UnicodeDecodeError:
            raise ConcertFormatError("a Concert request is ASCII") from None
        if len(text) != REQUEST_LEN:
            raise ConcertFormatError(f"a Concert E+ request is {REQUEST_LEN} characters, got {len(text)}")
        kind = TRANSACTIONS.get(text[12])
        if kind is None:
            raise ConcertFormatError(f"unknown transaction type {text[12]!r} "
                                     f"(known: {', '.join(f'{k} {v}' for k, v in TRANSACTIONS.items())})")
        if text[26:30] not in (DELAY_AT_END, DELAY_IMMEDIATE) or \
                text[30:34] not in (AUTH_TERMINAL_DECIDES, AUTH_FORCED):
            raise ConcertFormatError(f"delay/authorisation fields {text[26:34]!r} are not A010/A011 "
                                     "and B010/B011")
        return cls(amount=int(_digits(text[2:10], 8, "amount")), transaction=kind,
                   pos_number=int(_digits(text[0:2], 2, "POS number")),
                   full_answer=text[10] == "1", payment_mode=text[11],
                   currency=_digits(text[13:16], 3, "currency"), private=text[16:26],
                   delay=text[26:30], authorization=text[30:34])


@dataclass(frozen=True)
class Report:
    """posrig's layout of the 55-character report: masked card number (19, left-justified),
    entry letter, host response code (2), authorisation code (6), reference number (12),
    trace (6), batch (6), 3 spaces. A field the terminal does not know is spaces."""

    card: str = ""
    entry: str = ""
    rc: str = ""
    auth_code: str = ""
    rrn: str = ""
    trace: int | None = None
    batch: int | None = None

    def encode(self) -> str:
        text = (f"{self.card:<19.19}{ENTRY_LETTERS.get(self.entry, ' ')}{self.rc:<2.2}"
                f"{self.auth_code:<6.6}{self.rrn:<12.12}"
                f"{'' if self.trace is None else f'{self.trace:06d}':<6}"
                f"{'' if self.batch is None else f'{self.batch:06d}':<6}   ")
        assert len(text) == REPORT_LEN
        return text

    @classmethod
    def decode(cls, text: str) -> Report:
        def num(s: str) -> int | None:
            return int(s) if s.strip().isdigit() else None
        return cls(card=text[0:19].strip(), entry=ENTRY_BY_LETTER.get(text[19], ""),
                   rc=text[20:22].strip(), auth_code=text[22:28].strip(), rrn=text[28:40].strip(),
                   trace=num(text[40:46]), batch=num(text[46:52]))


@dataclass(frozen=True)
class ConcertAnswer:
    """What the terminal answers (80 characters with the report, 25 without)."""

    result: str  # 0 success, 7 refused/declined, 9 not done
    amount: int
    pos_number: int = 1
    payment_mode: str = PAYMENT_CARD
    report: Report | None = None
    currency: str = CURRENCY_CNY
    private: str = " " * 10

    def encode(self) -> bytes:
        report = "" if self.report is None else self.report.encode()
        text = (f"{self.pos_number:02d}{self.result}{self.amount:08d}{self.payment_mode}"
                f"{report}{self.currency}{self.private:<10.10}")
        assert len(text) in (ANSWER_LEN, SHORT_ANSWER_LEN)
        return text.encode("ascii")

    @classmethod
    def decode(cls, payload: bytes) -> ConcertAnswer:
        try:
            text = payload.decode("ascii")
        except UnicodeDecodeError:
            raise ConcertFormatError("a Concert answer is ASCII") from None
        if len(text) not in (ANSWER_LEN, SHORT_ANSWER_LEN):
            raise ConcertFormatError(f"a Concert E+ answer is {ANSWER_LEN} or {SHORT_ANSWER_LEN} "
                                     f"characters, got {len(text)}")
        report = Report.decode(text[12:12 + REPORT_LEN]) if len(text) == ANSWER_LEN else None
        tail = text[12 + (REPORT_LEN if report else 0):]
        if text[2] not in (RESULT_SUCCESS, RESULT_REFUSED, RESULT_NOT_DONE):
            raise ConcertFormatError(f"unknown transaction result {text[2]!r}")
        return cls(result=text[2], amount=int(_digits(text[3:11], 8, "amount")),
                   pos_number=int(_digits(text[0:2], 2, "POS number")), payment_mode=text[11],
                   report=report, currency=tail[0:3], private=tail[3:13])


def describe(payload: bytes, limit: int = 400) -> str:
    """A Concert message as a log line (it carries no secret; card numbers are masked by the
    event stream), control characters escaped, never longer than ``limit``."""
    return printable(payload.decode("ascii", "replace"), limit)


class ConcertLink(PortReader):
    """One end of a Concert link: ``send`` runs a whole ENQ .. EOT session; the reader thread
    answers the other side's sessions and queues the messages they carry."""

    def __init__(self, port: Any, *, name: str, ack_timeout: float = 1.0, repeats: int = 3,
                 log_source: str | None = None, describe: Describe = describe,
                 inbox: queue.Queue | None = None):
        self.ack_timeout = ack_timeout
        self.repeats = repeats
        self._acks: queue.Queue[str] = queue.Queue()
        self._session = threading.Lock()
        self._sending = False
        super().__init__(port, name=name, log_source=log_source, describe=describe, inbox=inbox)

    def send(self, payload: bytes) -> None:
        frame = encode_frame(payload)
        with self._session:
            self._sending = True
            try:
                self._handshake()
                heard: list[str] = []
                for attempt in range(1 + self.repeats):
                    self._write(frame)
                    self._log(f"-> {self.describe(payload)}{f' (repeat {attempt})' if attempt else ''}")
                    answer = self._await_control()
                    if answer == "ack":
                        self._write(bytes([EOT]))
                        return
                    heard.append(answer)
                self._write(bytes([EOT]))
                raise LinkError(f"{self.name}: message not acknowledged after {1 + self.repeats} "
                                f"sends (heard: {', '.join(heard)}); session abandoned with EOT")
            finally:
                self._sending = False

    def _handshake(self) -> None:
        heard: list[str] = []
        for _ in range(1 + self.repeats):
            if self._muted:
                raise LinkError(f"{self.name}: cannot send, the device has no power")
            self._drain()
            self._write(bytes([ENQ]))
            answer = self._await_control()
            if answer == "ack":
                return
            heard.append(answer)
        raise LinkError(f"{self.name}: ENQ not answered after {1 + self.repeats} tries "
                        f"(heard: {', '.join(heard)}). Is the terminal powered, idle and set to "
                        "cash-register mode (Telium Manager > Initialization > Parameters > "
                        "Cash connection)?")

    def _await_control(self) -> str:
        try:
            return self._acks.get(timeout=self.ack_timeout)
        except queue.Empty:
            self.check_alive()
            return "silence"

    def _drain(self) -> None:
        while not self._acks.empty():
            self._acks.get_nowait()

    def _on_received(self, item: Received) -> None:
        if item.kind in ("ack", "nak"):
            if self._sending:
                self._acks.put(item.kind if item.kind == "ack" else "NAK")
        elif item.kind == "enq":
            if not self._sending:  # the other side opens a session: we are ready
                self._safe_write(bytes([ACK]))
        elif item.kind == "bad":
            self._log("<- message with bad LRC: NAK")
            self._safe_write(bytes([NAK]))
        elif item.kind == "frame":
            self._safe_write(bytes([ACK]))
            self._log(f"<- {self.describe(item.payload)}")
            self._inbox.put(item.payload)
        # EOT closes the other side's session: nothing to do
