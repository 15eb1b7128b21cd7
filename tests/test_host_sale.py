"""Sales against a real host on loopback: every check the host makes, real crypto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from devices import events
from devices.host import AcquirerHost, TerminalKeys
from devices.host.testing import LoopbackTerminal, lab_card, lab_config, signed_in, terminal_config
from devices.payments import messages
from devices.payments.spec import decode_message

CLOCK = datetime(2026, 3, 4, 5, 6, 7)
CHIP = lab_card("cup-debit-chip")  # service code 220, PIN 123456, contactless
MAG = lab_card("cup-magstripe")  # service code 101
EXPIRED = lab_card("cup-expired")
LOW = lab_card("cup-low-funds")  # 1000 fen


@pytest.fixture
def host() -> Iterator[AcquirerHost]:
    cfg = lab_config(clock=lambda: CLOCK)
    cfg.terminals["20000004"] = TerminalKeys(cfg.terminals["10000004"].tmk, key_mode="004")
    host = AcquirerHost(cfg)
    host.start_in_thread()
    yield host
    host.stop()


@pytest.mark.parametrize(("card", "entry", "pin"), [
    (CHIP, "chip", "card"), (CHIP, "contactless", None), (MAG, "swipe", "card"),
    (CHIP, "fallback", "card"), (MAG, "swipe", None)])
def test_approved_sale_by_entry_mode(host, card, entry, pin):
    terminal = signed_in(host)
    result = terminal.sale(card, 1234, entry=entry, pin=pin)
    assert result.rc == "00" and result.approved and result.mac_ok
    assert len(result.rrn) == 12 and len(result.auth_code) == 6
    assert (result.host_date, result.host_time) == ("0304", "050607")
    [entry_row] = host.journal.entries(tid="10000001", kind="sale")
    assert entry_row.entry_mode == entry and entry_row.amount == 1234
    assert entry_row.rrn == result.rrn and entry_row.auth_code == result.auth_code
    assert entry_row.pan_masked == card.masked_pan and entry_row.state == "approved"


def test_004_session_with_encrypted_track(host):
    terminal = signed_in(host, "20000004")
    assert terminal.sale(MAG, 500, entry="swipe").rc == "00"
    assert terminal.sale(CHIP, 500, entry="chip").rc == "00"


def test_wrong_pin_is_55(host):
    terminal = signed_in(host)
    result = terminal.sale(CHIP, 100, pin="999999")
    assert result.rc == "55" and not result.approved and result.mac_ok
    assert host.journal.entries(kind="sale")[0].note == "wrong PIN"


def test_expired_card_is_54(host):
    assert signed_in(host).sale(EXPIRED, 100).rc == "54"


def test_balance_is_kept_across_sales(host):
    terminal = signed_in(host)
    assert terminal.sale(LOW, 600).rc == "00"
    assert terminal.sale(LOW, 600).rc == "51"
    assert terminal.sale(LOW, 400).rc == "00"


def test_chip_card_swiped_without_fallback_is_refused(host):
    assert signed_in(host).sale(CHIP, 100, entry="swipe").rc == "45"


def test_chip_entry_without_chip_data_is_30(host):
    terminal = signed_in(host)
    out = terminal.sale_request(CHIP, 100)
    doc = {number: value for number, value in out.fields.items() if number not in ("55", "p")}
    out.wire = messages.pack(doc, tpdu=out.wire[2:7], header=out.wire[7:13],
                      mak=terminal.session._keys.mak)
    out.fields = doc
    result = terminal.session.financial_response(out, terminal.send(out))
    assert result.rc == "30" and result.mac_ok
    assert "DE55" in host.journal.entries(kind="sale")[0].note


def test_bad_mac_is_a0_without_mac_and_with_echoes(host):
    terminal = signed_in(host)
    out = terminal.sale_request(CHIP, 100)
    out.wire = out.wire[:-1] + bytes([out.wire[-1] ^ 1])
    reply = terminal.send(out)
    doc = decode_message(reply[13:])
    assert doc["39"] == "A0" and "64" not in doc
    assert all(doc[number] == out.fields[number] for number in ("3", "4", "11", "41", "42"))
    result = terminal.session.financial_response(out, reply)
    assert result.rc == "A0" and not result.mac_ok
    row = host.journal.entries(kind="sale")[0]
    assert row.rc == "A0" and row.note == "MAC does not verify"


def test_sale_before_signin_is_a0_with_order_to_sign_in(host):
    terminal = signed_in(host)
    other = LoopbackTerminal(host.port, terminal_config("10000002",
                                                        host.config.terminals["10000002"]))
    other.session._keys = terminal.session._keys  # keys the host never gave this terminal
    result = other.sale(CHIP, 100)
    assert result.rc == "A0" and result.proc_req == messages.PROC_SIGNIN


def test_unknown_card_is_14(host):
    from devices.cards import Card
    stranger = Card("x", "6212349999999990", "3012", "101", "1234")  # Luhn-valid, not issued
    assert signed_in(host).sale(stranger, 100, entry="swipe").rc == "14"


def test_reused_trace_is_94(host):
    terminal = signed_in(host)
    assert terminal.sale(CHIP, 100).rc == "00"
    terminal.stan -= 1
    assert terminal.sale(CHIP, 100).rc == "94"


def test_nothing_secret_reaches_journal_or_log(host, tmp_path):
    lines: list[str] = []
    unsubscribe = events.subscribe(
        lambda event: lines.append(event.text) if isinstance(event, events.LogEvent) else None)
    try:
        terminal = signed_in(host, "20000004")
        out = terminal.sale_request(CHIP, 777)
        terminal.session.financial_response(out, terminal.send(out))
        terminal.sale(MAG, 100, entry="swipe", pin="987654")
    finally:
        unsubscribe()
    secrets = [CHIP.pan, MAG.pan, out.fields["52"], out.fields["35"],
               terminal.session._keys.pik.reveal().hex().upper(),
               terminal.session._keys.mak.reveal().hex().upper(),
               host.config.terminals["20000004"].tmk.hex().upper()]
    log = "\n".join(lines).upper()
    journal = "\n".join(repr(entry) for entry in host.journal.entries()).upper()
    assert lines and "621234******0019" in log
    for secret in secrets:
        assert secret not in log and secret not in journal
    for pin in (CHIP.pin, MAG.pin, "987654"):
        assert f"={pin}" not in log


def test_file_journal_readable_by_another_reader_and_free_of_pans(tmp_path):
    path = tmp_path / "journal.sqlite"
    host = AcquirerHost(lab_config(journal_path=path, clock=lambda: CLOCK))
    host.start_in_thread()
    try:
        terminal = signed_in(host)
        assert terminal.sale(CHIP, 100).rc == "00"
        from devices.host import Journal
        reader = Journal.open(path)
        assert [entry.kind for entry in reader.entries(tid="10000001")] == ["signin", "sale"]
        reader.close()
    finally:
        host.stop()
    raw = b"".join(file.read_bytes() for file in tmp_path.iterdir())
    assert CHIP.pan.encode() not in raw and b"123456" not in raw.replace(b"0123456", b"")
