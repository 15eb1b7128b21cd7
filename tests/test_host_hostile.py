"""The host-side killers of issue 12, each as a test: log injection, a pipelining client
stalling every terminal, idle connections locking terminals out, a WAL growing without
bound or left after a stop, rejected connections writing megabytes, a second host taking
over the first's journal and control socket, a 2-worker host closing a long pipelined line.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from devices import events
from devices.host import AcquirerHost, HostBusyError, HostError, Journal, core
from devices.host import journal as journal_module
from devices.host.control import HostControl
from devices.host.testing import lab_config, signed_in
from devices.payments import framing
from devices.payments.spec import decode_message, describe, encode_message
from devices.text import escape_controls

ROOT = Path(__file__).resolve().parents[1]
TPDU = bytes.fromhex("6000030000")
HEADER = framing.make_header()
MERCHANT = "898100012340001"
#: A raw control character: what a terminal printing the line would obey.
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def echo_wire(tid: str) -> bytes:
    return framing.encode_frame(TPDU, HEADER, encode_message(
        {"t": "0820", "41": tid, "42": MERCHANT, "60": "00000001301"}))


def clock() -> datetime:  # importable: a worker process calls it
    return datetime(2026, 3, 4, 5, 6, 7)


@pytest.fixture
def host() -> Iterator[AcquirerHost]:
    host = AcquirerHost(lab_config(clock=clock))
    host.start_in_thread()
    yield host
    host.stop()


def host_lines() -> tuple[list[str], object]:
    lines: list[str] = []

    def keep(event: events.StepEvent | events.LogEvent) -> None:
        if isinstance(event, events.LogEvent) and event.source == "host":
            lines.append(event.text)

    return lines, events.subscribe(keep)


def count_frames(sock: socket.socket, count: int) -> list[bytes]:
    """Read ``n`` whole answers off ``sock``."""
    return [framing.read_frame(sock) for _ in range(count)]


# -- log injection ------------------------------------------------------------------------
def test_escape_controls_writes_every_control_character_visibly():
    assert escape_controls("01 \n<forged>") == "01 \\n<forged>"
    assert escape_controls("a\r\x1b[2J\x00\x7f\x85\u2028\u202e") == \
        "a\\r\\x1b[2J\\x00\\x7f\\x85\\u2028\\u202e"
    text = "收银员 01 银联 ok\\n"
    assert escape_controls(text) is text  # nothing to escape: the same object


def test_a_sign_in_with_a_newline_in_de63_prints_no_forged_line(host):
    lines, unsubscribe = host_lines()
    try:
        doc = {"t": "0800", "11": "000001", "41": "10000001", "42": MERCHANT,
               "60": "00000001003", "63": "01 \n<forged> READY\x1b[2J"}
        with socket.create_connection(("127.0.0.1", host.port), timeout=5) as sock:
            sock.sendall(framing.encode_frame(TPDU, HEADER, encode_message(doc)))
            framing.read_frame(sock)
    finally:
        unsubscribe()  # type: ignore[operator]
    forged = [line for line in lines if "<forged>" in line]
    assert len(forged) == 1 and forged[0].startswith("0800 ")  # inside the exchange's line
    assert not any(RAW.search(line) for line in lines)


def test_every_host_log_line_is_one_line_whatever_a_field_holds():
    lines, unsubscribe = host_lines()
    try:
        core.log(describe({"t": "0800", "63": "01\r\n[    0.100] READY\x85\u2028\u202e\x7f"}))
        core.log("rejected: unreadable message: bad DE63 '\n[ 0.1] READY'")
    finally:
        unsubscribe()  # type: ignore[operator]
    assert len(lines) == 2 and lines[0].startswith("0800 63=") and "READY" in lines[0]
    assert not any(RAW.search(line) for line in lines)


# -- fairness -------------------------------------------------------------------------------
@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_a_terminal_signs_in_between_the_frames_of_a_client_pipelining_thousands(host):
    """One client sends 20,000 echoes at once (it reads its answers meanwhile). Once the
    host has started on them, another terminal signs in: it is served within a few turns,
    not after the socket read of thousands of frames the host used to handle in one step."""
    echoes = 20_000
    hog = socket.create_connection(("127.0.0.1", host.port), timeout=30)
    answered = []
    reader = threading.Thread(target=lambda: answered.extend(count_frames(hog, echoes)), daemon=True)
    reader.start()
    threading.Thread(target=hog.sendall, args=(echo_wire("10000003") * echoes,), daemon=True).start()
    deadline = time.monotonic() + 30
    while not host.journal.entries(tid="10000003") and time.monotonic() < deadline:
        time.sleep(0.005)  # polls for the host to have started on the hog's frames
    try:
        signed_in(host, "10000002")
        rows = host.journal.entries()
        signin = next(index for index, row in enumerate(rows) if row.tid == "10000002")
        echoes_before = sum(row.tid == "10000003" for row in rows[:signin])
        assert echoes_before < 2_000, f"{echoes_before} echoes were handled before the sign-in"
        reader.join(60)
        assert len(answered) == echoes  # and the hog lost nothing
    finally:
        hog.close()


# -- connection limits ----------------------------------------------------------------------
def test_idle_connections_from_one_peer_never_lock_a_terminal_out():
    host = AcquirerHost(lab_config(clock=clock, max_connections=32, max_connections_per_peer=16))
    host.start_in_thread()
    idle = [socket.create_connection(("127.0.0.1", host.port), timeout=5) for _ in range(40)]
    try:
        signed_in(host, "10000001")  # served at once, not after idle_timeout
        notes = [entry.note for entry in host.journal.entries(kind="rejected")]
        assert any("16 connections from 127.0.0.1" in (note or "") for note in notes), notes
    finally:
        for sock in idle:
            sock.close()
        host.stop()


def test_a_connection_that_sends_nothing_is_closed_after_the_first_frame_timeout():
    host = AcquirerHost(lab_config(clock=clock, first_frame_timeout=0.3, idle_timeout=30))
    host.start_in_thread()
    try:
        with socket.create_connection(("127.0.0.1", host.port), timeout=10) as silent:
            assert silent.recv(1) == b""  # closed by the host, long before idle_timeout
        assert "no frame within 0.3 s" in host.journal.entries(kind="rejected")[0].note
    finally:
        host.stop()


def test_rejected_connections_are_journaled_per_peer_not_one_row_each(host):
    connections = 200
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", host.port), timeout=5) as sock:
            sock.sendall(b"\xff\xff")
            assert sock.recv(1) == b""
    deadline = time.monotonic() + 10  # the last second's summary is written by the sweeper
    counted = 0
    while time.monotonic() < deadline:
        rows = host.journal.entries(kind="rejected")
        counted = sum(int(match.group(1)) if (match := re.match(r"(\d+) more connection", row.note or ""))
                      else 1 for row in rows)
        if counted == connections:
            break
        time.sleep(0.05)
    assert counted == connections, "every rejection is accounted for, in full or in a summary"
    assert len(rows) < connections / 4
    assert "at most 4096" in rows[0].note and "(from 127.0.0.1)" in rows[0].note


# -- the journal's WAL and a second host ----------------------------------------------------
def test_the_wal_is_truncated_under_steady_writes_and_gone_after_close(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "WAL_LIMIT", 256 * 1024)
    monkeypatch.setattr(journal_module, "CHECKPOINT_PERIOD", 0.02)
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, checkpoint="thread")
    wal = Path(f"{path}-wal")
    truncated = False
    for number in range(4_000):  # ~8 KiB of WAL a commit: 30 MiB if nothing truncated it
        journal.record(at="2026-03-04T05:06:07.000", kind="echo", tid="10000001", stan=str(number))
        size = wal.stat().st_size if wal.exists() else 0
        truncated = truncated or (number > 100 and size < 64 * 1024)
    assert truncated, "the checkpoint thread never truncated the WAL"
    assert journal.wal_max < 16 * 2**20
    journal.close()
    assert sorted(file.name for file in tmp_path.iterdir()) == ["journal.sqlite"]
    assert len(journal.entries(kind="echo")) == 4_000  # still readable after close
    assert sorted(file.name for file in tmp_path.iterdir()) == ["journal.sqlite"]


def test_a_stopped_host_leaves_only_its_journal(tmp_path):
    host = AcquirerHost(lab_config(clock=clock, journal_path=tmp_path / "j.sqlite",
                                   control_path=tmp_path / "host.ctl"))
    host.start_in_thread()
    signed_in(host, "10000001")
    host.stop()
    assert sorted(file.name for file in tmp_path.iterdir()) == ["j.sqlite"]
    assert [entry.kind for entry in host.journal.entries()] == ["signin"]


def test_a_second_host_on_the_same_journal_refuses_naming_the_first(tmp_path):
    first = AcquirerHost(lab_config(clock=clock, journal_path=tmp_path / "j.sqlite",
                                    control_path=tmp_path / "host.ctl"))
    first.start_in_thread()
    try:
        with pytest.raises(HostBusyError) as refused:
            AcquirerHost(lab_config(clock=clock, journal_path=tmp_path / "j.sqlite"))
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and str(tmp_path / "host.ctl") in message
        assert f"127.0.0.1:{first.port}" in message
    finally:
        first.stop()
    again = AcquirerHost(lab_config(clock=clock, journal_path=tmp_path / "j.sqlite"))
    again.start_in_thread()  # the first one stopped: its lock went with it
    again.stop()


def test_a_second_host_on_the_same_control_socket_refuses(tmp_path):
    first = AcquirerHost(lab_config(clock=clock, control_path=tmp_path / "host.ctl"))
    first.start_in_thread()
    try:
        second = AcquirerHost(lab_config(clock=clock, control_path=tmp_path / "host.ctl"))
        with pytest.raises(HostError, match="served by another host") as refused:
            second.start_in_thread()  # the ControlError, as start_in_thread reports it
        assert f"pid {os.getpid()}" in str(refused.value)
        signed_in(first, "10000001")  # the first still serves, its socket untouched
        assert HostControl(tmp_path / "host.ctl").status()["signed_in"] == ["10000001"]
    finally:
        first.stop()


# -- two workers ----------------------------------------------------------------------------
@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_two_workers_hand_over_a_line_pipelining_far_more_than_64_kib(tmp_path):
    host = AcquirerHost(lab_config(clock=clock, journal_path=tmp_path / "j.sqlite", workers=2))
    host.start_in_thread()
    try:
        echoes = 2_000  # ~100 KiB for each terminal, one of them owned by the other worker
        wire = echo_wire("10000001") * echoes + echo_wire("10000002") * echoes
        for _ in range(3):  # whichever worker the kernel picks, one line changes hands
            with socket.create_connection(("127.0.0.1", host.port), timeout=30) as sock:
                sender = threading.Thread(target=sock.sendall, args=(wire,), daemon=True)
                sender.start()
                answers = count_frames(sock, 2 * echoes)
                sender.join(30)
            tids = [decode_message(framing.decode_wire(answer).body)["41"] for answer in answers]
            assert tids == ["10000001"] * echoes + ["10000002"] * echoes  # all answered, in order
        assert host.pool is not None and host.pool.handoffs() >= 1
    finally:
        host.stop()


# -- the fuzzer's quick mode ----------------------------------------------------------------
@pytest.mark.heavy  # ~20 s of fuzzing: in the heavy set .ci/run runs
def test_fuzz_host_quick_mode_finds_no_crash_no_raw_log_line_no_leftover():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz_host.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["frames"] >= 20_000
    assert figures["crashes"] == 0 and figures["host_alive"] and figures["signin_after"]
    assert figures["raw_control_lines"] == 0 and figures["log_lines"] > 0
    assert figures["files_left_after_stop"] == []
    assert figures["signin_failed"] == 0 and figures["idle_flood_signin_ok"]

