"""The sale: the terminal asks for a card, the robot presents it and types the PIN if asked."""

from __future__ import annotations

from devices import events
from devices.cards import Card
from devices.terminal.dialect import Response
from harness.flows.core import TransactionResult, check_host_reachable, result, source
from harness.station import Station, StationState

#: How the robot presents a card: into the chip reader, through the stripe reader, onto
#: the antenna.
ENTRY_ACTIONS = ("insert", "swipe", "tap")


def sale(station: Station, amount: int, card: Card | str, entry: str = "insert",
         pin: str | None = None) -> TransactionResult:
    """A sale of ``amount`` fen with ``card``; ``pin`` is what the robot types if the
    terminal asks (the card's own PIN unless a test wants a wrong one)."""
    station.check_usable()
    if entry not in ENTRY_ACTIONS:
        raise ValueError(f"entry must be one of {ENTRY_ACTIONS}, got {entry!r}")
    card = station.card(card)
    slot = station.slot_of(card)
    src = source(station)
    with events.step(src, f"sale {amount / 100:.2f} by {entry}", card=card.masked_pan, amount=amount):
        with events.step(src, "start sale on the terminal", amount=amount):
            pending = station.terminal.send("sale", amount=amount)
        step = station.terminal.prompt_or_response(pending, ("insert_card",))
        if isinstance(step, Response):
            return TransactionResult.from_response("sale", amount, step)
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
        return TransactionResult.from_response("sale", amount, response)
