"""The host's QR flows against a real host on loopback: C2B, B2C, query, void, refund,
reversal, settlement, the test wallet (through its control socket too)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devices.host import AcquirerHost
from devices.host.control import ControlError, HostControl
from devices.host.testing import LAB_CLOCK, LoopbackTerminal, lab_config, signed_in
from devices.payments import qr
from devices.payments.settlement import SideTotals, Totals


class Clock:
    """The host's clock, moved by the test (a pending payment is decided by time)."""

    def __init__(self) -> None:
        self.now = LAB_CLOCK

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def host(clock, tmp_path):
    host = AcquirerHost(lab_config(clock=clock, control_path=tmp_path / "host.sock"))
    host.start_in_thread()
    yield host
    host.stop()


SN = "SIM10000001"


def c2b(t: LoopbackTerminal, code: str, amount: int = 1234):
    out = qr.c2b_sale_request(t.session, stan=t.next_stan(), batch=t.batch, amount=amount,
                              code=code, serial=SN)
    return out, qr.read_response(t.session, out, t.send(out))


def order(t: LoopbackTerminal, amount: int = 2500):
    out = qr.order_request(t.session, stan=t.next_stan(), batch=t.batch, amount=amount, serial=SN)
    return out, qr.read_response(t.session, out, t.send(out))


def query(t: LoopbackTerminal, out, result):
    q = qr.query_request(t.session, stan=t.next_stan(), batch=t.batch,
                         amount=int(out.fields["4"]), orig_batch=int(out.fields["60"][2:8]),
                         orig_stan=int(out.fields["11"]), orig_mmdd=f"{LAB_CLOCK:%m%d}",
                         order=result.order)
    return qr.read_response(t.session, q, t.send(q))


def wallet(host: AcquirerHost) -> HostControl:
    return HostControl(host.config.control_path)


def test_c2b_approved_at_once_carries_voucher_order_and_wallet(host):
    t = signed_in(host)
    code = qr.make_code("01", 1)
    out, result = c2b(t, code)
    assert result.approved and result.base.mac_ok
    assert result.voucher and len(result.voucher) == 20 and result.voucher.startswith("2")
    assert result.order == f"PR{LAB_CLOCK:%Y%m%d%H%M%S}10000001{out.fields['11']}"
    assert result.wallet == "01"
    [row] = host.journal.entries(kind="sale")
    assert (row.rc, row.state, row.entry_mode, row.pan_masked) == (
        "00", "approved", "qr", qr.mask_code(code))
    assert (row.qr_voucher, row.qr_order, row.wallet) == (result.voucher, result.order, "01")
    assert code not in str(row), "the journal holds the payment code masked only"


def test_c2b_code_is_single_use_and_scripts_decide(host):
    t = signed_in(host)
    code = qr.make_code("03", 2)
    assert c2b(t, code)[1].approved
    assert c2b(t, code)[1].rc == "54", "a second sale with one code is 54"
    expired = qr.make_code("02", 3)
    wallet(host).wallet("code", code=expired, outcome="expired")
    assert c2b(t, expired)[1].rc == "54"
    poor = qr.make_code("03", 4)
    wallet(host).wallet("code", code=poor, outcome="decline:51")
    assert c2b(t, poor)[1].rc == "51"
    assert c2b(t, "99" + "1" * 17)[1].rc == "14", "no known family"


def test_c2b_password_then_approved_by_query(host, clock):
    t = signed_in(host)
    code = qr.make_code("03", 5)
    wallet(host).wallet("code", code=code, outcome="pending:8:approve")
    out, first = c2b(t, code)
    assert first.rc == "FD" and first.order and first.base.rrn and first.voucher is None
    clock.advance(5)
    assert query(t, out, first).rc == "FD"
    clock.advance(5)
    paid = query(t, out, first)
    assert paid.approved and paid.voucher and paid.base.rrn == first.base.rrn
    sale_row = host.journal.entries(kind="sale")[0]
    assert (sale_row.rc, sale_row.state) == ("FD", "approved")
    assert [r.rc for r in host.journal.entries(kind="qr_query")] == ["FD", "00"]


def test_c2b_pending_forever_is_closed_by_the_reversal(host, clock):
    t = signed_in(host)
    code = qr.make_code("03", 6)
    wallet(host).wallet("code", code=code, outcome="pending:forever")
    out, first = c2b(t, code)
    assert first.rc == "FD"
    clock.advance(60)
    rev = t.session.reversal_request(qr.reversal_fields(out), "06")
    assert "A2" not in qr.parse_tlv(rev.fields["59"]) and "A3" in qr.parse_tlv(rev.fields["59"])
    assert t.session.financial_response(rev, t.send(rev)).rc == "00"
    assert query(t, out, first).rc == "FE"
    assert host.journal.entries(kind="sale")[0].state == "reversed"


def test_b2c_order_paid_by_the_wallet_then_voided_and_reversal_of_the_void(host):
    t = signed_in(host)
    out, created = order(t)
    assert created.rc == "FD" and created.payload == qr.order_url(created.order)
    assert qr.order_from_url(created.payload) == created.order
    assert query(t, out, created).rc == "FD"
    assert wallet(host).wallet("pay", order=created.order)["state"] == "PAID"
    paid = query(t, out, created)
    assert paid.approved and paid.voucher
    void = qr.void_request(t.session, stan=t.next_stan(), batch=t.batch, amount=2500,
                           voucher=paid.voucher, orig_batch=t.batch,
                           orig_stan=int(out.fields["11"]), orig_rrn=paid.base.rrn,
                           orig_auth=paid.base.auth_code)
    answer = qr.read_response(t.session, void, t.send(void))
    assert answer.approved and answer.voucher == paid.voucher
    again = qr.void_request(t.session, stan=t.next_stan(), batch=t.batch, amount=2500,
                            voucher=paid.voucher, orig_batch=t.batch,
                            orig_stan=int(out.fields["11"]), orig_rrn=None, orig_auth=None)
    assert qr.read_response(t.session, again, t.send(again)).rc == "12"
    rev = t.session.reversal_request(qr.reversal_fields(void), "98")
    assert t.session.financial_response(rev, t.send(rev)).rc == "00"
    assert host.journal.entries(kind="qr_order")[0].state == "approved"
    assert query(t, out, created).approved, "the void undone: the payment stands"


def test_wallet_refuses_to_pay_a_closed_order_and_orders_close_after_120_s(host, clock):
    t = signed_in(host)
    out, created = order(t)
    clock.advance(121)
    assert query(t, out, created).rc == "FE"
    assert wallet(host).wallet("pay", order=created.order)["refused"] is True
    [row] = host.journal.entries(kind="wallet")
    assert (row.state, row.qr_order) == ("refused", created.order)
    with pytest.raises(ControlError, match="wallet outcome"):
        wallet(host).wallet("code", code=qr.make_code("03", 9), outcome="maybe")


def test_refund_partial_repeat_and_limits(host):
    t = signed_in(host)
    _, paid = c2b(t, qr.make_code("02", 7), amount=3000)

    def refund(amount, stan=None):
        r = qr.refund_request(t.session, stan=stan or t.next_stan(), batch=t.batch, amount=amount,
                              voucher=paid.voucher, orig_mmdd=f"{LAB_CLOCK:%m%d}",
                              orig_rrn=None, orig_auth=None)
        return r, qr.read_response(t.session, r, t.send(r))

    first, answer = refund(1000)
    assert answer.approved
    repeat = qr.read_response(t.session, first, t.send(first))
    assert repeat.approved and repeat.base.rrn == answer.base.rrn, "a repeat gets the same answer"
    assert refund(2500)[1].rc == "13"
    assert refund(2000)[1].approved
    assert refund(1)[1].rc == "12", "refunded in full"
    unknown = qr.refund_request(t.session, stan=t.next_stan(), batch=t.batch, amount=1,
                                voucher="2" * 20, orig_mmdd="0101", orig_rrn=None, orig_auth=None)
    assert qr.read_response(t.session, unknown, t.send(unknown)).rc == "25"


def test_settlement_counts_qr_as_domestic_and_closes_pending_orders(host):
    t = signed_in(host)
    c2b(t, qr.make_code("03", 10), amount=1000)
    out, created = order(t, 700)  # left pending: closed by the settlement
    _, paid = c2b(t, qr.make_code("01", 11), amount=500)
    void = qr.void_request(t.session, stan=t.next_stan(), batch=t.batch, amount=500,
                           voucher=paid.voucher, orig_batch=t.batch, orig_stan=0,
                           orig_rrn=None, orig_auth=None)
    assert qr.read_response(t.session, void, t.send(void)).approved
    claimed = Totals(SideTotals(1500, 2, 500, 1))
    out_settle = t.session.settle_request(stan=t.next_stan(), batch=t.batch, totals=claimed)
    result = t.session.settle_response(out_settle, t.send(out_settle))
    assert result.balanced, result
    assert query(t, out, created).rc == "FE"


def test_bad_qr_messages_are_30(host):
    t = signed_in(host)
    out = qr.c2b_sale_request(t.session, stan=t.next_stan(), batch=t.batch, amount=100,
                              code=qr.make_code("03", 12), serial=SN)
    doc = dict(out.fields)
    doc["59"] = "A3099123"  # overruns DE59
    bad = t.session._send({k: v for k, v in doc.items() if k != "64"}, mac=True)
    assert qr.read_response(t.session, bad, t.send(bad)).rc == "30"
    doc["59"] = qr.encode_tlv([("A2", qr.parse_tlv(out.fields["59"])["A2"])])
    bad = t.session._send({k: v for k, v in doc.items() if k != "64"}, mac=True)
    assert qr.read_response(t.session, bad, t.send(bad)).rc == "30", "no A3"
    query_unknown = qr.query_request(t.session, stan=t.next_stan(), batch=t.batch, amount=1,
                                     orig_batch=1, orig_stan=999, orig_mmdd="0101", order=None)
    assert qr.read_response(t.session, query_unknown, t.send(query_unknown)).rc == "25"


def test_the_journal_alone_gives_the_settlement_totals_payments_paid_later_included(host, clock):
    t = signed_in(host)
    code = qr.make_code("03", 13)
    wallet(host).wallet("code", code=code, outcome="pending:5:approve")
    out, first = c2b(t, code, amount=1_100)
    assert first.rc == "FD"
    clock.advance(6)
    assert query(t, out, first).approved
    order_out, created = order(t, 900)
    wallet(host).wallet("pay", order=created.order)
    paid = query(t, order_out, created)
    void = qr.void_request(t.session, stan=t.next_stan(), batch=t.batch, amount=900,
                           voucher=paid.voucher, orig_batch=t.batch,
                           orig_stan=int(order_out.fields["11"]), orig_rrn=None, orig_auth=None)
    assert qr.read_response(t.session, void, t.send(void)).approved
    c2b(t, qr.make_code("01", 14), amount=300)
    expected = Totals(SideTotals(2_300, 3, 900, 1))
    assert host.journal.totals("10000001", f"{t.batch:06d}") == expected
    out_settle = t.session.settle_request(stan=t.next_stan(), batch=t.batch, totals=expected)
    assert t.session.settle_response(out_settle, t.send(out_settle)).balanced


def test_another_acquirers_qr_codes_are_refused_and_named(host):
    t = signed_in(host)
    out = qr.c2b_sale_request(t.session, stan=t.next_stan(), batch=t.batch, amount=100,
                              code=qr.make_code("03", 15), serial=SN)
    doc = {k: v for k, v in out.fields.items() if k != "64"}
    doc["3"] = "710000"
    variant = t.session._send(doc, mac=True)
    assert t.session.financial_response(variant, t.send(variant)).rc == "12"
    row = host.journal.entries(kind="financial")[-1]
    assert row.rc == "12" and "[P] posp" in row.note


def test_a_qr_payment_uploaded_in_a_batch_is_a_discrepancy_not_a_crash(host):
    from devices.payments.settlement import BatchItem

    t = signed_in(host)
    out, paid = c2b(t, qr.make_code("03", 16), amount=700)
    assert paid.approved
    item = BatchItem(stan=out.fields["11"], pan="6212345678901234567", amount=700)
    upload = t.session.batch_upload_mag_request(stan=t.next_stan(), batch=t.batch, items=[item])
    assert t.session.management_response(upload, t.send(upload)).approved
    end = t.session.batch_upload_end_request(stan=t.next_stan(), batch=t.batch, count=1, balanced=False)
    assert t.session.management_response(end, t.send(end)).approved
    closing = host.journal.entries(kind="batch_upload")[-1]
    assert closing.state == "discrepancies" and "never batch-uploaded" in closing.note


def test_the_customer_cancels_an_order_in_the_wallet(host):
    t = signed_in(host)
    out, created = order(t, 800)
    assert wallet(host).wallet("cancel", order=created.order) == {"ok": True, "state": "CLOSED",
                                                                   "refused": False}
    assert query(t, out, created).rc == "FE"
    assert wallet(host).wallet("cancel", order=created.order)["refused"] is True
    with pytest.raises(ControlError, match="no order"):
        wallet(host).wallet("pay", order="PR0")
