"""A chip card pulled out of the reader before the terminal went online (docs/posrig-ecr-1.md,
"card pulled out"): the chip cannot compute the request's cryptogram, so nothing goes to the
host -- not the sale, not an earlier pending reversal -- and the terminal answers
``failed`` / ``card_removed`` at once, with no reversal pending and no ``remove_card`` for a
card that is not there. The card pulled after the request went is test_terminal_reversal's."""

from __future__ import annotations

import json

import pytest

from devices.terminal.dialect import Event
from devices.terminal.driver import Pending
from devices.terminal.sim.card_and_keypad import CARD_REMOVED

pytestmark = pytest.mark.bench(signed_in=True)

PIN_TITLE = "请输入密码 ENTER PIN"


def kinds(bench) -> list[str]:
    return [e.kind for e in bench.journal() if e.kind != "signin"]


def pin_typed_then_card_pulled(bench, amount: int, card_id: str = "cup-debit-chip",
                               *, enter_after: bool = True) -> tuple[Pending, int]:
    """Start a chip sale, type the whole PIN (every asterisk shown), pull the card out, and
    (``enter_after``) press ENTER; the index in ``received`` where this sale's events begin."""
    start = len(bench.terminal.received)
    pending = bench.terminal.send("sale", amount=amount)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.present(card_id)
    bench.terminal.expect_prompt("enter_pin", timeout=10)
    pin = bench.card(card_id).pin
    bench.robot.press_keys(list(pin), secret=True)
    full = [PIN_TITLE, "*" * len(pin)]
    bench.terminal.expect_event(lambda e: e.event == "display" and e.data["lines"] == full,
                                what="the last PIN digit shown", timeout=10)
    bench.robot.remove()
    if enter_after:
        bench.robot.press_keys(["enter"], secret=True)
    return pending, start


def events_of(bench, start: int) -> list[Event]:
    return list(bench.terminal.received)[start:]


def test_card_pulled_after_the_pin_and_before_enter_fails_at_once_and_sends_nothing(bench):
    trace_before = bench.terminal.call("status").data["trace"]
    pending, start = pin_typed_then_card_pulled(bench, 6_600)
    failed = pending.result(20)
    bench.robot.return_card()

    assert (failed.status, failed.data["reason"]) == ("failed", "card_removed")
    assert "reversal_pending" not in failed.data, "nothing went online, so nothing to reverse"
    assert kinds(bench) == [], "the sale never reached the host"
    seen = events_of(bench, start)
    assert not [e for e in seen if e.event == "prompt" and e.data["prompt"] == "remove_card"], \
        "no remove_card for a card that is not in the reader"
    after_pin = seen[next(i for i, e in enumerate(seen) if e.data.get("prompt") == "enter_pin") + 1:]
    assert [e.data["lines"] for e in after_pin] == [
        [PIN_TITLE, "*" * n] for n in range(1, 7)] + [[CARD_REMOVED]], \
        "the asterisks, then the card-removed screen: no PROCESSING, no printing"
    assert "CARD REMOVED during the PIN entry" in "\n".join(bench.console.lines())

    status = bench.terminal.call("status").data
    assert (status["reversal_pending"], status["trace"]) == (False, trace_before), \
        "no reversal stored, no trace number taken"
    assert json.loads(bench.sim.store.path.read_text())["pending_reversal"] is None
    again = bench.sale(6_600)
    assert again.status == "approved", "the stray ENTER did not leak into the next sale"
    assert kinds(bench) == ["sale"], "the next sale goes alone: there was nothing to reverse"


def test_card_pulled_during_the_pin_entry_ends_it_without_waiting_for_enter(bench):
    pending, _ = pin_typed_then_card_pulled(bench, 2_500, "cup-credit-chip", enter_after=False)
    failed = pending.result(10)  # the PIN timeout (15 s here) would answer no_pin instead
    bench.robot.return_card()
    assert (failed.status, failed.data["reason"]) == ("failed", "card_removed")
    assert kinds(bench) == []


def test_card_pulled_before_online_leaves_an_earlier_reversal_pending_and_unsent(bench):
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)
    lost = bench.sale(3_300)
    assert (lost.status, lost.data["reason"], lost.data["reversal_pending"]) == \
        ("failed", "no_host_response", True)
    pending, start = pin_typed_then_card_pulled(bench, 1_000)
    failed = pending.result(20)
    bench.robot.return_card()
    assert (failed.status, failed.data["reason"]) == ("failed", "card_removed")
    assert "reversal_pending" not in failed.data, "this sale stored no reversal of its own"
    assert kinds(bench) == ["sale"], "not even the earlier reversal went: the terminal never went online"
    assert not [e for e in events_of(bench, start) if e.event == "display"
                and e.data["lines"] == ["冲正中 SENDING REVERSAL"]]
    assert bench.terminal.call("status").data["reversal_pending"], "the earlier one still waits"
    assert bench.sale(1_000).status == "approved"
    assert kinds(bench) == ["sale", "reversal", "sale"]


def test_a_void_whose_card_is_pulled_during_its_pin_entry_leaves_the_sale_as_it_was(bench):
    bench.sim.cfg.pin_on_void = True  # the reference's terminals ask none; this profile option does
    sale = bench.sale(4_200)
    assert sale.status == "approved"
    start = len(bench.terminal.received)
    pending = bench.terminal.send("void", trace=sale.data["trace"])
    bench.type_supervisor_password()
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.present("cup-debit-chip")
    bench.terminal.expect_prompt("enter_pin", timeout=10)
    bench.robot.press_keys(list(bench.card("cup-debit-chip").pin[:3]), secret=True)
    bench.robot.remove()
    failed = pending.result(20)
    bench.robot.return_card()
    assert (failed.status, failed.data["reason"]) == ("failed", "card_removed")
    assert "reversal_pending" not in failed.data
    assert kinds(bench) == ["sale"], "the void never reached the host"
    assert not [e for e in events_of(bench, start) if e.data.get("prompt") == "remove_card"]
    assert bench.journal("sale")[-1].state == "approved"
    assert bench.terminal.call("status").data["batch_items"] == 1
