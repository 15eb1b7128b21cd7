"""Refund (退货) on the simulated terminal: supervisor password, the card again, the 0220
advice; of a sale in the open batch or, by reference and date, of an earlier batch."""

from __future__ import annotations

import pytest


def refund(bench, card_id: str = "cup-debit-chip", entry: str = "insert", **args):
    pending = bench.terminal.send("refund", **args)
    bench.type_supervisor_password()
    return bench.pay(pending, card_id, entry)


pytestmark = pytest.mark.bench(signed_in=True)


def test_refund_of_a_sale_in_the_open_batch_is_a_credit_at_settlement(bench):
    sale = bench.sale(8_000)
    before = len(bench.model.tray)
    back = refund(bench, amount=3_000, orig_trace=sale.data["trace"])
    assert (back.status, back.data["orig_rrn"], back.data["amount"]) == ("approved", sale.data["rrn"], 3_000)
    host = bench.journal("refund")[-1]
    assert (host.rc, host.amount, host.orig_rrn, host.state) == ("00", 3_000, sale.data["rrn"], "approved")
    assert any("退货 REFUND" in line for line in bench.model.tray[before].lines)
    totals = bench.terminal.call("settle", timeout=30).data["totals"]["domestic"]
    assert (totals["debit_amount"], totals["credit_count"], totals["credit_amount"]) == (8_000, 1, 3_000)
    assert bench.journal("settlement")[-1].state == "balanced"


def test_refund_of_a_settled_sale_by_reference_and_date(bench):
    sale = bench.sale(5_000)
    assert bench.terminal.call("settle", timeout=30).ok
    back = refund(bench, amount=5_000, orig_rrn=sale.data["rrn"], orig_date=sale.data["host_date"])
    assert back.status == "approved"
    assert bench.journal("refund")[-1].orig_rrn == sale.data["rrn"]


def test_refunding_more_than_the_sale_is_declined_by_the_host(bench):
    sale = bench.sale(1_000)
    refund(bench, amount=600, orig_trace=sale.data["trace"])
    more = refund(bench, amount=600, orig_trace=sale.data["trace"])
    assert (more.status, more.data["rc"]) == ("declined", "13")


def test_refund_to_another_card_or_of_nothing_is_refused(bench):
    sale = bench.sale(1_000)
    other = refund(bench, "cup-credit-chip", amount=500, orig_trace=sale.data["trace"])
    assert (other.status, other.data["reason"]) == ("refused", "card_mismatch")
    nothing = bench.terminal.call("refund", amount=500, orig_trace=999)
    assert (nothing.status, nothing.data["reason"]) == ("refused", "original_not_found")
    assert bench.journal("refund") == []


def test_an_unanswered_refund_fails_without_a_reversal_and_stays_out_of_the_batch(bench):
    sale = bench.sale(2_000)
    bench.host.script.next(tid=bench.tid, kind="refund", drop=True)
    lost = refund(bench, amount=2_000, orig_trace=sale.data["trace"])
    assert (lost.status, lost.data["reason"]) == ("failed", "no_host_response")
    status = bench.terminal.call("status").data
    assert (status["reversal_pending"], status["batch_items"]) == (False, 1)
    settled = bench.terminal.call("settle", timeout=30)
    assert not settled.data["balanced"], "the host booked a refund the terminal does not hold"
    assert bench.journal("reversal") == []
