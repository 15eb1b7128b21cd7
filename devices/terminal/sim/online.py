"""Going online: one exchange with the host, and the reversal that protects a financial one.

The reversal follows the reference ([C] ``trancomm.c``) and posrig's choices:

1. Before a sale or void goes out, its reversal record is written to flash (reason 98).
   If the power goes before the answer, the record is what the terminal finds at boot.
2. Before the next online message (after a sign-in: reversals carry a MAC), a pending
   reversal is sent first, repeated on silence up to ``reversal_retries`` times; while
   it cannot be delivered, nothing else goes online.
3. An answer the terminal can read (approved or declined) clears the record. No answer
   leaves reason 98; an answer with a bad MAC, A0 (and the terminal must sign in again);
   any other unacceptable answer, 06.

A power cut abandons the exchange at once: the terminal does not read an answer it has no
power to read, and writes nothing more to flash.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from devices.payments import messages as m
from devices.payments.framing import DEFAULT_MAX_LEN, FramingError
from devices.payments.spec import MessageFormatError, describe
from devices.payments.terminal_side import FinancialResult, MacError, Outgoing, ProtocolError
from devices.terminal.sim import card_and_keypad
from devices.terminal.sim.base import Refusal

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal

#: Fields the reversal does not carry (reference: DE35, 36, 52, 26, 53, 37 removed).
_NOT_STORED = ("p", "26", "35", "36", "37", "52", "53", "64")


def exchange(terminal: SimulatedTerminal, out: Outgoing) -> bytes:
    """Send ``out`` on a fresh connection and return the reply (length prefix included).
    ``TimeoutError``: silence; ``FramingError`` / ``OSError``: the line failed."""
    host, port = terminal.cfg.host
    terminal.console(f"ISO8583 -> {describe(out.fields)}")
    deadline = time.monotonic() + terminal.cfg.host_timeout
    with socket.create_connection((host, port), timeout=terminal.cfg.host_timeout) as sock:
        sock.sendall(out.wire)
        buf, need = bytearray(), None
        while need is None or len(buf) < need:
            terminal.alive()  # a power cut ends the wait: the answer will never be read
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply from {host}:{port} within {terminal.cfg.host_timeout:g} s")
            sock.settimeout(min(remaining, 0.1))
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                raise FramingError(f"the host closed the connection after {len(buf)} bytes")
            buf += chunk
            if need is None and len(buf) >= 2:
                size = struct.unpack(">H", buf[:2])[0]
                if size > DEFAULT_MAX_LEN:
                    raise FramingError(f"length prefix announces {size} bytes")
                need = 2 + size
    wire = bytes(buf[:need])
    try:
        terminal.console(f"ISO8583 <- {describe(m.unpack(wire).doc)}")
    except (FramingError, MessageFormatError) as exc:
        terminal.console(f"ISO8583 <- unreadable answer: {exc}")
    return wire


def online(terminal: SimulatedTerminal, out: Outgoing) -> bytes:
    """A non-financial exchange (sign-in, settlement, upload), errors made refusals."""
    try:
        return exchange(terminal, out)
    except TimeoutError as exc:
        raise Refusal("failed", "no_host_response", "通讯超时 NO HOST RESPONSE") from exc
    except (OSError, FramingError) as exc:
        raise Refusal("failed", "host_unreachable", "通讯失败 COMMS ERROR") from exc


# -- the reversal -----------------------------------------------------------------------------

def store_reversal(terminal: SimulatedTerminal, out: Outgoing, kind: str, amount: int) -> None:
    fields = {k: v for k, v in out.fields.items() if k not in _NOT_STORED}
    if "2" in fields:
        fields["2"] = "sealed:" + terminal.vault.seal(fields["2"])
    terminal.state.pending_reversal = {"kind": kind, "trace": int(out.fields["11"]), "amount": amount,
                                "reason": "98", "auth_code": None, "fields": fields,
                                "pan_masked": out.pan_masked, "attempts": 0}
    terminal.save()
    terminal.console(f"REVERSAL stored for {kind} trace {out.fields['11']} (reason 98 until answered)")


def _set_reason(terminal: SimulatedTerminal, reason: str, auth_code: str | None = None) -> None:
    record = terminal.state.pending_reversal
    if record is not None:
        record["reason"] = reason
        if auth_code:
            record["auth_code"] = auth_code
        terminal.save()


T = TypeVar("T")


def read_answer(terminal: SimulatedTerminal, read: Callable[[], T]) -> T:
    """The host's answer to a financial request, read by ``read``: a bad MAC or a malformed
    answer fails the transaction with its reversal reason stored (card and QR flows alike)."""
    try:
        return read()
    except MacError as exc:
        _set_reason(terminal, "A0")
        terminal.session.sign_out()  # keys in doubt: sign in again (reference: A0)
        raise Refusal("failed", "mac_error", "MAC错 MAC ERROR 请重新签到 SIGN IN",
                      reversal_pending=True) from exc
    except ProtocolError as exc:
        _set_reason(terminal, exc.reversal_reason)
        raise Refusal("failed", "bad_host_response", "交易失败 TRANSACTION FAILED",
                      reversal_pending=True) from exc


def flush_reversal(terminal: SimulatedTerminal) -> None:
    """Send the pending reversal, if any, before anything else goes online."""
    record = terminal.state.pending_reversal
    if record is None:
        return
    if record.get("qr") is not None:  # a QR payment a power cut left SENT or PENDING: ask first
        from devices.terminal.sim import qr  # qr builds on this module
        if qr.recover(terminal, record):
            return
        record = terminal.state.pending_reversal
        if record is None:
            return
    fields: dict[str, Any] = dict(record["fields"])
    if str(fields.get("2", "")).startswith("sealed:"):
        fields["2"] = terminal.vault.open(fields["2"][len("sealed:"):])
    original = Outgoing("0200", fields, b"", record["pan_masked"])
    terminal.display("冲正中 SENDING REVERSAL")
    for attempt in range(1 + terminal.cfg.reversal_retries):
        rev = terminal.session.reversal_request(original, record["reason"], auth_code=record["auth_code"])
        record["attempts"] += 1
        terminal.save()
        try:
            result = terminal.session.financial_response(rev, exchange(terminal, rev))
        except (TimeoutError, OSError, FramingError, ProtocolError) as exc:
            terminal.console(f"REVERSAL attempt {attempt + 1} for trace {record['trace']:06d} failed: {exc}")
            continue
        terminal.console(f"REVERSAL trace {record['trace']:06d} reason {record['reason']} answered "
                  f"{result.rc}")
        terminal.state.pending_reversal = None
        terminal.save()
        after_answer(terminal, result.proc_req, result.rc)
        if not terminal.session.signed_in:  # the host's answer ordered a new sign-in
            raise Refusal("refused", "not_signed_in", "请先签到 PLEASE SIGN IN")
        return
    raise Refusal("failed", "reversal_pending", "冲正失败 REVERSAL FAILED",
                  reversal_trace=record["trace"])


def financial(terminal: SimulatedTerminal, out: Outgoing, kind: str, amount: int,
              card_kept: Callable[[], bool] | None = None) -> FinancialResult:
    """A sale or void online under reversal protection. Returns the host's answer (the
    reversal record cleared in RAM: the caller saves it with the batch); raises
    ``Refusal`` when there is no acceptable answer (the record stays, with its reason).

    ``card_kept`` says whether a chip card is still seated: one pulled out after the request
    went, before the answer, cannot finish the transaction on the chip, so an approval is
    reversed (06, the reference's "EMV processing failed after the online exchange"). One
    pulled out before never gets here (``card_and_keypad.require_seated``)."""
    store_reversal(terminal, out, kind, amount)
    try:
        wire = exchange(terminal, out)
    except TimeoutError as exc:
        raise Refusal("failed", "no_host_response", "通讯超时 NO HOST RESPONSE",
                      reversal_pending=True) from exc
    except (OSError, FramingError) as exc:
        raise Refusal("failed", "host_unreachable", "通讯失败 COMMS ERROR",
                      reversal_pending=True) from exc
    result = read_answer(terminal, lambda: terminal.session.financial_response(out, wire))
    if result.approved and card_kept is not None and not card_kept():
        _set_reason(terminal, "06", result.auth_code)
        raise card_and_keypad.card_removed(reversal_pending=True)
    terminal.state.pending_reversal = None
    return result


def after_answer(terminal: SimulatedTerminal, proc_req: int, rc: str | None = None) -> None:
    """The host's orders in a response header: processing requirement 3 (and a response
    code A0) mean sign in again before the next transaction."""
    if proc_req == m.PROC_SIGNIN or rc == "A0":
        terminal.session.sign_out()
        terminal.console("HOST requires sign-in (processing requirement 3)"
                  if proc_req == m.PROC_SIGNIN else "HOST answered A0: sign in again")
