"""A running lab for one session: the live inventory, the host, opened stations, logs.

The pytest plugin and the CLI both use this. With no inventory named, the default
virtual lab is started in-process; a named inventory with sim:// devices gets those
simulators started; a named inventory whose host is ``managed`` gets the rig's acquirer
host started here (the terminals of a real bench are configured to call it).
"""

from __future__ import annotations

from pathlib import Path

from devices.cards import Card
from devices.host import AcquirerHost
from harness.evidence import DeviceLogs
from harness.hostlink import HostLink
from harness.inventory import LabInventory, load_inventory
from harness.paths import DEFAULT_LAB
from harness.profiles import load_cards, load_profile
from harness.station import Station
from harness.virtual_lab import VirtualLab, start_host


class Lab:
    def __init__(self, inventory: LabInventory, workdir: Path):
        self.requested = inventory
        self.workdir = workdir
        self.virtual: VirtualLab | None = None
        self.host: AcquirerHost | None = None
        self.live: LabInventory | None = None
        self.logs = DeviceLogs(workdir / "logs")
        self.cards: dict[str, Card] = load_cards(inventory.cards)
        self._stations: dict[str, Station] = {}

    @classmethod
    def from_path(cls, path: str | Path | None, workdir: Path, stations: int | None = None) -> Lab:
        inventory = load_inventory(path or DEFAULT_LAB)
        if stations is not None:
            inventory = inventory.first(stations)
        elif path is None:
            inventory = inventory.first(1)
        return cls(inventory, workdir)

    def start(self) -> LabInventory:
        if self.requested.virtual:
            self.virtual = VirtualLab(self.requested, self.workdir)
            self.live = self.virtual.start()
            self.host = self.virtual.host
        elif self.requested.host.managed:
            self.host, host_spec = start_host(self.requested, self.workdir)
            from dataclasses import replace

            self.live = replace(self.requested, host=host_spec)
        else:
            self.live = self.requested
        return self.live

    @property
    def hostlink(self) -> HostLink:
        assert self.live is not None, "start the lab first"
        spec = self.live.host
        return HostLink(spec.journal, self.host, spec.control,
                        (spec.host, spec.port) if spec.port else None)

    def station(self, name: str | None = None) -> Station:
        """The named (or first) station, its drivers opened once per session."""
        assert self.live is not None, "start the lab first"
        spec = self.live.station(name) if name else self.live.stations[0]
        if spec.name not in self._stations:
            self._stations[spec.name] = Station.open(spec, load_profile(spec.terminal.profile),
                                                     self.cards, self.hostlink,
                                                     log_dir=self.workdir / "logs")
        return self._stations[spec.name]

    def stop(self) -> None:
        for station in self._stations.values():
            station.close()
        self._stations.clear()
        if self.virtual is not None:
            self.virtual.stop()
        elif self.host is not None:
            self.host.stop()
        self.logs.close()
