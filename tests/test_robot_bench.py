"""The G-code driver against the simulated robot over a real pty; the bench model agrees."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devices import events
from devices.bench_model import BenchModel, Place
from devices.cards import Card
from devices.channels import PtyPort
from devices.robot import (
    CardRobot,
    GcodeRobot,
    Position,
    RobotError,
    RobotGeometry,
    SimulatedRobot,
    gcode,
)

ROOT = Path(__file__).resolve().parents[1]
GEOMETRY = RobotGeometry.from_profile(ROOT / "fixtures" / "terminals" / "posrig-sim.yaml")


def _cards() -> dict[int, Card]:
    listed = yaml.safe_load((ROOT / "fixtures" / "cards.yaml").read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(Card)}
    cards = [Card(card_id=c["id"], **{k: str(v) if k in ("pan", "expiry", "service_code", "pin")
                                      else v for k, v in c.items() if k in fields})
             for c in listed["cards"]]
    return {slot: card for slot, card in enumerate(cards[:3], start=1)}


@pytest.fixture
def model() -> BenchModel:
    return BenchModel("st-r", _cards())


@pytest.fixture
def sim(model: BenchModel) -> Iterator[SimulatedRobot]:
    with SimulatedRobot(model, GEOMETRY) as running:
        yield running


@pytest.fixture
def robot(sim: SimulatedRobot) -> Iterator[GcodeRobot]:
    with GcodeRobot(sim.url, GEOMETRY, station="st-r", timeout=5.0) as driver:
        driver.home()
        yield driver


@pytest.fixture
def heard() -> Iterator[list[events.StepEvent | events.LogEvent]]:
    seen: list[events.StepEvent | events.LogEvent] = []
    unsubscribe = events.subscribe(seen.append)
    yield seen
    unsubscribe()


def test_the_driver_is_a_card_robot(robot: GcodeRobot) -> None:
    assert isinstance(robot, CardRobot)


def test_home_puts_the_head_at_the_profile_home(robot: GcodeRobot, sim: SimulatedRobot) -> None:
    assert robot.position() == GEOMETRY.home
    assert sim.head == GEOMETRY.home
    assert robot.status().state == "Idle"


def test_pick_insert_remove_return_moves_the_card_on_the_bench(
        robot: GcodeRobot, model: BenchModel) -> None:
    robot.pick(2)
    assert model.place_of(2) is Place.GRIPPER and robot.holding == 2
    assert model.place_of(1) is Place.MAGAZINE

    robot.insert()
    assert model.place_of(2) is Place.CHIP_READER and robot.card_in_reader

    robot.remove()
    assert model.place_of(2) is Place.GRIPPER and not robot.card_in_reader

    robot.return_card()
    assert model.place_of(2) is Place.MAGAZINE and robot.holding is None
    assert robot.position().z == GEOMETRY.safe_z


def test_return_card_takes_it_out_of_the_reader_first(robot: GcodeRobot,
                                                      model: BenchModel) -> None:
    robot.pick(1)
    robot.insert()
    robot.return_card()
    assert model.place_of(1) is Place.MAGAZINE and robot.holding is None


def test_keys_reach_the_terminal_only_through_the_model(robot: GcodeRobot,
                                                        model: BenchModel) -> None:
    robot.press("menu")
    robot.press_keys("905")
    robot.press_keys(["clear", "enter"])
    assert [model.take_key() for _ in range(6)] == ["menu", "9", "0", "5", "clear", "enter"]
    assert model.take_key() is None


def test_a_pin_entered_with_the_card_in_the_reader(robot: GcodeRobot, model: BenchModel) -> None:
    robot.pick(1)
    robot.insert()
    robot.press_keys(model.magazine[1].pin, secret=True)
    assert model.place_of(1) is Place.CHIP_READER  # the finger did not disturb the card
    typed = "".join(iter(model.take_key, None))
    assert typed == model.magazine[1].pin


def test_each_action_is_a_step_with_its_gcode(robot: GcodeRobot, heard: list) -> None:
    robot.pick(1)
    robot.insert()
    ends = [e for e in heard if isinstance(e, events.StepEvent) and e.phase == "end"]
    assert [e.title for e in ends] == ["pick card", "insert card"]
    insert = ends[1]
    assert insert.source == "st-r/robot" and insert.args == {"slot": "1"}
    evidence = insert.attachments[0]
    assert evidence.name == "gcode"
    assert "> G1 X160 Y30 F6000" in evidence.body and "< ok" in evidence.body
    logged = [e.text for e in heard if isinstance(e, events.LogEvent) and e.source == "st-r/robot"]
    assert "> G1 Z-35 F3000" in logged


def test_a_secret_pin_stays_out_of_the_evidence(robot: GcodeRobot, heard: list) -> None:
    robot.press_keys("2468", secret=True)
    step = next(e for e in heard if isinstance(e, events.StepEvent) and e.phase == "end")
    assert step.args == {"keys": "4 keys, hidden"}
    texts = [e.text for e in heard if isinstance(e, events.LogEvent)] + [step.attachments[0].body]
    key_xy = {f"X{gcode.num(x)} Y{gcode.num(y)}" for x, y in GEOMETRY.keypad.keys.values()}
    assert not [t for t in texts if any(xy in t for xy in key_xy)]
    assert "finger pressed a key" in texts  # the simulator's log does not name them either


# -- refusals: nothing moves, the robot stays usable ------------------------------------------
def test_an_unknown_slot_is_refused_before_moving(robot: GcodeRobot, model: BenchModel) -> None:
    with pytest.raises(RobotError) as err:
        robot.pick(9)
    message = str(err.value)
    assert message.startswith("st-r/robot: pick card (slot=9) failed at X0 Y0 Z0:")
    assert "the magazine has no slot 9 (slots 1..5)" in message
    assert not err.value.rehome
    robot.pick(3)
    assert model.place_of(3) is Place.GRIPPER


@pytest.mark.parametrize("action", ["insert", "remove", "return_card", "swipe", "tap"])
def test_card_actions_without_a_card_are_refused(robot: GcodeRobot, action: str) -> None:
    with pytest.raises(RobotError, match=r"Pick\(slot\) first|Insert\(\) first"):
        getattr(robot, action)()


def test_an_unknown_key_is_refused(robot: GcodeRobot, model: BenchModel) -> None:
    with pytest.raises(RobotError, match=r"the keypad has no key 'F1'\. Use one of 1, 2, 3"):
        robot.press_keys(["1", "F1"])
    assert model.take_key() is None  # refused as a whole: no half-typed sequence


def test_nothing_moves_before_home(sim: SimulatedRobot, model: BenchModel) -> None:
    with GcodeRobot(sim.url, GEOMETRY, station="st-r", timeout=5.0) as robot:
        with pytest.raises(RobotError, match=r"not homed .* Call home\(\) first"):
            robot.pick(1)
        assert robot.status().state == "Alarm"  # the controller agrees: it wants homing
    assert model.place_of(1) is Place.MAGAZINE


# -- the controller says no ------------------------------------------------------------------
def test_an_error_reply_names_station_action_and_code(sim: SimulatedRobot) -> None:
    dollar_h = dataclasses.replace(GEOMETRY, homing="$H")  # this controller homes with G28
    with GcodeRobot(sim.url, dollar_h, station="st-r", timeout=5.0) as robot, \
            pytest.raises(RobotError) as err:
        robot.home()
    message = str(err.value)
    assert message.startswith("st-r/robot: home (command=$H) failed")
    assert "answered error:5 (the homing cycle is not enabled" in message
    assert "to '$H'" in message and "dialect, then home()." in message


def test_a_move_past_the_soft_limits_raises_the_alarm_with_the_position(
        model: BenchModel) -> None:
    # The controller's travel is shorter than the profile claims: its soft limit catches it.
    short = dataclasses.replace(GEOMETRY, travel=((0, 150), (0, 240), (-50, 0)))
    with SimulatedRobot(model, short) as sim, \
            GcodeRobot(sim.url, GEOMETRY, station="st-r", timeout=5.0) as robot:
        robot.home()
        robot.pick(1)
        with pytest.raises(RobotError) as err:
            robot.insert()  # the chip reader sits at x 160
        assert "ALARM:2 (soft limit" in str(err.value)
        assert err.value.position == Position(20, 20, 0)  # where the controller stopped
        assert err.value.rehome
        with pytest.raises(RobotError, match="not homed"):
            robot.insert()
        robot.home()  # a reset clears the alarm; the card is still in the jaws
        robot.return_card()
        assert model.place_of(1) is Place.MAGAZINE


class _DeafController:
    """A controller that boots (answers a reset with its banner) and then answers nothing."""

    def __init__(self) -> None:
        self.pty = PtyPort()
        self.pty.timeout = 0.05
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if gcode.SOFT_RESET in self.pty.read(64):
                self.pty.write(f"\r\n{gcode.BANNER}\r\n".encode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.pty.close()


def test_no_banner_times_out_naming_port_and_station() -> None:
    silent = PtyPort()  # nothing behind it, as a controller with no power
    try:
        with pytest.raises(RobotError) as err:
            GcodeRobot(silent.url, GEOMETRY, station="st-r", timeout=0.3)
    finally:
        silent.close()
    message = str(err.value)
    assert message.startswith("st-r/robot: connect failed")
    assert f"no start-up banner from {silent.url}" in message
    assert "is the simulator running" in message


def test_a_line_not_acknowledged_times_out_naming_the_action() -> None:
    deaf = _DeafController()
    try:
        with GcodeRobot(deaf.pty.url, GEOMETRY, station="st-r", timeout=0.3) as robot, \
                pytest.raises(RobotError) as err:
            robot.home()
    finally:
        deaf.close()
    message = str(err.value)
    assert message.startswith("st-r/robot: home (command=G28) failed at an unknown position")
    assert f"no answer to 'G28' from {deaf.pty.url}" in message


# -- time and motion ------------------------------------------------------------------------
def test_moves_take_feed_time_and_report_run_until_reset(model: BenchModel) -> None:
    with SimulatedRobot(model, GEOMETRY, instant=False) as sim, \
            GcodeRobot(sim.url, GEOMETRY, station="st-r", timeout=5.0) as robot:
        robot.home()
        robot.gcode("G1 X200 F60")  # 200 mm at 1 mm/s: still running at the next question
        status = robot.status()
        assert status.state == "Run" and status.feed_mm_min == 60
        robot.home()  # a reset mid-move loses the position (ALARM:3); homing finds it again
        assert robot.position() == GEOMETRY.home


def test_the_timed_simulator_moves_the_card_as_the_instant_one(model: BenchModel) -> None:
    with SimulatedRobot(model, GEOMETRY, instant=False) as sim, \
            GcodeRobot(sim.url, GEOMETRY, station="st-r", timeout=5.0) as robot:
        robot.home()
        robot.pick(1)
        assert model.place_of(1) is Place.GRIPPER
        robot.return_card()
        assert model.place_of(1) is Place.MAGAZINE
        assert sim.head == Position(*GEOMETRY.magazine.xy(1), GEOMETRY.safe_z)


# -- swipe and tap ------------------------------------------------------------------------------
def _sim_log(heard: list) -> list[str]:
    return [e.text for e in heard
            if isinstance(e, events.LogEvent) and e.source == "st-r/robot-sim"]


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_a_swipe_through_the_whole_reader_is_read(robot: GcodeRobot, model: BenchModel,
                                                  heard: list, direction: str) -> None:
    robot.pick(3)
    robot.swipe(speed_mm_s=400, direction=direction)
    assert model.take_swipe() is model.magazine[3]
    assert model.take_swipe() is None
    assert model.place_of(3) is Place.GRIPPER
    assert "card of slot 3 swiped at 400 mm/s" in _sim_log(heard)
    stroke = "G1 X220 F24000" if direction == "forward" else "G1 X120 F24000"
    step = next(e for e in heard if isinstance(e, events.StepEvent) and e.title == "swipe card"
                and e.phase == "end")
    assert f"> {stroke}" in step.attachments[0].body


def test_a_stroke_too_slow_for_the_reader_is_not_read(robot: GcodeRobot, model: BenchModel,
                                                      heard: list) -> None:
    robot.pick(3)
    robot.swipe(speed_mm_s=20)
    assert model.take_swipe() is None
    assert any("cannot decode it outside 50..1500 mm/s" in t for t in _sim_log(heard))


def test_a_swipe_faster_than_the_controller_is_refused(robot: GcodeRobot) -> None:
    robot.pick(3)
    with pytest.raises(RobotError, match="swipe speed 2000 mm/s is not within the controller's"):
        robot.swipe(speed_mm_s=2000)
    assert robot.homed  # refused before moving: nothing to recover


def test_a_tap_rests_the_card_on_the_antenna_for_the_dwell(robot: GcodeRobot, model: BenchModel,
                                                           heard: list) -> None:
    robot.pick(1)
    robot.tap(duration_s=0.2)
    assert model.place_of(1) is Place.GRIPPER
    assert [t for t in _sim_log(heard) if t.startswith("card of slot 1")] == [
        "card of slot 1 -> gripper", "card of slot 1 -> antenna", "card of slot 1 -> gripper"]
    body = next(e for e in heard if isinstance(e, events.StepEvent) and e.title == "tap card"
                and e.phase == "end").attachments[0].body
    down, dwell, up = (body.index(f"> {line}") for line in ("G1 Z-15", "G4 P0.2", "G1 Z0"))
    assert down < dwell < up  # the card leaves the antenna only after the dwell


def test_a_terminal_waiting_on_the_model_sees_the_tap(robot: GcodeRobot, model: BenchModel) -> None:
    robot.pick(1)
    seen = threading.Event()

    def terminal() -> None:  # as the simulated terminal does: it learns only from the model
        if model.wait_until(lambda: model.card_at(Place.ANTENNA) is not None, timeout=10):
            seen.set()

    watcher = threading.Thread(target=terminal)
    watcher.start()
    robot.tap(duration_s=0.1)
    watcher.join()
    assert seen.is_set()


def test_dollar_h_homing(model: BenchModel) -> None:
    dollar_h = dataclasses.replace(GEOMETRY, homing="$H", home=Position(0, 240, 0))
    with SimulatedRobot(model, dollar_h) as sim, \
            GcodeRobot(sim.url, dollar_h, station="st-r", timeout=5.0) as robot:
        robot.home()
        assert robot.position() == Position(0, 240, 0)
        robot.pick(1)
        assert model.place_of(1) is Place.GRIPPER
