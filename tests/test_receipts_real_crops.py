"""Two real German terminal customer copies kept in the repository (CC BY 4.0, cut from
softmatic/vision-data's scans: fixtures/receipts/corpus/NOTICE.md), read layout-free: every
field right that the slip labels, the amount printed large with no label flagged rather than
guessed, a wrong amount never a pass and, where the slip labels it, a mismatch (issue 15).
The rest of the real corpus is measured by bench/receipts_real.py."""

from __future__ import annotations

import cv2
import pytest

from harness.paths import FIXTURES
from harness.receipts import shared_engine
from harness.receipts.freeform import FreeformReader
from harness.receipts.freeform_check import parse_expectation, verify

CORPUS = FIXTURES / "receipts" / "corpus"


@pytest.fixture(scope="module")
def reader() -> FreeformReader:
    return FreeformReader(engine=shared_engine())


def expected(reader: FreeformReader, **given: str) -> dict:
    return {k: parse_expectation(reader, k, v) for k, v in given.items()}


@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_a_girocard_slip_with_its_labels_in_a_column_passes_and_a_wrong_amount_fails(reader):
    frame = cv2.imread(str(CORPUS / "de-07-block.jpg"))
    given = expected(reader, datetime="2020-05-14 16:14:45", trace="516813", merchant_id="0847421895",
                     auth_code="153838", terminal_id="65421895", amount="39,00")
    verdict = verify(reader, frame, given)
    assert verdict.status == "pass", verdict.explain()
    wrong = verify(reader, frame, dict(given, amount=parse_expectation(reader, "amount", "40,00")))
    assert wrong.status == "fail" and wrong.faults == ("mismatch:amount",), wrong.explain()


@pytest.mark.heavy  # CPU-heavy (OCR, worker processes, a whole run): the heavy set .ci/run runs
def test_a_date_with_a_two_digit_year_is_read_and_an_unlabelled_amount_is_flagged(reader):
    # Datum 23.09.16 14:05 Uhr: the example of a date once taken for 2309-01-06
    frame = cv2.imread(str(CORPUS / "de-05-block.jpg"))
    given = expected(reader, terminal_id="65220902", trace="133818", merchant_id="0833220902",
                     auth_code="999043", datetime="2016-09-23 14:05", amount="152,00")
    verdict = verify(reader, frame, given)
    status = {c.key: c.status for c in verdict.checks}
    assert status == {"terminal_id": "ok", "trace": "ok", "merchant_id": "ok", "auth_code": "ok",
                      "datetime": "ok", "amount": "unreadable"}, verdict.explain()
    assert verdict.status == "unreadable" and not verdict.faults
    wrong = verify(reader, frame, dict(given, amount=parse_expectation(reader, "amount", "153,00")))
    assert wrong.status != "pass" and not wrong.faults
