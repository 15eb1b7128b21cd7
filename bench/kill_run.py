"""`posrig run` killed with SIGKILL at random points: nothing it printed is lost, nothing
it started stays behind, and the next run passes (issue 11, item 4).

    python bench/kill_run.py [--kills 10] [--seed 1] [--out DIR] [--quick] [-- PYTEST ARGS]

First a whole run (the baseline: how long a run takes here, how many progress lines it
prints, how it ends). Then ``--kills`` runs on the same ``--out``, each killed (SIGKILL, the
run's own process only, as the OOM killer or a CI timeout would) at a random point of its
progress: 0-2 s after a random one of those lines (0: before the first). After each
kill, at once: every progress line the run printed must name a scenario whose result file
is on disk and valid JSON; the processes the run started that are still running are
counted (the runners get SIGINT from the kernel and end their test; the next run stops
what is left and says so). Last, one more run on the same ``--out``: it must end as the
baseline did (exit 0 when the suite passes) and leave no process behind.

``--quick``: 2 kills of the pytest scenarios only (``--only pytest``), for a look in a
minute or two. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's posrig

from harness.paths import REPO
from harness.processes import processes_of
from harness.progress import WIDTH, Ended

LINE = re.compile(r"^posrig \[\s*\d+/\d+\] (.*)$")
STOPPED = re.compile(r"^posrig: stopped (\d+) process\(es\) a killed run left")
RUN_TIMEOUT_S = 1200
#: How often the console is read for the kill point's line.
WATCH_PERIOD_S = 0.05


def progress_lines(console: Path) -> list[tuple[str, str]]:
    """(status, title) of each whole progress line in a run's console."""
    text = console.read_text(encoding="utf-8", errors="replace")
    whole = text[: text.rfind("\n") + 1]
    out = []
    for line in whole.splitlines():
        match = LINE.match(line)
        if match:
            rest = match[1]
            out.append((rest[:8].strip(), rest[16:16 + WIDTH].strip()))
    return out


def check_results(results: Path) -> tuple[list[tuple[str, str]], int]:
    """(status, name) of every valid result file, and how many result files are not valid."""
    valid, invalid = [], 0
    for path in results.glob("*-result.json"):
        try:
            ended = Ended.from_result(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            invalid += 1
            continue
        valid.append((ended.status, ended.name))
    return valid, invalid


@dataclass(frozen=True)
class KillPoint:
    """After the ``lines``-th progress line (0: before the first), ``delay_s`` later."""

    lines: int
    delay_s: float


def run(out: Path, console: Path, args: list[str], kill: KillPoint | None) -> tuple[int | None, float]:
    """One ``posrig run``, its console in a file (no pipe a killed reader could break);
    (exit status, or None when it was killed before it ended; seconds it ran)."""
    command = [sys.executable, "-m", "harness.cli", "run", "--out", str(out), *args]
    with console.open("wb") as stdout:
        process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    start = time.monotonic()
    if kill is None:
        return process.wait(timeout=RUN_TIMEOUT_S), time.monotonic() - start
    # a point of the run's progress, not of the clock: on a shared machine a run's length
    # varies several fold, and a time drawn from one run may fall after the next has ended
    while process.poll() is None and len(progress_lines(console)) < kill.lines:
        time.sleep(WATCH_PERIOD_S)
    try:
        return process.wait(timeout=kill.delay_s), time.monotonic() - start
    except subprocess.TimeoutExpired:
        pass
    process.kill()  # SIGKILL to the run itself: it gets no chance to clean up
    process.wait()
    return None, time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=None, help="how many killed runs (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="the runs' --out (default: a new temporary one)")
    parser.add_argument("--quick", action="store_true", help="2 kills of the pytest scenarios only")
    parser.add_argument("pytest_args", nargs="*", help="passed to posrig run after --")
    options = parser.parse_args()
    kills = options.kills if options.kills is not None else (2 if options.quick else 10)
    args = (["--only", "pytest"] if options.quick else []) + \
        (["--", *options.pytest_args] if options.pytest_args else [])
    out = Path(options.out or tempfile.mkdtemp(prefix="posrig-kill-run-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)

    baseline_exit, baseline_s = run(out, out / "console-baseline.txt", args, None)
    baseline_lines = len(progress_lines(out / "console-baseline.txt"))
    print(f"baseline: exit {baseline_exit} in {baseline_s:.1f} s, {baseline_lines} progress lines",
          flush=True)
    killed = []
    for index in range(kills):
        point = KillPoint(rng.randrange(0, max(baseline_lines, 1)), round(rng.uniform(0.0, 2.0), 2))
        console = out / f"console-kill-{index + 1}.txt"
        status, ran_s = run(out, console, args, point)
        printed = progress_lines(console)
        valid, invalid = check_results(out / "allure-results")
        lost = [f"{s} {t}" for s, t in printed
                if not any(vs == s and vn.startswith(t.removesuffix("...")) for vs, vn in valid)]
        running = processes_of(out)
        said = console.read_text(errors="replace").splitlines()
        stopped = [int(m[1]) for m in map(STOPPED.match, said) if m]
        killed.append({"at_line": point.lines, "delay_s": point.delay_s, "at_s": round(ran_s, 1),
                       "ended_before_kill": status is not None, "lines": len(printed),
                       "lost": lost, "invalid_results": invalid, "running_after_kill": len(running),
                       "stopped_at_start": sum(stopped)})
        print(f"kill {index + 1}/{kills} {point.delay_s} s after line {point.lines} ({ran_s:.1f} s"
              f"{', ended first' if status is not None else ''}): {len(printed)} line(s) printed, "
              f"{len(lost)} without a result, {invalid} invalid result file(s), {len(running)} process(es) "
              f"still running; this run stopped {sum(stopped)} left by the one before", flush=True)

    final_exit, final_s = run(out, out / "console-final.txt", args, None)
    final_console = (out / "console-final.txt").read_text(errors="replace").splitlines()
    stopped_by_final = sum(int(m[1]) for m in map(STOPPED.match, final_console) if m)
    left_after_final = processes_of(out)
    summary = {
        "bench": "kill_run", "kills": kills, "seed": options.seed, "quick": options.quick,
        "baseline_s": round(baseline_s, 1), "baseline_exit": baseline_exit, "baseline_lines": baseline_lines,
        "kill_after_line": [k["at_line"] for k in killed], "kill_at_s": [k["at_s"] for k in killed],
        "killed_mid_run": sum(not k["ended_before_kill"] for k in killed),
        "lines_printed": sum(k["lines"] for k in killed),
        "lines_without_result": sum(len(k["lost"]) for k in killed),
        "invalid_result_files": sum(k["invalid_results"] for k in killed),
        "processes_running_after_kill": [k["running_after_kill"] for k in killed],
        "stopped_by_next_run": sum(k["stopped_at_start"] for k in killed[1:]) + stopped_by_final,
        "final_exit": final_exit, "final_s": round(final_s, 1),
        "final_as_baseline": final_exit == baseline_exit,
        "processes_left_after_final": len(left_after_final), "out": str(out),
    }
    print(json.dumps(summary))
    ok = summary["lines_without_result"] == 0 and summary["invalid_result_files"] == 0 \
        and summary["final_as_baseline"] and not left_after_final
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
