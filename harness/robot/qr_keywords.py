"""Scan-to-pay keywords (docs/qr.md): each one call into harness.flows.qr, as the other
components are into harness.flows. A scan sale reads in lab words:

    ${code}=    Payment Code    wallet=01
    Start Scan Sale    2345
    Present Payment Code    ${code}
    ${sale}=    Scan Sale Answer

and an order paid from the terminal's screen:

    Start Order By Code    3456
    Pay Code On Screen
    ${order}=    Order By Code Answer
"""

from __future__ import annotations

from robot.api.exceptions import SkipExecution
from robotlibcore import keyword

from devices.phone import Phone
from harness import flows
from harness.flows import qr
from harness.robot.session import LabSession


class QrKeywords:
    """The customer's phone, the wallet, and the terminal's scan-to-pay."""

    def __init__(self, session: LabSession):
        self.session = session
        self._started: qr.Started | None = None

    def _phone(self) -> Phone:
        station = self.session.station()
        lab = self.session.running_lab()
        if lab.virtual is not None and station.name in lab.virtual.stations:
            return lab.virtual.stations[station.name].phone
        if station.spec.phone:  # a live inventory's simulated phone, by its socket (docs/qr.md)
            from devices.phone.control import PhoneControl

            return PhoneControl(station.spec.phone)
        # as the pytest scenarios' phone fixture: a bench without a phone cannot run a C2B case,
        # which is neither the terminal's fault nor the bench's (skipped, the station kept)
        raise SkipExecution(f"{station.name} has no phone the rig drives (a real bench or a "
                            "labgrid place: not yet; the virtual lab's stations have one)")

    @keyword
    def payment_code(self, wallet: str = "03", outcome: str | None = None) -> str:
        """A new payment code of ``wallet``'s family (01 WeChat Pay, 02 Alipay, 03 UnionPay
        QR); ``outcome`` is what the host's test wallet will answer for it: approve (the
        default), expired, decline:51, pending:3:approve (a password on the phone), pending:forever.
        On a bench without a phone the test is skipped here, before the terminal starts a sale."""
        self._phone()
        return qr.payment_code(self.session.station(), wallet, outcome)

    @keyword
    def start_scan_sale(self, amount_fen: int) -> None:
        """Start a scan sale (C2B): the terminal waits for a payment code at its scanner."""
        self._started = qr.start_qr_sale(self.session.station(), amount_fen)

    @keyword
    def present_payment_code(self, code: str) -> None:
        """The phone shows ``code`` and the bench holds it to the terminal's scanner."""
        qr.present_payment_code(self.session.station(), self._phone(), code)

    @keyword
    def scan_sale_answer(self) -> flows.TransactionResult:
        """The terminal's answer to the scan sale started (it may poll while the customer
        confirms on the phone); the phone is taken away from the scanner."""
        try:
            return qr.finish(self.session.station(), self._take("qr_sale"))
        finally:
            qr.withdraw_phone(self.session.station(), self._phone())

    @keyword
    def start_order_by_code(self, amount_fen: int) -> None:
        """Start an order (B2C): the terminal shows a code on its screen for the customer's wallet."""
        self._started = qr.start_qr_order(self.session.station(), amount_fen)

    @keyword
    def pay_code_on_screen(self, outcome: str = "approve", after_s: float = 0) -> str:
        """The display camera reads the code the terminal shows and the customer's wallet pays
        it (``outcome`` approve or decline:<rc>; ``after_s`` a password's delay). Returns the order."""
        return qr.pay_code_on_screen(self.session.station(), outcome, after_s)

    @keyword
    def code_on_screen(self) -> str:
        """The code the terminal's screen shows, as the display camera reads it."""
        return qr.code_on_screen(self.session.station())

    @keyword
    def order_by_code_answer(self) -> flows.TransactionResult:
        """The terminal's answer to the order started (paid, or given up and reversed)."""
        return qr.finish(self.session.station(), self._take("qr_order"))

    @keyword
    def void_qr_payment(self, payment: flows.TransactionResult) -> flows.TransactionResult:
        """Void the QR payment ``payment`` (same batch, full amount)."""
        return qr.qr_void(self.session.station(), payment)

    @keyword
    def refund_qr_payment(self, payment: flows.TransactionResult, amount_fen: int | None = None,
                          by_voucher: bool = False) -> flows.TransactionResult:
        """Give back ``amount_fen`` (all by default) of ``payment``, by its trace or by its
        voucher and date (``by_voucher``)."""
        return qr.qr_refund(self.session.station(), payment, amount_fen, by_voucher=by_voucher)

    @keyword
    def qr_payment_should_be_witnessed(self, payment: flows.TransactionResult) -> None:
        """The terminal's answer, the host's journal, (for an approval) the slip read by
        camera with the QR template, and the screen (with a display camera) agree on ``payment``."""
        qr.check_qr_payment(self.session.station(), payment)

    @keyword
    def qr_payment_should_be_reversed(self, payment: flows.TransactionResult) -> None:
        """The terminal gave ``payment`` up: its reversal reached the host, nothing was taken."""
        qr.check_qr_reversed(self.session.station(), payment)

    def _take(self, flow: str) -> qr.Started:
        started, self._started = self._started, None
        if started is None or started.flow != flow:
            raise RuntimeError(f"no {flow.replace('_', ' ')} was started: `Start "
                               f"{'Scan Sale' if flow == 'qr_sale' else 'Order By Code'}` first")
        return started
