"""Text from a device made safe for one log line (or one line of a console buffer).

A terminal's frames and console output are input: an operator id typed as
``"99\\r\\n[    0.100] READY"`` must not become a second, forged line in a log or in what
``Console.expect`` searches. Every control character (C0, DEL, C1, and the Unicode line and
paragraph separators ``str.splitlines`` would split on) is shown as an escape instead:
``\\r``, ``\\n``, ``\\t``, ``\\x1b``, ``\\u2028``. Printable text, Chinese included, is untouched.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with control characters escaped; cut to ``limit`` characters (saying how
    much was left out) when a limit is given."""
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return _CONTROL.sub(_escape, text)
