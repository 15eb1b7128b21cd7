"""The fault matrix's quick subset: one fault per verdict, in pytest and in Robot Framework.

``bench/faults.py --quick`` injects a terminal defect (a wrong amount on the slip), a rig
defect (a test's host script the host cannot follow) and station faults (a card robot that
jams, its port gone mid-sale) on a virtual lab of two stations, in both runners, and reads
each verdict back from the Allure result files. Every fault must get the verdict its
category gives, no result may be missing, the faulted station must be quarantined with its
cause (its next test skipped) while the other one finishes its tests, and the settlement
after the faults must reconcile the host's journal with the terminal's totals (so must the
books each station is left with at the end of its run, read from the host's journal and the
terminal's flash).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.paths import REPO

BENCH = REPO / "bench" / "faults.py"
# In the test command (issue 11: a quick subset of the matrix runs there): ~25 s on 2 cores.


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("fault-matrix")
    run = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    figures["_stdout"] = run.stdout
    return figures


def test_every_quick_fault_gets_the_verdict_of_its_category(quick: dict):
    assert quick["runners"] == ["pytest", "robot"]
    assert quick["faults"] >= 8, quick
    assert quick["misclassified"] == 0, quick["_stdout"][-4000:]
    assert quick["results_lost"] == 0, quick["_stdout"][-4000:]
    expected = {"failed/Terminal defect", "broken/Station fault", "broken/Rig defect"}
    assert {key.split(" -> ")[0] for key in quick["matrix"]} == expected, quick["matrix"]


def test_faulted_station_is_quarantined_and_the_others_finish(quick: dict):
    assert quick["quarantine_wrong"] == 0, quick["_stdout"][-4000:]
    assert quick["quarantined_with_cause"] >= 2, quick
    assert quick["others_finished"] is True, quick["_stdout"][-4000:]
    for figure in ("clean_starts_passed", "reconciled", "books_reconciled_after_run"):
        ok, of = (int(n) for n in quick[figure].split("/"))
        assert ok == of > 0, (figure, quick["_stdout"][-4000:])
