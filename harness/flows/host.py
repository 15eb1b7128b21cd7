"""Telling the acquirer host what to do with the terminal's next message.

The host is the rig's second witness and its lever: a test scripts a decline, a silence
or a bad MAC for *this* station's terminal only (by its TID), so stations sharing one
host do not script each other. Teardown clears what a test left unused.
"""

from __future__ import annotations

from typing import Any

from devices import events
from devices.host.journal import JournalEntry
from harness.flows.core import source
from harness.hostlink import ControlError, HostUnscriptable
from harness.station import Station, StationBroken


def host_will(station: Station, kind: str | None = None, *, times: int | None = 1,
              **behaviour: Any) -> None:
    """The host applies ``behaviour`` (devices/host/script.py: rc, delay_ms, drop, close,
    corrupt_mac, unbalanced, resign) to this terminal's next ``times`` messages of ``kind``."""
    with events.step(source(station), f"host will answer the next {kind or 'message'}",
                     **behaviour, times=times if times is not None else "until cleared"):
        try:
            station.host.script_next(station.tid, kind, times, **behaviour)
        except (HostUnscriptable, ControlError) as exc:
            raise StationBroken(f"{station.name}: {exc}") from exc


def journal(station: Station, kind: str | None = None) -> list[JournalEntry]:
    """What the host journaled for this station's terminal, oldest first."""
    return list(station.host.entries(station.tid, kind))


def last_journaled(station: Station, kind: str) -> JournalEntry | None:
    return station.host.last(station.tid, kind)
