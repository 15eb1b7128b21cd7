"""The relay board's byte protocol, shared by the driver and the simulator.

Modelled on the common LCUS-type serial relay boards: every command and reply is four
bytes ``A0 channel op checksum`` with ``checksum = (A0 + channel + op) & 0xFF``. ``op`` is
0 (off), 1 (on) or 2 (query); the board answers every command with the channel's state
(op 0 or 1) in the same layout.
"""

from __future__ import annotations

from devices.faults import StationFault

HEAD = 0xA0
OFF, ON, QUERY = 0, 1, 2


class RelayProtocolError(StationFault, ValueError):
    pass


def encode(channel: int, op: int) -> bytes:
    if not 1 <= channel <= 8 or op not in (OFF, ON, QUERY):
        raise RelayProtocolError(f"relay channel 1-8 and op 0/1/2 expected, got {channel}/{op}")
    return bytes([HEAD, channel, op, (HEAD + channel + op) & 0xFF])


def decode(frame: bytes) -> tuple[int, int]:
    if len(frame) != 4 or frame[0] != HEAD or frame[3] != (sum(frame[:3]) & 0xFF):
        raise RelayProtocolError(f"not a relay frame: {frame.hex(' ')}")
    return frame[1], frame[2]
