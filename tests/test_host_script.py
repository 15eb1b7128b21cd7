"""Scripted behaviours, from Python and over the control channel."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import datetime

import pytest

from devices.host import AcquirerHost
from devices.host.control import ControlError, HostControl
from devices.host.script import Behaviour, ScriptError
from devices.host.testing import LoopbackTerminal, lab_card, lab_config, terminal_config
from devices.payments.framing import FramingError
from devices.payments.terminal_side import MacError, ProtocolError

CLOCK = datetime(2026, 3, 4, 5, 6, 7)
CHIP = lab_card("cup-debit-chip")
LOW = lab_card("cup-low-funds")  # 1000 fen


@pytest.fixture
def host(tmp_path) -> Iterator[AcquirerHost]:
    host = AcquirerHost(lab_config(clock=lambda: CLOCK, control_path=tmp_path / "host.ctl"))
    host.start_in_thread()
    yield host
    host.stop()


def signed_in(host: AcquirerHost, tid: str = "10000001", timeout: float = 10.0):
    assert host.port is not None
    terminal = LoopbackTerminal(host.port, terminal_config(tid, host.config.terminals[tid]),
                         timeout=timeout)
    assert terminal.signin().approved
    return terminal


def test_scripted_rc_is_answered_without_booking(host):
    terminal = signed_in(host)
    host.script.next(rc="05")
    result = terminal.sale(LOW, 1000)
    assert result.rc == "05" and result.mac_ok  # a scripted decline is MAC'd like a real one
    assert terminal.sale(LOW, 1000).rc == "00"  # nothing was debited by the scripted one
    first = host.journal.entries(kind="sale")[0]
    assert (first.rc, first.behaviour, first.amount) == ("05", "rc 05", 1000)
    assert host.journal.entries(kind="sale")[1].behaviour is None


def test_per_terminal_and_per_kind_rules(host):
    terminal_1, terminal_2 = signed_in(host, "10000001"), signed_in(host, "10000002")
    host.script.next(tid="10000002", kind="sale", rc="51")
    host.script.next(kind="signin", rc="97")
    assert terminal_1.sale(CHIP, 100).rc == "00"
    assert terminal_1.signin().rc == "97"
    assert terminal_2.sale(CHIP, 100).rc == "51"
    assert terminal_2.sale(CHIP, 100).rc == "00"
    assert host.script.pending() == []


def test_always_until_cleared(host):
    terminal = signed_in(host)
    host.script.always(tid="10000001", rc="96")
    assert [terminal.sale(CHIP, 10).rc for _ in range(3)] == ["96"] * 3
    host.script.clear("10000001")
    assert terminal.sale(CHIP, 10).rc == "00"


def test_delay_is_journaled(host):
    terminal = signed_in(host)
    host.script.next(delay_ms=30)
    assert terminal.sale(CHIP, 10).rc == "00"
    assert host.journal.entries(kind="sale")[0].behaviour == "delay 30 ms"


def test_drop_books_the_sale_and_the_98_reversal_undoes_it(host):
    terminal = signed_in(host, timeout=0.5)
    host.script.next(kind="sale", drop=True)
    out = terminal.sale_request(LOW, 1000)
    with pytest.raises(TimeoutError):
        terminal.send(out)
    row = host.journal.entries(kind="sale")[0]
    assert (row.rc, row.state, row.behaviour) == ("00", "approved", "drop")
    assert terminal.reverse(out, "98").rc == "00"
    assert host.journal.entries(kind="sale")[0].state == "reversed"
    assert terminal.sale(LOW, 1000).rc == "00"


def test_close_loses_the_answer(host):
    terminal = signed_in(host)
    host.script.next(close=True)
    with pytest.raises(FramingError, match="closed"):
        terminal.sale(CHIP, 10)
    assert host.journal.entries(kind="sale")[0].behaviour == "close"


def test_corrupt_mac_makes_the_terminal_reverse_with_a0(host):
    terminal = signed_in(host)
    host.script.next(kind="sale", corrupt_mac=True)
    out = terminal.sale_request(LOW, 1000)
    with pytest.raises(MacError) as exc:
        terminal.session.financial_response(out, terminal.send(out))
    assert exc.value.reversal_reason == "A0"
    assert terminal.reverse(out, exc.value.reversal_reason).rc == "00"
    assert terminal.sale(LOW, 1000).rc == "00"


def test_unbalanced_settlement_on_demand(host):
    terminal = signed_in(host)
    host.script.next(kind="settlement", unbalanced=True)
    result = terminal.settle()
    assert (result.domestic_flag, result.foreign_flag) == ("2", "2")
    assert host.journal.entries(kind="settlement")[0].state == "unbalanced"


def test_order_resign_in_header(host):
    terminal = signed_in(host)
    host.script.next(resign=True)
    result = terminal.sale(CHIP, 10)
    assert result.rc == "00" and result.proc_req == 3
    assert host.journal.entries(kind="sale")[0].behaviour == "resign"


def test_scripted_amount_is_answered_and_journaled_but_not_booked(host):
    terminal = signed_in(host)
    host.script.next(kind="sale", amount=999)
    out = terminal.sale_request(LOW, 500)
    with pytest.raises(ProtocolError, match="DE4 is '000000000999'") as info:
        terminal.session.financial_response(out, terminal.send(out))
    assert info.value.rc == "00"
    row = host.journal.entries(kind="sale")[-1]
    assert (row.amount, row.behaviour, row.state) == (999, "amount 999", "approved")
    assert terminal.sale(LOW, 500).rc == "00"  # 500 was debited, not 999: 1000 - 500 left
    assert terminal.sale(LOW, 1).rc == "51"
    assert Behaviour(amount=0).to_dict() == {"amount": 0}


def test_bad_scripts_are_refused():
    with pytest.raises(ScriptError, match="unknown behaviour"):
        Behaviour.from_dict({"explode": True})
    with pytest.raises(ScriptError, match="pick one"):
        Behaviour(drop=True, close=True)
    with pytest.raises(ScriptError, match="2 characters"):
        Behaviour(rc="5")
    with pytest.raises(ScriptError, match="amount must be"):
        Behaviour(amount=-1)


def test_control_channel_scripts_a_host_in_another_process(host, tmp_path):
    path = tmp_path / "host.ctl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ctl = HostControl(path)
    terminal = signed_in(host)
    ctl.next(tid="10000001", kind="sale", rc="51")
    assert ctl.pending()[0]["behaviour"] == {"rc": "51"}
    assert terminal.sale(CHIP, 10).rc == "51"
    assert ctl.status()["signed_in"] == ["10000001"]
    [row] = ctl.entries(kind="sale")
    assert row["rc"] == "51" and row["pan_masked"] == "621234******0019"
    ctl.always(corrupt_mac=True)
    ctl.clear()
    assert ctl.pending() == []
    with pytest.raises(ControlError, match="unknown behaviour"):
        ctl.next(explode=True)
    with pytest.raises(ControlError, match="Is the host running"):
        HostControl(tmp_path / "nothing.ctl").status()


def test_clock_shift_moves_one_exchange_of_one_terminal(host):
    t1, t2 = signed_in(host), signed_in(host, "10000002")
    host.script.next(tid="10000001", kind="signin", clock_shift_s=86400 + 60)
    shifted = t1.signin()
    assert shifted.host_datetime is not None
    assert shifted.host_datetime.strftime("%m%d%H%M%S") == "0305050707"  # CLOCK + 1 d 1 min
    assert t2.signin().host_datetime.strftime("%m%d%H%M%S") == "0304050607"
    assert t1.signin().host_datetime.strftime("%m%d") == "0304"  # used once
    rows = host.journal.entries(tid="10000001", kind="signin")
    assert rows[-2].at.startswith("2026-03-05T05:07:07") and rows[-2].behaviour == "clock +86460 s"
    with pytest.raises(ScriptError, match="ten years"):
        Behaviour(clock_shift_s=400 * 86400 * 10)
