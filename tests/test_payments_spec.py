"""The CUP profile's byte layouts, checked against the reference (iso8583-cup.md §1.6)."""

from __future__ import annotations

import pytest

from devices.host.testing import lab_card, lab_config, terminal_config
from devices.payments.keys import WorkingKeys
from devices.payments.settlement import BatchItem, Totals
from devices.payments.spec import (
    MessageFormatError,
    decode_message,
    describe,
    encode_message,
    track_to_z,
    z_to_track,
)
from devices.payments.terminal_side import TerminalSession

PAN19 = "6212340000000000018"


def fields_after_bitmap(doc: dict[str, str]) -> bytes:
    return encode_message(doc)[10:]


def test_mti_is_two_bcd_bytes_and_bitmap_eight_binary():
    raw = encode_message({"t": "0200", "3": "000000"})
    assert raw[:2] == b"\x02\x00"
    assert raw[2:10] == bytes.fromhex("2000000000000000")
    assert raw[10:] == b"\x00\x00\x00"


def test_de22_left_aligned_with_trailing_zero():
    assert fields_after_bitmap({"t": "0200", "22": "021"}) == b"\x02\x10"
    assert decode_message(encode_message({"t": "0200", "22": "051"}))["22"] == "051"


def test_de23_right_aligned():
    assert fields_after_bitmap({"t": "0200", "23": "001"}) == b"\x00\x01"


def test_llvar_numeric_counts_digits_and_pads_trailing_zero():
    assert fields_after_bitmap({"t": "0200", "2": PAN19}) == bytes.fromhex(
        "19" + PAN19 + "0")


def test_lllvar_numeric_length_is_two_bcd_bytes():
    de60 = "22000001000"  # 11 digits: 00 11, then 6 bytes
    assert fields_after_bitmap({"t": "0800", "60": de60}) == bytes.fromhex("0011" + de60 + "0")


def test_track2_is_z_with_separator_as_d():
    track = "6212340000000019=30122200000000000"
    z = track_to_z(track)
    raw = fields_after_bitmap({"t": "0200", "35": z})
    assert raw == bytes.fromhex(f"{len(track):02d}" + z)  # 34 digits: even, no pad
    assert z_to_track(decode_message(encode_message({"t": "0200", "35": z}))["35"]) == track


def test_text_fields_ascii_and_lll_bytes():
    raw = fields_after_bitmap({"t": "0800", "41": "10000001", "63": "01 "})
    assert raw == b"10000001" + b"\x00\x03" + b"01 "


def test_round_trip_of_a_full_sale():
    doc = {"t": "0200", "2": "6212340000000019", "3": "000000", "4": "000000001234",
           "11": "000002", "14": "3012", "22": "051", "23": "001", "25": "00", "26": "12",
           "35": "6212340000000019D30122200000000000", "41": "10000001",
           "42": "898100012340001", "49": "156", "52": "0123456789ABCDEF",
           "53": "2600000000000000", "55": "9F260800", "60": "22000001000500",
           "64": "3132333435363738"}
    back = decode_message(encode_message(doc))
    assert {k: v for k, v in back.items() if k != "p"} == doc


def test_secondary_bitmap_is_a_format_error():
    raw = bytearray(encode_message({"t": "0200", "3": "000000"}))
    raw[2] |= 0x80
    with pytest.raises(MessageFormatError, match="secondary bitmap") as exc:
        decode_message(bytes(raw))
    assert exc.value.mti == "0200"


def test_field_outside_profile_is_a_format_error():
    raw = bytearray(encode_message({"t": "0200", "3": "000000"}))
    raw[2 + 0] |= 0x02  # DE7
    with pytest.raises(MessageFormatError, match="DE7"):
        decode_message(bytes(raw))


def test_bitmap_naming_absent_field_is_a_format_error_with_partial_fields():
    raw = bytearray(encode_message({"t": "0200", "11": "000123", "41": "10000001"}))
    raw[2 + 7] |= 0x01  # DE64 announced, not there
    with pytest.raises(MessageFormatError, match="DE64") as exc:
        decode_message(bytes(raw))
    assert exc.value.partial["41"] == "10000001"
    assert exc.value.partial["11"] == "000123"


def test_too_short_and_non_bcd_mti():
    with pytest.raises(MessageFormatError, match="10"):
        decode_message(b"\x02\x00\x00")
    with pytest.raises(MessageFormatError, match="MTI"):
        decode_message(b"\x0a\x00" + bytes(8))


def test_encode_error_names_the_field():
    with pytest.raises(MessageFormatError, match="DE4"):
        encode_message({"t": "0200", "4": "12"})


def test_describe_masks_pan_and_hides_secrets():
    doc = {"t": "0200", "2": "6212340000000019", "35": "6212340000000019D3012",
           "52": "0123456789ABCDEF", "62": "AABBCCDD"}
    text = describe(doc)
    assert "621234******0019" in text
    assert "6212340000000019" not in text
    assert "0123456789ABCDEF" not in text and "AABBCCDD" not in text
    assert "52=***" in text and "62=***" in text


def test_describe_never_shows_the_pans_inside_a_magstripe_batch_upload():
    card = lab_card("cup-magstripe")
    session = TerminalSession(terminal_config("10000001", lab_config().terminals["10000001"]))
    session._keys = WorkingKeys.generate("003")  # no host needed to build the messages
    item = BatchItem(stan="000007", pan=card.pan, amount=1500, kind="sale", ic=False,
                     domestic=True, entry_mode="021")
    upload = session.batch_upload_mag_request(stan=8, batch=1, items=[item])
    assert card.pan in upload.fields["48"]  # the record does carry it ...
    text = describe(upload.fields)
    assert card.pan not in text and "48=<" in text  # ... the log line does not
    settle = session.settle_request(stan=9, batch=1, totals=Totals.of([item]))
    assert f"48={settle.fields['48']}" in describe(settle.fields)  # totals stay readable
    end = session.batch_upload_end_request(stan=10, batch=1, count=1, balanced=False)
    assert "48=0001" in describe(end.fields)
