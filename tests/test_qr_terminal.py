"""The simulated terminal's scan-to-pay over its real ECR link, against the real host: the
scanner decodes the phone's rendered screen, the terminal polls, reverses, voids, refunds,
settles; the B2C code it shows is the order the host made."""

from __future__ import annotations

import time

import pytest

from devices.host.qr import wallet_call
from devices.payments import qr
from devices.phone import SimulatedPhone
from devices.terminal.sim.qr_scan import decode

pytestmark = pytest.mark.bench(signed_in=True, qr_poll_s=0.5, qr_c2b_window_s=3.0,
                               qr_b2c_window_s=4.0)


def show(bench, code: str) -> SimulatedPhone:
    phone = SimulatedPhone(bench.model, seed=len(code))
    phone.show_code(code)
    phone.present()
    return phone


def scan_sale(bench, code: str, amount: int = 1234, timeout: float = 30):
    phone = show(bench, code)
    try:
        return bench.terminal.call("qr_sale", amount=amount, timeout=timeout)
    finally:
        phone.withdraw()


def wallet(bench, **msg):
    return wallet_call(bench.host, msg)


def test_scanner_reads_only_what_faces_it(bench):
    phone = SimulatedPhone(bench.model)
    phone.show_code(qr.make_code("03", 1))
    assert bench.model.scanner_view() is None
    phone.present()
    assert decode(bench.model.scanner_view()()) == qr.make_code("03", 1)
    phone.withdraw()
    assert bench.model.scanner_view() is None


def test_c2b_sale_approved_is_booked_journaled_and_printed(bench):
    code = qr.make_code("01", 21)
    answer = scan_sale(bench, code)
    assert answer.status == "approved", answer
    d = answer.data
    assert d["card"] == qr.mask_code(code) and d["wallet"] == "01" and len(d["voucher"]) == 20
    [row] = bench.journal("sale")
    assert (row.stan, row.qr_voucher, row.pan_masked, row.rrn) == (
        f"{d['trace']:06d}", d["voucher"], d["card"], d["rrn"])
    slip = "\n".join(bench.model.tray[-1].lines)
    assert d["voucher"] in slip and "扫码消费" in slip and code not in slip
    assert scan_sale(bench, code).data["rc"] == "54", "the same code again: already used"


def test_c2b_no_code_in_front_of_the_scanner_is_cancelled(bench):
    bench.sim.cfg.card_timeout = 1.0
    answer = bench.terminal.call("qr_sale", amount=100, timeout=10)
    assert (answer.status, answer.data["reason"]) == ("cancelled", "no_code")


def test_c2b_password_then_approved_by_polling(bench):
    code = qr.make_code("03", 22)
    wallet(bench, op="code", code=code, outcome="pending:1:approve")
    answer = scan_sale(bench, code)
    assert answer.status == "approved", answer
    queries = bench.journal("qr_query")
    assert queries and queries[-1].rc == "00" and queries[-1].orig_stan == f"{answer.data['trace']:06d}"
    assert bench.journal("sale")[-1].state == "approved"
    assert bench.sim.state.pending_reversal is None


@pytest.mark.heavy  # waits out real timers: in the heavy set .ci/run runs
def test_c2b_password_never_given_is_reversed_at_the_window_end(bench):
    code = qr.make_code("02", 23)
    wallet(bench, op="code", code=code, outcome="pending:forever")
    answer = scan_sale(bench, code)
    assert (answer.status, answer.data["reason"], answer.data["reversal_sent"]) == (
        "failed", "qr_timeout", True)
    [rev] = bench.journal("reversal")
    assert (rev.rc, rev.state) == ("00", "undone")
    assert bench.journal("sale")[-1].state == "reversed"
    assert not bench.sim.state.batch_items


def test_c2b_no_answer_sends_the_reversal_at_once(bench):
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)
    bench.sim.cfg.host_timeout = 1.0
    answer = scan_sale(bench, qr.make_code("03", 24))
    assert (answer.status, answer.data["reason"]) == ("failed", "no_host_response")
    [rev] = bench.journal("reversal")
    assert rev.note.startswith("reason 98")


def test_b2c_order_shown_paid_by_the_wallet_then_voided(bench):
    pending = bench.terminal.send("qr_order", amount=2500)
    shown = bench.terminal.expect_event(lambda e: e.event == "display" and bool(e.data.get("qr")),
                                      what="the order's code", timeout=10)
    order = qr.order_from_url(shown.data["qr"])
    assert order is not None
    assert wallet(bench, op="pay", order=order)["state"] == "PAID"
    answer = pending.result(20)
    assert answer.status == "approved" and answer.data["order"] == order, answer
    void = bench.terminal.call("qr_void", trace=answer.data["trace"], timeout=20)
    assert void.status == "approved" and void.data["voucher"] == answer.data["voucher"], void
    assert bench.journal("qr_order")[-1].state == "voided"


@pytest.mark.heavy  # waits out real timers: in the heavy set .ci/run runs
def test_b2c_order_unpaid_until_the_window_ends_is_reversed(bench):
    answer = bench.terminal.call("qr_order", amount=700, timeout=30)
    assert (answer.status, answer.data["reason"]) == ("failed", "qr_timeout"), answer
    assert bench.journal("qr_order")[-1].state == "reversed"
    assert wallet(bench, op="pay", order=answer.data["order"])["refused"] is True


def test_refund_then_settlement_balances_with_qr_and_card(bench):
    sale = scan_sale(bench, qr.make_code("03", 25), amount=3000)
    refund = bench.terminal.call("qr_refund", amount=1000, orig_trace=sale.data["trace"], timeout=20)
    assert refund.status == "approved", refund
    by_voucher = bench.terminal.call("qr_refund", amount=500, voucher=sale.data["voucher"],
                                     orig_date=sale.data["host_date"], timeout=20)
    assert by_voucher.status == "approved", by_voucher
    card = bench.sale(800)
    assert card.status == "approved"
    settled = bench.terminal.call("settle", timeout=30)
    assert settled.ok and settled.data["balanced"], settled.data
    dom = settled.data["totals"]["domestic"]
    assert (dom["debit_count"], dom["debit_amount"], dom["credit_count"], dom["credit_amount"]) == (
        2, 3800, 2, 1500)
    assert settled.data["uploaded"] == 1, "the chip sale only: QR items are never uploaded"


def test_a_qr_slip_is_reprinted_with_its_own_template(bench):
    sale = scan_sale(bench, qr.make_code("01", 26))
    assert sale.status == "approved"
    again = bench.terminal.call("reprint", trace=sale.data["trace"])
    lines = again.data["receipt"]
    assert again.ok and any(sale.data["voucher"] in line for line in lines), lines
    assert lines[-1] == "重打印 REPRINT" and any("扫码消费" in line for line in lines), lines


def test_card_void_and_refund_of_a_qr_payment_are_refused_before_asking_for_a_card(bench):
    sale = scan_sale(bench, qr.make_code("03", 27))
    bench.sim.cfg.supervisor_password_over_link = True
    void = bench.terminal.call("void", trace=sale.data["trace"], supervisor_password="123456")
    assert (void.status, void.data["reason"]) == ("refused", "qr_payment"), void
    refund = bench.terminal.call("refund", amount=100, orig_trace=sale.data["trace"],
                                 supervisor_password="123456")
    assert (refund.status, refund.data["reason"]) == ("refused", "qr_payment"), refund


def _journaled(bench, kind: str, rc: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in bench.journal(kind) if r.rc == rc]
        if rows:
            return rows[-1]
        bench.model.wait_until(lambda: False, 0.05)  # the host's journal, read as it is written
    raise AssertionError(f"the host journaled no {kind} answered {rc} within {timeout} s")


@pytest.mark.parametrize(("outcome", "booked"), [("pending:60:approve", True), ("pending:forever", False)])
def test_a_payment_pending_at_a_power_cut_is_queried_before_anything_else(bench, outcome, booked):
    bench.sim.cfg.qr_c2b_window_s = 60.0
    code = qr.make_code("01", 29 if booked else 30)
    wallet(bench, op="code", code=code, outcome=outcome)
    phone = show(bench, code)
    bench.terminal.send("qr_sale", amount=4_400)
    bench.terminal.expect_event(lambda e: e.event == "display" and "WAITING FOR CUSTOMER" in
                                str(e.data.get("lines")), what="the wait for the customer", timeout=10)
    pending_row = _journaled(bench, "sale", "FD")
    bench.power_cut()  # mid-poll: the terminal never answers the ECR
    phone.withdraw()
    bench.terminal.abandon_outstanding()
    assert bench.sim.state.pending_reversal["qr"]["order"] == pending_row.qr_order
    bench.clock.advance(seconds=61)  # the customer confirms while the terminal is off
    bench.power_on()
    bench.sign_in()
    card = bench.sale(500)  # the next online message: the query goes first
    assert card.status == "approved"
    trace = int(pending_row.stan)
    query = _journaled(bench, "qr_query", "00" if booked else "FD")
    assert query.orig_stan == pending_row.stan
    item = bench.sim.state.item(trace, "sale")
    if booked:
        assert item is not None and item["qr"]["voucher"] == query.qr_voucher
        assert not bench.journal("reversal"), "paid: nothing to reverse"
    else:  # still waiting for the customer: the terminal gives it up (reversal 06)
        [reversal] = bench.journal("reversal")
        assert (reversal.orig_stan, reversal.state) == (pending_row.stan, "undone"), reversal
        assert item is None and bench.journal("sale")[-2].state == "reversed"


def test_a_wallet_that_declines_after_the_password_is_a_decline(bench):
    code = qr.make_code("02", 31)
    wallet(bench, op="code", code=code, outcome="pending:1:decline:55")
    answer = scan_sale(bench, code)
    assert (answer.status, answer.data["rc"]) == ("declined", "55"), answer
    assert bench.sim.state.pending_reversal is None and not bench.journal("reversal")
    assert bench.journal("sale")[-1].state == "declined"


def _displays(bench) -> list[list[str]]:
    """The lines of every ``display`` event the link received, in order."""
    return [list(e.data["lines"]) for e in bench.terminal.received if e.event == "display"]


def test_cancel_at_scan_code_shows_cancelled_and_a_timeout_its_own_screen(bench):
    pending = bench.terminal.send("qr_sale", amount=100)
    bench.terminal.expect_prompt("scan_code", timeout=10)
    bench.robot.press("cancel")
    answer = pending.result(10)
    assert (answer.status, answer.data["reason"]) == ("cancelled", "no_code"), answer
    assert _displays(bench)[-1] == ["交易取消 CANCELLED"]
    bench.sim.cfg.card_timeout = 0.5
    answer = bench.terminal.call("qr_sale", amount=100, timeout=10)
    assert (answer.status, answer.data["reason"]) == ("cancelled", "no_code"), answer
    assert _displays(bench)[-1] == ["交易超时 TIMEOUT 未扫到付款码 NO CODE"]
    assert not bench.journal("sale"), "nothing went online"


def test_a_refund_above_the_payment_says_its_limits(bench):
    sale = scan_sale(bench, qr.make_code("01", 32), amount=2_000)
    by_trace = bench.terminal.call("qr_refund", amount=2_001, orig_trace=sale.data["trace"])
    by_voucher = bench.terminal.call("qr_refund", amount=2_001, voucher=sale.data["voucher"],
                                     orig_date=sale.data["host_date"])
    for answer in (by_trace, by_voucher):
        assert (answer.status, answer.data["reason"], answer.data["min_amount"],
                answer.data["max_amount"]) == ("refused", "amount_out_of_range", 1, 2_000), answer
    elsewhere = bench.terminal.call("qr_refund", amount=0, voucher="20261204000000000099",
                                    orig_date=sale.data["host_date"])
    assert (elsewhere.data["reason"], elsewhere.data["min_amount"], elsewhere.data["max_amount"]) == (
        "amount_out_of_range", 1, bench.sim.cfg.max_amount), elsewhere


def test_a_refund_by_voucher_of_a_payment_the_terminal_holds_names_it(bench):
    code = qr.make_code("02", 33)
    sale = scan_sale(bench, code, amount=1_800)
    refund = bench.terminal.call("qr_refund", amount=300, voucher=sale.data["voucher"],
                                 orig_date=sale.data["host_date"], timeout=20)
    assert refund.status == "approved", refund
    assert (refund.data["flow"], refund.data["card"], refund.data["order"], refund.data["wallet"]) == (
        "c2b", qr.mask_code(code), sale.data["order"], "02"), refund.data


def test_a_declined_qr_payment_prints_nothing(bench):
    code = qr.make_code("03", 34)
    wallet(bench, op="code", code=code, outcome="decline:51")
    slips = len(bench.model.tray)
    answer = scan_sale(bench, code)
    assert (answer.status, answer.data["rc"]) == ("declined", "51"), answer
    assert "decline_receipt" not in answer.data and "receipt" not in answer.data, answer.data
    assert len(bench.model.tray) == slips, "no slip for a QR decline (docs/posrig-ecr-1.md)"
    assert _displays(bench)[-1][0] == "交易拒绝 DECLINED"


def test_the_cashier_cancels_an_order_on_the_keypad_and_the_answer_says_what_became_of_it(bench):
    pending = bench.terminal.send("qr_order", amount=1_400)
    bench.terminal.expect_event(lambda e: e.event == "display" and bool(e.data.get("qr")),
                                what="the order's code", timeout=10)
    bench.robot.press("cancel")
    answer = pending.result(20)
    [row] = bench.journal("qr_order")
    assert (answer.status, answer.data["reason"], answer.data["reversal_sent"],
            answer.data["reversal_pending"], answer.data["order"], answer.data["trace"]) == (
        "cancelled", "cancelled_by_user", True, False, row.qr_order, int(row.stan)), answer
    assert _displays(bench)[-2:] == [["冲正中 SENDING REVERSAL"], ["交易取消 CANCELLED"]]
