"""What watching the screen costs a card transaction, and what prompts from the screen cost.

    python bench/screen_watch.py [--sales 6]

Three virtual stations, one after the other in this run, each running ``--sales`` chip sales
with PIN through ``harness.flows.sale`` (the robot instant, the host on loopback):

- ``ecr-no-display``: the virtual lab's posrig-ecr/1 station with its ``display:`` taken
  away -- the baseline: no screen is read;
- ``ecr-display``: the same station with its display camera: every sale is watched
  (``ScreenWatch``) and checked by the fourth witness, prompts still from the ECR link;
- ``concert-screen``: fixtures/labs/concert-screen.yaml's Concert station with no console,
  its prompts from the screen alone (the flow waits for the screen to show each prompt).

Per station: the median wall-clock seconds of a sale, and the rig process's CPU seconds
per sale (all its threads: the watch, the OCR's two, the drivers, and the simulators, which
run in this process too), the frames recognised per sale; the ratios to the baseline
measured in the same run. The first sale of each station (the stream's open, the OCR's load)
is run and not counted. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import flows
from harness.inventory import LabInventory, load_inventory
from harness.lab import Lab
from harness.paths import FIXTURES


def run_station(inventory: LabInventory, workdir: Path, sales: int, *, sign_in: bool) -> dict:
    lab = Lab(inventory, workdir)
    lab.start()
    try:
        station = lab.station(inventory.stations[0].name)
        if sign_in:
            station.strategy.transition("signed_in")
        first = flows.sale(station, 1_000, "cup-debit-chip")  # opens the stream, loads the OCR
        assert first.approved, first
        reads_before = station.screen.reads if station.screen is not None else 0
        walls: list[float] = []
        cpu0 = time.process_time()
        for index in range(sales):
            started = time.perf_counter()
            sale = flows.sale(station, 1_000 + index, "cup-debit-chip")
            walls.append(time.perf_counter() - started)
            assert sale.approved, sale
        cpu = time.process_time() - cpu0
        reads = (station.screen.reads - reads_before) if station.screen is not None else 0
        return {"median_s": round(statistics.median(walls), 3),
                "cpu_s_per_sale": round(cpu / sales, 3),
                "frames_read_per_sale": round(reads / sales, 1),
                "prompts": list(sale.prompts)}
    finally:
        lab.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=6, help="sales counted per station (default 6)")
    args = parser.parse_args()
    if args.sales < 1:
        parser.error("--sales must be at least 1")
    load_start = os.getloadavg()[0]
    virtual = load_inventory(FIXTURES / "labs" / "virtual.yaml").first(1)
    bare = replace(virtual, stations=(replace(virtual.stations[0], display=None),))
    concert = load_inventory(FIXTURES / "labs" / "concert-screen.yaml")
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="posrig-screen-watch-") as tmp:
        for name, inventory, sign_in in (("ecr-no-display", bare, True), ("ecr-display", virtual, True),
                                         ("concert-screen", concert, False)):
            figures[name] = run_station(inventory, Path(tmp) / name, args.sales, sign_in=sign_in)
            print(f"{name:16} median {figures[name]['median_s']:.3f} s a sale, "
                  f"{figures[name]['cpu_s_per_sale']:.3f} s CPU a sale, "
                  f"{figures[name]['frames_read_per_sale']} frames read a sale, "
                  f"prompts {figures[name]['prompts']}", file=sys.stderr)
    base = figures["ecr-no-display"]
    for name in ("ecr-display", "concert-screen"):
        figures[name]["cpu_ratio_to_baseline"] = round(figures[name]["cpu_s_per_sale"]
                                                       / max(base["cpu_s_per_sale"], 1e-6), 2)
        figures[name]["wall_ratio_to_baseline"] = round(figures[name]["median_s"]
                                                        / max(base["median_s"], 1e-6), 2)
    print(json.dumps({"bench": "screen_watch", "sales": args.sales, "stations": figures,
                      "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
                      "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
