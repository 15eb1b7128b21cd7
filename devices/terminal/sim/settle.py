"""Settlement (结算) from the terminal's own batch, the batch upload it may call for, the slip.

Totals follow posrig's choice (debit: every approved sale, voided or not; credit: voids).
The host answers balanced or not per side (domestic, foreign); the terminal then uploads
as ``plan_uploads`` says (balanced: chip records 203, then 207; not: that side's records,
magstripe 201 eight to a message and chip 205, then 202), prints the totals and opens the
next batch. A settlement error (flag 3, or a response code other than 00) leaves the batch
open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devices.payments.settlement import BatchItem, Totals, plan_uploads
from devices.payments.terminal_side import Outgoing, ProtocolError
from devices.terminal.sim import online
from devices.terminal.sim.base import Refusal
from devices.terminal.sim.printer import print_lines, settlement_lines

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal


def batch_items(terminal: SimulatedTerminal) -> list[BatchItem]:
    # a QR payment has no card number (iso8583-cup-qr.md §6): it counts, it is never uploaded
    return [BatchItem(stan=f"{i['trace']:06d}", pan=terminal.vault.open(i["pan_sealed"]) if "pan_sealed" in i
                      else "", amount=i["amount"],
                      kind=i["kind"], ic=i["entry"] in ("chip", "contactless"),
                      domestic=i["domestic"], entry_mode=i["entry_mode"], seq_no=i.get("seq_no"),
                      icc=bytes.fromhex(i["icc"]) if i.get("icc") else None)
            for i in terminal.state.batch_items]


def _exchange_management(terminal: SimulatedTerminal, out: Outgoing) -> None:
    try:
        result = terminal.session.management_response(out, online.online(terminal, out))
    except ProtocolError as exc:
        raise Refusal("failed", "bad_host_response", "批上送失败 UPLOAD FAILED") from exc
    if not result.approved:
        raise Refusal("failed", "upload_refused", "批上送失败 UPLOAD FAILED", rc=result.rc)


def settle(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    terminal.require_ready()
    online.flush_reversal(terminal)  # a reversed sale must be out of the host's totals first
    batch = terminal.state.batch
    items = batch_items(terminal)
    totals = Totals.of(items)
    terminal.display("结算中 SETTLING", f"BATCH {batch:06d}")
    out = terminal.session.settle_request(stan=terminal.next_trace(), batch=batch, totals=totals,
                                   operator=terminal.ram.operator or terminal.cfg.operator_id)
    try:
        result = terminal.session.settle_response(out, online.online(terminal, out))
    except ProtocolError as exc:
        raise Refusal("failed", "bad_host_response", "结算失败 SETTLEMENT FAILED") from exc
    if "3" in (result.domestic_flag, result.foreign_flag):
        raise Refusal("failed", "settlement_error", "结算失败 SETTLEMENT ERROR",
                      rc=result.rc, batch=batch)
    plan = plan_uploads([i for i in items if i.pan], result.domestic_flag, result.foreign_flag)
    balanced = plan.end_nmi == "207"
    terminal.console(f"SETTLE batch {batch:06d} {'balanced' if balanced else 'NOT balanced'}: "
              f"{totals.describe()}; uploading {plan.count} record(s)")
    if plan.count or not balanced:
        terminal.display("批上送 BATCH UPLOAD", f"{plan.count} 笔 RECORDS")
    for group in plan.mag:
        _exchange_management(terminal, terminal.session.batch_upload_mag_request(
            stan=terminal.next_trace(), batch=batch, items=group))
    for item in plan.ic:
        _exchange_management(terminal, terminal.session.batch_upload_ic_request(batch=batch, item=item,
                                                                  balanced=balanced))
    _exchange_management(terminal, terminal.session.batch_upload_end_request(
        stan=terminal.next_trace(), batch=batch, count=plan.count, balanced=balanced))
    lines = settlement_lines(terminal, batch, totals, balanced)
    terminal.state.batch_items = []
    terminal.state.batch_opened = None
    terminal.state.batch = batch % 999_999 + 1
    terminal.save()
    online.after_answer(terminal, result.proc_req)
    terminal.display("结算成功 SETTLED", f"BATCH {batch:06d}")
    printed = print_lines(terminal, lines, terminal.cfg.settlement_template)
    d, f = totals.domestic, totals.foreign
    return {"batch": batch, "next_batch": terminal.state.batch, "balanced": balanced,
            "uploaded": plan.count, "receipt": lines, "printed": printed,
            "totals": {"domestic": {"debit_amount": d.debit_amount, "debit_count": d.debit_count,
                                    "credit_amount": d.credit_amount, "credit_count": d.credit_count},
                       "foreign": {"debit_amount": f.debit_amount, "debit_count": f.debit_count,
                                   "credit_amount": f.credit_amount, "credit_count": f.credit_count}}}
