"""The station's view of the acquirer host: its journal, the rig's second witness."""

from __future__ import annotations

from pathlib import Path

from devices.host import AcquirerHost, Journal


class HostLink:
    """Reads the host's journal, whether the host runs in this process or another."""

    def __init__(self, journal_path: Path | None, host: AcquirerHost | None = None):
        self.host = host
        self.journal_path = journal_path
        self._journal: Journal | None = host.journal if host is not None else None

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            if self.journal_path is None:
                raise LookupError("the lab inventory names no host journal to read")
            self._journal = Journal.open(self.journal_path)
        return self._journal

    def entries(self, tid: str, kind: str | None = None) -> list:
        return self.journal.entries(tid=tid, kind=kind)

    def last(self, tid: str, kind: str):
        found = self.entries(tid, kind)
        return found[-1] if found else None
