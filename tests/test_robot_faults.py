"""Faults on demand in the simulated robot, and the driver's error for each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.bench_model import BenchModel, Place
from devices.cards import Card
from devices.robot import Fault, GcodeRobot, Position, RobotError, RobotGeometry, SimulatedRobot

GEOMETRY = RobotGeometry.from_profile(
    Path(__file__).resolve().parents[1] / "fixtures" / "terminals" / "posrig-sim.yaml")
# Synthetic, Luhn-valid test PANs: these tests only need cards to move about.
CARDS = {1: Card("c1", "6212340000000019", "3012", "220", "123456"),
         2: Card("c2", "6250940000000027", "2911", "201", "246810")}


@pytest.fixture
def model() -> BenchModel:
    return BenchModel("st-f", CARDS)


@pytest.fixture
def sim(model: BenchModel) -> Iterator[SimulatedRobot]:
    with SimulatedRobot(model, GEOMETRY, seed=11) as running:
        yield running


@pytest.fixture
def robot(sim: SimulatedRobot) -> Iterator[GcodeRobot]:
    with GcodeRobot(sim.url, GEOMETRY, station="st-f", timeout=5.0) as driver:
        driver.home()
        yield driver


def _between(p: Position, a: Position, b: Position) -> bool:
    """``p`` lies strictly inside the segment a-b."""
    return 0.01 < a.distance_to(p) < a.distance_to(b) - 0.01 and abs(
        a.distance_to(p) + p.distance_to(b) - a.distance_to(b)) < 0.01


def test_a_jam_mid_move_stops_the_robot_with_a_clear_error(
        robot: GcodeRobot, sim: SimulatedRobot, model: BenchModel) -> None:
    robot.pick(1)
    sim.inject(Fault.JAM)
    with pytest.raises(RobotError) as err:
        robot.insert()
    error = err.value
    assert str(error).startswith("st-f/robot: insert card (slot=1) failed at X")
    assert "ALARM:1 (hard limit or stall switch tripped" in str(error)
    assert "free the mechanism" in str(error).lower() and error.rehome
    assert error.position is not None  # where the head really stopped, to the report's 3 decimals
    assert error.position.distance_to(sim.head) < 0.001
    assert _between(sim.head, Position(20, 20, 0), Position(160, 30, 0))
    assert model.place_of(1) is Place.GRIPPER  # stuck in the air, not in the reader

    with pytest.raises(RobotError, match="not homed"):
        robot.insert()
    robot.home()
    robot.insert()
    assert model.place_of(1) is Place.CHIP_READER


def test_a_missed_pick_leaves_the_card_in_its_slot(
        robot: GcodeRobot, sim: SimulatedRobot, model: BenchModel) -> None:
    sim.inject(Fault.MISSED_PICK)
    with pytest.raises(RobotError) as err:
        robot.pick(2)
    message = str(err.value)
    assert message.startswith("st-f/robot: pick card (slot=2) failed at X20 Y45 Z0")
    assert ("missed pick: the gripper closed at slot 2 but its card sensor reports no card"
            in message)
    assert not err.value.rehome and robot.holding is None
    assert model.place_of(2) is Place.MAGAZINE
    robot.pick(2)  # a second try needs no homing
    assert model.place_of(2) is Place.GRIPPER and robot.holding == 2


def test_a_lost_home_is_reported_and_recovered_by_homing(
        robot: GcodeRobot, sim: SimulatedRobot, model: BenchModel) -> None:
    robot.pick(1)
    sim.inject(Fault.LOST_HOME)
    with pytest.raises(RobotError) as err:
        robot.tap(0.1)
    message = str(err.value)
    assert message.startswith("st-f/robot: tap card (slot=1, duration_s=0.1) failed at an "
                              "unknown position")
    assert "the controller restarted" in message and "it lost its home" in message
    assert err.value.position is None and err.value.rehome
    assert robot.status().state == "Alarm"
    assert robot.status().position == Position(0, 0, 0)  # counters restarted where it stood
    assert sim.head == Position(20, 20, 0)

    robot.home()
    robot.return_card()
    assert model.place_of(1) is Place.MAGAZINE


def _misses(seed: int, attempts: int = 12) -> list[bool]:
    """Pick and return slot 1 ``attempts`` times with a 40 % missed-pick rate."""
    model = BenchModel("st-f", CARDS)
    outcome = []
    with SimulatedRobot(model, GEOMETRY, seed=seed, fault_rates={"missed_pick": 0.4}) as sim, \
            GcodeRobot(sim.url, GEOMETRY, station="st-f", timeout=5.0) as robot:
        robot.home()
        for _ in range(attempts):
            try:
                robot.pick(1)
            except RobotError:
                outcome.append(True)
                assert model.place_of(1) is Place.MAGAZINE
                continue
            outcome.append(False)
            robot.return_card()
    return outcome


def test_seeded_faults_repeat() -> None:
    first = _misses(seed=3)
    assert first == _misses(seed=3)
    assert True in first and False in first  # the rate does something, and not everything
    assert _misses(seed=4) != first


def test_a_reader_already_holding_a_card_blocks_the_insert(
        robot: GcodeRobot, model: BenchModel) -> None:
    model.move(2, Place.CHIP_READER)  # put there by hand, behind the robot's back
    robot.pick(1)
    with pytest.raises(RobotError, match=r"ALARM:1 .*Free the mechanism"):
        robot.insert()
    assert model.place_of(1) is Place.GRIPPER and model.place_of(2) is Place.CHIP_READER


def test_an_impossible_grip_alarms_instead_of_killing_the_simulator(
        robot: GcodeRobot, model: BenchModel) -> None:
    model.move(2, Place.GRIPPER)  # the model says the jaws already hold another card
    with pytest.raises(RobotError, match=r"ALARM:1"):
        robot.pick(1)
    model.move(2, Place.MAGAZINE)
    robot.home()  # the controller still answers
    robot.pick(1)
    assert model.place_of(1) is Place.GRIPPER
