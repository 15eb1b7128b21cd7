"""A labgrid place's display camera: exported as the tray camera is, resolved to the station's
``display:`` (the coordinator and exporter themselves run in tests/test_labgrid.py, heavy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.inventory import RobotSpec, StationSpec, TerminalSpec
from harness.labgrid.coordinator import PlaceView, ResourceView
from harness.labgrid.errors import LabgridConfigError
from harness.labgrid.resolve import resolve_station
from harness.paths import FIXTURES

PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"


def _resources(*extra: ResourceView) -> list[ResourceView]:
    serial = [ResourceView("hosta", "station-1", name, "NetworkSerialPort",
                           {"host": "10.0.0.2", "port": port}, True)
              for name, port in (("ecr", 4001), ("robot", 4002))]
    return [*serial, *extra]


def _place() -> PlaceView:
    return PlaceView("hosta-station-1", {"tid": "10000001", "magazine": "1:cup-debit-chip"},
                     ("hosta/station-1/*",), "rig", None)


def _spec() -> StationSpec:
    return StationSpec("nightly-1", TerminalSpec(PROFILE, "", "labgrid://place/hosta-station-1"),
                       RobotSpec("labgrid://place/hosta-station-1"), {}, place="hosta-station-1")


def test_a_place_s_display_stream_becomes_the_station_s_display_camera():
    resolved = resolve_station(_spec(), _place(), _resources(
        ResourceView("hosta", "station-1", "camera", "HTTPVideoStream",
                     {"url": "http://10.0.0.2:8081/stream.mjpg"}, True),
        ResourceView("hosta", "station-1", "display", "HTTPVideoStream",
                     {"url": "http://10.0.0.2:8082/stream.mjpg"}, True)))
    assert resolved.spec.camera == "http://10.0.0.2:8081/stream.mjpg"
    assert resolved.spec.display == "http://10.0.0.2:8082/stream.mjpg"
    assert resolved.spec.terminal.ecr == "rfc2217://10.0.0.2:4001?ign_set_control"


def test_a_place_without_a_display_stream_leaves_the_station_without_a_screen():
    resolved = resolve_station(_spec(), _place(), _resources())
    assert resolved.spec.display is None and resolved.spec.camera is None


def test_a_place_missing_its_ecr_port_names_the_resources_it_wants(tmp_path: Path):
    with pytest.raises(LabgridConfigError, match="streams named camera and display"):
        resolve_station(_spec(), _place(), _resources()[1:])
