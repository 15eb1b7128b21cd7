"""The virtual lab: every sim:// device of an inventory started as a simulator.

For each station: a bench model, the simulated terminal (ECR link on a pty), the
simulated card robot (G-code on a pty) and the simulated power relay; one acquirer host on
loopback for the whole lab. ``start()`` returns the *live* inventory, where every sim://
URL is replaced by the channel to reach it, so drivers open it exactly as a real bench.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from devices.bench_model import BenchModel
from devices.cards import Card
from devices.host import AcquirerHost, HostConfig, TerminalKeys
from devices.simbench import SimulatedBench
from harness.inventory import HostSpec, LabInventory, RobotSpec, StationSpec, is_sim
from harness.profiles import TerminalProfile, load_cards, load_master_keys, load_profile

#: Longest Unix socket path Linux takes (sun_path is 108 bytes with its terminating NUL).
MAX_SOCKET_PATH = 107


def host_config(inventory: LabInventory, workdir: Path) -> HostConfig:
    """The host's configuration: every station's terminal, its master key, the cards."""
    keys = load_master_keys(inventory.keys)
    terminals = {}
    for spec in inventory.stations:
        profile = load_profile(spec.terminal.profile)
        if spec.terminal.tid not in keys:
            raise LookupError(f"{inventory.keys}: no master key for terminal {spec.terminal.tid} "
                              f"of {spec.name}; add one (test keys only)")
        terminals[spec.terminal.tid] = TerminalKeys(tmk=keys[spec.terminal.tid],
                                                    key_mode=profile.key_mode,
                                                    mac_alg=profile.mac_alg,
                                                    mid=profile.merchant_id,
                                                    key_layout=profile.key_layout)
    return HostConfig(terminals=terminals, cards=list(load_cards(inventory.cards).values()),
                      journal_path=inventory.host.journal or workdir / "host-journal.sqlite",
                      listen=(inventory.host.host, inventory.host.port),
                      control_path=inventory.host.control or control_socket(workdir))


def control_socket(workdir: Path) -> Path | None:
    """The host's control socket beside its journal, so processes that share the lab (a
    second shell, pabot) can script it. None where the path is too long for a Unix socket
    (108 bytes on Linux): the host then runs without one, and scripting it from another
    process says so."""
    path = workdir.resolve() / "host-control.sock"
    return path if len(str(path).encode()) <= MAX_SOCKET_PATH else None


def phone_socket(workdir: Path, station: str) -> Path | None:
    """The control socket of a station's simulated phone (docs/qr.md), beside the host's;
    None where the path is too long for a Unix socket: the phone is then driven in-process only."""
    path = workdir.resolve() / f"phone-{station}.sock"
    return path if len(str(path).encode()) <= MAX_SOCKET_PATH else None


def start_host(inventory: LabInventory, workdir: Path) -> tuple[AcquirerHost, HostSpec]:
    """The rig's acquirer host in its own thread; the spec names the port it took."""
    config = host_config(inventory, workdir)
    host = AcquirerHost(config)
    port = host.start_in_thread()
    return host, HostSpec(inventory.host.host, port, config.journal_path, managed=False,
                          control=config.control_path)


class VirtualStation(SimulatedBench):
    """A station of the inventory as a simulated bench (devices/simbench.py); ``start()``
    gives the station's spec with every sim:// URL replaced by its live channel."""

    def __init__(self, spec: StationSpec, profile: TerminalProfile, cards: dict[str, Card],
                 tmk: bytes, host: tuple[str, int], workdir: Path, instant: bool, seed: int = 0,
                 camera_bind: str | None = None):
        missing = [cid for cid in spec.magazine.values() if cid not in cards]
        if missing:
            raise LookupError(f"{spec.name}: magazine names cards not in cards.yaml: {missing}")
        # seeded per station so every run photographs the same slip the same way
        super().__init__(spec.name, profile, {slot: cards[cid] for slot, cid in spec.magazine.items()},
                         tid=spec.terminal.tid, tmk=tmk, host=host, state_dir=workdir / "terminals",
                         instant=instant, camera=is_sim(spec.camera), seed=seed,
                         camera_bind=camera_bind, display=is_sim(spec.display),
                         phone_control=phone_socket(workdir, spec.name))
        self.spec = spec

    def start(self) -> StationSpec:  # type: ignore[override]
        super().start()
        spec = self.spec
        return replace(spec,
                       terminal=replace(spec.terminal, ecr=self.terminal.url,
                                        console=None if spec.terminal.no_console
                                        else self.terminal.console_url),
                       robot=RobotSpec(self.robot.url),
                       power=self.power.url if (spec.power is None or is_sim(spec.power)) else spec.power,
                       camera=self.camera.url if self.camera is not None else spec.camera,
                       display=self.display.url if self.display is not None else spec.display,
                       phone=str(self.phone.control) if self.phone.control is not None else spec.phone)


class VirtualLab:
    def __init__(self, inventory: LabInventory, workdir: Path, *, instant: bool = True):
        self.inventory = inventory
        self.workdir = workdir
        self.instant = instant
        self.host: AcquirerHost | None = None
        self.stations: dict[str, VirtualStation] = {}

    def start(self) -> LabInventory:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.host, host_spec = start_host(self.inventory, self.workdir)
            cards = load_cards(self.inventory.cards)
            keys = load_master_keys(self.inventory.keys)
            live = []
            for index, spec in enumerate(self.inventory.stations):
                if not spec.virtual:
                    live.append(spec)
                    continue
                station = VirtualStation(spec, load_profile(spec.terminal.profile), cards,
                                         keys[spec.terminal.tid], (host_spec.host, host_spec.port),
                                         self.workdir, self.instant, seed=index)
                self.stations[spec.name] = station
                live.append(station.start())
        except BaseException:
            self.stop()
            raise
        return replace(self.inventory, host=host_spec, stations=tuple(live))

    def model(self, station: str) -> BenchModel:
        return self.stations[station].model

    def stop(self) -> None:
        for station in self.stations.values():
            station.stop()
        self.stations.clear()
        if self.host is not None:
            self.host.stop()
            self.host = None
