"""Screen states: the screen reader's accuracy per display camera level, and its time per read,
against whole-frame OCR in the same run.

    python bench/screen.py [--seeds 3] [--levels L0,L1,L2,L3] [--baseline-seeds 1] [--no-baseline]

Every screen the simulated terminal shows (devices/display/screens.py: one or more per state
of the simulated profile's screen: section, 27 screens, 25 states) is rendered by the
display camera's scene (devices/display/scene.py) at each level with ``--seeds`` seeds (a
camera pose and glare each), passed through JPEG as the MJPEG stream sends it, and read by
the screen reader (find the screen, its rows, recognise only the rows). A read is right
when its state (the first that matches, in the profile's order) is the screen's and what
the state captures (a decline's code) is right; a wrong read is counted apart when it names
another state of the profile (a silent misread) rather than none (``expect`` reads on).
The baseline reads the same frames (its first ``--baseline-seeds`` seeds) with the OCR's
whole-frame detection and recognition and the same patterns (no region: it has no screen
to place one in).

Times are wall-clock per read on this machine, as loaded as it is: the load average is
printed and in the JSON line, and the ratio baseline / reader (both measured in this run,
interleaved frame by frame) is the figure that survives the load. The last line is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from devices.display.scene import render_display
from devices.display.screens import SCREENS
from harness.paths import FIXTURES
from harness.profiles import load_profile
from harness.receipts import shared_engine
from harness.screen import ScreenReader, ScreenReading

LEVELS = ("L0", "L1", "L2", "L3")
PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"


@dataclass
class Tally:
    reads: int = 0
    right: int = 0
    other_state: int = 0  # read as another state of the profile: a silent misread
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def add(self, reading: ScreenReading, state: str, groups: dict[str, str], seconds: float,
            cpu: float) -> None:
        self.reads += 1
        self.seconds.append(seconds)
        self.cpu.append(cpu)
        ok = reading.state == state and all(reading.groups[state].get(k) == v for k, v in groups.items())
        if ok:
            self.right += 1
        else:
            self.wrong.append(f"{state} read as {reading.state} ({reading.text})")
            if reading.state is not None and reading.state != state:
                self.other_state += 1

    def figures(self) -> dict[str, Any]:
        ms = sorted(s * 1000 for s in self.seconds)
        return {"reads": self.reads, "accuracy": round(self.right / self.reads, 3) if self.reads else None,
                "read_as_another_state": self.other_state,
                "median_ms": round(statistics.median(ms), 1) if ms else None,
                "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1) if ms else None,
                "median_cpu_ms": round(statistics.median(self.cpu) * 1000, 1) if self.cpu else None}


def timed(read: Callable[[np.ndarray], ScreenReading], frame: np.ndarray) -> tuple[ScreenReading, float]:
    """A read and the CPU time the process spent on it (all its threads: the OCR runs two)."""
    cpu = time.process_time()
    reading = read(frame)
    return reading, time.process_time() - cpu


def through_jpeg(frame: np.ndarray) -> np.ndarray:
    """The frame as the MJPEG stream delivers it (quality 90, as devices/camera/sim.py sends)."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="camera poses per screen and level")
    ap.add_argument("--levels", default=",".join(LEVELS))
    ap.add_argument("--baseline-seeds", type=int, default=1,
                    help="of those, how many the whole-frame baseline also reads (it is slow)")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    levels = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown or args.seeds < 1 or args.baseline_seeds < 0:
        ap.error(f"levels among {', '.join(LEVELS)} (got {unknown}), --seeds >= 1, --baseline-seeds >= 0")
    profile = load_profile(PROFILE).screen
    assert profile is not None, f"{PROFILE} has no screen: section"
    reader = ScreenReader(profile, engine=shared_engine())
    # load the models and warm both paths before any timing
    warm = through_jpeg(render_display(SCREENS[0][1], "L0", 0).frame)
    reader.read(warm)
    if not args.no_baseline:
        reader.read_page(warm)
    load_start = os.getloadavg()[0]
    print(f"screen bench: {os.cpu_count()} cores, load average {load_start:.1f}, {len(SCREENS)} screens "
          f"x {args.seeds} seeds per level", file=sys.stderr)

    results: dict[str, Any] = {"bench": "screen", "cores": os.cpu_count(), "screens": len(SCREENS),
                               "states": len({s for s, _c, _g in SCREENS}), "seeds": args.seeds,
                               "load_start": round(load_start, 1), "levels": {}}
    all_reader, all_base, paired = Tally(), Tally(), Tally()
    started = time.monotonic()
    for level in levels:
        mine, base = Tally(), Tally()
        for seed in range(args.seeds):
            for index, (state, content, groups) in enumerate(SCREENS):
                frame = through_jpeg(render_display(content, level, 1000 * seed + index).frame)
                reading, cpu = timed(reader.read, frame)
                mine.add(reading, state, groups, reading.seconds, cpu)
                all_reader.add(reading, state, groups, reading.seconds, cpu)
                if not args.no_baseline and seed < args.baseline_seeds:
                    paired.add(reading, state, groups, reading.seconds, cpu)
                    page, cpu = timed(reader.read_page, frame)
                    base.add(page, state, groups, page.seconds, cpu)
                    all_base.add(page, state, groups, page.seconds, cpu)
        entry = {"reader": mine.figures()}
        if base.reads:
            entry["baseline"] = base.figures()
        results["levels"][level] = entry
        line = (f"{level}: reader {mine.right}/{mine.reads} right, median {entry['reader']['median_ms']} ms"
                f" (p90 {entry['reader']['p90_ms']}, CPU {entry['reader']['median_cpu_ms']} ms)")
        if base.reads:
            line += (f"; whole-frame baseline {base.right}/{base.reads} right, median "
                     f"{entry['baseline']['median_ms']} ms")
        print(line, file=sys.stderr)
        for miss in mine.wrong[:6]:
            print(f"    missed: {miss}", file=sys.stderr)
    results["reader"] = all_reader.figures()
    if all_base.reads:
        results["baseline"] = all_base.figures()
        # baseline / reader over the same frames (the baseline reads the first seeds only),
        # each pair read one right after the other: the load is the same for both
        results["speedup_vs_baseline"] = round(
            statistics.median(all_base.seconds) / statistics.median(paired.seconds), 2)
        results["cpu_ratio_vs_baseline"] = round(
            statistics.median(all_base.cpu) / statistics.median(paired.cpu), 2)
    results["goal_median_ms"] = 150
    results["load_end"] = round(os.getloadavg()[0], 1)
    results["wall_s"] = round(time.monotonic() - started, 1)
    print(f"load average at the end {results['load_end']:.1f}", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
