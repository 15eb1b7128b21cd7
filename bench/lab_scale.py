"""A lab's scale: 1, 2, 4 and 8 stations at once, on the local virtual lab and through labgrid.

    python bench/lab_scale.py [--counts 1,2,4,8] [--boot-s 20] [--no-labgrid]

Each station runs the same bench workload with the devices' real-world timings on: a power
cycle (the terminal takes ``--boot-s`` to boot, 20-30 s for real terminals), operator login
and sign-in, then a chip sale (insert, PIN on the keypad), a contactless sale (tap) and a
magstripe sale (swipe, PIN), every card moved and every key pressed by the robot at its
profile's feed rates. The simulators model robot motion and boot time; a card read and a
print take no time of their own in them. No camera: reading slips costs are in
bench/receipts.py.

Each count and path runs ``--repeat`` times (default 2) and the shortest wall time is kept:
a machine shared with other work only ever adds time. One worker process per station, as
``posrig run`` has one pytest-xdist worker per station; each opens its station, says it is
ready, and all start together. Wall time is from the first start to the last end.

- *local*: the stations' simulators in this process (as ``posrig lab up``), ptys to the rig;
- *labgrid*: lab hosts as network namespaces (root only) exporting the stations with
  ``posrig lab export``; the rig reserves and acquires the places and reaches every serial
  channel over RFC 2217 through ser2net (harness/labgrid). Stations are split over two hosts.

Figures: wall time per count and path; parallel efficiency ``T(1) / T(N)`` (the same work
per station, so perfect scaling keeps the wall time); the rig's own time as a share of the
devices': the same single-station workload with instant devices (robot moves and boot take
no time) gives everything that is *not* device time -- the rig, the links and the simulators'
own processing, an upper bound on the rig's share -- over the device time
``T_real(1) - T_instant(1)``; the labgrid path's wall time over the local one's. Ends with
one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from harness.paths import FIXTURES, REPO

PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"
MAGAZINE = {1: "cup-debit-chip", 2: "cup-credit-chip", 3: "cup-magstripe"}
BOOT_TIMEOUT_S = 120.0
WORKLOAD = (("cup-debit-chip", "insert"), ("cup-debit-chip", "tap"), ("cup-magstripe", "swipe"))


# -- the worker: one station's workload --------------------------------------------------------
def worker(live: str, station: str, workdir: str) -> int:
    from harness import flows
    from harness.inventory import load_inventory
    from harness.lab import Lab

    lab = Lab(load_inventory(live), Path(workdir))
    lab.start()
    try:
        st = lab.station(station)
        print("READY", flush=True)
        if sys.stdin.readline().strip() != "GO":
            return 1
        t0, cpu0 = time.time(), time.process_time()
        phases: dict[str, float] = {}
        flows.power_cycle(st, boot_timeout=BOOT_TIMEOUT_S)  # the sim profile's 15 s is for a fast boot
        phases["boot"] = time.time() - t0
        signed = flows.sign_in(st)
        if not signed.ok:
            raise RuntimeError(f"{station}: sign-in {signed}")
        phases["sign_in"] = time.time() - t0 - sum(phases.values())
        for card, entry in WORKLOAD:
            result = flows.sale(st, 1_234, card, entry=entry)
            if not result.approved:
                raise RuntimeError(f"{station}: {entry} sale with {card} not approved: {result}")
            phases[entry] = time.time() - t0 - sum(phases.values())
        print(json.dumps({"station": station, "t0": t0, "t1": time.time(),
                          "cpu_s": time.process_time() - cpu0,
                          "phases": {k: round(v, 2) for k, v in phases.items()}}), flush=True)
    finally:
        lab.stop()
    return 0


# -- the orchestrator ----------------------------------------------------------------------------
def write_lab(workdir: Path, count: int) -> Path:
    """An inventory of ``count`` simulated stations, their (synthetic, test-only) master keys
    derived from the terminal id, no camera."""
    workdir.mkdir(parents=True, exist_ok=True)
    tids = [f"{20000001 + i}" for i in range(count)]
    keys = workdir / "keys.yaml"
    keys.write_text(yaml.safe_dump({"terminals": {
        tid: {"tmk": hashlib.sha256(f"posrig bench test key {tid}".encode()).hexdigest()[:32].upper()}
        for tid in tids}}), encoding="utf-8")
    inventory = workdir / "lab.yaml"
    inventory.write_text(yaml.safe_dump({
        "name": f"bench-{count}", "host": {"listen": "tcp://127.0.0.1:0"},
        "cards": str(FIXTURES / "cards.yaml"), "keys": str(keys),
        "stations": [{"name": f"bench-{i + 1}",
                      "terminal": {"profile": str(PROFILE), "tid": tid, "ecr": "sim://terminal"},
                      "robot": "sim://robot", "magazine": dict(MAGAZINE)}
                     for i, tid in enumerate(tids)]}, sort_keys=False), encoding="utf-8")
    return inventory


def run_workers(live: Path, stations: list[str], workdir: Path) -> dict:
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(live), name,
                               str(workdir / f"worker-{name}")],
                              cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for name in stations]
    try:
        for proc, name in zip(procs, stations, strict=True):
            line = proc.stdout.readline().strip()
            if line != "READY":
                raise RuntimeError(f"worker for {name} did not open its station: {line!r}")
        for proc in procs:  # all at once: the wall time starts with the first
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        figures = []
        for proc, name in zip(procs, stations, strict=True):
            out, _ = proc.communicate(timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"worker for {name} failed (exit {proc.returncode}): {out[-2000:]}")
            figures.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    wall = max(f["t1"] for f in figures) - min(f["t0"] for f in figures)
    slowest = max(figures, key=lambda f: f["t1"] - f["t0"])
    return {"wall_s": wall, "cpu_s": sum(f["cpu_s"] for f in figures), "slowest": slowest["phases"]}


def local(count: int, real: bool, boot_s: float, workdir: Path) -> dict:
    from harness.inventory import load_inventory
    from harness.virtual_lab import VirtualLab

    inventory = load_inventory(write_lab(workdir, count))
    lab = VirtualLab(inventory, workdir / "lab", instant=not real)
    live_inventory = lab.start()
    try:
        for station in lab.stations.values():
            station.terminal.cfg.boot_s = boot_s if real else 0.0  # read at each boot
        live = workdir / "live.json"
        live.write_text(live_inventory.to_json(), encoding="utf-8")
        return run_workers(live, [s.name for s in inventory.stations], workdir)
    finally:
        lab.stop()


def through_labgrid(count: int, real: bool, boot_s: float, workdir: Path) -> dict:
    from harness.inventory import load_inventory
    from harness.labgrid.netns import NetnsLab
    from harness.labgrid.reserve import labgrid_lab

    lab_path = write_lab(workdir, count)
    names = [s.name for s in load_inventory(lab_path).stations]
    halves = [names[: (count + 1) // 2], names[(count + 1) // 2:]]
    with ExitStack() as stack:
        lab = stack.enter_context(NetnsLab(workdir / "netns", real_time=real,
                                           boot_s=boot_s if real else 0.0))
        places = []
        for index, half in enumerate(h for h in halves if h):
            places += lab.add_host(f"labhost-{'ab'[index]}", half, lab=lab_path).places
        rig = load_inventory(lab.rig_inventory(workdir / "rig.yaml", places,
                                               keys=load_inventory(lab_path).keys))
        live = stack.enter_context(labgrid_lab(rig, workdir / "rig", tell=lambda _line: None))
        return run_workers(live, places, workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,2,4,8")
    parser.add_argument("--boot-s", type=float, default=20.0,
                        help="a terminal's boot, power on to READY (default 20 s)")
    parser.add_argument("--no-labgrid", action="store_true", help="the local path only")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each count and path; the shortest is kept (default 2)")
    parser.add_argument("--worker", nargs=3, metavar=("LIVE", "STATION", "WORKDIR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.exit(worker(*args.worker))
    counts = [int(c) for c in args.counts.split(",")]
    from harness.labgrid.netns import unavailable

    why_not = "--no-labgrid" if args.no_labgrid else unavailable()
    paths = {"local": local} | ({} if why_not else {"labgrid": through_labgrid})
    if why_not:
        print(f"labgrid path skipped: {why_not}")
    walls: dict[str, dict[int, float]] = {p: {} for p in paths}
    instant: dict[str, float] = {}
    loads: list[float] = []
    # local and labgrid runs of one count back to back, so both see the machine's load alike
    with tempfile.TemporaryDirectory(prefix="posrig-lab-scale-") as tmp:
        for path, run in paths.items():
            figures = run(1, False, args.boot_s, Path(tmp) / f"{path}-instant")
            instant[path] = figures["wall_s"]
            print(f"{path:8} 1 station, instant devices: {figures['wall_s']:6.2f} s", flush=True)
        for count in counts:
            for attempt in range(args.repeat):
                for path, run in paths.items():
                    figures = run(count, True, args.boot_s, Path(tmp) / f"{path}-{count}-{attempt}")
                    # the best of the repeats: a shared machine only ever adds time
                    walls[path][count] = min(walls[path].get(count, figures["wall_s"]), figures["wall_s"])
                    loads.append(os.getloadavg()[0])
                    print(f"{path:8} {count} station(s), real-world timings: {figures['wall_s']:6.2f} s "
                          f"wall, rig CPU {figures['cpu_s']:5.2f} s, load average {loads[-1]:.1f} "
                          f"({os.cpu_count()} cores); slowest station's phases {figures['slowest']}",
                          flush=True)
    result: dict[str, object] = {"counts": counts, "boot_s": args.boot_s, "repeat": args.repeat,
                                 "labgrid": "skipped: " + why_not if why_not else "namespaces",
                                 "load_avg_max": round(max(loads), 1), "cores": os.cpu_count()}
    for path in paths:
        base = walls[path].get(1)
        efficiency = {n: round(base / w, 3) for n, w in walls[path].items()} if base else {}
        device = (base - instant[path]) if base else None
        share = round(instant[path] / device, 4) if device else None
        print(f"{path}: efficiency {efficiency}; rig's own time / device time {share}")
        result[f"{path}_wall_s"] = {n: round(w, 2) for n, w in walls[path].items()}
        result[f"{path}_efficiency"] = efficiency
        result[f"{path}_rig_share"] = share
    if "labgrid" in paths:
        ratio = {n: round(walls["labgrid"][n] / walls["local"][n], 3) for n in counts}
        print(f"labgrid wall time / local wall time: {ratio}")
        result["labgrid_over_local"] = ratio
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
