"""What a live simulated camera costs, what the driver's frozen check costs, and whether
live frames read as well as the still ones.

    python bench/camera_live.py [--seconds 4] [--slips 6] [--levels L0,L1,L2]

A live camera's frames differ in their noise; the simulated tray and display cameras add
``devices.camera.scene.flicker``'s noise (one gray level, eight precomputed patterns encoded
once per scene) so that the driver can take a stream that repeats one frame for a frozen
camera (docs/camera.md). Measured in one run:

- ``stream``: the process's CPU per second of streaming (the server, and one OpenCV client
  decoding every frame, as the rig does), live against frozen -- the baseline, the same
  JPEG bytes every frame, as the simulator sent before it was live; for the tray camera
  (10 fps, a slip on the tray) and the display camera (5 fps), ``--seconds`` each;
- ``per_scene``: what a change of scene costs the server: rendering it (the baseline) and
  encoding its eight live frames;
- ``driver``: the driver's check of each frame against the one before (``identical``)
  against decoding the frame, per frame;
- ``accuracy``: ``--slips`` CUP slips per level printed onto the simulated tray and read by
  the receipt reader from the stream's settled live frame, and from the still frame the
  simulator rendered (the baseline): the share of fields verified and slips passed.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np
import yaml

from devices.bench_model import BenchModel
from devices.camera import OpenCvCamera, SimulatedCamera, scene
from devices.camera.driver import identical
from devices.camera.render import render_slip_image
from devices.camera.sim import JPEG_QUALITY
from devices.display import SimulatedDisplay
from harness.paths import FIXTURES
from harness.receipts.corpus import make_sample
from harness.receipts.reader import ReceiptReader, shared_engine
from harness.receipts.template import PrintLimits, ReceiptTemplate

PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"
TEMPLATE = FIXTURES / "receipts" / "cup-standard.yaml"


def _encode(frame: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()


def _stream_cpu(server: Any, seconds: float) -> tuple[float, float]:
    """CPU ms per second of the whole process, and frames per second, while one client reads."""
    with OpenCvCamera(server.url, station="bench", frozen_after=None) as cam:
        cam.frame()  # the stream is up
        frames = 0
        t0, c0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            if cam.frame(1.0) is not None:
                frames += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return cpu * 1000 / wall, frames / wall


def stream(seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    sample = make_sample(raw, random.Random(1))
    model = BenchModel("bench", {})
    model.print_slip(sample.slip)
    for name, server in (("tray", SimulatedCamera(model, level="L1", seed=1, fps=10)),
                         ("display", SimulatedDisplay(model, level="L1", seed=1, fps=5))):
        if name == "display":
            server.screen.show("交易成功 APPROVED", "RMB 43.21")
        with server:
            server.truth()  # rendered before anything is timed
            server.freeze()
            frozen, fps_frozen = _stream_cpu(server, seconds)
            server.thaw()
            live, fps_live = _stream_cpu(server, seconds)
        out[name] = {"fps": server.fps, "live_cpu_ms_per_s": round(live, 1),
                     "frozen_cpu_ms_per_s": round(frozen, 1), "ratio": round(live / frozen, 3),
                     "frames_per_s_live": round(fps_live, 1), "frames_per_s_frozen": round(fps_frozen, 1)}
        print(f"stream {name}: live {live:.0f} ms CPU/s, frozen (baseline) {frozen:.0f} ms CPU/s, "
              f"x{live / frozen:.2f}; {fps_live:.1f} / {fps_frozen:.1f} frames/s", file=sys.stderr)
    return out


def per_scene(rounds: int = 5) -> dict[str, Any]:
    raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    paper = render_slip_image(make_sample(raw, random.Random(2)).slip)
    render_ms, live_ms = [], []
    for i in range(rounds):
        t0 = time.perf_counter()
        still = scene.render_scene_with_truth(paper, "L1", i).frame
        _encode(still)
        t1 = time.perf_counter()
        for k in range(scene.FLICKER_FRAMES):
            _encode(scene.flicker(still, k))
        t2 = time.perf_counter()
        render_ms.append((t1 - t0) * 1000)
        live_ms.append((t2 - t1) * 1000)
    render, live = statistics.median(render_ms), statistics.median(live_ms)
    print(f"per scene: render {render:.0f} ms (baseline), {scene.FLICKER_FRAMES} live frames "
          f"{live:.0f} ms, x{live / render:.2f}", file=sys.stderr)
    return {"render_ms": round(render, 1), "live_frames_ms": round(live, 1), "ratio": round(live / render, 3)}


def driver(rounds: int = 200) -> dict[str, Any]:
    still = scene.render_scene(None, "L1", 3)
    a = cv2.imdecode(np.frombuffer(_encode(scene.flicker(still, 0)), np.uint8), cv2.IMREAD_COLOR)
    jpeg = _encode(scene.flicker(still, 1))
    b = a.copy()  # the worst case: identical, so every pixel is compared
    t0 = time.perf_counter()
    for _ in range(rounds):
        identical(a, b)
    t1 = time.perf_counter()
    for _ in range(rounds // 4):
        cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    t2 = time.perf_counter()
    check, decode = (t1 - t0) * 1000 / rounds, (t2 - t1) * 1000 / (rounds // 4)
    print(f"driver per frame: identical {check:.2f} ms, decode (baseline) {decode:.2f} ms, "
          f"x{check / decode:.3f}", file=sys.stderr)
    return {"identical_ms": round(check, 3), "decode_ms": round(decode, 2), "ratio": round(check / decode, 4)}


def accuracy(levels: list[str], slips: int, seed: int) -> dict[str, Any]:
    raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    reader = ReceiptReader(ReceiptTemplate.from_dict(raw), PrintLimits.from_profile(PROFILE),
                           engine=shared_engine())
    out: dict[str, Any] = {}
    for level in levels:
        rng = random.Random(f"{seed}-{level}")
        tally = {"live": [0, 0, 0], "still": [0, 0, 0]}  # fields ok, fields, slips passed
        model = BenchModel("bench", {})
        with SimulatedCamera(model, level=level, seed=seed, fps=10) as sim, \
                OpenCvCamera(sim.url, station="bench") as cam:
            for i in range(slips):
                sample = make_sample(raw, rng, kind=("sale", "void")[i % 2],
                                     copy=("merchant", "customer")[(i // 2) % 2])
                before = cam.grab()
                model.print_slip(sample.slip)
                frames = {"live": cam.grab_settled(changed_from=before, timeout=10),
                          "still": sim.truth().frame}
                for kind, frame in frames.items():
                    verdict = reader.verify(frame, sample.witnesses)
                    counts = tally[kind]
                    counts[0] += sum(c.status == "ok" for c in verdict.checks)
                    counts[1] += len(verdict.checks) or len(reader.template.fields)
                    counts[2] += verdict.status == "pass"
        figures = {kind: {"field_accuracy": round(ok / total, 4) if total else None, "slips_passed": passed,
                          "slips": slips}
                   for kind, (ok, total, passed) in tally.items()}
        out[level] = figures
        print(f"accuracy {level}: live {figures['live']['field_accuracy']:.2%} "
              f"({figures['live']['slips_passed']}/{slips} slips), still (baseline) "
              f"{figures['still']['field_accuracy']:.2%} ({figures['still']['slips_passed']}/{slips})",
              file=sys.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="streaming per camera and mode (default 4)")
    ap.add_argument("--slips", type=int, default=6, help="slips read per level (default 6; 0: none)")
    ap.add_argument("--levels", default="L0,L1,L2")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    load = [round(os.getloadavg()[0], 1)]
    print(f"camera_live bench: {os.cpu_count()} cores, load average {load[0]}", file=sys.stderr)
    figures: dict[str, Any] = {
        "stream": stream(args.seconds), "per_scene": per_scene(), "driver": driver(),
        "accuracy": accuracy(args.levels.split(","), args.slips, args.seed) if args.slips else {},
    }
    load.append(round(os.getloadavg()[0], 1))
    figures["load_average"] = load
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
