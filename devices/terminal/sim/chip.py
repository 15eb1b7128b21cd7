"""The chip's answer to the terminal's GENERATE AC, as DE55 carries it to the host.

Synthetic: the cryptogram is a keyed digest of the transaction data under a per-card
secret derived from the PAN, not a real issuer key; the host does not verify ARQCs yet.
The tags are the ones the reference lists for a CUP online sale.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date

from devices.cards import Card
from devices.payments import tlv


def generate_ac(card: Card, amount: int, atc: int, today: date | None = None) -> bytes:
    today = today or date.today()
    unpredictable = os.urandom(4)
    amount_bcd = bytes.fromhex(f"{amount:012d}")
    ac = hashlib.sha256(card.pan.encode() + amount_bcd + unpredictable + atc.to_bytes(2, "big")).digest()[:8]
    return tlv.encode([
        ("9F26", ac),  # application cryptogram (ARQC)
        ("9F27", b"\x80"),  # cryptogram information: ARQC
        ("9F10", bytes.fromhex("07010103A0A802010A010000000000")),  # issuer application data
        ("9F37", unpredictable),
        ("9F36", atc.to_bytes(2, "big")),
        ("95", bytes(5)),  # TVR: nothing flagged
        ("9A", bytes.fromhex(today.strftime("%y%m%d"))),
        ("9C", b"\x00"),  # transaction type: goods and services
        ("9F02", amount_bcd),
        ("5F2A", bytes.fromhex("0156")),  # CNY
        ("82", bytes.fromhex("7C00")),  # AIP
        ("9F1A", bytes.fromhex("0156")),
        ("9F03", bytes(6)),
        ("9F33", bytes.fromhex("E0E1C8")),  # terminal capabilities
    ])
