"""Lab inventory, profile and card files: typed on load, and errors that point at the fault."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devices.faults import RIG_DEFECT, classify
from harness import cli
from harness.config import ConfigError
from harness.inventory import load_inventory
from harness.paths import DEFAULT_LAB, FIXTURES, REPO
from harness.profiles import load_cards, load_master_keys, load_profile

GOOD = """
name: bench-a
host: { listen: "tcp://0.0.0.0:5000" }
stations:
  - name: bench-a-1
    terminal: { profile: terminals/posrig-sim.yaml, tid: "10000001", ecr: /dev/ttyUSB0 }
    robot: rfc2217://labhost:4001?ign_set_control
    power: /dev/ttyUSB2
    magazine: { 1: cup-debit-chip }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_default_virtual_lab_loads_typed():
    inv = load_inventory(DEFAULT_LAB)
    assert inv.virtual and len(inv.stations) >= 2
    first = inv.stations[0]
    assert first.terminal.tid == "10000001"
    assert first.terminal.profile.exists()
    assert first.magazine[1] == "cup-debit-chip"
    assert first.slot_of("cup-credit-chip") == 2
    assert (inv.host.host, inv.host.port) == ("127.0.0.1", 0)


def test_real_bench_inventory_loads(tmp_path):
    inv = load_inventory(write(tmp_path, GOOD))
    st = inv.stations[0]
    assert not inv.virtual
    assert st.robot.url.startswith("rfc2217://")
    assert st.power == "/dev/ttyUSB2"
    assert inv.host.port == 5000


@pytest.mark.parametrize("broken, where, expected", [
    (GOOD.replace('tid: "10000001"', "tid: 1234"), "stations[0].terminal.tid", "8-digit terminal id"),
    (GOOD.replace("ecr: /dev/ttyUSB0", "ecr: COM3"), "stations[0].terminal.ecr", "device URL"),
    (GOOD.replace('listen: "tcp://0.0.0.0:5000"', "listen: 5000"), "host.listen", "tcp://HOST:PORT"),
    (GOOD.replace("    robot: rfc2217://labhost:4001?ign_set_control\n", ""), "stations[0].robot",
     "missing"),
    (GOOD.replace("posrig-sim.yaml", "nope.yaml"), "stations[0].terminal.profile", "exists"),
    ("stations: []\nhost: {listen: tcp://a:1}\n", "stations", "non-empty list"),
])
def test_inventory_errors_name_file_key_and_expectation(tmp_path, broken, where, expected):
    path = write(tmp_path, broken)
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    message = str(err.value)
    assert str(path) in message and where in message and expected in message


def test_not_yaml_at_all(tmp_path):
    path = write(tmp_path, "stations: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_inventory(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        load_inventory(tmp_path / "nowhere.yaml")


def test_asking_for_more_stations_than_listed():
    with pytest.raises(ConfigError, match="asked for 99 stations"):
        load_inventory(DEFAULT_LAB).first(99)


def test_profile_cards_and_keys_load():
    profile = load_profile(FIXTURES / "terminals" / "posrig-sim.yaml")
    assert profile.key_mode in ("001", "003", "004")
    assert "123456" not in repr(profile)  # the supervisor password stays out of reprs
    cards = load_cards(FIXTURES / "cards.yaml")
    assert all(c.pan not in repr(c) for c in cards.values())
    assert cards["cup-debit-chip"].service_code.startswith("2")
    keys = load_master_keys(FIXTURES / "keys" / "terminals.yaml")
    assert len(keys["10000001"]) == 16


def test_profile_power_timing_is_read_and_checked(tmp_path):
    source = (FIXTURES / "terminals" / "posrig-sim.yaml").read_text()
    profile = load_profile(FIXTURES / "terminals" / "posrig-sim.yaml")
    assert (profile.boot_timeout, profile.power_hold) == (15.0, 0.2)
    slow = tmp_path / "terminals" / "slow.yaml"
    slow.parent.mkdir()
    slow.write_text(source.replace("boot_timeout_s: 15 ", "boot_timeout_s: 28 "))
    (tmp_path / "receipts").symlink_to(FIXTURES / "receipts")
    assert load_profile(slow).boot_timeout == 28.0
    slow.write_text(source.replace("boot_timeout_s: 15 ", "boot_timeout_s: -1 "))
    with pytest.raises(ConfigError, match=r"power.boot_timeout_s.*above 0"):
        load_profile(slow)


def test_card_with_bad_luhn_is_refused_with_its_place(tmp_path):
    path = tmp_path / "cards.yaml"
    path.write_text('cards:\n  - {id: x, pan: "6212340000000018", expiry: "3012", '
                    'service_code: "220", pin: "1234"}\n')
    with pytest.raises(ConfigError, match=r"cards\[0\].*Luhn"):
        load_cards(path)


@pytest.mark.parametrize("text, expected", [
    ('terminals:\n  "10000001": {tmk: "XYZ"}\n', "10000001 needs 'tmk'"),
    ("terminals: [\n", "not valid YAML"),
    ("terminals: 5\n", "expected 'terminals:'"),
])
def test_key_file_errors_name_the_file_and_the_fault(tmp_path, text, expected):
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_master_keys(path)
    assert str(path) in str(err.value) and expected in str(err.value)


# -- strict: an unknown key anywhere is refused with the nearest known one ---------------------
@pytest.mark.parametrize("old, new, message", [
    ("name: bench-a\n", "nmae: bench-a\n", "nmae: unknown key; did you mean name?"),
    ('listen: "tcp://0.0.0.0:5000"', 'listen: "tcp://0.0.0.0:5000", jurnal: j.sqlite',
     "host.jurnal: unknown key; did you mean journal?"),
    ("    power: /dev/ttyUSB2\n", "    power: /dev/ttyUSB2\n    camra: /dev/video0\n",
     "stations[0].camra: unknown key; did you mean camera?"),
    ("ecr: /dev/ttyUSB0 }", "ecr: /dev/ttyUSB0, consol: /dev/ttyUSB3 }",
     "stations[0].terminal.consol: unknown key; did you mean console?"),
    ("robot: rfc2217://labhost:4001?ign_set_control", "robot: { url: /dev/ttyUSB1, speed: 3 }",
     "stations[0].robot.speed: unknown key; known keys: url"),
    ("    power: /dev/ttyUSB2\n", "    power: /dev/ttyUSB2\n    colour: red\n",
     "stations[0].colour: unknown key; known keys: camera, display, magazine, name, "),
])
def test_an_unknown_key_at_any_depth_names_file_path_and_nearest_key(tmp_path, old, new, message):
    assert GOOD.count(old) == 1
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert classify(err.value).category == RIG_DEFECT


@pytest.mark.parametrize("old, new, message", [
    ('tid: "10000001"', 'tdi: "10000001"', "stations[0].terminal.tdi: unknown key; did you mean tid?"),
    ("listen:", "lisen:", "host.lisen: unknown key; did you mean listen?"),
    ("{ profile:", "{ profil:", "stations[0].terminal.profil: unknown key; did you mean profile?"),
    ("    magazine:", "    magazin:", "stations[0].magazin: unknown key; did you mean magazine?"),
])
def test_a_misspelt_required_key_is_named_as_the_misspelling(tmp_path, old, new, message):
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert str(err.value) == f"{path}: {message}", "named, not only 'missing'"


def test_the_live_inventory_json_loads_strictly(tmp_path):
    live = json.loads(load_inventory(DEFAULT_LAB).to_json())
    assert {"source", "cards", "keys"} <= set(live), "what `posrig lab up` writes is all known"
    path = tmp_path / "live.json"
    path.write_text(json.dumps(live))
    assert load_inventory(path).stations == load_inventory(DEFAULT_LAB).stations
    live["stations"][1]["terminal"]["tdi"] = live["stations"][1]["terminal"].pop("tid")
    path.write_text(json.dumps(live))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: stations[1].terminal.tdi: unknown key; "
                                                    "did you mean tid?")):
        load_inventory(path)


def test_a_missing_inventory_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_inventory(tmp_path / "missing.yaml")
    assert str(err.value) == (f"{tmp_path / 'missing.yaml'}: cannot read the lab inventory (No such file "
                              "or directory); name a lab inventory file that exists")


BAD_LAB = GOOD.replace("    power: /dev/ttyUSB2\n", "    power: /dev/ttyUSB2\n    camra: /dev/video0\n")


@pytest.mark.parametrize("name", ["missing.yaml", "misspelt.yaml"])
def test_pytest_with_a_bad_lab_says_it_in_one_line(tmp_path, name):
    lab = tmp_path / name
    if name == "misspelt.yaml":
        lab.write_text(textwrap.dedent(BAD_LAB))
    run = subprocess.run([sys.executable, "-m", "pytest", "scenarios", "-p", "no:cacheprovider",
                          f"--lab={lab}"], cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert run.returncode == 4, run.stdout + run.stderr  # pytest's usage error
    assert len(lines) == 1, lines
    expected = ("cannot read the lab inventory" if name == "missing.yaml"
                else "stations[0].camra: unknown key; did you mean camera?")
    assert lines[0].startswith(f"ERROR: --lab: {lab}: ") and expected in lines[0]


def test_posrig_run_with_a_misspelt_key_exits_2_with_that_line(tmp_path, capsys):
    lab = write(tmp_path, BAD_LAB)
    assert cli.main(["run", "--lab", str(lab), "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert err == f"posrig: {lab}: stations[0].camra: unknown key; did you mean camera?\n"
    assert out == "" and not (tmp_path / "out").exists(), "nothing ran"


def test_a_misspelt_card_in_a_magazine_is_named_at_load(tmp_path):
    path = write(tmp_path, GOOD.replace("magazine: { 1: cup-debit-chip }", "magazine: { 1: cup-debit-chp }"))
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}: stations[0].magazine.1: no card 'cup-debit-chp' in ")
    assert str(err.value).endswith("; did you mean cup-debit-chip?")
