"""Declines: the host's answer is shown, host and terminal agree, and the merchant copy the
terminal prints says so: read by camera, it ends with the host's response code and carries
no authorisation code."""

from __future__ import annotations

import pytest

from harness import flows


def assert_declined(station, result, rc):
    assert (result.status, result.rc) == ("declined", rc), result
    assert result.receipt == (), "a declined sale must print no sale slip"
    assert result.raw.get("printed"), "a decline prints a merchant copy with the reason"
    flows.check_witnesses(station, result)
    slip = flows.check_receipt(station, result)
    assert slip["note"] == f"declined {rc}", slip


@pytest.mark.case("CUP-DECL-051")
def test_insufficient_funds_is_declined_51(signed_in):
    low = signed_in.card("cup-low-funds")
    assert_declined(signed_in, flows.sale(signed_in, low.balance + 100, low), "51")


@pytest.mark.case("CUP-DECL-055")
def test_wrong_pin_is_declined_55(signed_in):
    card = signed_in.card("cup-debit-chip")
    wrong = "".join(str((int(d) + 1) % 10) for d in card.pin)
    assert_declined(signed_in, flows.sale(signed_in, 1_500, card, pin=wrong), "55")


@pytest.mark.case("CUP-DECL-005")
def test_do_not_honour_is_declined_05(signed_in):
    flows.host_will(signed_in, "sale", rc="05")
    assert_declined(signed_in, flows.sale(signed_in, 1_600, "cup-debit-chip"), "05")


@pytest.mark.case("CUP-DECL-054")
def test_expired_card_is_declined_54(signed_in):
    assert_declined(signed_in, flows.sale(signed_in, 1_700, "cup-expired"), "54")
