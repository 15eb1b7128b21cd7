"""The simulated terminal: a CUP POS terminal on a pty, speaking posrig-ecr/1 or Concert.

It reads cards and keys only from the bench model (so only when the robot put them
there), talks ISO 8583 to the acquirer host through the shared payments code, prints to
the model's tray, keeps trace, batch and pending reversal in its state file, and prints
what it does on its debug console (``console_url``).

This module is the terminal's body: power, self-check, the request loop and the helpers
every command uses. The commands live by concern in ``admin`` (status, login, sign-in,
reprint), ``sale``, ``void``, ``refund``, ``settle``; the online exchange and the reversal in
``online``; card reading and keypad entry in ``card_and_keypad``; the printer in ``printer``.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from devices import events
from devices.bench_model import BenchModel
from devices.payments.terminal_side import TerminalConfig, TerminalSession
from devices.terminal.dialect import Event
from devices.terminal.sim import admin, qr, refund, sale, settle, void
from devices.terminal.sim.base import Incoming, Outcome, PowerLost, Refusal, Rejection
from devices.terminal.sim.config import SimTerminalConfig
from devices.terminal.sim.debug_port import DebugConsolePort
from devices.terminal.sim.faults import Faults
from devices.terminal.sim.frontend import make_frontend
from devices.terminal.sim.state import CardVault, RamState, StateFile
from devices.text import printable

__all__ = ["PowerLost", "Refusal", "SimTerminalConfig", "SimulatedTerminal"]

Handler = Callable[["SimulatedTerminal", dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {
    "status": admin.status, "login": admin.login, "signin": admin.signin,
    "reprint": admin.reprint, "sale": sale.sale, "void": void.void, "settle": settle.settle,
    "refund": refund.refund,
    "qr_sale": qr.qr_sale, "qr_order": qr.qr_order, "qr_void": qr.qr_void,
    "qr_refund": qr.qr_refund,
}
#: Commands a self-managed (Concert) terminal signs in for by itself.
_ONLINE = frozenset({"sale", "void", "settle", "refund", "qr_sale", "qr_order", "qr_void",
                     "qr_refund"})


class SimulatedTerminal:
    def __init__(self, model: BenchModel, config: SimTerminalConfig):
        self.model = model
        self.cfg = config
        self.source = f"{model.station}/sim-terminal"
        self.faults = Faults(config.fault_seed)
        self.vault = CardVault(config.tmk, config.tid)
        self.store = StateFile(config.state_dir / f"terminal-{config.tid}.json")
        self.state = self.store.load()
        self.ram = RamState()
        self.session = self._new_session()
        self.console_port = DebugConsolePort()
        #: called with every display, prompt and printing event: the LCD (devices/display) draws them
        self.screen_listeners: list[Callable[[Event], None]] = []
        self.frontend = make_frontend(config.dialect, model.station, self.faults, self.source)
        self.frontend.console = self.console
        self._epoch = 0  # counts power cuts: work begun before one must not go on after it
        self._req_epoch = 0
        self._in_request = False
        self._power_on = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.source, daemon=True)
        model.on_power(self._power_changed)
        if model.powered:
            self._power_on.set()

    # -- what the lab sees ------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The ECR port (a pty path); it changes after ``unplug()`` / ``replug()``."""
        return self.frontend.url

    @property
    def console_url(self) -> str:
        return self.console_port.path

    def unplug(self) -> None:
        self.frontend.unplug()

    def replug(self) -> str:
        return self.frontend.replug()

    def start(self) -> SimulatedTerminal:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.frontend.close()
        self.console_port.close()

    def _new_session(self) -> TerminalSession:
        cfg = self.cfg
        return TerminalSession(TerminalConfig(tid=cfg.tid, mid=cfg.mid, tmk=cfg.tmk, tpdu=cfg.tpdu,
                                              key_mode=cfg.key_mode, mac_alg=cfg.mac_alg,
                                              key_layout=cfg.key_layout))

    # -- power --------------------------------------------------------------------------------
    def _power_changed(self, on: bool) -> None:
        """Called from the relay's thread: RAM goes with the power, flash stays. The boot
        itself runs on the terminal's own thread, so the relay answers at once."""
        if not on:
            self._epoch += 1
            self._power_on.clear()
            self.frontend.mute(True)
            self.ram = RamState()
            self.session = self._new_session()
        else:
            self._power_on.set()
        self._wake.set()

    def _boot(self) -> None:
        epoch = self._epoch
        if self.faults.is_set("no_power"):
            events.log(self.source, "power applied, but the supply is dead: nothing happens")
            return
        self.console_port.power_on()
        self.state = self.store.load()  # whatever RAM said before the cut is gone
        self.ram = RamState()
        self.session = self._new_session()
        self.console(f"BOOT {self.cfg.model_name} {self.cfg.firmware} TID {self.cfg.tid}")
        self.console("SELFTEST RAM OK")
        if self.faults.is_set("stuck_in_self_test"):
            self.console("SELFTEST FLASH FAIL: checksum error in sector 3")
            self.console("HALTED: service required")
            return
        s = self.state
        self.console(f"SELFTEST FLASH OK trace {s.trace:06d} batch {s.batch:06d} "
                     f"items {len(s.batch_items)}"
                     + (f" reversal pending for trace {s.pending_reversal['trace']:06d}"
                        if s.pending_reversal else ""))
        self.console("SELFTEST PRINTER " + ("PAPER OUT" if self.faults.is_set("out_of_paper")
                                            else "OK"))
        if self.cfg.boot_s:
            self._stop.wait(self.cfg.boot_s)
        if self._epoch != epoch or not self.model.powered:
            return
        self.ram.booted = True
        self.frontend.mute(False)
        self.console(f"READY dialect {self.frontend.name}")
        self.display("POSRIG-SIM", "欢迎使用 WELCOME")

    # -- the request loop ---------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:  # nothing that arrives, and no bug, may end the terminal
                self._internal_error("the request loop", exc)
                self._stop.wait(0.05)  # a fault that repeats at once must not spin a core

    def _internal_error(self, where: str, exc: BaseException) -> None:
        try:
            self.console(f"FATAL {where}: {type(exc).__name__}: {exc}")
            # one log line per traceback line, each escaped: the message may quote input
            for line in traceback.format_exc().splitlines():
                events.log(self.source, printable(f"internal error in {where}: {line}", 2_000))
        except Exception:  # a listener that raises: the terminal keeps running all the same
            traceback.print_exc()

    def _step(self) -> None:
        """One turn of the loop: boot after power-on, or the next request."""
        if self._power_on.is_set():
            self._power_on.clear()
            try:
                self._boot()
            except ValueError as exc:  # an unreadable flash: the self-check fails
                self.console(f"SELFTEST FLASH FAIL: {exc}")
                self.console("HALTED: service required")
            return
        if not self.ram.booted:
            self._wake.wait(0.2)
            self._wake.clear()
            return
        incoming = self.frontend.next_request(0.2)
        if isinstance(incoming, Rejection):
            self.console(f"ECR {incoming.reason} {incoming.cmd}: {incoming.message}")
            self.frontend.reject(incoming)
        elif incoming is not None:
            self._serve(incoming)

    def _serve(self, incoming: Incoming) -> None:
        self._req_epoch = self._epoch
        self._in_request = True
        self.console(f"ECR request {incoming.cmd}")
        try:
            outcome = self._dispatch(incoming)
        except PowerLost:
            return
        except Exception as exc:  # a simulator bug must not kill the terminal's thread silently
            self._internal_error(incoming.cmd, exc)
            outcome = Outcome("error", {"reason": "internal_error",
                                        "message": f"{incoming.cmd} failed inside the terminal "
                                                   f"({type(exc).__name__}); its debug console "
                                                   "shows where"})
        finally:
            self._in_request = False
        if self._epoch == self._req_epoch and self.model.powered:
            self.console(f"ECR answer {incoming.cmd} {outcome.status}"
                         + (f" {outcome.data['reason']}" if "reason" in outcome.data else ""))
            self.frontend.reply(incoming, outcome)

    def _dispatch(self, incoming: Incoming) -> Outcome:
        handler = HANDLERS.get(incoming.cmd)
        if handler is None:
            return Outcome("refused", {"reason": "not_supported",
                                       "message": f"this terminal has no command {incoming.cmd!r}"})
        try:
            if self.frontend.self_managed and incoming.cmd in _ONLINE:
                admin.self_manage(self)
            data = handler(self, dict(incoming.args))
            status = data.pop("status", "ok")
            return Outcome(status, data)
        except Refusal as refusal:
            self.display(refusal.display)
            return Outcome(refusal.status, {"reason": refusal.reason, **refusal.data})

    # -- helpers for the commands -------------------------------------------------------------
    def alive(self) -> None:
        """Raise ``PowerLost`` if the power went since the current request began."""
        if not self.model.powered or self._epoch != self._req_epoch:
            raise PowerLost()

    def console(self, text: str) -> None:
        self.console_port.line(text)

    def emit(self, event: Event) -> None:
        """Screen, prompts and printer state: always on the console; over the ECR link only
        while a request runs (a terminal reports on the transaction the ECR started)."""
        for listener in self.screen_listeners:  # the screen shows it whoever asked
            try:
                listener(event)
            except Exception as exc:  # a broken screen model must not end the transaction
                events.log(self.source, printable(f"screen listener failed: {type(exc).__name__}: "
                                                  f"{exc}", 500))
        self.console(f"{event.event.upper()} " + " | ".join(
            str(v) if not isinstance(v, list) else " | ".join(map(str, v))
            for v in event.data.values()))
        if self._in_request:
            self.alive()
            self.frontend.event(event)
            self.alive()

    def display(self, *lines: str) -> None:
        self.emit(Event("display", {"lines": list(lines)}))

    def prompt(self, prompt: str, **data: Any) -> None:
        self.emit(Event("prompt", {"prompt": prompt, **data}))

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait on the bench model in short slices so a stop or a power cut is never missed."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            self.alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.model.wait_until(predicate, min(remaining, 0.2)):
                return True
        return False

    def save(self) -> None:
        """Write the flash; a terminal without power writes nothing."""
        self.alive()
        self.store.save(self.state)

    def next_trace(self) -> int:
        trace = self.state.next_trace()
        self.save()  # a trace number is never reused, even after a power cut
        return trace

    def require_ready(self) -> None:
        if self.ram.operator is None:
            raise Refusal("refused", "not_logged_in", "请先登录 PLEASE LOG IN")
        if not self.session.signed_in:
            raise Refusal("refused", "not_signed_in", "请先签到 PLEASE SIGN IN")
