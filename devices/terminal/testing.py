"""One terminal bench for the terminal's own tests, every device reached through its driver.

The simulated terminal, card robot and power relay sit on ptys around one ``BenchModel``;
the acquirer host listens on loopback; the tests hold only drivers (``EcrTerminal`` or
``ConcertTerminal``, ``Console``, ``GcodeRobot``, ``SerialPowerRelay``) and the host's
journal and script, as a lab engineer would. The simulator objects are kept too, for the
two things a test does to a device from outside: arm a fault, pull a cable.

The profile is read through ``devices.terminal.profile``, the same strict model the rig and
the virtual lab use (``devices`` may not import ``harness``); every setting it has reaches
the simulated terminal, except the waits ``BENCH_TIMEOUTS`` shortens so that a test of a
lost answer costs seconds (``open_bench(..., profile_timeouts=True)`` keeps the profile's).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devices.bench_model import BenchModel
from devices.cardholder import follow_prompts
from devices.cards import Card
from devices.host import AcquirerHost
from devices.host.testing import lab_config
from devices.power.driver import SerialPowerRelay
from devices.robot import GcodeRobot
from devices.simbench import SimulatedBench
from devices.terminal import open_terminal
from devices.terminal.console import Console
from devices.terminal.dialect import Response
from devices.terminal.driver import Pending, TerminalDriver
from devices.terminal.profile import TerminalProfile, load_profile
from devices.terminal.sim import SimulatedTerminal

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"
MAGAZINE = {1: "cup-debit-chip", 2: "cup-credit-chip", 3: "cup-magstripe", 4: "cup-expired",
            5: "cup-low-funds"}
#: The terminal's own waits, shortened for the rig's tests: a dropped host answer costs 2 s
#: (the profile says 10), a card or PIN never given 15 s (the terminal's default is 30).
BENCH_TIMEOUTS = {"host_timeout": 2.0, "card_timeout": 15.0, "pin_timeout": 15.0}


class HostClock:
    """The host's clock, which the terminal takes at sign-in; a test can move it on."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now() + self.offset

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.offset += timedelta(**delta)


@dataclass
class TerminalBench:
    model: BenchModel
    host: AcquirerHost
    clock: HostClock
    sim: SimulatedTerminal
    terminal: TerminalDriver
    console: Console
    robot: GcodeRobot
    relay: SerialPowerRelay
    cards: dict[str, Card]
    tid: str
    profile: TerminalProfile
    _closers: list[Any] = field(default_factory=list, repr=False)

    def card(self, card_id: str) -> Card:
        return self.cards[card_id]

    def slot(self, card_id: str) -> int:
        return next(slot for slot, cid in MAGAZINE.items() if cid == card_id)

    # -- the operator's part --------------------------------------------------------------------
    def sign_in(self) -> Response:
        login = self.terminal.call("login", operator=self.profile.operator_id,
                                   password=self.profile.operator_password)
        assert login.ok, f"login refused: {login.data}"
        signin = self.terminal.call("signin", timeout=20)
        assert signin.ok, f"sign-in {signin.status}: {signin.data}"
        return signin

    def present(self, card_id: str, entry: str = "insert") -> None:
        """The robot takes the card from its slot and presents it: insert, tap or swipe."""
        self.robot.pick(self.slot(card_id))
        {"insert": self.robot.insert, "tap": self.robot.tap, "swipe": self.robot.swipe}[entry]()

    def pay(self, pending: Pending, card_id: str, entry: str = "insert", *,
            pin: str | None = "card", timeout: float = 20) -> Response:
        """Serve a started sale or void: present the card when asked, type the PIN when
        asked (``pin="card"`` the card's own), return the card, and give the answer."""
        step = self.terminal.prompt_or_response(pending, ("insert_card",), timeout=timeout)
        if isinstance(step, Response):
            return step
        try:
            self.present(card_id, entry)
            response = follow_prompts(self.terminal, self.robot, pending, self.card(card_id),
                                      source="bench-t/cardholder", timeout=timeout,
                                      pin=None if pin == "card" else (pin or ""))
            assert response is not None  # no after_pin: the loop ends with the answer
            return response
        finally:
            if self.robot.holding is not None:
                self.robot.return_card()

    def sale(self, amount: int, card_id: str = "cup-debit-chip", entry: str = "insert",
             **kw: Any) -> Response:
        return self.pay(self.terminal.send("sale", amount=amount), card_id, entry, **kw)

    def type_supervisor_password(self, password: str = "123456") -> None:
        self.terminal.expect_prompt("supervisor_password", timeout=10)
        self.robot.press_keys([*password, "enter"], secret=True)

    def power_cut(self) -> None:
        self.relay.off()

    def power_on(self, boot_timeout: float = 10) -> Response:
        """Restore power and wait for the console to say the terminal is up."""
        self.console.skip_to_end()
        self.relay.on()
        # anchored: only the terminal's own line says READY, not a value it echoed
        self.console.expect(r"(?m)^\[[\d. ]+\] READY", timeout=boot_timeout)
        return self.terminal.call("status", timeout=10)

    def journal(self, kind: str | None = None) -> list:
        return self.host.journal.entries(tid=self.tid, kind=kind)

    def close(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                closer()


def open_bench(tmp_path: Path, *, profile: Path = PROFILE, dialect: str | None = None,
               tid: str = "10000001", profile_timeouts: bool = False,
               **overrides: Any) -> TerminalBench:
    """Start host, simulators and drivers for a terminal of ``profile``; ``dialect`` replaces
    the profile's; ``overrides`` go to ``SimTerminalConfig`` over the profile's settings and,
    unless ``profile_timeouts``, over ``BENCH_TIMEOUTS``."""
    terminal_profile = load_profile(profile)
    dialect = dialect or terminal_profile.dialect
    clock = HostClock()
    config = lab_config(clock=clock)
    cards = {c.card_id: c for c in config.cards}
    closers: list[Any] = []
    try:
        host = AcquirerHost(config)
        port = host.start_in_thread()
        closers.append(host.stop)
        settings = {} if profile_timeouts else dict(BENCH_TIMEOUTS)
        settings.update(overrides, dialect=dialect)
        bench = SimulatedBench("bench-t", terminal_profile,
                               {slot: cards[cid] for slot, cid in MAGAZINE.items()}, tid=tid,
                               tmk=config.terminals[tid].tmk, host=("127.0.0.1", port),
                               state_dir=tmp_path / "terminals", **settings).start()
        closers.append(bench.stop)
        model, sim, geometry = bench.model, bench.terminal, terminal_profile.geometry
        console = Console(sim.console_url, "bench-t", tmp_path / "logs")
        closers.append(console.close)
        terminal = open_terminal(sim.url, dialect=dialect, station="bench-t", console=console,
                                 ack_timeout=0.5, response_timeout=30)
        closers.append(terminal.close)
        robot = GcodeRobot(bench.robot.url, geometry, station="bench-t")
        closers.append(robot.close)
        robot.home()
        relay = SerialPowerRelay(bench.power.url, station="bench-t")
        closers.append(relay.close)
    except BaseException:
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                closer()
        raise
    return TerminalBench(model, host, clock, sim, terminal, console, robot, relay, cards, tid,
                         terminal_profile, closers)
