"""The posrig pytest plugin (registered through the ``pytest11`` entry point).

``--lab PATH`` names a lab inventory; without it the default virtual lab is started
in-process for the session. Fixtures: ``lab`` (the running lab), ``station`` (a station
brought back to a known state after every test), ``fresh_station`` (power-cycled first, so
the terminal is neither logged in nor signed in), ``cards``.

Reporting: every test on a station carries the station, terminal model, firmware and
serial as Allure parameters; a test marked ``@pytest.mark.case("ID")`` is labelled from
the certification plan (the ``certification_plan`` fixture names it); flow steps become
Allure steps with their evidence; each device's log lines of the test are attached to the
test itself, the teardown's to the teardown. An infrastructure error takes the station out
of service, and its remaining tests are skipped; devices/faults.py decides which error
is whose, and the Allure result gets that status and its category's tag (harness/verdict.py).

Scale: under pytest-xdist (``-n N``) each worker claims its own station of the inventory
with a file lock (harness/claim.py) and starts or opens only that one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import allure
import pytest

from harness import flows
from harness.claim import StationClaim
from harness.evidence import AllureSteps, attach_device_logs
from harness.inventory import load_inventory
from harness.lab import Lab
from harness.paths import DEFAULT_LAB, FIXTURES
from harness.plan import CertificationPlan
from harness.profiles import load_profile
from harness.report_files import rig_environment, update_environment
from harness.station import Station, StationBroken
from harness.verdict import mark_result, verdict_of

_STATION = pytest.StashKey[Station]()
_LOG_MARK = pytest.StashKey[dict]()
_LAB = pytest.StashKey[Lab]()
_STATION_LAB = pytest.StashKey[Lab]()  # the lab of the test's station (a companion lab's too)
_COMPANIONS = pytest.StashKey[list[Lab]]()
_MARKED = pytest.StashKey[bool]()  # the Allure result already carries its verdict
#: Stations for the key layouts the default virtual station does not use (001, 004).
KEY_LAYOUT_LAB = FIXTURES / "labs" / "key-layouts.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("posrig")
    group.addoption("--lab", default=None, metavar="PATH",
                    help="lab inventory (YAML or the JSON `posrig lab up` prints); "
                         "default: start the virtual lab in-process")
    group.addoption("--station", default=None, metavar="NAME",
                    help="run on this station of the inventory (default: the first)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "station_state(state): the state the station's strategy brings "
                            "the bench to before the test (off, idle, logged_in, signed_in)")
    config.addinivalue_line("markers", "case(id): the certification plan's case this test checks")
    from harness.report_results import register as readable_results

    readable_results()  # each result titled for a reader and labelled with its terminal's model, firmware
    if config.getoption("--lab"):
        from harness.config import ConfigError

        try:  # a bad --lab is one line and exit 4 here, not an error in every test's set-up
            load_inventory(config.getoption("--lab"))  # the inventory and its profiles, strictly
        except ConfigError as exc:
            raise pytest.UsageError(f"--lab: {exc}") from None


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        # with `posrig run` the terminal reporter is off: a module that cannot be
        # collected must still say why
        print(f"posrig: cannot collect {report.nodeid}:\n{report.longreprtext}", flush=True)


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    path, workdir = request.config.getoption("--lab"), tmp_path_factory.mktemp("posrig-lab")
    claim = None
    if os.environ.get("PYTEST_XDIST_WORKER") and not request.config.getoption("--station"):
        # One station per worker: claim one, and start (or open) only that one.
        inventory = load_inventory(path or DEFAULT_LAB)
        claims = tmp_path_factory.getbasetemp().parent / "posrig-station-claims"
        claim = StationClaim(claims, [s.name for s in inventory.stations])
        name = claim.acquire()
        running = Lab(replace(inventory, stations=(inventory.station(name),)), workdir)
    else:
        running = Lab.from_path(path, workdir)
    request.config.stash[_LAB] = running
    try:
        running.start()
        yield running
    finally:
        try:
            running.stop()
        finally:
            if claim is not None:
                claim.release()


@pytest.fixture(scope="session")
def cards(lab: Lab):
    return lab.cards


@pytest.fixture(scope="session")
def _identities() -> dict[str, flows.TerminalIdentity]:
    return {}


@pytest.fixture(autouse=True)
def _plan_case(request: pytest.FixtureRequest) -> None:
    """Label a ``case``-marked test from the plan first, so even a test that cannot get
    its station is filed where the plan puts it."""
    marker = request.node.get_closest_marker("case")
    if marker is None:
        return
    plan: CertificationPlan = request.getfixturevalue("certification_plan")
    plan.label(marker.args[0])


@pytest.fixture
def station(request: pytest.FixtureRequest, lab: Lab,
            _identities: dict[str, flows.TerminalIdentity]) -> Iterator[Station]:
    name = request.config.getoption("--station")
    try:
        st = lab.station(name)
    except StationBroken as exc:
        pytest.skip(str(exc))
    yield from _on_station(request, lab, st, _identities)


def _on_station(request: pytest.FixtureRequest, lab: Lab, st: Station,
                identities: dict[str, flows.TerminalIdentity]) -> Iterator[Station]:
    """A test on ``st``: labelled with it, its flow steps reported, the bench restored after."""
    allure.dynamic.parameter("station", st.name)
    if st.broken_reason:
        pytest.skip(f"{st.name} is out of service: {st.broken_reason}")
    request.node.stash[_STATION] = st
    request.node.stash[_STATION_LAB] = lab
    steps = AllureSteps(st.name, st.tid)
    request.node.stash[_LOG_MARK] = lab.logs.mark()
    try:
        if st.name not in identities:
            identities[st.name] = flows.identify(st)
        _parameters(identities[st.name])
        allure.dynamic.parameter("slip checked by", flows.slip_check_method(st), excluded=True)
        wanted = request.node.get_closest_marker("station_state")
        if wanted is not None:  # the strategy brings the bench there, from wherever it is
            st.strategy.transition(wanted.args[0])
        yield st
    finally:
        mark = lab.logs.mark()
        try:
            flows.restore_bench(st)
        finally:
            attach_device_logs(lab.logs, request.node.stash.get(_LOG_MARK, mark), suffix=" (teardown)")
            steps.close()


@pytest.fixture(scope="session")
def _key_layout_lab(request: pytest.FixtureRequest, lab: Lab) -> Iterator[list[Lab]]:
    """Started on first use: the virtual stations of KEY_LAYOUT_LAB, one per key layout."""
    started: list[Lab] = []
    request.config.stash[_COMPANIONS] = started
    yield started
    for companion in started:
        companion.stop()


@pytest.fixture
def keyed_station(request: pytest.FixtureRequest, lab: Lab, _key_layout_lab: list[Lab],
                  _identities: dict[str, flows.TerminalIdentity]) -> Iterator[Station]:
    """A station whose terminal signs in with the key layout ``request.param`` (001, 003,
    004): the lab's own station when its profile says so, else (virtual lab only) one of
    ``fixtures/labs/key-layouts.yaml``, started beside it. A real lab with no terminal of
    that layout skips, saying what to add."""
    mode, _, layout = str(request.param).partition("/")  # "004/52": key mode 004, DE62 52 bytes
    wanted = (mode, int(layout or 60))
    try:
        own = lab.station(request.config.getoption("--station"))
    except StationBroken as exc:
        pytest.skip(str(exc))
    if _key_layout(own.profile) == wanted:
        yield from _on_station(request, lab, own, _identities)
        return
    if not lab.requested.virtual:
        pytest.skip(f"lab {lab.requested.name!r} has no terminal signing in with key layout "
                    f"{request.param}; add a station whose profile says key_mode: \"{mode}\""
                    + (f" and key_layout: {layout}" if layout else ""))
    if not _key_layout_lab:
        companion = Lab.from_path(KEY_LAYOUT_LAB, lab.workdir / "key-layouts", stations=None)
        _key_layout_lab.append(companion)
        companion.start()
    companion = _key_layout_lab[0]
    assert companion.live is not None
    spec = next(s for s in companion.live.stations
                if _key_layout(load_profile(s.terminal.profile)) == wanted)
    yield from _on_station(request, companion, companion.station(spec.name), _identities)


def _key_layout(profile) -> tuple[str, int]:
    return profile.key_mode, profile.key_layout


@pytest.fixture
def bench_faults(station: Station, lab: Lab) -> Iterator[flows.BenchFaults]:
    """Terminal faults and damaged cards on demand: the virtual lab's simulators make them;
    a real bench cannot, and skips. Cleared (terminal powered up again) after the test."""
    if lab.virtual is None or station.name not in lab.virtual.stations:
        pytest.skip(f"{station.name} is not simulated by this run (a real bench, or a lab another "
                    "process started, e.g. `posrig lab up`): the rig makes faults only on the "
                    "simulators it runs itself")
    faults = flows.BenchFaults(station, lab.virtual.stations[station.name])
    try:
        yield faults
    finally:
        faults.clear()


def _parameters(identity: flows.TerminalIdentity) -> None:
    # Excluded from the history id: the same test on a new firmware continues its trend.
    for name, value in (("terminal model", identity.model), ("firmware", identity.firmware),
                        ("serial", identity.serial)):
        allure.dynamic.parameter(name, value, excluded=True)


@pytest.fixture
def fresh_station(station: Station) -> Station:
    """The station power-cycled: the terminal keeps its flash, forgets login and keys."""
    flows.power_cycle(station)
    return station


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield
    # The device logs of setup and call go to the test itself, not to a fixture's teardown,
    # so a vendor opening the test sees what every device said during it.
    lab, mark = item.stash.get(_STATION_LAB, None), item.stash.get(_LOG_MARK, None)
    if lab is not None and mark is not None:
        attach_device_logs(lab.logs, mark)
        item.stash[_LOG_MARK] = lab.logs.mark()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # tryfirst: this wrapper's second half runs after allure-pytest's, so the verdict of the
    # one fault taxonomy is what the result file says, not allure's AssertionError rule.
    report = (yield).get_result()
    st = item.stash.get(_STATION, None)
    verdict = verdict_of(call.excinfo.value) \
        if report.failed and call.excinfo is not None else None
    if verdict is not None:
        _mark_allure_result(item, verdict, call)
        if st is not None and verdict.quarantine and not st.broken_reason:
            st.mark_broken(f"{item.name} ({call.when}): {verdict.cause}")


def _mark_allure_result(item: pytest.Item, verdict, call: pytest.CallInfo) -> None:
    """The first failing phase decides the test's status, as allure-pytest does."""
    listener = item.config.pluginmanager.get_plugin("allure_listener")
    if listener is None:
        return
    uuid = listener._cache.get(item.nodeid)
    result = listener.allure_logger.get_test(uuid) if uuid else None
    if result is None or item.stash.get(_MARKED, False):
        return
    item.stash[_MARKED] = True
    mark_result(result, verdict, call.excinfo.exconly() if call.excinfo else None)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Iterator[None]:
    """Teardown shows as each fixture's own step, never as an item of unknown status.

    allure-pytest wraps every finalizer of a fixture as an "after" item. Since pytest 8 the
    first finalizer of each fixture is pytest's own call of ``pytest_fixture_post_finalizer``,
    during which allure-pytest writes the fixture's container -- before that item could get
    a status, so the report showed it as unknown (``lab::<lambda>``). That one is pytest's
    bookkeeping, not a teardown: it is unwrapped. The real teardown is named after its
    fixture instead of the finalizer's index (``station::1``).
    """
    yield  # tryfirst: allure-pytest's wrapper has wrapped the finalizers by now
    finalizers = getattr(fixturedef, "_finalizers", [])
    for index, finalizer in enumerate(finalizers):
        inner = getattr(finalizer, "_fixture_function", None)
        if inner is None:
            continue
        if "pytest_fixture_post_finalizer" in getattr(getattr(inner, "__code__", None), "co_names", ()):
            finalizers[index] = inner
        elif hasattr(finalizer, "_name"):
            finalizer._name = f"{fixturedef.argname} (teardown)"




def pytest_sessionfinish(session: pytest.Session) -> None:
    lab = session.config.stash.get(_LAB, None)
    results = getattr(session.config.option, "allure_report_dir", None)
    if lab is None or not results or lab.live is None:
        return
    stations = [s for running in (lab, *session.config.stash.get(_COMPANIONS, []))
                if running.live is not None for s in running.live.stations]
    entries = {**rig_environment(), "lab": lab.live.name,
               "lab.stations": ", ".join(s.name for s in stations)}
    for st in stations:
        entries[f"{st.name}.terminal"] = f"{Path(st.terminal.profile).stem} TID {st.terminal.tid}"
    update_environment(Path(results), entries)
