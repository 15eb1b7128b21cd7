"""`posrig host serve`: a standalone host a terminal signs in and sells against."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from devices.host.testing import LoopbackTerminal, lab_card, lab_config, terminal_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_host_serve_signs_in_sells_and_logs_masked(tmp_path, workers):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "host", "serve", "--listen", f"tcp://127.0.0.1:{port}",
         "--workdir", str(tmp_path), "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "acquirer host on" in proc.stderr.readline()
        assert "listening" in proc.stdout.readline()  # the port is bound: connect now
        keys = lab_config().terminals["10000001"]
        terminal = LoopbackTerminal(port, terminal_config("10000001", keys))
        assert terminal.signin().approved
        card = lab_card("cup-debit-chip")
        assert terminal.sale(card, 1_000).rc == "00"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert card.masked_pan in out, "the sale's decoded exchange was not logged"
    assert card.pan not in out + err
    assert (tmp_path / "host-journal.sqlite").exists()
    # A clean stop leaves the journal alone: no -wal/-shm beside it, no lock, no socket.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host-journal.sqlite"]


def serve(tmp_path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "host", "serve", "--listen", f"tcp://127.0.0.1:{port}",
         "--workdir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_host_on_the_same_workdir_refuses_naming_the_first(tmp_path):
    first = serve(tmp_path, free_port())
    try:
        assert "acquirer host on" in first.stderr.readline()
        assert "listening" in first.stdout.readline()
        second = serve(tmp_path, free_port())
        _, err = second.communicate(timeout=20)
        assert second.returncode == 1
        assert f"pid {first.pid}" in err and str(tmp_path / "host-control.sock") in err, err
        assert "another work directory" in err
        # the first host still owns its control socket and answers through it
        from devices.host.control import HostControl
        assert HostControl(tmp_path / "host-control.sock").status()["signed_in"] == []
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=20)
    assert first.returncode == 0
