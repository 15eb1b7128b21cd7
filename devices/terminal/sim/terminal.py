"""The simulated terminal: a CUP POS terminal speaking posrig-ecr/1 on a pty.

It reads cards and keys only from the bench model (so only when the robot put them
there), talks ISO 8583 to the acquirer host through the shared payments code, prints to
the model's tray, and keeps trace, batch and pending reversal in its state file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devices import events
from devices.bench import BenchModel, Place
from devices.cards import Card
from devices.channels import PtyPort
from devices.payments.framing import exchange
from devices.payments.terminal_side import CardRead, ProtocolError, TerminalConfig, TerminalSession
from devices.terminal import dialect
from devices.terminal.dialect import Event, Request, Response
from devices.terminal.link import EcrLink, LinkError, LinkTimeout
from devices.terminal.sim.chip import generate_ac
from devices.terminal.sim.printer import format_amount, render_slip
from devices.terminal.sim.state import RamState, StateFile

ENTRY_BY_PLACE = {Place.CHIP_READER: "chip", Place.ANTENNA: "contactless"}


@dataclass
class SimTerminalConfig:
    tid: str
    mid: str
    tmk: bytes = field(repr=False)
    host: tuple[str, int]
    state_dir: Path
    merchant_name: str = "POSRIG TEST MERCHANT"
    tpdu: bytes = bytes.fromhex("6000030000")
    key_mode: str = "003"
    mac_alg: str = "cup-ecb"
    operator_id: str = "01"
    operator_password: str = field(default="0000", repr=False)
    supervisor_password: str = field(default="123456", repr=False)
    pin_on_chip: bool = True
    max_amount: int = 99_999_999
    host_timeout: float = 10.0
    card_timeout: float = 30.0
    pin_timeout: float = 30.0
    max_login_failures: int = 3
    receipt_template: dict[str, Any] = field(default_factory=dict)


class PowerLost(Exception):
    """The supply went while the terminal was working: nothing more is said or sent."""


class Refusal(Exception):
    def __init__(self, status: str, reason: str, display: str):
        super().__init__(reason)
        self.status, self.reason, self.display = status, reason, display


class SimulatedTerminal:
    def __init__(self, model: BenchModel, config: SimTerminalConfig):
        self.model = model
        self.cfg = config
        self.source = f"{model.station}/sim-terminal"
        self.pty = PtyPort()
        self.link = EcrLink(self.pty, name=f"{model.station} simulated terminal {self.pty.path}",
                            log_source=self.source)
        self.store = StateFile(config.state_dir / f"terminal-{config.tid}.json")
        self.state = self.store.load()
        self.ram = RamState()
        self.session = self._new_session()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.source, daemon=True)
        self.link.mute(not model.powered)
        model.on_power(self._power_changed)

    @property
    def url(self) -> str:
        return self.pty.path

    def _new_session(self) -> TerminalSession:
        cfg = self.cfg
        return TerminalSession(TerminalConfig(tid=cfg.tid, mid=cfg.mid, tmk=cfg.tmk, tpdu=cfg.tpdu,
                                              key_mode=cfg.key_mode, mac_alg=cfg.mac_alg))

    def start(self) -> SimulatedTerminal:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.link.close()

    def _power_changed(self, on: bool) -> None:
        """Called from the relay's thread: RAM state goes with the power, flash stays."""
        if not on:
            self.link.mute(True)
            self.ram = RamState()
            self.session = self._new_session()
            return
        self.state = self.store.load()
        self.link.mute(False)
        self._display("自检 SELF TEST", "POSRIG-SIM READY")

    # -- the main loop ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                payload = self.link.receive(timeout=0.2)
            except LinkTimeout:
                continue
            except LinkError:
                return  # pty closed: the bench is being torn down
            try:
                message = dialect.decode(payload)
            except dialect.DialectError as exc:
                self._send(dialect.Response(0, "?", "error", {"reason": "bad_frame", "message": str(exc)}))
                continue
            if isinstance(message, Request):
                try:
                    self._send(self._handle(message))
                except PowerLost:
                    continue

    def _handle(self, req: Request) -> Response:
        handler: Callable[[Request], dict[str, Any]] | None = getattr(self, f"_cmd_{req.cmd}", None)
        if handler is None:
            return Response(req.id, req.cmd, "refused", {"reason": "not_supported"})
        try:
            data = handler(req)
            status = data.pop("status", "ok")
            return Response(req.id, req.cmd, status, data)
        except Refusal as refusal:
            self._display(refusal.display)
            return Response(req.id, req.cmd, refusal.status, {"reason": refusal.reason})
        except (KeyError, TypeError, ValueError) as exc:
            return Response(req.id, req.cmd, "error", {"reason": "bad_arguments", "message": str(exc)})

    def _send(self, message: Response | Event) -> None:
        try:
            self.link.send(dialect.encode(message))
        except LinkError as exc:
            events.log(self.source, f"could not deliver {type(message).__name__}: {exc}")

    def _display(self, *lines: str) -> None:
        self._send(Event("display", {"lines": list(lines)}))

    def _prompt(self, prompt: str, **data: Any) -> None:
        self._send(Event("prompt", {"prompt": prompt, **data}))

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait on the bench model in short slices so a stop request is never ignored."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            if not self.model.powered:
                raise PowerLost()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.model.wait_until(predicate, min(remaining, 0.2)):
                return True
        return False

    # -- commands -----------------------------------------------------------------------------
    def _cmd_status(self, req: Request) -> dict[str, Any]:
        return {"tid": self.cfg.tid, "dialect": dialect.NAME, "powered": self.model.powered,
                "logged_in": self.ram.operator is not None, "signed_in": self.session.signed_in,
                "batch": self.state.batch, "trace": self.state.trace,
                "reversal_pending": self.state.pending_reversal is not None}

    def _cmd_login(self, req: Request) -> dict[str, Any]:
        if self.ram.locked:
            raise Refusal("refused", "locked", "操作员已锁定 OPERATOR LOCKED")
        operator, password = str(req.args["operator"]), str(req.args["password"])
        if operator != self.cfg.operator_id or password != self.cfg.operator_password:
            self.ram.failed_logins += 1
            if self.ram.failed_logins >= self.cfg.max_login_failures:
                self.ram.locked = True
                raise Refusal("refused", "locked", "操作员已锁定 OPERATOR LOCKED")
            raise Refusal("refused", "wrong_password", "密码错 WRONG PASSWORD")
        self.ram.operator, self.ram.failed_logins = operator, 0
        self._display("操作员登录成功 LOGIN OK", f"OPERATOR {operator}")
        return {"operator": operator}

    def _cmd_signin(self, req: Request) -> dict[str, Any]:
        if self.ram.operator is None:
            raise Refusal("refused", "not_logged_in", "请先登录 PLEASE LOG IN")
        self._display("签到中 SIGNING IN")
        out = self.session.signin_request(stan=self._next_trace(), batch=self.state.batch,
                                          operator=self.ram.operator)
        wire = self._online(out.wire)
        try:
            result = self.session.signin_response(out, wire)
        except ProtocolError as exc:
            raise Refusal("failed", "bad_host_response", "签到失败 SIGN-IN FAILED") from exc
        if result.rc != "00":
            return {"status": "declined", "rc": result.rc}
        self.state.batch = int(result.batch)
        self.store.save(self.state)
        self._display("签到成功 SIGN-IN OK", f"BATCH {self.state.batch:06d}")
        return {"batch": self.state.batch, "key_mode": self.cfg.key_mode,
                "host_time": result.host_datetime.isoformat() if result.host_datetime else None}

    def _cmd_sale(self, req: Request) -> dict[str, Any]:
        amount = int(req.args["amount"])
        self._require_ready()
        if not 0 < amount <= self.cfg.max_amount:
            raise Refusal("refused", "amount_out_of_range", "金额超限 AMOUNT INVALID")
        self._display("消费 SALE", f"金额 AMOUNT {format_amount(amount)}")
        self._prompt("insert_card", amount=amount)
        found = self._take_card()
        if found is None:
            raise Refusal("cancelled", "no_card", "交易超时 TIMEOUT")
        _slot, card, entry = found
        pin = self._ask_pin() if entry == "chip" and self.cfg.pin_on_chip else None
        trace = self._next_trace()
        on_chip = entry in ("chip", "contactless")
        read = CardRead(pan=card.pan, track2=card.track2, expiry=card.expiry, entry=entry,
                        seq_no=card.seq_no if on_chip else None,
                        icc=generate_ac(card, amount, atc=trace) if on_chip else None)
        out = self.session.sale_request(stan=trace, batch=self.state.batch, amount=amount,
                                        read=read, pin=pin)
        wire = self._online(out.wire)
        try:
            result = self.session.financial_response(out, wire)
        except ProtocolError as exc:
            raise Refusal("failed", "bad_host_response", "交易失败 TRANSACTION FAILED") from exc
        data = {"rc": result.rc, "trace": trace, "batch": self.state.batch, "rrn": result.rrn,
                "auth_code": result.auth_code, "card": card.masked_pan, "entry": entry,
                "amount": amount, "host_date": result.host_date, "host_time": result.host_time}
        if result.approved:
            self.state.batch_items.append({"kind": "sale", "trace": trace, "amount": amount,
                                           "rrn": result.rrn, "auth_code": result.auth_code,
                                           "card": card.masked_pan})
            self.store.save(self.state)
            data["receipt"] = list(self._print(data, "sale").lines)
            self._display("交易成功 APPROVED")
        else:
            self._display("交易拒绝 DECLINED", f"RC {result.rc}")
        if entry == "chip":
            self._prompt("remove_card")
        data["status"] = "approved" if result.approved else "declined"
        return data

    # -- pieces of a transaction --------------------------------------------------------------
    def _require_ready(self) -> None:
        if self.ram.operator is None:
            raise Refusal("refused", "not_logged_in", "请先登录 PLEASE LOG IN")
        if not self.session.signed_in:
            raise Refusal("refused", "not_signed_in", "请先签到 PLEASE SIGN IN")

    def _next_trace(self) -> int:
        trace = self.state.next_trace()
        self.store.save(self.state)  # a trace number is never reused, even after a power cut
        return trace

    def _take_card(self) -> tuple[int, Card, str] | None:
        self.model.clear_inputs()
        found: list[tuple[int, Card, str]] = []

        def presented() -> bool:
            for place, entry in ENTRY_BY_PLACE.items():
                held = self.model.card_at(place)
                if held is not None:
                    found.append((held[0], held[1], entry))
                    return True
            return False

        return found[0] if self._wait(presented, self.cfg.card_timeout) else None

    def _ask_pin(self) -> str:
        self._prompt("enter_pin")
        digits: list[str] = []
        deadline = time.monotonic() + self.cfg.pin_timeout
        keys: list[str] = []

        def pressed() -> bool:
            key = self.model.take_key()
            if key is not None:
                keys.append(key)
            return key is not None

        while True:
            if not self._wait(pressed, deadline - time.monotonic()):
                raise Refusal("cancelled", "no_pin", "输入超时 PIN TIMEOUT")
            key = keys.pop(0)
            if key == "enter" and len(digits) >= 4:
                return "".join(digits)
            if key == "cancel":
                raise Refusal("cancelled", "cancelled_by_user", "交易取消 CANCELLED")
            if key == "clear":
                digits.clear()
            elif key.isdigit() and len(digits) < 12:
                digits.append(key)
            self._display("请输入密码 ENTER PIN", "*" * len(digits))

    def _online(self, wire: bytes) -> bytes:
        try:
            return exchange(self.cfg.host[0], self.cfg.host[1], wire, timeout=self.cfg.host_timeout)
        except (OSError, TimeoutError, ProtocolError) as exc:
            raise Refusal("failed", "host_unreachable", "通讯失败 COMMS ERROR") from exc

    def _print(self, data: dict[str, Any], kind: str):
        template = self.cfg.receipt_template
        values = {
            "merchant_name": self.cfg.merchant_name, "merchant_id": self.cfg.mid,
            "terminal_id": self.cfg.tid, "operator": self.ram.operator or "",
            "card_number": data["card"], "txn_type": template.get("txn_types", {}).get(kind, kind),
            "batch": f"{data['batch']:06d}", "trace": f"{data['trace']:06d}",
            "auth_code": data.get("auth_code") or "", "rrn": data.get("rrn") or "",
            "datetime": datetime.now().strftime("%Y/%m/%d %H:%M:%S"),
            "amount": format_amount(data["amount"]),
        }
        self._send(Event("printing", {"state": "started"}))
        slip = render_slip(template, values)
        self.model.print_slip(slip)
        self._send(Event("printing", {"state": "done"}))
        return slip
