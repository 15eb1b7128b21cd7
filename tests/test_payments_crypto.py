"""Payment crypto against published vectors and the reference's step-by-step MAC."""

from __future__ import annotations

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from devices.payments import crypto
from devices.payments.crypto import CryptoError, Key, PinBlockError
from devices.payments.keys import WorkingKeys, pack_de62, unpack_de62

K1 = bytes.fromhex("0123456789ABCDEF")
K2 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def des(key: bytes, block: bytes) -> bytes:
    """Independent single DES for the tests (K||K||K)."""
    enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def test_check_values_match_published_ones():
    assert Key(K1).kcv().hex().upper() == "D5D44FF7"
    assert Key(K2).kcv().hex().upper() == "08D7B4FB"


def test_sm4_standard_vector():
    # GB/T 32907-2016 example: key = plaintext = 0123456789ABCDEFFEDCBA9876543210
    assert Key(K2, "sm4").encrypt(K2).hex().upper() == "681EDF34D206965E86B3E94F536E4246"


def test_single_length_key_is_k_k():
    assert Key(K1).encrypt(bytes(8)) == Key(K1 + K1).encrypt(bytes(8))


def test_key_never_shows_itself():
    key = Key(K2)
    for text in (repr(key), str(key), f"{key}"):
        assert "0123" not in text.upper() and "***" in text
    with pytest.raises(CryptoError) as exc:
        Key(K2[:7])
    assert K2[:7].hex() not in str(exc.value).lower()


def test_generated_des_keys_have_odd_parity():
    material = Key.generate(16).reveal()
    assert all(bin(b).count("1") % 2 == 1 for b in material)


def test_pin_block_format0_published_example():
    # PIN 1234, PAN 4000001234562000 -> 041234FEDCBA9DFF (PAN part excludes check digit)
    assert crypto.pin_block_format0("1234", "4000001234562000").hex().upper() == \
        "041234FEDCBA9DFF"


def test_pin_round_trip_and_errors_hide_the_pin():
    pik = Key(K2)
    block = crypto.encrypt_pin(pik, "123456", "6212340000000019")
    assert crypto.decrypt_pin(pik, block, "6212340000000019") == "123456"
    with pytest.raises(PinBlockError) as exc:
        crypto.decrypt_pin(Key(K1), block, "6212340000000019")
    assert "123456" not in str(exc.value) and block.hex() not in str(exc.value).lower()
    with pytest.raises(PinBlockError) as exc:
        crypto.pin_block_format0("12", "6212340000000019")
    assert "12" not in str(exc.value).replace("4 to 12", "")


def test_cup_ecb_mac_follows_reference_steps():
    data = bytes(range(1, 30))  # 29 bytes: not a multiple of 8
    padded = data + bytes(3)
    r = bytes(8)
    for i in range(0, 32, 8):
        r = bytes(a ^ b for a, b in zip(r, padded[i:i + 8], strict=True))
    hexr = r.hex().upper().encode()
    step4 = des(K1, hexr[:8])
    step5 = bytes(a ^ b for a, b in zip(step4, hexr[8:], strict=True))
    expected = des(K1, step5).hex().upper()[:8].encode()
    assert crypto.mac_cup_ecb(Key(K1), data) == expected
    assert len(expected) == 8 and expected == expected.upper()


def test_x919_published_vectors():
    msg = b"Now is the time for all "
    # ANSI X9.9 (single key) and X9.19 (double key) examples
    assert crypto.mac_x919(Key(K1), msg).hex().upper() == "70A30640CC76DD8B"
    assert crypto.mac_x919(Key(K2), msg).hex().upper() == "A1C72E74EA3FA9B6"


def test_mac_dispatch_and_compare():
    mak = Key(K1)
    mac = crypto.compute_mac("cup-ecb", mak, b"hello")
    assert crypto.mac_matches("cup-ecb", mak, b"hello", mac)
    assert not crypto.mac_matches("cup-ecb", mak, b"hellp", mac)
    with pytest.raises(CryptoError, match="unknown MAC"):
        crypto.compute_mac("md5", mak, b"x")


def test_track_encryption_window():
    tdk = Key(K2)
    z = "6212340000000019D30122200000000000"  # 34 nibbles: even
    enc = crypto.encrypt_track(tdk, z)
    assert len(enc) == len(z)
    # the 16 nibbles before the last packed byte change; the rest does not
    assert enc[:16] == z[:16] and enc[-2:] == z[-2:] and enc[16:32] != z[16:32]
    assert crypto.decrypt_track(tdk, enc) == z
    short = "1234D56"  # shorter than 17: padded with F on the left
    assert crypto.decrypt_track(tdk, crypto.encrypt_track(tdk, short)) == short


@pytest.mark.parametrize(("mode", "layout", "length"),
                         [("001", 60, 24), ("003", 60, 32), ("004", 60, 60), ("004", 52, 52)])
def test_de62_layouts(mode, layout, length):
    tmk = Key(K2)
    keys = WorkingKeys.generate(mode)
    blob = pack_de62(tmk, keys, mode, layout)
    assert len(blob) == length
    back = unpack_de62(tmk, blob, mode, layout)
    assert back.pik.reveal() == keys.pik.reveal()
    assert back.mak.reveal() == keys.mak.reveal() and len(back.mak) == 8
    assert (back.tdk is None) == (mode != "004")
    # each key is followed by its check value
    assert blob[len(keys.pik):len(keys.pik) + 4] == keys.pik.kcv()


def test_de62_single_des_uses_first_half_of_tmk():
    keys = WorkingKeys.generate("001")
    blob = pack_de62(Key(K2), keys, "001")
    assert blob[:8] == Key(K2[:8]).encrypt(keys.pik.reveal())


def test_de62_wrong_tmk_names_the_key():
    blob = pack_de62(Key(K2), WorkingKeys.generate("003"), "003")
    with pytest.raises(CryptoError, match="PIN key check value"):
        unpack_de62(Key(K2[::-1]), blob, "003")
    with pytest.raises(CryptoError, match="must be 32 bytes"):
        unpack_de62(Key(K2), blob[:-1], "003")
