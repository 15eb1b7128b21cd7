"""The `posrig` command as a person meets it: --version, a clean --help, and a mistake
told in one line (what was wrong, what to do), exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

from harness.paths import REPO
from harness.processes import RunLock


def posrig(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_version_comes_from_the_package_metadata():
    done = posrig("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"posrig {version('posrig')}"


def test_help_names_every_command_in_plain_text():
    done = posrig("--help")
    assert done.returncode == 0
    assert "``" not in done.stdout, "reStructuredText markup in the help"
    for command in ("run", "lab", "host", "receipt"):
        assert f"    {command} " in done.stdout, f"{command} missing from:\n{done.stdout}"
    assert "--version" in done.stdout
    run = posrig("run", "--help")
    assert run.returncode == 0 and "``" not in run.stdout and "130" in run.stdout


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("posrig: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "said"), [
    (("run", "--lab", "missing.yaml"), "missing.yaml: cannot read the lab inventory"),
    (("run", "--stations", "0"), "--stations must be at least 1, got 0"),
    (("lab", "up", "--lab", "missing.yaml"), "missing.yaml: cannot read the lab inventory"),
])
def test_a_mistake_is_told_in_one_line(args, said):
    assert said in _one_line_error(posrig(*args))


def test_an_out_that_cannot_be_a_directory_is_told_in_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    line = _one_line_error(posrig("run", "--out", str(blocker / "out")))
    assert str(blocker / "out") in line


def test_a_second_run_on_the_same_out_is_refused_in_one_line(tmp_path):
    with RunLock(tmp_path):
        line = _one_line_error(posrig("run", "--out", str(tmp_path), "--only", "pytest"))
    assert "another posrig run" in line and "--out" in line


def test_a_bad_listen_address_is_refused_before_anything_starts():
    done = posrig("host", "serve", "--listen", "nowhere")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'nowhere' is not an address: give HOST:PORT" in done.stderr
