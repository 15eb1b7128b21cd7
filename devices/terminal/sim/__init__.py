"""The simulated terminal and what it keeps across power cuts."""

from devices.terminal.sim.terminal import SimTerminalConfig, SimulatedTerminal

__all__ = ["SimTerminalConfig", "SimulatedTerminal"]
