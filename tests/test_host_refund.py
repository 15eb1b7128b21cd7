"""Refund (0220, DE3 200000, 60.1 25) against a real host: the terminal side's builder,
the host's checks, the money given back and settlement's credit side."""

from __future__ import annotations

from dataclasses import replace

from devices.host.testing import LAB_CLOCK, lab_card, signed_in
from devices.payments import messages
from devices.payments.spec import decode_message

TODAY = f"{LAB_CLOCK:%m%d}"  # the sale's date as DE61 carries it
CHIP = lab_card("cup-debit-chip")
MAG = lab_card("cup-magstripe")
LOW = lab_card("cup-low-funds")  # 1000 fen


def test_refund_request_layout_follows_the_reference(host):
    terminal = signed_in(host)
    sale = terminal.sale(CHIP, 800)
    out = terminal.refund_request(CHIP, sale, 300, sale_date=TODAY)
    doc = decode_message(out.wire[13:])
    assert (doc["t"], doc["3"], doc["60"][:2], doc["60"][8:11]) == ("0220", "200000", "25",
                                                                    "000")
    assert doc["37"] == sale.rrn and doc["61"] == "000000000000" + TODAY
    assert doc["63"] == "000" and doc["4"] == "000000000300" and "64" in doc
    result = terminal.session.financial_response(out, terminal.send(out))
    assert result.rc == "00" and result.mac_ok and result.rrn not in (None, sale.rrn)


def test_refund_gives_the_money_back_in_parts_never_more_than_the_sale(host):
    terminal = signed_in(host)
    sale = terminal.sale(LOW, 1000)
    assert terminal.sale(LOW, 1).rc == "51"
    assert terminal.refund(LOW, sale, 600, sale_date=TODAY).rc == "00"
    assert terminal.refund(LOW, sale, 401, sale_date=TODAY).rc == "13"  # 400 left
    assert terminal.refund(LOW, sale, 400, sale_date=TODAY).rc == "00"
    assert terminal.refund(LOW, sale, 1, sale_date=TODAY).rc == "13"
    assert terminal.sale(LOW, 1000).rc == "00"  # all of it is back on the card
    rows = host.journal.entries(kind="refund")
    assert [(row.rc, row.amount, row.orig_rrn, row.state) for row in rows] == [
        ("00", 600, sale.rrn, "approved"), ("13", 401, sale.rrn, "declined"),
        ("00", 400, sale.rrn, "approved"), ("13", 1, sale.rrn, "declined")]


def test_refund_needs_this_terminals_approved_sale_of_that_card_and_day(host):
    terminal, other = signed_in(host), signed_in(host, "10000002")
    sale, foreign = terminal.sale(CHIP, 500), other.sale(CHIP, 500)
    assert terminal.refund(CHIP, foreign, 100, sale_date=TODAY).rc == "12"  # another terminal's
    assert terminal.refund(MAG, sale, 100, sale_date=TODAY, entry="swipe").rc == "12"  # card
    assert terminal.refund(CHIP, sale, 100, sale_date="0303").rc == "25"  # not that day's
    out = terminal.sale_request(CHIP, 700)
    voided = terminal.session.financial_response(out, terminal.send(out))
    assert terminal.void(CHIP, out, voided).rc == "00"
    assert terminal.refund(CHIP, voided, 100, sale_date=TODAY).rc == "25"  # voided: nothing left
    unknown = replace(sale, rrn="999999999999")
    assert terminal.refund(CHIP, unknown, 100, sale_date=TODAY).rc == "25"


def test_refund_is_a_credit_in_settlement_and_works_after_the_sales_batch_closed(host):
    terminal = signed_in(host)
    sale = terminal.sale(CHIP, 900)
    assert terminal.refund(CHIP, sale, 200, sale_date=TODAY).rc == "00"
    assert host.journal.totals("10000001", f"{terminal.batch:06d}").domestic.credit_amount == 200
    result = terminal.settle()
    assert result.balanced
    terminal.close_batch()
    terminal.signin()
    assert terminal.refund(CHIP, sale, 700, sale_date=TODAY).rc == "00"  # 隔日退货: next batch
    totals = host.journal.totals("10000001", f"{terminal.batch:06d}")
    assert (totals.domestic.credit_count, totals.domestic.credit_amount) == (1, 700)
    assert terminal.settle().balanced


def test_other_advices_are_not_supported_and_a_scripted_refund_rule_matches(host):
    terminal = signed_in(host)
    sale = terminal.sale(CHIP, 900)
    host.script.next(kind="refund", rc="05")
    assert terminal.refund(CHIP, sale, 100, sale_date=TODAY).rc == "05"
    offline = terminal.refund_request(CHIP, sale, 100, sale_date=TODAY)
    fields = {number: value for number, value in offline.fields.items() if number != "p"}
    fields["3"], fields["60"] = messages.PC_SALE, "30" + fields["60"][2:]  # an offline sale
    offline = terminal.session._send(fields, mac=True)
    assert terminal.session.financial_response(offline, terminal.send(offline)).rc == "40"
    assert host.journal.entries(tid="10000001")[-1].kind == "advice"
