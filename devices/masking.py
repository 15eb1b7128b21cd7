"""Card-number masking, applied wherever data leaves the process.

A PAN is shown as its first 6 and last 4 digits at most; everything between becomes ``*``.
``scrub`` finds PAN-like digit runs (13-19 digits passing Luhn) inside free text, so a log
line or an exception built from raw data cannot leak a card number by accident.
"""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


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


def scrub(text: str) -> str:
    """Mask every Luhn-valid 13-19 digit run in ``text`` (track data included)."""
    return _DIGIT_RUN.sub(lambda m: mask_pan(m.group()) if luhn_ok(m.group()) else m.group(), text)
