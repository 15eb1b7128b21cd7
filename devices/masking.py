"""Card-number masking, applied wherever data leaves the process.

A PAN is shown as its first 6 and last 4 digits at most; everything between becomes ``*``.
``scrub`` finds PAN-like digit runs (13-19 digits passing Luhn) inside free text, so a log
line or an exception built from raw data cannot leak a card number by accident.

One kind of run is known not to be a card number and is left alone: one whose last 13
digits are zeros. No issuer gives out an account number of zeros, and masking could hide
nothing there: the digits it hides (7th to 5th-last, 19 digits at most) all lie in that
tail. CUP's DE53 is such a run by its structure (3 digits of meaning, 13 zeros;
iso8583-cup.md section 4.5), and ``2600000000000000`` -- a PIN block under double-length
keys -- passes Luhn.
"""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
_ZERO_TAIL = "0" * 13


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask_pan(pan: str) -> str:
    """``6212341234567890`` -> ``621234******7890``."""
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def could_be_pan(digits: str) -> bool:
    """Whether a 13-19 digit run may be a card number: it passes Luhn and does not end in
    13 zeros (see the module's note)."""
    return luhn_ok(digits) and not digits.endswith(_ZERO_TAIL)


def scrub(text: str) -> str:
    """Mask every 13-19 digit run in ``text`` that could be a card number (track data
    included)."""
    return _DIGIT_RUN.sub(lambda m: mask_pan(m.group()) if could_be_pan(m.group()) else m.group(), text)
