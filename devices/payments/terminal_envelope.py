"""What every request of the terminal's side shares: its envelope.

The fields every message starts with (MTI, DE41, DE42, DE11), the frame around it (TPDU,
header, length, and the MAC when a key is given), and the checks every response passes
before its own (reference §3.3): it unpacks, its TPDU is the request's swapped, its MTI is
the request's + 10, it carries DE39 where one is due, and the fields it must echo do.

One :class:`Envelope` per terminal configuration; the sign-in, financial and settlement
messages (devices.payments.terminal_side, terminal_admin) are built on it. It holds no
keys: the caller passes the MAC key of a message that carries a MAC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devices.masking import mask_pan
from devices.payments import framing
from devices.payments import messages as m
from devices.payments.crypto import Key
from devices.payments.framing import FramingError
from devices.payments.protocol_errors import ProtocolError
from devices.payments.spec import MessageFormatError

if TYPE_CHECKING:  # terminal_side imports this module: the configuration only as a type
    from devices.payments.terminal_side import TerminalConfig


@dataclass
class Outgoing:
    """A request as sent; keep it to build a reversal or check the echo."""

    mti: str
    fields: dict = field(repr=False)  # pyiso8583 dict, "t" and field numbers as str
    wire: bytes = field(repr=False)  # full bytes incl. length prefix
    pan_masked: str = ""

    def __repr__(self) -> str:
        return (f"Outgoing({self.mti}, stan {self.fields.get('11', '-')}, "
                f"{self.pan_masked or 'no card'})")


class Envelope:
    """Packs one terminal's requests and checks the envelope of the answers."""

    def __init__(self, cfg: TerminalConfig):
        self.cfg = cfg

    def base(self, mti: str, stan: int | None) -> dict[str, str]:
        """MTI, DE41, DE42 and, unless ``stan`` is None (an echo test), DE11."""
        doc = {"t": mti, "41": self.cfg.tid, "42": self.cfg.mid}
        if stan is not None:
            if not 0 < stan <= 999_999:
                raise ValueError(f"STAN must be 1..999999, got {stan}")
            doc["11"] = f"{stan:06d}"
        return doc

    def send(self, doc: dict[str, str], *, mak: Key | None, pan: str = "") -> Outgoing:
        """``doc`` packed in the terminal's frame, MAC'd under ``mak`` when one is given."""
        header = framing.make_header(self.cfg.header_version)
        wire = m.pack(doc, tpdu=self.cfg.tpdu, header=header, mak=mak, mac_alg=self.cfg.mac_alg)
        return Outgoing(doc["t"], doc, wire, mask_pan(pan) if pan else "")

    def receive(self, out: Outgoing, wire: bytes, *, need_rc: bool = True) -> m.Decoded:
        """The answer to ``out`` unpacked, its TPDU, MTI and (when ``need_rc``) DE39 checked."""
        try:
            got = m.unpack(wire)
        except (FramingError, MessageFormatError) as exc:
            raise ProtocolError(f"response to {out.mti} is malformed: {exc}") from None
        if got.frame.tpdu != framing.swap_tpdu(self.cfg.tpdu):
            raise ProtocolError(
                f"response TPDU {got.frame.tpdu.hex()} is not the request's "
                f"{self.cfg.tpdu.hex()} with destination and source swapped")
        want = m.response_mti(out.mti)
        if got.mti != want:
            raise ProtocolError(f"response MTI is {got.mti}, expected {want} for {out.mti}")
        if need_rc and "39" not in got.doc:
            raise ProtocolError(f"{got.mti} carries no response code (DE39)")
        return got

    @staticmethod
    def echo(out: Outgoing, got: m.Decoded, fields: tuple[str, ...]) -> None:
        """Each of ``fields`` the request sent comes back unchanged."""
        for number in fields:
            if number in out.fields and got.doc.get(number) != out.fields[number]:
                raise ProtocolError(
                    f"{got.mti} DE{number} is {got.doc.get(number)!r}, the request sent "
                    f"{out.fields[number]!r}: not the answer to this request",
                    rc=got.doc.get("39"))
