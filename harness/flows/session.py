"""Operator login and sign-in: what a terminal needs before it may take a card."""

from __future__ import annotations

from dataclasses import dataclass

from devices import events
from devices.terminal.dialect import Response
from harness import host_blame
from harness.flows.core import call, source
from harness.station import Station, StationState


@dataclass(frozen=True)
class SignInResult:
    status: str
    batch: int | None
    reason: str | None = None
    rc: str | None = None
    key_mode: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def login(station: Station, operator: str | None = None, password: str | None = None) -> Response:
    """Operator login; ``password`` defaults to the profile's (a wrong one is a test's choice)."""
    station.check_usable()
    operator = operator or station.profile.operator_id
    password = station.profile.operator_password if password is None else password
    with events.step(source(station), "operator login", operator=operator, password="****") as s:
        response = call(station, "login", operator=operator, password=password)
        s.result = f"{response.status} {response.data.get('reason') or ''}".strip()
    return response


def sign_in(station: Station, *, log_in: bool = True) -> SignInResult:
    """Operator login (if needed, unless ``log_in`` is false), then sign-in with the
    working-key exchange."""
    station.check_usable()
    if log_in:
        station.strategy.transition(StationState.LOGGED_IN)
    since = host_blame.mark(station)
    with events.step(source(station), "sign in (key exchange)", tid=station.tid) as s:
        response = call(station, "signin")
        host_blame.check(station, "signin", response.status, response.data, since)
        s.result = f"{response.status} batch={response.data.get('batch')} rc={response.data.get('rc')}"
    d = response.data
    return SignInResult(response.status, d.get("batch"), d.get("reason"), d.get("rc"), d.get("key_mode"))


def status(station: Station) -> Response:
    """The terminal's own account of its state (login, sign-in, batch, pending reversal)."""
    station.check_usable()
    with events.step(source(station), "terminal status") as s:
        response = call(station, "status")
        s.result = str(response.data)
    return response
