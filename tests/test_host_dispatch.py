"""Which handler answers which request is set in one place (devices/host/dispatch.py):
importing the host's modules registers nothing; install() fills the tables, the QR flows on
top of the card flows, and a second call changes nothing."""

from __future__ import annotations

import subprocess
import sys

from devices.host import dispatch, settle_handlers
from devices.host.core import HANDLERS
from devices.host.sale_handlers import FINANCIAL
from devices.payments import messages

IMPORT_ONLY = """
import devices.host, devices.host.server, devices.host.qr
from devices.host import refund_handlers, sale_handlers, settle_handlers, signin_handlers, undo_handlers
from devices.host.core import HANDLERS
assert not HANDLERS and not sale_handlers.FINANCIAL and not settle_handlers.BEFORE_TOTALS, (
    sorted(HANDLERS), sorted(sale_handlers.FINANCIAL), settle_handlers.BEFORE_TOTALS)
"""


def test_importing_the_host_registers_no_handler():
    done = subprocess.run([sys.executable, "-c", IMPORT_ONLY], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_install_fills_the_tables_once_with_the_qr_flows_on_top():
    dispatch.install()
    requests, financial = dict(HANDLERS), dict(FINANCIAL)
    before_totals = list(settle_handlers.BEFORE_TOTALS)
    dispatch.install()
    assert (dict(HANDLERS), dict(FINANCIAL)) == (requests, financial)
    assert len(before_totals) == 1 and before_totals == settle_handlers.BEFORE_TOTALS
    assert set(dispatch.CARD_REQUESTS) <= set(HANDLERS)
    for mti, (kind, _) in dispatch.CARD_REQUESTS.items():
        assert HANDLERS[mti][0] == kind
    # the card sale and void are still answered, through the QR flows' wrappers (DE22 decides)
    for codes in ((messages.PC_SALE, messages.TYPE_SALE), (messages.PC_VOID, messages.TYPE_VOID)):
        assert getattr(FINANCIAL[codes], "qr_handler", None) is not None
    assert set(dispatch.CARD_FINANCIAL) < set(FINANCIAL)  # plus the QR order and query
