"""The camera driver against the simulated camera, over a real MJPEG stream on loopback."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
import yaml

from devices import events
from devices.bench_model import BenchModel, Slip
from devices.camera import CameraError, OpenCvCamera, SimulatedCamera, frame_difference
from devices.camera.driver import NothingPrinted
from devices.camera.sim import SNAPSHOT_PATH
from devices.faults import classify
from devices.terminal.sim.printer import format_amount, render_slip
from harness.paths import FIXTURES
from harness.receipts import PrintLimits, ReceiptReader, shared_engine
from harness.receipts.paper import find_paper, to_gray

TEMPLATE = yaml.safe_load((FIXTURES / "receipts" / "cup-standard.yaml").read_text(encoding="utf-8"))
PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"
VALUES = {
    "merchant_name": "POSRIG TEST MERCHANT", "merchant_id": "898100012340001", "terminal_id": "10000001",
    "operator": "01", "card_number": "621234******0019", "txn_type": "消费 SALE", "batch": "000001",
    "trace": "000042", "auth_code": "123456", "rrn": "260101000042", "datetime": "2026/01/01 12:00:00",
    "amount": format_amount(12_345),
}


@pytest.fixture
def model() -> BenchModel:
    return BenchModel("station-1", {})


@pytest.fixture
def sim(model: BenchModel) -> Iterator[SimulatedCamera]:
    with SimulatedCamera(model, level="L1", seed=3, fps=20) as camera:
        yield camera


@pytest.fixture
def cam(sim: SimulatedCamera) -> Iterator[OpenCvCamera]:
    with OpenCvCamera(sim.url, station="station-1") as camera:
        yield camera


def _inside(corners: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 255)
    return cv2.erode(mask, np.ones((25, 25), np.uint8)) > 0


def _free_port_nobody_listens_on() -> socket.socket:
    """A bound, never listening socket: its port refuses connections while we hold it."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    return held


def test_the_driver_sees_the_slip_the_terminal_just_printed(model, sim, cam):
    assert sim.url.startswith("http://127.0.0.1:") and sim.url.endswith("/stream.mjpg")
    empty = cam.grab()
    assert sim.truth().corners is None
    model.print_slip(render_slip(TEMPLATE, VALUES))
    frame = cam.grab_settled(changed_from=empty, timeout=10)

    truth = sim.truth()
    assert truth.corners is not None
    paper = _inside(truth.corners, frame.shape)
    # the paper is where the empty tray had none
    assert np.median(to_gray(empty)[paper]) < 100 < 150 < np.median(to_gray(frame)[paper])
    # and it has come to rest where the camera's own truth says (a falling slip is 100+ px higher)
    assert np.abs(find_paper(to_gray(frame)) - truth.corners).max() < 8


@pytest.mark.parametrize("level", ["L0", "L1"])
def test_the_receipt_reader_reads_the_streamed_slip(model, level):
    reader = ReceiptReader(TEMPLATE, PrintLimits.from_profile(PROFILE), engine=shared_engine())
    with SimulatedCamera(model, level=level, seed=5, fps=20) as sim, \
            OpenCvCamera(sim.url, station="station-1") as cam:
        empty = cam.grab()
        model.print_slip(render_slip(TEMPLATE, VALUES))
        reading = reader.read(cam.grab_settled(changed_from=empty, timeout=10))
    assert reading.readable, reading.reason
    assert reading.value("amount") == 12_345
    assert reading.value("trace") == "000042"


def test_a_second_slip_is_seen_settled_and_the_first_frame_is_not_returned_twice(model, sim, cam):
    model.print_slip(Slip(("FIRST: 1",)))
    first = cam.grab_settled(changed_from=cam.grab(), timeout=10)
    model.print_slip(Slip(("SECOND: 2", "MORE: LINES", "AND: MORE")))
    second = cam.grab_settled(changed_from=first, timeout=10)
    assert frame_difference(first, second) > 6
    assert np.abs(find_paper(to_gray(second)) - sim.truth().corners).max() < 8


def test_the_simulator_renders_only_when_the_tray_changes_and_repeats_a_seed(model, sim):
    def snapshot(camera: SimulatedCamera) -> bytes:
        url = camera.url.replace("/stream.mjpg", SNAPSHOT_PATH)
        with urllib.request.urlopen(url, timeout=5) as reply:
            assert reply.headers["Content-Type"] == "image/jpeg"
            return reply.read()

    a, b = snapshot(sim), snapshot(sim)
    assert a == b and sim.renders == 1
    model.print_slip(Slip(("AMOUNT: RMB 1.00",)))
    sim.truth()  # the state at rest, after the slip's fall
    assert sim.renders == 2 and snapshot(sim) != a
    assert cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_COLOR).shape == (960, 1280, 3)
    with SimulatedCamera(model, level="L1", seed=3) as twin:
        assert np.array_equal(twin.truth().frame, sim.truth().frame)
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(sim.url.replace("/stream.mjpg", "/nothing"), timeout=5)


def test_a_dropped_stream_is_reopened(sim, cam):
    cam.grab()
    for expected in (1, 2):
        assert sim.drop_clients() == 1
        deadline = time.monotonic() + 10
        while cam.reconnects < expected:  # frames already in flight may still arrive first
            assert time.monotonic() < deadline, "the driver did not reconnect"
            cam.grab()
        assert cam.grab().shape == (960, 1280, 3)
        assert sim.connections == expected + 1 and sim.clients == 1


def test_a_stream_that_does_not_come_back_raises_a_clear_error(model):
    sim = SimulatedCamera(model, fps=20).start()
    cam = OpenCvCamera(sim.url, station="station-7", reconnect_for=0.3).open()
    try:
        cam.grab()
        sim.stop()
        deadline = time.monotonic() + 10
        with pytest.raises(CameraError) as caught:
            while time.monotonic() < deadline:
                cam.grab()
        message = str(caught.value)
        assert "station-7" in message and cam.source in message and "did not come back" in message
    finally:
        cam.close()
        sim.stop()


def test_an_unreachable_url_raises_a_clear_error_naming_station_and_source(sim):
    held = _free_port_nobody_listens_on()
    try:
        url = f"http://127.0.0.1:{held.getsockname()[1]}/stream.mjpg"
        with pytest.raises(CameraError, match=f"station-9: camera {url}: cannot open"):
            OpenCvCamera(url, station="station-9").open()
    finally:
        held.close()
    with pytest.raises(CameraError, match=r"station-9: camera .*/no-such-stream: cannot open"):
        OpenCvCamera(sim.url.replace("stream.mjpg", "no-such-stream"), station="station-9").open()


def test_a_password_in_the_url_never_appears(model):
    cam = OpenCvCamera("rtsp://admin:hunter2@127.0.0.1:1/live", station="station-2", timeout=1)
    assert cam.source == "rtsp://admin:***@127.0.0.1:1/live"
    with pytest.raises(CameraError) as caught:
        cam.open()
    assert "hunter2" not in str(caught.value) and "admin:***@" in str(caught.value)


def test_grabs_are_steps_and_attach_the_frame_when_asked(model, sim, cam):
    seen: list[events.StepEvent] = []
    unsubscribe = events.subscribe(lambda e: seen.append(e) if isinstance(e, events.StepEvent) else None)
    try:
        cam.grab()
        frame = cam.grab(attach="tray before the sale")
        cam.grab_settled(attach="tray, settled")
    finally:
        unsubscribe()
    ends = [e for e in seen if e.phase == "end" and e.source == "station-1/camera"]
    assert [e.title for e in ends] == ["grab frame", "grab frame", "grab settled frame"]
    assert ends[0].attachments == [] and ends[1].args["camera"] == sim.url
    for end, name in ((ends[1], "tray before the sale"), (ends[2], "tray, settled")):
        (attachment,) = end.attachments
        assert (attachment.name, attachment.mime) == (name, "image/png")
        png = cv2.imdecode(np.frombuffer(attachment.body, np.uint8), cv2.IMREAD_COLOR)
        assert png.shape == frame.shape
    assert np.array_equal(cv2.imdecode(np.frombuffer(ends[1].attachments[0].body, np.uint8),
                                       cv2.IMREAD_COLOR), frame)


def test_a_closed_camera_refuses_and_an_unchanged_view_is_a_slip_never_printed(sim):
    cam = OpenCvCamera(sim.url, station="station-1")
    with pytest.raises(CameraError, match="not open"):
        cam.grab()
    with cam:
        empty = cam.grab()
        # frames keep arriving, the tray stays as it was: the terminal's fault, not the camera's
        with pytest.raises(NothingPrinted, match="printed no slip") as caught:
            cam.grab_settled(changed_from=empty, timeout=0.5)
    assert classify(caught.value).status == "failed"


def test_stopping_the_simulator_leaves_no_thread_or_port_behind(model):
    before = set(threading.enumerate())
    sim = SimulatedCamera(model, fps=20).start()
    port = urlsplit(sim.url).port
    with OpenCvCamera(sim.url, station="station-1") as cam:
        cam.grab()
        assert sim.clients == 1
        sim.stop()  # with a client still streaming
    assert set(threading.enumerate()) == before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with pytest.raises(RuntimeError, match="not started"):
        _ = sim.url
