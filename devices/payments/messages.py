"""Profile-level building blocks both ends share: codes, DE60/DE53/DE22, MAC'd packing.

The MAC covers MTI .. the last byte before DE64 (reference §4.4). DE64 is the highest
field and fixed at 8 bytes, so a message is encoded once with a zero MAC and the last 8
bytes are patched: the MAB is exactly ``body[:-8]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.payments import framing
from devices.payments.crypto import Key, compute_mac, mac_matches
from devices.payments.spec import decode_message, encode_message

# Processing codes (DE3) and 60.1 transaction types (reference §3.1).
PC_SALE = "000000"
PC_VOID = "200000"
TYPE_MANAGEMENT = "00"
TYPE_SALE = "22"
TYPE_VOID = "23"
TYPE_REFUND = "25"  # 0220 advice (reference §3.1)

# 60.3 network management information codes (reference §3.2).
NMI_FINANCIAL = "000"
NMI_SIGNOFF = "002"
NMI_SETTLE = "201"
NMI_UPLOAD_MAG = "201"
NMI_UPLOAD_END_UNBALANCED = "202"
NMI_UPLOAD_IC = "203"
NMI_UPLOAD_IC_UNBALANCED = "205"
NMI_UPLOAD_END_BALANCED = "207"
NMI_ECHO = "301"

# Host processing requirement (header byte 3, low nibble; reference §1.3).
PROC_NONE = 0
PROC_PARAMS = 1
PROC_SIGNIN = 3

#: Codes a terminal treats as approved ([C] ``ChkAcceptTxnCode``).
APPROVED_CODES = frozenset({"00", "10", "11", "A2", "A4", "A5", "A6"})

#: Requests that carry a MAC, and whose responses do (except A0).
MAC_MTIS = frozenset({"0200", "0220", "0400", "0210", "0230", "0410"})

#: POS entry mode digits 1-2 by how the card was read (DE22).
ENTRY_PAN_MODE = {"swipe": "02", "fallback": "02", "chip": "05", "contactless": "07",
                  "keyed": "01"}
ENTRY_NAMES = {"01": "keyed", "02": "swipe", "05": "chip", "07": "contactless"}

#: Card organisation a refund names in DE63 when the terminal does not know it ([C], [J]).
CARD_ORG_UNKNOWN = "000"

CURRENCY_CNY = "156"

RESPONSE_TEXT = {
    "00": "approved", "03": "invalid merchant", "12": "invalid transaction",
    "13": "invalid amount", "14": "invalid card number", "25": "original not found",
    "30": "format error", "40": "function not supported", "45": "use the chip",
    "51": "insufficient funds", "54": "expired card", "55": "incorrect PIN",
    "57": "not permitted to cardholder", "94": "duplicate transaction",
    "96": "system malfunction", "97": "terminal not registered", "A0": "MAC error",
}


def response_mti(mti: str) -> str:
    """0200 -> 0210, 0800 -> 0810, ...: what the reply to ``mti`` must be."""
    return f"{int(mti) + 10:04d}"


def de60_financial(tx_type: str, batch: str, *, contactless: bool = False,
                   fallback: bool = False, nmi: str = NMI_FINANCIAL) -> str:
    """14 digits: type, batch, NMI, read capability (5, 6 contactless), IC condition (0,
    2 fallback), partial approval (0)."""
    return f"{tx_type}{batch}{nmi}{'6' if contactless else '5'}{'2' if fallback else '0'}0"


def de60_management(batch: str, nmi: str, tx_type: str = TYPE_MANAGEMENT) -> str:
    """11 digits: type, batch, NMI (08xx, 0500, every 0320)."""
    return f"{tx_type}{batch}{nmi}"


def de53(*, pin: bool, double_length: bool, track_encrypted: bool) -> str:
    """Digit 1: 2 with a PIN block; 2: 6 for double-length keys; 3: 1 for encrypted tracks."""
    digits = ("2" if pin else "0") + ("6" if double_length else "0")
    return digits + ("1" if track_encrypted else "0") + "0" * 13


def fmt_amount(fen: int) -> str:
    if not 0 <= fen <= 999_999_999_999:
        raise ValueError(f"amount {fen} fen does not fit DE4 (12 digits)")
    return f"{fen:012d}"


@dataclass(frozen=True)
class Decoded:
    frame: framing.Frame
    doc: dict[str, str]

    @property
    def mti(self) -> str:
        return self.doc["t"]


def pack(doc: dict[str, str], *, tpdu: bytes, header: bytes,
         mak: Key | None = None, mac_alg: str = "cup-ecb") -> bytes:
    """Encode and frame ``doc``; with ``mak``, DE64 is computed and set (in ``doc`` too)."""
    if mak is None:
        doc.pop("64", None)
        return framing.encode_frame(tpdu, header, encode_message(doc))
    doc["64"] = "0000000000000000"
    body = encode_message(doc)
    mac = compute_mac(mac_alg, mak, body[:-8])
    doc["64"] = mac.hex().upper()
    return framing.encode_frame(tpdu, header, body[:-8] + mac)


def unpack(wire: bytes) -> Decoded:
    """Frame + decode; raises :class:`FramingError` or :class:`MessageFormatError`."""
    frame = framing.decode_wire(wire)
    return Decoded(frame, decode_message(frame.body))


def mac_verdict(decoded: Decoded, mak: Key, mac_alg: str) -> bool | None:
    """True: DE64 present and right; False: present and wrong; None: no DE64."""
    if "64" not in decoded.doc:
        return None
    body = decoded.frame.body
    return mac_matches(mac_alg, mak, body[:-8], body[-8:])
