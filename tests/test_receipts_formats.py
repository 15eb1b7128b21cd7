"""Value formats of terminal families, expectations a person types, the label dictionary,
and the CLI's small promises (issue 15 item 3, issue 16): no OCR model needed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import cv2
import numpy as np
import pytest
import yaml

from harness.config import ConfigError
from harness.paths import FIXTURES
from harness.receipts import formats as fm
from harness.receipts.cli import parse_expectations
from harness.receipts.freeform import Labels
from harness.receipts.template import ReceiptTemplate

CUP = ReceiptTemplate.from_dict(
    yaml.safe_load((FIXTURES / "receipts" / "cup-standard.yaml").read_text(encoding="utf-8")))
EUR = fm.Formats(currency="EUR", decimal=",", decimals=2, datetime=("%d.%m.%y %H:%M",))
KRW = fm.Formats(currency="KRW", decimals=0)
ANY = fm.Formats()


@pytest.mark.parametrize(("text", "fmt", "value"), [
    ("EUR 152,00", EUR, Decimal("152.00")),
    ("152,00 €", EUR, Decimal("152.00")),
    ("1.234,56 EUR", EUR, Decimal("1234.56")),
    ("29,000", KRW, Decimal(29000)),
    ("29,000원", KRW, Decimal(29000)),
    ("12.34", ANY, Decimal("12.34")),
    ("1,234.50", ANY, Decimal("1234.50")),
])
def test_an_expected_amount_is_taken_as_written(text, fmt, value):
    assert fm.expect_amount(text, fmt) == value


@pytest.mark.parametrize(("text", "fmt", "why"), [
    ("USD 3.00", EUR, "in USD; this template's slips print EUR"),
    ("12.5.0", ANY, "not a number written with thousands separators"),
    ("12,50", KRW, "has decimals"),
    ("twelve", ANY, "is not an amount"),
])
def test_an_expected_amount_that_does_not_parse_is_refused_saying_why(text, fmt, why):
    with pytest.raises(fm.FormatError, match=why):
        fm.expect_amount(text, fmt)


def test_a_date_whose_year_cannot_be_told_is_refused_not_reinterpreted():
    # once silently taken as 2309-01-06 14:00:05
    with pytest.raises(fm.FormatError, match="2026-01-31 15:41"):
        fm.expect_datetime("23.09.16 14:05", ANY)
    # a family whose slips print day.month.year says which it is
    assert fm.expect_datetime("23.09.16 14:05", EUR) == datetime(2016, 9, 23, 14, 5)
    assert fm.expect_datetime("2023-09-16 14:05", ANY) == datetime(2023, 9, 16, 14, 5)
    assert fm.expect_datetime("16.09.2023 14:05:09", ANY) == datetime(2023, 9, 16, 14, 5, 9)


@pytest.mark.parametrize(("text", "value"), [
    ("2026-01-24 21:50:35", datetime(2026, 1, 24, 21, 50, 35)),
    ("2026/01/18 13:50:12", datetime(2026, 1, 18, 13, 50, 12)),
    ("2026-01-31 15:41(토) POS:02", datetime(2026, 1, 31, 15, 41)),
    ("TIME 14JUN19   15:37", datetime(2019, 6, 14, 15, 37)),
    ("31.01.2026 15:41", datetime(2026, 1, 31, 15, 41)),
    ("2026/O1/31 I5:41:07", datetime(2026, 1, 31, 15, 41, 7)),  # O/0 and I/1 where digits stand
    ("LE 24/08/22 A 12:45:13", datetime(2022, 8, 24, 12, 45, 13)),  # French CB slip: "à" between
    ("2026年05月03日(日)11時04分", datetime(2026, 5, 3, 11, 4)),  # Japanese units
])
def test_dates_as_slips_print_them(text, value):
    assert fm.parse_datetime(text, ANY) == value


@pytest.mark.parametrize("text", ["LE 07/04/17 A 18:49:02", "07-04-2017 18:49"])
def test_a_french_date_that_reads_both_ways_is_refused_without_a_template(text):
    # April 7th or July 4th: the word between date and time does not tell which
    with pytest.raises(fm.FormatError, match="either way round"):
        fm.parse_datetime(text, ANY)
    day_first = fm.Formats(datetime=("%d/%m/%y %H:%M:%S",))
    assert fm.parse_datetime(text, day_first).date() == datetime(2017, 4, 7).date()


@pytest.mark.parametrize(("text", "head", "tail"), [
    ("621234******0019", "621234", "0019"),
    ("9440-03**-****-7569", "944003", "7569"),  # Korean: dashes between groups
    ("94400327********", "94400327", ""),  # first 8 shown, the end masked
    ("************3952", "", "3952"),  # last 4 only
    ("3702-9904-****-02*", "37029904", ""),
    ("4000 12XX XXXX 9010", "400012", "9010"),
])
def test_card_numbers_with_their_masks(text, head, tail):
    pan = fm.parse_pan(text, ANY)
    assert (pan.head, pan.tail, pan.masked) == (head, tail, True)


def test_a_card_number_is_compared_on_the_digits_both_show():
    slip = fm.parse_pan("9440-03**-****-7569", ANY)
    assert slip.agrees(fm.expect_pan("************7569", ANY))
    assert slip.agrees(fm.expect_pan("944003******7569", ANY))
    assert not slip.agrees(fm.expect_pan("944003******7560", ANY))
    assert not fm.parse_pan("94400327********", ANY).agrees(fm.expect_pan("************7569", ANY))
    assert not fm.parse_pan("6212340000000019", ANY).masked  # a PAN in clear is seen as such


def test_cup_expectations_follow_the_template_and_never_reinterpret():
    given = parse_expectations(CUP, ["amount=RMB 152,00", "trace=123", "datetime=2026-01-31 15:41:07"])
    assert given == {"amount": 15200, "trace": "000123", "datetime": datetime(2026, 1, 31, 15, 41, 7)}
    for item, why in (("terminal_id=1234", "print 8 digits there"),  # no longer zero-padded
                      ("amount=EUR 152,00", "in EUR; this template's slips print CNY"),
                      ("datetime=23.09.16 14:05", "format I can tell apart"),
                      ("auth_code=12345", "6 letters or digits")):
        with pytest.raises(ConfigError, match=why):
            parse_expectations(CUP, [item])


@pytest.mark.parametrize(("text", "key"), [
    ("商店代號：000812770060001", "merchant_id"),  # Traditional Chinese (Taiwan)
    ("端末機代號 13990071", "terminal_id"),
    ("终端编号 TERMINAL NO:10000001", "terminal_id"),
    ("Terminal-ID: 52461853", "terminal_id"),  # German
    ("Genehmigungs-Nr. 012345", "auth_code"),
    ("MONTANT 12,50 EUR", "amount"),  # French
    ("MERCHANT NAME: POSRIG", "merchant_name"),  # the longest label wins over MERCHANT
    ("MERCHANT ID 8981", "merchant_id"),
    ("승인번호 76862802", "auth_code"),  # Korean (data; the shipped recogniser reads no Hangul)
    ("APPR CODE: 05439D", "auth_code"),
    ("NO AUTO: 523196", "auth_code"),  # French CB slip
    ("Code d'autor.: 864531", "auth_code"),  # French fuel terminal
    ("Id. commerc.: 300022489637", "merchant_id"),
    ("N° TPE 01234567", "terminal_id"),
    ("TOT TTC € 21.74", "amount"),
    ("承認番号 0122120", "auth_code"),  # Japanese
    ("伝票No. 15876", "trace"),
    ("TML 12345678", "terminal_id"),  # Italian
    ("Trm-Id: 12345678", "terminal_id"),  # Swiss
])
def test_the_label_dictionary_knows_several_scripts(text, key):
    assert Labels.load().match(text)[0] == key


def test_short_labels_must_be_read_exactly_and_whole():
    labels = Labels.load()
    assert labels.match("MID 22341842")[0] == "merchant_id"
    assert labels.match("MIDDLE 22341842") is None
    assert labels.match("TlD 1234") is None  # one character off a 3-letter label: not it


@pytest.mark.parametrize("text", ["CARTE BANCAIRE", "CARTES BANCAIRES: ************0910",
                                  "Date d'expiration: 31/05/18", "TICKET CLIENT", "A CONSERVER"])
def test_a_french_slips_titles_and_expiry_date_are_no_field_labels(text):
    # CARTE BANCAIRE heads a CB slip with the AID under it (A0000000041010), and is a till's
    # payment line: neither the card number nor the amount; an expiry date is not the date
    assert Labels.load().match(text) is None


def test_receipt_read_of_a_missing_file_says_it_is_missing(tmp_path, capsys):
    from harness.cli import main

    assert main(["receipt", "read", str(tmp_path / "nope.jpg")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "text.jpg").write_text("not a photo")
    assert main(["receipt", "read", str(tmp_path / "text.jpg")]) == 2
    assert "not an image" in capsys.readouterr().err


def test_annotations_keep_chinese():
    from harness.receipts.annotate import _draw_captions

    blank = np.full((120, 400, 3), 128, np.uint8)
    chinese, marks = blank.copy(), blank.copy()
    _draw_captions(chinese, [((10, 60), "txn_type: 消费 SALE", (40, 160, 40))], 20)
    _draw_captions(marks, [((10, 60), "txn_type: ?? SALE", (40, 160, 40))], 20)
    # the two characters are drawn as themselves, not as question marks
    assert cv2.absdiff(chinese, marks).sum() > 0
    ink = (cv2.absdiff(chinese, blank).sum(axis=2) > 60)
    assert ink[:, 100:160].sum() > 100


@pytest.mark.parametrize(("text", "value"), [
    ("03/30/13 18:51:29", datetime(2013, 3, 30, 18, 51, 29)),  # 30 can only be the day: US order
    ("03-31-2013 03:39PM", datetime(2013, 3, 31, 15, 39)),  # a 12-hour clock
    ("31.01.26 15:41", datetime(2026, 1, 31, 15, 41)),  # a dot: Europe's day.month.year
])
def test_day_and_month_in_the_order_the_date_proves(text, value):
    assert fm.parse_datetime(text, ANY) == value


def test_a_date_that_reads_both_ways_is_refused_unless_the_family_says():
    with pytest.raises(fm.FormatError, match="either way round"):
        fm.parse_datetime("12/10/2012 12:52 PM", ANY)
    us = fm.Formats(datetime=("%m/%d/%Y %I:%M %p",))
    assert fm.parse_datetime("12/10/2012 12:52 PM", us) == datetime(2012, 12, 10, 12, 52)


def test_an_amount_read_with_a_stray_character_is_not_another_amount():
    # a dollar sign read as 5 before 50.90 is not 550.90
    with pytest.raises(fm.FormatError):
        fm.parse_amount("5 50.90", ANY)
    assert fm.parse_amount("1 234,56", ANY) == Decimal("1234.56")
    assert fm.parse_amount("$ 50.90", ANY) == Decimal("50.90")
