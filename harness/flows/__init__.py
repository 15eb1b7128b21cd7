"""Flows in lab words: each a sequence of steps across the station's devices.

Every step is announced on the event stream (and so becomes a step in the report, with
its evidence). A flow returns a typed result built from what the terminal reported over
its ECR link; the host's journal is the second witness a scenario compares it with.
"""

from harness.flows.core import FlowError, Settlement, TerminalIdentity, TransactionResult, identify
from harness.flows.faults import BenchFaults
from harness.flows.host import host_will, journal, last_journaled
from harness.flows.journal_witness import check_witnesses, journaled
from harness.flows.receipt import (
    Reprint,
    check_receipt,
    check_settlement_slip,
    inspect_receipt,
    read_slip,
    reprint,
    slip_check_method,
)
from harness.flows.sale import ENTRY_ACTIONS, refund, sale, sale_cut_by_power, settle, void
from harness.flows.session import SignInResult, login, sign_in, status
from harness.flows.station_state import (
    check_cards_home,
    power_cycle,
    power_off,
    power_on,
    restore_bench,
)

__all__ = [
    "ENTRY_ACTIONS",
    "BenchFaults",
    "FlowError",
    "Reprint",
    "Settlement",
    "SignInResult",
    "TerminalIdentity",
    "TransactionResult",
    "check_cards_home",
    "check_receipt",
    "check_settlement_slip",
    "check_witnesses",
    "host_will",
    "identify",
    "inspect_receipt",
    "journal",
    "journaled",
    "last_journaled",
    "login",
    "power_cycle",
    "power_off",
    "power_on",
    "read_slip",
    "refund",
    "reprint",
    "restore_bench",
    "sale",
    "sale_cut_by_power",
    "settle",
    "sign_in",
    "slip_check_method",
    "status",
    "void",
]
