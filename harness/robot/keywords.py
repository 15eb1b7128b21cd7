"""The keywords, in lab words, one component per thing on the bench.

Each keyword is one call into harness.flows: the Robot layer adds no logic of its own,
so a Robot suite and a pytest scenario exercise exactly the same code. Amounts are in fen
(integers), as the Python API and the ECR dialect take them.
"""

from __future__ import annotations

from robotlibcore import keyword

from devices.host.journal import JournalEntry
from devices.terminal.dialect import Response
from harness import flows
from harness.robot.session import LabSession
from harness.screen import ScreenReading
from harness.screen.transaction import expect_screen


class _Component:
    def __init__(self, session: LabSession):
        self.session = session


class StationKeywords(_Component):
    """The terminal on its bench: power, operator, sign-in, transactions."""

    @keyword
    def use_station(self, name: str) -> None:
        """Run this suite on station ``name`` of the lab inventory (in the suite setup, before
        any test): what pabot's `Acquire Value Set` hands a process, see posrig.resource."""
        self.session.use_station(name)

    @keyword
    def power_cycle_terminal(self) -> Response:
        """Cut and restore the terminal's power; fails if it does not come up."""
        return flows.power_cycle(self.session.station())

    @keyword
    def log_in_operator(self, password: str | None = None, operator: str | None = None) -> Response:
        """Operator login, with the profile's password unless one is given."""
        return flows.login(self.session.station(), operator, password)

    @keyword
    def sign_in(self) -> flows.SignInResult:
        """Log in if needed, then sign in (working keys from the host)."""
        return flows.sign_in(self.session.station())

    @keyword
    def terminal_status(self) -> dict:
        """The terminal's own account: logged in, signed in, batch, trace, pending reversal."""
        return dict(flows.status(self.session.station()).data)

    @keyword
    def sale(self, amount_fen: int, card: str, entry: str = "insert",
             pin: str | None = None) -> flows.TransactionResult:
        """A sale of ``amount_fen`` with ``card`` (an id from cards.yaml), presented by
        ``entry`` (insert, swipe, tap); ``pin`` is typed instead of the card's own PIN."""
        result = flows.sale(self.session.station(), amount_fen, card, entry, pin)
        self.session.last_sale = result
        return result

    @keyword
    def sale_cut_by_power_loss(self, amount_fen: int, card: str) -> flows.TransactionResult:
        """A sale whose power is cut once its request has gone to the host (the debug console
        says when), before the answer is in; the terminal stays off (`Restore Power`)."""
        result = flows.sale_cut_by_power(self.session.station(), amount_fen, card)
        self.session.last_sale = result
        return result

    @keyword
    def restore_power(self) -> dict:
        """Switch the terminal's power back on and wait for it to boot; returns its status."""
        return dict(flows.power_on(self.session.station()).data)

    @keyword
    def refund_last_sale(self, card: str, amount_fen: int | None = None,
                         by_reference: bool = False) -> flows.TransactionResult:
        """Give back ``amount_fen`` (all of it by default) of the last sale of this test:
        supervisor password on the keypad, then ``card``; ``by_reference`` for a sale of a
        batch already settled (its reference number and date)."""
        if self.session.last_sale is None:
            raise AssertionError("no sale to refund in this test: run a Sale first")
        return flows.refund(self.session.station(), self.session.last_sale, card, amount_fen,
                            by_reference=by_reference)

    @keyword
    def reprint_slip(self, trace: int | None = None) -> flows.Reprint:
        """The last slip printed again (or the one of ``trace``), marked as a reprint."""
        return flows.reprint(self.session.station(), trace)

    @keyword
    def void_last_sale(self, card: str, supervisor_password: str | None = None,
                       entry: str = "insert") -> flows.TransactionResult:
        """Void the last sale of this test: the supervisor password typed on the keypad (the
        profile's unless one is given), then ``card`` presented again."""
        if self.session.last_sale is None:
            raise AssertionError("no sale to void in this test: run a Sale first")
        return flows.void(self.session.station(), self.session.last_sale, card, entry,
                          supervisor_password)

    @keyword
    def settle(self) -> dict:
        """Close the batch with the host; returns status, totals and ``balanced``."""
        settled = flows.settle(self.session.station())
        self.session.last_settlement = settled
        return {"status": settled.status, **settled.data}

    @keyword
    def restore_bench(self) -> None:
        """Card back in its slot, robot homed, host script cleared (a test teardown)."""
        lab = self.session.lab
        if lab is not None:
            flows.restore_bench(lab.station(self.session.station_name or None))


class CardKeywords(_Component):
    """The test cards and where they are."""

    @keyword
    def masked_card_number(self, card: str) -> str:
        """The card's number as it may be shown anywhere: first 6 and last 4 digits."""
        return self.session.station().card(card).masked_pan

    @keyword
    def cards_should_be_home(self) -> None:
        """Every card back in its magazine slot."""
        flows.check_cards_home(self.session.station())


class HostKeywords(_Component):
    """The acquirer host: what it will answer, and what it journaled."""

    @keyword
    def host_will_decline_next_sale_with(self, rc: str) -> None:
        """The host answers this terminal's next sale with response code ``rc``."""
        flows.host_will(self.session.station(), "sale", rc=rc)

    @keyword
    def host_will_not_answer_next_sale(self) -> None:
        """The host processes this terminal's next sale and sends no answer."""
        flows.host_will(self.session.station(), "sale", drop=True)

    @keyword
    def host_will_hang_up_on_next_sale(self) -> None:
        """The host books this terminal's next sale, then closes the line unanswered."""
        flows.host_will(self.session.station(), "sale", close=True)

    @keyword
    def host_will_corrupt_the_mac_of_next_sale(self) -> None:
        """The host answers this terminal's next sale with a MAC that does not verify."""
        flows.host_will(self.session.station(), "sale", corrupt_mac=True)

    @keyword
    def host_will_order_sign_in_with_next_sale(self) -> None:
        """The host approves this terminal's next sale and orders a new sign-in in its answer."""
        flows.host_will(self.session.station(), "sale", resign=True)

    @keyword
    def host_will_report_next_settlement_unbalanced(self) -> None:
        """The host answers this terminal's next settlement "not balanced": a batch upload follows."""
        flows.host_will(self.session.station(), "settlement", unbalanced=True)

    @keyword
    def host_will_answer_next_sale_with_amount(self, amount_fen: int) -> None:
        """The host answers this terminal's next sale with ``amount_fen`` in DE4 (and its
        journal says so), whatever the terminal asked: a witness that disagrees."""
        flows.host_will(self.session.station(), "sale", amount=amount_fen)

    @keyword
    def host_should_agree_with(self, transaction: flows.TransactionResult,
                               card: str | None = None) -> JournalEntry:
        """The host's journal and the terminal tell one story about ``transaction``."""
        return flows.check_witnesses(self.session.station(), transaction, card)

    @keyword
    def host_journal(self, kind: str | None = None) -> list[JournalEntry]:
        """The host's journal rows for this terminal (optionally one kind), oldest first."""
        return flows.journal(self.session.station(), kind)


class ScreenKeywords(_Component):
    """The terminal's screen, through the station's display camera (docs/screen.md)."""

    @keyword
    def screen_should_show(self, state: str, timeout: float = 10.0) -> ScreenReading:
        """Wait until the terminal's screen shows ``state``, a screen state of its profile
        (approved, declined, insert_card, idle, ...); returns what was read (``text``,
        ``groups``: a decline's ``${screen.groups}[declined][code]``). Fails with the text the
        screen did show and its last frame; a station without a display camera is broken."""
        return expect_screen(self.session.station(), state, timeout)


class ReceiptKeywords(_Component):
    """The slip the terminal printed."""

    @keyword
    def receipt_should_match(self, transaction: flows.TransactionResult | None = None,
                             reprint: flows.Reprint | None = None) -> dict:
        """Every field of the slip agrees with ``transaction`` (default: the last sale); with
        ``reprint`` (what `Reprint Slip` returned), the reprinted copy of it is read."""
        transaction = transaction or self.session.last_sale
        if transaction is None:
            raise AssertionError("no transaction to compare the receipt with: run a Sale first")
        return flows.check_receipt(self.session.station(), transaction, reprint=reprint)

    @keyword
    def settlement_slip_should_match(self) -> dict:
        """The slip of this test's last `Settle` agrees with the terminal's answer and the
        host's journal: batch, totals per side, balanced or not."""
        settled = self.session.last_settlement
        if settled is None:
            raise AssertionError("no settlement to compare the slip with: run Settle first")
        return flows.check_settlement_slip(self.session.station(), settled)
