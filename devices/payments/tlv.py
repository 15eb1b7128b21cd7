"""BER-TLV as EMV uses it in DE55: encode and parse, shared by terminal and host."""

from __future__ import annotations

from devices.faults import TerminalDefect


class TlvError(TerminalDefect, ValueError):
    pass


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    return bytes([0x82, n >> 8, n & 0xFF])


def encode(items: list[tuple[str, bytes]]) -> bytes:
    """``[("9F26", b"..."), ...]`` -> TLV bytes, in the order given."""
    return b"".join(bytes.fromhex(tag) + _length(len(v)) + v for tag, v in items)


def parse(data: bytes) -> dict[str, bytes]:
    """Flat parse of primitive tags (DE55 carries no constructed ones we need)."""
    out: dict[str, bytes] = {}
    i = 0
    while i < len(data):
        start = i
        if data[i] & 0x1F == 0x1F:  # multi-byte tag: continue while bit 8 is set
            i += 1
            while i < len(data) and data[i] & 0x80:
                i += 1
        i += 1
        if i >= len(data):
            raise TlvError(f"TLV cut short after tag at offset {start}")
        tag = data[start:i].hex().upper()
        length = data[i]
        i += 1
        if length & 0x80:
            count = length & 0x7F
            if count not in (1, 2) or i + count > len(data):
                raise TlvError(f"bad length form for tag {tag}")
            length = int.from_bytes(data[i:i + count], "big")
            i += count
        if i + length > len(data):
            raise TlvError(f"tag {tag} claims {length} bytes, {len(data) - i} left")
        out[tag] = data[i:i + length]
        i += length
    return out
