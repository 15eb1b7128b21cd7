"""The simulated terminal, its faults, and what it keeps across power cuts."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devices.terminal.sim.faults import FAULTS, FaultError, Faults
    from devices.terminal.sim.terminal import SimTerminalConfig, SimulatedTerminal

# Imported on first use: the terminal profile needs only sim.config, and importing the whole
# simulated terminal with it cost every `posrig receipt read` 0.09 s (measured).
_LAZY = {"FAULTS": "faults", "FaultError": "faults", "Faults": "faults",
         "SimTerminalConfig": "terminal", "SimulatedTerminal": "terminal"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"devices.terminal.sim.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FAULTS", "FaultError", "Faults", "SimTerminalConfig", "SimulatedTerminal"]
