"""Card transactions: the terminal asks for a card, the robot presents it and types the PIN
if asked. Sale and void share that; settlement needs no card."""

from __future__ import annotations

from typing import Any

from devices import events
from devices.cards import Card
from devices.terminal.dialect import Response
from harness.flows.core import TransactionResult, call, check_host_reachable, result, source
from harness.station import Station, StationState

#: How the robot presents a card: into the chip reader, through the stripe reader, onto
#: the antenna.
ENTRY_ACTIONS = ("insert", "swipe", "tap")


def sale(station: Station, amount: int, card: Card | str, entry: str = "insert",
         pin: str | None = None) -> TransactionResult:
    """A sale of ``amount`` fen with ``card``; ``pin`` is what the robot types if the
    terminal asks (the card's own PIN unless a test wants a wrong one)."""
    return _card_transaction(station, "sale", f"sale {amount / 100:.2f}", card, entry, pin,
                             amount, amount=amount)


def void(station: Station, original: TransactionResult, card: Card | str, entry: str = "insert",
         supervisor_password: str | None = None, pin: str | None = None) -> TransactionResult:
    """Void the sale ``original`` (by its trace): the robot types the supervisor's password
    on the keypad (the profile's unless a test gives a wrong one), then presents the card."""
    password = station.profile.supervisor_password if supervisor_password is None else supervisor_password
    return _card_transaction(station, "void", f"void of trace {original.trace}", card, entry, pin,
                             original.amount, supervisor=password, trace=original.trace)


def settle(station: Station) -> Response:
    """Close the batch with the host; the response carries the totals and ``balanced``."""
    station.check_usable()
    with events.step(source(station), "settle the batch") as s:
        response = call(station, "settle")
        d = response.data
        s.result = f"{response.status} balanced={d.get('balanced')} next batch={d.get('next_batch')}"
    return response


def _card_transaction(station: Station, cmd: str, title: str, card: Card | str, entry: str,
                      pin: str | None, fen: int, supervisor: str | None = None,
                      **args: Any) -> TransactionResult:
    station.check_usable()
    if entry not in ENTRY_ACTIONS:
        raise ValueError(f"entry must be one of {ENTRY_ACTIONS}, got {entry!r}")
    card = station.card(card)
    slot = station.slot_of(card)
    src = source(station)
    with events.step(src, f"{title} by {entry}", card=card.masked_pan, **args):
        with events.step(src, f"start {cmd} on the terminal", **args):
            pending = station.terminal.send(cmd, **args)
        if supervisor is not None:
            step = station.terminal.prompt_or_response(pending, ("supervisor_password",))
            if isinstance(step, Response):
                return TransactionResult.from_response(cmd, fen, step)
            with events.step(src, "enter the supervisor password on the keypad", password="****"):
                station.robot.press_keys([*supervisor, "enter"], secret=True)
        step = station.terminal.prompt_or_response(pending, ("insert_card",))
        if isinstance(step, Response):
            return TransactionResult.from_response(cmd, fen, step)
        station.state = StationState.IN_TRANSACTION
        holding = False
        try:
            with events.step(src, f"present card ({entry})", card=card.masked_pan, slot=slot):
                station.robot.pick(slot)
                holding = True
                {"insert": station.robot.insert, "swipe": station.robot.swipe,
                 "tap": station.robot.tap}[entry]()
            step = station.terminal.prompt_or_response(pending, ("enter_pin",))
            if not isinstance(step, Response):
                typed = card.pin if pin is None else pin
                with events.step(src, "enter PIN on the keypad", pin="****",
                                 which="the card's" if pin is None else "a test's"):
                    station.robot.press_keys([*typed, "enter"], secret=True)
            with events.step(src, "wait for the terminal's answer") as s:
                response = step if isinstance(step, Response) else result(pending)
                s.result = f"{response.status} rc={response.data.get('rc')} " \
                           f"{response.data.get('reason') or ''}".strip()
        finally:
            if holding:
                with events.step(src, "remove card and return it", slot=slot):
                    station.robot.return_card()
            station.state = StationState.SIGNED_IN
        check_host_reachable(station, response)
        return TransactionResult.from_response(cmd, fen, response)
