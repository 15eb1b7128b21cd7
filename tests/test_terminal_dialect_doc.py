"""docs/posrig-ecr-1.md is the contract: its tables are read here and every command, event,
prompt, printing state, status, reason and fault it lists must be what the code defines and
what the simulated terminal, driven over its link, actually does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from devices.host.qr import wallet_call
from devices.payments import qr
from devices.phone import SimulatedPhone
from devices.terminal import dialect
from devices.terminal.dialect import Response
from devices.terminal.link import LinkTimeout
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


def tables(heading: str) -> list[list[list[str]]]:
    """Every table under ``heading`` (before the next heading), each as rows of cells."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#|\Z)", PAGE, re.M | re.S)
    assert match, f"docs/posrig-ecr-1.md has no section {heading!r}"
    blocks = re.findall(r"(?:^\|.*\n?)+", match[1], re.M)
    return [[[cell.strip() for cell in row.strip("|").split("|")] for row in block.splitlines()[2:]]
            for block in blocks]


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
    # scan-to-pay: the phone's code scanned, an order shown and paid by the wallet, a void
    # of the order and a refund of part of the scanned sale
    phone = SimulatedPhone(bench.model)
    phone.show_code(qr.make_code("03", 77))
    phone.present()
    assert run("qr_sale", t.call("qr_sale", amount=1_500, timeout=20)).status == "approved"
    phone.withdraw()
    pending = t.send("qr_order", amount=600)
    shown = t.expect_event(lambda e: e.event == "display" and bool(e.data.get("qr")),
                           what="the order's code", timeout=10)
    wallet_call(bench.host, {"op": "pay", "order": qr.order_from_url(shown.data["qr"])})
    assert run("qr_order", pending.result(30)).status == "approved"
    assert run("qr_void", t.call("qr_void", trace=answers["qr_order"].data["trace"],
                                 timeout=20)).status == "approved"
    assert run("qr_refund", t.call("qr_refund", amount=500, orig_trace=answers["qr_sale"].data["trace"],
                                   timeout=20)).status == "approved"
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


# -- the JSON Schema: the page's tables and the code say the same -----------------------------------

SCHEMA = json.loads((REPO / "docs" / "posrig-ecr-1.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def schema_errors(payload: bytes) -> list[str]:
    return [f"{e.message} at {'/'.join(map(str, e.absolute_path)) or 'the top'}"
            for e in VALIDATOR.iter_errors(json.loads(payload))]


def test_the_schema_is_valid_and_says_what_the_code_and_the_page_say():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    defs = SCHEMA["$defs"]
    assert defs["request"]["properties"]["cmd"]["enum"] == list(dialect.COMMANDS)
    assert defs["request"]["properties"]["id"]["maximum"] == dialect.MAX_ID
    assert defs["response"]["properties"]["status"]["enum"] == list(dialect.STATUSES)
    assert set(defs["response"]["properties"]["data"]["properties"]["reason"]["enum"]) == \
        {names(row[0])[0] for row in table("Reasons")}
    assert defs["event"]["properties"]["event"]["enum"] == list(dialect.EVENTS)
    rules = [rule["then"]["properties"]["data"]["properties"] for rule in defs["event"]["allOf"]]
    assert rules[1]["prompt"]["enum"] == list(dialect.PROMPTS)
    assert rules[2]["state"]["enum"] == list(dialect.PRINTING_STATES)
    for cmd, spec in dialect.COMMAND_ARGS.items():
        args = defs[f"args_{cmd}"]
        assert set(args["properties"]) == set(spec), cmd
        assert set(args["required"]) == {n for n, a in spec.items() if a.required}, cmd
    answered = {rule["if"]["properties"]["cmd"]["const"]: rule["then"]["properties"]["data"]["required"]
                for rule in defs["response"]["allOf"] if "cmd" in rule["if"]["properties"]}
    assert answered == {names(row[0])[0]: names(row[2]) for row in table("Commands")}


def test_the_argument_tables_are_the_dialects():
    kinds_table, args_table = tables("Arguments")
    documented = {(names(row[0])[0], names(row[1])[0]): row[2] for row in args_table}
    code = {(cmd, name): arg.kind for cmd, spec in dialect.COMMAND_ARGS.items() for name, arg in spec.items()}
    assert documented == code
    kinds = {row[0]: row[1] for row in kinds_table}
    for kind, text in dialect.ARG_KINDS.items():
        assert text.split(",")[0].split(" (")[0] in kinds[kind], kind


# -- the page's examples, replayed against the simulated terminal ------------------------------------

WILDCARD = "…"
ACTIONS = [
    (r"the robot (inserts|swipes|taps) card ([a-z0-9-]+)",
     lambda bench, m: bench.present(m[2], {"inserts": "insert", "swipes": "swipe", "taps": "tap"}[m[1]])),
    (r"the robot types (\d+), then ENTER",
     lambda bench, m: bench.robot.press_keys([*m[1], "enter"], secret=True)),
    (r"the robot returns the card to its slot", lambda bench, m: bench.robot.return_card()),
    (r"the robot types (\d+)", lambda bench, m: bench.robot.press_keys([*m[1]], secret=True)),
    (r"the robot takes the card out of the chip reader", lambda bench, m: bench.robot.remove()),
    (r"the robot presses ENTER", lambda bench, m: bench.robot.press_keys(["enter"], secret=True)),
]


def examples() -> list[tuple[str, list[str]]]:
    section = PAGE[PAGE.index("\n## Examples\n"):PAGE.index("\n## The simulated terminal\n")]
    found = re.findall(r"^### Example: (.*?)\n.*?^```\n(.*?)^```", section, re.M | re.S)
    assert len(found) >= 8, "the page's examples were not found"
    return [(title, block.strip().splitlines()) for title, block in found]


def matches(expected: object, actual: object, where: str = "") -> str | None:
    """Why ``actual`` is not what the page shows, or None."""
    if expected == WILDCARD:
        return None
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            return f"{where or 'the frame'} has keys {sorted(actual)}, the page shows {sorted(expected)}"
        for key in expected:
            why = matches(expected[key], actual[key], f"{where}.{key}".lstrip("."))
            if why:
                return why
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            why = matches(e, a, f"{where}[{i}]")
            if why:
                return why
        return None
    if type(expected) is type(actual) and expected == actual:
        return None
    return f"{where}: the terminal sent {actual!r}, the page shows {expected!r}"


def test_the_pages_examples_are_what_the_simulated_terminal_does(bench):
    link = bench.terminal.link
    for title, lines in examples():
        for line in lines:
            if line.startswith("-> "):
                payload = line[3:].encode("utf-8")
                link.send(payload)
            elif line.startswith("<- "):
                expected = json.loads(line[3:])
                received = link.receive(20)
                why = matches(expected, json.loads(received))
                assert why is None, (f"example {title!r}: {why}\n  page:     {line[3:]}\n"
                                     f"  terminal: {received.decode()}")
                assert not schema_errors(received), (title, schema_errors(received), received)
            else:
                action = line.strip().strip("()")
                for pattern, do in ACTIONS:
                    m = re.fullmatch(pattern, action)
                    if m:
                        do(bench, m)
                        break
                else:
                    raise AssertionError(f"example {title!r}: the replay knows no action {action!r}")
        with pytest.raises(LinkTimeout):  # nothing more than the page shows
            link.receive(0.3)
    uploads = bench.journal("batch_upload")
    assert len(uploads) == 3, "two IC records (203) and the closing 207, as 'uploaded: 2' says"


def test_both_ends_frames_of_a_session_through_the_driver_fit_the_schema(bench):
    """The driver's requests and everything the terminal sends, through flows a client runs."""
    link = bench.terminal.link
    sent: list[bytes] = []
    got: list[bytes] = []
    send, receive = link.send, link.receive

    def recording_send(payload: bytes, **kw: object) -> None:
        sent.append(payload)
        send(payload, **kw)

    def recording_receive(timeout: float) -> bytes:
        payload = receive(timeout)
        got.append(payload)
        return payload

    link.send, link.receive = recording_send, recording_receive
    bench.sign_in()
    chip = bench.sale(2_000, "cup-debit-chip")
    bench.sale(500, "cup-debit-chip", "tap")
    pending = bench.terminal.send("void", trace=chip.data["trace"])
    bench.type_supervisor_password()
    assert bench.pay(pending, "cup-debit-chip").status == "approved"
    assert bench.terminal.call("sale", amount=10**9).data["reason"] == "amount_out_of_range"
    bench.terminal.call("reprint", trace=chip.data["trace"])
    bench.terminal.call("settle", timeout=30)
    bench.terminal.call("status")
    assert len(sent) >= 8 and len(got) > len(sent)
    for payload in sent + got:
        assert not schema_errors(payload), (payload[:300], schema_errors(payload))
