"""Ingenico Concert E+: the message layouts, the ENQ/ACK session on the wire, and the
simulated terminal speaking it to the Concert driver, where the same flows pass."""

from __future__ import annotations

import threading

import pytest

from devices.channels import PtyPort, open_serial
from devices.terminal.concert import (
    ConcertAnswer,
    ConcertFormatError,
    ConcertLink,
    ConcertRequest,
    Report,
)
from devices.terminal.concert_driver import ConcertTerminal, UnsupportedCommand
from devices.terminal.link import ACK, ENQ, EOT, NAK, FrameDecoder, LinkError, encode_frame
from devices.terminal.testing import PROFILE

pytestmark = pytest.mark.bench(dialect="concert")


def test_request_layout_is_34_characters_in_concert_order():
    text = ConcertRequest(amount=12_345, transaction="debit", pos_number=3).encode()
    assert text == b"03" b"00012345" b"1" b"1" b"0" b"156" + b" " * 10 + b"A010" b"B010"
    assert len(text) == 34
    back = ConcertRequest.decode(ConcertRequest(amount=5, transaction="cancellation",
                                                private="0001000007").encode())
    assert (back.amount, back.transaction, back.private) == (5, "cancellation", "0001000007")
    with pytest.raises(ConcertFormatError, match="34 characters"):
        ConcertRequest.decode(b"0100012345")
    with pytest.raises(ConcertFormatError, match="unknown transaction type '9'"):
        ConcertRequest.decode(text[:12] + b"9" + text[13:])


def test_answer_layout_with_and_without_the_report():
    report = Report(card="621234******0019", entry="chip", rc="00", auth_code="123456",
                    rrn="112233445566", trace=42, batch=7)
    full = ConcertAnswer(result="0", amount=12_345, report=report, private="0007000042").encode()
    assert len(full) == 80 and full[:12] == b"010000123451"
    assert full[12:67] == b"621234******0019   C00123456112233445566000042000007   "
    assert ConcertAnswer.decode(full).report == report
    short = ConcertAnswer(result="7", amount=100).encode()
    assert len(short) == 25 and ConcertAnswer.decode(short).report is None


class Peer:
    """The other end of a Concert line, byte by byte."""

    def __init__(self) -> None:
        self.pty = PtyPort()
        self.pty.timeout = 2.0
        self.decoder = FrameDecoder()
        self.items: list = []

    def next(self):
        while not self.items:
            data = self.pty.read(256)
            assert data, "nothing on the line within 2 s"
            self.items.extend(self.decoder.feed(data))
        return self.items.pop(0)


def test_a_session_is_enq_ack_message_ack_eot_and_a_nak_repeats_the_message():
    peer = Peer()
    link = ConcertLink(open_serial(peer.pty.path), name="test Concert port", ack_timeout=1.0)
    try:
        sender = threading.Thread(target=link.send, args=(b"HELLO",))
        sender.start()
        assert peer.next().kind == "enq"
        peer.pty.write(bytes([ACK]))
        assert peer.next().payload == b"HELLO"
        peer.pty.write(bytes([NAK]))
        assert peer.next().payload == b"HELLO"
        peer.pty.write(bytes([ACK]))
        assert peer.next().kind == "eot"
        sender.join(timeout=3)
        assert not sender.is_alive()
        # the other way: the peer opens a session, the link answers and queues the message
        peer.pty.write(bytes([ENQ]))
        assert peer.next().kind == "ack"
        peer.pty.write(encode_frame(b"ANSWER") + bytes([EOT]))
        assert peer.next().kind == "ack"
        assert link.receive(2) == b"ANSWER"
    finally:
        link.close()
        peer.pty.close()


def test_an_unanswered_enq_gives_up_with_advice():
    peer = Peer()
    link = ConcertLink(open_serial(peer.pty.path), name="test Concert port", ack_timeout=0.2,
                       repeats=2)
    try:
        with pytest.raises(LinkError, match=r"ENQ not answered after 3 tries.*cash-register mode"):
            link.send(b"X")
    finally:
        link.close()
        peer.pty.close()


def test_debit_over_concert_signs_in_by_itself_and_agrees_with_the_host(bench):
    sale = bench.sale(12_345, "cup-debit-chip")  # prompts come from the debug console
    assert (sale.status, sale.data["result"], sale.data["entry"]) == ("approved", "0", "chip")
    assert [e.kind for e in bench.journal()] == ["signin", "sale"]
    host = bench.journal("sale")[-1]
    assert (host.amount, host.pan_masked, int(host.stan), host.rrn, host.auth_code) == \
        (12_345, sale.data["card"], sale.data["trace"], sale.data["rrn"], sale.data["auth_code"])


def test_a_declined_debit_is_result_7_with_the_host_code(bench):
    sale = bench.sale(50_000, "cup-low-funds")
    assert (sale.status, sale.data["result"], sale.data["rc"]) == ("declined", "7", "51")


def test_a_lost_host_answer_is_result_9_and_the_reversal_precedes_the_next_debit(bench):
    bench.host.script.next(tid=bench.tid, kind="sale", drop=True)
    lost = bench.sale(3_000, "cup-debit-chip")
    assert (lost.status, lost.data["result"]) == ("failed", "9")
    assert bench.sale(1_000, "cup-debit-chip").status == "approved"
    assert [e.kind for e in bench.journal()] == ["signin", "sale", "reversal", "sale"]
    assert bench.journal("sale")[0].state == "reversed"


def test_cancellation_over_concert_asks_the_supervisor_on_the_keypad(bench):
    sale = bench.sale(4_000, "cup-debit-chip")
    pending = bench.terminal.send("void", trace=sale.data["trace"])
    bench.type_supervisor_password()
    cancelled = bench.pay(pending, "cup-debit-chip")
    assert cancelled.status == "approved"
    assert bench.journal("sale")[-1].state == "voided"
    # without the original's private field: the last sale of that amount
    second = bench.sale(2_000, "cup-debit-chip")
    pending = bench.terminal.send("void", amount=2_000)
    bench.type_supervisor_password()
    assert bench.pay(pending, "cup-debit-chip").status == "approved"
    assert bench.journal("void")[-1].orig_stan == f"{second.data['trace']:06d}"


def test_credit_over_concert_refunds_the_last_sale_after_the_supervisor_password(bench):
    nothing = bench.terminal.call("refund", amount=1_000, timeout=20)
    assert (nothing.status, nothing.data["result"]) == ("refused", "7"), "no sale to refund yet"
    sale = bench.sale(6_000, "cup-debit-chip")
    pending = bench.terminal.send("refund", amount=1_000)
    bench.type_supervisor_password()
    credit = bench.pay(pending, "cup-debit-chip")
    assert (credit.status, credit.data["amount"]) == ("approved", 1_000)
    assert bench.journal("refund")[-1].orig_rrn == sale.data["rrn"]


def test_commands_concert_cannot_express_are_refused_by_the_driver(bench):
    for cmd in ("login", "signin", "settle", "status", "reprint"):
        with pytest.raises(UnsupportedCommand, match="Concert has no message"):
            bench.terminal.send(cmd)
    with pytest.raises(UnsupportedCommand, match="typed on the terminal's keypad"):
        bench.terminal.send("void", trace=1, supervisor_password="123456")


def test_without_a_console_the_driver_infers_only_insert_card(bench):
    bare = ConcertTerminal(bench.sim.url, station="bench-t")
    bench.terminal.close()
    bench.terminal = bare
    try:
        pending = bare.send("sale", amount=1_000)
        assert bare.expect_prompt("insert_card", timeout=1).data["source"] == "inferred"
        bench.present("cup-debit-chip", "tap")
        bench.robot.return_card()
        assert pending.result(20).status == "approved"
    finally:
        bare.close()


def test_the_harness_flows_pass_over_concert(bench):
    """flows.sale and flows.void, unchanged, with a Concert terminal in the station."""
    from devices.terminal.testing import MAGAZINE
    from harness import flows
    from harness.hostlink import HostLink
    from harness.inventory import RobotSpec, StationSpec, TerminalSpec
    from harness.profiles import load_profile
    from harness.station import Station

    spec = StationSpec("bench-t", TerminalSpec(PROFILE, bench.tid, bench.sim.url),
                       RobotSpec("sim://robot"), dict(MAGAZINE))
    station = Station(spec, load_profile(PROFILE), bench.cards, bench.terminal, bench.robot,
                      HostLink(None, bench.host), bench.relay)
    sale = flows.sale(station, 7_700, "cup-debit-chip")
    assert (sale.status, sale.entry, sale.amount) == ("approved", "chip", 7_700)
    void = flows.void(station, sale, "cup-debit-chip")
    assert void.status == "approved"
    assert [e.kind for e in bench.journal()] == ["signin", "sale", "void"]
    assert station.robot.holding is None
