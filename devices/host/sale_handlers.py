"""The 0200 and the sale: the host's side of a card payment (reference §3.3 and posrig's
choices), and the checks every card transaction shares (sale, void, refund, a QR payment's
amount and trace): amount, card, PIN, a fresh trace in an open batch, the booking.

Which handler answers which request is set in one place, devices.host.dispatch.
"""

from __future__ import annotations

from devices.host.core import Ctx, Decline, Handler, HostCore
from devices.host.issuer import Account
from devices.host.state import TerminalState, Txn
from devices.masking import mask_pan
from devices.payments import messages
from devices.payments.crypto import CryptoError, PinBlockError, decrypt_pin, decrypt_track
from devices.payments.spec import z_to_track

#: (DE3, 60.1) -> handler, for 0200; filled by devices.host.dispatch.install().
FINANCIAL: dict[tuple[str, str], Handler] = {}


def financial(core: HostCore, ctx: Ctx) -> None:
    """0200 dispatches on DE3 and 60.1 (:data:`FINANCIAL`): the sale here, the void in
    devices.host.undo_handlers, QR payments in devices.host.qr."""
    pc, tx_type = ctx.req.get("3"), ctx.req.get("60", "")[:2]
    handler = FINANCIAL.get((pc or "", tx_type))
    if handler is None:
        ctx.echo("3", "4", "11", "41", "42")
        term = core.require_terminal(ctx)
        core.verify_mac(ctx, term)
        raise Decline("40", f"0200 with DE3 {pc} and 60.1 {tx_type} is not supported")
    handler(core, ctx)


# -- sale (0200 / 0210, DE3 000000) -----------------------------------------------------------

def sale(core: HostCore, ctx: Ctx) -> None:
    ctx.kind = "sale"
    ctx.echo("2", "3", "4", "11", "14", "25", "41", "42", "49", "60")
    term = core.require_terminal(ctx)
    core.verify_mac(ctx, term)
    amount = check_amount(ctx)
    account, card_row = read_card(core, ctx, term)
    ctx.row.update(card_row)
    key = booking_key(core, ctx, term)
    check_pin(ctx, term, account)
    if not core.issuer.debit(account, amount):
        raise Decline("51", f"available {account.available} fen < {amount} fen")
    approve(core, ctx, Txn(
        key=key, kind="sale", amount=amount, account=account, rrn="", auth_code="",
        journal_id=0, ic=card_row["entry_mode"] in ("chip", "contactless"),
        scheme=account.card.scheme, pan_masked=str(card_row["pan_masked"]), pc=messages.PC_SALE))


# -- checks every card transaction shares -----------------------------------------------------

def booking_key(core: HostCore, ctx: Ctx, term: TerminalState) -> tuple[str, str, str]:
    """TID, batch, trace of a new financial transaction: a trace already used in the batch
    is 94; a batch the host has settled is closed (22)."""
    key = (term.tid, ctx.req["60"][2:8], ctx.req["11"])
    if key[1] in term.settled_batches:
        raise Decline("22", f"batch {key[1]} is settled: sign in for the next batch")
    if key in core.ledger:
        raise Decline("94", f"trace {key[2]} of batch {key[1]} was already used")
    return key


def approve(core: HostCore, ctx: Ctx, txn: Txn) -> None:
    """Book ``txn``: reference number, authorisation code, ledger, journal state."""
    txn.rrn = ctx.resp["37"] = core.next_rrn(ctx.now)
    txn.auth_code = ctx.resp["38"] = core.next_auth_code()
    ctx.resp["63"] = txn.scheme[:3]
    core.ledger[txn.key] = txn
    ctx.row.update(rrn=txn.rrn, auth_code=txn.auth_code, state="approved", scheme=txn.scheme)

    def bind(entry_id: int) -> None:
        txn.journal_id = entry_id
    ctx.after.append(bind)


def check_amount(ctx: Ctx) -> int:
    ctx.need("3", "4", "11", "22", "25", "49", "60")
    de4, de60 = ctx.req["4"], ctx.req["60"]
    if not de4.isdigit():
        raise Decline("30", "DE4 is not BCD digits")
    if len(de60) not in (13, 14) or not de60.isdigit():
        raise Decline("30", f"financial DE60 must be 13 or 14 digits, got {len(de60)}")
    if ctx.req["49"] != messages.CURRENCY_CNY:
        raise Decline("30", f"currency {ctx.req['49']!r}: this host settles in 156 (CNY)")
    amount = int(de4)
    if amount == 0:
        raise Decline("13", "amount is zero")
    ctx.row["amount"] = amount
    return amount


def read_card(core: HostCore, ctx: Ctx, term: TerminalState) -> tuple[Account, dict]:
    """PAN, expiry and service code from DE2/14/35 as the entry mode dictates; checks the
    entry mode against the card (chip data present, no swipe of a chip card unless
    falling back) and the expiry against the host's clock."""
    req = ctx.req
    de22 = req["22"]
    entry = messages.ENTRY_NAMES.get(de22[:2])
    if entry is None or len(de22) != 3:
        raise Decline("30", f"DE22 {de22!r}: PAN entry mode must be 01, 02, 05 or 07")
    fallback = req["60"][12:13] == "2"
    if entry == "swipe" and fallback:
        entry = "fallback"
    row: dict[str, object] = {"entry_mode": entry}
    pan, expiry, service = req.get("2"), req.get("14"), None
    if "35" in req:
        de35 = req["35"]
        encrypted = term.working is not None and term.working.tdk is not None
        check_de53_tracks(ctx, encrypted)
        if encrypted:
            try:
                de35 = decrypt_track(term.working.tdk, de35)  # type: ignore[union-attr]
            except CryptoError:
                raise Decline("30", "DE35 is not hex digits") from None
        track = z_to_track(de35)
        track_pan, sep, rest = track.partition("=")
        if not sep or not track_pan.isdigit() or len(rest) < 7 or not rest[:7].isdigit():
            raise Decline("14", "track 2 does not read as PAN=YYMM+service code")
        if pan is not None and pan != track_pan:
            raise Decline("14", "DE2 and the PAN in track 2 differ")
        pan = track_pan
        expiry = expiry or rest[:4]
        service = rest[4:7]
    elif entry in ("swipe", "fallback"):
        raise Decline("30", "a swiped sale carries track 2 (DE35)")
    if entry in ("chip", "contactless") and "55" not in req:
        raise Decline("30", f"{entry} entry (DE22 {de22}) without chip data (DE55)")
    if pan is None or expiry is None:
        raise Decline("30", "no card number: DE2/DE14 or DE35 needed")
    row["pan_masked"] = mask_pan(pan)
    account = core.issuer.account(pan)
    if account is None:
        raise Decline("14", "card not known to the issuer")
    card = account.card
    service = service or card.service_code
    if entry == "swipe" and service[0] in "26":
        raise Decline("45", f"service code {service}: chip card swiped without fallback")
    if not (len(expiry) == 4 and expiry.isdigit() and 1 <= int(expiry[2:]) <= 12):
        raise Decline("30", f"expiry {expiry!r} is not YYMM")
    if expiry < f"{ctx.now:%y%m}":
        raise Decline("54", f"card expired {expiry}")
    return account, row


def check_de53_tracks(ctx: Ctx, encrypted: bool) -> None:
    de53 = ctx.req.get("53")
    flag = de53[2:3] if de53 else "0"
    if encrypted and flag != "1":
        raise Decline("30", "004 session: DE35 must be TDK-encrypted and DE53 digit 3 = 1")
    if not encrypted and flag == "1":
        raise Decline("30", "DE53 says tracks are encrypted but this session has no TDK")


def check_pin(ctx: Ctx, term: TerminalState, account: Account) -> None:
    """The PIN is checked when a PIN block is sent; the CVM decision is the terminal's."""
    if "52" not in ctx.req:
        if ctx.req["22"][2:3] == "1":
            raise Decline("30", "DE22 says PIN entered but there is no PIN block (DE52)")
        return
    de53 = ctx.req.get("53", "")
    if ctx.req.get("26") != "12" or de53[:1] != "2":
        raise Decline("30", "a PIN block needs DE26 = 12 and DE53 digit 1 = 2")
    want_alg = "0" if term.key_mode == "001" else "6"
    if de53[1:2] != want_alg:
        raise Decline("30", f"DE53 digit 2 must be {want_alg} for key mode {term.key_mode}")
    assert term.working is not None
    try:
        pin = decrypt_pin(term.working.pik, bytes.fromhex(ctx.req["52"]), account.card.pan)
    except PinBlockError:
        raise Decline("55", "PIN block does not decode as format 0 under the PIN key") from None
    if pin != account.card.pin:
        raise Decline("55", "wrong PIN")
