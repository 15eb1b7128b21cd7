"""The three witnesses on real traffic: a sale through the simulated terminal, its host
journal entry and its ECR answer, and the slip it printed photographed off the tray. The
terminal's own fault mode prints a wrong amount; the reader must name it."""

from __future__ import annotations

import pytest

from devices.camera.render import render_slip as print_on_paper
from devices.terminal.testing import open_bench
from harness.flows import TransactionResult
from harness.paths import FIXTURES
from harness.profiles import load_profile as load_terminal_profile
from harness.receipts import PrintLimits, ReceiptReader, Witnesses, shared_engine

PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"


@pytest.fixture
def bench(tmp_path):
    b = open_bench(tmp_path)
    b.sign_in()
    yield b
    b.close()


def _sale_and_slip(bench, amount: int):
    before = len(bench.model.tray)
    response = bench.sale(amount, "cup-debit-chip", "insert")
    assert response.status == "approved"
    slip = bench.model.tray[before]  # the merchant copy
    witnesses = Witnesses.of(TransactionResult.from_response("sale", amount, response),
                             bench.journal("sale")[-1], load_terminal_profile(PROFILE), bench.tid)
    return print_on_paper(slip).image, witnesses


def test_a_sale_slip_agrees_with_ecr_and_host_until_the_terminal_misprints_the_amount(bench):
    profile = load_terminal_profile(PROFILE)
    reader = ReceiptReader(profile.receipt_template, PrintLimits.from_profile(profile.source),
                           engine=shared_engine())
    image, witnesses = _sale_and_slip(bench, 12_345)
    verdict = reader.verify(image, witnesses)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.reading.value("amount") == 12_345

    bench.sim.faults.set("wrong_amount_on_slip", times=1)
    image, witnesses = _sale_and_slip(bench, 20_000)
    verdict = reader.verify(image, witnesses)
    assert verdict.status == "fail" and verdict.faults == ("mismatch:amount",), verdict.explain()
    check = verdict.check("amount")
    assert (check.slip, check.witnesses) == ("RMB 201.00", {"ecr": "200.00", "host": "200.00"})

