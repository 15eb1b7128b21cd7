"""Faults the virtual lab puts on a bench on demand: a terminal fault, a damaged card.

On a real bench a dead supply or a scratched chip is something a technician sets up (a
damaged card in a magazine slot); on the virtual lab the simulators do it, seeded and at
once. Either way the scenario is the same, and the rig reaches the terminal only through
its drivers: only the *fault* comes from the simulator. Every change is a report step, and
``clear`` puts the bench back as it was: faults cleared, cards undamaged, and a terminal
left without power (or halted) powered up again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from devices import events
from devices.cards import Card
from harness.flows.core import source
from harness.flows.station_state import power_cycle
from harness.station import Station
from harness.virtual_lab import VirtualStation

#: Faults after which the terminal must be powered up again to be usable.
POWER_FAULTS = frozenset({"no_power", "stuck_in_self_test"})


@dataclass
class BenchFaults:
    station: Station
    sim: VirtualStation
    _cards: dict[int, Card] = field(default_factory=dict)  # slot -> the card before damage
    _power: bool = False

    def terminal(self, name: str, *, times: int | None = None) -> None:
        """Arm a terminal fault (devices/terminal/sim/faults.py names them)."""
        with events.step(source(self.station), f"arm the terminal fault {name}",
                         times=times if times is not None else "until cleared"):
            self.sim.terminal.faults.set(name, times=times)
        self._power = self._power or name in POWER_FAULTS

    def damage_card(self, card: Card | str, *, chip: bool = False, stripe: bool = False) -> Card:
        """The card in its magazine slot gets a dead chip and/or a worn stripe: the same card
        (number, PIN, slot) as the station knows it, that its readers can no longer read."""
        card = self.station.card(card)
        slot = self.station.slot_of(card)
        damage = [what for what, on in (("chip", chip), ("stripe", stripe)) if on]
        with events.step(source(self.station), "load a damaged card", card=card.masked_pan,
                         slot=slot, damage=" and ".join(damage) or "none"):
            self._cards.setdefault(slot, self.sim.model.magazine[slot])
            damaged = replace(self._cards[slot], chip_fault=chip, stripe_fault=stripe)
            self.sim.model.magazine[slot] = damaged
        return damaged

    def clear(self) -> None:
        """Every fault cleared, every card as it was, the terminal up if a fault downed it."""
        with events.step(source(self.station), "clear the bench's faults"):
            self.sim.terminal.faults.clear()
            for slot, card in self._cards.items():
                self.sim.model.magazine[slot] = card
            self._cards.clear()
            if self._power:
                self._power = False
                power_cycle(self.station)
