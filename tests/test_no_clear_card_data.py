"""Run the main job, then read every file it wrote: no clear PAN, track, PIN or key.

`posrig run` runs the pytest scenarios and the Robot suites and builds the report, so
this reads device logs, Allure results and attachments, Robot's output.xml and log.html,
the journals and the report itself.
"""

from __future__ import annotations

from harness.paths import FIXTURES
from harness.profiles import load_cards, load_master_keys


def test_main_run_leaves_no_clear_card_data(main_run):
    where, run = main_run  # the session's run (tests/conftest.py), the report tests' too
    out = where.out
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]

    secrets = {}
    for card in load_cards(FIXTURES / "cards.yaml").values():
        secrets[f"PAN of {card.card_id}"] = card.pan
        secrets[f"track 2 of {card.card_id}"] = card.track2.replace("=", "D")
    for tid, key in load_master_keys(FIXTURES / "keys" / "terminals.yaml").items():
        secrets[f"TMK of {tid}"] = key.hex()
    written = [p for p in out.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert any(p.suffix == ".log" for p in written), "the run wrote no device logs to check"
    assert any(n.endswith("-attachment.txt") for n in names), "no attachments to check"
    assert {"output.xml", "log.html"} <= names, "the Robot suites wrote no output to check"
    for path in written:
        text = path.read_bytes().decode("utf-8", "replace")
        upper = text.upper()
        for what, value in secrets.items():
            assert value not in text and value.upper() not in upper, f"{what} in clear in {path}"
