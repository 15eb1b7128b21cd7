"""Issue 14, items 1-2: the terminal's screen rendered as a display camera sees it, and the
screen reader recognising every screen state of the profile in such frames, with the texts
the simulated terminal really shows."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from devices.datafile import ConfigError
from devices.display import PROMPT_TEXT, Content, ScreenModel, render_display
from devices.display.lcd import PANEL_H, PANEL_W, layout
from devices.display.screens import SCREENS
from devices.terminal.dialect import Event
from harness.paths import FIXTURES
from harness.profiles import load_profile
from harness.receipts import shared_engine
from harness.screen import ScreenReader
from harness.screen.locate import find_screen, to_gray

PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"

@pytest.fixture(scope="module")
def reader() -> ScreenReader:
    profile = load_profile(PROFILE)
    assert profile.screen is not None
    return ScreenReader(profile.screen, engine=shared_engine())


def test_every_state_of_the_profile_has_a_screen_here():
    profile = load_profile(PROFILE)
    assert {s.name for s in profile.screen.states} == {name for name, _c, _g in SCREENS}


@pytest.mark.parametrize("level", ["L0", "L1"])
def test_the_reader_names_every_screen_state(reader, level):
    wrong = []
    for seed, (state, content, groups) in enumerate(SCREENS):
        reading = reader.read(render_display(content, level, seed).frame)
        if reading.state != state or any(reading.groups[state].get(k) != v for k, v in groups.items()):
            wrong.append((state, reading.state, reading.text))
    assert not wrong, wrong


def test_a_prompt_row_state_and_the_title_state_both_show(reader):
    content = Content(("处理中 PROCESSING",), PROMPT_TEXT["remove_card"])
    reading = reader.read(render_display(content, "L0", 1).frame)
    assert reading.states[:2] == ("remove_card", "processing")
    assert reading.shows("processing") and not reading.shows("approved")


def test_a_region_limits_a_state_to_its_part_of_the_screen(reader):
    # "REMOVE CARD" as a title (top of the screen) is not the prompt row's remove_card
    reading = reader.read(render_display(Content(("请拔卡 REMOVE CARD",)), "L0", 2).frame)
    assert "REMOVE CARD" in reading.text and not reading.shows("remove_card")


@pytest.mark.parametrize("level", ["L1", "L3"])
def test_a_dark_screen_shows_no_state_even_with_glare_on_its_glass(reader, level):
    for seed in range(3):
        reading = reader.read(render_display(Content(lit=False), level, seed).frame)
        assert not reading.lit and reading.states == () and "no lit screen" in reading.text


@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_the_whole_frame_baseline_reads_the_same_states(reader):
    for state, content, _groups in SCREENS[:3]:
        reading = reader.read_page(render_display(content, "L0", 5).frame)
        assert reading.shows(state), reading.text


@pytest.mark.parametrize("level", ["L0", "L1", "L2", "L3"])
def test_the_screen_is_found_where_the_camera_put_it(level):
    for seed in range(5):
        shot = render_display(Content(("交易成功 APPROVED", "43.21")), level, seed)
        assert shot.frame.shape == (720, 960, 3)
        corners = find_screen(to_gray(shot.frame))
        assert corners is not None and np.abs(corners - shot.corners).max() < 16, (seed, corners)


def test_frames_are_seeded_and_the_screen_dark_without_power():
    content = Content(("消费 SALE", "金额 AMOUNT 1.00"))
    a, b = render_display(content, "L2", 9), render_display(content, "L2", 9)
    assert np.array_equal(a.frame, b.frame)
    assert not np.array_equal(a.frame, render_display(content, "L2", 10).frame)
    dark = render_display(Content(lit=False), "L0", 9).frame
    assert dark.max() <= 40 and find_screen(to_gray(dark)) is None
    with pytest.raises(ValueError, match="display camera level"):
        render_display(content, "L7", 1)


def test_long_lines_break_at_spaces_and_the_prompt_takes_the_bottom_row():
    content = Content(("卡片已拔出 CARD REMOVED 交易失败 FAILED TRANSACTION NOT COMPLETED",),
                      "请拔卡 REMOVE CARD")
    rows = layout(content)
    assert len(rows) >= 3 and rows[-1] == ("请拔卡 REMOVE CARD", 5)
    assert " ".join(t for t, _ in rows[:-1]).split() == content.lines[0].split()
    assert (PANEL_W, PANEL_H) == (480, 272)


def test_the_lcd_follows_the_terminals_events_and_its_power():
    screen = ScreenModel("station-1")
    screen.apply(Event("display", {"lines": ["消费 SALE", "金额 AMOUNT 1.00"]}))
    screen.apply(Event("prompt", {"prompt": "insert_card", "amount": 100}))
    assert screen.content == Content(("消费 SALE", "金额 AMOUNT 1.00"), "请插卡 PLEASE INSERT CARD")
    screen.apply(Event("printing", {"state": "started"}))
    assert screen.content.prompt == "打印中 PRINTING"
    screen.apply(Event("printing", {"state": "done"}))
    assert screen.content.prompt is None
    screen.apply(Event("prompt", {"prompt": "no_such_prompt"}))  # unknown: the screen keeps its text
    assert screen.content.lines == ("消费 SALE", "金额 AMOUNT 1.00")
    screen.power(False)
    screen.apply(Event("display", {"lines": ["交易成功 APPROVED"]}))  # no power, nothing drawn
    assert screen.content == Content(lit=False)
    screen.power(True)
    assert screen.content == Content() and screen.changes == 6


def _profile(tmp_path, screen_yaml: str):
    text = PROFILE.read_text(encoding="utf-8").split("\nscreen:")[0]
    path = tmp_path / "terminal.yaml"
    path.write_text(text + "\n" + textwrap.dedent(screen_yaml), encoding="utf-8")
    return load_profile(path)


def test_the_profiles_screen_section_is_strict(tmp_path):
    ok = _profile(tmp_path, """
        screen:
          crop: [0.1, 0.2, 0.9, 0.8]
          states:
            approved: { text: "APPROVED" }
        """)
    assert ok.screen.crop == (0.1, 0.2, 0.9, 0.8) and ok.screen.level == "L1"
    assert ok.screen.state("approved").region is None
    bad = {
        "screen:\n  states:\n    approved: { txt: APPROVED }\n": "unknown key; did you mean text",
        "screen:\n  levle: L1\n  states:\n    a: { text: A }\n": "unknown key; did you mean level",
        "screen:\n  states:\n    a: { text: '(unclosed' }\n": "a regular expression",
        "screen:\n  states:\n    a: { text: A, region: [0, 0.5, 2, 1] }\n": "four shares of the screen",
        "screen:\n  states:\n    Approved: { text: A }\n": "lower_case_with_underscores",
        "screen:\n  level: L9\n  states:\n    a: { text: A }\n": "L0, L1, L2 or L3",
        "screen:\n  backlight: 0\n  states:\n    a: { text: A }\n": "a share above 0",
        "screen:\n  states: {}\n": "at least one screen state",
    }
    for section, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            _profile(tmp_path, section)


def test_a_space_in_a_pattern_matches_a_dropped_space_and_case_is_ignored(tmp_path):
    state = _profile(tmp_path, "screen:\n  states:\n    a: { text: 'REMOVE CARD' }\n").screen.state("a")
    assert all(state.patterns[0].search(t) for t in ("REMOVECARD", "remove  card", "Remove Card"))
    assert not state.patterns[0].search("REMOVE THE CARD")


def test_the_inventory_takes_a_display_per_station_and_refuses_it_where_it_would_be_lost(tmp_path):
    from harness.config import ConfigError as InventoryError
    from harness.inventory import load_inventory

    lab = (FIXTURES / "labs" / "virtual.yaml").read_text(encoding="utf-8")
    here = tmp_path / "labs"
    here.mkdir()
    (here / "lab.yaml").write_text(lab.replace("display: sim://display", "display: rtsp://cam/screen-1", 1),
                                   encoding="utf-8")
    inventory = load_inventory(here / "lab.yaml")
    assert [s.display for s in inventory.stations[:2]] == ["rtsp://cam/screen-1", "sim://display"]
    (here / "typo.yaml").write_text(lab.replace("display:", "dispaly:", 1), encoding="utf-8")
    with pytest.raises(InventoryError, match="dispaly: unknown key; did you mean display"):
        load_inventory(here / "typo.yaml")
    (here / "place.yaml").write_text(textwrap.dedent(f"""
        name: places
        host: {{ listen: "tcp://127.0.0.1:0" }}
        coordinator: "127.0.0.1:20408"
        stations:
          - name: s1
            place: bench-1
            terminal: {{ profile: {PROFILE}, tid: "10000001" }}
            display: rtsp://cam/screen-1
            magazine: {{ 1: cup-debit-chip }}
        """), encoding="utf-8")
    # a place's display camera is the place's (its display resource): never a URL of the inventory
    with pytest.raises(InventoryError, match=r"stations\[0\]\.display: expected no display: the labgrid "
                                             r"place provides its devices"):
        load_inventory(here / "place.yaml")
