"""Prompts from the screen alone: a Concert terminal with no debug console runs the chip sale,
the void and the refund, the rig learning each prompt from its display camera (issue 14).

The station is fixtures/labs/concert-screen.yaml's, started as the virtual lab starts any
inventory: its terminal speaks Concert (no events on its link), the inventory says
``console: none`` so nothing reads its debug console, and its profile says ``prompts:
screen``. Every prompt the flows answered must have come from the screen.
"""

from __future__ import annotations

import pytest

from devices import events
from devices.events import StepEvent
from harness import flows
from harness.lab import Lab
from harness.paths import FIXTURES

LAB = FIXTURES / "labs" / "concert-screen.yaml"
#: a virtual lab of its own and a dozen transactions read through the display camera (~10 s):
#: in the heavy set .ci/run runs; the profile and inventory checks below stay in the test command
HEAVY = pytest.mark.heavy



@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    lab = Lab.from_path(LAB, tmp_path_factory.mktemp("concert-screen"), stations=None)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def station(lab: Lab):
    station = lab.station("concert-screen-1")
    assert station.console is None, "console: none: the station has no debug console"
    assert station.profile.dialect == "concert" and station.profile.prompts == "screen"
    assert station.screen is not None
    return station


def _steps(run):
    seen: list[StepEvent] = []
    unsubscribe = events.subscribe(lambda e: seen.append(e) if isinstance(e, StepEvent) else None)
    try:
        return run(), seen
    finally:
        unsubscribe()


def _prompt_sources(station) -> set[str]:
    return {e.data.get("source") for e in station.terminal.received if e.event == "prompt"}


@HEAVY
def test_chip_sale_void_and_refund_with_prompts_from_the_screen_alone(lab: Lab, station):
    sale, steps = _steps(lambda: flows.sale(station, 4_321, "cup-debit-chip"))
    assert (sale.status, sale.entry, sale.amount) == ("approved", "chip", 4_321), sale
    assert sale.prompts == ("insert_card", "enter_pin")
    # nothing inferred, nothing from a console: every prompt event the driver got is the screen's
    assert _prompt_sources(station) == {"screen"}
    watch = next(e for e in steps if e.phase == "end" and e.title == "the screen during the sale")
    # the prompts the flow answered are the ones the screen showed, in that order (whether the
    # outcome was still read during the watch, or by the witness after it, is timing)
    assert watch.result.index("insert_card") < watch.result.index("enter_pin")
    assert any(e.phase == "end" and e.title == "compare the screen with the terminal's sale"
               and e.result == "agree" for e in steps)

    void = flows.void(station, sale, "cup-debit-chip")
    assert void.status == "approved", void
    assert void.prompts[0] == "insert_card"

    second = flows.sale(station, 1_500, "cup-debit-chip")
    assert second.approved, second
    refund = flows.refund(station, second, "cup-debit-chip")
    assert (refund.status, refund.amount) == ("approved", 1_500), refund
    assert _prompt_sources(station) == {"screen"}

    kinds = [e.kind for e in lab.host.journal.entries(tid=station.tid)]
    assert kinds[-4:] == ["sale", "void", "sale", "refund"], kinds
    assert station.robot.holding is None


@HEAVY
def test_a_wrong_supervisor_password_typed_on_the_screen_s_prompt_is_refused(station):
    sale = flows.sale(station, 2_000, "cup-debit-chip")
    assert sale.approved, sale
    void = flows.void(station, sale, "cup-debit-chip", supervisor_password="999999")
    assert void.status == "refused", void
    assert void.prompts == ()  # refused after the password, before any card was asked for


@HEAVY
def test_prompts_screen_without_a_display_camera_is_a_rig_defect(station):
    from devices.faults import RigDefect
    from harness.screen import ScreenConfigError

    screen, station.screen = station.screen, None
    try:
        with pytest.raises(ScreenConfigError, match="no display: camera") as caught:
            flows.sale(station, 1_000, "cup-debit-chip")
    finally:
        station.screen = screen
    assert isinstance(caught.value, RigDefect)
    assert not station.terminal.outstanding(), "refused before anything was sent"


@HEAVY
def test_a_screen_that_said_declined_for_an_approved_sale_fails_the_flow(lab: Lab, station):
    """The fourth witness in the flow: the simulated firmware is made to show DECLINED when it
    approves (and then move on to its idle screen); the ECR answer says approved."""
    from devices.faults import FAILED, classify
    from harness.screen import ScreenDisagrees

    bench = lab.virtual.stations[station.name]
    honest = bench.display.screen.apply
    listeners = bench.terminal.screen_listeners  # what the simulated firmware draws with

    def lying(event):
        if event.event == "display" and "交易成功 APPROVED" in event.data.get("lines", ()):
            honest(type(event)("display", {"lines": ["交易拒绝 DECLINED", "RC 51 insufficient funds"]}))
            return
        honest(event)

    listeners[listeners.index(honest)] = lying
    try:
        with pytest.raises(ScreenDisagrees, match="the screen says declined, the answer approved") as caught:
            flows.sale(station, 3_000, "cup-debit-chip")
    finally:
        listeners[listeners.index(lying)] = honest
    assert classify(caught.value).status == FAILED
    assert lab.host.journal.entries(tid=station.tid)[-1].kind == "sale"


# -- the profile's prompts: key ------------------------------------------------------------------
def _profile_with(tmp_path, old: str, new: str, source: str = "posrig-sim-concert.yaml"):
    from devices.terminal.profile import load_profile

    text = (FIXTURES / "terminals" / source).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "profile.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return load_profile(path)


@pytest.mark.parametrize(("source", "old", "new", "says"), [
    ("posrig-sim-concert.yaml", "\nprompts: screen", "\nprompts: ecr",
     "console or screen: Concert carries no events"),
    ("posrig-sim.yaml", "dialect: posrig-ecr/1", "dialect: posrig-ecr/1\nprompts: screen",
     "ecr: a posrig-ecr/1 terminal reports its prompts over its link"),
    ("posrig-sim-concert.yaml", "\nprompts: screen", "\nprompts: camera", "expected ecr, console or screen"),
    ("posrig-sim-concert.yaml", "\nprompts: screen", "\nprompt: screen", "did you mean prompts"),
    ("posrig-sim-concert.yaml", "    enter_pin: {", "    enter_pn: {", r"missing: enter_pin"),
])
def test_the_prompts_key_is_checked_against_the_dialect_and_the_screen_states(tmp_path, source, old, new,
                                                                              says):
    from devices.datafile import ConfigError

    with pytest.raises(ConfigError, match=says):
        _profile_with(tmp_path, old, new, source)


def test_prompts_default_to_the_link_for_posrig_ecr_and_the_console_for_concert(tmp_path):
    from devices.terminal.profile import load_profile

    assert load_profile(FIXTURES / "terminals" / "posrig-sim.yaml").prompts == "ecr"
    assert _profile_with(tmp_path, "\nprompts: screen", "\n# prompts: screen").prompts == "console"
    assert load_profile(FIXTURES / "terminals" / "posrig-sim-concert.yaml").prompts == "screen"


def test_console_none_in_the_inventory_survives_the_live_inventory(tmp_path):
    from harness.inventory import load_inventory

    inventory = load_inventory(LAB)
    assert inventory.stations[0].terminal.console is None and inventory.stations[0].terminal.no_console
    live = tmp_path / "live.json"
    live.write_text(inventory.to_json(), encoding="utf-8")
    again = load_inventory(live).stations[0].terminal
    assert (again.console, again.no_console) == (None, True)


def test_a_station_whose_prompts_are_on_its_screen_needs_a_display_camera_in_the_inventory(tmp_path):
    from harness.config import ConfigError
    from harness.inventory import load_inventory

    text = LAB.read_text(encoding="utf-8")
    text = text.replace("terminals/posrig-sim-concert.yaml",
                        str(FIXTURES / "terminals" / "posrig-sim-concert.yaml"))
    assert "    display: sim://display\n" in text
    path = tmp_path / "no-display.yaml"
    path.write_text(text.replace("    display: sim://display\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"stations\[0\]\.display: missing: .*prompts: screen"):
        load_inventory(path)
