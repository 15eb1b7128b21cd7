"""docs/posrig-ecr-1.md is the contract: its tables are read here and every command, event,
prompt, printing state, status, reason and fault it lists must be what the code defines and
what the simulated terminal, driven over its link, actually does."""

from __future__ import annotations

import re
from pathlib import Path

from devices.terminal import dialect
from devices.terminal.dialect import Response
from devices.terminal.sim.faults import FAULTS
from devices.terminal.sim.terminal import HANDLERS

REPO = Path(__file__).resolve().parents[1]
PAGE = (REPO / "docs" / "posrig-ecr-1.md").read_text(encoding="utf-8")
SIM_SOURCES = [*(REPO / "devices" / "terminal" / "sim").glob("*.py"),
               REPO / "devices" / "terminal" / "dialect.py"]
DIALECT_SOURCE = (REPO / "devices" / "terminal" / "dialect.py").read_text()


def table(heading: str) -> list[list[str]]:
    """Rows (cells stripped) of the first table under the heading ``heading``."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#|\Z)", PAGE, re.M | re.S)
    assert match, f"docs/posrig-ecr-1.md has no section {heading!r}"
    rows = [line for line in match[1].splitlines() if line.startswith("|")]
    assert len(rows) > 2, f"section {heading!r} has no table"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def names(cell: str) -> list[str]:
    return re.findall(r"`([a-z_0-9]+)`", cell)


def first(heading: str) -> set[str]:
    return {names(row[0])[0] for row in table(heading)}


def test_the_page_lists_exactly_what_the_dialect_defines():
    assert first("Commands") == set(dialect.COMMANDS)
    assert first("Events") == set(dialect.EVENTS)
    assert first("Prompts") == set(dialect.PROMPTS)
    assert first("Printing states") == set(dialect.PRINTING_STATES)
    assert first("Status of a response") == set(dialect.STATUSES)


def test_every_documented_command_has_a_handler_in_the_simulated_terminal():
    assert first("Commands") == set(HANDLERS)


def test_reasons_documented_are_the_reasons_the_simulator_gives():
    code = "\n".join(p.read_text() for p in SIM_SOURCES)
    given = set(re.findall(r'(?:Refusal|Rejection)\(\s*"[a-z]+",\s*"([a-z_]+)"', code))
    given |= set(re.findall(r'\breason(?::\s*str)?\s*=\s*"([a-z_]+)"', DIALECT_SOURCE))
    given |= set(re.findall(r'"reason":\s*"([a-z_]+)"', code))
    given |= set(re.findall(r'timeout_reason(?::\s*str)?\s*=\s*"([a-z_]+)"', code))
    documented = {names(row[0])[0]: row[1] for row in table("Reasons")}
    assert set(documented) == given - {"98"}  # 98 is a reversal's DE39, not an ECR reason
    assert set(documented.values()) <= set(dialect.STATUSES)


def test_faults_documented_are_the_faults_the_simulator_has():
    assert {names(row[0])[0]: row[1] for row in table("The simulated terminal")} == FAULTS


def test_every_command_event_prompt_and_printing_state_happens_over_the_link(bench):
    """One session through every command; each answer carries the documented data."""
    documented = {names(row[0])[0]: names(row[2]) for row in table("Commands")}
    answers: dict[str, Response] = {}

    def run(cmd: str, response: Response) -> Response:
        answers[cmd] = response
        return response

    t = bench.terminal
    run("login", t.call("login", operator="01", password="0000"))
    run("signin", t.call("signin", timeout=20))
    # a card without a chip inserted: told to swipe, then swiped
    pending = t.send("sale", amount=1_000)
    t.expect_prompt("insert_card", timeout=10)
    bench.present("cup-magstripe", "insert")
    t.expect_prompt("swipe_card", timeout=10)
    bench.robot.remove()
    bench.robot.swipe()
    bench.robot.press_keys([*bench.card("cup-magstripe").pin, "enter"], secret=True)
    bench.robot.return_card()
    assert run("sale", pending.result(20)).status == "approved"
    chip_sale = bench.sale(2_000, "cup-debit-chip")
    pending = t.send("void", trace=chip_sale.data["trace"])
    t.expect_prompt("supervisor_password", timeout=10)
    bench.robot.press_keys([*"123456", "enter"], secret=True)
    assert run("void", bench.pay(pending, "cup-debit-chip")).status == "approved"
    pending = t.send("refund", amount=500, orig_trace=answers["sale"].data["trace"])
    bench.type_supervisor_password()
    assert run("refund", bench.pay(pending, "cup-magstripe", "swipe")).status == "approved"
    bench.sim.faults.set("out_of_paper")
    run("reprint", t.call("reprint", trace=chip_sale.data["trace"]))
    bench.sim.faults.clear()
    assert run("settle", t.call("settle", timeout=30)).ok
    run("status", t.call("status"))
    seen = list(t.received)

    for cmd, keys in documented.items():
        assert answers[cmd].status in ("ok", "approved"), f"{cmd}: {answers[cmd]}"
        missing = set(keys) - set(answers[cmd].data)
        assert not missing, f"{cmd} answer lacks documented {sorted(missing)}"
    kinds = {e.event for e in seen}
    prompts = {e.data["prompt"] for e in seen if e.event == "prompt"}
    printing = {e.data["state"] for e in seen if e.event == "printing"}
    assert kinds == first("Events")
    assert prompts == first("Prompts")
    assert printing == first("Printing states")
