"""A frozen camera -- a stream that keeps sending one frame -- is a station fault, told apart
from a live camera over a tray where nothing new was printed (a terminal defect), for the
tray camera and the display camera alike, through real MJPEG streams on loopback."""

from __future__ import annotations

import http.client
import itertools
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import numpy as np
import pytest

from devices.bench_model import BenchModel, Slip
from devices.camera import CameraError, CameraFrozen, NothingPrinted, OpenCvCamera, SimulatedCamera
from devices.camera.driver import FROZEN_AFTER_S, identical
from devices.camera.scene import FLICKER_FRAMES, flicker, render_scene
from devices.camera.sim import BOUNDARY
from devices.display import SimulatedDisplay
from devices.faults import BROKEN, FAILED, STATION_FAULT, TERMINAL_DEFECT, classify
from harness import flows
from harness.flows import receipt
from harness.paths import FIXTURES
from harness.profiles import load_profile
from harness.receipts import shared_engine
from harness.screen import Screen, ScreenNotShown, ScreenReader
from harness.strategy import StationState

#: A wait for a change long enough that the frozen rule (FROZEN_AFTER_S) has its time.
WAIT_S = FROZEN_AFTER_S + 2.0


@pytest.fixture
def model() -> BenchModel:
    return BenchModel("station-1", {})


@pytest.fixture
def sim(model: BenchModel) -> Iterator[SimulatedCamera]:
    with SimulatedCamera(model, level="L1", seed=3, fps=10) as camera:
        yield camera


@pytest.fixture
def cam(sim: SimulatedCamera) -> Iterator[OpenCvCamera]:
    with OpenCvCamera(sim.url, station="station-1") as camera:
        yield camera


def _parts(url: str, count: int) -> list[bytes]:
    """The next ``count`` JPEG parts of an MJPEG stream, as raw bytes off the wire."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", parts.path)
        reply = conn.getresponse()
        assert reply.status == 200 and BOUNDARY in reply.headers["Content-Type"]
        jpegs = []
        for _ in range(count):
            assert reply.readline().strip() == f"--{BOUNDARY}".encode()
            headers = {}
            while (line := reply.readline().strip()):
                key, _, value = line.decode().partition(":")
                headers[key.lower()] = value.strip()
            jpegs.append(reply.read(int(headers["content-length"])))
            reply.readline()  # the part's closing CRLF
        return jpegs
    finally:
        conn.close()


# -- the simulator: live frames at rest, and the fault that freezes them -------------------------

def test_flicker_is_one_gray_level_of_noise_and_no_two_frames_in_a_row_are_the_same():
    still = render_scene(None, "L0", 1)  # L0: no noise of its own, a flat tray
    frames = [flicker(still, i) for i in range(FLICKER_FRAMES + 1)]
    for a, b in itertools.pairwise(frames):
        assert not identical(a, b)
    assert identical(frames[0], frames[FLICKER_FRAMES])  # a cycle of precomputed patterns
    moved = np.abs(frames[3].astype(int) - still)
    assert moved.max() == 1 and abs(float((frames[3].astype(int) - still).mean())) < 0.01


def test_the_stream_is_live_at_rest_and_frozen_repeats_its_last_jpeg_byte_for_byte(sim):
    live = _parts(sim.url, 4)
    assert len(set(live)) == 4, "a live camera never sends the same frame twice in a row"
    sim.freeze()
    assert sim.frozen
    frozen = _parts(sim.url, 4)
    assert len(set(frozen)) == 1
    sim.thaw()
    assert not sim.frozen and len(set(_parts(sim.url, 3))) == 3


def test_the_display_camera_is_live_at_rest_and_freezes_too(model):
    with SimulatedDisplay(model, level="L1", seed=2) as display:
        assert len(set(_parts(display.url, 3))) == 3
        display.freeze()
        assert len(set(_parts(display.url, 3))) == 1


# -- the driver, over the tray ---------------------------------------------------------------

def test_a_live_tray_with_no_new_slip_is_still_nothing_printed(cam):
    empty = cam.grab()
    # longer than the frozen rule's span: live frames never count as frozen
    with pytest.raises(NothingPrinted, match="printed no slip") as caught:
        cam.grab_settled(changed_from=empty, timeout=WAIT_S)
    verdict = classify(caught.value)
    assert (verdict.status, verdict.category) == (FAILED, TERMINAL_DEFECT)


def test_a_frozen_tray_stream_during_a_slip_check_is_a_station_fault_with_its_cause(model, sim, cam):
    empty = cam.grab()
    sim.freeze()  # the capture device hangs on the empty tray ...
    model.print_slip(Slip(("AMOUNT: RMB 1.00",)))  # ... and the slip it should have seen drops
    with pytest.raises(CameraFrozen) as caught:
        cam.grab_settled(changed_from=empty, timeout=10)
    message = str(caught.value)
    assert message.startswith(f"station-1: camera {sim.url}: the stream has sent the same frame")
    assert "frames in a row" in message and "Check the capture device" in message
    verdict = classify(caught.value)
    assert (verdict.status, verdict.category, verdict.quarantine) == (BROKEN, STATION_FAULT, True)
    assert isinstance(caught.value, CameraError)
    # every later read says so too, until the stream is live again
    with pytest.raises(CameraFrozen):
        cam.grab()
    sim.thaw()
    deadline = time.monotonic() + 5
    while True:  # frames sent before the thaw may still be on their way
        try:
            cam.grab()
            break
        except CameraFrozen:
            assert time.monotonic() < deadline, "the stream stayed frozen after the thaw"
    frame = cam.grab_settled(changed_from=empty, timeout=10)  # the slip, now it is seen
    assert not identical(frame, empty)


def test_a_stream_frozen_on_a_slip_never_settles_as_that_slip(model, sim, cam):
    empty = cam.grab()
    model.print_slip(Slip(("AMOUNT: RMB 1.00",)))
    sim.truth()
    cam.grab_settled(changed_from=empty, timeout=10)
    sim.freeze()  # frozen with the slip in view: the repeats are no new look at the tray
    with pytest.raises(CameraFrozen):
        cam.grab_settled(changed_from=empty, timeout=10)


def test_a_wait_shorter_than_the_rule_that_saw_one_frame_repeated_is_frozen_not_nothing_printed(sim, cam):
    empty = cam.grab()
    sim.freeze()
    with pytest.raises(CameraFrozen, match=r"for 1\.5 s \(\d+ frames in a row\)"):
        cam.grab_settled(changed_from=empty, timeout=1.5)


def test_a_frozen_frame_of_one_flat_colour_also_names_a_covered_lens_or_a_lamp_out():
    from devices.camera.driver import _frozen_text

    black = np.zeros((48, 64, 3), np.uint8)
    assert "Every pixel is 0" in _frozen_text(5, 2.0, black) and "lamp out" in _frozen_text(5, 2.0, black)
    tray = render_scene(None, "L1", 1)
    assert "Every pixel" not in _frozen_text(5, 2.0, tray)


@pytest.mark.heavy  # waits out real timers: in the heavy set .ci/run runs
def test_the_check_can_be_turned_off_for_a_codec_that_repeats_still_scenes(sim):
    with OpenCvCamera(sim.url, station="station-1", frozen_after=None) as cam:
        empty = cam.grab()
        sim.freeze()
        with pytest.raises(NothingPrinted):  # what the rig said before it knew frozen streams
            cam.grab_settled(changed_from=empty, timeout=WAIT_S)
    with pytest.raises(ValueError, match="frozen_frames=1"):
        OpenCvCamera(sim.url, frozen_frames=1)


# -- the driver, over the display ---------------------------------------------------------------

@pytest.fixture(scope="module")
def screen_profile():
    return load_profile(FIXTURES / "terminals" / "posrig-sim.yaml").screen


@pytest.mark.heavy  # waits out real timers: in the heavy set .ci/run runs
def test_a_frozen_display_camera_is_a_station_fault_and_a_live_unchanging_one_a_terminal_defect(
        model, screen_profile):
    with SimulatedDisplay(model, level="L1", seed=5) as display:
        display.screen.show("交易成功 APPROVED", "43.21")
        screen = Screen(OpenCvCamera(display.url, station="station-1"), screen_profile,
                        station="station-1", reader=ScreenReader(screen_profile, engine=shared_engine()))
        try:
            with pytest.raises(ScreenNotShown):
                screen.expect("declined", timeout=WAIT_S)
            display.freeze()
            display.screen.show("交易失败 DECLINED", "51 余额不足")  # the frozen camera never shows it
            with pytest.raises(CameraFrozen, match="the stream has sent the same frame") as caught:
                screen.expect("declined", timeout=10)
            assert classify(caught.value).category == STATION_FAULT
        finally:
            screen.close()


# -- a sale's slip check on the virtual lab ----------------------------------------------------------

@pytest.mark.heavy  # waits out real timers: in the heavy set .ci/run runs
def test_a_sale_whose_tray_camera_froze_is_broken_under_station_fault_and_the_station_latched(
        station, lab, monkeypatch):
    monkeypatch.setattr(receipt, "SLIP_SETTLE_S", WAIT_S)
    simulated = lab.virtual.stations[station.name]
    station.strategy.transition(StationState.SIGNED_IN)

    # the control: a live camera, and a terminal that says it printed and did not
    monkeypatch.setattr(simulated.model, "print_slip", lambda slip: None)
    sale = flows.sale(station, 1_000, "cup-debit-chip")
    assert sale.approved, sale
    with pytest.raises(NothingPrinted) as caught:
        flows.check_receipt(station, sale)
    assert classify(caught.value).status == FAILED
    monkeypatch.undo()
    monkeypatch.setattr(receipt, "SLIP_SETTLE_S", WAIT_S)

    simulated.camera.freeze()
    try:
        sale = flows.sale(station, 1_200, "cup-debit-chip")
        assert sale.approved, sale
        with pytest.raises(CameraFrozen) as caught, station.strategy.guard():
            flows.check_receipt(station, sale)
        verdict = classify(caught.value)
        assert (verdict.status, verdict.category) == (BROKEN, STATION_FAULT)
        assert station.state is StationState.BROKEN
        assert station.broken_reason.startswith("CameraFrozen")
        assert "the stream has sent the same frame" in station.broken_reason
    finally:
        simulated.camera.thaw()
        station.strategy.broken_reason = None  # mended: the lab's station outlives this test
