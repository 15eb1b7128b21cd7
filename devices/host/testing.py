"""Helpers to drive the host from tests and scenarios: the lab's fixtures as a host
configuration, and a loopback terminal built from :class:`TerminalSession` that keeps its
own trace and batch numbers as a real terminal does."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from devices.cards import Card, load_cards
from devices.host.config import HostConfig, TerminalKeys, load_terminal_keys
from devices.payments import framing
from devices.payments import messages as m
from devices.payments.settlement import BatchItem, Totals, plan_uploads
from devices.payments.terminal_side import (
    CardRead,
    FinancialResult,
    ManagementResult,
    Outgoing,
    SettleResult,
    SigninResult,
    TerminalConfig,
    TerminalSession,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
#: The host's clock in tests that pin it: dates in messages and journal stay the same each run.
LAB_CLOCK = datetime(2026, 3, 4, 5, 6, 7)
MERCHANT = "898100012340001"  # fixtures/terminals/posrig-sim.yaml host_profile.merchant_id
#: Minimal chip data: an ARQC tag with a dummy cryptogram (the host does not check it).
ICC_DATA = bytes.fromhex("9F2608") + bytes(8)


def lab_config(**overrides: Any) -> HostConfig:
    """The host as the virtual lab runs it: fixture terminals and cards, in-memory journal."""
    terminals = load_terminal_keys(FIXTURES / "keys" / "terminals.yaml")
    cards = list(load_cards(FIXTURES / "cards.yaml").values())
    return HostConfig(terminals=terminals, cards=cards, **overrides)


def lab_card(card_id: str) -> Card:
    try:
        return load_cards(FIXTURES / "cards.yaml")[card_id]
    except KeyError:
        raise KeyError(f"no card {card_id!r} in fixtures/cards.yaml") from None


def card_read(card: Card, entry: str = "chip") -> CardRead:
    icc = entry in ("chip", "contactless")
    return CardRead(pan=card.pan, track2=card.track2, expiry=card.expiry, entry=entry,
                    seq_no=card.seq_no if icc else None, icc=ICC_DATA if icc else None)


def terminal_config(tid: str, keys: TerminalKeys, **overrides: Any) -> TerminalConfig:
    cfg = TerminalConfig(tid=tid, mid=keys.mid or MERCHANT, tmk=keys.tmk,
                         key_mode=keys.key_mode, mac_alg=keys.mac_alg,
                         key_layout=keys.key_layout)
    return replace(cfg, **overrides) if overrides else cfg


class LoopbackTerminal:
    """One terminal talking to a host on loopback, one connection per exchange."""

    def __init__(self, port: int, cfg: TerminalConfig, *, host: str = "127.0.0.1",
                 timeout: float = 10.0):
        self.session = TerminalSession(cfg)
        self.addr = (host, port)
        self.timeout = timeout
        self.stan = 0
        self.batch = 1
        #: The terminal's own batch record: trace -> item, approved and not reversed.
        self.items: dict[str, BatchItem] = {}

    def __repr__(self) -> str:
        return f"LoopbackTerminal({self.session.cfg.tid}, stan {self.stan}, batch {self.batch})"

    def next_stan(self) -> int:
        self.stan = self.stan % 999_999 + 1
        return self.stan

    def send(self, out: Outgoing) -> bytes:
        return framing.exchange(*self.addr, out.wire, self.timeout)

    def signin(self, operator: str = "01") -> SigninResult:
        out = self.session.signin_request(stan=self.next_stan(), batch=self.batch,
                                          operator=operator)
        result = self.session.signin_response(out, self.send(out))
        if result.approved:
            self.batch = int(result.batch)
        return result

    def sale_request(self, card: Card, amount: int, *, entry: str = "chip",
                     pin: str | None = "card") -> Outgoing:
        """``pin="card"`` types the card's own PIN; None sends no PIN block."""
        return self.session.sale_request(
            stan=self.next_stan(), batch=self.batch, amount=amount, read=card_read(card, entry),
            pin=card.pin if pin == "card" else pin)

    def sale(self, card: Card, amount: int, **kwargs: Any) -> FinancialResult:
        out = self.sale_request(card, amount, **kwargs)
        return self.book(out, card, self.session.financial_response(out, self.send(out)))

    def book(self, out: Outgoing, card: Card, result: FinancialResult) -> FinancialResult:
        """Keep an approved sale or void in the terminal's batch, as a terminal does."""
        if result.rc == "00":
            entry = m.ENTRY_NAMES.get(out.fields["22"][:2], "swipe")
            self.items[out.fields["11"]] = BatchItem(
                stan=out.fields["11"], pan=card.pan, amount=result.amount,
                kind={m.TYPE_VOID: "void", m.TYPE_REFUND: "refund"}.get(
                    out.fields["60"][:2], "sale"),
                ic=entry in ("chip", "contactless"), domestic=card.scheme == "CUP",
                entry_mode=out.fields["22"], seq_no=out.fields.get("23"),
                icc=bytes.fromhex(out.fields["55"]) if "55" in out.fields else None)
        return result

    def void_request(self, card: Card, sale_out: Outgoing, sale: FinancialResult, *,
                     entry: str = "chip", pin: str | None = None) -> Outgoing:
        return self.session.void_request(
            stan=self.next_stan(), batch=self.batch, amount=sale.amount,
            read=card_read(card, entry), pin=card.pin if pin == "card" else pin,
            orig_batch=int(sale_out.fields["60"][2:8]), orig_stan=int(sale_out.fields["11"]),
            orig_rrn=sale.rrn, orig_auth=sale.auth_code)

    def void(self, card: Card, sale_out: Outgoing, sale: FinancialResult,
             **kwargs: Any) -> FinancialResult:
        out = self.void_request(card, sale_out, sale, **kwargs)
        return self.book(out, card, self.session.financial_response(out, self.send(out)))

    def refund_request(self, card: Card, sale: FinancialResult, amount: int, *,
                       sale_date: str, entry: str = "chip",
                       pin: str | None = None) -> Outgoing:
        """A refund of ``amount`` fen of ``sale`` (its reference), sold on ``sale_date``
        (MMDD); batch and trace of the original sent as zeros, as [C] does."""
        assert sale.rrn is not None
        return self.session.refund_request(
            stan=self.next_stan(), batch=self.batch, amount=amount, read=card_read(card, entry),
            pin=card.pin if pin == "card" else pin, orig_rrn=sale.rrn, orig_date=sale_date)

    def refund(self, card: Card, sale: FinancialResult, amount: int,
               **kwargs: Any) -> FinancialResult:
        out = self.refund_request(card, sale, amount, **kwargs)
        return self.book(out, card, self.session.financial_response(out, self.send(out)))

    def reverse(self, out: Outgoing, reason: str = "98",
                auth_code: str | None = None) -> FinancialResult:
        """Send the reversal of ``out`` and drop it from the terminal's batch."""
        rev = self.session.reversal_request(out, reason, auth_code=auth_code)
        result = self.session.financial_response(rev, self.send(rev))
        if result.rc == "00":
            self.items.pop(out.fields["11"], None)
        return result

    def settle(self) -> SettleResult:
        out = self.session.settle_request(stan=self.next_stan(), batch=self.batch,
                                          totals=Totals.of(self.items.values()))
        return self.session.settle_response(out, self.send(out))

    def upload(self, result: SettleResult) -> list[ManagementResult]:
        """The batch upload the settlement result calls for, then its end message."""
        plan = plan_uploads(list(self.items.values()), result.domestic_flag,
                            result.foreign_flag)
        balanced = plan.end_nmi == "207"
        outs = [self.session.batch_upload_mag_request(stan=self.next_stan(), batch=self.batch,
                                                      items=group) for group in plan.mag]
        outs += [self.session.batch_upload_ic_request(batch=self.batch, item=item,
                                                      balanced=balanced) for item in plan.ic]
        outs.append(self.session.batch_upload_end_request(
            stan=self.next_stan(), batch=self.batch, count=plan.count, balanced=balanced))
        return [self.session.management_response(o, self.send(o)) for o in outs]

    def close_batch(self) -> None:
        """After settlement: a new, empty batch."""
        self.items.clear()
        self.batch = self.batch % 999_999 + 1


def signed_in(host: Any, tid: str = "10000001") -> LoopbackTerminal:
    """A loopback terminal for ``tid`` that has signed in to a running ``host``."""
    if host.port is None:
        raise RuntimeError("start the host before signing a terminal in to it")
    terminal = LoopbackTerminal(host.port, terminal_config(tid, host.config.terminals[tid]))
    result = terminal.signin()
    if not result.approved:
        raise AssertionError(f"sign-in of {tid} answered {result.rc}")
    return terminal
