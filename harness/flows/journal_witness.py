"""The witnesses of a transaction must agree: the terminal's answer and the host's journal.

Every comparison is made, and all disagreements are reported together (a vendor fixing one
field should not discover the next one a night later). The receipt, the third witness,
is compared in harness/flows/receipt.py.
"""

from __future__ import annotations

from devices import events
from devices.cards import Card
from devices.host.journal import JournalEntry
from harness.flows.core import FlowError, TransactionResult, source
from harness.station import Station


def journaled(station: Station, result: TransactionResult) -> JournalEntry:
    """The host's journal row of ``result`` (matched by trace), or FlowError if there is none."""
    for entry in reversed(station.host.entries(station.tid, result.kind)):
        if entry.stan is not None and result.trace is not None and int(entry.stan) == result.trace:
            return entry
    raise FlowError(f"{station.name}: the host journaled no {result.kind} with trace "
                    f"{result.trace} from terminal {station.tid}; the terminal reported "
                    f"{result.status} rc={result.rc}")


def check_witnesses(station: Station, result: TransactionResult,
                    card: Card | str | None = None) -> JournalEntry:
    """The terminal's account of ``result`` and the host's journal tell one story."""
    with events.step(source(station), f"compare the terminal's {result.kind} with the host's journal",
                     trace=result.trace) as s:
        entry = journaled(station, result)
        expected_card = station.card(card).masked_pan if card is not None else result.card
        pairs = [
            ("response code", entry.rc, result.rc),
            ("amount (fen)", entry.amount, result.amount),
            ("card number", entry.pan_masked, expected_card),
            ("card number on the terminal", result.card, expected_card),
            ("batch", int(entry.batch) if entry.batch else None, result.batch),
            ("reference number", entry.rrn, result.rrn),
            ("authorisation code", entry.auth_code, result.auth_code),
        ]
        # A declined exchange may stop at the host before it books a card or a reference:
        # what the host did not record cannot disagree.
        wrong = [f"{what}: host {host!r}, terminal {term!r}" for what, host, term in pairs
                 if host != term and not (result.rc != "00" and (host is None or what in (
                     "reference number", "authorisation code")))]
        s.attach("witnesses", "\n".join(f"{what}: host={host!r} terminal={term!r}"
                                        for what, host, term in pairs))
        if wrong:
            raise FlowError(f"{station.name}: the witnesses of {result.kind} trace {result.trace} "
                            f"disagree: " + "; ".join(wrong))
        s.result = "agree"
    return entry
