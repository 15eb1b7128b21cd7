"""Void with the supervisor password, and settlement from the terminal's own batch: totals,
the host's balanced / not balanced answer, batch upload, the settlement slip, and a batch
left open from a previous day."""

from __future__ import annotations

import pytest


def void(bench, trace: int, card_id: str = "cup-debit-chip", password: str = "123456"):
    pending = bench.terminal.send("void", trace=trace)
    bench.type_supervisor_password(password)
    return bench.pay(pending, card_id)


pytestmark = pytest.mark.bench(signed_in=True)


def test_void_asks_the_supervisor_then_the_card_and_undoes_the_sale(bench):
    sale = bench.sale(6_600)
    before = len(bench.model.tray)
    voided = void(bench, sale.data["trace"])
    assert (voided.status, voided.data["orig_trace"], voided.data["amount"]) == \
        ("approved", sale.data["trace"], 6_600)
    host_void = bench.journal("void")[-1]
    assert (host_void.orig_stan, host_void.rc) == (f"{sale.data['trace']:06d}", "00")
    assert bench.journal("sale")[-1].state == "voided"
    assert any("消费撤销 VOID" in line for line in bench.model.tray[before].lines)
    again = bench.terminal.call("void", trace=sale.data["trace"])
    assert (again.status, again.data["reason"]) == ("refused", "already_voided")


def test_wrong_supervisor_password_is_refused_before_any_card(bench):
    sale = bench.sale(1_000)
    refused = void(bench, sale.data["trace"], password="654321")
    assert (refused.status, refused.data["reason"]) == ("refused", "wrong_supervisor_password")
    assert bench.journal("void") == []


def test_supervisor_password_over_the_link_only_where_the_profile_allows_it(bench):
    sale = bench.sale(1_000)
    refused = bench.terminal.call("void", trace=sale.data["trace"], supervisor_password="123456")
    assert refused.data["reason"] == "supervisor_password_over_link_not_allowed"
    bench.sim.cfg.supervisor_password_over_link = True
    pending = bench.terminal.send("void", trace=sale.data["trace"], supervisor_password="123456")
    assert bench.pay(pending, "cup-debit-chip").status == "approved"


def test_void_of_an_unknown_sale_or_with_another_card_is_refused(bench):
    missing = bench.terminal.call("void", trace=4242)
    assert (missing.status, missing.data["reason"]) == ("refused", "original_not_found")
    sale = bench.sale(1_000)
    other = void(bench, sale.data["trace"], card_id="cup-credit-chip")
    assert (other.status, other.data["reason"]) == ("refused", "card_mismatch")
    assert bench.journal("void") == []


def test_balanced_settlement_uploads_chip_records_prints_and_opens_the_next_batch(bench):
    a = bench.sale(10_000)
    bench.sale(2_500, "cup-magstripe", "swipe")
    void(bench, a.data["trace"])
    before = len(bench.model.tray)
    settled = bench.terminal.call("settle", timeout=30)
    assert settled.ok and settled.data["balanced"]
    dom = settled.data["totals"]["domestic"]
    assert (dom["debit_count"], dom["debit_amount"], dom["credit_count"], dom["credit_amount"]) == \
        (2, 12_500, 1, 10_000)
    host = bench.journal("settlement")[-1]
    assert host.state == "balanced"
    uploads = bench.journal("batch_upload")
    assert len(uploads) == settled.data["uploaded"] + 1 == 3, "two chip records, then 207"
    assert uploads[-1].state == "clean"
    assert bench.model.tray[before].lines[0] == "结算单 SETTLEMENT"
    assert settled.data["next_batch"] == settled.data["batch"] + 1
    assert bench.terminal.call("status").data["batch_items"] == 0
    assert bench.sale(1_000).data["batch"] == settled.data["next_batch"]


def test_unbalanced_settlement_uploads_the_batch(bench):
    bench.sale(1_000)
    bench.sale(2_000, "cup-magstripe", "swipe")
    bench.host.script.next(tid=bench.tid, kind="settlement", unbalanced=True)
    settled = bench.terminal.call("settle", timeout=30)
    assert settled.ok and not settled.data["balanced"]
    assert settled.data["uploaded"] == 2
    notes = [e.note for e in bench.journal("batch_upload")]
    assert notes[0].startswith("201") and notes[-1].startswith("202 end of upload, 2 records")
    assert bench.journal("batch_upload")[-1].state == "clean"
    assert any("NOT BALANCED" in line for line in settled.data["receipt"])


def test_a_batch_left_open_from_a_previous_day_forces_settlement_first(bench):
    bench.sale(1_000)
    bench.clock.advance(days=1)
    bench.terminal.call("signin", timeout=20)  # the terminal's clock comes from the host
    refused = bench.terminal.call("sale", amount=1_000)
    assert (refused.status, refused.data["reason"]) == ("refused", "settlement_required")
    assert bench.terminal.call("status").data["settlement_required"]
    assert bench.terminal.call("settle", timeout=30).ok
    assert bench.sale(1_000).status == "approved"


def test_the_batch_survives_a_power_cut_and_its_flash_holds_no_clear_card_number(bench):
    sale = bench.sale(3_100)
    bench.power_cut()
    bench.power_on()
    bench.sign_in()
    flash = bench.sim.store.path.read_text()
    assert bench.card("cup-debit-chip").pan not in flash
    assert bench.terminal.call("reprint", trace=sale.data["trace"]).ok, "the slip is still there"
    settled = bench.terminal.call("settle", timeout=30)
    assert settled.data["totals"]["domestic"]["debit_amount"] == 3_100
    assert settled.data["balanced"] and bench.journal("batch_upload")[-1].state == "clean"
