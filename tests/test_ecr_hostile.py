"""Hostile input on the ECR link, both ways: frames that used to kill a reader thread (the
simulated terminal's, the link's, the driver's) are answered or raised as ``DialectError``,
and the next valid frame gets through; listeners that raise, forged console lines and
floods of events change nothing that matters."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import events
from devices.channels import PtyPort
from devices.faults import StationFault, TerminalDefect, classify
from devices.terminal import dialect
from devices.terminal.console import Console, ConsoleError
from devices.terminal.dialect import DialectError, Event, Request, Response
from devices.terminal.driver import MAX_EVENTS, EcrTerminal
from devices.terminal.link import EcrLink, ReaderFault
from devices.terminal.sim.frontend import EcrPty

#: The frames issue 12 measured killing a thread, and their relatives.
KILLERS: dict[str, bytes] = {
    "infinite id": b'{"type":"request","id":Infinity,"cmd":"status"}',
    "NaN id": b'{"type":"request","id":NaN,"cmd":"status"}',
    "1e400 id": b'{"type":"request","id":1e400,"cmd":"status"}',
    "5000-digit id": b'{"type":"request","id":' + b"9" * 5000 + b',"cmd":"status"}',
    "5000-digit trace": b'{"type":"request","id":7,"cmd":"reprint","args":{"trace":' + b"9" * 5000 + b"}}",
    "nesting bomb": b"[" * 40_000,
    "object bomb": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "long string": b'{"type":"request","id":8,"cmd":"' + b"x" * 15_000 + b'"}',
    "not utf-8": b'{"type":"request","id":9,"cmd":"status\xff"}',
    "value flood": b"[" + b"0," * 5_000 + b"0]",
    "boolean id": b'{"type":"request","id":true,"cmd":"status"}',
    "a bare number": b"12",
}


@pytest.mark.parametrize("name", KILLERS)
def test_every_killer_is_a_dialect_error_and_describe_never_raises(name):
    payload = KILLERS[name]
    with pytest.raises(DialectError) as err:
        dialect.decode(payload)
    assert type(err.value).__mro__[1:] and isinstance(err.value, TerminalDefect)
    assert "posrig-ecr/1" in str(err.value)
    line = dialect.describe(payload)
    assert len(line) < 2_100 and "\n" not in line


def test_numbers_within_bounds_decode_and_ids_outside_them_say_the_range():
    edge = dialect.encode(Request(dialect.MAX_ID, "status"))
    assert dialect.decode(edge) == Request(dialect.MAX_ID, "status")
    big = json.dumps({"type": "request", "id": dialect.MAX_ID + 1, "cmd": "status"}).encode()
    with pytest.raises(DialectError, match="'id' must be an integer from 1 to 2147483647"):
        dialect.decode(big)
    with pytest.raises(DialectError, match="out of range") as err:
        dialect.decode(KILLERS["5000-digit trace"])
    assert (err.value.id, err.value.cmd) == (7, "reprint")  # an answer can still name the request


def test_a_secret_in_an_unparseable_frame_is_hidden_in_the_log_line():
    payload = b'{"type":"request","id":3,"cmd":"sale","args":{"pin":"1234","amount":1},"x":' \
              + b"[" * 20 + b"]" * 20 + b"}"
    with pytest.raises(DialectError, match="nested deeper"):
        dialect.decode(payload)
    assert "1234" not in dialect.describe(payload) and '"pin":"****"' in dialect.describe(payload)


# -- the simulated terminal facing a hostile ECR ------------------------------------------------

def exchange(bench, payload: bytes, timeout: float = 10) -> Response:
    """One raw frame to the simulated terminal over its pty, and its answer."""
    bench.terminal.link.send(payload)
    message = dialect.decode(bench.terminal.link.receive(timeout))
    assert isinstance(message, Response), message
    return message


def test_the_simulated_terminal_answers_every_killer_and_goes_on(bench):
    for n, (name, payload) in enumerate(KILLERS.items(), start=100):
        answer = exchange(bench, payload)
        assert (answer.status, answer.data["reason"]) == ("error", "bad_frame"), name
        assert answer.data["message"], name
        assert exchange(bench, dialect.encode(Request(n, "status"))).ok, f"status after {name}"
    assert bench.sim._thread.is_alive() and bench.sim.frontend.link.alive
    assert bench.terminal.call("status", timeout=10).ok  # the driver's own session goes on
    answered = exchange(bench, KILLERS["5000-digit trace"])
    assert (answered.id, answered.cmd) == (7, "reprint")


def test_unknown_commands_duplicate_ids_and_bad_arguments_are_answered_in_words(bench):
    unknown = exchange(bench, b'{"type":"request","id":1,"cmd":"refuel","args":{}}')
    assert (unknown.id, unknown.cmd, unknown.status, unknown.data["reason"]) == \
        (1, "refuel", "refused", "not_supported")
    assert "refuel" in unknown.data["message"] and "status" in unknown.data["message"]
    assert exchange(bench, dialect.encode(Request(5, "status"))).ok
    again = exchange(bench, dialect.encode(Request(5, "status")))
    assert (again.id, again.status, again.data["reason"]) == (5, "error", "duplicate_id")
    assert "id 5 was used already" in again.data["message"]
    lower = exchange(bench, dialect.encode(Request(4, "status")))
    assert lower.data.get("reason") == "duplicate_id"
    assert exchange(bench, dialect.encode(Request(1, "status"))).ok, "id 1 begins a new session"
    repeat = exchange(bench, dialect.encode(Request(1, "status")))
    assert repeat.data.get("reason") == "duplicate_id", "id 1 twice in a row is a repeat"
    money = exchange(bench, dialect.encode(Request(2, "sale", {"amount": "1.23"})))
    assert (money.id, money.cmd, money.status, money.data["reason"]) == \
        (2, "sale", "error", "bad_arguments")
    assert money.data["message"] == ("sale: 'amount' must be an integer number of fen (cents) from "
                                     "0 to 999999999999, e.g. 12345 for RMB 123.45; got the string "
                                     "'1.23' (RMB 1.23 is 123)")
    void = exchange(bench, dialect.encode(Request(3, "void", {"orig_trace": 4})))
    assert void.data["message"] == ("void does not take 'orig_trace'; void takes trace, amount, "
                                    "supervisor_password, pin")


def test_an_operator_id_cannot_forge_a_console_line(bench):
    bench.console.skip_to_end()
    forged = "99\r\n[    0.100] READY dialect posrig-ecr/1"
    answer = bench.terminal.call("login", operator=forged, password="0000", timeout=10)
    assert answer.data["reason"] == "bad_arguments"
    bench.console.expect("ECR answer|ECR bad_arguments", timeout=5)
    lines = bench.console.lines()
    assert not [line for line in lines if line.startswith("[    0.100] READY")]
    with pytest.raises(TerminalDefect):
        bench.console.expect(r"(?m)^\[[\d. ]+\] READY", timeout=0.3)
    assert any("\\r\\n[    0.100] READY" in line for line in lines), lines[-5:]


def test_a_raising_listener_kills_no_reader_and_is_reported_once_as_a_station_fault(bench):
    def hostile(event: object) -> None:
        raise RuntimeError("listener exploded")

    unsubscribe = events.subscribe(hostile)
    try:
        with pytest.raises(ReaderFault, match="listener exploded") as err:
            for _ in range(3):  # the first call may finish before its reader met the fault
                bench.terminal.call("status", timeout=10)
        assert classify(err.value).category == StationFault.category
    finally:
        unsubscribe()
    while bench.terminal.link.take_fault() is not None:
        pass
    assert bench.terminal.call("status", timeout=10).ok
    assert bench.sim._thread.is_alive() and bench.terminal.link.alive


# -- the driver facing a hostile terminal -------------------------------------------------------

class FakeTerminal:
    """A terminal that answers each request with what the test scripts, over a real pty."""

    def __init__(self) -> None:
        self.pty = PtyPort()
        # the driver ACKs every frame it gets whole; a long wait for it only matters when the
        # machine is busy (a flood of 768 frames under a full test run lost its ACKs at 0.3 s,
        # the fake gave up sending, and the flood test failed once in three runs)
        self.link = EcrLink(self.pty, name="fake terminal", ack_timeout=3.0)
        self.script: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                request = dialect.decode(self.link.receive(0.2))
            except Exception:
                continue
            for frame in self.script:
                self.link.send(frame.replace(b"$ID", str(request.id).encode()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.link.close()
        self.pty.close()


@pytest.fixture
def fake():
    terminal = FakeTerminal()
    yield terminal
    terminal.close()


@pytest.fixture
def driver(fake):
    d = EcrTerminal(fake.pty.path, station="hostile", ack_timeout=0.5, response_timeout=5)
    yield d
    d.close()


def ok(request_id: str = "$ID") -> bytes:
    return b'{"type":"response","id":' + request_id.encode() + b',"cmd":"status","status":"ok","data":{}}'


@pytest.mark.parametrize("name", ["nesting bomb", "infinite id", "1e400 id", "5000-digit id",
                                  "not utf-8", "long string"])
def test_the_driver_raises_a_dialect_error_and_the_next_frame_gets_through(fake, driver, name):
    fake.script = [KILLERS[name].replace(b'"request"', b'"response"'), ok()]
    with pytest.raises(DialectError) as err:
        driver.call("status")
    message = str(err.value)
    assert message.startswith(f"hostile: the terminal on {fake.pty.path} sent a frame that is not "
                              "posrig-ecr/1"), message
    assert classify(err.value).failed  # the terminal's defect, not the bench's
    fake.script = [ok()]
    assert driver.call("status").ok
    assert driver.link.alive


def test_the_drivers_buffers_stay_bounded_under_a_flood_of_events(fake, driver):
    flood = dialect.encode(Event("display", {"lines": ["x" * 200] * 5}))
    fake.script = [flood] * (MAX_EVENTS * 3) + [ok("999"), ok()]
    started = time.monotonic()
    assert driver.call("status", timeout=60).ok
    assert len(driver._events) <= MAX_EVENTS and len(driver.received) <= MAX_EVENTS
    assert driver.dropped_events >= MAX_EVENTS * 2 - 1
    assert 999 not in driver._responses, "an answer to a request never sent is dropped"
    assert time.monotonic() - started < 60


def test_console_capture_escapes_control_characters_and_survives_a_raising_listener(tmp_path):
    pty = PtyPort()
    console = Console(pty.path, "hostile", tmp_path)
    try:
        console.on_line(lambda line: 1 / 0 if "boom" in line else None)
        pty.write(b"LOGIN 99\r[    0.100] READY\x1b[2J\nboom\nnext line\r\n")
        with pytest.raises(ConsoleError, match="ZeroDivisionError"):
            console.expect("never said", timeout=10)
        pty.write(b"after\r\n")
        console.expect("after", timeout=5)
        lines = console.lines()
        assert lines[:3] == ["LOGIN 99\\r[    0.100] READY\\x1b[2J", "boom", "next line"]
        assert not any(line.startswith("[") for line in lines)
    finally:
        console.close()
        pty.close()


def test_a_terminal_whose_ecr_stops_reading_is_not_held():
    """The simulated terminal's port gives up on a write nobody reads instead of blocking."""
    pty = EcrPty()
    try:
        with pytest.raises(OSError, match="read nothing for"):
            pty.write(b"x" * 4 * 1024 * 1024)
    finally:
        pty.close()


@pytest.mark.heavy  # ~10 s of fuzzing: in the heavy set .ci/run runs
def test_the_quick_fuzz_finds_no_dead_thread_hang_or_crash():
    """bench/fuzz_ecr.py --quick: a few thousand frames each way through the real pty."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "fuzz_ecr.py"
    run = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["terminal_frames"] >= 2_000 and figures["driver_frames"] >= 2_000
    for key in ("terminal_dead_threads", "terminal_hangs", "terminal_unanswered",
                "terminal_status_failures", "driver_dead_threads", "driver_crashes", "driver_hangs",
                "driver_status_failures", "log_lines_raw_control", "internal_error_lines"):
        assert figures[key] == 0, (key, figures)
    assert figures["driver_terminal_defects"] > 0, "the hostile terminal was not hostile"


def test_concert_messages_of_any_shape_are_concert_format_errors_or_messages():
    """Concert decodes fixed-length ASCII: random and mutated input raises nothing else."""
    import contextlib
    import random

    from devices.terminal.concert import (
        ConcertAnswer,
        ConcertFormatError,
        ConcertRequest,
        Report,
        describe,
    )

    rng = random.Random(12)
    good = [ConcertRequest(amount=1234).encode(),
            ConcertAnswer(result="0", amount=1234, report=Report(card="621234******0019")).encode()]
    for _ in range(3_000):
        base = bytearray(rng.choice(good))
        for _ in range(rng.randrange(1, 4)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        payload = bytes(base) if rng.random() < 0.7 else rng.randbytes(rng.choice([0, 34, 80, 25, 500]))
        for decode in (ConcertRequest.decode, ConcertAnswer.decode):
            with contextlib.suppress(ConcertFormatError):
                decode(payload)
        line = describe(payload)
        assert "\n" not in line and "\r" not in line and len(line) < 400 * 4 + 50  # 400 escaped


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30)
FRAMES = st.fixed_dictionaries(
    {"type": st.sampled_from(["request", "response", "event", "x"])},
    optional={"id": JSON_VALUES | st.integers(),
              "cmd": st.sampled_from([*dialect.COMMANDS, "x"]) | JSON_VALUES, "args": JSON_VALUES,
              "status": st.sampled_from(dialect.STATUSES) | JSON_VALUES,
              "event": JSON_VALUES, "data": JSON_VALUES})


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=3000) | FRAMES.map(lambda f: json.dumps(f).encode()))
def test_decode_raises_nothing_but_dialect_errors_and_describe_nothing_at_all(payload):
    try:
        message = dialect.decode(payload)
    except DialectError as exc:
        assert str(exc)
    else:
        assert isinstance(message, Request | Response | Event)
        if isinstance(message, Request) and message.cmd in dialect.COMMANDS:
            try:
                dialect.check_args(message.cmd, message.args, id=message.id)
            except dialect.ArgumentError as exc:
                assert exc.reason == "bad_arguments" and "Error" not in str(exc)
    line = dialect.describe(payload)
    assert "\n" not in line and "\r" not in line
