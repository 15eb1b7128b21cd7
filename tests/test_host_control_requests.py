"""The host's control socket on the wire, as docs/host.md ("Control socket") gives it: the
page's exchange replayed line by line against a running host, and bad requests (no cmd, an
unknown one, unknown fields, values of the wrong JSON type, not JSON, too long) answered
with what was wrong and what to send -- never a Python exception's name -- while the
connection keeps serving and nothing is scripted by a refused request."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.host import AcquirerHost
from devices.host.control import COMMANDS, MAX_LINE, ControlError, HostControl
from devices.host.testing import LoopbackTerminal, lab_card, lab_config, terminal_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "host.md"
CHIP = lab_card("cup-debit-chip")
#: What a message written for people must not carry: a Python exception's or value's name.
PYTHON_WORDS = re.compile(r"\b\w*(Error|Exception)\b|\bNone\b|Traceback")
ANY = "\u2026any\u2026"


@pytest.fixture
def host(tmp_path) -> Iterator[AcquirerHost]:
    host = AcquirerHost(lab_config(control_path=tmp_path / "host.ctl"))
    host.start_in_thread()
    yield host
    host.stop()


class Line:
    """A raw client: what a program written from the page alone would do."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")

    def send_raw(self, raw: bytes) -> dict[str, Any] | None:
        self.file.write(raw)
        self.file.flush()
        answer = self.file.readline()
        return json.loads(answer) if answer else None

    def ask(self, line: str) -> dict[str, Any]:
        answer = self.send_raw(line.encode() + b"\n")
        assert answer is not None, f"no answer to {line}"
        return answer

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def line(host) -> Iterator[Line]:
    client = Line(host.config.control_path)
    yield client
    client.close()


def signed_in(host: AcquirerHost, tid: str = "10000001") -> LoopbackTerminal:
    assert host.port is not None
    terminal = LoopbackTerminal(host.port, terminal_config(tid, host.config.terminals[tid]), timeout=10)
    assert terminal.signin().approved
    return terminal


def page_exchange() -> list[tuple[str, str]]:
    """The ``->`` / ``<-`` lines of the Control socket section's example, and its one
    stage direction (a line in parentheses: the terminal's sale)."""
    text = DOC.read_text()
    section = text[text.index("\n## Control socket\n"):]
    section = section[:section.index("\n## ", 1)]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```")]
    steps = []
    for raw in block.splitlines():
        if raw.startswith(("-> ", "<- ")):
            steps.append((raw[:2], raw[3:]))
        elif raw.strip().startswith("("):
            steps.append(("do", raw.strip()))
    return steps


def matches(expected: Any, got: Any) -> bool:
    if expected == ANY:
        return True
    if isinstance(expected, dict):
        return (isinstance(got, dict) and set(expected) == set(got)
                and all(matches(v, got[k]) for k, v in expected.items()))
    if isinstance(expected, list):
        return (isinstance(got, list) and len(expected) == len(got)
                and all(matches(e, g) for e, g in zip(expected, got, strict=True)))
    return expected == got and type(expected) is type(got)


def test_the_pages_exchange_replays_against_a_running_host(host, line):
    terminal = signed_in(host)
    steps = page_exchange()
    assert sum(1 for kind, _ in steps if kind == "->") >= 8, "the page's example was not found"
    answer: dict[str, Any] | None = None
    for kind, text in steps:
        if kind == "->":
            answer = line.ask(text)
        elif kind == "<-":
            expected = json.loads(re.sub(r"(?<=: )\u2026(?=[,}\]])", lambda _: json.dumps(ANY), text))
            assert matches(expected, answer), f"the page says\n  {text}\nthe host answered\n  {answer}"
        else:
            assert "answered 51" in text
            assert terminal.sale(CHIP, 2_500).rc == "51"


def test_the_pages_table_lists_every_command_the_host_takes():
    text = DOC.read_text()
    section = text[text.index("\n## Control socket\n"):]
    section = section[:section.index("\n## ", 1)]
    listed = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert listed == ["cmd", *COMMANDS], "the table's rows are the host's commands, in order"


BAD = [
    ("{}", ["no \"cmd\""]),
    ('{"cmd": null}', ["\"cmd\" must be a string, got null"]),
    ('{"cmd": "nope"}', ["unknown command \"nope\""]),
    ('{"cmd": 5}', ["\"cmd\" must be a string, got an integer"]),
    ('{"cmd": "NEXT", "behaviour": {"rc": "51"}}', ["unknown command \"NEXT\""]),
    ("status", ["not JSON"]),
    ('{"cmd": "status"', ["not JSON"]),
    ("[1, 2]", ["a request is a JSON object, got an array"]),
    ('"status"', ["a request is a JSON object, got a string"]),
    ('{"cmd": "next", "rc": "51"}', ["unknown field \"rc\"", "inside \"behaviour\""]),
    ('{"cmd": "next", "times": "2"}', ["\"times\" must be an integer", "got a string, \"2\""]),
    ('{"cmd": "next", "times": 0}', ["\"times\" must be an integer, 1 or more"]),
    ('{"cmd": "next", "times": true}', ["\"times\" must be an integer", "got true or false"]),
    ('{"cmd": "next", "behaviour": "rc=51"}', ["\"behaviour\" must be an object", "got a string"]),
    ('{"cmd": "next", "behaviour": {"rc": 51}}',
     ["behaviour \"rc\" must be a string or null", "got an integer"]),
    ('{"cmd": "next", "behaviour": {"delay_ms": "300"}}', ["behaviour \"delay_ms\" must be an integer"]),
    ('{"cmd": "next", "behaviour": {"drop": "yes"}}', ["behaviour \"drop\" must be true or false"]),
    ('{"cmd": "next", "behaviour": {"explode": true}}', ["unknown behaviour \"explode\"", "rc, delay_ms"]),
    ('{"cmd": "next", "behaviour": {"rc": "5"}}', ["response code must be 2 characters"]),
    ('{"cmd": "next", "kind": "salee"}', ["unknown message kind"]),
    ('{"cmd": "next", "tid": 10000001}', ["\"tid\" must be a terminal ID (string", "got an integer"]),
    ('{"cmd": "always", "times": 2}', ["unknown field \"times\"", "use next with times"]),
    ('{"cmd": "entries", "kind": ["sale"]}', ["\"kind\" must be", "got an array"]),
    ('{"cmd": "status", "verbose": true}', ["unknown field \"verbose\"", "status takes no other field"]),
    ('{"cmd": "wallet"}', ["field \"op\" is missing", "code, order, pay, cancel, clear, orders"]),
    ('{"cmd": "wallet", "op": "fly"}', ["unknown op \"fly\""]),
    ('{"cmd": "wallet", "op": "code", "code": "6212"}', ["field \"outcome\" is missing"]),
    ('{"cmd": "wallet", "op": "code", "code": 6212, "outcome": "approve"}',
     ["\"code\" must be the payment code", "got an integer"]),
    ('{"cmd": "wallet", "op": "pay", "order": "PR1", "after_s": "5"}', ["\"after_s\" must be seconds"]),
    ('{"cmd": "wallet", "op": "pay", "order": "PR1"}', ["no order 'PR1'"]),
]


@pytest.mark.parametrize(("request_line", "says"), BAD, ids=[b[0][:40] for b in BAD])
def test_a_bad_request_is_answered_with_what_was_wrong_and_changes_nothing(host, line, request_line, says):
    answer = line.ask(request_line)
    assert answer["ok"] is False and set(answer) == {"ok", "error"}
    for fragment in says:
        assert fragment in answer["error"], answer["error"]
    assert not PYTHON_WORDS.search(answer["error"]), answer["error"]
    assert line.ask('{"cmd": "pending"}') == {"ok": True, "rules": []}, "nothing was scripted"
    assert line.ask('{"cmd": "status"}')["ok"], "the same connection still serves"


def test_no_cmd_lists_every_command_and_an_example(line):
    error = line.ask("{}")["error"]
    assert all(cmd in error for cmd in COMMANDS)
    example = re.search(r"\(e\.g\. (\{.*\})\)", error)
    assert example is not None and json.loads(example.group(1))["cmd"] in COMMANDS
    assert "docs/host.md" in error


def test_bytes_that_are_not_text_and_empty_lines(line):
    answer = line.send_raw(b"\xff\xfe{}\n")
    assert answer is not None and "not UTF-8" in answer["error"]
    assert line.send_raw(b"\n\n" + b'{"cmd": "pending"}\n') == {"ok": True, "rules": []}, \
        "empty lines are skipped, not answered"


def test_a_line_over_the_limit_is_answered_then_the_connection_closed(host, line):
    answer = line.send_raw(b'{"cmd": "status", "pad": "' + b"x" * MAX_LINE + b'"}\n')
    assert answer is not None and answer["ok"] is False
    assert f"longer than {MAX_LINE} bytes" in answer["error"]
    assert line.file.readline() == b"", "closed after answering"
    assert HostControl(host.config.control_path).status()["port"] == host.port, "the host serves on"


def test_null_is_the_same_as_leaving_a_field_out(line):
    answer = line.ask('{"cmd": "next", "tid": null, "mti": null, "kind": "sale", "times": null, '
                      '"behaviour": null}')
    assert answer == {"ok": True}
    assert line.ask('{"cmd": "pending"}')["rules"] == [
        {"tid": None, "mti": None, "kind": "sale", "remaining": 1, "behaviour": {}}]


def test_a_scripted_drop_and_a_decline_from_the_wire_alone(host, line):
    """What the page's reader needed: script declines (and a lost answer) with nothing but
    the socket, and see them happen."""
    terminal = signed_in(host)
    assert line.ask('{"cmd": "next", "tid": "10000001", "kind": "sale", "times": 2, '
                    '"behaviour": {"rc": "05"}}') == {"ok": True}
    assert [terminal.sale(CHIP, 100).rc for _ in range(3)] == ["05", "05", "00"]
    assert line.ask('{"cmd": "always", "kind": "sale", "behaviour": {"rc": "51"}}') == {"ok": True}
    assert line.ask('{"cmd": "pending"}')["rules"][0]["remaining"] is None
    assert terminal.sale(CHIP, 100).rc == "51"
    assert terminal.sale(CHIP, 100).rc == "51"
    assert line.ask('{"cmd": "clear"}') == {"ok": True}
    assert terminal.sale(CHIP, 100).rc == "00"
    rows = line.ask('{"cmd": "entries", "kind": "sale"}')["entries"]
    assert [(r["rc"], r["behaviour"]) for r in rows] == [
        ("05", "rc 05"), ("05", "rc 05"), ("00", None), ("51", "rc 51"), ("51", "rc 51"), ("00", None)]


def test_a_failure_inside_the_host_is_answered_and_the_host_serves_on(host, line, monkeypatch):
    """A host bug (no request can cause one on purpose, so one is planted): the client hears
    it is the host's fault, the connection and the host go on."""
    def broken(**_: Any) -> list:
        raise RuntimeError("journal gone")
    monkeypatch.setattr(host.journal, "entries", broken)
    answer = line.ask('{"cmd": "entries"}')
    assert answer["ok"] is False and "the host failed on this request" in answer["error"]
    assert not PYTHON_WORDS.search(answer["error"])
    assert line.ask('{"cmd": "status"}')["ok"]


def test_the_client_reports_the_hosts_words(host):
    ctl = HostControl(host.config.control_path)
    with pytest.raises(ControlError, match=r"host refused next: next: field \"times\" must be an integer"):
        ctl.next(kind="sale", times="2", rc="51")  # type: ignore[arg-type]
    with pytest.raises(ControlError, match="unknown behaviour \"explode\""):
        ctl.next(explode=True)
    assert ctl.pending() == []
