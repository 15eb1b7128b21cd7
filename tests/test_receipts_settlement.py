"""The settlement slip by camera: its template (fixtures/receipts/cup-settlement.yaml), the
count-and-amount field kind, its witnesses (the ECR answer to ``settle`` and the host's
journal of it), the wrapped "not balanced" note; and on real traffic, the simulated
terminal's own settlement slip."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from devices.terminal.testing import open_bench
from harness.paths import FIXTURES
from harness.profiles import load_profile
from harness.receipts import ReceiptReader, ReceiptTemplate, Witnesses, fields, shared_engine
from harness.receipts.corpus import make_settlement_sample, on_tray, template_data
from harness.receipts.settlement import SettlementReport, claimed_totals

SETTLEMENT = template_data("cup-settlement")


@pytest.fixture(scope="module")
def reader() -> ReceiptReader:
    return ReceiptReader(SETTLEMENT, engine=shared_engine())


@pytest.mark.parametrize(("balanced", "level"), [(True, "L1"), (False, "L2"), (False, "L3")])
def test_a_settlement_slip_agrees_with_its_answer_and_journal(reader, balanced, level):
    s = make_settlement_sample(SETTLEMENT, random.Random(300), balanced=balanced)
    verdict = reader.verify(on_tray(s.slip, level, seed=300), s.witnesses)
    assert verdict.status == "pass", verdict.explain()
    note = "balanced" if balanced else "unbalanced"
    assert verdict.reading.note.key == note
    assert verdict.check("note").witnesses == {"ecr": note, "host": note}
    for key, total in s.witnesses.ecr.totals.items():
        assert verdict.reading.value(key) == total, key
        assert set(verdict.check(key).witnesses) == {"ecr", "host"}


def test_a_total_printed_wrong_fails_on_that_line(reader):
    s = make_settlement_sample(SETTLEMENT, random.Random(301), wrong_field="foreign_credit")
    verdict = reader.verify(on_tray(s.slip, "L1", seed=301), s.witnesses)
    assert verdict.faults == ("mismatch:foreign_credit",), verdict.explain()


def test_a_slip_that_says_not_balanced_of_a_balanced_batch_fails(reader):
    s = make_settlement_sample(SETTLEMENT, random.Random(302), balanced=False)
    balanced = replace(s.witnesses, ecr=replace(s.witnesses.ecr, balanced=True),
                       host=replace(s.witnesses.host, state="balanced"))
    verdict = reader.verify(on_tray(s.slip, "L1", seed=302), balanced)
    assert verdict.faults == ("mismatch:note",), verdict.explain()
    assert verdict.check("note").witnesses == {"ecr": "balanced", "host": "balanced"}


def test_count_and_amount_are_read_through_ocr_confusions():
    template = ReceiptTemplate.from_dict(SETTLEMENT)
    spec = template.field("domestic_debit")
    assert fields.parse(spec, "12 RMB 1234.50", template) == (12, 123_450)
    assert fields.parse(spec, "I RM8 0.00", template) == (1, 0)
    assert fields.printed(spec, (3, 4200), template) == "3 RMB 42.00"
    for text in ("RMB 12.00", "3", "3 USD 1.00", "x RMB 1.00"):
        with pytest.raises(fields.FieldError):
            fields.parse(spec, text, template)


def test_the_witnesses_take_the_totals_from_the_answer_and_the_journal():
    def side(debit: tuple[int, int], credit: tuple[int, int]) -> dict[str, int]:
        return {"debit_count": debit[0], "debit_amount": debit[1],
                "credit_count": credit[0], "credit_amount": credit[1]}

    report = SettlementReport.from_response("ok", {"batch": 7, "balanced": True, "totals": {
        "domestic": side((2, 4100), (0, 0)), "foreign": side((1, 900), (1, 900))}})
    assert report.totals["domestic_debit"] == (2, 4100) and report.totals["foreign_credit"] == (1, 900)
    claimed = claimed_totals("terminal: domestic D 2/4100 C 0/0; foreign D 1/900 C 1/900 | host: …")
    assert claimed == report.totals
    assert claimed_totals("batch closed") == {}


def test_the_simulated_terminals_settlement_slip_reads_and_agrees(tmp_path, reader):
    bench = open_bench(tmp_path)
    try:
        bench.sign_in()
        assert bench.sale(4_200, "cup-debit-chip", "insert").status == "approved"
        before = len(bench.model.tray)
        settled = bench.terminal.call("settle")
        assert settled.status == "ok", settled.data
        (slip,) = bench.model.tray[before:]
        entry = bench.journal("settlement")[-1]
    finally:
        bench.close()
    witnesses = Witnesses.of(SettlementReport.from_response(settled.status, settled.data), entry,
                             load_profile(FIXTURES / "terminals" / "posrig-sim.yaml"), bench.tid)
    verdict = reader.verify(on_tray(slip, "L1", 4), witnesses)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.reading.value("domestic_debit") == (1, 4_200)
    assert verdict.check("domestic_debit").witnesses == {"ecr": "1 x 42.00", "host": "1 x 42.00"}
