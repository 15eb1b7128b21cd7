"""Scan-to-pay (扫码支付), both ways: the customer's payment code scanned by the terminal (C2B)
and the terminal's code paid by the customer's wallet (B2C); void, refund and settlement of
QR payments. Every outcome is checked by the witnesses: the ECR answer, the host's journal,
the slip read by camera with the QR template, and the screen."""

from __future__ import annotations

import pytest

from harness import flows
from harness.flows import qr as scan


@pytest.fixture
def phone(station, lab):
    """The bench's phone, showing what the test makes (the virtual lab's simulated one, or
    one a live inventory names by its control socket: docs/qr.md)."""
    if lab.virtual is not None and station.name in lab.virtual.stations:
        device = lab.virtual.stations[station.name].phone
    elif station.spec.phone:
        from devices.phone.control import PhoneControl

        device = PhoneControl(station.spec.phone)
    else:
        pytest.skip(f"{station.name} has no phone the rig drives (a real bench: not yet)")
    yield device
    device.withdraw()
    device.blank()


def witnessed(station, result):
    """ECR, journal, slip (approvals print one) and screen agree on ``result``."""
    return scan.check_qr_payment(station, result)


def scanned_sale(station, phone):
    """A C2B sale the wallet approves at once, witnessed."""
    sale = scan.qr_sale(station, 2_345, scan.payment_code(station, "01"), phone)
    assert sale.approved, sale
    witnessed(station, sale)
    return sale


def paid_order(station):
    """A B2C order the wallet pays, witnessed."""
    order = scan.qr_order(station, 3_456)
    assert order.approved and order.raw["flow"] == "b2c", order
    witnessed(station, order)
    return order


# The payments under test are made in the test's body (its steps are the test's); the void and
# refund cases take one already made as their precondition.
@pytest.fixture
def c2b_paid(signed_in, phone):
    return signed_in, scanned_sale(signed_in, phone)


@pytest.fixture
def b2c_paid(signed_in):
    return signed_in, paid_order(signed_in)


@pytest.mark.case("CUP-QR-C2B-001")
def test_c2b_scan_sale_approved(signed_in, phone):
    sale = scanned_sale(signed_in, phone)
    assert sale.entry == "qr" and sale.raw["wallet"] == "01" and len(sale.raw["voucher"]) == 20


@pytest.mark.case("CUP-QR-C2B-002")
def test_c2b_expired_code_is_declined(signed_in, phone):
    station = signed_in
    sale = scan.qr_sale(station, 1_200, scan.payment_code(station, "02", "expired"), phone)
    assert (sale.status, sale.rc) == ("declined", "54"), sale
    witnessed(station, sale)


@pytest.mark.case("CUP-QR-C2B-003")
def test_c2b_code_used_twice_is_declined_the_second_time(signed_in, phone):
    station = signed_in
    code = scan.payment_code(station, "03")
    first = scan.qr_sale(station, 800, code, phone)
    assert first.approved, first
    again = scan.qr_sale(station, 800, code, phone)
    assert (again.status, again.rc) == ("declined", "54"), again
    witnessed(station, again)


@pytest.mark.case("CUP-QR-C2B-004")
def test_c2b_customer_password_then_approved(signed_in, phone):
    station = signed_in
    sale = scan.qr_sale(station, 5_000, scan.payment_code(station, "03", "pending:3:approve"), phone)
    assert sale.approved, sale
    start, paid = scan.journaled_payment(station, sale)
    assert (start.rc, paid.kind, paid.rc) == ("FD", "qr_query", "00"), \
        "the sale waited for the customer (FD), a result query brought the approval"
    witnessed(station, sale)


@pytest.mark.case("CUP-QR-C2B-005")
def test_c2b_customer_never_confirms_and_the_terminal_reverses(signed_in, phone):
    station = signed_in
    sale = scan.qr_sale(station, 6_100, scan.payment_code(station, "01", "pending:forever"), phone)
    assert (sale.status, sale.reason, sale.raw.get("reversal_sent")) == ("failed", "qr_timeout", True), sale
    scan.check_qr_reversed(station, sale)


@pytest.mark.case("CUP-QR-B2C-001")
def test_b2c_code_on_screen_paid_by_the_wallet(signed_in):
    order = paid_order(signed_in)
    assert order.card is None and order.raw["order"], order


@pytest.mark.case("CUP-QR-B2C-002")
def test_b2c_unpaid_until_the_window_ends_is_reversed(signed_in):
    station = signed_in
    order = scan.qr_order(station, 990, pay=None)
    assert (order.status, order.reason) == ("failed", "qr_timeout"), order
    scan.check_qr_reversed(station, order)


@pytest.mark.case("CUP-QR-VOID-001")
def test_void_of_a_scanned_sale(c2b_paid):
    station, sale = c2b_paid
    void = scan.qr_void(station, sale)
    assert void.approved and void.raw["voucher"] == sale.raw["voucher"], void
    witnessed(station, void)
    again = scan.qr_void(station, sale)
    assert (again.status, again.reason) == ("refused", "already_voided"), again


@pytest.mark.case("CUP-QR-VOID-002")
def test_void_of_a_paid_order(b2c_paid):
    station, order = b2c_paid
    void = scan.qr_void(station, order)
    assert void.approved, void
    witnessed(station, void)


@pytest.mark.case("CUP-QR-REFUND-001")
def test_partial_refund_of_a_scanned_sale(c2b_paid):
    station, sale = c2b_paid
    part = scan.qr_refund(station, sale, 1_000)
    assert part.approved, part
    witnessed(station, part)
    too_much = scan.qr_refund(station, sale, 2_000)
    assert (too_much.status, too_much.rc) == ("declined", "13"), too_much


@pytest.mark.case("CUP-QR-REFUND-002")
def test_refund_of_a_paid_order_by_its_voucher(b2c_paid):
    station, order = b2c_paid
    refund = scan.qr_refund(station, order, by_voucher=True)
    assert refund.approved and refund.raw["voucher"] == order.raw["voucher"], refund
    witnessed(station, refund)


@pytest.mark.case("CUP-QR-SETTLE-001")
def test_settlement_counts_qr_payments_and_balances(signed_in, phone):
    station = signed_in
    assert flows.settle(station).ok, "the batch earlier tests left must close first"
    sale = scan.qr_sale(station, 1_500, scan.payment_code(station, "02"), phone)
    order = scan.qr_order(station, 2_500)
    void = scan.qr_void(station, order)
    refund = scan.qr_refund(station, sale, 500)
    card = flows.sale(station, 700, "cup-debit-chip")
    assert all(t.approved for t in (sale, order, void, refund, card)), (sale, order, void, refund, card)
    settled = flows.settle(station)
    assert settled.ok and settled.data["balanced"], settled.data
    dom = settled.data["totals"]["domestic"]
    assert (dom["debit_count"], dom["debit_amount"], dom["credit_count"], dom["credit_amount"]) == \
        (3, 4_700, 2, 3_000), dom
    assert settled.data["uploaded"] == 1, "only the chip sale: QR payments are never uploaded"
    flows.check_settlement_slip(station, settled)
