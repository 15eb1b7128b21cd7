"""The main job: run the certification suite on a lab and build the single-file report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from harness.paths import REPO


def run_suite(lab: str | None, out: Path, pytest_args: list[str]) -> int:
    results = out / "allure-results"
    if results.exists():
        shutil.rmtree(results)
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-p", "no:cacheprovider",
               f"--alluredir={results}", "-q", *pytest_args]
    if lab:
        command.append(f"--lab={lab}")
    print("posrig: running", " ".join(command), flush=True)
    status = subprocess.call(command, cwd=REPO)
    report = build_report(results, out)
    summary = summarize(results)
    print(f"posrig: {summary}; report: {report if report else 'not built (see above)'}")
    return status


def summarize(results: Path) -> str:
    counts: dict[str, int] = {}
    for path in results.glob("*-result.json"):
        status = json.loads(path.read_text()).get("status", "unknown")
        counts[status] = counts.get(status, 0) + 1
    total = sum(counts.values())
    return f"{total} scenarios: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def build_report(results: Path, out: Path) -> Path | None:
    """Allure 3 (npm ``allure``, installed by ``npm ci --prefix reports``) as one HTML file."""
    allure_bin = REPO / "reports" / "node_modules" / ".bin" / "allure"
    if not allure_bin.exists():
        print("posrig: the report builder is not installed; run `npm ci --prefix reports`",
              file=sys.stderr)
        return None
    report_dir = (out / "report").resolve()
    config = REPO / "reports" / "allurerc.mjs"
    command = [str(allure_bin), "generate", str(results.resolve()), "--config", str(config),
               "--output", str(report_dir)]
    if subprocess.call(command, cwd=out) != 0:
        print("posrig: the report build failed (see above)", file=sys.stderr)
        return None
    index = report_dir / "index.html"
    return index if index.exists() else report_dir
