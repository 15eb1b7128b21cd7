"""Lab hosts as network namespaces: a lab of several machines on one machine (root only).

A bridge in the root namespace carries a /24 of 10.77.x.0 that nothing else uses: the
coordinator and the rig's acquirer host listen on its .1, each lab host is a namespace
with a veth on the bridge (.2, .3, ...) running ``posrig lab export``, whose ser2net and
camera streams are reached at that address. Killing every process of a namespace is a lab
host losing power. ``stop()`` kills what was started and removes every namespace, link and
the bridge, also after a failure.

Used by the end-to-end test (tests/test_labgrid_multi.py) and bench/lab_scale.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.labgrid import processes
from harness.labgrid.errors import LabHostDown
from harness.paths import DEFAULT_LAB, REPO


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return "needs root: lab hosts are network namespaces (`ip netns add`)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` to make network namespaces"
    if shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").exists():
        return "needs Debian's ser2net (./setup.sh installs it): labgrid's exporter runs it"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise LabHostDown(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


@dataclass
class LabHost:
    name: str  # exporter name; places are NAME-STATION
    netns: str
    address: str
    stations: list[str]
    workdir: Path
    proc: subprocess.Popen[str] | None = None
    summary: dict = field(default_factory=dict)  # the JSON line `posrig lab export` printed
    log: Path | None = None

    @property
    def places(self) -> list[str]:
        return list(self.summary.get("places", {}))

    def pids(self) -> list[int]:
        done = _ip("netns", "pids", self.netns, check=False)
        return [int(p) for p in done.stdout.split()]

    def kill(self) -> None:
        """Every process of the lab host, at once: the host lost its power."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


class NetnsLab:
    """``NetnsLab(workdir).start()``, ``add_host(...)``, ``rig_inventory(...)``, ``stop()``."""

    def __init__(self, workdir: Path, *, real_time: bool = False, boot_s: float = 0.0):
        self.workdir = workdir
        self.real_time, self.boot_s = real_time, boot_s
        self.tag = f"{os.getpid() % 1000:03d}{random.randrange(100):02d}"  # unique names per run
        self.subnet = random.randrange(100, 250)
        self.gateway = f"10.77.{self.subnet}.1"
        self.bridge = f"plgbr{self.tag}"
        self.hosts: list[LabHost] = []
        self.coordinator: processes.LabgridProcess | None = None
        self.coordinator_address = ""
        self.acquirer_port = 0

    def start(self) -> NetnsLab:
        reason = unavailable()
        if reason:
            raise LabHostDown(reason)
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            port = free_port(self.gateway)
            self.coordinator_address = f"{self.gateway}:{port}"
            self.coordinator = processes.coordinator(self.coordinator_address,
                                                     self.workdir / "coordinator").start()
            self.acquirer_port = free_port(self.gateway)
        except BaseException:
            self.stop()
            raise
        return self

    def add_host(self, name: str, stations: list[str], *, lab: Path = DEFAULT_LAB,
                 timeout: float = 60.0) -> LabHost:
        """A lab host exporting ``stations`` of the inventory ``lab``."""
        index = len(self.hosts) + 2
        host = LabHost(name, f"plg{self.tag}{chr(ord('a') + index - 2)}",
                       f"10.77.{self.subnet}.{index}", stations, self.workdir / name)
        self.hosts.append(host)
        host.workdir.mkdir(parents=True, exist_ok=True)
        outside, inside = f"plg{self.tag}{index}o", f"plg{self.tag}{index}i"
        _ip("netns", "add", host.netns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", host.netns)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", inside)
        _ip("-n", host.netns, "link", "set", inside, "up")
        _ip("-n", host.netns, "link", "set", "lo", "up")
        inventory = host.workdir / "stations.yaml"
        inventory.write_text(yaml.safe_dump(_subset(lab, stations)), encoding="utf-8")
        command = ["ip", "netns", "exec", host.netns, sys.executable, "-m", "harness.cli", "lab",
                   "export", "--coordinator", self.coordinator_address, "--acquirer",
                   f"tcp://{self.gateway}:{self.acquirer_port}", "--hostname", host.address,
                   "--name", name, "--lab", str(inventory), "--workdir", str(host.workdir / "work")]
        if self.real_time:
            command.append("--real-time")
        if self.boot_s:
            command += ["--boot-s", str(self.boot_s)]
        host.log = host.workdir / "export.log"
        host.proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=host.log.open("w"), text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        first = _first_line(host.proc, timeout)
        if not first:
            tail = host.log.read_text(errors="replace")[-3000:]
            raise LabHostDown(f"lab host {name} did not come up within {timeout:g} s:\n{tail}")
        host.summary = json.loads(first)
        return host

    def rig_inventory(self, path: Path, places: list[str], *, name: str = "netns-lab",
                      keys: Path | None = None) -> Path:
        """The rig's inventory: one station per place, named after it (``keys``: the master
        keys file, when the exported stations' terminals are not the fixtures' own)."""
        data = {"name": name, "coordinator": self.coordinator_address,
                "host": {"listen": f"tcp://{self.gateway}:{self.acquirer_port}"},
                "stations": [{"name": place, "place": place} for place in places]}
        if keys is not None:
            data["keys"] = str(keys)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def stop(self) -> None:
        for host in self.hosts:
            if host.proc is not None and host.proc.poll() is None:
                host.proc.send_signal(signal.SIGTERM)  # lets it stop its exporter and ser2net
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.proc.wait(15)
            with contextlib.suppress(LabHostDown):
                host.kill()  # anything left in the namespace
            if host.proc is not None and host.proc.stdout is not None:
                host.proc.stdout.close()
            _ip("netns", "del", host.netns, check=False)  # takes its veth end (and the pair) along
        self.hosts.clear()
        if self.coordinator is not None:
            self.coordinator.stop()
            self.coordinator = None
        _ip("link", "del", self.bridge, check=False)

    def __enter__(self) -> NetnsLab:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _subset(lab: Path, stations: list[str]) -> dict:
    """``lab``'s inventory with only ``stations``, its relative paths made absolute."""
    from harness.inventory import load_inventory

    inventory = load_inventory(lab)
    data = yaml.safe_load(Path(lab).read_text(encoding="utf-8"))
    chosen = [s for s in data["stations"] if s["name"] in stations]
    missing = set(stations) - {s["name"] for s in chosen}
    if missing:
        raise LabHostDown(f"{lab} has no station(s) {sorted(missing)}")
    for st, spec in zip(chosen, [inventory.station(s["name"]) for s in chosen], strict=True):
        st["terminal"]["profile"] = str(spec.terminal.profile)
    data["stations"] = chosen
    data["cards"], data["keys"] = str(inventory.cards), str(inventory.keys)
    return data


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The process's first stdout line, or "" if it ends or ``timeout`` passes first."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else ""),
                              daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].strip() if box else ""
