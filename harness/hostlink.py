"""The station's view of the acquirer host: its journal (the rig's second witness) and its
script (the rig's lever on what the host answers).

The host runs in the rig's process (the pytest plugin, ``posrig run``), or in another one:
``posrig lab up`` in a second shell, ``posrig host serve`` on the lab PC, pabot processes
sharing one lab. In-process, the script is called directly; otherwise through the host's
control socket (devices/host/control.py), which the live inventory names as
``host.control``. The journal is read from its SQLite file either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devices.faults import RigDefect
from devices.host import AcquirerHost, Journal
from devices.host.control import ControlError, HostControl


class HostUnscriptable(RigDefect, LookupError):
    """The host runs elsewhere and names no control socket: a test cannot script it."""


class HostLink:
    """Reads the host's journal and scripts its answers, wherever the host runs."""

    def __init__(self, journal_path: Path | None, host: AcquirerHost | None = None,
                 control: Path | None = None, address: tuple[str, int] | None = None):
        self.host = host
        self.journal_path = journal_path
        self.control_path = control
        self._journal: Journal | None = host.journal if host is not None else None
        self._address = address

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            if self.journal_path is None:
                raise LookupError("the lab inventory names no host journal to read")
            self._journal = Journal.open(self.journal_path)
        return self._journal

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the rig reaches the host, if it knows (to tell a dead host from a terminal's
        wrong claim)."""
        if self.host is not None and self.host.port is not None:
            return self.host.config.listen[0], self.host.port
        return self._address

    def entries(self, tid: str, kind: str | None = None) -> list:
        return self.journal.entries(tid=tid, kind=kind)

    def last(self, tid: str, kind: str):
        found = self.entries(tid, kind)
        return found[-1] if found else None

    # -- the script --------------------------------------------------------------------------
    @property
    def scriptable(self) -> bool:
        return self.host is not None or self.control_path is not None

    def script_next(self, tid: str, kind: str | None, times: int | None, **behaviour: Any) -> None:
        """The host applies ``behaviour`` to terminal ``tid``'s next ``times`` messages of
        ``kind`` (``times=None``: until cleared)."""
        if self.host is not None:
            self.host.script.next(tid=tid, kind=kind, times=times, **behaviour)
        elif times is None:
            self._control().always(tid=tid, kind=kind, **behaviour)
        else:
            self._control().next(tid=tid, kind=kind, times=times, **behaviour)

    def clear_script(self, tid: str) -> None:
        """Forget what is still scripted for ``tid``; a host the rig cannot script has none."""
        if self.host is not None:
            self.host.script.clear(tid)
        elif self.control_path is not None:
            self._control().clear(tid)

    def pending(self) -> list[dict[str, Any]]:
        if self.host is not None:
            return [rule.to_dict() for rule in self.host.script.pending()]
        return self._control().pending()

    def _control(self) -> HostControl:
        if self.control_path is None:
            raise HostUnscriptable(
                "this lab's acquirer host runs in another process and the inventory names no "
                "control socket (host.control) to script it through; start it with "
                "`posrig lab up` or `posrig host serve --control PATH`, or run the host in the rig")
        return HostControl(self.control_path)


__all__ = ["ControlError", "HostLink", "HostUnscriptable"]
