"""The G-code line protocol and the robot geometry, without a port."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devices.robot import GeometryError, Position, RobotGeometry, gcode

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "terminals" / "posrig-sim.yaml"


@pytest.fixture
def robot_section() -> dict:
    return yaml.safe_load(PROFILE.read_text(encoding="utf-8"))["robot"]


# -- formatting and parsing -------------------------------------------------------------------
def test_moves_are_written_compactly() -> None:
    assert gcode.move(x=160, y=30.5, feed_mm_min=6000) == "G1 X160 Y30.5 F6000"
    assert gcode.move(z=-0.0001) == "G1 Z0"
    assert gcode.move(x=1.23456, rapid=True) == "G0 X1.235"
    assert gcode.dwell(0.5) == "G4 P0.5"


@pytest.mark.parametrize(("line", "expected"), [
    ("ok", gcode.Ok()),
    ("error:20", gcode.Error(20)),
    ("ALARM:1", gcode.Alarm(1)),
    ("Grbl 1.1h ['$' for help]", gcode.Banner("Grbl 1.1h ['$' for help]")),
    ("[MSG:'$H'|'$X' to unlock]", gcode.Message("[MSG:'$H'|'$X' to unlock]")),
    ("error:x", gcode.Message("error:x")),
])
def test_replies_are_classified(line: str, expected: gcode.Reply) -> None:
    assert gcode.parse_reply(line + "\r") == expected


def test_status_report_round_trips() -> None:
    line = gcode.status_report("Run", Position(160, 30, -35.25), feed_mm_min=3000, pins="P")
    status = gcode.parse_reply(line)
    assert isinstance(status, gcode.Status)
    assert (status.state, status.position, status.feed_mm_min, status.pins) == (
        "Run", Position(160, 30, -35.25), 3000, "P")


def test_a_real_grbl_status_with_substate_and_wpos_fields_parses() -> None:
    status = gcode.parse_reply("<Hold:0|MPos:1.000,2.000,-3.000|Bf:15,128|FS:0,0|WCO:0,0,0>")
    assert isinstance(status, gcode.Status)
    assert status.state == "Hold" and status.position == Position(1, 2, -3)
    assert status.fields["Bf"] == "15,128"


def test_a_garbled_status_is_not_trusted() -> None:
    assert isinstance(gcode.parse_reply("<Idle|MPos:1.0,zz,3>"), gcode.Message)


def test_blocks_split_into_commands_and_values() -> None:
    block = gcode.parse_block("g1 x10 Y-2.5 (comment) F6000 ; tail")
    assert block.commands == ("G1",)
    assert block.values == {"X": 10.0, "Y": -2.5, "F": 6000.0}
    assert gcode.parse_block("G4 P0.5").commands == ("G4",)


@pytest.mark.parametrize(("line", "code"), [("G1 X", 2), ("1X", 1), ("G1 X1..2", 1)])
def test_bad_blocks_name_the_grbl_error(line: str, code: int) -> None:
    with pytest.raises(gcode.GcodeSyntaxError) as err:
        gcode.parse_block(line)
    assert err.value.code == code


def test_error_and_alarm_say_what_they_mean() -> None:
    assert "locked out" in str(gcode.Error(9))
    assert "outside the machine's travel" in str(gcode.Alarm(2))


# -- geometry -----------------------------------------------------------------------------------
def test_the_sim_profile_loads(robot_section: dict) -> None:
    g = RobotGeometry.from_profile(PROFILE)
    assert g.homing == "G28" and g.magazine.slots == 5
    assert g.magazine.xy(3) == (20.0, 70.0)
    assert g.keypad.keys["enter"] == (170.0, 205.0)
    assert g == RobotGeometry.from_dict(robot_section, source=str(PROFILE))


def _error(section: dict) -> str:
    with pytest.raises(GeometryError) as err:
        RobotGeometry.from_dict(section, source="lab/bench.yaml")
    return str(err.value)


def test_a_missing_key_is_named(robot_section: dict) -> None:
    del robot_section["chip_reader"]["insert_z"]
    assert _error(robot_section) == "lab/bench.yaml: robot.chip_reader.insert_z is missing"


def test_a_wrong_type_names_key_and_expectation(robot_section: dict) -> None:
    robot_section["magazine"]["pitch"] = "25"
    message = _error(robot_section)
    assert message.startswith("lab/bench.yaml: robot.magazine.pitch: expected a list of two")
    assert "'25'" in message


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("homing", "G29", "expected G28 or $H"),
    ("feed_mm_min", 0, "greater than 0"),
    ("safe_z", True, "expected a number"),
    ("card_sensor", "laser", "probe or none"),
    ("gripper_open", "M3", "other than gripper_close"),
])
def test_bad_values_are_refused(robot_section: dict, key: str, value: object,
                                expected: str) -> None:
    robot_section[key] = value
    message = _error(robot_section)
    assert f"robot.{key}" in message and expected in message


def test_a_typo_is_not_silently_ignored(robot_section: dict) -> None:
    robot_section["chip_reader"]["insert_zz"] = -30
    assert _error(robot_section) == ("lab/bench.yaml: robot.chip_reader.insert_zz: unknown key; "
                                     "did you mean insert_z?")


def test_a_point_outside_travel_is_refused(robot_section: dict) -> None:
    robot_section["keypad"]["keys"]["menu"] = [250, 160]
    message = _error(robot_section)
    assert "robot.keypad.keys.menu (X250 Y160 Z-25) lies outside the robot's travel" in message
    assert "x 0..240" in message


def test_working_heights_stay_below_the_safe_plane(robot_section: dict) -> None:
    robot_section["safe_z"] = -30
    robot_section["travel"]["z"] = [-50, 10]
    message = _error(robot_section)
    assert "robot.mag_reader.x_from: z -20 is above safe_z -30" in message
    assert "at or below the safe plane" in message


def test_a_profile_without_robot_section(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("model: x\n", encoding="utf-8")
    with pytest.raises(GeometryError, match="no 'robot:' section"):
        RobotGeometry.from_profile(bad)
