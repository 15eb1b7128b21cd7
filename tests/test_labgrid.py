"""A labgrid lab on loopback: a real coordinator, a lab host's stations exported by a real
labgrid exporter (ser2net on acquire), the rig reserving, acquiring, driving and releasing
places. Lab hosts on other machines (network namespaces) are tests/test_labgrid_multi.py."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness import flows
from harness.config import ConfigError
from harness.inventory import load_inventory
from harness.lab import Lab
from harness.labgrid import processes
from harness.labgrid.coordinator import Coordinator
from harness.labgrid.errors import LabHostDown, ReservationTimeout
from harness.labgrid.export import ExportOptions, LabExport
from harness.labgrid.inventory import is_placed, reservation_filter
from harness.labgrid.netns import free_port
from harness.labgrid.reserve import check_inventory, labgrid_lab
from harness.paths import DEFAULT_LAB, REPO

# real coordinators, exporters and ser2net (~45 s of CPU): in the heavy set .ci/run runs
pytestmark = [pytest.mark.heavy,
              pytest.mark.skipif(shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").exists(),
                                 reason="needs Debian's ser2net (./setup.sh installs it)")]

LOOP = "127.0.0.1"


@pytest.fixture(scope="module")
def coordinator_address(tmp_path_factory: pytest.TempPathFactory):
    address = f"{LOOP}:{free_port(LOOP)}"
    proc = processes.coordinator(address, tmp_path_factory.mktemp("coordinator")).start()
    yield address
    proc.stop()


@pytest.fixture(scope="module")
def acquirer_port() -> int:
    return free_port(LOOP)


@pytest.fixture(scope="module")
def lab_host(coordinator_address: str, acquirer_port: int, tmp_path_factory: pytest.TempPathFactory):
    export = LabExport(load_inventory(DEFAULT_LAB).first(2), tmp_path_factory.mktemp("hosta"),
                       ExportOptions(coordinator_address, "hosta", LOOP, (LOOP, acquirer_port)))
    export.start()
    yield export
    export.stop()


@pytest.fixture
def coordinator(coordinator_address: str):
    with Coordinator(coordinator_address) as session:
        yield session


def rig_inventory(path: Path, coordinator: str, port: int, stations: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"name": "loop", "coordinator": coordinator,
                                    "host": {"listen": f"tcp://{LOOP}:{port}"},
                                    "stations": stations}), encoding="utf-8")
    return path


def wait_until(condition, what: str, timeout: float = 20.0):
    """Polls ``condition`` (each call asks the coordinator afresh) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.2)


def test_export_makes_a_tagged_place_per_station(lab_host: LabExport, coordinator: Coordinator):
    places = coordinator.places()
    place = places["hosta-station-1"]
    assert place.matches == ("hosta/station-1/*",)
    assert place.tags == {"station": "station-1", "family": "posrig", "model": "posrig-sim",
                          "firmware": "1.0.0", "dialect": "posrig-ecr/1", "profile": "posrig-sim",
                          "tid": "10000001", "labhost": "hosta",
                          "magazine": "1:cup-debit-chip,2:cup-credit-chip,3:cup-magstripe,"
                                      "4:cup-expired,5:cup-low-funds"}
    assert places["hosta-station-2"].tags["tid"] == "10000002"
    assert "hosta" in coordinator.exporters()
    config = yaml.safe_load((lab_host.workdir / "exporter.yaml").read_text())
    assert {name: entry["cls"] for name, entry in config["station-1"].items() if name != "location"} == {
        "ecr": "RawSerialPort", "console": "RawSerialPort", "robot": "RawSerialPort",
        "power": "RawSerialPort", "camera": "HTTPVideoStream", "display": "HTTPVideoStream"}
    assert config["station-1"]["ecr"]["port"].startswith("/dev/pts/")


def test_inventory_names_places_or_tags(tmp_path: Path):
    path = rig_inventory(tmp_path / "lab.yaml", "lab.example:20408", 5000, [
        {"name": "by-place", "place": "hosta-station-1"},
        {"name": "by-tags", "tags": {"family": "posrig", "dialect": "posrig-ecr/1"},
         "terminal": {"profile": "terminals/posrig-sim.yaml"}}])
    inventory = load_inventory(path)
    assert inventory.coordinator == "lab.example:20408"
    by_place, by_tags = inventory.stations
    assert is_placed(by_place) and is_placed(by_tags) and not inventory.virtual
    assert reservation_filter(by_place) == {"name": "hosta-station-1"}
    # the profile the inventory names is a tag the place must have too
    assert reservation_filter(by_tags) == {"family": "posrig", "dialect": "posrig-ecr/1",
                                           "profile": "posrig-sim"}
    check_inventory(inventory)


@pytest.mark.parametrize(("station", "says"), [
    ({"name": "x", "place": "p", "robot": "/dev/ttyUSB0"}, "no robot: the labgrid place provides"),
    ({"name": "x", "place": "p", "terminal": {"ecr": "/dev/ttyUSB0"}}, "no ecr"),
    ({"name": "x", "place": "p", "tags": {"family": "posrig"}}, "either place: or tags:"),
    ({"name": "x", "tags": {"Family": "posrig"}}, "a labgrid tag name"),
])
def test_inventory_refuses_a_place_station_with_device_urls(tmp_path: Path, station: dict, says: str):
    with pytest.raises(ConfigError, match=says):
        load_inventory(rig_inventory(tmp_path / "lab.yaml", "lab:20408", 5000, [station]))


def test_a_labgrid_lab_needs_a_fixed_acquirer_port(tmp_path: Path):
    inventory = load_inventory(rig_inventory(tmp_path / "lab.yaml", "lab:20408", 0,
                                             [{"name": "x", "place": "p"}]))
    with pytest.raises(ConfigError, match="fixed address"):
        check_inventory(inventory)


def test_run_on_a_place_drives_the_terminal_over_rfc2217_and_releases(
        lab_host: LabExport, coordinator: Coordinator, coordinator_address: str, acquirer_port: int,
        tmp_path: Path):
    path = rig_inventory(tmp_path / "lab.yaml", coordinator_address, acquirer_port,
                         [{"name": "nightly-1", "place": "hosta-station-1"}])
    lines: list[str] = []
    with labgrid_lab(load_inventory(path), tmp_path / "work", results=tmp_path / "results",
                     tell=lines.append) as live:
        assert coordinator.places()["hosta-station-1"].acquired == coordinator.identity
        spec = load_inventory(live).station("nightly-1")
        assert spec.terminal.ecr.startswith(f"rfc2217://{LOOP}:")
        assert spec.terminal.ecr.endswith("?ign_set_control")
        assert spec.robot.url.startswith("rfc2217://") and spec.power.startswith("rfc2217://")
        assert spec.camera.startswith(f"http://{LOOP}:")
        assert spec.display.startswith(f"http://{LOOP}:") and spec.display != spec.camera
        assert (spec.terminal.tid, spec.magazine[1]) == ("10000001", "cup-debit-chip")
        running = Lab(load_inventory(live), tmp_path / "lab")
        running.start()
        try:
            station = running.station("nightly-1")
            assert flows.identify(station).model == "posrig-sim"  # an ECR exchange through ser2net
            flows.power_cycle(station)  # the relay and the terminal's boot, over RFC 2217
            assert station.camera.grab().size  # the tray camera's stream, across hosts
            assert station.screen.expect("idle", timeout=30).shows("idle")  # and the display camera's
        finally:
            running.stop()
    assert coordinator.places()["hosta-station-1"].acquired is None
    assert any("nightly-1 acquired place hosta-station-1 (lab host hosta)" in line for line in lines)
    environment = (tmp_path / "results" / "environment.properties").read_text()
    assert "nightly-1.lab host=hosta (place hosta-station-1)" in environment.splitlines()


def test_run_waits_while_another_client_holds_the_place(
        lab_host: LabExport, coordinator: Coordinator, coordinator_address: str, acquirer_port: int,
        tmp_path: Path):
    colleague = {**os.environ, "LG_USERNAME": "colleague"}

    def labgrid_client(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "labgrid.remote.client", "-x", coordinator_address,
                        "-p", "hosta-station-2", *args], env=colleague, check=True, timeout=60,
                       capture_output=True)

    labgrid_client("acquire")
    path = rig_inventory(tmp_path / "lab.yaml", coordinator_address, acquirer_port,
                         [{"name": "nightly-2", "tags": {"station": "station-2", "labhost": "hosta"}}])
    lines: queue.Queue[str] = queue.Queue()
    held, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def rig() -> None:
        try:
            with labgrid_lab(load_inventory(path), tmp_path / "work", tell=lines.put):
                held.set()
                finish.wait(60)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=rig)
    thread.start()
    try:
        line = lines.get(timeout=30)
        assert line.startswith("waiting in labgrid's queue for nightly-2 (a place with "
                               "labhost=hosta station=station-2: hosta-station-2 held by "), line
        assert line.endswith("/colleague)"), line
        assert not held.is_set()
        labgrid_client("release")
        assert held.wait(30), f"the run did not go on after the release: {list(lines.queue)}"
        assert coordinator.places()["hosta-station-2"].acquired == coordinator.identity
    finally:
        finish.set()
        thread.join(60)
    assert not errors, errors
    assert coordinator.places()["hosta-station-2"].acquired is None


def test_no_matching_place_times_out_saying_so(lab_host: LabExport, coordinator: Coordinator,
                                              coordinator_address: str, acquirer_port: int,
                                              tmp_path: Path):
    path = rig_inventory(tmp_path / "lab.yaml", coordinator_address, acquirer_port,
                         [{"name": "x", "tags": {"family": "ingenico"}}])
    with pytest.raises(ReservationTimeout, match=r"x \(a place with family=ingenico: no place matches"), \
            labgrid_lab(load_inventory(path), tmp_path / "work", wait_timeout=2, tell=lambda _: None):
        pass


def test_a_killed_run_has_its_places_released_by_the_watcher(
        lab_host: LabExport, coordinator: Coordinator, coordinator_address: str, acquirer_port: int,
        tmp_path: Path):
    path = rig_inventory(tmp_path / "lab.yaml", coordinator_address, acquirer_port,
                         [{"name": "crash", "place": "hosta-station-1"}])
    script = ("import os, signal, sys\n"
              "from pathlib import Path\n"
              "from harness.inventory import load_inventory\n"
              "from harness.labgrid.reserve import labgrid_lab\n"
              f"with labgrid_lab(load_inventory({str(path)!r}), Path({str(tmp_path / 'work')!r})):\n"
              "    print('HELD', flush=True)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == -9 and "HELD" in run.stdout, run.stderr[-2000:]
    wait_until(lambda: coordinator.places()["hosta-station-1"].acquired is None,
               "the watcher to release hosta-station-1")
    log = (tmp_path / "work" / "labgrid-guard.log").read_text()
    assert "place hosta-station-1 released" in log


def test_coordinator_unreachable_is_a_lab_fault():
    with pytest.raises(LabHostDown, match="cannot reach the labgrid coordinator"):
        Coordinator(f"{LOOP}:{free_port(LOOP)}", timeout=20).connect()


def test_posrig_lab_export_serves_until_stopped(coordinator_address: str, acquirer_port: int,
                                                tmp_path: Path, coordinator: Coordinator):
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "lab", "export", "--coordinator",
                             coordinator_address, "--acquirer", f"tcp://{LOOP}:{acquirer_port}",
                             "--hostname", LOOP, "--name", "hostc", "--stations", "1",
                             "--workdir", str(tmp_path)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import json

        first = json.loads(proc.stdout.readline())
        assert first["exporter"] == "hostc" and list(first["places"]) == ["hostc-station-1"]
        assert first["places"]["hostc-station-1"]["tags"]["labhost"] == "hostc"
        wait_until(lambda: "hostc" in coordinator.exporters(), "hostc's resources")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "lab host hostc stopped" in err
    wait_until(lambda: "hostc" not in coordinator.exporters(), "hostc's resources to go")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_posrig_run_stopped_while_waiting_releases_what_it_took(
        lab_host: LabExport, coordinator: Coordinator, coordinator_address: str, acquirer_port: int,
        tmp_path: Path, sig: signal.Signals):
    colleague = {**os.environ, "LG_USERNAME": "colleague"}
    client = [sys.executable, "-m", "labgrid.remote.client", "-x", coordinator_address,
              "-p", "hosta-station-2"]
    subprocess.run([*client, "acquire"], env=colleague, check=True, timeout=60, capture_output=True)
    try:
        path = rig_inventory(tmp_path / "lab.yaml", coordinator_address, acquirer_port,
                             [{"name": "first", "place": "hosta-station-1"},
                              {"name": "second", "place": "hosta-station-2"}])
        run = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--lab", str(path),
                                "--stations", "2", "--out", str(tmp_path / "out")],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = []
        for line in run.stdout:
            seen.append(line)
            if "waiting in labgrid's queue for second" in line:
                break
        assert coordinator.places()["hosta-station-1"].acquired == coordinator.identity, seen
        run.send_signal(sig)
        out, _ = run.communicate(timeout=60)
        assert run.returncode != 0
        assert "released place hosta-station-1 (first)" in out, out
        assert coordinator.places()["hosta-station-1"].acquired is None
        assert coordinator.reservations() == [], "the run's reservations were not cancelled"
    finally:
        subprocess.run([*client, "release"], env=colleague, timeout=60, capture_output=True)
