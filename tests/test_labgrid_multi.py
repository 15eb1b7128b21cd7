"""End to end, as CI runs it: a lab of two machines on labgrid.

A coordinator in the root namespace and two lab hosts made as network namespaces, each
running ``posrig lab export`` for two virtual stations (four places). ``posrig run`` in the
root namespace reserves the four places, waits while a colleague holds one and goes on
when it is released, runs the core scenarios on all four (pytest-xdist workers and pabot
processes, one per place) and releases everything. Then a lab host dies mid-run: its
stations' tests are broken with a station fault, the other host's stations finish.

Root only (namespaces); marked ``heavy`` (about five minutes), so the test command leaves it
out and CI's heavy set runs it: ``python3 -m pytest -m heavy tests/test_labgrid_multi.py``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.labgrid.coordinator import Coordinator
from harness.labgrid.netns import LabHost, NetnsLab, unavailable
from harness.paths import REPO

pytestmark = [pytest.mark.heavy, pytest.mark.timeout(600),
              pytest.mark.skipif(bool(unavailable()), reason=f"lab of namespaces: {unavailable()}")]

#: The core scenarios: log in, sign in, sale (pytest modules); the Robot suites run whole.
CORE = ["-k", "test_login.py or test_sale.py"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsLab]:
    with NetnsLab(tmp_path_factory.mktemp("netns-lab")) as made:
        made.add_host("labhost-a", ["station-1", "station-2"])
        made.add_host("labhost-b", ["station-3", "station-4"])
        yield made


def places(lab: NetnsLab) -> list[str]:
    return [p for host in lab.hosts for p in host.places]


class Run:
    """``posrig run`` on the lab's four places, its output lines on a queue."""

    def __init__(self, lab: NetnsLab, out: Path, pytest_args: list[str]):
        inventory = lab.rig_inventory(out.parent / f"{out.name}.yaml", places(lab))
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "--lab", str(inventory), "--stations", "4",
             "--out", str(out), "--", *pytest_args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")  # the end

    def wait_for(self, *words: str, timeout: float = 120) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if not line and self.proc.poll() is not None:
                raise AssertionError(f"the run ended before saying {words}:\n" + "\n".join(self.seen))
            if all(w in line for w in words):
                return line

    def finish(self, timeout: float = 420) -> int:
        status = self.proc.wait(timeout)
        self._reader.join(10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return status

    def results(self) -> list[dict]:
        out = []
        for path in (self.out / "allure-results").glob("*-result.json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            params = {p["name"]: p["value"] for p in data.get("parameters", [])}
            message = data.get("statusDetails", {}).get("message", "")
            # a suite that could not open its station has no station parameter: its message
            # names the station
            named = re.search(r"labhost-[ab]-station-\d", message)
            station = params.get("station", "").strip("'\"") or (named.group(0) if named else "")
            out.append({"name": data["name"], "status": data["status"], "station": station,
                        "message": message})
        return out


def colleague(lab: NetnsLab, place: str, verb: str) -> None:
    subprocess.run([sys.executable, "-m", "labgrid.remote.client", "-x", lab.coordinator_address,
                    "-p", place, verb], env={**os.environ, "LG_USERNAME": "colleague"},
                   check=True, timeout=60, capture_output=True)


def acquired(lab: NetnsLab) -> dict[str, str | None]:
    with Coordinator(lab.coordinator_address) as session:
        return {name: place.acquired for name, place in session.places().items()}



def ran_or_needs_a_phone(result: dict) -> bool:
    """Passed, or a scan-to-pay case skipped because a labgrid place exports no phone yet."""
    return result["status"] == "passed" or (
        result["status"] == "skipped" and "no phone the rig drives" in (result.get("message") or ""))

def test_four_places_on_two_lab_hosts_wait_for_a_held_one_then_run(lab: NetnsLab, tmp_path: Path):
    assert sorted(places(lab)) == ["labhost-a-station-1", "labhost-a-station-2",
                                   "labhost-b-station-3", "labhost-b-station-4"]
    colleague(lab, "labhost-b-station-4", "acquire")
    run = Run(lab, tmp_path / "out", CORE)
    try:
        line = run.wait_for("waiting in labgrid's queue for labhost-b-station-4")
        assert "labhost-b-station-4 held by " in line and "/colleague" in line, line
        assert not any(seen.startswith("posrig [") for seen in run.seen), "tests ran before all places"
        colleague(lab, "labhost-b-station-4", "release")
        run.wait_for("labhost-b-station-4 acquired place labhost-b-station-4 (lab host labhost-b)")
        status = run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert status == 0, "\n".join(run.seen[-60:])
    results = run.results()
    assert {r["station"] for r in results} == set(places(lab)), results
    assert all(ran_or_needs_a_phone(r) for r in results), [r for r in results if not ran_or_needs_a_phone(r)]
    assert not any(acquired(lab).values()), "a place stayed acquired after the run"
    environment = (tmp_path / "out" / "allure-results" / "environment.properties").read_text()
    assert "labhost-b-station-3.lab host=labhost-b (place labhost-b-station-3)" in environment.splitlines()


def test_a_lab_host_dying_mid_run_breaks_its_stations_while_the_others_finish(lab: NetnsLab,
                                                                               tmp_path: Path):
    run = Run(lab, tmp_path / "out", CORE)
    host_a: LabHost = lab.hosts[0]
    try:
        run.wait_for("posrig [", "labhost-a-station")  # a test ended on labhost-a: it is mid-run
        host_a.kill()  # every process of the lab host: exporter, ser2net, simulators
        status = run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert status == 1, "\n".join(run.seen[-60:])
    results = run.results()
    on_a = [r for r in results if r["station"].startswith("labhost-a-")]
    on_b = [r for r in results if r["station"].startswith("labhost-b-")]
    assert len(on_a) + len(on_b) == len(results), [r for r in results if not r["station"]]
    assert on_b and all(ran_or_needs_a_phone(r) for r in on_b), \
        [r for r in on_b if not ran_or_needs_a_phone(r)]
    broken = [r for r in on_a if r["status"] == "broken"]
    assert broken, on_a
    assert all(r["status"] in ("passed", "broken", "skipped") for r in on_a), on_a  # never "failed"
    assert all("[Station fault]" in r["message"] for r in broken), broken
    assert not any(acquired(lab).values()), "a place stayed acquired after the run"
