"""DE59 and the QR messages (devices/payments/qr.py), written once for host and terminal:
the page's worked example, the code families, masking in every description, the reversal's
DE59, and the answers a terminal must refuse."""

from __future__ import annotations

from datetime import datetime

import pytest

from devices.host.testing import LAB_CLOCK, lab_config, signed_in
from devices.payments import framing, qr
from devices.payments import messages as m
from devices.payments.spec import decode_message, describe
from devices.payments.terminal_side import ProtocolError, TerminalSession

EXAMPLE = ("A2061010020402012PR90A000123403006123456040083F1A9C0705008PRG10000"
           "A30196201234567890123456")
EXAMPLE_ANSWER = "A402020250301000000000123Q1030PR2025030110150210000001000123Q300203"


def test_the_pages_worked_example_encodes_and_parses():
    a2 = qr.encode_tlv([("01", "04"), ("02", "PR90A0001234"), ("03", "123456"),
                        ("04", "3F1A9C07"), ("05", "PRG10000")])
    text = qr.encode_tlv([("A2", a2), ("A3", "6201234567890123456")])
    assert text == EXAMPLE and len(text) == 90
    answer = qr.parse_tlv(EXAMPLE_ANSWER)
    assert answer == {"A4": "20250301000000000123", "Q1": "PR2025030110150210000001000123", "Q3": "03"}
    assert qr.order_number(datetime(2025, 3, 1, 10, 15, 2), "10000001", "000123") == answer["Q1"]


@pytest.mark.parametrize("text", ["A3", "A3019123", "A3x1212", "Q1005abc"])
def test_an_item_that_overruns_de59_is_an_error(text):
    with pytest.raises(qr.Tlv59Error):
        qr.parse_tlv(text)


def test_unknown_tags_are_read_past_and_the_first_of_a_tag_kept():
    assert qr.parse_tlv("ZZ003abcA300212A300299") == {"ZZ": "abc", "A3": "12"}


@pytest.mark.parametrize(("code", "wallet"), [
    ("134567890123456789", "01"), ("194567890123456789", "01"), ("2845678901234567", "02"),
    ("300000000000000000000000", "02"), ("6212345678901234567", "03"),
    ("6212345678901234", None), ("0912345678901234567", None), ("62123456789012345a7", None),
])
def test_code_families(code, wallet):
    assert qr.wallet_of(code) == wallet


def test_made_codes_are_of_their_family_and_unique():
    for wallet in ("01", "02", "03"):
        codes = {qr.make_code(wallet, n) for n in range(50)}
        assert len(codes) == 50 and {qr.wallet_of(c) for c in codes} == {wallet}
    with pytest.raises(ValueError, match="wallet"):
        qr.make_code("04")


def test_order_url_round_trips_and_foreign_codes_are_not_orders():
    order = "PR2026030405060710000001000009"
    assert qr.order_from_url(qr.order_url(order)) == order
    for text in ("https://example.com/o/" + order, qr.order_url(order) + "/x", "PR123"):
        assert qr.order_from_url(text) is None


@pytest.fixture
def session() -> TerminalSession:
    """A terminal session with working keys, from a real sign-in (the MAC needs them)."""
    from devices.host import AcquirerHost

    host = AcquirerHost(lab_config(clock=lambda: LAB_CLOCK))
    host.start_in_thread()
    try:
        yield signed_in(host).session
    finally:
        host.stop()


def test_c2b_sale_is_the_pages_message_and_its_description_masks_the_code(session):
    code = "6201234567890123456"
    out = qr.c2b_sale_request(session, stan=7, batch=1, amount=1234, code=code, serial="PR90A0001234")
    doc = decode_message(framing.decode_wire(out.wire).body)
    assert (doc["t"], doc["3"], doc["22"], doc["25"], doc["60"][:2], doc["60"][8:]) == (
        "0200", "000000", "032", "00", "22", "000600")
    assert not {"2", "14", "35", "52", "55"} & doc.keys()
    items = qr.parse_tlv(doc["59"])
    a2 = qr.parse_tlv(items["A2"])
    assert (items["A3"], a2["01"], a2["02"], a2["03"], len(a2["04"]), a2["05"]) == (
        code, "04", "PR90A0001234", "123456", 8, "PRG10000")
    line = describe(doc)
    assert code not in line and qr.mask_code(code) in line
    assert out.pan_masked == "620123*********3456"


def test_reversal_keeps_a3_q1_or_a4_only(session):
    sale = qr.c2b_sale_request(session, stan=8, batch=1, amount=100, code="6212345678901234567",
                               serial="SN1")
    assert qr.parse_tlv(qr.reversal_fields(sale).fields["59"]) == {"A3": "6212345678901234567"}
    order = qr.order_request(session, stan=9, batch=1, amount=100, serial="SN1")
    assert "59" not in qr.reversal_fields(order).fields, "no Q1 known yet: no DE59"
    assert qr.parse_tlv(qr.reversal_fields(order, order="PR1").fields["59"]) == {"Q1": "PR1"}


def test_an_approval_without_a_voucher_is_refused(session):
    out = qr.order_request(session, stan=10, batch=1, amount=100, serial="SN1")
    answer = {"t": "0210", "3": qr.PC_QR_ORDER, "4": out.fields["4"], "11": out.fields["11"],
              "39": "00", "41": out.fields["41"], "42": out.fields["42"],
              "59": qr.encode_tlv([("Q1", "PR1")])}
    wire = m.pack(answer, tpdu=framing.swap_tpdu(session.cfg.tpdu),
                  header=framing.make_header(session.cfg.header_version),
                  mak=session._require_keys().mak)
    with pytest.raises(ProtocolError, match="voucher"):
        qr.read_response(session, out, wire)

