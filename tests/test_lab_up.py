"""`posrig lab up`: live inventory on the first line, reachable channels, clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

from devices.terminal.driver import EcrTerminal


def test_lab_up_two_stations_reachable_and_clean_on_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "lab", "up", "--stations", "2",
         "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        live = json.loads(first)
        assert [s["name"] for s in live["stations"]] == ["station-1", "station-2"]
        ptys = []
        for st in live["stations"]:
            ecr = st["terminal"]["ecr"]
            assert ecr.startswith("/dev/pts/") and os.path.exists(ecr)
            ptys += [ecr, st["robot"], st["power"]]
            terminal = EcrTerminal(ecr, station=st["name"], ack_timeout=1.0)
            try:
                status = terminal.call("status", timeout=10)
            finally:
                terminal.close()
            assert status.ok and status.data["tid"] == st["terminal"]["tid"]
        host, port = live["host"]["listen"].removeprefix("tcp://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "virtual lab stopped" in err
    for path in ptys:
        assert not os.path.exists(path), f"{path} left behind"
