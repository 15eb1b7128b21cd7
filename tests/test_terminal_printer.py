"""The simulated printer's faults, armed through ``sim.faults``: what lands on the tray, what
the ECR link says, and that the draws repeat with the seed."""

from __future__ import annotations

import pytest

from devices.terminal.sim import FaultError, Faults
from devices.terminal.sim.printer import format_amount

pytestmark = pytest.mark.bench(signed_in=True)


@pytest.mark.parametrize(("fault", "quality"), [("faded_print", "faded"),
                                                ("dead_column", "dead_column"),
                                                ("cut_short", "cut_short")])
def test_print_quality_faults_mark_the_slips(bench, fault, quality):
    bench.sim.faults.set(fault, times=1)
    before = len(bench.model.tray)
    bench.sale(1_000)
    assert {s.quality for s in bench.model.tray[before:]} == {quality}
    before = len(bench.model.tray)
    bench.sale(1_000)
    assert {s.quality for s in bench.model.tray[before:]} == {"good"}, "used up after once"


def test_wrong_amount_on_slip_disagrees_with_the_transaction(bench):
    bench.sim.faults.set("wrong_amount_on_slip", times=1)
    before = len(bench.model.tray)
    sale = bench.sale(1_234)
    assert sale.data["amount"] == 1_234 and bench.journal("sale")[-1].amount == 1_234
    printed = [line for line in bench.model.tray[before].lines if line.startswith("金额")]
    assert printed == [f"金额 AMOUNT: {format_amount(1_334)}"]


def test_out_of_paper_prints_nothing_and_says_so(bench):
    bench.sim.faults.set("out_of_paper")
    before = len(bench.model.tray)
    sale = bench.sale(1_000)
    assert sale.status == "approved" and sale.data["printed"] is False
    assert len(bench.model.tray) == before
    states = [e.data["state"] for e in bench.terminal.received if e.event == "printing"]
    assert states[-2:] == ["started", "out_of_paper"]
    bench.sim.faults.clear("out_of_paper")  # paper loaded: the slip can be reprinted
    assert bench.terminal.call("reprint").data["printed"] is True
    assert len(bench.model.tray) == before + 1


def test_fault_rates_repeat_with_the_seed():
    def draws(seed: int) -> list[bool]:
        faults = Faults(seed)
        faults.set("faded_print", rate=0.5)
        return [faults.fire("faded_print") for _ in range(40)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert 5 < sum(draws(7)) < 35


def test_unknown_faults_and_bad_rates_are_refused_with_the_list():
    faults = Faults()
    with pytest.raises(FaultError, match="known: no_power, stuck_in_self_test"):
        faults.set("printer_on_fire")
    with pytest.raises(FaultError, match="rate"):
        faults.set("faded_print", rate=1.5)
