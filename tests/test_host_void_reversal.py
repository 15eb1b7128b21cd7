"""Void and reversal against a real host on loopback."""

from __future__ import annotations

from devices.host.testing import LoopbackTerminal, lab_card, signed_in

CHIP = lab_card("cup-debit-chip")
MAG = lab_card("cup-magstripe")
LOW = lab_card("cup-low-funds")  # 1000 fen


def sold(t: LoopbackTerminal, card=CHIP, amount=1000, entry="chip"):
    out = t.sale_request(card, amount, entry=entry)
    result = t.book(out, card, t.session.financial_response(out, t.send(out)))
    assert result.rc == "00"
    return out, result


def test_void_gives_the_money_back_and_is_journaled(host):
    t = signed_in(host)
    out, sale = sold(t, LOW, 1000)
    assert t.sale(LOW, 1).rc == "51"
    void = t.void(LOW, out, sale)
    assert void.rc == "00" and void.mac_ok and void.rrn != sale.rrn
    assert t.sale(LOW, 1000).rc == "00"
    [row] = host.journal.entries(kind="void")
    assert (row.orig_batch, row.orig_stan, row.amount) == ("000001", out.fields["11"], 1000)
    sale_row = host.journal.entries(kind="sale")[0]
    assert sale_row.state == "voided"


def test_second_void_is_refused(host):
    t = signed_in(host)
    out, sale = sold(t)
    assert t.void(CHIP, out, sale).rc == "00"
    assert t.void(CHIP, out, sale).rc == "12"


def test_void_of_unknown_original_is_25(host):
    t = signed_in(host)
    out, sale = sold(t)
    out.fields["11"] = "999999"
    assert t.void(CHIP, out, sale).rc == "25"


def test_void_with_wrong_amount_or_reference(host):
    t = signed_in(host)
    out, sale = sold(t)
    wrong = type(sale)(**{**sale.__dict__, "amount": 999})
    assert t.void(CHIP, out, wrong).rc == "64"
    wrong = type(sale)(**{**sale.__dict__, "rrn": "000000000001"})
    assert t.void(CHIP, out, wrong).rc == "25"


def test_void_with_another_card_is_12(host):
    t = signed_in(host)
    out, sale = sold(t, MAG, 500, entry="swipe")
    assert t.void(CHIP, out, sale).rc == "12"


def test_void_of_another_terminals_sale_is_refused(host):
    a, b = signed_in(host, "10000001"), signed_in(host, "10000002")
    out, sale = sold(a)
    assert b.void(CHIP, out, sale).rc == "12"
    assert "belongs to terminal 10000001" in host.journal.entries(tid="10000002",
                                                                   kind="void")[0].note


def test_void_after_settlement_is_22(host):
    t = signed_in(host)
    out, sale = sold(t)
    assert t.settle().balanced
    t.close_batch()
    assert t.void(CHIP, out, sale).rc == "22"


def test_reversal_undoes_an_approved_sale_and_is_idempotent(host):
    t = signed_in(host)
    out, _ = sold(t, LOW, 1000)
    first = t.reverse(out, "98")
    assert first.rc == "00" and first.mac_ok
    again = t.reverse(out, "98")
    assert again.rc == "00"
    assert t.sale(LOW, 1000).rc == "00"  # the money came back exactly once
    assert t.sale(LOW, 1).rc == "51"
    rows = host.journal.entries(kind="reversal")
    assert [r.state for r in rows] == ["undone", "acknowledged"]
    assert "already reversed" in rows[1].note
    assert host.journal.entries(kind="sale")[0].state == "reversed"


def test_reversal_of_unknown_original_is_answered_00(host):
    t = signed_in(host)
    out = t.sale_request(CHIP, 100)  # never sent: the host has no such sale
    result = t.reverse(out, "98")
    assert result.rc == "00"
    row = host.journal.entries(kind="reversal")[0]
    assert "nothing to undo" in row.note and row.state == "acknowledged"


def test_reversal_reasons_and_auth_code(host):
    t = signed_in(host)
    out, sale = sold(t)
    assert t.reverse(out, "A0", auth_code=sale.auth_code).rc == "00"
    assert "MAC failure" in host.journal.entries(kind="reversal")[0].note
    rev = t.session.reversal_request(out, "06")
    assert "35" not in rev.fields and "52" not in rev.fields and "53" not in rev.fields
    assert rev.fields["22"] == out.fields["22"] and rev.fields["60"] == out.fields["60"]


def test_reversal_of_a_void_restores_the_sale(host):
    t = signed_in(host)
    out, sale = sold(t, LOW, 1000)
    void_out = t.void_request(LOW, out, sale)
    assert t.session.financial_response(void_out, t.send(void_out)).rc == "00"
    assert t.reverse(void_out, "98").rc == "00"
    assert t.sale(LOW, 1).rc == "51"  # the void's credit is gone again
    assert host.journal.entries(kind="sale")[0].state == "approved"
    assert t.void(LOW, out, sale).rc == "00"  # and the sale can be voided again


def test_reversal_needs_a_valid_mac(host):
    t = signed_in(host)
    out, _ = sold(t)
    rev = t.session.reversal_request(out, "98")
    rev.wire = rev.wire[:-1] + bytes([rev.wire[-1] ^ 1])
    assert t.session.financial_response(rev, t.send(rev)).rc == "A0"
    assert host.journal.entries(kind="sale")[0].state == "approved"
