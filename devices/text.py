"""Text that leaves the process through a log or a console: control characters escaped.

A terminal, a client or a card can put any character into a field the rig logs (DE63,
an operator id, a console line). Written raw, a newline starts a forged log line and a
carriage return or an ANSI escape rewrites what an operator sees, so every such text
goes through `escape_controls` first. Backslashes are left alone: the escapes only have
to make a line unable to break or repaint itself, not to be reversible.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, the Unicode line and paragraph separators, and the
# bidirectional overrides/isolates (they reorder what a reader sees without being seen).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(s: str) -> str:
    """`s` with every control character written as a visible escape (`\\n`, `\\x1b`, `\\u2028`).

    Printable text, Chinese included, passes through unchanged (and is returned as is,
    without a copy, when there is nothing to escape).
    """
    if _CONTROLS.search(s) is None:
        return s
    return _CONTROLS.sub(_escape, s)


def printable(text: str, limit: int | None = None) -> str:
    """``text`` made one safe line: controls escaped, cut to ``limit`` characters (saying how
    much was left out) when a limit is given."""
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return escape_controls(text)
