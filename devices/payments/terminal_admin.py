"""The terminal's side of settlement, batch upload, sign-off and echo (0500, 0320, 0820).

None of these carries a MAC (reference, "MAC" row), so none needs the session's keys:
each request is built, and each answer checked, on the terminal's :class:`Envelope`
passed in. :class:`devices.payments.terminal_side.TerminalSession` offers them as its
methods, and forgets its keys when :func:`management_response` says a sign-off was
approved.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.payments import messages as m
from devices.payments.protocol_errors import ProtocolError
from devices.payments.settlement import (
    BatchItem,
    SettlementFormatError,
    Totals,
    ic_record_de62,
    mag_records_de48,
)
from devices.payments.terminal_envelope import Envelope, Outgoing


@dataclass(frozen=True)
class SettleResult:
    rc: str | None  # DE39 is optional in a 0510
    domestic_flag: str  # 1 balanced, 2 not balanced, 3 settlement error
    foreign_flag: str
    proc_req: int

    @property
    def balanced(self) -> bool:
        return self.domestic_flag == "1" and self.foreign_flag == "1"


@dataclass(frozen=True)
class ManagementResult:
    rc: str
    proc_req: int
    signed_off: bool = False  # an approved sign-off: the terminal's working keys are void

    @property
    def approved(self) -> bool:
        return self.rc == "00"


def _management(envelope: Envelope, mti: str, stan: int | None, batch: int,
                nmi: str) -> dict[str, str]:
    doc = envelope.base(mti, stan)
    doc["60"] = m.de60_management(f"{batch:06d}", nmi)
    return doc


# -- settlement -----------------------------------------------------------------------------
def settle_request(envelope: Envelope, *, stan: int, batch: int, totals: Totals,
                   operator: str = "01") -> Outgoing:
    """0500, 60.3 201, DE48 = the terminal's totals with 0 flags."""
    doc = _management(envelope, "0500", stan, batch, m.NMI_SETTLE)
    doc["48"] = totals.to_de48()
    doc["49"] = m.CURRENCY_CNY
    doc["63"] = f"{operator:0>2}"[:2] + " "
    return envelope.send(doc, mak=None)


def settle_response(envelope: Envelope, out: Outgoing, wire: bytes) -> SettleResult:
    got = envelope.receive(out, wire, need_rc=False)  # DE39 optional in a 0510
    envelope.echo(out, got, ("11", "41"))
    rc = got.doc.get("39")
    if rc not in (None, "00"):
        return SettleResult(rc, "3", "3", got.frame.proc_req)
    envelope.echo(out, got, ("42",))
    try:
        _, dom, foreign = Totals.from_de48(got.doc.get("48", ""))
    except SettlementFormatError as exc:
        raise ProtocolError(f"0510 result flags unreadable: {exc}") from None
    for flag in (dom, foreign):
        if flag not in "123":
            raise ProtocolError(f"0510 settlement flag {flag!r} is not 1, 2 or 3")
    return SettleResult(rc, dom, foreign, got.frame.proc_req)


# -- batch upload ---------------------------------------------------------------------------
def batch_upload_mag_request(envelope: Envelope, *, stan: int, batch: int,
                             items: list[BatchItem]) -> Outgoing:
    """0320, 60.3 201: up to 8 magstripe records in DE48."""
    doc = _management(envelope, "0320", stan, batch, m.NMI_UPLOAD_MAG)
    doc["48"] = mag_records_de48(items)
    return envelope.send(doc, mak=None)


def batch_upload_ic_request(envelope: Envelope, *, batch: int, item: BatchItem,
                            balanced: bool) -> Outgoing:
    """0320, 60.3 203 (balanced) or 205 (not): one chip transaction, DE62 record; DE11
    is the transaction's own trace, which is how the host finds it."""
    nmi = m.NMI_UPLOAD_IC if balanced else m.NMI_UPLOAD_IC_UNBALANCED
    doc = _management(envelope, "0320", int(item.stan), batch, nmi)
    doc["2"] = item.pan
    doc["4"] = m.fmt_amount(item.amount)
    doc["22"] = item.entry_mode
    if item.seq_no:
        doc["23"] = item.seq_no
    if item.icc:
        doc["55"] = item.icc.hex().upper()
    doc["62"] = ic_record_de62(item)
    return envelope.send(doc, mak=None, pan=item.pan)


def batch_upload_end_request(envelope: Envelope, *, stan: int, batch: int, count: int,
                             balanced: bool) -> Outgoing:
    """0320, 60.3 207 (balanced) or 202 (not); DE48 = records uploaded, 4 digits."""
    nmi = m.NMI_UPLOAD_END_BALANCED if balanced else m.NMI_UPLOAD_END_UNBALANCED
    doc = _management(envelope, "0320", stan, batch, nmi)
    doc["48"] = f"{count:04d}"
    return envelope.send(doc, mak=None)


# -- sign-off and echo ----------------------------------------------------------------------
def signoff_request(envelope: Envelope, *, stan: int, batch: int) -> Outgoing:
    return envelope.send(_management(envelope, "0820", stan, batch, m.NMI_SIGNOFF), mak=None)


def echo_request(envelope: Envelope, *, batch: int) -> Outgoing:
    """0820, 60.3 301, without DE11 (reference §3.3)."""
    return envelope.send(_management(envelope, "0820", None, batch, m.NMI_ECHO), mak=None)


def management_response(envelope: Envelope, out: Outgoing, wire: bytes) -> ManagementResult:
    """0330 / 0830: MTI, echoes of DE11 and DE41, DE39. ``signed_off`` when it approves a
    sign-off: the terminal must forget its working keys."""
    got = envelope.receive(out, wire)
    envelope.echo(out, got, ("11", "41"))
    rc = got.doc["39"]
    signoff = out.mti == "0820" and out.fields["60"][8:11] == m.NMI_SIGNOFF
    return ManagementResult(rc, got.frame.proc_req, signed_off=rc == "00" and signoff)
