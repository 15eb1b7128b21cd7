"""Scale: one pytest-xdist worker per station, each claiming its own with a file lock; pabot
processes sharing one lab, also a lab another process started (`posrig lab up`).

The runs on two stations are marked heavy (each runs a suite again, ~15-40 s): the test
command leaves them out and `.ci/run` runs them after it (`pytest -m heavy`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from devices.host.control import HostControl
from devices.host.journal import Journal
from harness.claim import StationClaim
from harness.paths import REPO
from harness.run import ROBOT_SUITES, Layout, read_station_sets, run_pabot, write_station_sets
from harness.station import StationBroken


def test_each_claim_gets_a_free_station_and_gives_it_back(tmp_path):
    names = ["station-1", "station-2"]
    first, second, third = (StationClaim(tmp_path, names) for _ in range(3))
    assert first.acquire() == "station-1"
    assert second.acquire() == "station-2"
    with pytest.raises(StationBroken, match="all 2 stations"):
        third.acquire()
    first.release()
    assert third.acquire() == "station-1"


@pytest.mark.heavy
def test_two_workers_run_the_suite_on_two_stations(tmp_path):
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-n", "2", "-q",
         "-p", "no:cacheprovider", f"--alluredir={results}", f"--basetemp={tmp_path / 'base'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    stations = {}
    for path in results.glob("*-result.json"):
        result = json.loads(path.read_text())
        station = next(p["value"] for p in result["parameters"] if p["name"] == "station")
        stations.setdefault(station, []).append(result["status"])
    # the key-layout scenario adds the companion stations of fixtures/labs/key-layouts.yaml
    assert {s for s in stations if not s.startswith("'keys-")} == {"'station-1'", "'station-2'"}, \
        stations
    assert {s for statuses in stations.values() for s in statuses} == {"passed"}


@pytest.mark.heavy
def test_pabot_runs_the_robot_core_suites_on_two_stations(tmp_path):
    where = Layout(tmp_path)
    sets = write_station_sets(where.robot / "stations.dat", ["station-1", "station-2"])
    assert read_station_sets(sets) == ["station-1", "station-2"]
    assert run_pabot(where, None, sets) == 0, (where.robot / "output.xml").read_text()[-3000:]
    stations = _statuses_by_station(where.results)
    assert set(stations) == {"'station-1'", "'station-2'"}, stations
    assert {s for statuses in stations.values() for s in statuses} == {"passed"}, stations
    core = {p.stem for p in ROBOT_SUITES.glob("*.robot")}
    assert {"login", "signin", "sale", "void", "reversal", "settlement"} <= core
    ran = sum(len(statuses) for statuses in stations.values())
    assert ran == sum(p.read_text().count("[Tags]    case:") for p in ROBOT_SUITES.glob("*.robot"))


def _statuses_by_station(results) -> dict[str, list[str]]:
    stations: dict[str, list[str]] = {}
    for path in results.glob("*-result.json"):
        result = json.loads(path.read_text())
        station = next(p["value"] for p in result["parameters"] if p["name"] == "station")
        stations.setdefault(station, []).append(result["status"])
    return stations


@pytest.mark.heavy
def test_pabot_scripts_the_host_of_a_lab_started_by_another_process(tmp_path):
    """A lab in a second shell: the suites reach its terminals over their ptys and script its
    host (a decline, a silence) through the host's control socket named in the inventory."""
    lab = subprocess.Popen([sys.executable, "-m", "harness.cli", "lab", "up", "--stations", "2",
                            "--workdir", str(tmp_path / "lab")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        live_line = lab.stdout.readline()
        live = json.loads(live_line)
        assert live["host"]["control"], "the live inventory must name the host's control socket"
        inventory = tmp_path / "live.json"
        inventory.write_text(live_line)
        where = Layout(tmp_path / "out")
        sets = write_station_sets(where.robot / "stations.dat", ["station-1", "station-2"])
        assert run_pabot(where, str(inventory), sets) == 0, \
            (where.robot / "output.xml").read_text()[-3000:]
        stations = _statuses_by_station(where.results)
        assert set(stations) == {"'station-1'", "'station-2'"}, stations
        assert {s for statuses in stations.values() for s in statuses} == {"passed"}, stations
        journal = Journal.open(live["host"]["journal"])
        scripted = [e for e in journal.entries(kind="sale") if e.rc == "05"]
        assert scripted, "no sale was declined 05: the host's script was never reached"
        assert HostControl(live["host"]["control"]).pending() == [], "a test left a rule behind"
    finally:
        lab.send_signal(signal.SIGINT)
        lab.communicate(timeout=30)
