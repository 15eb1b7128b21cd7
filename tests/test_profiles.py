"""Terminal profiles: one strict model for the rig, its own test bench and the virtual lab.

A key the model does not know, at any depth (the robot section included), is an error
naming the file, the key's path and the nearest known key; a misspelt required key is
named as the misspelling. What the profile says reaches the simulated terminal -- its host
timeout included -- through ``devices.terminal.profile.sim_config``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devices.datafile import ConfigError, Node
from devices.faults import RIG_DEFECT, RigDefect, classify
from devices.terminal import profile as device_profile
from devices.terminal.testing import BENCH_TIMEOUTS, PROFILE, open_bench
from harness.inventory import load_inventory
from harness.paths import FIXTURES
from harness.profiles import TerminalProfile, load_profile
from harness.receipts.template import PrintLimits
from harness.virtual_lab import VirtualLab

SOURCE = PROFILE.read_text(encoding="utf-8")


def variant(tmp_path: Path, old: str, new: str, name: str = "variant.yaml") -> Path:
    """The simulated terminal's profile with one line changed, written to ``tmp_path``."""
    assert SOURCE.count(old) == 1, f"{old!r} is not one line of {PROFILE.name}"
    path = tmp_path / name
    path.write_text(SOURCE.replace(old, new), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    return str(err.value)


@pytest.mark.parametrize("path", sorted((FIXTURES / "terminals").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_profile_loads_strictly_and_whole(path: Path) -> None:
    profile = load_profile(path)
    assert isinstance(profile, TerminalProfile)
    assert profile.geometry.magazine.slots == 5
    assert profile.entry_modes == ("insert", "swipe", "tap")
    assert profile.header_version == "310000"
    assert profile.print_limits == {"contrast_pass": 0.40, "contrast_fail": 0.30,
                                    "dead_dot_drop": 0.10, "datetime_tolerance_s": 120.0}
    assert profile.settlement_template, "the receipt template names its settlement slip"


def test_the_harness_and_the_devices_read_one_model() -> None:
    assert TerminalProfile is device_profile.TerminalProfile
    assert load_profile(PROFILE) == device_profile.load_profile(PROFILE)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("vendor: posrig", "vendr: posrig", "vendr: unknown key; did you mean vendor?"),
    ('  host_timeout_s: 10', '  host_timeout_sec: 10',
     "host_profile.host_timeout_sec: unknown key; did you mean host_timeout_s?"),
    ("  pin_on_chip: true ", "  pin_on_chp: true ",
     "capabilities.pin_on_chp: unknown key; did you mean pin_on_chip?"),
    ("    contrast_pass: 0.40", "    contrast_pas: 0.40",
     "receipt.print.contrast_pas: unknown key; did you mean contrast_pass?"),
    ("  hold_s: 0.2", "  hold: 0.2", "power.hold: unknown key; did you mean hold_s?"),
    ("  id: \"01\"", "  ident: \"01\"", "operator.ident: unknown key; known keys: id, password"),
    ("  chip_reader: { x: 160, y: 30, insert_z: -35 }",
     "  chip_reader: { x: 160, y: 30, insert_z: -35, insert_zz: -30 }",
     "robot.chip_reader.insert_zz: unknown key; did you mean insert_z?"),
    ("    pitch: [0, 25] ", "    pich: [0, 25] ", "robot.magazine.pich: unknown key; did you mean pitch?"),
    ("  tolerance_mm: 0.5", "  tolerence_mm: 0.5",
     "robot.tolerence_mm: unknown key; did you mean tolerance_mm?"),
    ("power:\n", "colour: beige\npower:\n", "colour: unknown key; known keys: camera, capabilities"),
])
def test_an_unknown_key_at_any_depth_is_named_with_the_nearest_known_one(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    path = variant(tmp_path, old, new)
    text = refusal(path)
    assert text.startswith(f"{path}: ") and message in text
    assert classify(ConfigError(text)).category == RIG_DEFECT


def test_a_misspelt_required_key_is_named_not_only_missing(tmp_path: Path) -> None:
    text = refusal(variant(tmp_path, '  merchant_id: "898100012340001"', '  merchant_di: "898100012340001"'))
    assert "host_profile.merchant_di: unknown key; did you mean merchant_id?" in text
    assert "missing" not in text
    # a required key that is simply absent is still called missing
    text = refusal(variant(tmp_path, '  merchant_id: "898100012340001"\n', ""))
    assert text.endswith("host_profile.merchant_id: missing (required)")


def test_bad_values_still_say_what_was_expected(tmp_path: Path) -> None:
    assert "capabilities.entry: expected a list of insert, swipe, tap, got 'wave'" in \
        refusal(variant(tmp_path, "  entry: [insert, swipe, tap]", "  entry: [insert, wave]"))
    assert "host_profile.host_timeout_s: expected a number of seconds above 0" in \
        refusal(variant(tmp_path, "  host_timeout_s: 10", "  host_timeout_s: 0"))
    assert "cannot read the terminal profile" in refusal(tmp_path / "absent.yaml")


def test_a_bad_profile_makes_the_inventory_naming_it_bad(tmp_path: Path) -> None:
    bad = variant(tmp_path, "power:\n", "camera: { levl: L1 }\npower:\n")
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"host: {{ listen: tcp://127.0.0.1:0 }}\nstations:\n  - name: s1\n"
                   f"    terminal: {{ profile: {bad}, tid: \"10000001\", ecr: sim://terminal }}\n"
                   f"    robot: sim://robot\n    magazine: {{ 1: cup-debit-chip }}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{bad}: camera.levl: unknown key; did you mean level?")):
        load_inventory(lab)


def test_the_profile_host_timeout_reaches_the_virtual_lab_simulator(tmp_path: Path) -> None:
    profile = variant(tmp_path, "  host_timeout_s: 10", "  host_timeout_s: 7")
    lab = tmp_path / "lab.yaml"
    lab.write_text(f"host: {{ listen: tcp://127.0.0.1:0 }}\nstations:\n  - name: s1\n"
                   f"    terminal: {{ profile: {profile}, tid: \"10000001\", ecr: sim://terminal }}\n"
                   f"    robot: sim://robot\n    magazine: {{ 1: cup-debit-chip }}\n")
    virtual = VirtualLab(load_inventory(lab), tmp_path / "work")
    try:
        virtual.start()
        cfg = virtual.stations["s1"].terminal.cfg
    finally:
        virtual.stop()
    assert (cfg.host_timeout, cfg.max_amount, cfg.model_name) == (7.0, 99_999_999, "posrig-sim")


def test_the_test_bench_takes_the_profile_and_its_host_timeout(tmp_path: Path) -> None:
    """The same late answer (1 s) is lost under a profile whose host timeout is 0.3 s and
    approved under the bench's 2 s: the timeout the simulator obeys is the profile's."""
    quick = variant(tmp_path, "  host_timeout_s: 10", "  host_timeout_s: 0.3")
    outcomes = {}
    for name, options in (("profile", {"profile": quick, "profile_timeouts": True}), ("bench", {})):
        (tmp_path / name).mkdir()
        bench = open_bench(tmp_path / name, **options)
        try:
            expected = 0.3 if name == "profile" else BENCH_TIMEOUTS["host_timeout"]
            assert bench.sim.cfg.host_timeout == expected
            bench.sign_in()  # the operator's id and password are the profile's
            bench.host.script.next(tid=bench.tid, kind="sale", delay_ms=1000)
            sale = bench.sale(1_000)
            outcomes[name] = (sale.status, sale.data.get("reason"))
        finally:
            bench.close()
    assert outcomes == {"profile": ("failed", "no_host_response"), "bench": ("approved", None)}


def test_the_receipt_reader_takes_its_print_limits_from_the_same_model(tmp_path: Path) -> None:
    limits = PrintLimits.from_profile(variant(tmp_path, "    contrast_fail: 0.30", "    contrast_fail: 0.25"))
    assert (limits.contrast_pass, limits.contrast_fail) == (0.40, 0.25)
    typo = r"receipt\.print\.contrast_fial: unknown key; did you mean contrast_fail\?"
    with pytest.raises(ConfigError, match=typo):
        PrintLimits.from_profile(variant(tmp_path, "    contrast_fail: 0.30", "    contrast_fial: 0.30"))


def test_the_suggestion_prefers_the_key_the_mapping_lacks() -> None:
    # "nme" is nearer "name" than "names", but "name" is given: the typo stands for the other
    with pytest.raises(ConfigError, match=r"^f\.yaml: a\.nme: unknown key; did you mean names\?$"):
        Node({"name": 1, "nme": 2}, Path("f.yaml"), "a", keys=("name", "names"))
    with pytest.raises(ConfigError, match=r"^f\.yaml: a\.nme: unknown key; did you mean name\?$"):
        Node({"nme": 2}, Path("f.yaml"), "a", keys=("name", "names"))


def test_a_loader_reading_a_key_it_did_not_declare_is_a_rig_defect() -> None:
    node = Node({"a": 1}, Path("f.yaml"), keys=("a",))
    with pytest.raises(RigDefect, match="posrig bug: the loader reads b"):
        node.raw("b", None)
    assert node.raw("a") == 1


def test_a_variant_profile_says_only_what_differs_from_the_one_it_extends(tmp_path):
    base = FIXTURES / "terminals" / "posrig-sim.yaml"
    (tmp_path / "base.yaml").write_text(base.read_text(encoding="utf-8"), encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nmodel: variant\nhost_profile:\n  key_mode: \"001\"\n",
                     encoding="utf-8")
    got, want = device_profile.load_profile(child), device_profile.load_profile(tmp_path / "base.yaml")
    assert got.model == "variant" and got.key_mode == "001"
    # everything it does not say is the base's, mappings merged key by key
    assert got.tpdu == want.tpdu and got.receipt_template == want.receipt_template
    assert got.robot == want.robot and got.print_limits == want.print_limits
    # the lab's variants stand on posrig-sim.yaml and differ only where they say
    tw = device_profile.load_profile(FIXTURES / "terminals" / "posrig-sim-tw.yaml")
    sim = device_profile.load_profile(base)
    assert tw.receipt_template["name"] == "tw-nccc-80mm" and tw.screen == sim.screen
    assert (tw.qr_poll_s, tw.robot, tw.key_mode) == (sim.qr_poll_s, sim.robot, sim.key_mode)


@pytest.mark.parametrize("extends, error", [
    ("missing.yaml", "no such profile beside this one"),
    ("child.yaml", "a cycle"),
    ("42", "as a .yaml path relative"),
])
def test_a_bad_extends_is_an_error_that_says_what_to_write(tmp_path, extends, error):
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {extends}\nmodel: variant\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        device_profile.load_profile(child)
