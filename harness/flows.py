"""Flows in lab words: each is a sequence of steps across the station's devices.

Every step is announced on the event stream (and so becomes a step in the report). A flow
returns a typed result built from what the terminal reported over its ECR link; the
host's journal is the second witness a scenario compares it with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devices import events
from devices.cards import Card
from devices.terminal.dialect import Response
from harness.station import Station, StationState

ENTRY_ACTIONS = ("insert", "tap")


class FlowError(AssertionError):
    """The terminal did not behave as the flow requires: a terminal defect, shown as failed."""


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
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    @classmethod
    def from_response(cls, kind: str, amount: int, response: Response) -> TransactionResult:
        d = response.data
        return cls(kind=kind, status=response.status, amount=int(d.get("amount", amount)),
                   card=d.get("card"), entry=d.get("entry"), rc=d.get("rc"), trace=d.get("trace"),
                   batch=d.get("batch"), rrn=d.get("rrn"), auth_code=d.get("auth_code"),
                   reason=d.get("reason"), receipt=tuple(d.get("receipt", ())), raw=dict(d))


@dataclass(frozen=True)
class SignInResult:
    status: str
    batch: int | None
    reason: str | None = None


def _source(station: Station) -> str:
    return f"{station.name}/flow"


def login(station: Station, operator: str | None = None, password: str | None = None) -> Response:
    station.check_usable()
    operator = operator or station.profile.operator_id
    password = station.profile.operator_password if password is None else password
    with events.step(_source(station), "operator login", operator=operator) as s:
        response = station.terminal.call("login", operator=operator, password=password)
        s.result = response.status
    if response.ok:
        station.state = StationState.LOGGED_IN
    return response


def sign_in(station: Station) -> SignInResult:
    """Operator login (if needed), then sign-in with the working-key exchange."""
    station.check_usable()
    if station.state not in (StationState.LOGGED_IN, StationState.SIGNED_IN):
        response = login(station)
        if not response.ok:
            raise FlowError(f"{station.name}: operator login refused: {response.data}")
    with events.step(_source(station), "sign in (key exchange)", tid=station.tid) as s:
        response = station.terminal.call("signin")
        s.result = f"{response.status} batch={response.data.get('batch')}"
    if response.ok:
        station.state = StationState.SIGNED_IN
    return SignInResult(response.status, response.data.get("batch"), response.data.get("reason"))


def sale(station: Station, amount: int, card: Card | str, entry: str = "insert") -> TransactionResult:
    """A sale of ``amount`` fen: the robot presents ``card`` and types its PIN if asked."""
    station.check_usable()
    if entry not in ENTRY_ACTIONS:
        raise ValueError(f"entry must be one of {ENTRY_ACTIONS} (swipe arrives with the robot's "
                         f"swipe action), got {entry!r}")
    card = station.card(card)
    slot = station.slot_of(card)
    src = _source(station)
    holding = False
    with events.step(src, f"sale {amount / 100:.2f} by {entry}", card=card.masked_pan, amount=amount):
        with events.step(src, "start sale on the terminal", amount=amount):
            pending = station.terminal.send("sale", amount=amount)
        step = station.terminal.prompt_or_response(pending, ("insert_card",))
        if isinstance(step, Response):
            return TransactionResult.from_response("sale", amount, step)
        station.state = StationState.IN_TRANSACTION
        try:
            with events.step(src, f"present card ({entry})", card=card.masked_pan, slot=slot):
                station.robot.pick(slot)
                holding = True
                if entry == "insert":
                    station.robot.insert()
                else:
                    station.robot.tap()
            step = station.terminal.prompt_or_response(pending, ("enter_pin",))
            if not isinstance(step, Response):
                with events.step(src, "enter PIN on the keypad", pin="****"):
                    station.robot.press_keys([*card.pin, "enter"], secret=True)
            with events.step(src, "wait for the terminal's answer") as s:
                response = pending.result()
                s.result = f"{response.status} rc={response.data.get('rc')}"
        finally:
            if holding:
                with events.step(src, "remove card and return it", slot=slot):
                    station.robot.return_card()
            station.state = StationState.SIGNED_IN
        return TransactionResult.from_response("sale", amount, response)


def power_cycle(station: Station, hold_s: float = 0.2, boot_timeout: float = 30.0) -> Response:
    """Cut and restore the terminal's power, then wait until it answers ``status``."""
    import time

    from devices.terminal.driver import TerminalError
    from devices.terminal.link import LinkError
    from harness.station import StationBroken

    station.check_usable()
    if station.power is None:
        raise StationBroken(f"{station.name}: the inventory names no power relay")
    src = _source(station)
    with events.step(src, "power cycle the terminal", hold_s=hold_s):
        station.power.cycle(hold_s)
    station.state = StationState.POWERED
    deadline = time.monotonic() + boot_timeout
    with events.step(src, "wait for the terminal to boot") as s:
        while True:
            try:
                # each call repeats the frame on silence, so this polls at the link's pace
                response = station.terminal.call("status", timeout=5)
                s.result = f"up: {response.data}"
                return response
            except (LinkError, TerminalError) as exc:
                if time.monotonic() > deadline:
                    raise FlowError(f"{station.name}: the terminal did not come up within "
                                    f"{boot_timeout:.0f} s after power returned: {exc}") from exc


def restore_bench(station: Station) -> None:
    """Card back in its slot, robot homed: the state every test starts from."""
    with events.step(_source(station), "restore the bench"):
        robot = station.robot
        if not getattr(robot, "homed", True):
            robot.home()
        if robot.holding is not None:
            robot.return_card()
        robot.home()
