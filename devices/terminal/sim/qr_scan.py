"""The simulated terminal's code scanner: a small camera behind a window, decoding with zxing-cpp.

It sees only what the bench model says faces its window (a phone's screen held there), and
it decodes the image it sees, as a real imager does: a code it cannot read is no code. It
tries a few frames a second until it reads one or the wait ends.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import zxingcpp

from devices.terminal.sim.base import Refusal

if TYPE_CHECKING:
    from devices.terminal.sim.terminal import SimulatedTerminal

FRAME_S = 0.2  # the imager's frame period while it looks for a code
_FORMATS = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128)


def decode(image: object) -> str | None:
    """The text of the first QR code or Code 128 barcode in ``image`` (gray uint8), or None."""
    frame = np.asarray(image)
    if frame.ndim != 2 or frame.dtype != np.uint8 or frame.size == 0:
        return None
    for result in zxingcpp.read_barcodes(frame, formats=_FORMATS):
        if result.valid and result.text:
            return result.text
    return None


def scan(terminal: SimulatedTerminal, timeout: float) -> str | None:
    """Look through the window until a code is read (its text) or ``timeout`` passes (None).
    The cancel key ends the wait: the cashier gave up (``cancelled`` / ``no_code``, the
    screen CANCELLED as any command CANCEL ends; a timeout shows its own screen)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        terminal.alive()
        key = terminal.model.take_key()
        if key == "cancel":
            raise Refusal("cancelled", "no_code", "交易取消 CANCELLED")
        view = terminal.model.scanner_view()
        if view is not None:
            text = decode(view())
            if text:
                terminal.console(f"SCANNER read a code of {len(text)} characters")
                return text
        terminal.wait(lambda: False, FRAME_S)
    return None
