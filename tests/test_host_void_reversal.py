"""Void and reversal against a real host on loopback."""

from __future__ import annotations

from devices.host.testing import LoopbackTerminal, lab_card, signed_in

CHIP = lab_card("cup-debit-chip")
MAG = lab_card("cup-magstripe")
LOW = lab_card("cup-low-funds")  # 1000 fen


def sold(terminal: LoopbackTerminal, card=CHIP, amount=1000, entry="chip"):
    out = terminal.sale_request(card, amount, entry=entry)
    result = terminal.book(out, card, terminal.session.financial_response(out, terminal.send(out)))
    assert result.rc == "00"
    return out, result


def test_void_gives_the_money_back_and_is_journaled(host):
    terminal = signed_in(host)
    out, sale = sold(terminal, LOW, 1000)
    assert terminal.sale(LOW, 1).rc == "51"
    void = terminal.void(LOW, out, sale)
    assert void.rc == "00" and void.mac_ok and void.rrn != sale.rrn
    assert terminal.sale(LOW, 1000).rc == "00"
    [row] = host.journal.entries(kind="void")
    assert (row.orig_batch, row.orig_stan, row.amount) == ("000001", out.fields["11"], 1000)
    sale_row = host.journal.entries(kind="sale")[0]
    assert sale_row.state == "voided"


def test_second_void_is_refused(host):
    terminal = signed_in(host)
    out, sale = sold(terminal)
    assert terminal.void(CHIP, out, sale).rc == "00"
    assert terminal.void(CHIP, out, sale).rc == "12"


def test_void_of_unknown_original_is_25(host):
    terminal = signed_in(host)
    out, sale = sold(terminal)
    out.fields["11"] = "999999"
    assert terminal.void(CHIP, out, sale).rc == "25"


def test_void_with_wrong_amount_or_reference(host):
    terminal = signed_in(host)
    out, sale = sold(terminal)
    wrong = type(sale)(**{**sale.__dict__, "amount": 999})
    assert terminal.void(CHIP, out, wrong).rc == "64"
    wrong = type(sale)(**{**sale.__dict__, "rrn": "000000000001"})
    assert terminal.void(CHIP, out, wrong).rc == "25"


def test_void_with_another_card_is_12(host):
    terminal = signed_in(host)
    out, sale = sold(terminal, MAG, 500, entry="swipe")
    assert terminal.void(CHIP, out, sale).rc == "12"


def test_void_of_another_terminals_sale_is_refused(host):
    seller, other = signed_in(host, "10000001"), signed_in(host, "10000002")
    out, sale = sold(seller)
    assert other.void(CHIP, out, sale).rc == "12"
    assert "belongs to terminal 10000001" in host.journal.entries(tid="10000002",
                                                                   kind="void")[0].note


def test_void_after_settlement_is_22(host):
    terminal = signed_in(host)
    out, sale = sold(terminal)
    assert terminal.settle().balanced
    terminal.close_batch()
    assert terminal.void(CHIP, out, sale).rc == "22"


def test_reversal_undoes_an_approved_sale_and_is_idempotent(host):
    terminal = signed_in(host)
    out, _ = sold(terminal, LOW, 1000)
    first = terminal.reverse(out, "98")
    assert first.rc == "00" and first.mac_ok
    again = terminal.reverse(out, "98")
    assert again.rc == "00"
    assert terminal.sale(LOW, 1000).rc == "00"  # the money came back exactly once
    assert terminal.sale(LOW, 1).rc == "51"
    rows = host.journal.entries(kind="reversal")
    assert [row.state for row in rows] == ["undone", "acknowledged"]
    assert "already reversed" in rows[1].note
    assert host.journal.entries(kind="sale")[0].state == "reversed"


def test_reversal_of_unknown_original_is_answered_00(host):
    terminal = signed_in(host)
    out = terminal.sale_request(CHIP, 100)  # never sent: the host has no such sale
    result = terminal.reverse(out, "98")
    assert result.rc == "00"
    row = host.journal.entries(kind="reversal")[0]
    assert "nothing to undo" in row.note and row.state == "acknowledged"


def test_reversal_reasons_and_auth_code(host):
    terminal = signed_in(host)
    out, sale = sold(terminal)
    assert terminal.reverse(out, "A0", auth_code=sale.auth_code).rc == "00"
    assert "MAC failure" in host.journal.entries(kind="reversal")[0].note
    rev = terminal.session.reversal_request(out, "06")
    assert "35" not in rev.fields and "52" not in rev.fields and "53" not in rev.fields
    assert rev.fields["22"] == out.fields["22"] and rev.fields["60"] == out.fields["60"]


def test_reversal_of_a_void_restores_the_sale(host):
    terminal = signed_in(host)
    out, sale = sold(terminal, LOW, 1000)
    void_out = terminal.void_request(LOW, out, sale)
    assert terminal.session.financial_response(void_out, terminal.send(void_out)).rc == "00"
    assert terminal.reverse(void_out, "98").rc == "00"
    assert terminal.sale(LOW, 1).rc == "51"  # the void's credit is gone again
    assert host.journal.entries(kind="sale")[0].state == "approved"
    assert terminal.void(LOW, out, sale).rc == "00"  # and the sale can be voided again


def test_reversal_needs_a_valid_mac(host):
    terminal = signed_in(host)
    out, _ = sold(terminal)
    rev = terminal.session.reversal_request(out, "98")
    rev.wire = rev.wire[:-1] + bytes([rev.wire[-1] ^ 1])
    assert terminal.session.financial_response(rev, terminal.send(rev)).rc == "A0"
    assert host.journal.entries(kind="sale")[0].state == "approved"
