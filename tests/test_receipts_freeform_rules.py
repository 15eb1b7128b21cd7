"""The layout-free reader's rules on text placed by hand (no OCR model, no photo): rows, a
value beside its label off level, a date and its time under two labels, the slip's total
where no label names it, and an id confirmed by sight. Each rule is checked both ways: what
it reads right, and that it never turns unsure into a pass or blames the terminal for what it
cannot tell (issue 15)."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest

from harness.receipts import formats as fm
from harness.receipts.freeform import FreeformReader, Token, _rows, find_value
from harness.receipts.freeform_check import SIGHTED, judge, parse_expectation
from harness.receipts.ocr import LineRead

FRAME = np.full((40, 40, 3), 255, np.uint8)


@pytest.fixture(scope="module")
def reader() -> FreeformReader:
    # the rules read recognised text only: no engine is needed
    return FreeformReader(engine=object())  # type: ignore[arg-type]


def tok(text: str, x: float, y: float, *, h: float = 20.0, conf: float = 0.99,
        weak: str = "") -> Token:
    """A box of ``text`` at (x, y), 12 px a character; characters in ``weak`` read at 0.5."""
    w = 12.0 * max(1, len(text))
    quad = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
    confs = tuple(0.5 if ch in weak else conf for ch in text)
    xs = tuple(12.0 * i + 6 for i in range(len(text)))
    return Token(quad, LineRead(text, confs, xs, np.zeros((1, 1)), {}))


def read(reader: FreeformReader, tokens: list[Token]):
    slip = _rows(tokens)
    return slip, reader._reading(FRAME, slip, time.perf_counter())


def check(reader: FreeformReader, reading, **given: str) -> dict[str, tuple[str, str]]:
    expected = {k: parse_expectation(reader, k, v) for k, v in given.items()}
    verdict = judge(reader, reading, expected)
    return {c.key: (c.status, c.detail) for c in verdict.checks}


# A German supermarket's card block: labels in a column, each value at the right half a row
# lower than its label (Datum: / Uhrzeit: / Beleg-Nr. / Trace-Nr.); rows 24 px apart, boxes 40
# px high as a detector's boxes are (grown past the ink, so they overlap the next row's).
def german_block() -> list[Token]:
    out = []
    for i, (label, value) in enumerate([("Datum:", "23.09.2021"), ("Uhrzeit:", "17:53:57 Uhr"),
                                        ("Beleg-Nr.", "2711"), ("Trace-Nr.", "084079")]):
        out.append(tok(label, 10, 100 + 24 * i, h=40))
        out.append(tok(value, 300, 100 + 24 * i + 12, h=40))
    return out


def test_two_boxes_one_above_the_other_are_two_rows(reader):
    slip, _ = read(reader, german_block())
    rows = [[t.text for t in row] for row in slip.rows]
    assert rows == [["Datum:", "23.09.2021"], ["Uhrzeit:", "17:53:57 Uhr"], ["Beleg-Nr.", "2711"],
                    ["Trace-Nr.", "084079"]]


def test_a_date_and_its_time_under_two_labels_are_one_value(reader):
    _, reading = read(reader, german_block())
    assert reading.value("datetime") == datetime(2021, 9, 23, 17, 53, 57)
    assert reading.value("trace") == "084079"


def test_a_value_not_level_with_its_label_confirms_but_never_blames_the_terminal(reader):
    _, reading = read(reader, german_block())
    assert reading.fields["trace"].label_box is None  # half a row lower: may be the next label's
    assert check(reader, reading, trace="084079")["trace"][0] == "ok"
    status, detail = check(reader, reading, trace="084070")["trace"]
    assert status == "unreadable" and "no label names it" in detail

    level = [tok("Trace-Nr.", 10, 100, h=40), tok("084079", 300, 102, h=40)]
    _, reading = read(reader, level)
    assert reading.fields["trace"].label_box is not None
    assert check(reader, reading, trace="084070")["trace"][0] == "mismatch"


def korean_tail(total: str = "29,000", times: int = 2, extra: tuple[str, ...] = ()) -> list[Token]:
    """Rows whose labels the recogniser cannot read (Hangul read as noise), values at the right."""
    values = ["26,364", "2,636", *([total] * times), *extra, "00652378", "3702-9904-****-0211"]
    return [t for i, v in enumerate(values)
            for t in (tok("舍卫", 10, 100 + 30 * i, conf=0.3), tok(v, 300, 100 + 30 * i))]


def test_the_slips_total_is_found_where_no_label_names_it_and_only_confirms(reader):
    _, reading = read(reader, korean_tail())
    assert reading.value("amount") == Decimal(29000)
    assert reading.fields["amount"].label_box is None
    assert check(reader, reading, amount="29,000")["amount"][0] == "ok"
    status, _ = check(reader, reading, amount="30,000")["amount"]
    assert status == "unreadable"  # never a mismatch, never a pass


def test_a_largest_amount_printed_once_is_not_taken_for_the_total(reader):
    _, reading = read(reader, korean_tail(times=1))
    assert reading.value("amount") is None
    # and a larger amount printed once above a repeated one leaves the total unknown too,
    # however unsurely it was read
    _, reading = read(reader, korean_tail(extra=("50,000",)))
    assert reading.value("amount") is None
    unsure = korean_tail(extra=("50,000",))
    unsure[9] = tok("50,000", 300, 100 + 30 * 4, weak="5")
    assert unsure[9].text == "50,000"
    _, reading = read(reader, unsure)
    assert reading.value("amount") is None


def test_an_id_no_label_names_is_confirmed_when_printed_exactly_on_its_own(reader):
    _, reading = read(reader, korean_tail())
    got = check(reader, reading, auth_code="00652378")
    assert got["auth_code"] == ("ok", SIGHTED)
    assert check(reader, reading, auth_code="00652379")["auth_code"][0] == "unreadable"
    assert check(reader, reading, merchant_id="652378")["merchant_id"][0] == "unreadable"  # a part

    # two ids on one row under two labels the recogniser cannot read (승인/가맹점): each its own
    _, reading = read(reader, [tok("合/", 10, 100, conf=0.3), tok("00373075/840895992", 300, 100),
                               tok("x", 10, 140), tok("y", 10, 180)])
    got = check(reader, reading, auth_code="00373075", merchant_id="840895992")
    assert got == {"auth_code": ("ok", SIGHTED), "merchant_id": ("ok", SIGHTED)}


def test_sight_needs_a_sure_reading_a_long_id_and_text_no_other_label_took(reader):
    weak = korean_tail()
    weak[-3] = tok("00652378", 300, 100 + 30 * 4, weak="5")
    _, reading = read(reader, weak)
    assert check(reader, reading, auth_code="00652378")["auth_code"][0] == "unreadable"

    short = [tok("TID", 10, 100), tok("00123", 300, 100), tok("00042", 300, 140), tok("x", 10, 180)]
    _, reading = read(reader, short)
    assert check(reader, reading, trace="00042")["trace"][0] == "unreadable"  # 5 characters: chance

    labelled = [tok("TID", 10, 100), tok("52461853", 300, 100), tok("x", 10, 140), tok("y", 10, 180)]
    _, reading = read(reader, labelled)
    # the terminal id's label took the text: it is not the authorisation code, whatever it says
    assert check(reader, reading, auth_code="52461853")["auth_code"][0] == "unreadable"


def test_a_card_number_followed_by_its_sequence_number_is_the_card_number(reader):
    _, reading = read(reader, [tok("girocard", 10, 100), tok("###############8203 0000", 10, 140),
                               tok("x", 10, 180)])
    assert check(reader, reading, card_number="###############8203")["card_number"][0] == "ok"
    # four groups of four are one number, not a number and its sequence number
    _, reading = read(reader, [tok("x", 10, 100), tok("4000 12** **** 9010", 10, 140), tok("y", 10, 180)])
    assert check(reader, reading, card_number="400012******9010")["card_number"][0] == "ok"

    # and where a learnt template looks for it (receipt learn, a learnt place): the same
    found = find_value("pan", "card_number", "Nr. ###############8203 0000", fm.Formats())
    assert [(v.tail, text_at) for v, text_at, _ in found] == [("8203", 4)]
