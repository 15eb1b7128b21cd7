"""One host per journal: a second one refuses to start and says who holds it.

Two hosts on one work directory would share the journal (two ledgers, one file of rows)
and the second would take over the first's control socket. The first host holds an
exclusive ``flock`` on ``<journal>.lock`` while it runs, the file naming its PID, its
address and its control socket; the kernel drops the lock when the process ends, however
it ends, so a host that died never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from devices.faults import StationFault


class HostBusyError(StationFault):
    """Another host runs on this journal (or control socket)."""


class HostLock:
    """``HostLock.take(journal, about)`` or raise :class:`HostBusyError`; ``release()``."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    def describe(self, about: dict[str, Any]) -> None:
        """Rewrite what the lock file says of its holder (the port once it is bound)."""
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps({"pid": os.getpid(), **about}).encode() + b"\n", 0)

    @classmethod
    def take(cls, journal: Path, about: dict[str, Any]) -> HostLock:
        path = Path(f"{journal}.lock")
        for _ in range(10):  # another host may remove the file between our open and lock
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise HostBusyError(
                    f"another acquirer host (pid {holder.get('pid', '?')}, listening on "
                    f"{holder.get('listen', '?')}, control socket {holder.get('control') or 'none'}) "
                    f"is using the journal {journal}; stop it first, or give this host another "
                    f"work directory (--workdir)") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                lock = cls(path, fd)
                lock.describe(about)
                return lock
            os.close(fd)
        raise HostBusyError(f"could not lock {path}: it keeps being replaced")

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # before unlocking: nobody can lock the old file after
        os.close(self._fd)
        self._fd = -1


def _read(fd: int) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096) or b"{}")
        if isinstance(data, dict):
            return data
    return {}
