"""docs/examples/ecr_client.py, the client written from the protocol pages alone, drives a lab
started with `posrig lab up` through every flow, and the host saw what it says it did.

Heavy (a lab in its own process and a whole day of transactions, ~20 s): the test command
leaves it out and `.ci/run` runs it (`pytest -m heavy`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from devices.host.journal import Journal
from harness.paths import REPO

CLIENT = REPO / "docs" / "examples" / "ecr_client.py"


@pytest.mark.heavy
def test_the_client_from_the_pages_passes_every_flow_against_a_lab(tmp_path):
    lab = subprocess.Popen([sys.executable, "-m", "harness.cli", "lab", "up", "--stations", "1",
                            "--workdir", str(tmp_path / "lab")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        live_line = lab.stdout.readline()
        assert live_line, f"posrig lab up printed no inventory: {lab.stderr.read()[-2000:]}"
        live = json.loads(live_line)
        inventory = tmp_path / "live.json"
        inventory.write_text(live_line)
        # the client's own dependencies only: it must not need posrig on its path
        run = subprocess.run([sys.executable, str(CLIENT), str(inventory), "station-1"],
                             capture_output=True, text=True, timeout=240, cwd=tmp_path)
        lines = run.stdout.splitlines()
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert lines[-1] == "every answer as expected", lines[-1]
        answered = [" ".join(line.split(" ", 2)[:2]) for line in lines[:-1]]
        assert answered == ["status ok", "login ok", "signin ok", "sale approved", "sale approved",
                            "void approved", "refund approved", "reprint ok", "settle ok",
                            "refuel refused", "status error", "sale error"], answered
        entries = Journal.open(live["host"]["journal"]).entries(tid="10000001")
        approved = [(e.kind, e.entry_mode, e.amount) for e in entries
                    if e.kind in ("sale", "void", "refund") and e.rc == "00"]
        assert approved == [("sale", "chip", 12345), ("sale", "swipe", 1000), ("void", "chip", 12345),
                            ("refund", "swipe", 500)], approved
        assert [e.kind for e in entries].count("settlement") == 1, [e.kind for e in entries]
    finally:
        lab.send_signal(signal.SIGINT)
        lab.communicate(timeout=30)
