"""Faults a simulated terminal shows on demand, seeded, as real terminals show them.

    sim.faults.set("faded_print")                 # every slip from now on, until cleared
    sim.faults.set("wrong_amount_on_slip", times=1)
    sim.faults.set("dead_column", rate=0.3)       # three slips in ten, the same ones per seed
    sim.faults.clear()

A fault with ``times`` is used up after that many occurrences; ``rate`` draws from the
terminal's own random generator (``SimTerminalConfig.fault_seed``), so a failing run can be
repeated exactly. ``FAULTS`` lists every fault and what it does (docs/posrig-ecr-1.md too).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from devices.faults import RigDefect

FAULTS: dict[str, str] = {
    "no_power": "the supply is dead: the terminal never powers on (no console, no ECR)",
    "stuck_in_self_test": "the power-on self-check fails and halts: console output, ECR silent",
    "out_of_paper": "the printer has no paper: nothing printed, event printing/out_of_paper",
    "faded_print": "slips are printed faded (quality 'faded')",
    "dead_column": "a printhead element is dead: a blank dot column (quality 'dead_column')",
    "cut_short": "the paper runs out mid-slip (quality 'cut_short')",
    "wrong_amount_on_slip": "the slip's amount disagrees with the transaction (+1.00)",
    "corrupt_lrc": "the next frame the terminal sends has a wrong LRC (the link repeats it)",
    "port_vanishes_mid_frame": "the ECR port disappears halfway through the terminal's next frame",
}


class FaultError(RigDefect, ValueError):
    pass


@dataclass
class _Armed:
    times: int | None  # None: until cleared
    rate: float


class Faults:
    """The faults armed on one terminal. Thread-safe: tests arm, the terminal consumes."""

    def __init__(self, seed: int = 0):
        self._rng = random.Random(seed)
        self._armed: dict[str, _Armed] = {}
        self._lock = threading.Lock()
        self.history: list[str] = []  # every fault that fired, in order

    def set(self, name: str, *, times: int | None = None, rate: float = 1.0) -> None:
        if name not in FAULTS:
            raise FaultError(f"unknown terminal fault {name!r}; known: {', '.join(FAULTS)}")
        if times is not None and times < 1:
            raise FaultError("times must be at least 1 (or None: until cleared)")
        if not 0 < rate <= 1:
            raise FaultError(f"rate must be in (0, 1], got {rate}")
        with self._lock:
            self._armed[name] = _Armed(times, rate)

    def clear(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._armed.clear()
            else:
                self._armed.pop(name, None)

    def armed(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {n: {"times": a.times, "rate": a.rate} for n, a in self._armed.items()}

    def is_set(self, name: str) -> bool:
        """Armed, without using it up (a state such as a dead supply)."""
        with self._lock:
            return name in self._armed

    def fire(self, name: str) -> bool:
        """Whether the fault happens now; uses up one occurrence when it does."""
        with self._lock:
            armed = self._armed.get(name)
            if armed is None or (armed.rate < 1 and self._rng.random() >= armed.rate):
                return False
            if armed.times is not None:
                armed.times -= 1
                if armed.times == 0:
                    del self._armed[name]
            self.history.append(name)
            return True
