"""The terminal's half of the CUP protocol: build requests, check responses.

Used by the simulated terminal and by the host's tests as the test client. It keeps the
working keys of a sign-in and nothing else: trace and batch numbers, the pending reversal
and the transaction log belong to whoever drives it (they survive power cuts there).

Checks on a response follow the reference: the MTI is request + 10, the TPDU is the
request's swapped, DE3, DE11 and DE41 echo the request always, DE4 except on code 10, DE42
on 00; a MAC present is always checked and an approval must carry one. A failed check
raises :class:`ProtocolError` (reversal reason 06); a failed MAC :class:`MacError`
(reversal reason A0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from devices.masking import mask_pan
from devices.payments import messages as m
from devices.payments import terminal_admin as admin
from devices.payments.crypto import CryptoError, Key, encrypt_pin, encrypt_track
from devices.payments.keys import KEY_MODES, WorkingKeys, unpack_de62
from devices.payments.protocol_errors import MacError, ProtocolError
from devices.payments.settlement import BatchItem, Totals
from devices.payments.spec import track_to_z
from devices.payments.terminal_admin import ManagementResult, SettleResult
from devices.payments.terminal_envelope import Envelope, Outgoing

__all__ = [
    "CardRead", "FinancialResult", "MacError", "ManagementResult", "Outgoing", "ProtocolError",
    "SettleResult", "SigninResult", "TerminalConfig", "TerminalSession",
]


@dataclass(frozen=True)
class TerminalConfig:
    tid: str  # 8 chars, DE41
    mid: str  # 15 chars, DE42
    tmk: bytes = field(repr=False)  # 16 bytes (single-DES terminals use the first 8)
    tpdu: bytes = bytes.fromhex("6000030000")
    key_mode: str = "003"  # "001" | "003" | "004"
    mac_alg: str = "cup-ecb"  # or "x9.19"
    header_version: bytes = bytes.fromhex("310000")
    key_layout: int = 60  # DE62 length for key mode 004: 60 ([C]) or 52 ([J])

    def __post_init__(self) -> None:
        if len(self.tid) != 8:
            raise ValueError(f"terminal ID (DE41) must be 8 characters, got {self.tid!r}")
        if len(self.mid) != 15:
            raise ValueError(f"merchant ID (DE42) must be 15 characters, got {self.mid!r}")
        if len(self.tmk) != 16:
            raise ValueError(f"terminal {self.tid}: the TMK must be 16 bytes (key not shown)")
        if len(self.tpdu) != 5 or self.tpdu[0] != 0x60:
            raise ValueError(f"TPDU must be 5 bytes starting 60, got {self.tpdu.hex()}")
        if self.key_mode not in KEY_MODES:
            raise ValueError(f"key mode must be one of {KEY_MODES}, got {self.key_mode!r}")
        if self.mac_alg not in ("cup-ecb", "x9.19"):
            raise ValueError(f"MAC algorithm must be cup-ecb or x9.19, got {self.mac_alg!r}")
        if self.key_layout not in (60, 52):
            raise ValueError(f"key layout must be 60 or 52, got {self.key_layout!r}")


@dataclass(frozen=True)
class CardRead:
    """What the terminal read from the card."""

    pan: str = field(repr=False)
    track2: str = field(repr=False)
    expiry: str  # YYMM
    entry: str  # "chip" | "swipe" | "contactless" | "fallback"
    seq_no: str | None = None  # DE23, chip and contactless
    icc: bytes | None = field(default=None, repr=False)  # DE55, chip and contactless

    def __post_init__(self) -> None:
        if self.entry not in ("chip", "swipe", "contactless", "fallback"):
            raise ValueError(f"entry must be chip, swipe, contactless or fallback, "
                             f"got {self.entry!r}")

    def __repr__(self) -> str:
        return f"CardRead({mask_pan(self.pan)}, {self.entry}, exp {self.expiry})"


@dataclass(frozen=True)
class SigninResult:
    rc: str
    batch: str
    host_datetime: datetime | None
    proc_req: int

    @property
    def approved(self) -> bool:
        return self.rc == "00"


@dataclass(frozen=True)
class FinancialResult:
    rc: str
    approved: bool
    rrn: str | None
    auth_code: str | None
    host_date: str | None  # MMDD
    host_time: str | None  # hhmmss
    mac_ok: bool  # True: DE64 present and right; False: the response carried no MAC
    proc_req: int
    pan_masked: str
    amount: int  # fen, as the response states it


def _clock(doc: dict[str, str]) -> datetime | None:
    date, time_ = doc.get("13"), doc.get("12")
    if not (date and time_):
        return None
    try:
        return datetime.strptime(f"{datetime.now().year}{date}{time_}", "%Y%m%d%H%M%S")
    except ValueError:
        raise ProtocolError(f"host clock DE13/DE12 {date}/{time_} is not a valid date") from None


class TerminalSession:
    """One terminal's protocol state: its configuration and, once signed in, its keys.

    Sign-in, sale, void, refund and reversal are built here; settlement, batch upload,
    sign-off and echo, which carry no MAC, in :mod:`devices.payments.terminal_admin`, on the
    same :class:`Envelope`."""

    def __init__(self, cfg: TerminalConfig):
        self.cfg = cfg
        self.envelope = Envelope(cfg)
        self._tmk = Key(cfg.tmk)
        self._keys: WorkingKeys | None = None

    def __repr__(self) -> str:
        return f"TerminalSession({self.cfg.tid}, signed_in={self.signed_in})"

    @property
    def signed_in(self) -> bool:
        return self._keys is not None

    def sign_out(self) -> None:
        """Forget the working keys (power cut, sign-off, host ordered a re-sign-in)."""
        self._keys = None

    # -- plumbing ---------------------------------------------------------------------------
    def _base(self, mti: str, stan: int | None) -> dict[str, str]:
        return self.envelope.base(mti, stan)

    def _send(self, doc: dict[str, str], *, mac: bool, pan: str = "") -> Outgoing:
        """``doc`` packed, MAC'd under the session's MAK when ``mac`` (a sign-in first)."""
        return self.envelope.send(doc, mak=self._require_keys().mak if mac else None, pan=pan)

    def _require_keys(self) -> WorkingKeys:
        if self._keys is None:
            raise ProtocolError(f"terminal {self.cfg.tid} is not signed in: sign in first")
        return self._keys

    # -- sign-in ----------------------------------------------------------------------------
    def signin_request(self, *, stan: int, batch: int, operator: str) -> Outgoing:
        """0800 with 60.3 = the configured key mode; no DE62 (reference)."""
        doc = self._base("0800", stan)
        doc["60"] = m.de60_management(f"{batch:06d}", self.cfg.key_mode)
        doc["63"] = f"{operator:0>2}"[:2] + " "
        return self._send(doc, mac=False)

    def signin_response(self, out: Outgoing, wire: bytes) -> SigninResult:
        got = self.envelope.receive(out, wire)
        rc = got.doc["39"]
        self.envelope.echo(out, got, ("11", "41"))
        batch = got.doc.get("60", "")[2:8]
        result = SigninResult(rc, batch, _clock(got.doc), got.frame.proc_req)
        if rc != "00":
            return result
        self.envelope.echo(out, got, ("42",))
        nmi = got.doc.get("60", "")[8:11]
        if nmi != self.cfg.key_mode:
            raise ProtocolError(f"0810 60.3 is {nmi!r}, the terminal asked for "
                                f"{self.cfg.key_mode}")
        if not (len(batch) == 6 and batch.isdigit()):
            raise ProtocolError(f"0810 60.2 batch {batch!r} is not 6 digits")
        if "62" not in got.doc:
            raise ProtocolError("approved 0810 carries no working keys (DE62)")
        try:
            self._keys = unpack_de62(self._tmk, bytes.fromhex(got.doc["62"]),
                                     self.cfg.key_mode, self.cfg.key_layout)
        except CryptoError as exc:
            raise ProtocolError(f"sign-in keys rejected: {exc}", rc=rc) from None
        return result

    # -- sale -------------------------------------------------------------------------------
    def sale_request(self, *, stan: int, batch: int, amount: int, read: CardRead,
                     pin: str | None) -> Outgoing:
        """0200, DE3 000000, 60.1 22 (amount in fen)."""
        if amount <= 0:
            raise ValueError(f"a sale amount must be positive, got {amount} fen")
        doc = self._base("0200", stan)
        doc.update(self._card_fields(read, pin))
        doc["3"] = m.PC_SALE
        doc["4"] = m.fmt_amount(amount)
        doc["25"] = "00"
        doc["49"] = m.CURRENCY_CNY
        doc["60"] = m.de60_financial(m.TYPE_SALE, f"{batch:06d}",
                                     contactless=read.entry == "contactless",
                                     fallback=read.entry == "fallback")
        return self._send(doc, mac=True, pan=read.pan)

    # -- void and reversal ------------------------------------------------------------------
    def void_request(self, *, stan: int, batch: int, amount: int, read: CardRead,
                     pin: str | None, orig_batch: int, orig_stan: int,
                     orig_rrn: str | None = None, orig_auth: str | None = None) -> Outgoing:
        """0200, DE3 200000, 60.1 23: the card presented again, DE4 = the original amount,
        DE37/38 the original's reference and authorisation, DE61 original batch + trace."""
        doc = self._base("0200", stan)
        doc.update(self._card_fields(read, pin))
        doc["3"] = m.PC_VOID
        doc["4"] = m.fmt_amount(amount)
        doc["25"] = "00"
        doc["37"] = orig_rrn or "0" * 12
        if orig_auth:
            doc["38"] = orig_auth
        doc["49"] = m.CURRENCY_CNY
        doc["60"] = m.de60_financial(m.TYPE_VOID, f"{batch:06d}",
                                     contactless=read.entry == "contactless",
                                     fallback=read.entry == "fallback")
        doc["61"] = f"{orig_batch:06d}{orig_stan:06d}"
        return self._send(doc, mac=True, pan=read.pan)

    def refund_request(self, *, stan: int, batch: int, amount: int, read: CardRead,
                       pin: str | None, orig_rrn: str, orig_date: str,
                       orig_batch: int | None = None, orig_stan: int | None = None,
                       card_org: str = m.CARD_ORG_UNKNOWN) -> Outgoing:
        """0220 (an advice), DE3 200000, 60.1 25: the card presented again, DE4 the amount
        to give back (up to the original's), DE37 the original's reference, DE61 original
        batch + trace + date MMDD ([C]'s layout; batch and trace zeros when unknown, as
        [C] sends them), DE63 the card organisation (``000`` unknown). MAC'd like a 0200;
        answered 0230 (read it with :meth:`financial_response`)."""
        if amount <= 0:
            raise ValueError(f"a refund amount must be positive, got {amount} fen")
        if not (len(orig_rrn) == 12 and orig_rrn.isascii()):
            raise ValueError(f"the original reference (DE37) is 12 characters, got {orig_rrn!r}")
        if not (len(orig_date) == 4 and orig_date.isdigit()):
            raise ValueError(f"the original date is MMDD, got {orig_date!r}")
        if len(card_org) != 3:
            raise ValueError(f"the card organisation (DE63) is 3 characters, got {card_org!r}")
        doc = self._base("0220", stan)
        doc.update(self._card_fields(read, pin))
        doc["3"] = m.PC_VOID
        doc["4"] = m.fmt_amount(amount)
        doc["25"] = "00"
        doc["37"] = orig_rrn
        doc["49"] = m.CURRENCY_CNY
        doc["60"] = m.de60_financial(m.TYPE_REFUND, f"{batch:06d}",
                                     contactless=read.entry == "contactless",
                                     fallback=read.entry == "fallback")
        doc["61"] = f"{orig_batch or 0:06d}{orig_stan or 0:06d}{orig_date}"
        doc["63"] = card_org
        return self._send(doc, mac=True, pan=read.pan)

    def reversal_request(self, out: Outgoing, reason: str, *, auth_code: str | None = None,
                         icc: bytes | None = None) -> Outgoing:
        """0400 from the original request: DE39 = reason (98 no response, A0 MAC failure,
        06 other); DE38 = the authorisation code when the terminal learnt it; DE35, 36,
        52, 26, 53 and 37 removed; DE11, DE22 and DE60 as in the original. ``icc``
        replaces DE55 (the reversal's own chip tags) when given."""
        if reason not in ("98", "A0", "06"):
            raise ValueError(f"reversal reason must be 98, A0 or 06, got {reason!r}")
        if out.mti != "0200":
            raise ValueError(f"only a 0200 is reversed here, not a {out.mti}")
        doc = {k: v for k, v in out.fields.items()
               if k not in ("p", "26", "35", "36", "37", "52", "53", "64")}
        doc["t"] = "0400"
        doc["39"] = reason
        if auth_code:
            doc["38"] = auth_code
        if icc is not None:
            doc["55"] = icc.hex().upper()
        reversal = self._send(doc, mac=True)
        reversal.pan_masked = out.pan_masked
        return reversal

    def _card_fields(self, read: CardRead, pin: str | None) -> dict[str, str]:
        """DE2/14/22/23/26/35/52/53/55 for how the card was read (reference §3.3)."""
        keys = self._require_keys()
        doc: dict[str, str] = {}
        icc = read.entry in ("chip", "contactless")
        if icc:
            doc["2"] = read.pan
            doc["14"] = read.expiry
            if read.seq_no is not None:
                doc["23"] = read.seq_no
            if read.icc is not None:
                doc["55"] = read.icc.hex().upper()
        doc["22"] = m.ENTRY_PAN_MODE[read.entry] + ("1" if pin else "2")
        track = track_to_z(read.track2)
        encrypted = keys.tdk is not None
        doc["35"] = encrypt_track(keys.tdk, track) if keys.tdk is not None else track
        if pin:
            doc["26"] = "12"
            doc["52"] = encrypt_pin(keys.pik, pin, read.pan).hex().upper()
        doc["53"] = m.de53(pin=bool(pin), double_length=self.cfg.key_mode != "001",
                           track_encrypted=encrypted)
        return doc

    def financial_response(self, out: Outgoing, wire: bytes) -> FinancialResult:
        got = self.envelope.receive(out, wire)
        rc = got.doc["39"]
        keys = self._require_keys()
        verified = m.mac_verdict(got, keys.mak, self.cfg.mac_alg)
        if verified is False:
            raise MacError(f"{got.mti} MAC does not verify (response code {rc}): store "
                           f"reversal reason A0 and sign in again", rc=rc)
        if verified is None and rc == "00":
            raise MacError(f"approved {got.mti} carries no MAC (DE64)", rc=rc)
        self.envelope.echo(out, got, ("3", "11", "41"))
        if rc != "10":
            self.envelope.echo(out, got, ("4",))
        if rc == "00":
            self.envelope.echo(out, got, ("42",))
        pan = got.doc.get("2")
        amount = got.doc.get("4") or out.fields.get("4") or "0"
        if not amount.isdigit():
            raise ProtocolError(f"{got.mti} DE4 {amount!r} is not an amount", rc=rc)
        return FinancialResult(
            rc=rc, approved=rc in m.APPROVED_CODES, rrn=got.doc.get("37"),
            auth_code=got.doc.get("38"), host_date=got.doc.get("13"),
            host_time=got.doc.get("12"), mac_ok=bool(verified), proc_req=got.frame.proc_req,
            pan_masked=mask_pan(pan) if pan else out.pan_masked, amount=int(amount))

    # -- settlement, batch upload, sign-off and echo (devices.payments.terminal_admin) ------
    def settle_request(self, *, stan: int, batch: int, totals: Totals,
                       operator: str = "01") -> Outgoing:
        return admin.settle_request(self.envelope, stan=stan, batch=batch, totals=totals,
                                    operator=operator)

    def settle_response(self, out: Outgoing, wire: bytes) -> SettleResult:
        return admin.settle_response(self.envelope, out, wire)

    def batch_upload_mag_request(self, *, stan: int, batch: int,
                                 items: list[BatchItem]) -> Outgoing:
        return admin.batch_upload_mag_request(self.envelope, stan=stan, batch=batch, items=items)

    def batch_upload_ic_request(self, *, batch: int, item: BatchItem,
                                balanced: bool) -> Outgoing:
        return admin.batch_upload_ic_request(self.envelope, batch=batch, item=item,
                                             balanced=balanced)

    def batch_upload_end_request(self, *, stan: int, batch: int, count: int,
                                 balanced: bool) -> Outgoing:
        return admin.batch_upload_end_request(self.envelope, stan=stan, batch=batch,
                                              count=count, balanced=balanced)

    def signoff_request(self, *, stan: int, batch: int) -> Outgoing:
        return admin.signoff_request(self.envelope, stan=stan, batch=batch)

    def echo_request(self, *, batch: int) -> Outgoing:
        return admin.echo_request(self.envelope, batch=batch)

    def management_response(self, out: Outgoing, wire: bytes) -> ManagementResult:
        """An approved sign-off forgets the working keys."""
        result = admin.management_response(self.envelope, out, wire)
        if result.signed_off:
            self.sign_out()
        return result
