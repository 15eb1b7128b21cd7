"""Property: over random interleavings of sales, voids, lost answers with their reversals,
repeated and phantom reversals and settlements on several terminals, the journal's totals
always equal what the terminal settles with, and the host finds the batch balanced."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.host import AcquirerHost
from devices.host.testing import LoopbackTerminal, lab_card, lab_config, terminal_config
from devices.payments.framing import FramingError
from devices.payments.settlement import Totals
from devices.payments.terminal_side import MacError

CARDS = [lab_card("cup-debit-chip"), lab_card("cup-magstripe"), lab_card("cup-low-funds")]
ENTRY = {"cup-debit-chip": "chip", "cup-magstripe": "swipe", "cup-low-funds": "contactless"}
TIDS = ["10000001", "10000002", "10000003"]

terminal_ix = st.integers(0, len(TIDS) - 1)
ops = st.one_of(
    st.tuples(st.just("sale"), terminal_ix, st.integers(0, 2), st.integers(1, 2000)),
    st.tuples(st.just("void"), terminal_ix, st.integers(0, 20)),
    st.tuples(st.just("lost_sale"), terminal_ix, st.sampled_from(["close", "corrupt_mac"]),
              st.integers(1, 2000)),
    st.tuples(st.just("lost_void"), terminal_ix, st.integers(0, 20)),
    st.tuples(st.just("repeat_reversal"), terminal_ix),
    st.tuples(st.just("phantom_reversal"), terminal_ix, st.integers(1, 2000)),
    st.tuples(st.just("settle"), terminal_ix),
)


class Model:
    """A well-behaved terminal: it keeps its batch and reverses every lost answer."""

    def __init__(self, host: AcquirerHost, tid: str):
        self.host = host
        self.terminal = LoopbackTerminal(host.port, terminal_config(tid, host.config.terminals[tid]))
        assert self.terminal.signin().approved
        self.sales: list[tuple] = []  # (out, result, card) approved and not voided
        self.last_reversal = None

    def sale(self, card, amount) -> None:
        out = self.terminal.sale_request(card, amount, entry=ENTRY[card.card_id])
        answer = self.terminal.session.financial_response(out, self.terminal.send(out))
        result = self.terminal.book(out, card, answer)
        if result.rc == "00":
            self.sales.append((out, result, card))

    def void(self, pick: int) -> None:
        if self.sales:
            out, result, card = self.sales[pick % len(self.sales)]
            if self.terminal.void(card, out, result, entry=ENTRY[card.card_id]).rc == "00":
                self.sales.remove((out, result, card))

    def lost(self, out, how: str) -> None:
        self.host.script.next(tid=self.terminal.session.cfg.tid, **{how: True})
        try:
            self.terminal.session.financial_response(out, self.terminal.send(out))
            raise AssertionError("the scripted answer was not lost")
        except (FramingError, MacError) as exc:
            reason = getattr(exc, "reversal_reason", "98")
        assert self.terminal.reverse(out, reason).rc == "00"
        self.last_reversal = (out, reason)

    def lost_void(self, pick: int) -> None:
        if self.sales:
            out, result, card = self.sales[pick % len(self.sales)]
            self.lost(self.terminal.void_request(card, out, result, entry=ENTRY[card.card_id]),
                      "close")

    def settle_and_check(self) -> None:
        terminal = self.terminal
        expected = self.host.journal.totals(terminal.session.cfg.tid, f"{terminal.batch:06d}")
        assert expected == Totals.of(terminal.items.values())
        result = terminal.settle()
        assert result.balanced, (result, expected)
        assert all(reply.rc == "00" for reply in terminal.upload(result))
        terminal.close_batch()
        assert terminal.signin().batch == f"{terminal.batch:06d}"
        self.sales.clear()


def play(host: AcquirerHost, steps: list[tuple]) -> None:
    host.start_in_thread()
    try:
        models = [Model(host, tid) for tid in TIDS]
        for op, ix, *args in steps:
            model = models[ix]
            if op == "sale":
                model.sale(CARDS[args[0]], args[1])
            elif op == "void":
                model.void(args[0])
            elif op == "lost_sale":
                model.lost(model.terminal.sale_request(CARDS[0], args[1]), args[0])
            elif op == "lost_void":
                model.lost_void(args[0])
            elif op == "repeat_reversal" and model.last_reversal:
                assert model.terminal.reverse(*model.last_reversal).rc == "00"
            elif op == "phantom_reversal":
                assert model.terminal.reverse(model.terminal.sale_request(CARDS[1], args[0],
                                                            entry="swipe")).rc == "00"
            elif op == "settle":
                model.settle_and_check()
        for model in models:
            model.settle_and_check()
    finally:
        host.stop()


def clock() -> datetime:  # importable: a worker process calls it too
    return datetime(2026, 3, 4, 5, 6, 7)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=25))
def test_journal_totals_always_equal_settlement(steps):
    play(AcquirerHost(lab_config(clock=clock, log_exchanges=False)), steps)


@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=25))
def test_journal_totals_always_equal_settlement_with_two_workers(tmp_path_factory, steps):
    """The same with the terminals split over two worker processes (one journal file, one
    issuer, one script): terminals 10000001 and 10000003 on one, 10000002 on the other."""
    journal = tmp_path_factory.mktemp("journal") / "journal.sqlite"
    play(AcquirerHost(lab_config(clock=clock, log_exchanges=False, journal_path=journal,
                                 workers=2)), steps)
