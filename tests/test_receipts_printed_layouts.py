"""The simulated printer prints more than the CUP layout (issue 15): a template's ``print``
section sets the slip (80 mm paper, values flush right in two columns), the slip carries its
layout to the tray and the camera renders it so; a sale on a terminal printing the Taiwanese
layout (fixtures/receipts/tw-nccc-80mm.yaml) is read layout-free and agrees with the
transaction, and the same slip with a wrong amount fails."""

from __future__ import annotations

from datetime import datetime

import pytest
import yaml

from devices.camera import scene
from devices.camera.render import PRINTHEAD_DOTS, render_slip_image
from devices.camera.render import render_slip as print_on_paper
from devices.terminal.sim.printer import print_layout, render_slip
from harness.paths import FIXTURES
from harness.receipts import shared_engine
from harness.receipts.freeform import FreeformReader
from harness.receipts.freeform_check import parse_expectation, verify

pytestmark = pytest.mark.bench(signed_in=True)


def template(name: str) -> dict:
    return yaml.safe_load((FIXTURES / "receipts" / f"{name}.yaml").read_text(encoding="utf-8"))


TW = template("tw-nccc-80mm")
CUP = template("cup-standard")
VALUES = {"merchant_id": "898100012340001", "terminal_id": "10000001", "amount": "RMB 1.00"}


def test_a_slip_is_set_as_its_template_says_and_rendered_so():
    tw = render_slip(TW, VALUES)
    assert dict(tw.layout) == {"paper_mm": 80, "values": "right"}
    margin = 40
    assert print_on_paper(tw).image.shape[1] == PRINTHEAD_DOTS[80] + 2 * margin
    cup = render_slip(CUP, VALUES)
    assert cup.layout == ()
    assert print_on_paper(cup).image.shape[1] == PRINTHEAD_DOTS[58] + 2 * margin
    # a value flush right shares its label's row: the 80 mm slip has no more rows than lines
    assert print_on_paper(tw).image.shape[0] <= print_on_paper(cup).image.shape[0]


def test_a_print_section_the_printer_cannot_follow_is_an_error_that_names_the_keys():
    with pytest.raises(ValueError, match=r"unknown key.*paper.*expected paper_mm"):
        print_layout({"name": "x", "print": {"paper": 80}})
    with pytest.raises(ValueError, match="expected a mapping"):
        print_layout({"name": "x", "print": "80mm"})


@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_a_sale_printed_in_the_taiwanese_layout_is_read_layout_free(bench):
    bench.sim.cfg.receipt_template = TW
    before = len(bench.model.tray)
    sale = bench.sale(12_345)
    assert sale.status == "approved"
    slips = bench.model.tray[before:]
    assert [dict(s.layout)["paper_mm"] for s in slips] == [80, 80]  # merchant and customer copies
    assert any(line.startswith("端末機代號 TERMINAL ID") for line in slips[0].lines)

    frame = scene.render_scene(render_slip_image(slips[0]), "L1", 5)
    reader = FreeformReader(engine=shared_engine())
    entry = bench.journal("sale")[-1]
    given = {"amount": "RMB 123.45", "trace": f"{sale.data['trace']:06d}",
             "batch": f"{sale.data['batch']:06d}", "auth_code": sale.data["auth_code"],
             "rrn": sale.data["rrn"], "card_number": sale.data["card"],
             "terminal_id": entry.tid, "merchant_id": entry.mid,
             "datetime": datetime.fromisoformat(entry.at).strftime("%Y-%m-%d %H:%M:%S")}
    expected = {k: parse_expectation(reader, k, v) for k, v in given.items()}
    verdict = verify(reader, frame, expected)
    assert verdict.status == "pass", verdict.explain()
    wrong = verify(reader, frame, dict(expected, amount=parse_expectation(reader, "amount", "RMB 124.45")))
    assert wrong.status == "fail" and wrong.faults == ("mismatch:amount",), wrong.explain()
