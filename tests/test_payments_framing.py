"""TCP framing: length prefix, TPDU swap, header nibble, refusing oversize lengths."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import pytest

from devices.payments import framing
from devices.payments.framing import FramingError

TPDU = bytes.fromhex("6000030000")
BODY = bytes.fromhex("0800") + bytes(8)


def test_encode_and_decode_frame():
    header = framing.make_header(proc_req=3)
    wire = framing.encode_frame(TPDU, header, BODY)
    assert wire[:2] == struct.pack(">H", 5 + 6 + len(BODY))
    assert header == bytes.fromhex("603103310000")
    frame = framing.decode_wire(wire)
    assert (frame.tpdu, frame.body, frame.proc_req) == (TPDU, BODY, 3)


def test_swap_tpdu():
    assert framing.swap_tpdu(TPDU) == bytes.fromhex("6000000003")


def test_chip_header_accepted_other_rejected():
    wire = framing.encode_frame(TPDU, framing.make_header(app_class=0x61), BODY)
    assert framing.decode_wire(wire).header[0] == 0x61
    bad = wire[:7] + b"\x70" + wire[8:]
    with pytest.raises(FramingError, match="header"):
        framing.decode_wire(bad)


def test_length_mismatch_and_short_frame():
    wire = framing.encode_frame(TPDU, framing.make_header(), BODY)
    with pytest.raises(FramingError, match="says"):
        framing.decode_wire(wire + b"\x00")
    with pytest.raises(FramingError, match="too short"):
        framing.decode_frame(TPDU + framing.make_header())


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.settimeout(5)
    return a, b


def test_sync_read_frame_refuses_oversize_before_reading():
    a, b = _pair()
    with a, b:
        b.sendall(b"\xff\xff")  # 65535 announced, nothing follows
        with pytest.raises(FramingError, match="at most 4096"):
            framing.read_frame(a, 4096)


def test_sync_read_frame_reports_truncation():
    a, b = _pair()
    with a, b:
        wire = framing.encode_frame(TPDU, framing.make_header(), BODY)
        b.sendall(wire[:-3])
        b.shutdown(socket.SHUT_WR)
        with pytest.raises(FramingError, match="closed after"):
            framing.read_frame(a)


def test_async_read_frame():
    wire = framing.encode_frame(TPDU, framing.make_header(), BODY)

    async def main() -> tuple[bytes, str]:
        reader = asyncio.StreamReader()
        reader.feed_data(wire + b"\x01\x00")  # a good frame, then a 256-byte length
        reader.feed_eof()
        got = await framing.read_frame_async(reader, 200)
        with pytest.raises(FramingError) as exc:
            await framing.read_frame_async(reader, 200)
        return got, str(exc.value)

    got, error = asyncio.run(main())
    assert got == wire
    assert "at most 200" in error


def test_async_read_frame_eof_between_frames_and_slow_frame():
    async def main() -> None:
        reader = asyncio.StreamReader()
        reader.feed_eof()
        with pytest.raises(EOFError):
            await framing.read_frame_async(reader)
        slow = asyncio.StreamReader()
        slow.feed_data(b"\x00")  # first byte, then nothing: the frame deadline applies
        with pytest.raises(TimeoutError, match="not complete"):
            await framing.read_frame_async(slow, frame_timeout=0.05)

    asyncio.run(main())


def test_exchange_one_connection_per_request():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            request = framing.read_frame(conn)
            seen.append(request)
            frame = framing.decode_wire(request)
            conn.sendall(framing.encode_frame(framing.swap_tpdu(frame.tpdu), frame.header,
                                              frame.body))

    thread = threading.Thread(target=serve)
    thread.start()
    wire = framing.encode_frame(TPDU, framing.make_header(), BODY)
    reply = framing.exchange("127.0.0.1", port, wire, timeout=5)
    thread.join()
    server.close()
    assert seen == [wire]
    assert framing.decode_wire(reply).tpdu == framing.swap_tpdu(TPDU)


def test_exchange_timeout_is_reported():
    server = socket.create_server(("127.0.0.1", 0))
    with server, pytest.raises(TimeoutError, match="no reply"):
        framing.exchange("127.0.0.1", server.getsockname()[1],
                         framing.encode_frame(TPDU, framing.make_header(), BODY),
                         timeout=0.2)
