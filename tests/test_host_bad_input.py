"""Hostile and broken input: the host answers 30 or closes that connection, never crashes
or hangs, and other terminals are served meanwhile."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from devices.host import AcquirerHost
from devices.host.testing import LoopbackTerminal, lab_card, lab_config, terminal_config
from devices.payments import framing, messages
from devices.payments.spec import decode_message, encode_message
from devices.payments.terminal_side import ProtocolError

CLOCK = datetime(2026, 3, 4, 5, 6, 7)
CHIP = lab_card("cup-debit-chip")
TPDU = bytes.fromhex("6000030000")
HEADER = framing.make_header()


@pytest.fixture
def host() -> Iterator[AcquirerHost]:
    host = AcquirerHost(lab_config(clock=lambda: CLOCK, frame_timeout=0.3, idle_timeout=5,
                                   max_connections=8))
    host.start_in_thread()
    yield host
    host.stop()


def raw(host: AcquirerHost) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", host.port), timeout=5)
    return sock


def closed_by_host(sock: socket.socket) -> bool:
    """True once the host has closed: reads until EOF (bounded by the socket timeout)."""
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def healthy(host: AcquirerHost, tid: str = "10000002") -> bool:
    terminal = LoopbackTerminal(host.port, terminal_config(tid, host.config.terminals[tid]))
    return terminal.signin().approved and terminal.sale(CHIP, 100).rc == "00"


def reply_to(sock: socket.socket, body: bytes) -> dict[str, str]:
    sock.sendall(framing.encode_frame(TPDU, HEADER, body))
    return decode_message(framing.decode_wire(framing.read_frame(sock)).body)


def test_bitmap_naming_absent_fields_is_answered_30_with_echoes(host):
    body = bytearray(encode_message({"t": "0200", "11": "000123", "41": "10000001"}))
    body[9] |= 0x01  # DE64 announced but absent
    with raw(host) as sock:
        doc = reply_to(sock, bytes(body))
        assert (doc["t"], doc["39"], doc["11"], doc["41"]) == ("0210", "30", "000123",
                                                               "10000001")
        # the connection stays usable after a format error
        doc = reply_to(sock, encode_message({"t": "0820", "11": "000001", "41": "10000001",
                                             "42": "898100012340001", "60": "00000001301"}))
        assert doc["39"] == "00"
    assert host.journal.entries(kind="format_error")[0].note.startswith("0200")


@pytest.mark.parametrize(("doc", "bit", "what"), [
    ({"t": "0200", "11": "000001"}, (2, 0x02), "DE7"),
    ({"t": "0200", "11": "000001"}, (2, 0x80), "secondary bitmap"),
])
def test_fields_outside_the_profile_are_30(host, doc, bit, what):
    body = bytearray(encode_message(doc))
    body[bit[0]] |= bit[1]
    with raw(host) as sock:
        assert reply_to(sock, bytes(body))["39"] == "30"
    assert what in host.journal.entries(kind="format_error")[0].note


def test_non_bcd_amount_is_30(host):
    terminal = LoopbackTerminal(host.port, terminal_config("10000001", host.config.terminals[
        "10000001"]))
    terminal.signin()
    out = terminal.sale_request(CHIP, 100)
    doc = dict(out.fields)
    doc["4"] = "00000000A000"
    out.wire = messages.pack(doc, tpdu=TPDU, header=HEADER, mak=terminal.session._keys.mak)
    out.fields = doc
    with pytest.raises(ProtocolError, match="not an amount") as exc:
        terminal.session.financial_response(out, terminal.send(out))
    assert exc.value.rc == "30"
    assert host.journal.entries(kind="sale")[0].note == "DE4 is not BCD digits"


@pytest.mark.parametrize(("mti", "rc"), [("0600", "30"), ("0100", "40")])
def test_unknown_request_mti_is_refused(host, mti, rc):
    with raw(host) as sock:
        doc = reply_to(sock, encode_message({"t": mti, "11": "000001", "41": "10000001"}))
    assert doc["t"] == messages.response_mti(mti) and doc["39"] == rc


def test_a_response_mti_sent_to_the_host_closes_the_line(host):
    with raw(host) as sock:
        sock.sendall(framing.encode_frame(TPDU, HEADER, encode_message({"t": "0210"})))
        assert closed_by_host(sock)
    assert "not a request" in host.journal.entries(kind="rejected")[0].note
    assert healthy(host)


def test_oversize_length_prefix_closes_without_reading(host):
    with raw(host) as sock:
        sock.sendall(b"\xff\xff" + b"x" * 100)
        assert closed_by_host(sock)
    assert "at most 4096" in host.journal.entries(kind="rejected")[0].note
    assert healthy(host)


def test_100_mb_length_prefix_and_http_are_refused(host):
    with raw(host) as sock:
        sock.sendall(struct.pack(">I", 100_000_000) + b"\x60" * 64)
        assert closed_by_host(sock)
    with raw(host) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed_by_host(sock)
    assert healthy(host)


def test_truncated_frame_then_close(host):
    wire = framing.encode_frame(TPDU, HEADER, encode_message({"t": "0800", "11": "000001"}))
    with raw(host) as sock:
        sock.sendall(wire[:-3])
        sock.shutdown(socket.SHUT_WR)
        assert closed_by_host(sock)
    assert "closed" in host.journal.entries(kind="rejected")[0].note


def test_length_shorter_than_the_message(host):
    body = encode_message({"t": "0800", "11": "000001", "41": "10000001",
                           "42": "898100012340001", "60": "00000001003"})
    payload = TPDU + HEADER + body
    with raw(host) as sock:
        sock.sendall(struct.pack(">H", len(payload) - 6) + payload)
        doc = decode_message(framing.decode_wire(framing.read_frame(sock)).body)
        assert doc["39"] == "30"  # what the length covered is malformed...
        assert closed_by_host(sock)  # ...and the leftover is not a frame
    assert healthy(host)


def test_bad_tpdu_or_header_closes(host):
    with raw(host) as sock:
        sock.sendall(framing.encode_frame(TPDU, HEADER, bytes(10))[:2] + b"\x70" + bytes(20))
        assert closed_by_host(sock)


def test_slow_loris_is_cut_off_and_others_are_served(host):
    wire = framing.encode_frame(TPDU, HEADER, encode_message({"t": "0800", "11": "000001"}))
    with raw(host) as sock:
        sock.settimeout(0.05)  # the attacker's pace: one byte per receive timeout
        closed = False
        served_meanwhile = False
        for byte in wire * 100:
            try:
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
                break
            try:
                sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if not served_meanwhile:
                served_meanwhile = healthy(host)
        assert closed and served_meanwhile
    assert "not complete" in host.journal.entries(kind="rejected")[0].note


ECHO = {"t": "0820", "41": "10000001", "42": "898100012340001", "60": "00000001301"}


def test_at_the_limit_the_line_idle_longest_makes_room(host):
    idle = [raw(host) for _ in range(8)]
    try:
        for sock in idle:  # the host has accepted them all: each answers an echo
            assert reply_to(sock, encode_message(ECHO))["39"] == "00"
        with raw(host) as extra:
            assert reply_to(extra, encode_message(ECHO))["39"] == "00"
        assert closed_by_host(idle[0])  # the first, idle longest, made room
        assert healthy(host)
    finally:
        for sock in idle:
            sock.close()
    assert "idle longest" in host.journal.entries(kind="rejected")[0].note


def test_when_every_line_is_owed_an_answer_a_new_one_is_refused(host):
    host.script.always(kind="echo", delay_ms=1500)
    owed = [raw(host) for _ in range(8)]
    try:
        for sock in owed:
            sock.sendall(framing.encode_frame(TPDU, HEADER, encode_message(ECHO)))
        deadline = time.monotonic() + 5
        while len(host.journal.entries(kind="echo")) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)  # polls for the host to hold all eight answers
        with raw(host) as extra:
            assert closed_by_host(extra)
        for sock in owed:  # none of the owed answers was lost
            assert decode_message(framing.decode_wire(framing.read_frame(sock)).body)["39"] == "00"
    finally:
        for sock in owed:
            sock.close()
        host.script.clear()
    assert "more than 8 connections" in host.journal.entries(kind="rejected")[0].note
    assert healthy(host)
