"""Real slips of other terminals: the layout-free reader on photos of real card-payment slips.

    python bench/receipts_real.py [--cache out/realcorpus/cache] [--repos DIR] [--only kr-01,kr-02]

The corpus is fixtures/receipts/corpus/real.yaml: where each photo comes from (a public
repository, a path, a commit, its sha256), the fields read by eye, the photo's conditions.
The photos are not in this repository. Each is taken from the cache (``--cache``, files
named ID.jpg, which out/ keeps out of git) or from a local clone of its source repository at
the manifest's commit (``--repos DIR`` holding OWNER+NAME/ or NAME/, a clone or a bare
mirror), checked against its sha256, and copied to the cache; a slip not found is skipped
and named.

Two passes over the slips:
- ``layout-free``: the dictionary and patterns alone (FreeformReader with no template);
- ``learnt``: for each family with two slips or more, a template learnt from its first slip
  (harness.receipts.learn, with the first slip's fields) reads the others.
Each slip is checked twice: with the fields read by eye (a field is right when it is ``ok``;
``unreadable`` is flagged; ``mismatch`` on a right value is a silent misread), and with a
deliberately wrong amount (a verdict of pass, or the amount ``ok``, is a false pass).
Time per slip is wall and CPU, beside the template reader reading a simulated CUP slip in the
same run (the baseline: the machine's load shows in both). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import yaml

from harness.config import ConfigError
from harness.paths import FIXTURES, REPO
from harness.receipts import formats as fm
from harness.receipts.freeform import FreeformReader, FreeformTemplate
from harness.receipts.freeform_check import SIGHTED, parse_expectation, verify
from harness.receipts.learn import learn
from harness.receipts.reader import shared_engine

MANIFEST = FIXTURES / "receipts" / "corpus" / "real.yaml"
CACHE = REPO / "out" / "realcorpus" / "cache"


@dataclass
class Tally:
    fields: int = 0
    right: int = 0
    flagged: int = 0
    silent: int = 0
    false_passes: int = 0
    slips: int = 0
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    per_field: dict[str, list[int]] = field(default_factory=dict)  # key -> [right, of]
    # how each right field was found: by its label, by its shape or learnt place (pattern),
    # or by sight (the expected id printed on its own where no label names it)
    right_by: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "slips": self.slips, "fields": self.fields,
            "field_accuracy": round(self.right / self.fields, 4) if self.fields else None,
            "flagged": self.flagged, "silent_misreads": self.silent, "false_passes": self.false_passes,
            "median_ms": round(statistics.median(self.ms), 1) if self.ms else None,
            "median_cpu_ms": round(statistics.median(self.cpu_ms), 1) if self.cpu_ms else None,
            "per_field": {k: f"{r}/{n}" for k, (r, n) in sorted(self.per_field.items())},
            "right_by": dict(sorted(self.right_by.items())),
        }


def locate(slip: dict[str, Any], sources: dict[str, Any], cache: Path, repos: Path | None) -> Path | None:
    """The slip's photo in the cache, or taken from a local clone of its source and cached."""
    target = cache / f"{slip['id']}{Path(slip['path']).suffix.lower()}"
    if target.is_file() and _sha256(target) == slip["sha256"]:
        return target
    if repos is None:
        return None
    owner, name = slip["source"].split("/")
    commit = sources[slip["source"]]["commit"]
    for candidate in (repos / f"{owner}+{name}" / "repo", repos / f"{owner}+{name}", repos / name):
        if not candidate.exists():
            continue
        out = subprocess.run(["git", "-C", str(candidate), "show", f"{commit}:{slip['path']}"],
                             capture_output=True, check=False, timeout=60)
        if out.returncode == 0 and hashlib.sha256(out.stdout).hexdigest() == slip["sha256"]:
            cache.mkdir(parents=True, exist_ok=True)
            target.write_bytes(out.stdout)
            return target
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wrong_amount(text: str) -> str:
    """The slip's amount made wrong as a terminal could print it: one unit more, or a
    thousand more in a currency without decimals (KRW 29,000)."""
    value = fm.expect_amount(text, fm.Formats())
    if value == value.to_integral_value() and not any(len(p) in (1, 2) for p in
                                                       text.replace(",", ".").split(".")[1:]):
        return f"{int(value) + 1000:,}"
    return f"{value + 1:.2f}"


def check(reader: FreeformReader, frame: Any, slip: dict[str, Any], *tallies: Tally) -> list[str]:
    """Verify one slip twice (its real fields, then a wrong amount), count it in each tally;
    returns notes (silent misreads, false passes, expectations the family cannot hold)."""
    notes = []
    given = {}
    for k, v in slip["fields"].items():
        try:
            given[k] = parse_expectation(reader, k, v)
        except ConfigError as exc:  # the family's template cannot hold this slip's value
            notes.append(f"{k} not checked: {exc}")
    t0, c0 = time.perf_counter(), time.process_time()
    verdict = verify(reader, frame, given)
    ms, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
    false_pass = False
    if "amount" in given:
        off = wrong_amount(slip["fields"]["amount"])
        wrong = dict(given, amount=parse_expectation(reader, "amount", off))
        bad = verify(reader, frame, wrong)
        amount = next((c for c in bad.checks if c.key == "amount"), None)
        if bad.status == "pass" or (amount is not None and amount.status == "ok"):
            false_pass = True
            notes.append(f"FALSE PASS with amount {off}")
    notes.extend(f"SILENT {c.line()}" for c in verdict.checks
                 if c.key in given and c.status not in ("ok", "unreadable"))
    for tally in tallies:
        tally.ms.append(ms)
        tally.cpu_ms.append(cpu)
        tally.slips += 1
        tally.false_passes += false_pass
        for c in verdict.checks:
            if c.key not in given:
                continue
            counts = tally.per_field.setdefault(c.key, [0, 0])
            counts[1] += 1
            tally.fields += 1
            if c.status == "ok":
                tally.right += 1
                counts[0] += 1
                got = verdict.reading.fields.get(c.key)
                how = "sight" if c.detail == SIGHTED else \
                    "label" if got is not None and got.label_box is not None else "pattern"
                tally.right_by[how] = tally.right_by.get(how, 0) + 1
            elif c.status == "unreadable":
                tally.flagged += 1
            else:
                tally.silent += 1
    return notes


def baseline_ms(runs: int) -> tuple[float, float]:
    """The template reader on a simulated CUP slip at camera level L1: median wall, CPU ms."""
    from devices.camera import scene
    from devices.camera.render import render_slip
    from harness.receipts import PrintLimits, ReceiptReader
    from harness.receipts.corpus import make_sample

    raw = yaml.safe_load((FIXTURES / "receipts" / "cup-standard.yaml").read_text(encoding="utf-8"))
    reader = ReceiptReader(raw, PrintLimits(), engine=shared_engine())
    wall, cpu = [], []
    for i in range(runs + 1):
        s = make_sample(raw, random.Random(i))
        frame = scene.render_scene(render_slip(s.slip).image, "L1", i)
        t0, c0 = time.perf_counter(), time.process_time()
        reader.verify(frame, s.witnesses)
        if i:  # the first read learns the labels
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=str(CACHE),
                    help="where photos are kept as ID.jpg (default out/realcorpus/cache)")
    ap.add_argument("--repos", default=None, help="a folder with local clones of the source repositories")
    ap.add_argument("--only", default=None, help="comma-separated slip ids")
    ap.add_argument("--baseline-runs", type=int, default=5)
    ap.add_argument("--cli", action="store_true",
                    help="also run `posrig receipt read PHOTO --json` on each slip, as a person does: "
                         "the time it prints (the reading, both tries) and the command's wall time "
                         "(Python, imports, models loaded)")
    args = ap.parse_args()

    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    slips = [s for s in manifest["slips"] if not args.only or s["id"] in args.only.split(",")]
    cache, repos = Path(args.cache), Path(args.repos) if args.repos else None
    print(f"receipts_real bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
          file=sys.stderr)
    found: list[tuple[dict[str, Any], Any]] = []
    missing = []
    for slip in slips:
        path = locate(slip, manifest["sources"], cache, repos)
        if path is None:
            missing.append(slip["id"])
            print(f"{slip['id']}: not available (not in {cache} with sha256 {slip['sha256'][:12]}…, and no "
                  f"clone of {slip['source']} at {manifest['sources'][slip['source']]['commit'][:10]} under "
                  "--repos): skipped", file=sys.stderr)
            continue
        found.append((slip, cv2.imread(str(path), cv2.IMREAD_COLOR)))
    if not found:
        print(json.dumps({"slips": 0, "missing": missing, "error": "no photo of the corpus available"}))
        return 2

    generic = FreeformReader(engine=shared_engine())
    generic.read(found[0][1])  # load the detector before timing
    base_wall, base_cpu = baseline_ms(args.baseline_runs)

    results: dict[str, Any] = {}
    free = Tally()
    by_country: dict[str, Tally] = {}
    by_part = {"development": Tally(), "held_out": Tally()}
    for slip, frame in found:
        country = by_country.setdefault(slip["country"], Tally())
        part = by_part["held_out" if slip.get("held_out") else "development"]
        for note in check(generic, frame, slip, free, country, part):
            print(f"{slip['id']}: {note}", file=sys.stderr)
        print(f"{slip['id']}: layout-free {free.ms[-1]:.0f} ms, {free.cpu_ms[-1]:.0f} ms CPU",
              file=sys.stderr)
    brief = ("slips", "fields", "field_accuracy", "flagged", "silent_misreads", "false_passes", "right_by")
    results["layout_free"] = free.figures()
    results["layout_free"]["by_country"] = {
        c: {k: v for k, v in t.figures().items() if k in brief} for c, t in sorted(by_country.items())}
    # slips nobody tuned the reader on (real.yaml's held_out) apart from the rest
    results["layout_free"]["by_part"] = {
        p: {k: v for k, v in t.figures().items() if k in brief} for p, t in by_part.items() if t.slips}

    learnt = Tally()
    families: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for slip, frame in found:
        families.setdefault(slip.get("family", slip["id"]), []).append((slip, frame))
    learnt_from = {}
    for family, members in families.items():
        if len(members) < 2:
            continue
        first, frame = members[0]
        items = [f"{k}={v}" for k, v in first["fields"].items()]
        template, report = learn(generic, frame, items, name=family)
        learnt_from[family] = {"from": first["id"], "not_found": [line.split(":")[0] for line in report
                                                                 if "NOT FOUND" in line]}
        reader = FreeformReader(FreeformTemplate.from_dict(template), engine=shared_engine())
        for slip, other in members[1:]:
            for note in check(reader, other, slip, learnt):
                print(f"{slip['id']} ({family}): {note}", file=sys.stderr)
            print(f"{slip['id']}: learnt from {first['id']} {learnt.ms[-1]:.0f} ms", file=sys.stderr)
    results["learnt"] = learnt.figures()
    results["learnt"]["families"] = learnt_from
    countries = sorted({s["country"] for s, _ in found})
    scripts = sorted({s["script"] for s, _ in found})
    results.update({
        "countries": countries, "scripts": scripts, "missing": missing,
        "baseline_template_reader_ms": round(base_wall, 1),
        "baseline_template_reader_cpu_ms": round(base_cpu, 1),
        "layout_free_over_baseline": round(free.figures()["median_ms"] / base_wall, 2) if base_wall else None,
        "layout_free_cpu_over_baseline":
            round(free.figures()["median_cpu_ms"] / base_cpu, 2) if base_cpu else None,
        "load_average": round(os.getloadavg()[0], 1),
    })
    if args.cli:
        results["cli"] = cli_times([locate(s, manifest["sources"], cache, repos) for s, _ in found])
    print(f"layout-free: {json.dumps(free.figures())}", file=sys.stderr)
    print(f"learnt: {json.dumps(learnt.figures())}", file=sys.stderr)
    print(json.dumps(results, ensure_ascii=False))


def cli_times(paths: list[Path | None]) -> dict[str, Any]:
    """Median of the time ``posrig receipt read --json`` prints and of its wall time, per photo."""
    printed, wall = [], []
    for path in paths:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "harness.cli", "receipt", "read", str(path), "--json"],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
        wall.append((time.perf_counter() - started) * 1000)
        line = next((x for x in out.stdout.splitlines() if x.startswith("{")), None)
        if line is None:
            raise SystemExit(f"posrig receipt read {path}: no JSON answer (exit {out.returncode}): "
                             f"{out.stderr.strip()[-300:]}")
        printed.append(json.loads(line)["ms"])
    return {"photos": len(printed), "median_printed_ms": round(statistics.median(printed), 1),
            "median_command_wall_ms": round(statistics.median(wall), 1)}
    return 0


if __name__ == "__main__":
    sys.exit(main())
