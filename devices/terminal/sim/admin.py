"""Commands that move no money: status, operator login, sign-in, reprint."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from devices.payments.terminal_side import ProtocolError
from devices.terminal.sim import online
from devices.terminal.sim.base import Refusal
from devices.terminal.sim.printer import note_line, print_transaction

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal


def settlement_required(terminal: SimulatedTerminal) -> str | None:
    """Why the open batch must be settled before the next transaction, or None."""
    s = terminal.state
    if s.batch_items and s.batch_opened and s.batch_opened < terminal.ram.today().isoformat():
        return f"batch {s.batch:06d} has been open since {s.batch_opened}"
    if len(s.batch_items) >= terminal.cfg.max_batch_items:
        return f"batch {s.batch:06d} is full ({len(s.batch_items)} items)"
    return None


def status(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    return {"tid": terminal.cfg.tid, "dialect": terminal.frontend.name, "model": terminal.cfg.model_name,
            "firmware": terminal.cfg.firmware, "serial": terminal.cfg.serial,
            "powered": terminal.model.powered,
            "booted": terminal.ram.booted,
            "logged_in": terminal.ram.operator is not None, "operator": terminal.ram.operator,
            "locked": terminal.ram.locked, "signed_in": terminal.session.signed_in,
            "batch": terminal.state.batch, "trace": terminal.state.trace,
            "batch_items": len(terminal.state.batch_items),
            "reversal_pending": terminal.state.pending_reversal is not None,
            "settlement_required": settlement_required(terminal) is not None,
            "clock": terminal.ram.now().isoformat(timespec="seconds")}


def login(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    """Operator login; ``max_login_failures`` wrong passwords in a row lock the operator
    out until the terminal is restarted (the lock lives in RAM, as the login does)."""
    if terminal.ram.locked:
        raise Refusal("refused", "locked", "操作员已锁定 OPERATOR LOCKED")
    operator, password = str(args["operator"]), str(args["password"])
    if operator != terminal.cfg.operator_id or password != terminal.cfg.operator_password:
        terminal.ram.failed_logins += 1
        terminal.console(f"LOGIN operator {operator} refused ({terminal.ram.failed_logins} in a row)")
        if terminal.ram.failed_logins >= terminal.cfg.max_login_failures:
            terminal.ram.locked = True
            raise Refusal("refused", "locked", "操作员已锁定 OPERATOR LOCKED")
        raise Refusal("refused", "wrong_password", "密码错 WRONG PASSWORD",
                      attempts_left=terminal.cfg.max_login_failures - terminal.ram.failed_logins)
    terminal.ram.operator, terminal.ram.failed_logins = operator, 0
    terminal.display("操作员登录成功 LOGIN OK", f"OPERATOR {operator}")
    return {"operator": operator}


def signin(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    """0800: working keys, the host's clock and batch number."""
    if terminal.ram.operator is None:
        raise Refusal("refused", "not_logged_in", "请先登录 PLEASE LOG IN")
    terminal.display("签到中 SIGNING IN")
    out = terminal.session.signin_request(stan=terminal.next_trace(), batch=terminal.state.batch,
                                   operator=terminal.ram.operator)
    wire = online.online(terminal, out)
    try:
        result = terminal.session.signin_response(out, wire)
    except ProtocolError as exc:
        terminal.console(f"SIGNIN answer refused: {exc}")
        raise Refusal("failed", "bad_host_response", "签到失败 SIGN-IN FAILED") from exc
    if result.rc != "00":
        terminal.display("签到失败 SIGN-IN FAILED", f"RC {result.rc}")
        return {"status": "declined", "rc": result.rc}
    if result.host_datetime is not None:
        terminal.ram.clock_offset = result.host_datetime - datetime.now()
    host_batch = int(result.batch)
    if host_batch != terminal.state.batch:
        if terminal.state.batch_items:  # the open batch keeps its number until it is settled
            terminal.console(f"SIGNIN host batch {host_batch:06d}, "
                             f"open batch {terminal.state.batch:06d} kept")
        else:
            terminal.state.batch = host_batch
            terminal.save()
    terminal.display("签到成功 SIGN-IN OK", f"BATCH {terminal.state.batch:06d}")
    return {"batch": terminal.state.batch, "key_mode": terminal.cfg.key_mode,
            "host_time": result.host_datetime.isoformat() if result.host_datetime else None,
            "reversal_pending": terminal.state.pending_reversal is not None}


def self_manage(terminal: SimulatedTerminal) -> None:
    """A Concert terminal is run from its own keypad: it logs the default operator in and
    signs in by itself when a transaction needs it."""
    if terminal.ram.operator is None:
        terminal.ram.operator = terminal.cfg.operator_id
        terminal.console(f"LOGIN operator {terminal.ram.operator} (terminal-managed)")
    if not terminal.session.signed_in:
        result = signin(terminal, {})
        if result.get("status") == "declined":
            raise Refusal("failed", "signin_declined", "签到失败 SIGN-IN FAILED", rc=result["rc"])


def reprint(terminal: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    """The last transaction slip, or the one of ``trace`` in the open batch, marked REPRINT."""
    if terminal.ram.operator is None:
        raise Refusal("refused", "not_logged_in", "请先登录 PLEASE LOG IN")
    if args.get("trace") is None:
        values = terminal.state.last_slip
        if values is None:
            raise Refusal("refused", "nothing_to_reprint", "无交易 NO TRANSACTION")
    else:
        item = terminal.state.item(int(args["trace"]))
        if item is None:
            raise Refusal("refused", "trace_not_found", "无此交易 NO SUCH TRANSACTION",
                          trace=int(args["trace"]))
        values = item["slip"]
    if "voucher" in values:  # a QR payment's slip: its own template (devices/terminal/sim/qr.py)
        from devices.terminal.sim import qr  # qr builds on sale, which builds on this module
        notes = (note_line(qr.template(terminal), "reprint"),)
        lines, printed = qr.print_slip(terminal, values, notes=notes, copies=("merchant",))
    else:
        notes = (note_line(terminal.cfg.receipt_template, "reprint"),)
        lines, printed = print_transaction(terminal, values, notes=notes, copies=("merchant",))
    return {"trace": int(values["trace"]), "receipt": lines, "printed": printed}
