"""The report reads like a lab's: ISO 8583 exchanges as tables that name their fields and
mask each as it requires (MACs and DE53 are no card numbers), Robot keywords and pytest
tests with readable titles and named arguments, and a quality gate a nightly job fails on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from uuid import uuid4

import allure_commons
import pytest
from allure_commons.model2 import Label
from allure_commons.model2 import TestResult as AllureResult
from test_report_verdicts import ALLURE, needs

from devices import events
from devices.host import AcquirerHost
from devices.host.testing import lab_card, lab_config, signed_in
from devices.masking import could_be_pan, luhn_ok, scrub
from devices.payments import messages as m
from devices.payments.spec import describe, parse_description
from harness.evidence import AllureSteps
from harness.exchange_table import exchange_html
from harness.paths import REPO
from harness.quality_gate import GATE_ENV, GateRules, QualityGateError, run_status
from harness.report_results import readable_title, title_result
from harness.report_view import embedded
from harness.robot.allure_bridge import named_arguments
from harness.run import Layout, build_report

CHIP = lab_card("cup-debit-chip")


class _Tables(HTMLParser):
    """The tables of an exchange attachment: caption -> {DE: (name, value)}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, tuple[str, str]]] = {}
        self._caption: str | None = None
        self._cells: list[str] | None = None
        self._text: list[str] = []
        self._in = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("caption", "td"):
            self._in, self._text = tag, []
        elif tag == "tr":
            self._cells = []

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._caption = "".join(self._text)
            self.tables[self._caption] = {}
        elif tag == "td" and self._cells is not None:
            self._cells.append("".join(self._text))
        elif tag == "tr" and self._cells and self._caption is not None:
            de, name, value = self._cells
            self.tables[self._caption][de] = (name, value)
        if tag in ("caption", "td"):
            self._in = ""


def tables_of(html: str) -> dict[str, dict[str, tuple[str, str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


class _Recorder:
    """Stands in for Allure's listener: what AllureSteps attaches, by name."""

    def __init__(self) -> None:
        self.attached: list[tuple[str, str, str]] = []

    @allure_commons.hookimpl
    def start_step(self, uuid, title, params) -> None:
        pass

    @allure_commons.hookimpl
    def stop_step(self, uuid, exc_type, exc_val, exc_tb) -> None:
        pass

    @allure_commons.hookimpl
    def attach_data(self, body, name, attachment_type, extension) -> None:
        mime = attachment_type if isinstance(attachment_type, str) else attachment_type.mime_type
        self.attached.append((name, mime, body.decode() if isinstance(body, bytes) else body))


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    plugin = _Recorder()
    allure_commons.plugin_manager.register(plugin)
    yield plugin
    allure_commons.plugin_manager.unregister(plugin)


@pytest.fixture
def host() -> Iterator[AcquirerHost]:
    host = AcquirerHost(lab_config(clock=lambda: datetime(2026, 3, 4, 5, 6, 7)))
    host.start_in_thread()
    yield host
    host.stop()


def test_a_real_exchange_is_a_table_naming_its_fields_with_de53_and_both_macs(host, recorder):
    terminal = signed_in(host)
    steps = AllureSteps("station-1", "10000001", thread_id=threading.get_ident())
    try:
        with events.step("station-1/flow", "sale"):
            out = terminal.sale_request(CHIP, 4300)
            answer = terminal.send(out)
    finally:
        steps.close()
    request, response = m.unpack(out.wire).doc, m.unpack(answer).doc
    assert response["39"] == "00" and {"52", "53", "64"} <= request.keys() and "64" in response

    [(_, mime, html)] = [a for a in recorder.attached if a[0] == "ISO 8583 exchange"]
    assert mime == "text/html"
    tables = tables_of(html)
    assert list(tables) == ["0200 financial request", "0210 financial response"]
    sent, received = tables.values()
    assert sent["2"] == ("Primary account number", CHIP.masked_pan)
    assert sent["4"] == ("Amount, fen", "000000004300")
    assert sent["53"] == ("Security related control information", request["53"])
    assert sent["52"] == ("PIN block (encrypted)", "not shown (secret)")
    assert sent["35"][1].endswith("digits, not shown") and sent["55"][1].endswith("bytes, not shown")
    for table, doc in ((sent, request), (received, response)):
        assert table["64"] == ("MAC", f"{doc['64'][:8]} {doc['64'][8:]}")
    assert received["39"] == ("Response code", "00")
    assert received["38"][0] == "Authorisation code" and received["37"][1] == response["37"]
    # nothing of the card in clear: PAN, track, PIN block
    for secret in (CHIP.pan, CHIP.track2.replace("=", "D"), request["52"], request["35"]):
        assert secret not in html and secret.upper() not in html.upper()


def _luhn_digits_hex() -> str:
    """A MAC whose hex is 16 decimal digits passing Luhn, as a response MAC sometimes is."""
    for n in range(10_000):
        mac = f"31323334353637{n % 100:02d}"
        if luhn_ok(mac):
            return mac
    raise AssertionError("no Luhn-valid MAC in range")


def test_a_mac_and_de53_that_pass_luhn_survive_the_last_guard():
    mac = _luhn_digits_hex()
    assert luhn_ok(mac) and luhn_ok("2600000000000000")  # what the guard used to mask
    request = {"t": "0200", "2": CHIP.pan, "41": "10000001", "53": "2600000000000000", "64": mac}
    response = {"t": "0210", "39": "00", "41": "10000001", "64": mac}
    line = scrub(f"{describe(request)} -> {describe(response)}")  # as devices.events.log does
    html = scrub(exchange_html([f"2026-03-04T05:06:07.000 {line}"]) or "")  # as _attach does
    sent, received = tables_of(html).values()
    assert sent["53"][1] == "2600000000000000"
    assert sent["64"][1] == received["64"][1] == f"{mac[:8]} {mac[8:]}"
    assert sent["2"][1] == CHIP.masked_pan and CHIP.pan not in html


def _luhn_completed(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


def test_the_guard_still_masks_every_run_that_could_be_a_card_number():
    assert scrub(f"pan {CHIP.pan} end") == f"pan {CHIP.masked_pan} end"
    # DE53's structure (13 zeros at the end) is what is left alone; 12 zeros are not enough
    assert not could_be_pan("2600000000000000") and not could_be_pan("0000000000000")
    near = _luhn_completed("621" + "0" * 12)
    assert near[-1] != "0" and could_be_pan(near) and scrub(near) == f"{near[:6]}******{near[-4:]}"


def test_descriptions_read_back_exactly_whatever_a_field_holds():
    hostile = 'CUP 64=ABCDEF12 "quoted" \\ back\nline <script>'
    doc = {"t": "0210", "39": "00", "44": "", "63": hostile, "64": "0123456789ABCDEF"}
    line = f"0200 3=000000 -> {describe(doc)} [proc 3]"
    exchange = parse_description(line)
    assert exchange is not None and exchange.note == "proc 3"
    assert dict(exchange.response.fields) == {
        "39": "00", "44": "", "63": hostile.replace("\n", "\\n"), "64": "01234567 89ABCDEF"}
    html = exchange_html([f"2026-03-04T05:06:07.000 {line}"]) or ""
    assert "&lt;script&gt;" in html and "<script>" not in html
    rejected = parse_description("format error: 0200: bad length in DE4 -> 0210 39=30")
    assert rejected is not None and rejected.request is None
    assert rejected.response is not None and rejected.response.fields == (("39", "30"),)
    assert parse_description("acquirer host listening on 127.0.0.1:5000") is None
    assert exchange_html(["2026-03-04T05:06:07.000 acquirer host listening"]) is None


# -- titles and named arguments -----------------------------------------------------------

def test_robot_arguments_are_named_by_robot_s_rules():
    from robot.running.arguments import PythonArgumentParser

    def sale(amount_fen: int, card: str, entry: str = "insert", *more: str, pin: str = "", **kw: str):
        """A keyword's signature."""

    spec = PythonArgumentParser().parse(sale)
    assert named_arguments(spec, ["4300", "cup-debit-chip", "entry=tap"]) == [
        ("amount_fen", "4300"), ("card", "cup-debit-chip"), ("entry", "tap")]
    # named only at the end (Robot reads them from there); extra positionals are *more
    assert named_arguments(spec, ["1", "c", "entry=x", "y", "pin=1234", "other=2"]) == [
        ("amount_fen", "1"), ("card", "c"), ("entry", "entry=x"), ("more[1]", "y"),
        ("pin", "1234"), ("other", "2")]

    def strict(a: str, b: str = "") -> None:
        """No **kwargs: an unknown name=value is a positional value."""

    assert named_arguments(PythonArgumentParser().parse(strict), ["1", "c=2", "3"]) == [
        ("a", "1"), ("b", "c=2"), ("arg3", "3")]


def _results(directory: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in directory.glob("*-result.json")]


def _all_steps(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        yield step
        yield from _all_steps(step.get("steps", []))


def test_robot_keywords_read_as_keywords_with_named_arguments(tmp_path: Path):
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "robot", "--outputdir", str(tmp_path / "robot"), "--report", "NONE",
         "--log", "NONE", "--console", "none", "--listener", f"allure_robotframework:{results}",
         "--variable", f"POSRIG_WORKDIR:{tmp_path / 'work'}", "--test", "Wrong Password Is Refused",
         str(REPO / "scenarios" / "robot" / "login.robot")],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [result] = _results(results)
    assert result["name"] == "CUP-LOGIN-002: Wrong Password Is Refused"
    labels = {label["name"]: label["value"] for label in result["labels"]}
    assert labels["terminal_model"] == "posrig-sim" and labels["firmware"] == "1.0.0"
    steps = {s["name"]: [(p["name"], p["value"]) for p in s.get("parameters", [])]
             for s in _all_steps(result["steps"])}
    assert steps["Log In Operator"] == [("password", "999999")]
    assert steps["Should Be Equal"] == [("first", "${login.data}[reason]"), ("second", "wrong_password")]
    assert not [name for name in steps if "PosrigLibrary" in name or name.startswith("BuiltIn.")]
    assert not [p for params in steps.values() for p, _ in params if re.fullmatch(r"arg\d+", p)]
    fixtures = [f["name"] for c in (json.loads(p.read_text()) for p in results.glob("*-container.json"))
                for f in (*c.get("befores", []), *c.get("afters", []))]
    assert {"Claim Station", "Fresh Terminal", "Restore Bench"} <= set(fixtures)


def test_pytest_tests_are_titled_as_sentences_with_their_case(tmp_path: Path):
    (tmp_path / "test_titles.py").write_text(
        "import pytest\n\n"
        "def test_wrong_pin_is_declined_55():\n    pass\n\n"
        "@pytest.mark.parametrize('mode', ['001', '004'])\n"
        "def test_sign_in_with_each_key_layout(mode):\n    pass\n\n"
        "@pytest.mark.skip(reason='never run')\n"
        "def test_mac_of_a_skipped_test():\n    pass\n", encoding="utf-8")
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_titles.py"),
         f"--alluredir={results}", f"--rootdir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert sorted(r["name"] for r in _results(results)) == [
        "MAC of a skipped test", "Sign in with each key layout [001]",
        "Sign in with each key layout [004]", "Wrong PIN is declined 55"]


def test_a_title_carries_the_case_id_and_leaves_a_test_s_own_title_alone():
    def result(name: str, full_name: str, framework: str, case: str | None) -> AllureResult:
        labels = [Label("framework", framework)] + ([Label("case_id", case)] if case else [])
        return AllureResult(name=name, fullName=full_name, labels=labels)

    pytest_result = result("test_sale_is_approved[x]", "scenarios.test_sale#test_sale_is_approved",
                           "pytest", "CUP-SALE-001")
    own = result("A title of its own", "scenarios.test_sale#test_sale_is_approved", "pytest", None)
    robot = result("Chip Sale Is Approved", "Sale.Chip Sale Is Approved", "robotframework", "CUP-SALE-001")
    for r in (pytest_result, own, robot):
        title_result(r)
    assert pytest_result.name == "CUP-SALE-001: Sale is approved [x]"
    assert own.name == "A title of its own"
    assert robot.name == "CUP-SALE-001: Chip Sale Is Approved"
    assert readable_title("test_ecr_link_survives_a_bad_lrc") == "ECR link survives a bad lrc"


# -- a trend per terminal model and firmware, and the quality gate ---------------------------

def _night(results: Path, firmware: str, statuses: dict[str, str], start: int) -> None:
    """One night's results as the runners write them (the labels report_results.py adds)."""
    if results.exists():
        shutil.rmtree(results)  # a report shows one run; the history file stays (as posrig run does)
    results.mkdir(parents=True)
    for n, (function, status) in enumerate(statuses.items()):
        result = {
            "uuid": str(uuid4()), "name": readable_title(function, "CUP-SALE-001"),
            "fullName": f"scenarios.test_sale#{function}", "status": status,
            "start": start + n, "stop": start + n + 500,
            "labels": [{"name": "framework", "value": "pytest"},
                       {"name": "case_id", "value": "CUP-SALE-001"},
                       {"name": "terminal_model", "value": "posrig-sim"},
                       {"name": "firmware", "value": firmware}],
            "parameters": [{"name": "station", "value": "'station-1'"},
                           {"name": "terminal model", "value": "'posrig-sim'", "excluded": True},
                           {"name": "firmware", "value": f"'{firmware}'", "excluded": True}]}
        if status != "passed":
            result["statusDetails"] = {"message": "[Terminal defect] AssertionError: the sale was declined"}
        (results / f"{result['uuid']}-result.json").write_text(json.dumps(result), encoding="utf-8")


def _dynamics(index: Path) -> dict[str, list[dict]]:
    """The report's status trend per environment ("general": all of them), oldest first."""
    charts = embedded(index, "widgets/charts.json")
    out = {}
    for env, chart_set in (("general", charts["general"]), *charts["byEnv"].items()):
        [trend] = [c for c in chart_set.values() if c["type"] == "statusDynamics"]
        out[env] = [point["statistic"] for point in trend["data"]]
    return out


@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_each_terminal_model_and_firmware_has_its_own_trend_across_nights(tmp_path: Path):
    needs(ALLURE, "the report builder (npm ci --prefix reports)")
    where = Layout(tmp_path / "out")
    tests = ("test_chip_sale_is_approved", "test_contactless_sale_is_approved")
    _night(where.results, "1.0.0", dict(zip(tests, ("passed", "failed"), strict=True)), 1_000_000)
    assert build_report(where) is not None
    _night(where.results, "1.0.0", dict(zip(tests, ("passed", "passed"), strict=True)), 2_000_000)
    index = build_report(where)
    assert index is not None
    history = [json.loads(line) for line in (where.out / "allure-history.jsonl").read_text().splitlines()]
    assert len(history) == 2  # two nights, two points
    assert [env["name"] for env in embedded(index, "widgets/environments.json")
            if env["id"] != "default"] == ["posrig-sim firmware 1.0.0"]
    trend = _dynamics(index)["posrig-sim_1-0-0"]
    assert [(p.get("passed", 0), p.get("failed", 0)) for p in trend] == [(1, 1), (2, 0)]

    # a new firmware: its own environment, whose trend starts with it; each test's history
    # (its id leaves model and firmware out) runs on across the change
    _night(where.results, "1.0.1", dict(zip(tests, ("passed", "broken"), strict=True)), 3_000_000)
    index = build_report(where)
    assert index is not None
    trend = _dynamics(index)
    assert trend["posrig-sim_1-0-1"][-1] == {"total": 2, "passed": 1, "broken": 1}
    assert all(p["total"] == 0 for p in trend["posrig-sim_1-0-1"][:-1])
    assert [p["total"] for p in trend["general"]] == [2, 2, 2]
    nights = [json.loads(line) for line in (where.out / "allure-history.jsonl").read_text().splitlines()]
    assert len(nights) == 3 and len({frozenset(n["testResults"]) for n in nights}) == 1
    assert {t["environment"] for t in nights[-1]["testResults"].values()} == {"posrig-sim firmware 1.0.1"}

    # the quality gate over the last night: one broken test
    lines: list[str] = []
    assert run_status(where.results, lines.append, passed=False, completed=True, environ={}) == 1
    assert lines == []  # no gate set: "every scenario passed" decides, as before
    gate = {GATE_ENV: "maxFailures=1 minTestsCount=2"}
    assert run_status(where.results, lines.append, passed=False, completed=True, environ=gate) == 0
    assert lines == ["quality gate passed (maxFailures=1 minTestsCount=2)"]
    lines.clear()
    gate = {GATE_ENV: "maxFailures=0, minTestsCount=3, successRate=0.9"}
    assert run_status(where.results, lines.append, passed=False, completed=True, environ=gate) == 1
    assert [line.rsplit("(", 1)[1] for line in lines] == ["maxFailures)", "minTestsCount)", "successRate)"]
    assert lines[0].startswith("quality gate failed: The number of failed tests 1 exceeds")
    assert run_status(where.results, lines.append, passed=True, completed=False,
                      environ={GATE_ENV: "maxFailures=5"}) == 1  # a gate never passes an unfinished run
    assert len((where.out / "allure-history.jsonl").read_text().splitlines()) == 3  # the gate adds no night


def test_a_bad_gate_says_what_to_write():
    for text, said in (("maxFailure=0", "is not a rule"), ("successRate=95", "0.95 for 95 %"),
                       ("minTestsCount=many", "a whole number"), (" ", "names no rule")):
        with pytest.raises(QualityGateError, match=said):
            GateRules.parse(text)
    assert GateRules.parse("maxFailures=0,successRate=0.95").arguments() == [
        "--max-failures", "0", "--success-rate", "0.95"]


def test_posrig_run_says_a_bad_gate_before_it_runs_anything(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--out", str(tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, GATE_ENV: "maxFailures=0 succesRate=0.9"})
    assert done.returncode == 2, done.stdout + done.stderr
    said = (done.stdout + done.stderr).strip().splitlines()
    assert said == ["posrig: POSRIG_QUALITY_GATE: 'succesRate=0.9' is not a rule; write name=value "
                    "with a name of maxFailures, minTestsCount, successRate (e.g. maxFailures=0)"]
    assert not (tmp_path / "out" / "allure-results").exists()
