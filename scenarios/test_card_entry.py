"""How the card is read: stripe, chip, antenna, and what the terminal must do when one of
them cannot be used. The host's journal says how each sale was read (DE22)."""

from __future__ import annotations

import pytest

from harness import flows


def new_sales(station, before: int):
    return flows.journal(station, "sale")[before:]


@pytest.mark.case("CUP-SALE-006")
def test_magstripe_card_swiped_is_approved_with_pin(signed_in):
    station = signed_in
    result = flows.sale(station, 2_800, "cup-magstripe", entry="swipe")
    assert (result.status, result.entry) == ("approved", "swipe"), result
    entry = flows.check_witnesses(station, result, "cup-magstripe")
    assert entry.entry_mode == "swipe", entry
    flows.check_receipt(station, result)


@pytest.mark.case("CUP-SALE-007")
def test_chip_card_swiped_is_told_to_insert_and_is_read_by_chip(signed_in):
    station = signed_in
    before = len(flows.journal(station, "sale"))
    result = flows.sale(station, 1_500, "cup-credit-chip", entry="swipe")
    assert (result.status, result.entry) == ("approved", "chip"), result
    assert "insert_card (chip_card_swiped)" in result.prompts, \
        f"the terminal did not tell the cardholder to use the chip: {result.prompts}"
    assert [e.entry_mode for e in new_sales(station, before)] == ["chip"], \
        "the swipe of a chip card went online"
    flows.check_witnesses(station, result, "cup-credit-chip")
    flows.check_receipt(station, result)


@pytest.mark.case("CUP-SALE-008")
def test_contactless_sale_above_the_limit_asks_for_the_pin(signed_in):
    station = signed_in
    result = flows.sale(station, 150_000, "cup-debit-chip", entry="tap")
    assert (result.status, result.entry) == ("approved", "contactless"), result
    assert "enter_pin" in result.prompts, \
        f"a tap above the contactless limit went through without a PIN: {result.prompts}"
    flows.check_witnesses(station, result, "cup-debit-chip")
    flows.check_receipt(station, result)


@pytest.mark.case("CUP-FALLBACK-001")
def test_chip_that_does_not_answer_falls_back_to_the_stripe(signed_in, bench_faults):
    station = signed_in
    bench_faults.damage_card("cup-credit-chip", chip=True)
    result = flows.sale(station, 2_500, "cup-credit-chip", entry="insert")
    assert (result.status, result.entry) == ("approved", "fallback"), result
    assert "swipe_card (fallback)" in result.prompts, result.prompts
    entry = flows.check_witnesses(station, result, "cup-credit-chip")
    assert entry.entry_mode == "fallback", f"the host was told {entry.entry_mode!r}"
    flows.check_receipt(station, result)


@pytest.mark.case("CUP-CARD-001")
def test_card_that_will_not_read_goes_nowhere(signed_in, bench_faults):
    station = signed_in
    bench_faults.damage_card("cup-credit-chip", chip=True, stripe=True)
    # The chip is dead, so the terminal falls back to the stripe, which is worn: it asks for
    # the swipe again and again until the cashier (the robot) gives up with CANCEL.
    before = len(flows.journal(station))
    result = flows.sale(station, 2_600, "cup-credit-chip", entry="insert")
    assert result.status == "cancelled", result
    assert result.reason == "cancelled_by_user", result
    assert "swipe_card (fallback)" in result.prompts, f"no fallback was offered: {result.prompts}"
    assert "swipe_card (read_error)" in result.prompts, f"the bad swipe went unsaid: {result.prompts}"
    assert len(flows.journal(station)) == before, "a card that never read went online"
    assert station.robot.holding is None, "the card must be back in its slot"
    assert flows.status(station).data["reversal_pending"] is False
