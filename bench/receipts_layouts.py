"""The template reader on another printed layout: the Taiwanese 80 mm two-column slip against
the CUP 58 mm slip, read in the same run.

    python bench/receipts_layouts.py [--slips 24] [--wrong 4] [--seed 6] [--levels L0,L1,L2,L3]
                                     [--template tw-nccc-80mm]

Each template's seeded corpus is built as bench/receipts.py builds the CUP one (sales and
voids, merchant and customer copies, ``--wrong`` slips per level printing one field wrong),
printed by the simulated printer in the layout its template's ``print`` section sets and shown
to the simulated camera at each level. The two templates' slips are read alternately, one
reader each, so other work on the cores slows both alike. Per template and level: field
accuracy, slips fully right, flagged, silent misreads, false passes, median and p95 wall ms,
median CPU ms; then the other template's median CPU over the CUP slip's (the baseline) per
level. The last line is one JSON object with those figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.camera.render import render_slip as print_on_paper
from harness.receipts.corpus import make_sample, template_data
from harness.receipts.reader import ReceiptReader, shared_engine
from harness.receipts.template import PrintLimits, ReceiptTemplate

# the CUP bench's corpus, camera and scoring, so the figures mean the same thing in both
_spec = importlib.util.spec_from_file_location("cup_receipts_bench", Path(__file__).with_name("receipts.py"))
assert _spec is not None and _spec.loader is not None
cup_bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = cup_bench  # its dataclasses look their module up
_spec.loader.exec_module(cup_bench)

BASELINE = "cup-standard"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slips", type=int, default=24, help="agreeing slips per level (default 24)")
    ap.add_argument("--wrong", type=int, default=4, help="disagreeing slips per level (default 4)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--levels", default=",".join(cup_bench.LEVELS))
    ap.add_argument("--template", default="tw-nccc-80mm", help="the layout read beside the CUP slip")
    args = ap.parse_args()

    names = (BASELINE, args.template)
    raws = {name: template_data(name) for name in names}
    limits = PrintLimits.from_profile(cup_bench.PROFILE)
    engine = shared_engine()
    readers = {name: ReceiptReader(ReceiptTemplate.from_dict(raws[name]), limits, engine=engine)
               for name in names}
    print(f"receipt layouts bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"seed {args.seed}", file=sys.stderr)
    for name in names:  # the first slip of a template learns its label bitmaps: not timed
        warm = make_sample(raws[name], random.Random(-1))
        readers[name].verify(print_on_paper(warm.slip).image, warm.witnesses)

    results: dict[str, Any] = {name: {} for name in names}
    results["cpu_ratio"] = {}
    for level in args.levels.split(","):
        tallies = {name: cup_bench.Tally() for name in names}
        corpora = {name: cup_bench.corpus(raws[name], level, args.slips, args.wrong, args.seed)
                   for name in names}
        for i in range(args.slips + args.wrong):
            for name in names:
                sample = corpora[name][i]
                frame = cup_bench.camera_frame(print_on_paper(sample.slip).image, level,
                                               args.seed * 1000 + i)
                t0, c0 = time.perf_counter(), time.process_time()
                verdict = readers[name].verify(frame, sample.witnesses)
                ms, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
                statuses = {c.key: c.status for c in verdict.checks} or \
                    {f.key: "unreadable" for f in readers[name].template.fields}
                cup_bench.score(tallies[name], sample, statuses, verdict.status, ms, cpu)
        for name in names:
            figures = tallies[name].figures()
            figures["cpu_median_ms"] = round(statistics.median(tallies[name].cpu_ms), 1)
            results[name][level] = figures
            print(f"{level}: {name:<16} {tallies[name].slips} slips  {cup_bench._line(tallies[name])}",
                  file=sys.stderr)
        results["cpu_ratio"][level] = round(results[args.template][level]["cpu_median_ms"]
                                            / results[BASELINE][level]["cpu_median_ms"], 2)
    print(f"load average at the end {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
