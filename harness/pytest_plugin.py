"""The posrig pytest plugin (registered through the ``pytest11`` entry point).

``--lab PATH`` names a lab inventory; without it the default virtual lab is started
in-process for the session. Fixtures: ``lab`` (the running lab), ``station`` (a station
brought back to a known state after every test), ``fresh_station`` (power-cycled first, so
the terminal is neither logged in nor signed in), ``cards``.
"""

from __future__ import annotations

import allure
import pytest

from harness import flows
from harness.evidence import AllureSteps
from harness.lab import Lab
from harness.station import Station, StationBroken


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("posrig")
    group.addoption("--lab", default=None, metavar="PATH",
                    help="lab inventory (YAML or the JSON `posrig lab up` prints); "
                         "default: start the virtual lab in-process")
    group.addoption("--station", default=None, metavar="NAME",
                    help="run on this station of the inventory (default: the first)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "station_state(state): the state a test needs")


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    running = Lab.from_path(request.config.getoption("--lab"), tmp_path_factory.mktemp("posrig-lab"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def cards(lab: Lab):
    return lab.cards


@pytest.fixture
def station(request: pytest.FixtureRequest, lab: Lab):
    name = request.config.getoption("--station")
    try:
        st = lab.station(name)
    except StationBroken as exc:
        pytest.skip(str(exc))
    if st.broken_reason:
        pytest.skip(f"{st.name} is broken ({st.broken_reason})")
    allure.dynamic.parameter("station", st.name)
    allure.dynamic.label("station", st.name)
    allure.dynamic.label("terminal_model", st.profile.model)
    steps = AllureSteps()
    mark = lab.logs.mark()
    try:
        yield st
    finally:
        try:
            _return_to_known_state(st)
        finally:
            for source, text in lab.logs.since(mark).items():
                allure.attach(text, name=f"{source}.log", attachment_type=allure.attachment_type.TEXT)
            steps.close()


@pytest.fixture
def fresh_station(station: Station) -> Station:
    """The station power-cycled: the terminal keeps its flash, forgets login and keys."""
    flows.power_cycle(station)
    return station


def _return_to_known_state(st: Station) -> None:
    """Teardown that always runs: card back in its slot, robot homed."""
    try:
        flows.restore_bench(st)
    except Exception as exc:
        st.mark_broken(f"teardown could not restore the bench: {exc}")
        raise
