"""Card transactions: the terminal asks for a card, the robot presents it and does what the
terminal asks next (use the chip, swipe instead, type the PIN). Sale, void and refund share
that; settlement needs no card."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devices import events
from devices.cardholder import follow_prompts, prompt_name
from devices.cards import Card
from devices.terminal.console import ConsoleTimeout
from devices.terminal.dialect import Response
from harness import host_blame
from harness.flows.core import (
    FlowError,
    Settlement,
    TransactionResult,
    call,
    source,
)
from harness.flows.receipt import tray_before
from harness.flows.station_state import power_off
from harness.screen.transaction import screen_witness, watch_transaction
from harness.station import Station, StationBroken

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


def refund(station: Station, original: TransactionResult, card: Card | str, amount: int | None = None,
           *, by_reference: bool = False, entry: str = "insert",
           supervisor_password: str | None = None) -> TransactionResult:
    """Give back ``amount`` fen (all of it by default) of the sale ``original``: by its
    trace while it is in the open batch, or ``by_reference`` (its reference number and host
    date) for a sale of a batch already settled. Supervisor password first, then the card."""
    amount = original.amount if amount is None else amount
    password = station.profile.supervisor_password if supervisor_password is None else supervisor_password
    if by_reference:
        if not original.rrn or not original.raw.get("host_date"):
            raise ValueError(f"a refund by reference needs the sale's reference number and host "
                             f"date; trace {original.trace} has rrn={original.rrn!r}")
        where: dict[str, Any] = {"orig_rrn": original.rrn, "orig_date": original.raw["host_date"]}
    else:
        where = {"orig_trace": original.trace}
    return _card_transaction(station, "refund", f"refund {amount / 100:.2f} of trace {original.trace}",
                             card, entry, None, amount, supervisor=password, amount=amount, **where)


def sale_cut_by_power(station: Station, amount: int, card: Card | str,
                      entry: str = "insert") -> TransactionResult:
    """A sale whose power is cut once its request has gone to the host and before the
    answer is in: the terminal cannot know the outcome. Needs a card the terminal asks a
    PIN for, and the debug console, which says when the request went out. The result's
    status is ``interrupted``; the host's journal knows the rest."""
    return _card_transaction(station, "sale", f"sale {amount / 100:.2f} cut by a power loss",
                             card, entry, None, amount, interrupt=_cut_power_once_online,
                             amount=amount)


#: The debug console's line when a financial request leaves for the host
#: (docs/posrig-ecr-1.md, "ISO8583 -> <fields>").
ONLINE_REQUEST = r"ISO8583 -> 0200"


def _cut_power_once_online(station: Station) -> None:
    if station.console is None:
        raise StationBroken(f"{station.name}: cutting the power mid-sale needs the terminal's "
                            "debug console (it says when the request went out); the inventory "
                            "names none")
    with events.step(source(station), "wait until the request has gone to the host") as s:
        try:
            found = station.console.expect(ONLINE_REQUEST, timeout=station.profile.response_timeout)
            s.result = found.group(0)
        except ConsoleTimeout as exc:
            raise FlowError(f"{station.name}: the sale never went online: {exc}") from exc
    power_off(station)


def settle(station: Station) -> Settlement:
    """Close the batch with the host; the answer carries the totals and ``balanced``, and
    the tray before the settlement slip printed (for ``check_settlement_slip``)."""
    station.check_usable()
    tray = tray_before(station)
    since = host_blame.mark(station)
    with events.step(source(station), "settle the batch") as s:
        response = call(station, "settle", timeout=station.profile.response_timeout)
        host_blame.check(station, "settle", response.status, response.data, since)
        d = response.data
        s.result = (f"{response.status} balanced={d.get('balanced')} uploaded={d.get('uploaded')} "
                    f"next batch={d.get('next_batch')}")
    return Settlement(response.status, dict(response.data), tray)


def _card_transaction(station: Station, cmd: str, title: str, card: Card | str, entry: str,
                      pin: str | None, fen: int, supervisor: str | None = None,
                      interrupt: Callable[[Station], None] | None = None,
                      **args: Any) -> TransactionResult:
    station.check_usable()
    if entry not in ENTRY_ACTIONS:
        raise ValueError(f"entry must be one of {ENTRY_ACTIONS}, got {entry!r}")
    with station.strategy.watch():
        return _run_card_transaction(station, cmd, title, card, entry, pin, fen, supervisor,
                                     interrupt, **args)


def _run_card_transaction(station: Station, cmd: str, title: str, card: Card | str, entry: str,
                          pin: str | None, fen: int, supervisor: str | None,
                          interrupt: Callable[[Station], None] | None,
                          **args: Any) -> TransactionResult:
    card = station.card(card)
    src = source(station)
    with events.step(src, f"{title} by {entry}", card=card.masked_pan, **args):
        tray = tray_before(station)
        # the screen, watched from before the request: the prompts where the profile takes
        # them from it, and every outcome it shows for the fourth witness
        with watch_transaction(station, cmd) as watch:
            result = _on_the_terminal(station, cmd, card, entry, pin, fen, supervisor, interrupt,
                                      tray, **args)
        screen_witness(station, result, watch)
        return result


def _on_the_terminal(station: Station, cmd: str, card: Card, entry: str, pin: str | None, fen: int,
                     supervisor: str | None, interrupt: Callable[[Station], None] | None, tray: Any,
                     **args: Any) -> TransactionResult:
    slot = station.slot_of(card)
    src = source(station)
    since = host_blame.mark(station)  # the host's journal, to judge a claim against it
    with events.step(src, f"start {cmd} on the terminal", **args):
        pending = station.terminal.send(cmd, **args)
    if supervisor is not None:
        step = station.terminal.prompt_or_response(pending, ("supervisor_password",))
        if isinstance(step, Response):
            return TransactionResult.from_response(cmd, fen, step, tray=tray)
        with events.step(src, "enter the supervisor password on the keypad", password="****"):
            station.robot.press_keys([*supervisor, "enter"], secret=True)
    step = station.terminal.prompt_or_response(pending, ("insert_card",))
    if isinstance(step, Response):
        return TransactionResult.from_response(cmd, fen, step, tray=tray)
    prompts = [prompt_name(step)]
    try:
        with events.step(src, f"present card ({entry})", card=card.masked_pan, slot=slot):
            station.robot.pick(slot)
            _present(station, entry)
        if station.console is not None:
            station.console.skip_to_end()  # an interrupt waits for this sale's lines only
        response = _follow_prompts(station, pending, card, pin, prompts, interrupt)
    finally:
        if station.robot.holding is not None:
            with events.step(src, "remove card and return it", slot=slot):
                station.robot.return_card()
    if response is None:
        return TransactionResult(cmd, "interrupted", fen, card=card.masked_pan,
                                 prompts=tuple(prompts))
    host_blame.check(station, cmd, response.status, response.data, since)
    return TransactionResult.from_response(cmd, fen, response, tuple(prompts), tray)


def _present(station: Station, entry: str) -> None:
    robot = station.robot
    {"insert": robot.insert, "swipe": robot.swipe, "tap": robot.tap}[entry]()


def _follow_prompts(station: Station, pending: Any, card: Card, pin: str | None,
                    prompts: list[str],
                    interrupt: Callable[[Station], None] | None = None) -> Response | None:
    """The cardholder's prompt loop (devices/cardholder.py) on this station. ``interrupt``,
    if given, runs once the PIN is typed and ends the flow without an answer."""

    def after_pin() -> bool:
        if interrupt is None:
            return False
        interrupt(station)
        return True

    return follow_prompts(station.terminal, station.robot, pending, card, source=source(station),
                          timeout=station.profile.response_timeout, pin=pin, prompts=prompts,
                          after_pin=after_pin)


