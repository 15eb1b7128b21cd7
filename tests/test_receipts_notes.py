"""Slips that end with a note: a reprint's mark, a decline's response code. Printed by the
simulated printer from the template, photographed by the simulated camera, read and checked
against their witnesses; the template's ``notes:`` section and its errors; the CLI's
``--expect note=...``."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from devices.camera.render import render_slip as print_on_paper
from harness.config import ConfigError
from harness.receipts import ReceiptReader, ReceiptTemplate, shared_engine
from harness.receipts.cli import parse_expectations
from harness.receipts.corpus import make_sample, note_line, on_tray, template_data

TEMPLATE = template_data("cup-standard")


@pytest.fixture(scope="module")
def reader() -> ReceiptReader:
    return ReceiptReader(TEMPLATE, engine=shared_engine())


@pytest.mark.parametrize(("rc", "level"), [("51", "flat"), ("05", "L1"), ("55", "L2")])
def test_a_decline_slip_verifies_with_its_code_and_blank_authorisation(reader, rc, level):
    s = make_sample(TEMPLATE, random.Random(200), note="declined", rc=rc)
    assert s.slip.lines[-1].startswith(f"交易失败 DECLINED: {rc} ")
    verdict = reader.verify(on_tray(s.slip, level, seed=200), s.witnesses)
    assert verdict.status == "pass", verdict.explain()
    note = verdict.reading.note
    assert (note.key, note.code) == ("declined", rc)
    assert verdict.check("note").witnesses == {"ecr": f"declined {rc}", "host": f"declined {rc}"}
    # no authorisation and no reference: printed blank, as both witnesses say
    for key in ("auth_code", "rrn"):
        check = verdict.check(key)
        assert (check.status, check.slip, check.witnesses) == (
            "ok", "", {"ecr": "(blank)", "host": "(blank)"}), check.line()


def test_a_decline_slip_whose_code_differs_from_the_ecr_result_fails(reader):
    s = make_sample(TEMPLATE, random.Random(201), note="declined", rc="51",
                    printed_notes=(note_line(TEMPLATE, "declined", "05"),))
    verdict = reader.verify(on_tray(s.slip, "L1", seed=201), s.witnesses)
    assert (verdict.status, verdict.faults) == ("fail", ("mismatch:note",)), verdict.explain()
    assert verdict.reading.note.code == "05"
    assert "response code 05" in verdict.check("note").detail


def test_a_value_printed_where_a_decline_has_none_fails(reader):
    s = make_sample(TEMPLATE, random.Random(202), note="declined")
    printed = [line if not line.startswith("授权码") else "授权码 AUTH NO: 123456" for line in s.slip.lines]
    faulty = type(s.slip)(tuple(printed))
    verdict = reader.verify(print_on_paper(faulty).image, s.witnesses)
    assert verdict.faults == ("mismatch:auth_code",), verdict.explain()


def test_a_reprint_is_verified_as_a_reprint(reader):
    s = make_sample(TEMPLATE, random.Random(203), note="reprint")
    verdict = reader.verify(on_tray(s.slip, "L2", seed=203), s.witnesses)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.reading.note.describe() == "reprint"
    assert verdict.check("note").status == "ok"
    assert verdict.check("auth_code").slip == s.values["auth_code"]  # the original's fields


def test_a_reprint_without_its_mark_fails(reader):
    s = make_sample(TEMPLATE, random.Random(204), note="reprint", printed_notes=())
    verdict = reader.verify(on_tray(s.slip, "L1", seed=204), s.witnesses)
    assert (verdict.status, verdict.faults) == ("fail", ("note_missing",)), verdict.explain()
    assert verdict.check("note").status == "missing" and verdict.reading.note is None


def test_a_reprint_marked_twice_fails(reader):
    mark = note_line(TEMPLATE, "reprint")
    s = make_sample(TEMPLATE, random.Random(211), note="reprint", printed_notes=(mark, mark))
    verdict = reader.verify(on_tray(s.slip, "L1", seed=211), s.witnesses)
    assert verdict.faults == ("mismatch:note",), verdict.explain()
    assert [n.key for n in verdict.reading.notes] == ["reprint", "reprint"]


def test_a_note_the_transaction_does_not_call_for_fails(reader):
    # an original slip marked as a reprint, and an approved sale's slip saying DECLINED
    for seed, note in ((205, "reprint"), (206, "declined")):
        s = make_sample(TEMPLATE, random.Random(seed), printed_notes=(note_line(TEMPLATE, note, "51"),))
        verdict = reader.verify(on_tray(s.slip, "flat", seed=seed), s.witnesses)
        assert verdict.faults == ("mismatch:note",), verdict.explain()
        assert verdict.check("note").witnesses == {"ecr": "no note", "host": "no note"}


@pytest.mark.parametrize("level", ["flat", "L1", "L2"])
def test_an_unknown_line_after_the_fields_is_never_let_pass(reader, level):
    for seed in (207, 208):
        s = make_sample(TEMPLATE, random.Random(seed), printed_notes=("谢谢惠顾 THANK YOU",))
        verdict = reader.verify(on_tray(s.slip, level, seed=seed), s.witnesses)
        assert verdict.status != "pass", verdict.explain()
        assert verdict.faults in ((), ("labels_missing",)), verdict.explain()
        assert verdict.reading.notes == ()


def test_ordinary_slips_carry_no_note_check(reader):
    s = make_sample(TEMPLATE, random.Random(209))
    verdict = reader.verify(on_tray(s.slip, "flat", seed=209), s.witnesses)
    assert verdict.status == "pass" and verdict.reading.note is None
    assert "note" not in {c.key for c in verdict.checks}


def test_the_template_lists_the_notes_and_refuses_bad_ones():
    notes = {n.key: n for n in ReceiptTemplate.from_dict(TEMPLATE).notes}
    assert (notes["reprint"].text, notes["reprint"].value) == ("重打印 REPRINT", None)
    assert (notes["declined"].text, notes["declined"].value) == ("交易失败 DECLINED", "response_code")
    assert ReceiptTemplate.from_dict({k: v for k, v in TEMPLATE.items() if k != "notes"}).notes == ()
    for bad, match in (
        (["重打印 REPRINT"], "notes: expected a mapping"),
        ({"declined": {"text": "交易失败 DECLINED", "value": "reason"}},
         "notes.declined.value: expected one of"),
        ({"reprint": 12.5}, "notes.reprint: expected the note's line"),
        ({"reprint": {"value": "response_code"}}, "notes.reprint.text: missing"),
        ({"odd": "金额 AMOUNT"}, "notes.odd.text: expected a line no field"),
    ):
        with pytest.raises(ConfigError, match=match):
            ReceiptTemplate.from_dict({**TEMPLATE, "notes": bad}, "cup-standard.yaml")


def test_cli_note_expectations():
    template = ReceiptTemplate.from_dict(TEMPLATE)
    assert parse_expectations(template, ["note=declined:51"])["note"] == ("declined", "51")
    assert parse_expectations(template, ["note=reprint"])["note"] == ("reprint", None)
    assert parse_expectations(template, ["note=none"])["note"] == (None, None)
    with pytest.raises(ConfigError, match="notes: none, reprint, declined"):
        parse_expectations(template, ["note=void"])
    with pytest.raises(ConfigError, match="prints no code"):
        parse_expectations(template, ["note=reprint:51"])
    with pytest.raises(ConfigError, match="2 letters or digits"):
        parse_expectations(template, ["note=declined:511"])


def test_a_person_may_ask_for_a_decline_without_naming_its_code(reader):
    s = make_sample(TEMPLATE, random.Random(210), note="declined", rc="54")
    given = replace(s.witnesses, given={"note": ("declined", None)})
    verdict = reader.verify(on_tray(s.slip, "flat", seed=210), given)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.check("note").witnesses == {"ecr": "declined 54", "host": "declined 54",
                                               "given": "declined"}
