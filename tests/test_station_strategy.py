"""The station as a strategy: it reaches a state from any other, restores the bench after a
test that left a transaction running, and latches broken after a station fault."""

from __future__ import annotations

import pytest

from devices.faults import classify
from devices.robot import RobotError
from devices.robot.sim import Fault
from harness import flows
from harness.flows import FlowError
from harness.strategy import StationBroken, StationState


def test_signed_in_is_reached_from_a_terminal_without_power(station):
    flows.power_off(station)
    assert station.state is StationState.OFF
    station.strategy.transition("signed_in")
    data = flows.status(station).data
    assert data["powered"] and data["logged_in"] and data["signed_in"]
    assert station.strategy.observe() is StationState.SIGNED_IN


def test_going_down_the_ladder_restarts_the_terminal(station):
    station.strategy.transition(StationState.SIGNED_IN)
    station.strategy.transition(StationState.IDLE)
    data = flows.status(station).data
    assert not data["logged_in"] and not data["signed_in"]


@pytest.mark.station_state("signed_in")
def test_the_marker_asks_the_strategy_for_the_state(station):
    assert flows.status(station).data["signed_in"] is True


def test_restore_ends_a_sale_left_waiting_for_a_card(station):
    station.strategy.transition(StationState.SIGNED_IN)
    pending = station.terminal.send("sale", amount=1_000)
    station.terminal.expect_prompt("insert_card", timeout=10)
    assert station.state is StationState.IN_TRANSACTION
    station.strategy.restore()
    assert station.state is not StationState.IN_TRANSACTION
    assert station.terminal.outstanding() == []
    del pending
    sale = flows.sale(station, 1_100, "cup-debit-chip")  # the terminal takes the next one
    assert sale.approved, sale


def test_a_station_fault_latches_broken_with_its_cause(station, lab):
    station.strategy.transition(StationState.SIGNED_IN)
    lab.virtual.stations[station.name].robot.inject(Fault.JAM)  # the robot's next move stops
    try:
        with pytest.raises(RobotError), station.strategy.guard():
            flows.sale(station, 1_000, "cup-debit-chip")
        assert station.state is StationState.BROKEN
        cause = station.broken_reason
        assert cause.startswith("RobotError")
        with pytest.raises(StationBroken, match="RobotError"):
            station.strategy.transition("signed_in")
        station.mark_broken("a later error")  # the first cause stays: later ones follow from it
        assert station.broken_reason == cause
    finally:
        station.strategy.broken_reason = None  # mended: the lab's station outlives this test


def test_a_terminal_that_lost_its_power_at_the_bench_is_a_station_fault(station, lab):
    station.strategy.transition(StationState.SIGNED_IN)
    model = lab.virtual.stations[station.name].model
    pending = station.terminal.send("sale", amount=1_000)
    station.terminal.expect_prompt("insert_card", timeout=10)  # the request is ACKed: under way
    model.set_power(False)  # the supply fails: the rig never told the relay to cut it
    try:
        with pytest.raises(StationBroken, match="lost its power mid-flow") as caught, \
                station.strategy.watch():
            pending.result(timeout=2)  # the answer never comes
        assert classify(caught.value).quarantine
        assert station.terminal.outstanding() == []
    finally:
        model.set_power(True)
        flows.power_cycle(station)  # the bench mended for the tests after this one


def test_a_terminal_dead_with_its_power_on_stays_a_terminal_defect(station, bench_faults):
    bench_faults.terminal("no_power")  # powered by the relay, and dead all the same
    with pytest.raises(FlowError, match="did not") as caught, station.strategy.watch():
        flows.power_cycle(station, boot_timeout=3)
    assert classify(caught.value).status == "failed"
    assert station.state is not StationState.BROKEN


def test_a_printer_out_of_paper_is_the_bench_s_consumable_not_a_terminal_defect(station, bench_faults):
    station.strategy.transition(StationState.SIGNED_IN)
    bench_faults.terminal("out_of_paper")
    sale = flows.sale(station, 1_000, "cup-debit-chip")
    assert sale.approved and sale.raw["printed"] is False
    with pytest.raises(StationBroken, match="out of paper; load a paper roll") as caught:
        flows.check_receipt(station, sale)
    assert classify(caught.value).quarantine


def test_restore_restarts_a_terminal_gone_silent_mid_sale_instead_of_blaming_the_bench(
        station, lab, monkeypatch):
    import harness.strategy

    monkeypatch.setattr(harness.strategy, "CANCEL_ANSWER_S", 2.0)
    station.strategy.transition(StationState.SIGNED_IN)
    sim = lab.virtual.stations[station.name].terminal
    station.terminal.send("sale", amount=1_000)
    station.terminal.expect_prompt("insert_card", timeout=10)
    hung = sim.ram  # until its power cycles, the terminal sends nothing more (a firmware hang)
    send = sim.frontend.send_frame
    monkeypatch.setattr(sim.frontend, "send_frame",
                        lambda payload: None if sim.ram is hung else send(payload))
    station.strategy.restore()  # CANCEL goes unanswered: restarted, not quarantined
    assert station.state is not StationState.BROKEN
    assert station.terminal.outstanding() == []
    assert flows.status(station).data["booted"] is True
