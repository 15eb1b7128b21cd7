"""Refund: money back for an earlier sale, with the supervisor's password and the same card,
whether the sale is in the open batch or was settled before."""

from __future__ import annotations

import pytest

from harness import flows


@pytest.mark.case("CUP-REFUND-001")
def test_refund_of_a_sale_in_the_open_batch(sold):
    station, sale = sold
    refund = flows.refund(station, sale, "cup-debit-chip")
    assert refund.status == "approved", refund
    assert (refund.amount, refund.raw.get("orig_rrn")) == (sale.amount, sale.rrn), refund
    flows.check_witnesses(station, refund, "cup-debit-chip")
    flows.check_receipt(station, refund)


@pytest.mark.case("CUP-REFUND-002")
def test_partial_refund_of_a_settled_sale_by_reference(sold):
    station, sale = sold
    settled = flows.settle(station)
    assert settled.status == "ok", settled.data
    flows.check_settlement_slip(station, settled)
    part = flows.refund(station, sale, "cup-debit-chip", 2_500, by_reference=True)
    assert (part.status, part.amount) == ("approved", 2_500), part
    flows.check_witnesses(station, part, "cup-debit-chip")
    flows.check_receipt(station, part)
    too_much = flows.refund(station, sale, "cup-debit-chip", 4_000, by_reference=True)
    assert (too_much.status, too_much.rc) == ("declined", "13"), \
        "refunds of one sale must never add up to more than the sale"
    flows.check_witnesses(station, too_much, "cup-debit-chip")
    assert flows.check_receipt(station, too_much)["note"] == "declined 13"
