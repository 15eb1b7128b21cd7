"""Errors the terminal side raises on a response it must not accept."""

from __future__ import annotations

from devices.faults import TerminalDefect


class ProtocolError(TerminalDefect):
    """A response the terminal must not accept. ``reversal_reason`` is what a terminal
    stores for the pending reversal (06 other; :class:`MacError` has A0)."""

    reversal_reason = "06"

    def __init__(self, message: str, *, rc: str | None = None):
        super().__init__(message)
        self.rc = rc


class MacError(ProtocolError):
    reversal_reason = "A0"
