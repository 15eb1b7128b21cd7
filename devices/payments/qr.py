"""QR-code payments (扫码支付) on the CUP POS profile: ../shared/iso8583-cup-qr.md, written once
for the host and the simulated terminal.

What QR adds to the card profile:

- DE59, a run of ASCII TLV items (2-character tag, 3-digit length, value): ``A2`` terminal
  information (itself sub-items), ``A3`` the customer's payment code (C2B), ``A4`` the host's
  payment voucher number, and posrig's ``Q1`` order number, ``Q2`` the QR payload a terminal
  shows (B2C), ``Q3`` the wallet;
- processing codes ``700000`` (B2C create order) and ``730000`` (result query), 60.1 ``60``;
- DE22 ``032`` on every QR message, DE25 ``00``, DE60 read capability ``6``;
- response codes ``FD`` (payment in progress: poll) and ``FE`` (order closed, nothing taken).

Request builders take a :class:`TerminalSession` (the working keys, the MAC) and return the
same :class:`Outgoing` a card request is, so the reversal machinery of the terminal applies
unchanged; :func:`read_response` checks an answer as a card answer is checked and reads DE59.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from devices.faults import TerminalDefect
from devices.payments import messages as m
from devices.payments.crypto import Key, compute_mac
from devices.payments.terminal_side import FinancialResult, Outgoing, TerminalSession

# -- codes ------------------------------------------------------------------------------------
PC_QR_ORDER = "700000"  # B2C create order ([P]'s code)
PC_QR_QUERY = "730000"  # result query ([P]'s code)
TYPE_QR = "60"  # 60.1 of the B2C create and the query
ENTRY_QR = "032"  # DE22 on every QR message; a receiver also takes 031
ENTRY_QR_ACCEPTED = frozenset({"031", "032"})
RC_PENDING = "FD"  # payment in progress: not final, poll
RC_CLOSED = "FE"  # order closed without payment: final, nothing taken
RESPONSE_TEXT = {
    RC_PENDING: "payment in progress", RC_CLOSED: "order closed",
    "54": "payment code expired or used", "14": "invalid payment code",
    "55": "wrong wallet password", "61": "wallet limit exceeded",
}
#: Wallets (``Q3``) and how a slip names them.
WALLETS = {"01": "微信支付 WeChat Pay", "02": "支付宝 Alipay", "03": "银联二维码 UnionPay QR"}
QR_HOST = "https://qr.posrig.test/o/"  # the .test domain is reserved: nothing real is reachable

#: Length caps a receiver applies to the tags it knows ([B]'s parser).
TAG_CAPS = {"A1": 16, "A2": 128, "A3": 350, "A4": 20, "Q1": 32, "Q2": 256, "Q3": 2}
MAX_DE59 = 999


class Tlv59Error(TerminalDefect, ValueError):
    """DE59 that does not parse: an item longer than what is left (the host answers 30)."""


# -- DE59 -------------------------------------------------------------------------------------

def encode_tlv(items: list[tuple[str, str]]) -> str:
    """``[("A3", "6201..."), ...]`` -> ``A30196201...``; each tag 2 characters, each value at
    most 999 bytes of ASCII."""
    out = []
    for tag, value in items:
        if len(tag) != 2 or not tag.isascii():
            raise ValueError(f"a DE59 tag is 2 ASCII characters, got {tag!r}")
        if not value.isascii() or len(value) > 999:
            raise ValueError(f"DE59 {tag}: the value must be ASCII of at most 999 bytes")
        out.append(f"{tag}{len(value):03d}{value}")
    text = "".join(out)
    if len(text) > MAX_DE59:
        raise ValueError(f"DE59 would be {len(text)} bytes; it holds at most {MAX_DE59}")
    return text


def parse_tlv(text: str) -> dict[str, str]:
    """The items of a DE59 (or of ``A2``), the first of each tag kept; unknown tags are
    returned too (a receiver skips them). An item overrunning the field is a ``Tlv59Error``."""
    items: dict[str, str] = {}
    i = 0
    while i < len(text):
        head = text[i:i + 5]
        if len(head) < 5 or not head[2:].isdigit():
            raise Tlv59Error(f"DE59 item at byte {i} has no tag and 3-digit length: {head!r}")
        tag, length = head[:2], int(head[2:])
        value = text[i + 5:i + 5 + length]
        if len(value) < length:
            raise Tlv59Error(f"DE59 item {tag} at byte {i} claims {length} bytes, "
                             f"{len(text) - i - 5} are left")
        items.setdefault(tag, value)
        i += 5 + length
    return items


def shown_de59(text: str) -> str:
    """DE59 as it may leave the process: the payment code (``A3``) masked like a card number
    (a live payment code is a bearer credential for the minute it lives)."""
    try:
        items = parse_tlv(text)
    except Tlv59Error:
        return f"<{len(text)} bytes>"
    return " ".join(f"{tag}={mask_code(value) if tag == 'A3' else value}"
                    for tag, value in items.items())


def mask_code(code: str) -> str:
    """First 6, ``*``, last 4 (the slip's masking of a payment code)."""
    if len(code) <= 10:
        return "*" * len(code)
    return code[:6] + "*" * (len(code) - 10) + code[-4:]


# -- payment codes (§8) -----------------------------------------------------------------------

def wallet_of(code: str) -> str | None:
    """The wallet (``Q3``) a C2B code belongs to, by its family; None: no known family (14)."""
    if not code.isdigit():
        return None
    if len(code) == 18 and "10" <= code[:2] <= "19":
        return "01"
    if 16 <= len(code) <= 24 and "25" <= code[:2] <= "30":
        return "02"
    if len(code) == 19 and code.startswith("62"):
        return "03"
    return None


def make_code(wallet: str = "03", serial: int = 0) -> str:
    """A well-formed synthetic payment code of ``wallet``'s family: what a test shows on the
    phone. ``serial`` makes it unique (a code is single-use at the host)."""
    body = f"{serial % 10**12:012d}"
    if wallet == "01":
        return "13" + body + "0000"
    if wallet == "02":
        return "28" + body + "0000"
    if wallet == "03":
        return "62" + body + "00000"
    raise ValueError(f"wallet must be 01 (WeChat Pay), 02 (Alipay) or 03 (UnionPay QR), "
                     f"got {wallet!r}")


def order_number(now: datetime, tid: str, stan: str) -> str:
    """``Q1``: ``PR`` + YYYYMMDDhhmmss + TID + STAN (30 characters)."""
    return f"PR{now:%Y%m%d%H%M%S}{tid}{stan}"


def order_url(order: str) -> str:
    """``Q2``: the text a B2C terminal shows as a QR code."""
    return QR_HOST + order


_ORDER_IN_URL = re.compile(re.escape(QR_HOST) + r"([0-9A-Za-z]{1,32})$")


def order_from_url(text: str) -> str | None:
    """``Q1`` from a decoded B2C code (its URL's last path segment); None if not one of ours."""
    found = _ORDER_IN_URL.match(text.strip())
    return found.group(1) if found else None


# -- A2 terminal information ------------------------------------------------------------------

def a2_value(session: TerminalSession, *, serial: str, random_factor: str,
             app_version: str = "PRG10000", device_type: str = "04") -> str:
    """``A2``'s sub-items: device type, hardware SN, random factor, SN cipher (the MAC
    algorithm over SN + random factor under the session MAK, as 8 hex characters), app
    version (8, space-padded)."""
    cipher = sn_cipher(_mak(session), session.cfg.mac_alg, serial, random_factor)
    return encode_tlv([("01", device_type), ("02", serial[:50]), ("03", random_factor[-10:]),
                       ("04", cipher), ("05", f"{app_version:<8}"[:8])])


def sn_cipher(mak: Key, mac_alg: str, serial: str, random_factor: str) -> str:
    mac = compute_mac(mac_alg, mak, (serial + random_factor).encode("ascii"))
    text = mac.decode("ascii") if mac_alg == "cup-ecb" else mac.hex().upper()
    return text[:8]


# -- requests ---------------------------------------------------------------------------------

def _mak(session: TerminalSession) -> Key:
    """The session's MAC key; a terminal not signed in cannot send a QR message (every one
    carries a MAC): ``ProtocolError``, as for a card sale."""
    return session._require_keys().mak


def _qr_doc(session: TerminalSession, mti: str, *, stan: int, pc: str, amount: int,
            tx_type: str, batch: int) -> dict[str, str]:
    doc = session.envelope.base(mti, stan)
    doc["3"] = pc
    doc["4"] = m.fmt_amount(amount)
    doc["22"] = ENTRY_QR
    doc["25"] = "00"
    doc["49"] = m.CURRENCY_CNY
    doc["60"] = m.de60_financial(tx_type, f"{batch:06d}", contactless=True)
    return doc


def c2b_sale_request(session: TerminalSession, *, stan: int, batch: int, amount: int,
                     code: str, serial: str) -> Outgoing:
    """0200 / 000000 / 22, DE59 ``A2`` + ``A3`` (the scanned code, as read)."""
    if amount <= 0:
        raise ValueError(f"a sale amount must be positive, got {amount} fen")
    doc = _qr_doc(session, "0200", stan=stan, pc=m.PC_SALE, amount=amount, tx_type=m.TYPE_SALE,
                  batch=batch)
    doc["59"] = encode_tlv([("A2", a2_value(session, serial=serial, random_factor=code[-6:])),
                            ("A3", code)])
    out = session.envelope.send(doc, mak=_mak(session))
    out.pan_masked = mask_code(code)
    return out


def order_request(session: TerminalSession, *, stan: int, batch: int, amount: int,
                  serial: str) -> Outgoing:
    """0200 / 700000 / 60, DE59 ``A2`` (random factor = DE11): the B2C order."""
    if amount <= 0:
        raise ValueError(f"an order amount must be positive, got {amount} fen")
    doc = _qr_doc(session, "0200", stan=stan, pc=PC_QR_ORDER, amount=amount, tx_type=TYPE_QR,
                  batch=batch)
    doc["59"] = encode_tlv([("A2", a2_value(session, serial=serial, random_factor=f"{stan:06d}"))])
    return session.envelope.send(doc, mak=_mak(session))


def query_request(session: TerminalSession, *, stan: int, batch: int, amount: int,
                  orig_batch: int, orig_stan: int, orig_mmdd: str, order: str | None) -> Outgoing:
    """0200 / 730000 / 60, DE61 original batch + STAN + MMDD, DE59 ``Q1`` when known."""
    doc = _qr_doc(session, "0200", stan=stan, pc=PC_QR_QUERY, amount=amount, tx_type=TYPE_QR,
                  batch=batch)
    if order:
        doc["59"] = encode_tlv([("Q1", order)])
    doc["61"] = f"{orig_batch:06d}{orig_stan:06d}{orig_mmdd}"
    return session.envelope.send(doc, mak=_mak(session))


def void_request(session: TerminalSession, *, stan: int, batch: int, amount: int, voucher: str,
                 orig_batch: int, orig_stan: int, orig_rrn: str | None,
                 orig_auth: str | None) -> Outgoing:
    """0200 / 200000 / 23, DE59 ``A4``, DE37/38 the original's, DE61 batch + STAN."""
    doc = _qr_doc(session, "0200", stan=stan, pc=m.PC_VOID, amount=amount, tx_type=m.TYPE_VOID,
                  batch=batch)
    doc["37"] = orig_rrn or "0" * 12
    if orig_auth:
        doc["38"] = orig_auth
    doc["59"] = encode_tlv([("A4", voucher)])
    doc["61"] = f"{orig_batch:06d}{orig_stan:06d}"
    return session.envelope.send(doc, mak=_mak(session))


def refund_request(session: TerminalSession, *, stan: int, batch: int, amount: int,
                   voucher: str, orig_mmdd: str, orig_rrn: str | None,
                   orig_auth: str | None) -> Outgoing:
    """0220 / 200000 / 25, DE59 ``A4``, DE61 zeros + original MMDD, DE63 ``000``."""
    if amount <= 0:
        raise ValueError(f"a refund amount must be positive, got {amount} fen")
    if not (len(orig_mmdd) == 4 and orig_mmdd.isdigit()):
        raise ValueError(f"the original date is MMDD, got {orig_mmdd!r}")
    doc = _qr_doc(session, "0220", stan=stan, pc=m.PC_VOID, amount=amount,
                  tx_type=m.TYPE_REFUND, batch=batch)
    doc["37"] = orig_rrn or "0" * 12
    if orig_auth:
        doc["38"] = orig_auth
    doc["59"] = encode_tlv([("A4", voucher)])
    doc["61"] = "0" * 12 + orig_mmdd
    doc["63"] = m.CARD_ORG_UNKNOWN
    return session.envelope.send(doc, mak=_mak(session))


def reversal_fields(out: Outgoing, *, order: str | None = None) -> Outgoing:
    """The original as its reversal is built from it: DE59 keeps only ``A3`` (C2B), ``Q1``
    (B2C create, once known) or ``A4`` (void); ``A2`` is never in a reversal ([B])."""
    fields = dict(out.fields)
    items = parse_tlv(fields.get("59", ""))
    kept = [(tag, items[tag]) for tag in ("A3", "A4") if tag in items]
    if order and fields.get("3") == PC_QR_ORDER:
        kept.append(("Q1", order))
    if kept:
        fields["59"] = encode_tlv(kept)
    else:
        fields.pop("59", None)
    return Outgoing(out.mti, fields, out.wire, out.pan_masked)


# -- answers ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class QrResult:
    """A QR answer: the card answer's checks and fields, and DE59's ``A4``/``Q1``/``Q2``/``Q3``."""

    base: FinancialResult
    voucher: str | None = None  # A4
    order: str | None = None  # Q1
    payload: str | None = None  # Q2
    wallet: str | None = None  # Q3
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def rc(self) -> str:
        return self.base.rc

    @property
    def approved(self) -> bool:
        return self.base.rc == "00"

    @property
    def pending(self) -> bool:
        return self.base.rc == RC_PENDING


def read_response(session: TerminalSession, out: Outgoing, wire: bytes) -> QrResult:
    """Check ``wire`` as the answer to ``out`` (echoes, MAC: ``ProtocolError``/``MacError``)
    and read its DE59. An approval without ``A4`` is a protocol error (the terminal cannot
    void or refund it)."""
    from devices.payments.protocol_errors import ProtocolError

    base = session.financial_response(out, wire)
    doc = m.unpack(wire).doc
    try:
        items = parse_tlv(doc.get("59", ""))
    except Tlv59Error as exc:
        raise ProtocolError(f"{doc['t']} DE59: {exc}", rc=base.rc) from None
    result = QrResult(base, items.get("A4"), items.get("Q1"), items.get("Q2"), items.get("Q3"),
                      {k: v for k, v in items.items() if k not in ("A4", "Q1", "Q2", "Q3")})
    if result.approved and out.fields.get("3") in (m.PC_SALE, PC_QR_ORDER, PC_QR_QUERY) \
            and not result.voucher:
        raise ProtocolError(f"approved QR answer to {out.fields.get('3')} carries no payment "
                            f"voucher (DE59 A4)", rc=base.rc)
    return result
