"""``posrig lab export``: a lab host's stations served to a labgrid coordinator.

On a lab host, for each station of an inventory: a ``sim://`` device becomes its simulator
(the virtual lab's own, harness/virtual_lab.py) and a local serial port (``/dev/...``) stays
itself; then one labgrid exporter publishes every serial channel as a ``RawSerialPort``
(the exporter starts ser2net on it when a place is acquired; clients see a
``NetworkSerialPort``) and each camera stream -- the tray camera's and the display camera's
(docs/screen.md) -- as an ``HTTPVideoStream``. Resources go in a
group named after the station; one place per station matches that group and carries the
tags the rig reserves by.

The simulated terminals call the rig's acquirer host at ``--acquirer`` (a real terminal is
configured the same way in its parameter menu); their camera streams bind the lab host's
published address, so the rig on another machine reaches both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config import ConfigError
from harness.inventory import LabInventory, StationSpec, is_sim
from harness.labgrid import processes
from harness.labgrid.coordinator import Coordinator
from harness.labgrid.inventory import TAG_KEY, tags_for
from harness.profiles import load_cards, load_master_keys, load_profile
from harness.virtual_lab import VirtualStation

#: The station's channels, as resources of its group (the rig maps them back by name).
SERIAL_RESOURCES = ("ecr", "console", "robot", "power")
CAMERA_RESOURCE = "camera"
#: The camera on the terminal's screen (the inventory's ``display:``), exported as the tray's is.
DISPLAY_RESOURCE = "display"


@dataclass(frozen=True)
class ExportOptions:
    coordinator: str  # HOST:PORT of labgrid-coordinator
    name: str  # the exporter's (lab host's) name on the coordinator
    hostname: str  # the address clients reach this host at (published with each resource)
    acquirer: tuple[str, int]  # where the rig's acquirer host listens, for the terminals to call
    create_places: bool = True
    real_time: bool = False  # robot moves take the time their feed rate says
    boot_s: float = 0.0  # how long a simulated terminal's self-check takes (real ones: 20-30 s)

    def place_name(self, station: str) -> str:
        return f"{self.name}-{station}"


@dataclass(frozen=True)
class ExportedStation:
    spec: StationSpec  # the live spec, as reached on this host (pty paths, stream URL)
    place: str
    tags: dict[str, str]
    resources: dict[str, dict[str, Any]]  # resource name -> exporter config entry


class LabExport:
    """``start()`` brings the simulators, the exporter and the places up; ``stop()`` ends all."""

    def __init__(self, inventory: LabInventory, workdir: Path, options: ExportOptions):
        self.inventory, self.workdir, self.options = inventory, workdir, options
        self.stations: dict[str, VirtualStation] = {}
        self.exported: list[ExportedStation] = []
        self.exporter: processes.LabgridProcess | None = None

    def start(self) -> list[ExportedStation]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.exported = [self._station(index, spec)
                             for index, spec in enumerate(self.inventory.stations)]
            config = self.workdir / "exporter.yaml"
            config.write_text(yaml.safe_dump(exporter_config(self.exported), sort_keys=False),
                              encoding="utf-8")
            self.exporter = processes.exporter(self.options.coordinator, self.options.name,
                                               self.options.hostname, config,
                                               self.workdir / "exporter.log").start()
            if self.options.create_places:
                with Coordinator(self.options.coordinator) as coordinator:
                    for station in self.exported:
                        coordinator.ensure_place(station.place,
                                                 [f"{self.options.name}/{station.spec.name}/*"],
                                                 station.tags)
        except BaseException:
            self.stop()
            raise
        return self.exported

    def _station(self, index: int, spec: StationSpec) -> ExportedStation:
        profile = load_profile(spec.terminal.profile)
        live = spec
        if spec.virtual:
            cards = load_cards(self.inventory.cards)
            keys = load_master_keys(self.inventory.keys)
            if spec.terminal.tid not in keys:
                raise ConfigError(f"{self.inventory.keys}: no master key for terminal "
                                  f"{spec.terminal.tid} of {spec.name}; add one (test keys only)")
            # the camera binds the lab host's published address: the rig is on another machine
            station = VirtualStation(spec, profile, cards, keys[spec.terminal.tid],
                                     self.options.acquirer, self.workdir, not self.options.real_time,
                                     seed=index, camera_bind=self.options.hostname)
            self.stations[spec.name] = station
            live = station.start()
            # from the next power cycle on (read at each boot): the terminal is up when its
            # place appears, as the local virtual lab's is
            station.terminal.cfg.boot_s = self.options.boot_s
        resources: dict[str, dict[str, Any]] = {}
        channels = {"ecr": live.terminal.ecr, "console": live.terminal.console,
                    "robot": live.robot.url, "power": live.power}
        for name in SERIAL_RESOURCES:
            url = channels[name]
            if url is None:
                continue
            if not url.startswith("/dev/"):
                raise ConfigError(f"{self.inventory.source}: {spec.name}.{name}: {url!r} is not a "
                                  "local serial port (/dev/...); a lab host exports its own ports "
                                  "and sim:// devices only")
            speed = profile.baudrate if name == "ecr" else 115200
            resources[name] = {"cls": "RawSerialPort", "port": url, "speed": speed}
        for name, url in ((CAMERA_RESOURCE, live.camera), (DISPLAY_RESOURCE, live.display)):
            if not url:
                continue
            if is_sim(url) or not url.startswith(("http://", "https://", "rtsp://")):
                raise ConfigError(f"{self.inventory.source}: {spec.name}.{name}: {url!r}: a "
                                  "lab host exports a camera as a stream URL (http://, rtsp://)")
            resources[name] = {"cls": "HTTPVideoStream", "url": url}
        tags = tags_for(live, profile, labhost=self.options.name)
        bad = [k for k in tags if not TAG_KEY.fullmatch(k)]
        assert not bad, f"tag keys labgrid refuses: {bad}"
        return ExportedStation(live, self.options.place_name(spec.name), tags, resources)

    def summary(self) -> str:
        """One JSON line: the exporter, and per station its place, tags and local channels."""
        return json.dumps({
            "exporter": self.options.name, "hostname": self.options.hostname,
            "coordinator": self.options.coordinator,
            "acquirer": f"tcp://{self.options.acquirer[0]}:{self.options.acquirer[1]}",
            "places": {s.place: {"station": s.spec.name, "tags": s.tags,
                                 "resources": {k: v.get("port") or v.get("url")
                                               for k, v in s.resources.items()}}
                       for s in self.exported}}, ensure_ascii=False)

    def model(self, station: str):
        """The bench model of a simulated station (for tests that make faults on it)."""
        return self.stations[station].model

    def stop(self) -> None:
        if self.exporter is not None:
            self.exporter.stop()
            self.exporter = None
        for station in self.stations.values():
            station.stop()
        self.stations.clear()


def exporter_config(stations: list[ExportedStation]) -> dict[str, Any]:
    """labgrid-exporter's resource file: a group per station, a resource per channel."""
    return {s.spec.name: {"location": f"posrig station {s.spec.name}",
                          **{name: dict(entry) for name, entry in s.resources.items()}}
            for s in stations}

