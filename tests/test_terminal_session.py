"""Power, self-check, operator login and sign-in on the simulated terminal, through its drivers:
the relay cuts the power, the console shows the boot, the ECR link asks and answers."""

from __future__ import annotations

import pytest

from devices.terminal.console import ConsoleTimeout
from devices.terminal.driver import TerminalError
from devices.terminal.link import LinkError


def test_power_on_runs_the_self_check_and_comes_up_logged_out(bench):
    bench.sign_in()
    bench.power_cut()
    status = bench.power_on()
    boot = "\n".join(bench.console.lines())
    for step in ("BOOT posrig-sim", "SELFTEST RAM OK", "SELFTEST FLASH OK", "SELFTEST PRINTER OK"):
        assert step in boot
    assert status.data["booted"] and not status.data["logged_in"] and not status.data["signed_in"]


def test_a_terminal_stuck_in_self_test_never_answers_and_the_console_says_why(bench):
    bench.sim.faults.set("stuck_in_self_test")
    bench.power_cut()
    bench.relay.on()
    bench.console.expect("HALTED", timeout=10)
    assert "SELFTEST FLASH FAIL" in "\n".join(bench.console.lines())
    with pytest.raises(LinkError, match="no ACK"):
        bench.terminal.call("status", timeout=5)


def test_a_terminal_that_never_powers_on_is_silent_on_both_channels(bench):
    bench.sim.faults.set("no_power")
    bench.power_cut()
    bench.console.skip_to_end()
    bench.relay.on()
    with pytest.raises(ConsoleTimeout, match=r"Full log: .*bench-t-terminal-console\.log"):
        bench.console.expect("BOOT", timeout=1)
    with pytest.raises(LinkError):
        bench.terminal.call("status", timeout=5)
    bench.sim.faults.clear("no_power")
    bench.power_cut()
    assert bench.power_on().data["booted"]


def test_wrong_password_is_refused_and_repeated_failures_lock_out(bench):
    first = bench.terminal.call("login", operator="01", password="9999")
    assert (first.status, first.data["reason"], first.data["attempts_left"]) == \
        ("refused", "wrong_password", 2)
    bench.terminal.call("login", operator="01", password="9998")
    third = bench.terminal.call("login", operator="01", password="9997")
    assert (third.status, third.data["reason"]) == ("refused", "locked")
    right = bench.terminal.call("login", operator="01", password="0000")
    assert (right.status, right.data["reason"]) == ("refused", "locked"), "locked means locked"
    bench.power_cut()
    bench.power_on()  # the lock lives in RAM, as the login does
    assert bench.terminal.call("login", operator="01", password="0000").ok


def test_sign_in_needs_a_login_and_takes_the_host_clock_and_batch(bench):
    refused = bench.terminal.call("signin")
    assert (refused.status, refused.data["reason"]) == ("refused", "not_logged_in")
    bench.clock.advance(days=3)
    signin = bench.sign_in()
    journaled = bench.journal("signin")[-1]
    assert signin.data["batch"] == int(journaled.batch)
    status = bench.terminal.call("status").data
    assert status["clock"][:10] == bench.clock().date().isoformat()


def test_a_power_cut_forgets_the_sign_in_but_not_the_trace(bench):
    bench.sign_in()
    trace = bench.sale(1_000).data["trace"]
    bench.power_cut()
    bench.power_on()
    assert bench.terminal.call("login", operator="01", password="0000").ok
    refused = bench.terminal.call("sale", amount=1_000)
    assert (refused.status, refused.data["reason"]) == ("refused", "not_signed_in")
    bench.terminal.call("signin", timeout=20)
    assert bench.sale(1_000).data["trace"] > trace + 1, "trace numbers go on from flash"


def test_the_host_ordering_a_new_sign_in_is_obeyed(bench):
    bench.sign_in()
    bench.host.script.next(tid=bench.tid, kind="sale", resign=True)
    assert bench.sale(1_000).status == "approved"
    refused = bench.terminal.call("sale", amount=1_000)
    assert (refused.status, refused.data["reason"]) == ("refused", "not_signed_in")
    bench.terminal.call("signin", timeout=20)
    assert bench.sale(1_000).status == "approved"


def test_status_reports_the_terminal_state(bench):
    bench.sign_in()
    bench.sale(1_000)
    s = bench.terminal.call("status").data
    assert s["dialect"] == "posrig-ecr/1" and s["tid"] == bench.tid
    assert (s["model"], s["firmware"], s["serial"]) == ("posrig-sim", "1.0.0", f"SIM{bench.tid}")
    assert (s["logged_in"], s["operator"], s["signed_in"]) == (True, "01", True)
    assert (s["batch_items"], s["reversal_pending"], s["settlement_required"]) == (1, False, False)


def test_reprint_of_the_last_slip_and_of_a_given_trace(bench):
    bench.sign_in()
    first = bench.sale(1_100)
    bench.sale(2_200)
    before = len(bench.model.tray)
    last = bench.terminal.call("reprint")
    assert last.ok and any("RMB 22.00" in line for line in last.data["receipt"])
    again = bench.terminal.call("reprint", trace=first.data["trace"])
    assert again.data["receipt"][-1] == "重打印 REPRINT"
    assert any("RMB 11.00" in line for line in again.data["receipt"])
    assert len(bench.model.tray) == before + 2
    missing = bench.terminal.call("reprint", trace=999)
    assert (missing.status, missing.data["reason"]) == ("refused", "trace_not_found")


def test_a_terminal_gone_quiet_is_an_error_that_shows_its_last_words(bench):
    bench.sign_in()
    bench.sim.cfg.card_timeout = 2
    pending = bench.terminal.send("sale", amount=1_000)
    with pytest.raises(TerminalError, match=r"(?s)prompt 'enter_pin'.*insert_card"):
        bench.terminal.expect_prompt("enter_pin", timeout=1)
    assert pending.result(10).data["reason"] == "no_card"


def test_open_terminal_names_the_dialects_it_knows():
    from devices.terminal import open_terminal

    with pytest.raises(ValueError, match="posrig speaks posrig-ecr/1, concert"):
        open_terminal("/dev/null", dialect="nexo", station="station-9")


def test_an_unreadable_flash_fails_the_self_check(bench):
    bench.power_cut()
    bench.sim.store.path.parent.mkdir(parents=True, exist_ok=True)
    bench.sim.store.path.write_text("{not json")
    bench.relay.on()
    bench.console.expect(r"SELFTEST FLASH FAIL: terminal state file .* is corrupt", timeout=10)
    bench.console.expect("HALTED", timeout=1)
