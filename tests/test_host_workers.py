"""A host of two worker processes (HostConfig.workers): the same answers as one process.

Terminals 10000001/10000003 belong to worker 0 and 10000002/10000004 to worker 1; the
kernel gives each new connection to either, so a frame often reaches the wrong worker and
its line is handed to the owner. What cannot be split by terminal -- the card's balance,
the journal, the script, a void naming another terminal's sale -- must still be one.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime

import pytest

from devices.host import AcquirerHost, HostConfigError
from devices.host.control import HostControl
from devices.host.testing import (
    LoopbackTerminal,
    card_read,
    lab_card,
    lab_config,
    terminal_config,
)
from devices.host.workers import owners
from devices.payments import framing

CHIP = lab_card("cup-debit-chip")
LOW = lab_card("cup-low-funds")  # 1000 fen


def clock() -> datetime:  # a worker is another process: its clock must be importable
    return datetime(2026, 3, 4, 5, 6, 7)


@pytest.fixture
def host(tmp_path) -> Iterator[AcquirerHost]:
    host = AcquirerHost(lab_config(clock=clock, journal_path=tmp_path / "journal.sqlite",
                                   control_path=tmp_path / "host.ctl", workers=2))
    host.start_in_thread()
    yield host
    host.stop()


def signed_in(host: AcquirerHost, tid: str) -> LoopbackTerminal:
    assert host.port is not None
    terminal = LoopbackTerminal(host.port, terminal_config(tid, host.config.terminals[tid]))
    assert terminal.signin().approved
    return terminal


def test_terminals_are_dealt_to_both_workers():
    assert owners(lab_config(workers=2, journal_path="j")) == {
        "10000001": 0, "10000002": 1, "10000003": 0, "10000004": 1}


def test_every_terminal_is_served_whichever_worker_a_connection_reaches(host):
    terminals = {tid: signed_in(host, tid) for tid in sorted(host.config.terminals)}
    # One connection per exchange: about half of them reach the worker that does not
    # own the terminal and are handed over.
    for _ in range(4):
        for terminal in terminals.values():
            result = terminal.sale(CHIP, 10)
            assert result.rc == "00" and result.mac_ok
    assert host.pool is not None and host.pool.handoffs() > 0  # 20 coins all heads: 1e-6
    assert HostControl(host.config.control_path).status()["signed_in"] == sorted(terminals)
    sales = host.journal.entries(kind="sale")
    assert len(sales) >= 16 and len({row.id for row in host.journal.entries()}) == len(
        host.journal.entries())
    assert len({row.rrn for row in sales}) == len(sales)  # workers never share a number


def test_a_line_kept_open_follows_its_terminal_and_stays_in_order(host):
    terminal = signed_in(host, "10000002")
    outs = [terminal.sale_request(CHIP, 5 + number) for number in range(3)]
    assert host.port is not None
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as sock:
        sock.sendall(b"".join(out.wire for out in outs))  # pipelined, then one by one
        replies = [framing.read_frame(sock) for _ in outs]
        more = terminal.sale_request(CHIP, 9)
        sock.sendall(more.wire)
        replies.append(framing.read_frame(sock))
    results = [terminal.session.financial_response(request, reply)
               for request, reply in zip([*outs, more], replies, strict=True)]
    assert [result.rc for result in results] == ["00"] * 4
    assert [result.amount for result in results] == [5, 6, 7, 9]


def test_a_card_balance_is_one_across_workers(host):
    on_worker_0, on_worker_1 = signed_in(host, "10000003"), signed_in(host, "10000004")  # workers 0 and 1
    out = on_worker_0.sale_request(LOW, 600)
    sale = on_worker_0.book(out, LOW, on_worker_0.session.financial_response(out, on_worker_0.send(out)))
    assert sale.rc == "00"
    assert on_worker_1.sale(LOW, 600).rc == "51"  # the other worker sees the debit
    assert on_worker_0.void(LOW, out, sale).rc == "00"
    assert on_worker_1.sale(LOW, 600).rc == "00"  # and the credit


def test_a_void_of_the_other_workers_terminals_sale_is_refused_as_foreign(host):
    on_worker_0, on_worker_1 = signed_in(host, "10000001"), signed_in(host, "10000002")  # workers 0 and 1
    out = on_worker_1.sale_request(CHIP, 700)
    sale = on_worker_1.session.financial_response(out, on_worker_1.send(out))
    assert sale.rc == "00"
    # Worker 0 holds no ledger of terminal 10000002: the journal says whose sale it was.
    void = on_worker_0.session.void_request(stan=on_worker_0.next_stan(), batch=on_worker_0.batch, amount=700,
                                  read=card_read(CHIP), pin=None, orig_batch=on_worker_0.batch,
                                  orig_stan=999_999, orig_rrn=sale.rrn)
    assert on_worker_0.session.financial_response(void, on_worker_0.send(void)).rc == "12"
    assert host.journal.entries(tid="10000001", kind="void")[-1].note.endswith(
        "belongs to terminal 10000002")


def test_a_scripted_behaviour_is_used_once_by_whichever_worker_serves_it(host):
    t1, t2 = signed_in(host, "10000001"), signed_in(host, "10000002")
    host.script.next(kind="sale", rc="05", times=2)
    assert t2.sale(CHIP, 1).rc == "05"
    assert t1.sale(CHIP, 1).rc == "05"
    assert t2.sale(CHIP, 1).rc == "00" and t1.sale(CHIP, 1).rc == "00"
    assert host.script.pending() == []
    rows = host.journal.entries(kind="sale")[-4:]
    assert [(row.rc, row.behaviour) for row in rows] == [("05", "rc 05"), ("05", "rc 05"),
                                                   ("00", None), ("00", None)]


def test_several_workers_need_a_journal_file():
    with pytest.raises(HostConfigError, match="journal_path"):
        lab_config(workers=2)
    with pytest.raises(HostConfigError, match="at least 1"):
        lab_config(workers=0)
