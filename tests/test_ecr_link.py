"""The ECR link over a real pty: framing, ACK/NAK, repeats, timeouts, a vanished port."""

from __future__ import annotations

import pytest

from devices.channels import ChannelError, PtyPort, open_serial
from devices.terminal.link import (
    ACK,
    ETX,
    NAK,
    STX,
    EcrLink,
    FrameDecoder,
    LinkError,
    encode_frame,
    lrc,
)


class Peer:
    """The far end, driven byte by byte: sees exactly what the link put on the wire."""

    def __init__(self) -> None:
        self.pty = PtyPort()
        self.pty.timeout = 2.0
        self.decoder = FrameDecoder()
        self.pending: list = []

    def next_item(self):
        while not self.pending:
            data = self.pty.read(4096)
            assert data, "the link sent nothing within 2 s"
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def close(self) -> None:
        self.pty.close()


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


@pytest.fixture
def link(peer):
    port = open_serial(peer.pty.path, timeout=0.05)
    lk = EcrLink(port, name=f"test terminal ECR port {peer.pty.path}", ack_timeout=0.3, repeats=3)
    yield lk
    lk.close()


def test_frame_layout_and_lrc():
    frame = encode_frame(b"AB")
    assert frame == bytes([STX, 0x41, 0x42, ETX, 0x41 ^ 0x42 ^ ETX])
    assert lrc(b"") == ETX


def test_decoder_reassembles_split_frames_and_flags_bad_lrc():
    dec = FrameDecoder()
    good = encode_frame(b'{"a":1}')
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    items = dec.feed(good[:3]) + dec.feed(good[3:] + bytes([ACK]) + bad + bytes([NAK]))
    assert [(i.kind, i.payload) for i in items] == [
        ("frame", b'{"a":1}'), ("ack", b""), ("bad", b'{"a":1}'), ("nak", b"")]


def test_payload_with_raw_etx_is_refused():
    with pytest.raises(ValueError, match="STX or ETX"):
        encode_frame(b"a\x03b")


def test_nak_makes_the_sender_repeat(peer, link):
    import threading

    done = threading.Thread(target=link.send, args=(b"hello",))
    done.start()
    first = peer.next_item()
    assert (first.kind, first.payload) == ("frame", b"hello")
    peer.pty.write(bytes([NAK]))
    second = peer.next_item()
    assert (second.kind, second.payload) == ("frame", b"hello")
    peer.pty.write(bytes([ACK]))
    done.join(timeout=3)
    assert not done.is_alive()


def test_silence_gives_up_after_three_repeats_naming_the_port(peer, link):
    with pytest.raises(LinkError) as err:
        link.send(b"anyone?")
    assert peer.pty.path in str(err.value)
    assert "no ACK after 4 sends" in str(err.value)
    frames = [peer.next_item() for _ in range(4)]
    assert all(f.payload == b"anyone?" for f in frames)


def test_receiver_naks_a_bad_lrc_and_acks_the_repeat(peer, link):
    good = encode_frame(b"status")
    peer.pty.write(good[:-1] + bytes([good[-1] ^ 0x55]))
    assert peer.next_item().kind == "nak"
    peer.pty.write(good)
    assert peer.next_item().kind == "ack"
    assert link.receive(timeout=2) == b"status"


def test_receive_timeout_names_the_port(peer, link):
    with pytest.raises(LinkError, match=peer.pty.path):
        link.receive(timeout=0.2)


def test_unplugged_port_is_a_clear_error():
    with pytest.raises(ChannelError, match="/dev/ttyPOSRIG-NOPE"):
        open_serial("/dev/ttyPOSRIG-NOPE", device="station-9 terminal ECR")
