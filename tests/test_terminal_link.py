"""The terminal's channels end to end: a port that vanishes mid-frame and is reopened when it
comes back, a corrupted frame repeated, every frame logged with its secrets hidden, and the
debug console captured, masked and searchable."""

from __future__ import annotations

import re

import pytest

from devices import events
from devices.channels import ChannelError, PtyPort
from devices.terminal.console import Console, ConsoleTimeout
from devices.terminal.driver import EcrTerminal
from devices.terminal.link import LinkError


def test_a_port_vanishing_mid_frame_names_station_and_port_and_can_be_reopened(bench):
    old_url = bench.sim.url
    bench.sim.faults.set("port_vanishes_mid_frame", times=1)
    with pytest.raises(LinkError) as err:
        bench.terminal.call("status", timeout=10)
    message = str(err.value)
    assert "bench-t" in message and old_url in message
    assert re.search(r"vanished mid-frame, \d+ bytes of a frame received", message), message
    assert "reopen" in message
    new_url = bench.sim.replug()
    assert bench.terminal.reopen(new_url).call("status", timeout=10).ok


def test_a_cable_pulled_during_a_sale_is_a_link_error_not_a_hang(bench):
    bench.sign_in()
    bench.sim.cfg.card_timeout = 2  # the sale the cable left behind ends in time
    pending = bench.terminal.send("sale", amount=1_000)
    bench.terminal.expect_prompt("insert_card", timeout=10)
    bench.sim.unplug()
    with pytest.raises(LinkError, match=r"bench-t terminal ECR port .* vanished"):
        pending.result(timeout=10)
    bench.terminal.reopen(bench.sim.replug())
    assert bench.terminal.call("status", timeout=10).ok  # once the abandoned sale timed out


def test_reopening_a_port_that_is_not_back_says_which(bench):
    bench.sim.unplug()
    with pytest.raises(ChannelError, match=re.escape(f"bench-t terminal ECR port '{bench.sim.url}'")):
        bench.terminal.reopen()


def test_a_frame_with_a_bad_lrc_is_naked_and_repeated(bench):
    logged: list[str] = []
    unsubscribe = events.subscribe(lambda e: logged.append(f"{e.source} {getattr(e, 'text', '')}"))
    try:
        bench.sim.faults.set("corrupt_lrc", times=1)
        assert bench.terminal.call("status", timeout=10).ok
    finally:
        unsubscribe()
    assert any("bench-t/terminal <- frame with bad LRC: NAK" in line for line in logged)
    assert any("(repeat 1)" in line and "sim-terminal" in line for line in logged)


def test_every_frame_is_logged_both_ways_with_secrets_hidden(bench):
    logged: list[str] = []
    unsubscribe = events.subscribe(lambda e: logged.append(f"{e.source} {getattr(e, 'text', '')}"))
    try:
        bench.sign_in()
    finally:
        unsubscribe()
    ours = [line for line in logged if line.startswith("bench-t/terminal ")]
    assert any(" -> " in line and '"cmd":"login"' in line for line in ours)
    assert any(" <- " in line and '"cmd":"login"' in line for line in ours)
    assert all('"password":"****"' in line for line in logged if '"password"' in line)


def test_console_expect_masks_logs_and_fails_with_the_tail_and_the_log_path(tmp_path):
    peer = PtyPort()
    console = Console(peer.path, "station-9", tmp_path)
    try:
        peer.write(b"boot ok\r\ncard 6212340000000019 read\r\nPROMPT enter_pin\r\n")
        assert console.expect(r"PROMPT (\w+)", timeout=5)[1] == "enter_pin"
        with pytest.raises(ConsoleTimeout) as err:
            console.expect("APPROVED", timeout=0.3)
        text = str(err.value)
        assert "station-9" in text and peer.path in text and str(console.log_path) in text
        assert "card 621234******0019 read" in text, "the tail shows what came, masked"
        log = console.log_path.read_text()
        assert "6212340000000019" not in log and "[station-9] card 621234******0019 read" in log
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} \[station-9\] boot ok", log)
    finally:
        console.close()
        peer.close()


def test_console_of_the_simulated_terminal_follows_a_sale(bench):
    bench.sign_in()
    bench.console.skip_to_end()
    bench.sale(1_000)
    bench.console.expect(r"PROMPT insert_card", timeout=1)
    bench.console.expect(r"CARD chip_reader 621234\*{6}0019", timeout=1)
    bench.console.expect(r"ISO8583 -> 0200 .*52=\*\*\*", timeout=1)  # PIN block never shown
    bench.console.expect(r"ECR answer sale approved", timeout=1)


def test_driver_over_an_unknown_port_is_a_clear_error():
    with pytest.raises(ChannelError, match="station-9 terminal ECR port '/dev/ttyPOSRIG-NOPE'"):
        EcrTerminal("/dev/ttyPOSRIG-NOPE", station="station-9")
