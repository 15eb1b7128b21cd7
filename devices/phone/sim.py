"""A phone showing a payment code, and the simulated one of the virtual bench.

A wallet app's payment-code screen (付款码) shows the code twice: as a Code 128 barcode for
laser scanners and as a QR code for image scanners, with the digits partly hidden. The
simulated phone draws that screen (zxing-cpp writes both symbols), as the scanner's camera
would see it held a few centimetres away: slightly turned, slightly blurred, a little noise,
seeded so a run repeats. Holding it to the scanner is a change of the bench model (the
scanner's window shows the phone's screen); only then can the terminal read it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import zxingcpp

from devices import events
from devices.bench_model import BenchModel
from devices.faults import StationFault

SCREEN_W, SCREEN_H = 360, 640  # the phone's screen, portrait, in the scanner camera's pixels


class PhoneError(StationFault):
    """The phone cannot show what it was asked to (nothing to show, a code no symbol holds)."""


class Phone(Protocol):
    """What the rig asks of the customer's phone."""

    def show_code(self, code: str) -> None: ...

    def present(self) -> None: ...

    def withdraw(self) -> None: ...


def _symbol(text: str, fmt: zxingcpp.BarcodeFormat, scale: int) -> np.ndarray:
    try:
        code = zxingcpp.create_barcode(text, fmt)
    except Exception as exc:  # zxing's own error types differ between versions
        raise PhoneError(f"the phone cannot draw {text!r} as {fmt.name}: {exc}") from None
    return np.asarray(code.to_image(scale=scale, add_quiet_zones=True), np.uint8)


def render_code_screen(code: str, *, seed: int = 0, angle_deg: float | None = None,
                       blur: float = 0.8, noise: float = 4.0) -> np.ndarray:
    """The payment-code screen as the scanner sees it: gray uint8, barcode above, QR code below."""
    rng = np.random.default_rng(seed)
    screen = np.full((SCREEN_H, SCREEN_W), 250, np.uint8)
    bar = _symbol(code, zxingcpp.BarcodeFormat.Code128, 2)
    bar = cv2.resize(bar, (min(SCREEN_W - 20, bar.shape[1]), 90), interpolation=cv2.INTER_NEAREST)
    y = 60
    x = (SCREEN_W - bar.shape[1]) // 2
    screen[y:y + bar.shape[0], x:x + bar.shape[1]] = bar
    cv2.putText(screen, f"{code[:4]} **** ****", (40, y + bar.shape[0] + 30),
                cv2.FONT_HERSHEY_SIMPLEX, 0.7, 40, 2, cv2.LINE_AA)
    qr = _symbol(code, zxingcpp.BarcodeFormat.QRCode, 8)
    side = min(SCREEN_W - 40, qr.shape[0])
    qr = cv2.resize(qr, (side, side), interpolation=cv2.INTER_NEAREST)
    y, x = 250, (SCREEN_W - side) // 2
    screen[y:y + side, x:x + side] = qr
    # held by hand in front of the window: a small turn, a little out of focus, sensor noise
    angle = float(rng.uniform(-6, 6)) if angle_deg is None else angle_deg
    turn = cv2.getRotationMatrix2D((SCREEN_W / 2, SCREEN_H / 2), angle, 1.0)
    view = cv2.warpAffine(screen, turn, (SCREEN_W, SCREEN_H), borderValue=30)
    if blur:
        view = cv2.GaussianBlur(view, (0, 0), blur)
    grain = rng.normal(0, noise, view.shape) if noise else 0
    return np.clip(view.astype(np.float32) + grain, 0, 255).astype(np.uint8)


class SimulatedPhone:
    """The virtual bench's phone: ``show_code`` draws the wallet's screen. It rests on its dock
    in the bench model, where the card robot picks it and holds it to the scanner (a profile
    with ``robot.phone``); on a bench without that stand, ``present`` holds it there by hand
    and ``withdraw`` takes it away. With ``control`` (a Unix socket path) ``start()`` serves it
    there, so a process outside the rig's tells it what to show (devices/phone/control.py)."""

    def __init__(self, model: BenchModel, *, seed: int = 0, control: Path | None = None):
        self.model = model
        self.seed = seed
        self.source = f"{model.station}/phone-sim"
        self.control = control
        self._server = None
        self._lock = threading.Lock()
        self._screen: np.ndarray | None = None
        self.code: str | None = None
        self.shown = 0
        model.place_phone(self.view)

    def start(self) -> SimulatedPhone:
        if self.control is not None and self._server is None:
            from devices.phone.control import PhoneControlServer  # the socket only when asked

            self._server = PhoneControlServer(self, self.control).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.withdraw()

    @property
    def at_scanner(self) -> bool:
        """Whether the scanner's window faces this phone now (held by hand or by the robot)."""
        return self.model.scanner_view() == self.view

    def show_code(self, code: str) -> None:
        if not code or len(code) > 350 or not code.isascii():
            raise PhoneError(f"a payment code is 1-350 ASCII characters, got {len(code)}")
        screen = render_code_screen(code, seed=self.seed + self.shown)
        with self._lock:
            self._screen, self.code = screen, code
            self.shown += 1
        events.log(self.source, f"shows a payment code of {len(code)} digits")

    def blank(self) -> None:
        with self._lock:
            self._screen, self.code = None, None

    def view(self) -> np.ndarray:
        """What a camera facing the phone sees now (a dark screen when it shows nothing)."""
        with self._lock:
            screen = self._screen
        return screen if screen is not None else np.full((SCREEN_H, SCREEN_W), 20, np.uint8)

    def present(self) -> None:
        if self.model.scanner_view() is not None and self.model.scanner_view() != self.view:
            raise PhoneError(f"{self.model.station}: something else is held to the scanner")
        self.model.hold_at_scanner(self.view)
        events.log(self.source, "held to the terminal's scanner")

    def withdraw(self) -> None:
        if self.model.scanner_view() == self.view:
            self.model.hold_at_scanner(None)
