"""The virtual bench's scan-to-pay parts through their real channels: the terminal's screen
as an MJPEG stream that any OpenCV client reads the order's code from, and the phone the
terminal's scanner reads."""

from __future__ import annotations

import time

import cv2
import pytest

from devices.display import SimulatedDisplay
from devices.host.qr import wallet_call
from devices.payments import qr
from harness.receipts.qr import read_qr

pytestmark = pytest.mark.bench(signed_in=True, qr_poll_s=0.5, qr_b2c_window_s=20.0)


def code_from_stream(url: str, timeout: float = 15.0) -> str | None:
    capture = cv2.VideoCapture(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok, frame = capture.read()
            if ok:
                text = read_qr(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                if text:
                    return text
        return None
    finally:
        capture.release()


def test_the_order_code_is_read_off_the_display_stream_and_paid(bench):
    display = SimulatedDisplay(bench.model, level="L2", seed=3)
    display.attach(bench.sim)
    display.start()
    try:
        assert code_from_stream(display.url, timeout=2.0) is None, "the idle screen shows no code"
        pending = bench.terminal.send("qr_order", amount=4_321)
        text = code_from_stream(display.url)
        order = qr.order_from_url(text or "")
        assert order is not None, text
        assert wallet_call(bench.host, {"op": "pay", "order": order})["state"] == "PAID"
        answer = pending.result(30)
        assert answer.status == "approved" and answer.data["order"] == order, answer
    finally:
        display.stop()


def test_the_robot_holds_the_phone_to_the_scanner_and_puts_it_back(bench):
    from devices.phone import SimulatedPhone
    from devices.robot.link import RobotError
    from devices.terminal.sim.qr_scan import decode

    phone = SimulatedPhone(bench.model)
    phone.show_code(qr.make_code("02", 5))
    assert bench.model.scanner_view() is None and bench.model.phone_place == "dock"
    bench.robot.present_phone()
    assert bench.model.phone_place == "scanner"
    assert decode(bench.model.scanner_view()()) == qr.make_code("02", 5)
    with pytest.raises(RobotError, match="holds the phone"):
        bench.robot.pick(1)
    bench.robot.return_phone()
    assert bench.model.phone_place == "dock" and bench.model.scanner_view() is None
    assert not bench.robot.holding_phone
