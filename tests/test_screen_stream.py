"""Issue 14, items 1-2 through real channels: the simulated display camera's MJPEG stream
read by OpenCV, the virtual lab naming a display stream per station, and
``station.screen.expect`` following a real sale on the simulated terminal."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import cv2
import pytest

from devices import events
from devices.camera import CameraError, OpenCvCamera
from devices.display import Content, SimulatedDisplay
from devices.faults import FAILED, classify
from harness.inventory import load_inventory
from harness.paths import FIXTURES
from harness.profiles import load_profile
from harness.receipts import shared_engine
from harness.screen import (
    Screen,
    ScreenConfigError,
    ScreenDisagrees,
    ScreenNotShown,
    ScreenReader,
    check_screen,
)
from harness.virtual_lab import VirtualLab

PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"

pytestmark = pytest.mark.bench(signed_in=True)


@pytest.fixture(scope="module")
def screen_profile():
    return load_profile(PROFILE).screen


@pytest.fixture
def steps():
    seen: list[events.StepEvent] = []

    def listen(event):
        if isinstance(event, events.StepEvent) and event.phase == "end":
            seen.append(event)

    unsubscribe = events.subscribe(listen)
    yield seen
    unsubscribe()


def _screen(url: str, profile, station: str = "bench-t", **camera) -> Screen:
    reader = ScreenReader(profile, engine=shared_engine())
    return Screen(OpenCvCamera(url, station=station, **camera), profile, station=station, reader=reader)


def test_the_virtual_lab_names_a_display_stream_per_station_and_opencv_reads_the_idle_screen(
        tmp_path: Path, screen_profile):
    inventory = load_inventory(FIXTURES / "labs" / "virtual.yaml").first(2)
    lab = VirtualLab(inventory, tmp_path)
    live = lab.start()
    try:
        urls = [st.display for st in live.stations]
        assert all(u and u.startswith("http://127.0.0.1:") and u.endswith("/stream.mjpg") for u in urls)
        assert len(set(urls)) == 2
        assert '"display": "http://127.0.0.1:' in live.to_json()
        reader = ScreenReader(screen_profile, engine=shared_engine())
        for url, station in zip(urls, lab.stations.values(), strict=True):
            # the terminal boots, then draws its idle screen: any OpenCV client sees it
            assert station.model.wait_until(lambda s=station: s.display.screen.content.lines != (), 20)
            capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
            try:
                ok, frame = capture.read()
            finally:
                capture.release()
            assert ok and frame.shape == (720, 960, 3)
            reading = reader.read(frame)
            assert reading.state == "idle", reading.text
    finally:
        lab.stop()


def test_expect_follows_a_sale_and_each_change_of_state_is_a_step_with_its_frame(bench, screen_profile,
                                                                                 steps):
    with SimulatedDisplay(bench.model, level="L1", seed=3, fps=10) as display:
        display.attach(bench.sim)
        display.screen.show("签到成功 SIGN-IN OK", "BATCH 000001")
        screen = _screen(display.url, screen_profile)
        try:
            assert screen.read().state == "signed_in"
            pending = bench.terminal.send("sale", amount=4_321)
            screen.expect("insert_card", timeout=15)
            answer: list = []
            payer = threading.Thread(target=lambda: answer.append(bench.pay(pending, "cup-debit-chip")))
            payer.start()
            payer.join(60)
            assert answer and answer[0].status == "approved"
            reading = screen.expect("approved", timeout=15)
            assert "43.21" in reading.text
        finally:
            screen.close()
    changes = [s for s in steps if s.source == "bench-t/screen" and s.title.startswith("screen: ")]
    titles = [s.title for s in changes]
    assert titles[0] == "screen: signed_in" and "screen: insert_card" in titles
    assert titles[-1] == "screen: approved"
    for step in changes:
        assert [a.mime for a in step.attachments] == ["image/jpeg"]
        assert step.attachments[0].body[:2] == b"\xff\xd8"  # a JPEG
    expects = [s for s in steps if s.title.startswith("expect screen ")]
    assert [s.error for s in expects] == [None, None]


def test_a_decline_shows_its_code(bench, screen_profile):
    with SimulatedDisplay(bench.model, level="L2", seed=4) as display:
        display.attach(bench.sim)
        screen = _screen(display.url, screen_profile)
        try:
            answer = bench.sale(200_000, "cup-low-funds", "insert")
            assert answer.status == "declined" and answer.data["rc"] == "51"
            reading = screen.expect("declined", timeout=15)
            assert reading.groups["declined"]["code"] == "51"
        finally:
            screen.close()


def test_a_screen_that_never_shows_the_state_is_a_terminal_defect_naming_what_it_showed(
        bench, screen_profile, steps):
    with SimulatedDisplay(bench.model, level="L1", seed=5) as display:
        display.screen.show("交易成功 APPROVED", "43.21")
        screen = _screen(display.url, screen_profile)
        try:
            with pytest.raises(ScreenNotShown) as caught:
                screen.expect("declined", timeout=1.0)
        finally:
            screen.close()
    error = caught.value
    assert "did not show declined in 1 s" in str(error)
    assert "APPROVED" in str(error) and "recognised as approved" in str(error)
    assert classify(error).status == FAILED
    assert error.frame_jpeg[:2] == b"\xff\xd8" and error.reading.state == "approved"
    failed = [s for s in steps if s.title == "expect screen declined"]
    assert failed and failed[0].error and failed[0].verdict.status == FAILED
    assert [a.name for a in failed[0].attachments] == ["last frame"]
    assert failed[0].attachments[0].mime == "image/jpeg"


def test_a_display_camera_that_delivers_no_frames_is_a_station_fault(screen_profile):
    from devices.bench_model import BenchModel

    display = SimulatedDisplay(BenchModel("station-8", {}), level="L0").start()
    screen = _screen(display.url, screen_profile, station="station-8", reconnect_for=0.3, timeout=2)
    try:
        assert screen.read().lit  # a lit, blank screen
        display.stop()
        with pytest.raises(CameraError) as caught:
            screen.expect("idle", timeout=5)
        assert classify(caught.value).quarantine
        assert "station-8" in str(caught.value)
    finally:
        screen.close()
        display.stop()


def test_a_profile_without_screen_states_or_an_unknown_state_is_a_rig_defect(screen_profile):
    from devices.bench_model import BenchModel

    with SimulatedDisplay(BenchModel("station-9", {}), level="L0") as display:
        display.screen.show("POSRIG-SIM", "欢迎使用 WELCOME")
        without = Screen.open_source(display.url, None, station="station-9", profile_name="x.yaml")
        with pytest.raises(ScreenConfigError, match=r"x\.yaml has no screen: section"):
            without.expect("idle", timeout=1)
        screen = _screen(display.url, screen_profile, station="station-9")
        try:
            with pytest.raises(ScreenConfigError, match=r"no screen state 'idel'.*idle"):
                screen.expect("idel", timeout=1)
            assert screen.expect("idle", timeout=10).state == "idle"
            # a still screen is compared, not read again
            reads = screen.reads
            for _ in range(3):
                screen.read()
            assert screen.reads == reads
            display.screen.show(*Content(("交易取消 CANCELLED",)).lines)
            assert screen.expect("cancelled", timeout=10).state == "cancelled"
            assert screen.reads == reads + 1
        finally:
            screen.close()
            without.close()


def test_the_screen_is_a_fourth_witness_a_screen_that_says_declined_for_an_approval_is_a_defect(
        bench, screen_profile, steps):
    from harness.flows import TransactionResult

    with SimulatedDisplay(bench.model, level="L1", seed=6) as display:
        display.attach(bench.sim)
        screen = _screen(display.url, screen_profile)
        try:
            approved = TransactionResult.from_response("sale", 1_000, bench.sale(1_000, "cup-debit-chip"))
            assert check_screen(screen, approved, timeout=15).shows("approved")
            declined = TransactionResult.from_response(
                "sale", 200_000, bench.sale(200_000, "cup-low-funds", "insert"))
            assert declined.status == "declined" and declined.rc == "51"
            assert check_screen(screen, declined, timeout=15).groups["declined"]["code"] == "51"
            # a terminal whose screen says another outcome (or code) than its answer
            with pytest.raises(ScreenDisagrees, match="the screen says declined, the answer approved"):
                check_screen(screen, approved, timeout=15)
            other_code = dataclasses.replace(declined, rc="55")
            with pytest.raises(ScreenDisagrees, match="response code 51, the answer 55") as caught:
                check_screen(screen, other_code, timeout=15)
            assert classify(caught.value).status == FAILED
            display.screen.show("处理中 PROCESSING")
            with pytest.raises(ScreenNotShown, match="approved or declined"):
                check_screen(screen, approved, timeout=1)
        finally:
            screen.close()
    compared = [s for s in steps if s.title == "compare the screen with the terminal's sale"]
    assert [s.result for s in compared[:2]] == ["agree", "agree"]
    assert compared[2].error and "image/jpeg" in [a.mime for a in compared[2].attachments]


def test_a_virtual_lab_station_has_its_screen_and_the_flows_results_agree_with_it(tmp_path: Path):
    from harness import flows
    from harness.lab import Lab

    lab = Lab.from_path(None, tmp_path)
    lab.start()
    try:
        station = lab.station()
        assert station.screen is not None and station.screen.camera.source.endswith("/stream.mjpg")
        assert station.screen.expect("idle", timeout=30).state == "idle"
        flows.sign_in(station)
        station.screen.expect("signed_in", timeout=15)
        result = flows.sale(station, 2_500, "cup-debit-chip")
        assert result.approved
        reading = check_screen(station.screen, result, timeout=15)
        assert reading.shows("approved") and "25.00" in reading.text
    finally:
        lab.stop()
