"""A slip as the terminal reports it printed (a station without a camera): each line parsed
by the template and compared with the same witnesses as the camera's reading. No OCR."""

from __future__ import annotations

import random

from harness.receipts import PrintLimits, ReceiptTemplate
from harness.receipts.corpus import make_sample, make_settlement_sample, note_line, template_data
from harness.receipts.reported import disagreements, fields_of, note_of

RAW = template_data("cup-standard")
TEMPLATE = ReceiptTemplate.from_dict(RAW)
LIMITS = PrintLimits()


def check(sample, template=TEMPLATE):
    return disagreements(template, LIMITS, sample.slip.lines, sample.witnesses)


def test_agreeing_slips_pass_with_their_note():
    for kw, note in ((dict(), ""), (dict(note="reprint"), "reprint"),
                     (dict(note="declined", rc="55"), "declined 55")):
        slip, wrong = check(make_sample(RAW, random.Random(400), **kw))
        assert (wrong, slip["note"]) == ([], note), kw
    settlement_raw = template_data("cup-settlement")
    settlement = make_settlement_sample(settlement_raw, random.Random(401), balanced=False)
    slip, wrong = check(settlement, ReceiptTemplate.from_dict(settlement_raw))
    assert (wrong, slip["note"]) == ([], "unbalanced")


def test_every_disagreement_is_named_with_the_witnesses():
    _, wrong = check(make_sample(RAW, random.Random(402), wrong_field="amount"))
    assert len(wrong) == 1 and wrong[0].startswith("amount: slip 'RMB ") and "ecr " in wrong[0]
    _, wrong = check(make_sample(RAW, random.Random(403), wrong_field="card_number"))
    assert len(wrong) == 1 and wrong[0].startswith("card_number: slip '")
    assert "******" in wrong[0]  # masked, as everything the rig keeps


def test_a_wrong_or_missing_note_is_named():
    _, wrong = check(make_sample(RAW, random.Random(404), note="reprint", printed_notes=()))
    assert len(wrong) == 1 and wrong[0].startswith("note: slip ends '金额 AMOUNT: RMB ")
    assert wrong[0].endswith(", ecr reprint")
    _, wrong = check(make_sample(RAW, random.Random(405), note="declined", rc="51",
                                 printed_notes=(note_line(RAW, "declined", "05"),)))
    assert [w.split(", ", 1)[1] for w in wrong] == ["ecr declined 51", "host declined 51"]


def test_a_decline_must_leave_the_authorisation_blank():
    s = make_sample(RAW, random.Random(406), note="declined")
    lines = tuple("授权码 AUTH NO: 123456" if line.startswith("授权码") else line for line in s.slip.lines)
    _, wrong = disagreements(TEMPLATE, LIMITS, lines, s.witnesses)
    assert wrong == ["auth_code: slip '123456', expected blank"]


def test_lines_are_split_into_fields_and_a_note():
    s = make_sample(RAW, random.Random(407), note="declined", rc="05")
    assert fields_of(TEMPLATE, s.slip.lines)["trace"] == s.values["trace"]
    assert note_of(TEMPLATE, s.slip.lines[-1]) == ("declined", "05")
    assert note_of(TEMPLATE, "重打印 REPRINT") == ("reprint", None)
    assert note_of(TEMPLATE, "金额 AMOUNT: RMB 1.00") == (None, None)
