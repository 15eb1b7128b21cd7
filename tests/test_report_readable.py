"""The report reads like a lab's: ISO 8583 exchanges as tables that name their fields and
mask each as it requires (MACs and DE53 are no card numbers), Robot keywords and pytest
tests with readable titles and named arguments, and a quality gate a nightly job fails on.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import allure_commons
import pytest
from allure_commons.model2 import Label
from allure_commons.model2 import TestResult as AllureResult

from devices import events
from devices.host import AcquirerHost
from devices.host.testing import lab_card, lab_config, signed_in
from devices.masking import could_be_pan, luhn_ok, scrub
from devices.payments import messages as m
from devices.payments.spec import describe, parse_description
from harness.evidence import AllureSteps
from harness.exchange_table import exchange_html
from harness.paths import REPO
from harness.report_results import readable_title, title_result
from harness.robot.allure_bridge import named_arguments

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
