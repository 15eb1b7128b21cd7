"""The customer's phone on the bench: it shows a payment code (付款码) for the terminal's
scanner (scan-to-pay, C2B). ``Phone`` is what the rig asks of one; ``SimulatedPhone`` is the
virtual bench's, whose screen the simulated terminal's scanner really decodes."""

from devices.phone.sim import Phone, PhoneError, SimulatedPhone, render_code_screen

__all__ = ["Phone", "PhoneError", "SimulatedPhone", "render_code_screen"]
