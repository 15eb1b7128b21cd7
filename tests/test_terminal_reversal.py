"""Reversal (冲正): stored before the sale goes online, sent before the next online message,
retried, kept across a power cut; the host's journal is the witness that the sale was undone."""

from __future__ import annotations

import json

import pytest

from devices.terminal.sim.card_and_keypad import CARD_REMOVED


def kinds(bench) -> list[str]:
    return [e.kind for e in bench.journal() if e.kind != "signin"]


pytestmark = pytest.mark.bench(signed_in=True)


def test_power_cut_between_sale_and_answer_reverses_the_sale_after_power_returns(bench):
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)  # booked, answer lost
    bench.terminal.send("sale", amount=8_800)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.present("cup-debit-chip")
    bench.terminal.expect_prompt("enter_pin", timeout=10)
    bench.robot.press_keys([*bench.card("cup-debit-chip").pin, "enter"], secret=True)
    bench.console.expect(r"ISO8583 -> 0200 .*4=000000008800", timeout=10)
    bench.power_cut()  # the sale is out, its answer not yet in
    bench.robot.return_card()
    stored = json.loads(bench.sim.store.path.read_text())["pending_reversal"]
    assert (stored["kind"], stored["amount"], stored["reason"]) == ("sale", 8_800, "98")
    sale = bench.journal("sale")[-1]
    assert sale.state == "approved", "the host booked it; only the terminal does not know"

    assert bench.power_on().data["reversal_pending"]
    assert "reversal pending for trace" in "\n".join(bench.console.lines())
    bench.sign_in()
    assert kinds(bench) == ["sale"], "nothing went online before the next transaction"
    after = bench.sale(1_200)

    assert after.status == "approved"
    assert kinds(bench) == ["sale", "reversal", "sale"], "the reversal goes first"
    reversal = bench.journal("reversal")[-1]
    assert (reversal.orig_stan, reversal.amount, reversal.state) == (sale.stan, 8_800, "undone")
    assert "reason 98" in reversal.note
    assert bench.journal("sale")[0].state == "reversed", "the host's journal shows the sale undone"
    assert not bench.terminal.call("status").data["reversal_pending"]


def test_no_answer_fails_the_sale_and_its_reversal_precedes_the_next_one(bench):
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)
    lost = bench.sale(3_300)
    assert (lost.status, lost.data["reason"], lost.data["reversal_pending"]) == \
        ("failed", "no_host_response", True)
    settle_first = bench.terminal.call("settle", timeout=30)
    assert settle_first.ok
    assert kinds(bench)[:3] == ["sale", "reversal", "settlement"]
    assert settle_first.data["totals"]["domestic"]["debit_count"] == 0, "the lost sale is not in"


def test_an_unanswered_reversal_is_repeated(bench):
    bench.sim.cfg.host_timeout = 0.5
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)
    assert bench.sale(4_400).status == "failed"
    bench.host.script.next(tid=bench.tid, kind="reversal", drop=True, times=2)
    assert bench.sale(1_000).status == "approved"
    assert kinds(bench) == ["sale", "reversal", "reversal", "reversal", "sale"]
    assert [e.state for e in bench.journal("reversal")] == ["undone", "acknowledged", "acknowledged"]


def test_a_reversal_that_cannot_be_delivered_blocks_the_next_sale_and_stays(bench):
    bench.sim.cfg.host_timeout = 0.5
    bench.sim.cfg.reversal_retries = 1
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)
    assert bench.sale(4_400).status == "failed"
    bench.host.script.next(tid=bench.tid, kind="reversal", drop=True, times=2)
    blocked = bench.sale(1_000)
    assert (blocked.status, blocked.data["reason"]) == ("failed", "reversal_pending")
    assert kinds(bench) == ["sale", "reversal", "reversal"], "the new sale never went online"
    assert bench.terminal.call("status").data["reversal_pending"]
    assert bench.sale(1_000).status == "approved"
    assert kinds(bench)[-2:] == ["reversal", "sale"]


def test_a_bad_mac_on_the_answer_reverses_with_a0_and_demands_a_new_sign_in(bench):
    bench.host.script.next(tid=bench.tid, kind="sale", corrupt_mac=True)
    bad = bench.sale(5_500)
    assert (bad.status, bad.data["reason"]) == ("failed", "mac_error")
    assert not bench.terminal.call("status").data["signed_in"]
    bench.terminal.call("signin", timeout=20)
    assert bench.sale(1_000).status == "approved"
    reversal = bench.journal("reversal")[-1]
    assert "reason A0" in reversal.note and reversal.state == "undone"


def test_a_new_sign_in_ordered_in_the_reversal_answer_stops_the_sale_behind_it(bench):
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)
    assert bench.sale(2_000).status == "failed"
    bench.host.script.next(tid=bench.tid, kind="reversal", resign=True)
    stopped = bench.sale(1_000)
    assert (stopped.status, stopped.data["reason"]) == ("refused", "not_signed_in")
    assert kinds(bench) == ["sale", "reversal"], "the reversal went, the sale did not"
    bench.terminal.call("signin", timeout=20)
    assert bench.sale(1_000).status == "approved"


def test_a_chip_card_pulled_out_before_the_answer_reverses_the_approval_with_06(bench):
    """The request went with the card seated, so the approval is reversed (06), the answer
    says so, and the terminal asks for the card it no longer holds to be removed, in the order
    docs/posrig-ecr-1.md gives ("card pulled out"; pulled before the request went:
    test_terminal_card_removed)."""
    bench.host.script.next(tid=bench.tid, kind="sale", delay_ms=1200)
    start = len(bench.terminal.received)
    pending = bench.terminal.send("sale", amount=9_100)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.present("cup-debit-chip")
    bench.terminal.expect_prompt("enter_pin", timeout=10)
    bench.robot.press_keys([*bench.card("cup-debit-chip").pin, "enter"], secret=True)
    bench.console.expect(r"ISO8583 -> 0200", timeout=10)
    bench.robot.remove()  # the cardholder snatches the card while the host thinks
    failed = pending.result(20)
    bench.robot.return_card()
    assert (failed.status, failed.data["reason"], failed.data["reversal_pending"]) == \
        ("failed", "card_removed", True)
    tail = [(e.event, e.data.get("prompt") or e.data.get("lines"))
            for e in list(bench.terminal.received)[start:]][-3:]
    assert tail == [("display", ["处理中 PROCESSING"]), ("prompt", "remove_card"),
                    ("display", [CARD_REMOVED])]
    assert bench.journal("sale")[-1].state == "approved", "the host approved it"
    assert bench.sale(1_000).status == "approved"
    reversal = bench.journal("reversal")[-1]
    assert "reason 06" in reversal.note and bench.journal("sale")[0].state == "reversed"
