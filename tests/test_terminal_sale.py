"""Sales on the simulated terminal, driven only through its drivers over ptys: the ECR link,
the card robot and the host's journal. Chip, tap, swipe, the chip-card-swiped rule,
fallback after a dead chip, PIN on the keypad, amount limits, declines shown and printed."""

from __future__ import annotations

import pytest

from devices import events
from devices.terminal.testing import open_bench

pytestmark = pytest.mark.bench(signed_in=True)


def test_chip_sale_with_pin_agrees_with_the_host_and_prints_both_copies(bench):
    before = len(bench.model.tray)
    r = bench.sale(12_345, "cup-debit-chip", "insert")
    assert (r.status, r.data["rc"], r.data["entry"]) == ("approved", "00", "chip")
    card = bench.card("cup-debit-chip")
    assert r.data["card"] == card.masked_pan
    sale = bench.journal("sale")[-1]
    assert (sale.amount, sale.pan_masked, sale.entry_mode) == (12_345, card.masked_pan, "chip")
    assert (int(sale.stan), sale.rrn, sale.auth_code) == (r.data["trace"], r.data["rrn"],
                                                          r.data["auth_code"])
    slips = bench.model.tray[before:]
    assert [s.lines[1] for s in slips] == ["商户存根 MERCHANT COPY", "持卡人存根 CARDHOLDER COPY"]
    assert any("RMB 123.45" in line for line in slips[0].lines)
    assert r.data["receipt"] == list(slips[0].lines) and r.data["printed"] is True


def test_contactless_tap_under_the_limit_needs_no_pin(bench):
    r = bench.sale(5_000, "cup-debit-chip", "tap")
    assert (r.status, r.data["entry"]) == ("approved", "contactless")
    assert bench.journal("sale")[-1].entry_mode == "contactless"


def test_contactless_tap_above_the_limit_asks_for_the_pin(bench):
    bench.sim.cfg.contactless_pin_limit = 1_000
    pending = bench.terminal.send("sale", amount=2_000)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.present("cup-debit-chip", "tap")
    bench.terminal.expect_prompt("enter_pin", timeout=10)
    bench.robot.press_keys([*bench.card("cup-debit-chip").pin, "enter"], secret=True)
    bench.robot.return_card()
    assert pending.result(20).status == "approved"


def test_magstripe_card_swiped_is_read(bench):
    r = bench.sale(700, "cup-magstripe", "swipe")
    assert (r.status, r.data["entry"]) == ("approved", "swipe")
    assert bench.journal("sale")[-1].entry_mode == "swipe"


def test_chip_card_swiped_is_told_to_insert_and_then_read_by_chip(bench):
    pending = bench.terminal.send("sale", amount=1_500)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.present("cup-credit-chip", "swipe")
    again = bench.terminal.expect_prompt("insert_card", timeout=10)
    assert again.data["reason"] == "chip_card_swiped"
    bench.robot.insert()
    bench.terminal.expect_prompt("enter_pin", timeout=10)
    bench.robot.press_keys([*bench.card("cup-credit-chip").pin, "enter"], secret=True)
    r = pending.result(20)
    bench.robot.return_card()
    assert (r.status, r.data["entry"]) == ("approved", "chip")
    assert [e.entry_mode for e in bench.journal("sale")] == ["chip"], "the swipe went online"


def test_dead_chip_falls_back_to_the_stripe(tmp_path):
    from dataclasses import replace

    b = open_bench(tmp_path)
    try:
        dead = replace(b.model.magazine[2], chip_fault=True)  # this card's chip does not answer
        b.model.magazine[2] = dead
        b.sign_in()
        pending = b.terminal.send("sale", amount=2_500)
        b.terminal.expect_prompt("insert_card", timeout=10)
        b.present("cup-credit-chip", "insert")
        assert b.terminal.expect_prompt("swipe_card", timeout=10).data["reason"] == "fallback"
        b.robot.remove()
        b.robot.swipe()
        b.terminal.expect_prompt("enter_pin", timeout=10)
        b.robot.press_keys([*dead.pin, "enter"], secret=True)
        r = pending.result(20)
        b.robot.return_card()
        assert (r.status, r.data["entry"]) == ("approved", "fallback")
        assert b.journal("sale")[-1].entry_mode == "fallback"
    finally:
        b.close()


def test_amount_limits_refuse_without_going_online(bench):
    bench.sim.cfg.max_amount = 10_000
    online_before = len(bench.journal())
    for amount in (0, 10_001):
        r = bench.terminal.call("sale", amount=amount, timeout=10)
        assert (r.status, r.data["reason"]) == ("refused", "amount_out_of_range")
    assert len(bench.journal()) == online_before


def test_insufficient_funds_is_declined_shown_and_printed(bench):
    before = len(bench.model.tray)
    pending = bench.terminal.send("sale", amount=5_000)
    r = bench.pay(pending, "cup-low-funds")
    assert (r.status, r.data["rc"]) == ("declined", "51")
    slips = bench.model.tray[before:]
    assert len(slips) == 1 and "DECLINED: 51" in slips[0].lines[-1]
    shown = [e for e in bench.terminal.received if e.event == "display"]
    assert any("DECLINED" in " ".join(e.data["lines"]) for e in shown)
    assert bench.journal("sale")[-1].state == "declined"


def test_wrong_pin_is_declined_55(bench):
    r = bench.sale(1_000, "cup-debit-chip", pin="000000")
    assert (r.status, r.data["rc"]) == ("declined", "55")


def test_cancel_key_during_pin_cancels(bench):
    pending = bench.terminal.send("sale", amount=1_000)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.present("cup-debit-chip")
    bench.terminal.expect_prompt("enter_pin", timeout=10)
    bench.robot.press_keys(["1", "2", "cancel"])
    r = pending.result(20)
    bench.robot.return_card()
    assert (r.status, r.data["reason"]) == ("cancelled", "cancelled_by_user")
    assert bench.journal("sale") == []


def test_cancel_key_while_waiting_for_a_card_calls_the_sale_off(bench):
    pending = bench.terminal.send("sale", amount=1_000)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.robot.press_keys(["5", "cancel"])  # a digit is ignored there; CANCEL is not
    r = pending.result(10)
    assert (r.status, r.data["reason"]) == ("cancelled", "cancelled_by_user")
    assert bench.journal("sale") == [], "nothing may go online"


def test_worn_stripe_is_asked_to_be_swiped_again(tmp_path):
    from dataclasses import replace

    b = open_bench(tmp_path)
    try:
        worn = replace(b.model.magazine[b.slot("cup-magstripe")], stripe_fault=True)
        b.model.magazine[b.slot("cup-magstripe")] = worn
        b.sign_in()
        pending = b.terminal.send("sale", amount=1_500)
        b.terminal.expect_prompt("insert_card", timeout=10)
        b.present("cup-magstripe", "swipe")
        assert b.terminal.expect_prompt("swipe_card", timeout=10).data["reason"] == "read_error"
        b.robot.press("cancel")
        r = pending.result(10)
        b.robot.return_card()
        assert (r.status, r.data["reason"]) == ("cancelled", "cancelled_by_user")
        assert b.journal("sale") == []
    finally:
        b.close()


def test_pin_over_the_link_only_where_the_profile_allows_it_and_never_logged(bench):
    logged: list[str] = []
    unsubscribe = events.subscribe(lambda e: logged.append(getattr(e, "text", "")))
    try:
        refused = bench.terminal.call("sale", amount=1_000, pin="123456", timeout=10)
        assert (refused.status, refused.data["reason"]) == ("refused", "pin_over_link_not_allowed")
        bench.sim.cfg.pin_over_link = True
        pending = bench.terminal.send("sale", amount=1_000, pin=bench.card("cup-debit-chip").pin)
        assert bench.pay(pending, "cup-debit-chip").status == "approved"
    finally:
        unsubscribe()
    frames = [line for line in logged if '"cmd":"sale"' in line and '"type":"request"' in line]
    assert len(frames) >= 4, "both ends log every frame"  # driver and simulator, 2 requests
    assert all('"pin":"****"' in line for line in frames), frames


@pytest.mark.parametrize("key_mode", ["001", "004"])
def test_other_key_modes_sign_in_and_sell_by_chip_and_stripe(tmp_path, key_mode):
    b = open_bench(tmp_path, key_mode=key_mode)
    try:
        assert b.sign_in().data["key_mode"] == key_mode
        assert b.sale(1_000, "cup-debit-chip").status == "approved"
        assert b.sale(1_000, "cup-magstripe", "swipe").status == "approved"  # 004: track encrypted
        assert "key mode " + key_mode in b.journal("signin")[-1].note
    finally:
        b.close()


def test_a_screen_listener_that_raises_does_not_end_the_sale(bench):
    def broken(_event):
        raise RuntimeError("screen model exploded")

    bench.sim.screen_listeners.append(broken)
    try:
        assert bench.sale(1_000).status == "approved"
    finally:
        bench.sim.screen_listeners.remove(broken)
