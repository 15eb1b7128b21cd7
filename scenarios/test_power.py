"""Power: a terminal that will not come up must be caught as such, and a power cut in the
middle of a sale must leave no doubt behind -- the terminal reverses the sale first thing
after it is back and signed in, and the host's journal shows the sale undone."""

from __future__ import annotations

import re

import pytest

from harness import flows

#: How long the rig waits for a terminal that must not come up. The simulator boots at
#: once; the wait only has to be long enough to tell "dead" from "slow to answer".
DEAD_TERMINAL_WAIT_S = 2.0
#: What a terminal's console says while it boots ("[   1.234] BOOT posrig-sim 1.0.0 ...").
BOOT_LINE = re.compile(r"^\[[\d. ]+\] (BOOT|SELFTEST|READY|HALTED)\b")


@pytest.mark.case("CUP-PWR-002")
def test_terminal_that_does_not_power_on_is_reported(station, bench_faults):
    bench_faults.terminal("no_power")
    said = len(station.console.lines())
    with pytest.raises(flows.FlowError, match="did not boot"):
        flows.power_cycle(station, boot_timeout=DEAD_TERMINAL_WAIT_S)
    # A line the terminal wrote just before the cut may still arrive (its answer to the
    # last command is logged after it is sent); nothing of a boot may.
    booted = [line for line in station.console.lines()[said:] if BOOT_LINE.search(line)]
    assert booted == [], f"a terminal without power printed its boot: {booted}"


@pytest.mark.case("CUP-PWR-003")
def test_terminal_halted_in_its_self_check_is_reported_with_its_console(station, bench_faults):
    bench_faults.terminal("stuck_in_self_test")
    with pytest.raises(flows.FlowError, match="halted in its power-on self-check") as caught:
        flows.power_cycle(station, boot_timeout=DEAD_TERMINAL_WAIT_S)
    assert "SELFTEST FLASH FAIL" in str(caught.value), "the failure must quote the console"


@pytest.mark.case("CUP-REV-001")
def test_power_cut_mid_sale_is_reversed_first_after_sign_in(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    # The host books the sale and holds its answer: the power goes while the terminal waits.
    flows.host_will(station, "sale", drop=True)
    cut = flows.sale_cut_by_power(station, 8_800, "cup-debit-chip")
    assert cut.status == "interrupted", cut
    lost = flows.last_journaled(station, "sale")
    assert lost is not None and lost.state == "approved", "the host must have booked the sale"

    up = flows.power_on(station)
    assert up.data["reversal_pending"] is True, "the reversal did not survive the power cut"
    assert up.data["signed_in"] is False
    assert flows.sign_in(station).ok
    assert [e.id for e in flows.journal(station, "reversal") if e.orig_stan == lost.stan] == [], \
        "the terminal must not send the reversal before the next transaction"

    after = flows.sale(station, 1_200, "cup-debit-chip")
    assert after.approved, after
    reversal = next(e for e in flows.journal(station, "reversal") if e.orig_stan == lost.stan)
    assert reversal.note.startswith("reason 98"), reversal.note
    assert (reversal.amount, reversal.state) == (8_800, "undone"), reversal
    assert reversal.id < flows.journaled(station, after).id, "the reversal must go out first"
    undone = next(e for e in flows.journal(station, "sale") if e.id == lost.id)
    assert undone.state == "reversed", "the host's journal must show the sale undone"
    assert flows.status(station).data["reversal_pending"] is False
    flows.check_witnesses(station, after, "cup-debit-chip")
    flows.check_receipt(station, after)
