"""Reading values back from OCR text, scoring expected values, QR, the CLI: no OCR model needed."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
import yaml

from harness.config import ConfigError
from harness.paths import FIXTURES
from harness.receipts import fields
from harness.receipts.cli import parse_expectations
from harness.receipts.ocr import ctc_logp, normalise
from harness.receipts.qr import read_qr
from harness.receipts.template import PrintLimits, ReceiptTemplate

TEMPLATE = ReceiptTemplate.from_dict(
    yaml.safe_load((FIXTURES / "receipts" / "cup-standard.yaml").read_text(encoding="utf-8")))


def spec(key: str):
    return TEMPLATE.field(key)


@pytest.mark.parametrize(("key", "text", "value"), [
    ("trace", "OOO12I", "000121"),  # O/0 and I/1 where only digits can stand
    ("batch", "０００８１５", "000815"),  # full-width digits
    ("merchant_id", "8981 0001 2340 001", "898100012340001"),
    ("auth_code", "1O6927", "106927"),  # a code of digits with an O in it
    ("auth_code", "A1B2C3", "A1B2C3"),  # letters stay letters in a code that has them
    ("amount", "RMB 7778.2I", 777821),
    ("amount", "RM8 18.05", 1805),
    ("amount", "ＲＭＢ　１２.３４", 1234),
    ("txn_type", "消费撤销 V0ID", "void"),
    ("txn_type", "消费SALE", "sale"),
    ("txn_type", "消费微情VOID", "void"),  # blurred Chinese, English exact, length right
    ("datetime", "2026/08/1121:31:1O", datetime(2026, 8, 11, 21, 31, 10)),
    ("datetime", "2026/07/05 18:38.52", datetime(2026, 7, 5, 18, 38, 52)),
])
def test_values_are_read_through_ocr_confusions(key, text, value):
    assert fields.parse(spec(key), text, TEMPLATE) == value


@pytest.mark.parametrize(("key", "text"), [
    ("trace", "00012"), ("amount", "RMB 12"), ("amount", "USD 12.00"), ("txn_type", "REFUND"),
    ("txn_type", "消费 VOID"), ("txn_type", "消费撤销 SALE"),  # halves of two types: unread
    ("datetime", "yesterday"),
    ("card_number", "621234"),
])
def test_text_that_is_not_a_value_of_the_field_is_refused(key, text):
    with pytest.raises(fields.FieldError):
        fields.parse(spec(key), text, TEMPLATE)


def test_a_masked_card_number_is_judged_without_counting_stars():
    # a recogniser often gets the length of a run of asterisks wrong; only digits matter
    for text in ("621234******0019", "621234*****0019", "621234********0019", "621234xx※*＊0019"):
        pan = fields.parse_masked_pan(text)
        assert (pan.first6, pan.last4, pan.masked) == ("621234", "0019", True)
    clear = fields.parse_masked_pan("6212340000000019")
    assert not clear.masked and clear.digits_shown == 16
    assert fields.shown(spec("card_number"), "6212340000000019") == "621234******0019"
    half = fields.parse_masked_pan("621234**00000019")
    assert not half.masked  # digits in the middle: not masked


def test_printed_forms_are_what_the_printer_prints():
    assert fields.printed(spec("amount"), 777821, TEMPLATE) == "RMB 7778.21"
    assert fields.printed(spec("trace"), "123", TEMPLATE) == "000123"
    assert fields.printed(spec("txn_type"), "void", TEMPLATE) == "消费撤销 VOID"
    pan = fields.parse_masked_pan("621234******0019")
    assert fields.printed(spec("card_number"), pan, TEMPLATE, pan_length=19) == "621234*********0019"


def test_normalise_folds_full_width_and_digit_lookalikes_only_when_asked():
    assert normalise("ＡＢ：１") == "AB:1"
    assert normalise("O1Il") == "O1Il"
    assert normalise("O1Il", digits=True) == "0111"


def _probs(path: list[int], classes: int = 5, p: float = 0.97) -> np.ndarray:
    out = np.full((len(path), classes), (1 - p) / (classes - 1))
    for t, c in enumerate(path):
        out[t, c] = p
    return out


def test_ctc_scores_the_spelled_label_far_above_a_neighbour():
    # classes: 0 blank, 1 'a', 2 'b', 3 'c', 4 'd'; the frames spell "abb" (blank between the b's)
    probs = _probs([1, 1, 0, 2, 0, 2, 0])
    right = ctc_logp(probs, [[1], [2], [2]])
    assert right > math.log(0.3)
    assert ctc_logp(probs, [[1], [2]]) < right - 3  # a repeated character needs its blank
    assert ctc_logp(probs, [[1], [3], [2]]) < right - 3
    assert ctc_logp(probs, [[1], [2, 3], [2]]) >= right  # folding a look-alike only adds mass
    assert ctc_logp(probs, [[1], [], [2]]) == float("-inf")


def test_qr_codes_are_read_with_zxing():
    import zxingcpp

    code = np.array(zxingcpp.create_barcode("posrig:trace=000123",
                                            zxingcpp.BarcodeFormat.QRCode).to_image(scale=4))
    paper = np.full((400, 300), 240, np.uint8)
    paper[100:100 + code.shape[0], 60:60 + code.shape[1]] = np.where(code < 128, 24, 240)
    assert read_qr(paper) == "posrig:trace=000123"
    assert read_qr(np.full((200, 200), 240, np.uint8)) is None


def test_print_limits_come_from_the_profile_and_are_checked():
    limits = PrintLimits.from_profile(FIXTURES / "terminals" / "posrig-sim.yaml")
    assert (limits.contrast_pass, limits.contrast_fail) == (0.40, 0.30)
    with pytest.raises(ConfigError):
        PrintLimits(contrast_pass=0.3, contrast_fail=0.4)


def test_cli_expectations_are_parsed_and_refused_with_the_field_list():
    given = parse_expectations(TEMPLATE, ["amount=12.34", "trace=123", "txn_type=void",
                                          "card_number=621234*********0019"])
    assert given["amount"] == 1234 and given["trace"] == "000123" and given["txn_type"] == "void"
    assert given["card_number"].length == 19
    with pytest.raises(ConfigError, match="fields: merchant_name"):
        parse_expectations(TEMPLATE, ["tip=1.00"])
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_expectations(TEMPLATE, ["amount"])


def test_one_opencv_build_the_headless_one_and_the_ocr_models_ship_in_the_wheel():
    from importlib import metadata

    from harness.receipts.ocr import model_paths

    assert metadata.version("opencv-python-headless")
    for gui_build in ("opencv-python", "opencv-contrib-python"):
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version(gui_build)
    paths = model_paths()
    assert all(p.is_file() and p.stat().st_size > 100_000 for p in paths.values())
