"""CUP POS framing on TCP (iso8583-cup.md §1.1-§1.3).

    [LEN 2, big-endian, counts what follows][TPDU 5][HEADER 6][MTI .. MAC]

TPDU: 0x60, destination (2), source (2); a reply swaps destination and source.
Header: ``60 31 0x vv vv vv``: byte 1 application class (0x60 magstripe, 0x61 chip,
both accepted), byte 2 version 0x31, byte 3 high nibble terminal status and low nibble
the host's processing requirement (responses only), bytes 4-6 the application version.
A receiver checks only bytes 1-2 of the header.

Readers refuse an oversize length before reading the body, so a hostile 100 MB prefix
costs nothing; the caller closes the connection, as the stream cannot be resynchronised.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass

from devices.faults import TerminalDefect

TPDU_LEN = 5
HEADER_LEN = 6
#: TPDU + header + MTI + bitmap: nothing shorter can be a message.
MIN_PAYLOAD = TPDU_LEN + HEADER_LEN + 2 + 8
#: Comfortably above the largest message the profile allows (every field at its maximum
#: is about 1.5 kB); anything larger is refused before it is read.
DEFAULT_MAX_LEN = 4096
APP_CLASSES = (0x60, 0x61)
HEADER_VERSION = 0x31


class FramingError(TerminalDefect):
    """A frame that cannot be read or does not follow the CUP layout."""


@dataclass(frozen=True)
class Frame:
    tpdu: bytes
    header: bytes
    body: bytes  # MTI, bitmap, fields

    @property
    def proc_req(self) -> int:
        """Host processing requirement: 0 none, 3 sign in again, ... (reference §1.3)."""
        return self.header[2] & 0x0F

    @property
    def terminal_status(self) -> int:
        return self.header[2] >> 4


def make_header(version: bytes = b"\x31\x00\x00", *, proc_req: int = 0, status: int = 0,
                app_class: int = 0x60) -> bytes:
    """``60 31 <status|proc_req> v v v``; ``version`` is header bytes 4-6 (``31 00 00`` by
    default, the profile's setting) -- byte 2 is always 0x31."""
    if len(version) != 3:
        raise ValueError(f"header version must be 3 bytes (bytes 4-6), got {len(version)}")
    if not (0 <= proc_req <= 15 and 0 <= status <= 15):
        raise ValueError("terminal status and processing requirement are single nibbles")
    return bytes((app_class, HEADER_VERSION, status << 4 | proc_req)) + version


def swap_tpdu(tpdu: bytes) -> bytes:
    """The reply's TPDU: same ID, destination and source exchanged."""
    return tpdu[:1] + tpdu[3:5] + tpdu[1:3]


def encode_frame(tpdu: bytes, header: bytes, body: bytes) -> bytes:
    """Length prefix + TPDU + header + body, ready for the socket."""
    if len(tpdu) != TPDU_LEN or tpdu[0] != 0x60:
        raise FramingError(f"TPDU must be 5 bytes starting 0x60, got {tpdu.hex()}")
    if len(header) != HEADER_LEN:
        raise FramingError(f"header must be 6 bytes, got {len(header)}")
    size = TPDU_LEN + HEADER_LEN + len(body)
    if size > 0xFFFF:
        raise FramingError(f"message of {size} bytes does not fit a 2-byte length")
    return struct.pack(">H", size) + tpdu + header + body


def decode_frame(payload: bytes) -> Frame:
    """Split what follows the length prefix; checks TPDU ID and header bytes 1-2."""
    if len(payload) < MIN_PAYLOAD:
        raise FramingError(
            f"frame of {len(payload)} bytes is too short: TPDU, header, MTI and bitmap "
            f"need {MIN_PAYLOAD}")
    tpdu, header = payload[:TPDU_LEN], payload[TPDU_LEN:TPDU_LEN + HEADER_LEN]
    if tpdu[0] != 0x60:
        raise FramingError(f"TPDU ID is {tpdu[0]:#04x}, expected 0x60 (is this a CUP link?)")
    if header[0] not in APP_CLASSES or header[1] != HEADER_VERSION:
        raise FramingError(
            f"header starts {header[:2].hex()}, expected 6031 or 6131 (CUP POS header)")
    return Frame(tpdu, header, payload[TPDU_LEN + HEADER_LEN:])


def decode_wire(wire: bytes) -> Frame:
    """A whole frame as sent, length prefix included (what :func:`exchange` returns)."""
    if len(wire) < 2:
        raise FramingError("no length prefix: fewer than 2 bytes received")
    (size,) = struct.unpack(">H", wire[:2])
    if size != len(wire) - 2:
        raise FramingError(f"length prefix says {size} bytes but {len(wire) - 2} follow it")
    return decode_frame(wire[2:])


def _check_size(size: int, max_len: int) -> None:
    if size > max_len:
        raise FramingError(
            f"length prefix announces {size} bytes; this end accepts at most {max_len} "
            f"(a CUP message is far smaller: wrong protocol or a corrupt stream)")
    if size < MIN_PAYLOAD:
        raise FramingError(
            f"length prefix announces {size} bytes; a message needs at least {MIN_PAYLOAD}")


def _recv_exact(sock: socket.socket, n: int, what: str) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise FramingError(
                f"connection closed after {len(buf)} of {n} bytes of the {what}")
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket, max_len: int = DEFAULT_MAX_LEN) -> bytes:
    """Read one frame from a blocking socket; returns it *with* its length prefix.

    The socket's own timeout applies to each read (``socket.timeout`` propagates, so the
    caller can tell silence from a broken frame).
    """
    prefix = _recv_exact(sock, 2, "length prefix")
    (size,) = struct.unpack(">H", prefix)
    _check_size(size, max_len)
    return prefix + _recv_exact(sock, size, "message")


async def read_frame_async(reader: asyncio.StreamReader, max_len: int = DEFAULT_MAX_LEN, *,
                           idle_timeout: float | None = None,
                           frame_timeout: float | None = None) -> bytes:
    """Asyncio twin of :func:`read_frame`, returning the frame with its length prefix.

    ``idle_timeout`` bounds the wait for a frame to start; ``frame_timeout`` bounds the
    rest of it once its first byte arrived, so a client trickling a byte at a time (slow
    loris) is cut off however patient it is. Raises ``EOFError`` on a clean close between
    frames, ``TimeoutError`` on either deadline, :class:`FramingError` otherwise.
    """
    try:
        first = await asyncio.wait_for(reader.readexactly(1), idle_timeout)
    except asyncio.IncompleteReadError:
        raise EOFError("connection closed between messages") from None
    try:
        async with asyncio.timeout(frame_timeout):
            prefix = first + await reader.readexactly(1)
            (size,) = struct.unpack(">H", prefix)
            _check_size(size, max_len)
            return prefix + await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise FramingError(
            f"connection closed {len(exc.partial)} bytes into a frame whose length said more"
        ) from None
    except TimeoutError:
        raise TimeoutError(
            f"frame not complete within {frame_timeout} s of its first byte") from None


def exchange(host: str, port: int, wire: bytes, timeout: float = 10.0,
             max_len: int = DEFAULT_MAX_LEN) -> bytes:
    """Send one request on a fresh connection and return the reply, length included.

    One TCP connection per exchange, as CUP terminals do. ``TimeoutError`` means the host
    stayed silent (a terminal then stores reversal reason 98); ``FramingError`` means
    something arrived that is not a frame, or the host closed the line.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(wire)
        try:
            return read_frame(sock, max_len)
        except TimeoutError:
            raise TimeoutError(
                f"no reply from {host}:{port} within {timeout} s") from None
