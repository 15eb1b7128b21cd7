"""Sales: the terminal, the host and the slip must tell one story."""

from __future__ import annotations

import pytest

from harness import flows


@pytest.mark.case("CUP-SALE-001")
def test_signed_in_chip_sale_is_approved_and_witnesses_agree(fresh_station, cards):
    station = fresh_station
    card = cards["cup-debit-chip"]

    signin = flows.sign_in(station)
    assert signin.status == "ok", f"sign-in was {signin.status}: {signin.reason}"

    result = flows.sale(station, 12_345, card, entry="insert")

    assert result.status == "approved", f"sale {result.status}, rc={result.rc} ({result.reason})"
    assert result.entry == "chip"
    assert result.card == card.masked_pan
    assert result.amount == 12_345
    entry = flows.check_witnesses(station, result, card)
    assert int(entry.batch) == signin.batch, "the sale went into another batch than sign-in opened"
    flows.check_receipt(station, result)
    # the card is back in its magazine slot: the teardown did not have to rescue it
    assert station.robot.holding is None


@pytest.mark.case("CUP-SALE-003")
def test_sale_before_sign_in_is_refused_without_host_traffic(fresh_station, cards):
    station = fresh_station
    before = len(station.host.entries(station.tid))

    login = flows.login(station)
    assert login.ok, f"operator login refused: {login.data}"
    result = flows.sale(station, 500, cards["cup-debit-chip"], entry="insert")

    assert result.status == "refused"
    assert result.reason == "not_signed_in"
    assert len(station.host.entries(station.tid)) == before, "the terminal went online anyway"


@pytest.mark.case("CUP-SALE-002")
def test_contactless_sale_without_pin_is_approved(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    result = flows.sale(station, 3_000, "cup-debit-chip", entry="tap")
    assert (result.status, result.entry) == ("approved", "contactless"), result
    assert "enter_pin" not in result.prompts, f"a small tap asked for a PIN: {result.prompts}"
    flows.check_witnesses(station, result, "cup-debit-chip")
    flows.check_receipt(station, result)


@pytest.mark.case("CUP-SALE-004")
def test_amount_out_of_range_is_refused_by_the_terminal(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    before = len(flows.journal(station))
    result = flows.sale(station, station.profile.max_amount + 1, "cup-debit-chip")
    assert (result.status, result.reason) == ("refused", "amount_out_of_range"), result
    assert len(flows.journal(station)) == before, "the terminal went online anyway"


@pytest.mark.case("CUP-SALE-005")
def test_trace_numbers_increase_from_sale_to_sale(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    first = flows.sale(station, 1_100, "cup-debit-chip")
    assert first.approved, first
    flows.check_receipt(station, first)  # before the next slip covers it
    second = flows.sale(station, 1_200, "cup-credit-chip")
    assert second.approved, second
    assert second.trace > first.trace, (first.trace, second.trace)
    flows.check_receipt(station, second)
