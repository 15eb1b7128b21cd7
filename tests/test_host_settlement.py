"""Settlement, batch upload, sign-off and echo against a real host on loopback."""

from __future__ import annotations

from devices.host.testing import LoopbackTerminal, lab_card, signed_in
from devices.payments.settlement import BatchItem, Totals

CHIP = lab_card("cup-debit-chip")
MAG = lab_card("cup-magstripe")


def busy_batch(terminal: LoopbackTerminal) -> None:
    out = terminal.sale_request(CHIP, 1500)
    sale = terminal.book(out, CHIP, terminal.session.financial_response(out, terminal.send(out)))
    assert terminal.sale(MAG, 700, entry="swipe").rc == "00"
    assert terminal.sale(CHIP, 300, entry="contactless", pin=None).rc == "00"
    assert terminal.void(CHIP, out, sale).rc == "00"
    doomed = terminal.sale_request(MAG, 999, entry="swipe")
    terminal.session.financial_response(doomed, terminal.send(doomed))
    assert terminal.reverse(doomed).rc == "00"


def test_balanced_settlement_then_ic_upload_and_207(host):
    terminal = signed_in(host)
    busy_batch(terminal)
    totals = Totals.of(terminal.items.values())
    assert (totals.domestic.debit_count, totals.domestic.debit_amount) == (3, 2500)
    assert (totals.domestic.credit_count, totals.domestic.credit_amount) == (1, 1500)
    result = terminal.settle()
    assert result.balanced and result.rc == "00"
    assert host.journal.totals("10000001", "000001") == totals
    answers = terminal.upload(result)
    assert [answer.rc for answer in answers] == ["00"] * len(answers) and len(answers) == 4  # 3 IC + end
    rows = host.journal.entries(kind="batch_upload")
    assert rows[-1].note.startswith("207 end of upload, 3 records: all records match")
    settle_row = host.journal.entries(kind="settlement")[0]
    assert settle_row.state == "balanced" and "D 3/2500 C 1/1500" in settle_row.note


def test_unbalanced_settlement_then_mag_upload_and_202(host):
    terminal = signed_in(host)
    busy_batch(terminal)
    terminal.items["999999"] = BatchItem(stan="999999", pan=MAG.pan, amount=1)  # host never saw it
    result = terminal.settle()
    assert (result.domestic_flag, result.foreign_flag) == ("2", "1") and not result.balanced
    answers = terminal.upload(result)
    assert all(answer.rc == "00" for answer in answers)
    end = host.journal.entries(kind="batch_upload")[-1]
    assert end.note.startswith("202 end of upload, 5 records")
    assert "trace 999999: no approved transaction" in end.note
    assert end.state == "discrepancies"


def test_empty_batch_settles_balanced_and_batch_moves_on(host):
    terminal = signed_in(host)
    result = terminal.settle()
    assert result.balanced
    assert [answer.rc for answer in terminal.upload(result)] == ["00"]  # 207 with count 0000
    terminal.close_batch()
    assert terminal.signin().batch == "000002"
    assert terminal.sale(CHIP, 100).rc == "00"


def test_sale_in_a_settled_batch_is_refused(host):
    terminal = signed_in(host)
    assert terminal.settle().balanced
    assert terminal.sale(CHIP, 100).rc == "22"


def test_settlement_with_malformed_de48_is_30(host):
    terminal = signed_in(host)
    out = terminal.session.settle_request(stan=terminal.next_stan(), batch=1, totals=Totals())
    out.fields["48"] = "12345"
    from devices.payments import messages
    out.wire = messages.pack(dict(out.fields), tpdu=out.wire[2:7], header=out.wire[7:13])
    result = terminal.session.settle_response(out, terminal.send(out))
    assert result.rc == "30"


def test_signoff_forgets_keys_and_echo_answers(host):
    terminal = signed_in(host)
    echo = terminal.session.echo_request(batch=1)
    assert "11" not in echo.fields
    answered = terminal.session.management_response(echo, terminal.send(echo))
    assert answered.approved and not answered.signed_off
    assert terminal.session.signed_in  # an echo keeps the working keys
    off = terminal.session.signoff_request(stan=terminal.next_stan(), batch=1)
    assert terminal.session.management_response(off, terminal.send(off)).approved
    assert not terminal.session.signed_in
    assert host.core.terminals["10000001"].working is None
    assert [row.kind for row in host.journal.entries()][-2:] == ["echo", "signoff"]
