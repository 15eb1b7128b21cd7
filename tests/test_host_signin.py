"""Sign-in against a real host on loopback, every key mode, real crypto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from devices.host import AcquirerHost, TerminalKeys
from devices.host.testing import LoopbackTerminal, lab_card, lab_config, terminal_config

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
CLOCK = datetime(2026, 3, 4, 5, 6, 7)


@pytest.fixture
def host() -> Iterator[AcquirerHost]:
    cfg = lab_config(clock=lambda: CLOCK)
    cfg.terminals.update({
        "20000001": TerminalKeys(TMK, key_mode="001"),
        "20000004": TerminalKeys(TMK, key_mode="004"),
        "20000052": TerminalKeys(TMK, key_mode="004", key_layout=52),
        "20000019": TerminalKeys(TMK, mac_alg="x9.19"),
        "20000042": TerminalKeys(TMK, mid="898100099990001"),
    })
    host = AcquirerHost(cfg)
    host.start_in_thread()
    yield host
    host.stop()


def make_terminal(host: AcquirerHost, tid: str, **overrides) -> LoopbackTerminal:
    assert host.port is not None
    return LoopbackTerminal(host.port, terminal_config(tid, host.config.terminals[tid],
                                                       **overrides))


@pytest.mark.parametrize("tid", ["10000001", "20000001", "20000004", "20000052", "20000019"])
def test_signin_installs_working_keys_that_then_work(host, tid):
    terminal = make_terminal(host, tid)
    result = terminal.signin()
    assert result.approved and terminal.session.signed_in
    assert result.host_datetime == CLOCK.replace(year=datetime.now().year)
    # the keys are right if a PIN'd, MAC'd sale goes through
    sale = terminal.sale(lab_card("cup-debit-chip"), 100)
    assert sale.rc == "00" and sale.mac_ok
    entry = host.journal.entries(tid=tid, kind="signin")[0]
    assert entry.rc == "00" and entry.note.startswith("key mode")


def test_batch_adopted_then_kept(host):
    terminal = make_terminal(host, "10000002")
    terminal.batch = 42
    assert terminal.signin().batch == "000042"
    terminal.batch = 1  # the terminal lost its batch: the host's stands
    assert terminal.signin().batch == "000042"


def test_first_signin_with_zero_batch_gets_first_batch(host):
    terminal = make_terminal(host, "10000003")
    terminal.batch = 0
    assert terminal.signin().batch == "000001"


def test_each_signin_gives_fresh_keys(host):
    terminal = make_terminal(host, "10000001")
    terminal.signin()
    first = terminal.session._keys.mak.reveal()
    terminal.signin()
    assert terminal.session._keys.mak.reveal() != first


def test_unknown_terminal_is_97(host):
    cfg = terminal_config("99999999", TerminalKeys(TMK))
    terminal = LoopbackTerminal(host.port, cfg)
    result = terminal.signin()
    assert result.rc == "97" and not terminal.session.signed_in
    assert host.journal.entries(tid="99999999")[0].rc == "97"


def test_wrong_merchant_is_03(host):
    terminal = make_terminal(host, "20000042", mid="898100012340001")
    assert terminal.signin().rc == "03"


def test_terminal_with_other_tmk_rejects_keys(host):
    from devices.payments.terminal_side import ProtocolError
    terminal = make_terminal(host, "10000001", tmk=bytes(16))
    with pytest.raises(ProtocolError, match="check value"):
        terminal.signin()
    assert not terminal.session.signed_in


def test_key_mode_differing_from_profile_is_served_and_noted(host):
    terminal = make_terminal(host, "10000001", key_mode="004")
    assert terminal.signin().approved
    assert "profile says 003" in host.journal.entries(tid="10000001")[0].note
