"""The acquirer host posrig plays: CUP POS ISO 8583 over TCP, real crypto, a journal.

    host = AcquirerHost(HostConfig(terminals={...}, cards=[...]))
    port = host.start_in_thread()
    ...
    host.journal.entries(tid="10000001", kind="sale")
    host.stop()
"""

from devices.host.config import (
    HostConfig,
    HostConfigError,
    TerminalKeys,
    load_terminal_keys,
)
from devices.host.journal import Journal, JournalEntry, JournalError
from devices.host.lock import HostBusyError
from devices.host.server import AcquirerHost, HostError

__all__ = [
    "AcquirerHost",
    "HostBusyError",
    "HostConfig",
    "HostConfigError",
    "HostError",
    "Journal",
    "JournalEntry",
    "JournalError",
    "TerminalKeys",
    "load_terminal_keys",
]
