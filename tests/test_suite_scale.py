"""Scale: one pytest-xdist worker per station, each claiming its own with a file lock."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


def test_pabot_runs_the_robot_core_suites_on_two_stations(tmp_path):
    where = Layout(tmp_path)
    sets = write_station_sets(where.robot / "stations.dat", ["station-1", "station-2"])
    assert read_station_sets(sets) == ["station-1", "station-2"]
    assert run_pabot(where, None, sets) == 0, (where.robot / "output.xml").read_text()[-3000:]
    stations: dict[str, list[str]] = {}
    for path in where.results.glob("*-result.json"):
        result = json.loads(path.read_text())
        station = next(p["value"] for p in result["parameters"] if p["name"] == "station")
        stations.setdefault(station, []).append(result["status"])
    assert set(stations) == {"'station-1'", "'station-2'"}, stations
    assert {s for statuses in stations.values() for s in statuses} == {"passed"}, stations
    core = {p.stem for p in ROBOT_SUITES.glob("*.robot")}
    assert {"login", "signin", "sale", "void", "reversal", "settlement"} <= core
    ran = sum(len(statuses) for statuses in stations.values())
    assert ran == sum(p.read_text().count("[Tags]    case:") for p in ROBOT_SUITES.glob("*.robot"))
