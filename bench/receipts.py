"""Receipt reading: accuracy and speed per camera level, against whole-frame OCR.

    python bench/receipts.py [--slips 52] [--wrong 12] [--seed 6] [--levels L0,L1,L2,L3]

A seeded corpus is printed by the simulated printer (sales and voids, merchant and
customer copies) and shown to the camera at each level: L0 is the flat scan of the paper,
L1-L3 more and more of a camera: all from the simulated camera's scene renderer
(devices/camera/scene.py), seeded. ``--wrong`` more slips per
level each print one field wrong, as a faulty terminal would. Every slip is verified
against its ECR result and host journal entry by the reader, and read by whole-frame OCR
(the baseline) in the same run.

Per level: field accuracy (a field is right when its verdict is: agrees on a correct
field, mismatch on the wrong one), slips fully right, slips flagged unreadable, silent
misreads (a field wrong and not flagged), false passes (a wrong slip accepted), median and
p95 ms per slip. The last line is one JSON object with those figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import yaml

from devices.camera import scene
from devices.camera.render import render_slip as print_on_paper
from harness.paths import FIXTURES
from harness.receipts import fields as fx
from harness.receipts.baseline import read_fields
from harness.receipts.corpus import WRONG_FIELDS, Sample, make_sample
from harness.receipts.reader import ReceiptReader, shared_engine
from harness.receipts.template import PrintLimits, ReceiptTemplate
from harness.receipts.witness import same

LEVELS = ("L0", "L1", "L2", "L3")
PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"


def camera_frame(paper: np.ndarray, level: str, seed: int) -> np.ndarray:
    """What the simulated camera sees of ``paper`` at ``level`` (L0: a flat scan on the tray)."""
    return scene.render_scene(paper, level, seed)


@dataclass
class Tally:
    fields: int = 0
    fields_right: int = 0
    slips: int = 0
    slips_right: int = 0
    flagged: int = 0
    silent_misreads: int = 0
    false_passes: int = 0
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # process CPU: steady when others load the cores

    def figures(self) -> dict[str, Any]:
        ms = sorted(self.ms)
        return {
            "field_accuracy": round(self.fields_right / self.fields, 4) if self.fields else None,
            "slips_right": self.slips_right, "flagged": self.flagged,
            "silent_misreads": self.silent_misreads, "false_passes": self.false_passes,
            "median_ms": round(statistics.median(ms), 1) if ms else None,
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
        }


def score(tally: Tally, sample: Sample, statuses: dict[str, str], verdict: str, ms: float,
          cpu_ms: float) -> None:
    """Count one slip: ``statuses`` per field (ok / mismatch / unreadable / missing / unmasked)."""
    tally.slips += 1
    tally.ms.append(ms)
    tally.cpu_ms.append(cpu_ms)
    all_right = True
    for key, status in statuses.items():
        wrong_here = key == sample.wrong_field
        right = (status == "ok" and not wrong_here) or (status == "mismatch" and wrong_here)
        tally.fields += 1
        tally.fields_right += right
        all_right &= right
        if not right and status != "unreadable":
            tally.silent_misreads += 1
    if verdict == "unreadable":
        tally.flagged += 1
    wrong_slip = sample.wrong_field is not None
    if wrong_slip and (verdict == "pass" or statuses.get(sample.wrong_field) == "ok"):
        tally.false_passes += 1
    tally.slips_right += all_right and verdict == ("fail" if wrong_slip else "pass")


def baseline_statuses(template: ReceiptTemplate, limits: PrintLimits, sample: Sample,
                      texts: dict[str, str | None]) -> dict[str, str]:
    out = {}
    for spec in template.fields:
        text = texts.get(spec.key)
        if text is None:
            out[spec.key] = "missing"
            continue
        try:
            value = fx.parse(spec, text, template)
        except fx.FieldError:
            out[spec.key] = "unreadable"
            continue
        expected = [v.pan if hasattr(v, "pan") else v for v in sample.witnesses.values(spec.key).values()]
        agrees = all(same(spec, value, v, limits.datetime_tolerance_s) for v in expected)
        out[spec.key] = "ok" if agrees else "mismatch"
    return out


def corpus(template: dict[str, Any], level: str, good: int, wrong: int, seed: int) -> list[Sample]:
    rng = random.Random(f"{seed}-{level}")
    samples = []
    for i in range(good + wrong):
        kind = ("sale", "void")[i % 2]
        copy = ("merchant", "customer")[(i // 2) % 2]
        wrong_field = WRONG_FIELDS[(i - good) % len(WRONG_FIELDS)] if i >= good else None
        samples.append(make_sample(template, rng, kind=kind, copy=copy, wrong_field=wrong_field))
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slips", type=int, default=52, help="agreeing slips per level (default 52)")
    ap.add_argument("--wrong", type=int, default=12, help="disagreeing slips per level (default 12)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--levels", default=",".join(LEVELS))
    ap.add_argument("--no-baseline", action="store_true", help="skip whole-frame OCR (faster)")
    args = ap.parse_args()

    raw = yaml.safe_load((FIXTURES / "receipts" / "cup-standard.yaml").read_text(encoding="utf-8"))
    template = ReceiptTemplate.from_dict(raw)
    limits = PrintLimits.from_profile(PROFILE)
    engine = shared_engine()
    reader = ReceiptReader(template, limits, engine=engine)
    # other processes on the same cores stretch every millisecond figure: say how busy it was
    print(f"receipts bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"seed {args.seed}", file=sys.stderr)
    # one slip read before timing: the first read of a template learns its label bitmaps
    warm = make_sample(raw, random.Random(-1))
    reader.verify(print_on_paper(warm.slip).image, warm.witnesses)

    results: dict[str, Any] = {}
    for level in args.levels.split(","):
        ours, base = Tally(), Tally()
        frames = [(s, camera_frame(print_on_paper(s.slip).image, level, args.seed * 1000 + i))
                  for i, s in enumerate(corpus(raw, level, args.slips, args.wrong, args.seed))]
        for sample, frame in frames:
            t0, c0 = time.perf_counter(), time.process_time()
            verdict = reader.verify(frame, sample.witnesses)
            ms, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
            statuses = {c.key: c.status for c in verdict.checks} or \
                {f.key: "unreadable" for f in template.fields}
            score(ours, sample, statuses, verdict.status, ms, cpu)
            if not args.no_baseline:
                t0, c0 = time.perf_counter(), time.process_time()
                texts = read_fields(engine, template, frame)
                ms, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
                st = baseline_statuses(template, limits, sample, texts)
                bv = "fail" if "mismatch" in st.values() else (
                    "unreadable" if set(st.values()) - {"ok"} else "pass")
                score(base, sample, st, bv, ms, cpu)
        figures = ours.figures()
        if not args.no_baseline:
            figures["baseline"] = base.figures()
        results[level] = figures
        print(f"{level}: {ours.slips} slips  reader {_line(ours)}", file=sys.stderr)
        if not args.no_baseline:
            print(f"{level}: {base.slips} slips  whole-frame {_line(base)}", file=sys.stderr)
    print(f"load average at the end {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(json.dumps(results))
    return 0


def _line(tally: Tally) -> str:
    f = tally.figures()
    return (f"fields {f['field_accuracy']:.2%}  right {f['slips_right']}  flagged {f['flagged']}  "
            f"silent {f['silent_misreads']}  false-pass {f['false_passes']}  "
            f"median {f['median_ms']} ms  p95 {f['p95_ms']} ms  "
            f"(CPU median {statistics.median(tally.cpu_ms):.0f} ms)")


if __name__ == "__main__":
    sys.exit(main())
