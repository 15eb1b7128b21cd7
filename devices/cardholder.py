"""The cardholder at the terminal: do what its prompts ask, with the robot, until it answers.

One prompt loop, used by the rig's flows (harness/flows/sale.py) and the terminal's own
test bench (devices/terminal/testing.py): a chip card swiped goes into the chip reader, a
chip that failed (or a card without one) is swiped, the PIN is typed and ENTER pressed when
asked; after ``MAX_PRESENTATIONS`` presentations that do not read, CANCEL ends the
transaction, as a cashier would. Each action is a step on the event stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devices import events
from devices.cards import Card
from devices.faults import TerminalDefect
from devices.terminal.dialect import Event, Response

CARD_PROMPTS = ("insert_card", "swipe_card", "enter_pin")
#: How often a card is presented before the cardholder gives up and presses CANCEL.
MAX_PRESENTATIONS = 4


class PromptLoopError(TerminalDefect):
    """The terminal kept asking for the card after CANCEL was pressed."""


def prompt_name(event: Event) -> str:
    reason = event.data.get("reason")
    return str(event.data.get("prompt")) + (f" ({reason})" if reason else "")


def describe(step: Event | Response) -> str:
    if isinstance(step, Response):
        return f"{step.status} rc={step.data.get('rc')} {step.data.get('reason') or ''}".strip()
    return f"prompt {prompt_name(step)}"


def follow_prompts(terminal: Any, robot: Any, pending: Any, card: Card, *, source: str,
                   timeout: float, pin: str | None = None, prompts: list[str] | None = None,
                   presented: int = 1,
                   after_pin: Callable[[], bool] | None = None) -> Response | None:
    """Answer the terminal's card prompts with ``card`` in the robot's hand until the
    response to ``pending`` comes, and return it. ``pin``: what to type when asked (the
    card's own PIN unless given). ``prompts`` collects the prompts answered. ``after_pin``,
    if given, runs once the PIN is typed; when it returns True the loop ends without an
    answer (a power cut the test made, say), returning None."""
    seen = prompts if prompts is not None else []
    cancelled = False
    while True:
        with events.step(source, "wait for the terminal") as s:
            step = terminal.prompt_or_response(pending, CARD_PROMPTS, timeout=timeout)
            s.result = describe(step)
        if isinstance(step, Response):
            return step
        seen.append(prompt_name(step))
        prompt, reason = step.data.get("prompt"), step.data.get("reason")
        if prompt == "enter_pin":
            typed = card.pin if pin is None else pin
            with events.step(source, "enter PIN on the keypad", pin="****",
                             which="the card's" if pin is None else "a test's"):
                robot.press_keys([*typed, "enter"], secret=True)
            if after_pin is not None and after_pin():
                return None
            continue
        if cancelled:
            raise PromptLoopError(f"{source}: the terminal still asks for the card ({prompt}, "
                                  f"reason {reason}) after CANCEL was pressed")
        presented += 1
        if presented > MAX_PRESENTATIONS:
            with events.step(source, "give up on the card: press CANCEL", presented=presented - 1,
                             last=prompt_name(step)):
                robot.press("cancel")
            cancelled = True
            continue
        if prompt == "insert_card":
            with events.step(source, "insert the card into the chip reader", reason=reason):
                robot.insert()
        else:  # swipe_card: the chip failed, the card has none, or the stripe did not read
            with events.step(source, "swipe the card", reason=reason):
                if robot.card_in_reader:
                    robot.remove()
                robot.swipe()
