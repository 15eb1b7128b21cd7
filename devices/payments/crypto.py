"""Payment crypto for the CUP profile, on ``cryptography`` directly (ANCHORS.md).

- :class:`Key`: a DES/3DES (8, 16 or 24 bytes; single length acts as K||K) or SM4 key.
  Its repr, str and any error never show the key; ``reveal()`` is the one explicit way
  out, for wrapping a key under another.
- check values: the key encrypting a block of zeros, first 4 bytes (reference §4.3).
- ISO 9564 format 0 PIN blocks, PAN part = 12 rightmost digits without the check digit.
- MACs: the CUP "ECB" MAC exactly as the reference §4.4 spells it, ANSI X9.19 as an option.
- track-data encryption with the TDK (reference §4.6).

PINs and PIN blocks are never put in an exception message.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Callable
from functools import reduce
from operator import xor

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from devices.faults import RigDefect


class CryptoError(RigDefect, ValueError):
    """Bad key material or a cryptogram that cannot be right; never carries secrets."""


class PinBlockError(CryptoError):
    """A PIN block that does not decode as format 0 under this key and PAN."""


_ODD_PARITY = bytes(b & 0xFE | (bin(b & 0xFE).count("1") + 1) % 2 for b in range(256))


def with_odd_parity(material: bytes) -> bytes:
    """DES keys carry odd parity per byte; HSMs and some PIN pads reject other keys."""
    return material.translate(_ODD_PARITY)


def _three_key(material: bytes) -> bytes:
    """K1||K2||K3 as ``cryptography`` wants it: single length is K||K||K (plain DES),
    double length K1||K2||K1. Same cipher, without the library's deprecation warnings."""
    if len(material) == 8:
        return bytes(material) * 3
    if len(material) == 16:
        return bytes(material) + bytes(material[:8])
    return bytes(material)


class Key:
    """A symmetric key that does not print. ECB only: every profile use is single-block
    or block-by-block. Not for concurrent use from several threads (it keeps its cipher
    contexts, which are stateless in ECB but not thread-safe)."""

    __slots__ = ("_dec", "_enc", "_material", "alg")

    def __init__(self, material: bytes, alg: str = "des"):
        if alg == "des":
            if len(material) not in (8, 16, 24):
                raise CryptoError(
                    f"a DES key is 8, 16 or 24 bytes, got {len(material)} (key not shown)")
            algo: algorithms.BlockCipherAlgorithm = TripleDES(_three_key(material))
        elif alg == "sm4":
            if len(material) != 16:
                raise CryptoError(f"an SM4 key is 16 bytes, got {len(material)} (key not shown)")
            algo = algorithms.SM4(bytes(material))
        else:
            raise CryptoError(f"unknown key algorithm {alg!r}: use 'des' or 'sm4'")
        self._material = bytes(material)
        self.alg = alg
        cipher = Cipher(algo, modes.ECB())
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    @classmethod
    def generate(cls, length: int, alg: str = "des") -> Key:
        material = os.urandom(length)
        return cls(with_odd_parity(material) if alg == "des" else material, alg)

    @property
    def block_size(self) -> int:
        return 16 if self.alg == "sm4" else 8

    def __len__(self) -> int:
        return len(self._material)

    def encrypt(self, data: bytes) -> bytes:
        self._check_blocks(data)
        return self._enc.update(data)

    def decrypt(self, data: bytes) -> bytes:
        self._check_blocks(data)
        return self._dec.update(data)

    def _check_blocks(self, data: bytes) -> None:
        if not data or len(data) % self.block_size:
            raise CryptoError(
                f"ECB data must be whole {self.block_size}-byte blocks, got {len(data)} bytes")

    def kcv(self) -> bytes:
        """Check value: the key encrypting a zero block, first 4 bytes."""
        return self.encrypt(bytes(self.block_size))[:4]

    def reveal(self) -> bytes:
        """The clear key material: only for wrapping it under another key."""
        return self._material

    def first_half(self) -> Key:
        """The single-length key a single-DES terminal uses out of a double-length TMK."""
        return Key(self._material[:8], self.alg)

    def __repr__(self) -> str:
        return f"Key({self.alg}, {len(self._material)} bytes, ***)"

    __str__ = __repr__


def wrap_key(kek: Key, key: Key) -> bytes:
    """``key`` encrypted under ``kek`` (ECB, block by block), as DE62 carries it."""
    return kek.encrypt(key.reveal())


def unwrap_key(kek: Key, blob: bytes, alg: str = "des") -> Key:
    return Key(kek.decrypt(blob), alg)


def check_kcv(key: Key, expected: bytes, name: str) -> None:
    if not hmac.compare_digest(key.kcv(), expected):
        raise CryptoError(
            f"{name} check value mismatch (got {expected.hex().upper()}): the key did not "
            f"decrypt to what the host sent -- is the terminal master key the same on both sides?")


# -- PIN blocks -----------------------------------------------------------------------------

def _pan_field(pan: str) -> int:
    if not (pan.isdigit() and len(pan) >= 13):
        raise PinBlockError("the PAN for a format-0 PIN block must be at least 13 digits")
    return int("0000" + pan[-13:-1], 16)


def pin_block_format0(pin: str, pan: str) -> bytes:
    """Clear ISO 9564 format 0 block. Only for encrypting at once: it is the PIN."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise PinBlockError("a PIN must be 4 to 12 digits (PIN not shown)")
    pin_field = int(f"0{len(pin):X}{pin}".ljust(16, "F"), 16)
    return (pin_field ^ _pan_field(pan)).to_bytes(8, "big")


def encrypt_pin(pik: Key, pin: str, pan: str) -> bytes:
    if pik.block_size != 8:
        raise PinBlockError(
            "format-0 PIN blocks are 8 bytes and need a DES/3DES PIN key; the profile's "
            "DE52 holds 8 bytes, so an SM4 PIN block is not defined here")
    return pik.encrypt(pin_block_format0(pin, pan))


def decrypt_pin(pik: Key, block: bytes, pan: str) -> str:
    """The PIN inside an encrypted format-0 block; :class:`PinBlockError` if it is not one
    (wrong key, wrong PAN or a corrupt block all look the same, as they would to an HSM)."""
    if len(block) != 8:
        raise PinBlockError(f"a PIN block is 8 bytes, got {len(block)}")
    clear = int.from_bytes(pik.decrypt(block), "big") ^ _pan_field(pan)
    digits = f"{clear:016X}"
    n = int(digits[1], 16)
    pin, pad = digits[2:2 + n], digits[2 + n:]
    if digits[0] != "0" or not 4 <= n <= 12 or not pin.isdigit() or pad.strip("F"):
        raise PinBlockError("PIN block is not ISO 9564 format 0 under this key and PAN")
    return pin


# -- MACs -----------------------------------------------------------------------------------

def _xor_blocks(data: bytes, size: int) -> bytes:
    if len(data) % size:
        data += bytes(size - len(data) % size)
    # One struct call for all 8-byte words is several times faster than a Python loop of
    # int.from_bytes; an SM4 block is two words, folded pairwise.
    words = struct.unpack(f">{len(data) // 8}Q", data)
    if size == 8:
        return struct.pack(">Q", reduce(xor, words, 0))
    return struct.pack(">QQ", reduce(xor, words[0::2], 0), reduce(xor, words[1::2], 0))


def mac_cup_ecb(mak: Key, data: bytes) -> bytes:
    """The CUP "ECB" MAC (reference §4.4), over MTI .. the byte before DE64.

    Zero-pad to the block size, XOR the blocks, write the result as upper-case hex, encrypt
    the first half, XOR with the second half, encrypt again, and keep the first 8 hex
    characters as ASCII: that is DE64. Generalised to SM4's 16-byte block by the same
    steps; with DES it is byte for byte the reference.
    """
    size = mak.block_size
    digest = _xor_blocks(data, size).hex().upper().encode()
    first = mak.encrypt(digest[:size])
    mixed = (int.from_bytes(first, "big") ^ int.from_bytes(digest[size:], "big")).to_bytes(
        size, "big")
    return mak.encrypt(mixed).hex().upper()[:8].encode()


def mac_x919(mak: Key, data: bytes) -> bytes:
    """ANSI X9.19 retail MAC: single-DES CBC with K1, then decrypt K2, encrypt K1. With the
    profile's 8-byte MAK, K2 = K1 and it is the X9.9 CBC-MAC. DE64 carries all 8 bytes."""
    if mak.alg != "des":
        raise CryptoError("ANSI X9.19 is a DES MAC; use cup-ecb with an SM4 key")
    material = mak.reveal()
    k1 = material[:8]
    k2 = material[8:16] or k1
    if len(data) % 8:
        data += bytes(8 - len(data) % 8)
    enc = Cipher(TripleDES(_three_key(k1)), modes.CBC(bytes(8))).encryptor()
    last = (enc.update(data) + enc.finalize())[-8:]
    if k2 != k1:
        last = Key(k2).decrypt(last)
        last = Key(k1).encrypt(last)
    return last


MAC_ALGORITHMS: dict[str, Callable[[Key, bytes], bytes]] = {
    "cup-ecb": mac_cup_ecb,
    "x9.19": mac_x919,
}


def compute_mac(alg: str, mak: Key, data: bytes) -> bytes:
    try:
        return MAC_ALGORITHMS[alg](mak, data)
    except KeyError:
        raise CryptoError(
            f"unknown MAC algorithm {alg!r}: choose one of {sorted(MAC_ALGORITHMS)}") from None


def mac_matches(alg: str, mak: Key, data: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(compute_mac(alg, mak, data), mac)


# -- track data (reference §4.6) ------------------------------------------------------------

def _track_window(track: str, size: int) -> tuple[str, int, int]:
    """Pad with F on the left to at least 2*size+1 nibbles; the encrypted window is the
    ``size`` packed bytes that precede the last packed byte of the BCD field."""
    nibbles = 2 * size
    track = track.upper().rjust(nibbles + 1, "F")
    end = len(track) - 1 if len(track) % 2 else len(track) - 2
    return track, end - nibbles, end


def encrypt_track(tdk: Key, z: str) -> str:
    """Encrypt the z (BCD, ``=`` as D) form of a track as DE35/36 carry it."""
    track, start, end = _track_window(z, tdk.block_size)
    return track[:start] + tdk.encrypt(bytes.fromhex(track[start:end])).hex().upper() + track[end:]


def decrypt_track(tdk: Key, z: str) -> str:
    """Inverse of :func:`encrypt_track`; the F padding is removed. Look for the separator
    only after this: ciphertext nibbles may be D."""
    try:
        track, start, end = _track_window(z, tdk.block_size)
        clear = track[:start] + tdk.decrypt(bytes.fromhex(track[start:end])).hex().upper()
    except ValueError:
        raise CryptoError("track data is not hex digits; cannot decrypt it") from None
    return (clear + track[end:]).lstrip("F")
