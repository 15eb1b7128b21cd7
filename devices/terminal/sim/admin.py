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


def settlement_required(t: SimulatedTerminal) -> str | None:
    """Why the open batch must be settled before the next transaction, or None."""
    s = t.state
    if s.batch_items and s.batch_opened and s.batch_opened < t.ram.today().isoformat():
        return f"batch {s.batch:06d} has been open since {s.batch_opened}"
    if len(s.batch_items) >= t.cfg.max_batch_items:
        return f"batch {s.batch:06d} is full ({len(s.batch_items)} items)"
    return None


def status(t: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    return {"tid": t.cfg.tid, "dialect": t.frontend.name, "model": t.cfg.model_name,
            "firmware": t.cfg.firmware, "serial": t.cfg.serial, "powered": t.model.powered,
            "booted": t.ram.booted,
            "logged_in": t.ram.operator is not None, "operator": t.ram.operator,
            "locked": t.ram.locked, "signed_in": t.session.signed_in,
            "batch": t.state.batch, "trace": t.state.trace,
            "batch_items": len(t.state.batch_items),
            "reversal_pending": t.state.pending_reversal is not None,
            "settlement_required": settlement_required(t) is not None,
            "clock": t.ram.now().isoformat(timespec="seconds")}


def login(t: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    """Operator login; ``max_login_failures`` wrong passwords in a row lock the operator
    out until the terminal is restarted (the lock lives in RAM, as the login does)."""
    if t.ram.locked:
        raise Refusal("refused", "locked", "操作员已锁定 OPERATOR LOCKED")
    operator, password = str(args["operator"]), str(args["password"])
    if operator != t.cfg.operator_id or password != t.cfg.operator_password:
        t.ram.failed_logins += 1
        t.console(f"LOGIN operator {operator} refused ({t.ram.failed_logins} in a row)")
        if t.ram.failed_logins >= t.cfg.max_login_failures:
            t.ram.locked = True
            raise Refusal("refused", "locked", "操作员已锁定 OPERATOR LOCKED")
        raise Refusal("refused", "wrong_password", "密码错 WRONG PASSWORD",
                      attempts_left=t.cfg.max_login_failures - t.ram.failed_logins)
    t.ram.operator, t.ram.failed_logins = operator, 0
    t.display("操作员登录成功 LOGIN OK", f"OPERATOR {operator}")
    return {"operator": operator}


def signin(t: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    """0800: working keys, the host's clock and batch number."""
    if t.ram.operator is None:
        raise Refusal("refused", "not_logged_in", "请先登录 PLEASE LOG IN")
    t.display("签到中 SIGNING IN")
    out = t.session.signin_request(stan=t.next_trace(), batch=t.state.batch,
                                   operator=t.ram.operator)
    wire = online.online(t, out)
    try:
        result = t.session.signin_response(out, wire)
    except ProtocolError as exc:
        t.console(f"SIGNIN answer refused: {exc}")
        raise Refusal("failed", "bad_host_response", "签到失败 SIGN-IN FAILED") from exc
    if result.rc != "00":
        t.display("签到失败 SIGN-IN FAILED", f"RC {result.rc}")
        return {"status": "declined", "rc": result.rc}
    if result.host_datetime is not None:
        t.ram.clock_offset = result.host_datetime - datetime.now()
    host_batch = int(result.batch)
    if host_batch != t.state.batch:
        if t.state.batch_items:  # the open batch keeps its number until it is settled
            t.console(f"SIGNIN host batch {host_batch:06d}, open batch {t.state.batch:06d} kept")
        else:
            t.state.batch = host_batch
            t.save()
    t.display("签到成功 SIGN-IN OK", f"BATCH {t.state.batch:06d}")
    return {"batch": t.state.batch, "key_mode": t.cfg.key_mode,
            "host_time": result.host_datetime.isoformat() if result.host_datetime else None,
            "reversal_pending": t.state.pending_reversal is not None}


def self_manage(t: SimulatedTerminal) -> None:
    """A Concert terminal is run from its own keypad: it logs the default operator in and
    signs in by itself when a transaction needs it."""
    if t.ram.operator is None:
        t.ram.operator = t.cfg.operator_id
        t.console(f"LOGIN operator {t.ram.operator} (terminal-managed)")
    if not t.session.signed_in:
        result = signin(t, {})
        if result.get("status") == "declined":
            raise Refusal("failed", "signin_declined", "签到失败 SIGN-IN FAILED", rc=result["rc"])


def reprint(t: SimulatedTerminal, args: dict[str, Any]) -> dict[str, Any]:
    """The last transaction slip, or the one of ``trace`` in the open batch, marked REPRINT."""
    if t.ram.operator is None:
        raise Refusal("refused", "not_logged_in", "请先登录 PLEASE LOG IN")
    if args.get("trace") is None:
        values = t.state.last_slip
        if values is None:
            raise Refusal("refused", "nothing_to_reprint", "无交易 NO TRANSACTION")
    else:
        item = t.state.item(int(args["trace"]))
        if item is None:
            raise Refusal("refused", "trace_not_found", "无此交易 NO SUCH TRANSACTION",
                          trace=int(args["trace"]))
        values = item["slip"]
    lines, printed = print_transaction(t, values, notes=(note_line(t.cfg.receipt_template, "reprint"),),
                                       copies=("merchant",))
    return {"trace": int(values["trace"]), "receipt": lines, "printed": printed}
