"""Run the scenarios, then read every file the run wrote: no clear PAN, track, PIN or key."""

from __future__ import annotations

import subprocess
import sys

from harness.paths import FIXTURES, REPO
from harness.profiles import load_cards, load_master_keys


def test_scenario_run_leaves_no_clear_card_data(tmp_path):
    results, basetemp = tmp_path / "allure-results", tmp_path / "basetemp"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-q", "-p", "no:cacheprovider",
         f"--alluredir={results}", f"--basetemp={basetemp}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

    secrets = {}
    for card in load_cards(FIXTURES / "cards.yaml").values():
        secrets[f"PAN of {card.card_id}"] = card.pan
        secrets[f"track 2 of {card.card_id}"] = card.track2.replace("=", "D")
    for tid, key in load_master_keys(FIXTURES / "keys" / "terminals.yaml").items():
        secrets[f"TMK of {tid}"] = key.hex()
    written = [p for p in (*results.rglob("*"), *basetemp.rglob("*")) if p.is_file()]
    logs = [p for p in written if p.suffix == ".log"]
    assert logs, "the run wrote no device logs to check"
    assert any(p.name.endswith("-attachment.txt") for p in written), "no attachments to check"
    for path in written:
        text = path.read_bytes().decode("utf-8", "replace")
        upper = text.upper()
        for what, value in secrets.items():
            assert value not in text and value.upper() not in upper, f"{what} in clear in {path}"
