"""`posrig run` loses nothing and orphans nothing (issue 11, item 4).

- A progress line is printed from the scenario's result file: never ahead of the disk.
- Ctrl-C: the running test ends broken, "interrupted" (the fault taxonomy's verdict), the
  partial report is built, exit 130, one line says so, no traceback.
- SIGKILL of the run: every test whose line was printed has a valid result file; what the
  killed run left running is stopped by the next run, which passes.

The runs here are small (`--only pytest -- -k ...`); bench/kill_run.py kills whole runs at
ten random points. The tests that run `posrig run` are marked heavy (~20-60 s each).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.paths import REPO
from harness.processes import RUN_ENV, RunBusy, RunLock, processes_of, reap
from harness.progress import WIDTH, Ended, ResultPrinter
from harness.run import Layout

LINE = re.compile(r"^posrig \[\s*(\d+)/(\d+)\] (.*)$")
#: A selection of quick scenarios: login and sign-in, then a sale that takes a few seconds.
SUBSET = "login or signin or test_trace_numbers"
RUN_TIMEOUT_S = 300


def _result(path: Path, name: str, status: str = "passed", *, framework: str = "pytest",
            stop: int = 2000, message: str = "") -> Path:
    data = {"name": name, "status": status, "start": 1000, "stop": stop,
            "labels": [{"name": "framework", "value": framework}, {"name": "case_id", "value": "CUP-X-1"}],
            "parameters": [{"name": "station", "value": "'station-1'"}]}
    if message:
        data["statusDetails"] = {"message": message}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_line_is_printed_once_its_result_file_is_whole(tmp_path):
    out = io.StringIO()
    printer = ResultPrinter(tmp_path, out)
    totals = iter([None, 3])
    printer.begin("pytest", total_of=lambda: next(totals))
    # allure-python writes "<uuid>-result.json.tmp" and renames it: a .tmp is no result yet
    (tmp_path / "a-result.json.tmp").write_text('{"name": "half', encoding="utf-8")
    assert printer.poll() == 0 and out.getvalue() == ""
    _result(tmp_path / "b-result.json", "test_second", stop=3000)
    _result(tmp_path / "a-result.json", "test_first", "broken", stop=2500,
            message="[Rig defect] interrupted: the run was stopped (Ctrl-C / SIGINT)\nmore")
    _result(tmp_path / "c-result.json", "Robot Test", framework="robotframework")
    assert printer.poll() == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "posrig: pytest: 3 scenario(s)"
    # in the order the tests ended; the reason's first line under a line that did not pass
    assert LINE.match(lines[1]).groups()[:2] == ("1", "3")
    assert fields(LINE.match(lines[1])[3]) == ("broken", "pytest", "CUP-X-1 test_first")
    assert lines[2].strip() == "[Rig defect] interrupted: the run was stopped (Ctrl-C / SIGINT)"
    assert fields(LINE.match(lines[3])[3]) == ("passed", "pytest", "CUP-X-1 test_second")
    assert printer.poll() == 0, "a result is printed once"
    printer.begin("robot", total=1)  # the Robot result was left for the Robot lines
    assert printer.poll() == 1
    assert "robot  CUP-X-1 Robot Test" in out.getvalue().splitlines()[-1]


def test_a_card_number_in_a_reason_is_masked_and_no_directory_is_no_line(tmp_path):
    _result(tmp_path / "a-result.json", "t", "failed", message="card 6250941006528599 declined")
    out = io.StringIO()
    printer = ResultPrinter(tmp_path / "not-yet", out)
    printer.begin("pytest", total=1)
    assert printer.poll() == 0 and out.getvalue() == "posrig: pytest: 1 scenario(s)\n"
    printer.results = tmp_path
    assert printer.poll() == 1
    assert "6250941006528599" not in out.getvalue() and "625094******8599" in out.getvalue()


def test_one_run_at_a_time_on_an_out_directory(tmp_path):
    busy = rf"another posrig run \(pid {os.getpid()}\) is using"
    with RunLock(tmp_path), pytest.raises(RunBusy, match=busy), RunLock(tmp_path):
        pass
    with RunLock(tmp_path):  # let go when the run ends
        pass


def _marked_sleeper(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            env={**os.environ, RUN_ENV: str(out.resolve())}, start_new_session=True)


def test_what_a_dead_run_left_is_found_by_its_mark_and_stopped(tmp_path):
    left = _marked_sleeper(tmp_path)
    other = _marked_sleeper(tmp_path / "elsewhere")
    try:
        found = processes_of(tmp_path)
        assert [f.pid for f in found] == [left.pid]
        assert "time.sleep(600)" in found[0].command
        assert [f.pid for f in reap(tmp_path, grace_s=5)] == [left.pid]
        assert left.wait(timeout=10) == -signal.SIGTERM
        assert processes_of(tmp_path) == []
        assert other.poll() is None, "another --out's processes are not this run's"
    finally:
        for process in (left, other):
            process.kill()
            process.wait()


class Run:
    """`posrig run` in its own session, its console read line by line as it prints."""

    def __init__(self, out: Path, *args: str):
        self.out = out
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "--out", str(out), *args],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)
        self.lines: list[str] = []

    def until(self, predicate, timeout_s: float = RUN_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if predicate(self.lines[-1]):
                return self.lines[-1]
            assert time.monotonic() < deadline, "\n".join(self.lines[-40:])
        raise AssertionError("the run ended first:\n" + "\n".join(self.lines[-40:]))

    def finish(self) -> int:
        out, _ = self.process.communicate(timeout=RUN_TIMEOUT_S)
        self.lines += out.splitlines()
        return self.process.returncode

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def progress(self) -> list[tuple[str, str, str]]:
        """(status, runner, title) of each progress line printed."""
        return [fields(m[3]) for m in map(LINE.match, self.lines) if m]


def fields(rest: str) -> tuple[str, str, str]:
    """A line's status, runner and title: columns of 8, 6 and WIDTH characters."""
    return rest[:8].strip(), rest[9:15].strip(), rest[16:16 + WIDTH].strip()


def _number(line: str) -> int | None:
    match = LINE.match(line)
    return int(match[1]) if match else None


def results(out: Path) -> list[Ended]:
    """Every result file of the run, each one whole JSON (the check of a valid file)."""
    return [Ended.from_result(json.loads(p.read_text(encoding="utf-8")))
            for p in Layout(out).results.glob("*-result.json")]


def assert_every_line_has_its_result(run: Run) -> None:
    names = [(e.status, e.name) for e in results(run.out)]
    for status, _, title in run.progress():
        prefix = title.removesuffix("...")
        assert any(s == status and n.startswith(prefix) for s, n in names), \
            f"printed {status} {title!r}, but no such result file: {names}"


@pytest.mark.heavy
def test_ctrl_c_ends_the_running_test_broken_and_builds_the_partial_report(tmp_path):
    out = tmp_path / "out"
    run = Run(out, "--only", "pytest", "--", "-k", SUBSET)
    # the 7th line is the last quick one: the 8th scenario, a sale of several seconds, runs
    run.until(lambda line: _number(line) == 7)
    run.process.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.text
    assert "Traceback" not in run.text and "KeyboardInterrupt" not in run.text, run.text
    said = [line for line in run.lines if line.startswith("posrig: interrupted")]
    assert said[-1].endswith(f"partial report: {out.resolve() / 'report' / 'index.html'}"), run.text
    assert (out / "report" / "index.html").exists()
    interrupted = [e for e in results(out) if "interrupted" in e.reason]
    assert len(interrupted) == 1, [(e.name, e.status, e.reason) for e in results(out)]
    assert interrupted[0].status == "broken" and interrupted[0].reason.startswith("[Rig defect]")
    assert_every_line_has_its_result(run)
    assert processes_of(out) == [], "the run left processes behind"


@pytest.mark.heavy
def test_a_killed_run_loses_no_printed_result_and_the_next_run_cleans_up_and_passes(tmp_path):
    out = tmp_path / "out"
    run = Run(out, "--only", "pytest", "--", "-k", SUBSET)
    run.until(lambda line: _number(line) == 3)
    run.process.kill()
    run.finish()
    # checked at once: a line printed is a result already on disk, whatever happens next
    assert len(run.progress()) >= 3
    assert_every_line_has_its_result(run)
    leftover = _marked_sleeper(out)  # as if a runner of the killed run had hung
    try:
        after = Run(out, "--only", "pytest", "--", "-k", "login")
        assert after.finish() == 0, after.text
        assert re.search(r"posrig: stopped \d+ process\(es\) a killed run left: .*time\.sleep",
                         after.text), after.text
        assert leftover.wait(timeout=10) is not None
        assert processes_of(out) == []
        assert {e.status for e in results(out)} == {"passed"}
        assert_every_line_has_its_result(after)
    finally:
        leftover.kill()
        leftover.wait()


@pytest.mark.heavy
def test_two_stations_print_the_same_lines_and_ctrl_c_leaves_no_pabotlib_behind(tmp_path):
    """pabot's console goes to a file (the run prints its usual lines); on Ctrl-C each robot
    process ends its running test with a result, and pabot's pabotlib does not outlive it."""
    out = tmp_path / "out"
    run = Run(out, "--stations", "2", "--only", "robot")
    run.until(lambda line: _number(line) == 3)
    run.process.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.text
    assert all(line.startswith(("posrig", "         ")) for line in run.lines if line.strip()), run.text
    assert {runner for _, runner, _ in run.progress()} == {"robot"}
    assert "Traceback" not in run.text, run.text
    assert_every_line_has_its_result(run)
    ended = results(out)
    assert {e.station for e in ended if e.status == "passed"} <= {"station-1", "station-2"}
    assert any("interrupted" in e.reason and e.status == "broken" for e in ended), \
        [(e.name, e.status, e.reason) for e in ended]
    assert not [e for e in ended if e.status == "failed"], "an interruption is no terminal defect"
    assert processes_of(out) == [], "pabotlib or a robot process outlived the run"
