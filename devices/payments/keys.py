"""Working keys in the sign-in response's DE62 (reference §4.3 and "posrig's choice").

Each key travels encrypted under the terminal master key (TMK), followed by its 4-byte
check value over the clear key. Layouts by 60.3:

    001  PIK 8  | kcv | MAK 8  | kcv                         24 bytes, single DES TMK
    003  PIK 16 | kcv | MAK 8  | kcv                         32 bytes
    004  PIK 16 | kcv | MAK 16 | kcv | TDK 16 | kcv          60 bytes ([C], default)
    004  PIK 16 | kcv | MAK 8  | kcv | TDK 16 | kcv          52 bytes ([J], profile option)

In the 60-byte layout the MAK slot holds the 8-byte MAK twice (K||K, as [C] stores it);
the terminal uses the first 8 bytes and the check value is over that 8-byte key. The MAK
is 8 bytes in every mode (reference, "MAC" row).
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.payments.crypto import CryptoError, Key, check_kcv, unwrap_key, wrap_key

KEY_MODES = ("001", "003", "004")
LAYOUT_LENGTHS = {("001", 60): 24, ("003", 60): 32, ("004", 60): 60,
                  ("001", 52): 24, ("003", 52): 32, ("004", 52): 52}


@dataclass(frozen=True)
class WorkingKeys:
    pik: Key
    mak: Key  # always 8 bytes
    tdk: Key | None = None  # 004 only

    @classmethod
    def generate(cls, key_mode: str) -> WorkingKeys:
        _check_mode(key_mode)
        pik = Key.generate(8 if key_mode == "001" else 16)
        tdk = Key.generate(16) if key_mode == "004" else None
        return cls(pik=pik, mak=Key.generate(8), tdk=tdk)


def _check_mode(key_mode: str) -> None:
    if key_mode not in KEY_MODES:
        raise CryptoError(f"sign-in key mode (60.3) {key_mode!r} is not one of {KEY_MODES}")


def transport_key(tmk: Key, key_mode: str) -> Key:
    """The key that wraps the working keys: a single-DES terminal uses the TMK's first half."""
    return tmk.first_half() if key_mode == "001" else tmk


def pack_de62(tmk: Key, keys: WorkingKeys, key_mode: str, layout: int = 60) -> bytes:
    _check_mode(key_mode)
    kek = transport_key(tmk, key_mode)
    out = wrap_key(kek, keys.pik) + keys.pik.kcv()
    mak = wrap_key(kek, keys.mak)
    if key_mode == "004" and layout == 60:
        mak += mak  # 16-byte slot, K||K
    out += mak + keys.mak.kcv()
    if key_mode == "004":
        if keys.tdk is None:
            raise CryptoError("key mode 004 needs a track-data key")
        out += wrap_key(kek, keys.tdk) + keys.tdk.kcv()
    return out


def unpack_de62(tmk: Key, blob: bytes, key_mode: str, layout: int = 60) -> WorkingKeys:
    """Decrypt and check each key; :class:`CryptoError` names the key whose check failed."""
    _check_mode(key_mode)
    expected = LAYOUT_LENGTHS.get((key_mode, layout))
    if expected is None:
        raise CryptoError(f"DE62 layout {layout} unknown: 60 ([C]) or 52 ([J])")
    if len(blob) != expected:
        raise CryptoError(
            f"DE62 for key mode {key_mode} must be {expected} bytes, got {len(blob)}")
    kek = transport_key(tmk, key_mode)
    pik_len = 8 if key_mode == "001" else 16
    pik = unwrap_key(kek, blob[:pik_len])
    check_kcv(pik, blob[pik_len:pik_len + 4], "PIN key")
    at = pik_len + 4
    mak = unwrap_key(kek, blob[at:at + 8])
    slot = 16 if key_mode == "004" and layout == 60 else 8
    check_kcv(mak, blob[at + slot:at + slot + 4], "MAC key")
    at += slot + 4
    tdk = None
    if key_mode == "004":
        tdk = unwrap_key(kek, blob[at:at + 16])
        check_kcv(tdk, blob[at + 16:at + 20], "track key")
    return WorkingKeys(pik=pik, mak=mak, tdk=tdk)
