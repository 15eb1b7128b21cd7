"""The template reader reads any layout a template's ``print`` section sets (issue 15): the
Taiwanese bank terminal's slip (fixtures/receipts/tw-nccc-80mm.yaml: 80 mm paper, Traditional
Chinese and English labels, each value flush right on its label's row, no colon between them)
and its settlement slip, from the simulated camera, checked against the ECR result and the
host journal as the CUP slip is; and the suite's sale, void, refund, reprint, decline and
settlement scenarios pass on the virtual lab's station printing it (terminals/posrig-sim-tw.yaml).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace

import pytest
import yaml

from devices.bench_model import Slip
from devices.camera.render import CUP_LAYOUT, PrintLayout
from devices.terminal.sim.printer import print_layout
from harness.config import ConfigError
from harness.paths import DEFAULT_LAB, REPO
from harness.receipts import ReceiptReader, ReceiptTemplate, shared_engine
from harness.receipts.corpus import make_sample, make_settlement_sample, on_tray, template_data
from harness.receipts.lines import Line, _label_in_text

TW = template_data("tw-nccc-80mm")
TW_SETTLEMENT = template_data("tw-nccc-settlement-80mm")
TW_PROFILE = "terminals/posrig-sim-tw.yaml"


@pytest.fixture(scope="module")
def reader() -> ReceiptReader:
    return ReceiptReader(TW, engine=shared_engine())


def test_a_template_s_print_section_is_the_layout_the_reader_reads_by():
    assert ReceiptTemplate.from_dict(TW).layout == PrintLayout(paper_mm=80, values="right")
    assert ReceiptTemplate.from_dict(template_data("cup-standard")).layout == CUP_LAYOUT
    # what the printer sets the slip by is what the reader reads it by
    assert PrintLayout(**dict(print_layout(TW))) == ReceiptTemplate.from_dict(TW).layout
    with pytest.raises(ConfigError, match=r"print\.paper: unknown key; did you mean paper_mm\?"):
        ReceiptTemplate.from_dict({**TW, "print": {"paper": 80}})
    with pytest.raises(ConfigError, match=r"print: expected a mapping of paper_mm, font_px"):
        ReceiptTemplate.from_dict({**TW, "print": "80mm"})
    with pytest.raises(ConfigError, match=r"print: paper of 70 mm: expected one of \[58, 80\]"):
        ReceiptTemplate.from_dict({**TW, "print": {"paper_mm": 70}})
    with pytest.raises(ConfigError, match=r"print.values: expected after or right, got 'left'"):
        ReceiptTemplate.from_dict({**TW, "print": {"values": "left"}})


def test_a_label_with_its_value_flush_right_is_found_without_a_colon():
    """A two-column row reads as label and value run together; a colon further on is the
    value's own (a time's), not the end of the label."""
    line = Line("datetime", "日期時間 DATE/TIME", True)
    row = "日期時間 DATE/TIME 2026/06/04 05:33:45"
    assert _label_in_text(line, row, two_columns=True) == (1.0, len("日期時間DATE/TIME"))
    # read as a CUP row (value after the label's colon), the same text is no such label
    assert _label_in_text(line, row)[0] < 0.7
    # a value too long for the row goes under its label, which then ends with a colon
    name = Line("merchant_name", "商店名稱 MERCHANT NAME", True)
    assert _label_in_text(name, "商店名稱 MERCHANT NAME:", two_columns=True) == \
        (1.0, len("商店名稱MERCHANTNAME"))
    # the English half alone is not the bilingual label, in two columns as in one
    assert _label_in_text(line, "DATE/TIME 2026/06/04 05:33:45", two_columns=True)[0] == 0.0


def test_a_taiwanese_slip_is_read_right_and_a_wrong_amount_on_it_fails(reader):
    """A sale's slip read from the camera (L1, the virtual lab's) agrees field by field; a
    decline's merchant copy ends with its response code set flush right; a slip printing an
    amount one digit off fails on the amount alone. ~1.5 s of CPU (the first slip's labels
    are recognised and learned, the next two are read by their bitmaps)."""
    rng = random.Random(1580)
    sale = make_sample(TW, rng, kind="sale")
    assert dict(sale.slip.layout) == {"paper_mm": 80, "values": "right"}
    verdict = reader.verify(on_tray(sale.slip, "L1", seed=1580), sale.witnesses)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.reading.fields["merchant_id"].text == "898100012340001"
    assert verdict.reading.fields["amount"].text == sale.values["amount"]
    assert verdict.reading.value("txn_type") == "sale"
    assert {c.key for c in verdict.checks} >= {spec.key for spec in reader.template.fields}

    declined = make_sample(TW, rng, kind="sale", note="declined", rc="51")
    verdict = reader.verify(on_tray(declined.slip, "L1", seed=1581), declined.witnesses)
    assert verdict.status == "pass", verdict.explain()
    assert (verdict.reading.note.key, verdict.reading.note.code) == ("declined", "51")

    wrong = make_sample(TW, rng, kind="refund", wrong_field="amount")
    verdict = reader.verify(on_tray(wrong.slip, "L1", seed=1582), wrong.witnesses)
    assert (verdict.status, verdict.faults) == ("fail", ("mismatch:amount",)), verdict.explain()


@pytest.mark.heavy  # OCR of two settlement slips and six more slips (~4 s of CPU): the heavy set
def test_the_taiwanese_settlement_slip_and_every_camera_level_up_to_l2(reader):
    settlement = ReceiptReader(TW_SETTLEMENT, engine=shared_engine())
    for seed, balanced, wrong in ((1590, True, None), (1591, False, None), (1592, True, "foreign_debit")):
        s = make_settlement_sample(TW_SETTLEMENT, random.Random(seed), balanced=balanced, wrong_field=wrong)
        # as the simulated terminal prints it: set by the template's print section
        s = replace(s, slip=Slip(s.slip.lines, layout=print_layout(TW_SETTLEMENT)))
        verdict = settlement.verify(on_tray(s.slip, "L1", seed=seed), s.witnesses)
        if wrong:
            assert verdict.faults == (f"mismatch:{wrong}",), verdict.explain()
            continue
        assert verdict.status == "pass", verdict.explain()
        assert verdict.reading.note.key == ("balanced" if balanced else "unbalanced")
    rng = random.Random(1593)
    for level in ("L0", "L1", "L2"):
        for kind, note in (("void", "reprint"), ("refund", None)):
            s = make_sample(TW, rng, kind=kind, copy="customer", note=note)
            verdict = reader.verify(on_tray(s.slip, level, seed=rng.randrange(1000)), s.witnesses)
            assert verdict.status == "pass", f"{level} {kind}: {verdict.explain()}"


#: The suite's scenarios whose slips the TW station prints and the camera reads: sale, void,
#: refund (and the partial one after a settlement), both reprints, a decline's merchant copy,
#: both settlement slips, the print faults.
TW_SCENARIOS = ("test_signed_in_chip_sale_is_approved_and_witnesses_agree or test_void_with_the_supervisor "
                "or test_refund_of_a_sale or test_partial_refund or test_reprint_of_the_last_slip "
                "or test_reprint_by_trace or test_insufficient_funds or test_settlement_of_a_balanced "
                "or test_unbalanced_settlement or test_faded_print or test_dead_printhead")


@pytest.mark.heavy  # a virtual station of its own and a dozen scenarios read by camera (~60-90 s)
def test_the_suite_passes_on_the_virtual_lab_s_taiwanese_station(tmp_path):
    """The default lab's station whose profile prints the Taiwanese slip, alone in an inventory
    of its own (the plugin starts every station an inventory names), runs the suite's slip
    scenarios: every slip is read by its camera with the template reader and agrees."""
    lab = yaml.safe_load(DEFAULT_LAB.read_text(encoding="utf-8"))
    tw = [s for s in lab["stations"] if s["terminal"]["profile"] == TW_PROFILE]
    assert len(tw) == 1, f"the default lab must have one station printing the TW slip: {lab['stations']}"
    inventory = tmp_path / "tw.yaml"
    inventory.write_text(yaml.safe_dump({**lab, "stations": tw}, allow_unicode=True), encoding="utf-8")
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "scenarios"), "-q", "-p", "no:cacheprovider",
         "--lab", str(inventory), "-k", TW_SCENARIOS, f"--alluredir={results}",
         f"--basetemp={tmp_path / 'base'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    ran = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    assert len(ran) == 12, [r["name"] for r in ran]
    for result in ran:
        params = {p["name"]: p["value"] for p in result["parameters"]}
        assert result["status"] == "passed", result["name"]
        assert params["station"] == f"'{tw[0]['name']}'", params
        assert params["slip checked by"] == "'camera'", params
        assert params["terminal model"] == "'posrig-sim-tw'", params
    # every slip was read off the camera's photo: the annotated frame is in the report
    photos = sum(json.dumps(r).count('"slip, fields read"') for r in ran)
    assert photos >= 14, photos
