"""What every flow shares: its errors, its results, and talking to the terminal.

A terminal that answers wrongly or not at all is a terminal defect, raised as
``FlowError`` (an AssertionError, so the report says *failed*). A link that gives up, a
port that vanished, a robot that jams are the station's faults and travel up as they are
(*broken*, see harness/verdict.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devices import events
from devices.faults import TerminalDefect
from devices.terminal.dialect import Response
from devices.terminal.driver import TerminalError
from harness.station import Station


class FlowError(TerminalDefect):
    """The terminal did not behave as the flow requires: a terminal defect, shown as failed."""


@dataclass(frozen=True)
class Settlement:
    """The terminal's answer to ``settle`` (totals, ``balanced``, ``uploaded``, ``next_batch``)
    and the tray as the camera saw it before the settlement slip printed."""

    status: str
    data: dict[str, Any]
    tray: Any = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class TransactionResult:
    kind: str
    status: str  # approved / declined / refused / failed / cancelled
    amount: int
    card: str | None = None  # masked, as the terminal reported it
    entry: str | None = None
    rc: str | None = None
    trace: int | None = None
    batch: int | None = None
    rrn: str | None = None
    auth_code: str | None = None
    reason: str | None = None
    receipt: tuple[str, ...] = ()
    #: The card prompts the flow answered, in order: "insert_card", "enter_pin",
    #: "swipe_card (fallback)" -- what the terminal asked of the cardholder.
    prompts: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The tray as the camera saw it before the terminal printed (None without a camera):
    #: the receipt check waits for a view that differs from it, so it reads this slip.
    tray: Any = field(default=None, compare=False, repr=False)

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    @classmethod
    def from_response(cls, kind: str, amount: int, response: Response,
                      prompts: tuple[str, ...] = (), tray: Any = None) -> TransactionResult:
        d = response.data
        return cls(kind=kind, status=response.status, amount=int(d.get("amount", amount)),
                   card=d.get("card"), entry=d.get("entry"), rc=d.get("rc"), trace=d.get("trace"),
                   batch=d.get("batch"), rrn=d.get("rrn"), auth_code=d.get("auth_code"),
                   reason=d.get("reason"), receipt=tuple(d.get("receipt", ())), prompts=prompts,
                   raw=dict(d), tray=tray)


@dataclass(frozen=True)
class TerminalIdentity:
    """What the report names the device under test by."""

    model: str
    vendor: str
    firmware: str
    serial: str


def source(station: Station) -> str:
    return f"{station.name}/flow"


def call(station: Station, cmd: str, timeout: float | None = None, **args: object) -> Response:
    """A command and its response; a terminal that never answers is a defect."""
    with station.strategy.watch():
        try:
            return station.terminal.call(cmd, timeout=timeout, **args)
        except TerminalError as exc:
            raise FlowError(str(exc)) from exc


def identify(station: Station) -> TerminalIdentity:
    """Model and vendor from the profile; firmware and serial as the terminal reports them
    in ``status`` (a terminal that does not report them is named by its profile and TID)."""
    with events.step(source(station), "identify the terminal") as s:
        data = call(station, "status").data
        profile = station.profile
        identity = TerminalIdentity(
            model=str(data.get("model") or profile.model), vendor=profile.vendor,
            firmware=str(data.get("firmware") or profile.firmware),
            serial=str(data.get("serial") or f"not reported (TID {station.tid})"))
        s.result = f"{identity.model} firmware {identity.firmware} serial {identity.serial}"
    return identity

