"""The terminal's half: request layouts and the checks it makes on responses.

Responses are built here by hand with the shared packer (no host), so each check can be
broken on purpose."""

from __future__ import annotations

import pytest

from devices.payments import framing
from devices.payments import messages as m
from devices.payments.crypto import Key, decrypt_pin, decrypt_track
from devices.payments.keys import WorkingKeys, pack_de62
from devices.payments.spec import decode_message
from devices.payments.terminal_side import (
    CardRead,
    MacError,
    ProtocolError,
    TerminalConfig,
    TerminalSession,
)

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PAN = "6212340000000019"
READ = CardRead(pan=PAN, track2=f"{PAN}=30122200000000000", expiry="3012", entry="chip",
                seq_no="001", icc=bytes.fromhex("9F260800"))


def config(**kw) -> TerminalConfig:
    return TerminalConfig(tid="10000001", mid="898100012340001", tmk=TMK, **kw)


def reply(out, changes: dict, *, mak: Key | None = None, proc_req: int = 0,
          tpdu: bytes | None = None) -> bytes:
    doc = {"t": m.response_mti(out.mti)}
    doc.update({k: v for k, v in out.fields.items() if k in ("3", "4", "11", "41", "42")})
    doc.update(changes)
    doc = {k: v for k, v in doc.items() if v is not None}
    return m.pack(doc, tpdu=tpdu or framing.swap_tpdu(out.wire[2:7]),
                  header=framing.make_header(proc_req=proc_req), mak=mak)


def signed_in(mode: str = "003", **kw) -> tuple[TerminalSession, WorkingKeys]:
    session = TerminalSession(config(key_mode=mode, **kw))
    out = session.signin_request(stan=1, batch=5, operator="01")
    keys = WorkingKeys.generate(mode)
    de62 = pack_de62(Key(TMK), keys, mode, kw.get("key_layout", 60)).hex().upper()
    result = session.signin_response(out, reply(out, {
        "39": "00", "12": "101112", "13": "0102", "60": f"00000007{mode}", "62": de62}))
    assert result.approved and result.batch == "000007" and session.signed_in
    assert (result.host_datetime.month, result.host_datetime.second) == (1, 12)
    return session, keys


def test_config_hides_tmk_and_validates():
    assert TMK.hex() not in repr(config()).lower()
    with pytest.raises(ValueError, match="8 characters"):
        TerminalConfig(tid="1", mid="898100012340001", tmk=TMK)
    with pytest.raises(ValueError, match="key mode"):
        config(key_mode="002")


def test_signin_request_layout():
    out = TerminalSession(config(key_mode="004")).signin_request(stan=7, batch=3, operator="1")
    doc = decode_message(out.wire[13:])
    assert doc["t"] == "0800" and doc["60"] == "00000003004" and doc["63"] == "01 "
    assert "62" not in doc and "64" not in doc
    assert out.wire[2:7] == bytes.fromhex("6000030000")


def test_signin_rejects_bad_check_value():
    session = TerminalSession(config())
    out = session.signin_request(stan=1, batch=1, operator="01")
    blob = bytearray(pack_de62(Key(TMK), WorkingKeys.generate("003"), "003"))
    blob[-1] ^= 1  # MAC key check value
    with pytest.raises(ProtocolError, match="MAC key check value"):
        session.signin_response(out, reply(out, {"39": "00", "60": "00000001003",
                                                 "62": blob.hex()}))
    assert not session.signed_in


def test_signin_decline_leaves_terminal_signed_out():
    session = TerminalSession(config())
    out = session.signin_request(stan=1, batch=1, operator="01")
    result = session.signin_response(out, reply(out, {"39": "97"}))
    assert result.rc == "97" and not session.signed_in


def test_sale_request_layout_003_chip_with_pin():
    session, keys = signed_in("003")
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin="123456")
    doc = decode_message(out.wire[13:])
    assert doc["3"] == "000000" and doc["4"] == "000000001234" and doc["22"] == "051"
    assert doc["23"] == "001" and doc["25"] == "00" and doc["26"] == "12"
    assert doc["53"] == "2600000000000000" and doc["60"] == "22000007000500"
    assert doc["2"] == PAN and doc["35"] == f"{PAN}D30122200000000000"
    assert decrypt_pin(keys.pik, bytes.fromhex(doc["52"]), PAN) == "123456"
    body = out.wire[13:]
    assert body[-8:] == m.compute_mac("cup-ecb", keys.mak, body[:-8])
    assert PAN not in repr(out)


def test_sale_request_004_encrypts_track_and_says_so():
    session, keys = signed_in("004")
    swipe = CardRead(pan=PAN, track2=f"{PAN}=30121010000000000", expiry="3012", entry="swipe")
    doc = decode_message(session.sale_request(stan=2, batch=7, amount=5, read=swipe,
                                              pin=None).wire[13:])
    assert "2" not in doc and "52" not in doc and doc["22"] == "022"
    assert doc["53"] == "0610000000000000"
    assert decrypt_track(keys.tdk, doc["35"]) == f"{PAN}D30121010000000000"


def test_sale_request_single_des_contactless_and_fallback():
    session, _ = signed_in("001")
    tap = CardRead(pan=PAN, track2=f"{PAN}=3012220", expiry="3012", entry="contactless",
                   seq_no="001", icc=b"\x9f\x26\x00")
    doc = decode_message(session.sale_request(stan=2, batch=7, amount=5, read=tap,
                                              pin="1234").wire[13:])
    assert doc["22"] == "071" and doc["60"][11:13] == "60" and doc["53"][:2] == "20"
    fb = CardRead(pan=PAN, track2=f"{PAN}=3012220", expiry="3012", entry="fallback")
    doc = decode_message(session.sale_request(stan=3, batch=7, amount=5, read=fb,
                                              pin=None).wire[13:])
    assert doc["22"] == "022" and doc["60"][11:13] == "52"


def test_sale_needs_sign_in():
    with pytest.raises(ProtocolError, match="not signed in"):
        TerminalSession(config()).sale_request(stan=1, batch=1, amount=1, read=READ, pin=None)


def test_financial_response_approved():
    session, keys = signed_in()
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin=None)
    result = session.financial_response(out, reply(out, {
        "39": "00", "37": "123456789012", "38": "654321", "12": "101112", "13": "0102",
        "2": PAN}, mak=keys.mak, proc_req=3))
    assert result.approved and result.mac_ok and result.rrn == "123456789012"
    assert result.proc_req == 3 and result.pan_masked == "621234******0019"
    assert result.amount == 1234 and result.host_date == "0102"


@pytest.mark.parametrize(("changes", "match"), [
    ({"11": "000099"}, "DE11"),
    ({"3": "200000"}, "DE3"),
    ({"41": "10000002"}, "DE41"),
    ({"4": "000000000001"}, "DE4"),
    ({"42": "898100012340009"}, "DE42"),
    ({"39": None}, "DE39"),
])
def test_financial_response_echo_checks(changes, match):
    session, keys = signed_in()
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin=None)
    with pytest.raises(ProtocolError, match=match) as exc:
        session.financial_response(out, reply(out, {"39": "00", **changes}, mak=keys.mak))
    assert not isinstance(exc.value, MacError)
    assert exc.value.reversal_reason == "06"


def test_partial_approval_may_change_amount():
    session, keys = signed_in()
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin=None)
    result = session.financial_response(out, reply(out, {"39": "10", "4": "000000001000"},
                                                    mak=keys.mak))
    assert result.approved and result.amount == 1000


def test_decline_without_mac_is_accepted_but_approval_is_not():
    session, _keys = signed_in()
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin=None)
    result = session.financial_response(out, reply(out, {"39": "A0"}))
    assert result.rc == "A0" and not result.mac_ok
    with pytest.raises(MacError, match="no MAC") as exc:
        session.financial_response(out, reply(out, {"39": "00"}))
    assert exc.value.reversal_reason == "A0"


def test_bad_mac_is_a_mac_error():
    session, keys = signed_in()
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin=None)
    wire = bytearray(reply(out, {"39": "00"}, mak=keys.mak))
    wire[-1] ^= 0x01
    with pytest.raises(MacError) as exc:
        session.financial_response(out, bytes(wire))
    assert exc.value.rc == "00"


def test_wrong_mti_and_unswapped_tpdu():
    session, keys = signed_in()
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin=None)
    with pytest.raises(ProtocolError, match="TPDU"):
        session.financial_response(out, reply(out, {"39": "00"}, mak=keys.mak,
                                                  tpdu=out.wire[2:7]))
    wrong = dict(out.fields)
    out.mti = "0400"  # expecting 0410 now
    with pytest.raises(ProtocolError, match="expected 0410"):
        session.financial_response(out, reply(type(out)("0200", wrong, out.wire),
                                              {"39": "00"}, mak=keys.mak))


def test_garbage_response_is_a_protocol_error():
    session, _ = signed_in()
    out = session.sale_request(stan=2, batch=7, amount=1234, read=READ, pin=None)
    with pytest.raises(ProtocolError, match="malformed"):
        session.financial_response(out, b"\x00\x03abc")
