"""The simulated terminal, its faults, and what it keeps across power cuts."""

from devices.terminal.sim.faults import FAULTS, FaultError, Faults
from devices.terminal.sim.terminal import SimTerminalConfig, SimulatedTerminal

__all__ = ["FAULTS", "FaultError", "Faults", "SimTerminalConfig", "SimulatedTerminal"]
