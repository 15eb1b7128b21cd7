"""Card readers and keypad: what the terminal learns from the bench model, and only there.

A chip card is read when the robot has seated it in the chip reader, a contactless card
while it is held over the antenna, a stripe when the robot has swiped it through the
magnetic reader. The rules a CUP terminal applies:

- a card with a chip (service code 2xx or 6xx) that is swiped is told to use the chip,
  unless its chip just failed to answer: then the swipe is accepted as a fallback;
- a chip that does not answer (``Card.chip_fault``) sends the cardholder to the stripe;
- a card without a chip in the chip reader, or a card without contactless over the
  antenna, is told to use another interface; a worn stripe is asked to be swiped again
  (``swipe_card`` with reason ``read_error``);
- CANCEL on the keypad while the terminal waits for a card calls the transaction off
  (``cancelled_by_user``); other keys are ignored there, as on a real keypad.

Keys arrive from the robot's finger through the model; digits typed are never shown or
logged, only their count as asterisks.

A chip card must stay seated until the terminal has gone online: the chip computes the
request's cryptogram (ARQC). One pulled out before that -- during the PIN entry, or before
the terminal went online -- ends the command at once, ``failed`` / ``card_removed``: nothing
is sent to the host (not even an earlier reversal), no trace number is taken, no reversal is
stored, and no ``remove_card`` is prompted (there is no card to remove). One pulled out after
the request went is ``online.financial``'s case (the approval is reversed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.bench_model import Place
from devices.cards import Card
from devices.terminal.sim.base import Refusal

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal


@dataclass(frozen=True)
class Presented:
    card: Card
    entry: str  # chip | swipe | contactless | fallback
    slot: int | None = None


def _chip_present(card: Card) -> bool:
    return card.service_code[0] in "26"


def take_card(terminal: SimulatedTerminal, amount: int) -> Presented:
    """Ask for a card and wait until one is read, applying the reader rules above."""
    terminal.model.clear_inputs()
    terminal.prompt("insert_card", amount=amount)
    deadline = time.monotonic() + terminal.cfg.card_timeout
    fallback = False
    ignored: set[tuple[Place, int]] = set()  # cards refused where they still lie
    seen: list[tuple[str, int | None, Card]] = []
    cancelled: list[bool] = []

    def something() -> bool:
        key = terminal.model.take_key()
        if key == "cancel":
            cancelled.append(True)
            return True
        for place in (Place.CHIP_READER, Place.ANTENNA):
            held = terminal.model.card_at(place)
            for key in [k for k in ignored if k[0] is place and (held is None or held[0] != k[1])]:
                ignored.discard(key)  # it was taken away: the next card there is read again
            if held is not None and (place, held[0]) not in ignored:
                seen.append((str(place), held[0], held[1]))
                return True
        card = terminal.model.take_swipe()
        if card is not None:
            seen.append(("swipe", None, card))
            return True
        return False

    while True:
        if not terminal.wait(something, deadline - time.monotonic()):
            raise Refusal("cancelled", "no_card", "交易超时 TIMEOUT")
        if cancelled:
            raise Refusal("cancelled", "cancelled_by_user", "交易取消 CANCELLED")
        where, slot, card = seen.pop()
        terminal.console(f"CARD {where} {card.masked_pan}")
        if where == Place.CHIP_READER:
            if not card.chip:
                ignored.add((Place.CHIP_READER, int(slot or 0)))
                terminal.display("请刷卡 PLEASE SWIPE", "无芯片 NO CHIP")
                terminal.prompt("swipe_card", reason="no_chip")
                continue
            if card.chip_fault:
                ignored.add((Place.CHIP_READER, int(slot or 0)))
                fallback = True
                terminal.display("读卡失败 CHIP READ ERROR", "请刷卡 PLEASE SWIPE")
                terminal.prompt("remove_card")
                terminal.prompt("swipe_card", reason="fallback")
                continue
            return Presented(card, "chip", slot)
        if where == Place.ANTENNA:
            if not card.contactless:
                ignored.add((Place.ANTENNA, int(slot or 0)))
                terminal.display("请插卡 PLEASE INSERT CARD", "不支持非接 NO CONTACTLESS")
                continue
            terminal.console("BEEP contactless read complete")
            return Presented(card, "contactless", slot)
        if card.stripe_fault:
            terminal.display("刷卡失败 READ ERROR", "请重刷 SWIPE AGAIN")
            terminal.prompt("swipe_card", reason="read_error")
            continue
        if _chip_present(card) and not fallback:
            terminal.display("请插卡 PLEASE INSERT CARD", "芯片卡 CHIP CARD")
            terminal.prompt("insert_card", amount=amount, reason="chip_card_swiped")
            continue
        return Presented(card, "fallback" if fallback else "swipe")


#: The screen of a transaction ended because the chip card left the reader (before or after
#: going online alike).
CARD_REMOVED = "卡片已拔出 CARD REMOVED 交易失败 FAILED"


def card_removed(**data: object) -> Refusal:
    return Refusal("failed", "card_removed", CARD_REMOVED, **data)


def require_seated(terminal: SimulatedTerminal, presented: Presented) -> None:
    """Before going online: a chip card must still be in the reader (the chip answers the
    GENERATE AC); if it is gone the command ends here, before anything goes to the host."""
    seated = kept(terminal, presented)
    if seated is not None and not seated():
        terminal.console("CARD REMOVED before going online: nothing sent to the host")
        raise card_removed()


def kept(terminal: SimulatedTerminal, presented: Presented) -> Callable[[], bool] | None:
    """For a chip read: whether the card is still seated (the chip must finish the
    transaction after the host's answer); None for the other entries."""
    if presented.entry != "chip":
        return None
    return lambda: (terminal.model.card_at(Place.CHIP_READER) or (None,))[0] == presented.slot


def needs_pin(terminal: SimulatedTerminal, entry: str, amount: int) -> bool:
    if entry == "chip":
        return terminal.cfg.pin_on_chip
    if entry == "contactless":
        return amount > terminal.cfg.contactless_pin_limit
    return terminal.cfg.pin_on_swipe


def read_secret(terminal: SimulatedTerminal, *, prompt: str, title: str, timeout: float,
                min_len: int = 4, max_len: int = 12, timeout_reason: str = "no_pin",
                seated: Callable[[], bool] | None = None) -> str:
    """Digits typed on the keypad until ENTER; CLEAR starts over, CANCEL gives up.
    ``seated`` (a PIN for a chip card): the entry ends ``card_removed`` as soon as the card
    leaves the reader, whatever keys come after."""
    terminal.prompt(prompt)
    digits: list[str] = []
    keys: list[str] = []
    deadline = time.monotonic() + timeout

    def pressed() -> bool:
        if seated is not None and not seated():
            return True
        key = terminal.model.take_key()
        if key is not None:
            keys.append(key)
        return key is not None

    while True:
        if not terminal.wait(pressed, deadline - time.monotonic()):
            raise Refusal("cancelled", timeout_reason, "输入超时 INPUT TIMEOUT")
        if seated is not None and not seated():
            terminal.console("CARD REMOVED during the PIN entry: nothing sent to the host")
            raise card_removed()
        key = keys.pop(0)
        if key == "enter" and len(digits) >= min_len:
            return "".join(digits)
        if key == "cancel":
            raise Refusal("cancelled", "cancelled_by_user", "交易取消 CANCELLED")
        if key == "clear":
            digits.clear()
        elif key.isdigit() and len(digits) < max_len:
            digits.append(key)
        terminal.display(title, "*" * len(digits))


def ask_pin(terminal: SimulatedTerminal, given: object | None,
            presented: Presented | None = None) -> str:
    """The PIN, from the request or the keypad; with ``presented`` a chip card pulled out
    during the entry ends it (``card_removed``)."""
    if given is not None:
        return str(given)  # over the link, where the profile allows it (checked by the caller)
    return read_secret(terminal, prompt="enter_pin", title="请输入密码 ENTER PIN",
                       timeout=terminal.cfg.pin_timeout,
                       seated=kept(terminal, presented) if presented is not None else None)


def check_supervisor(terminal: SimulatedTerminal, given: object | None) -> None:
    """The supervisor (主管) password a void needs: in the request where the profile allows
    it, else typed on the keypad after the ``supervisor_password`` prompt."""
    if given is not None:
        if not terminal.cfg.supervisor_password_over_link:
            raise Refusal("refused", "supervisor_password_over_link_not_allowed",
                          "请在键盘输入主管密码 USE THE KEYPAD")
        password = str(given)
    else:
        password = read_secret(terminal, prompt="supervisor_password", title="主管密码 SUPERVISOR PWD",
                               timeout=terminal.cfg.pin_timeout, timeout_reason="no_supervisor_password")
    if password != terminal.cfg.supervisor_password:
        raise Refusal("refused", "wrong_supervisor_password", "主管密码错 WRONG PASSWORD")
