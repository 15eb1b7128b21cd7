"""Claiming a station for one worker process: a file lock per station.

pytest-xdist starts one worker per ``-n``; each claims the first free station of the
inventory with a non-blocking lock in a directory every worker shares (the session's base
temp), runs every test it is given there, and lets go when it ends, even if it crashes
(the OS drops a dead process's lock). Groups (``xdist_group``) are not used: with
``--dist loadgroup`` pytest-xdist 3.8 ignores them silently (ANCHORS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock, Timeout

from harness.station import StationBroken


class StationClaim:
    def __init__(self, lock_dir: Path, names: Sequence[str]):
        self.lock_dir, self.names = lock_dir, list(names)
        self.name: str | None = None
        self._lock: FileLock | None = None

    def acquire(self) -> str:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            lock = FileLock(str(self.lock_dir / f"{name}.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            self.name, self._lock = name, lock
            return name
        raise StationBroken(f"all {len(self.names)} stations of the lab are claimed by other "
                            f"workers ({', '.join(self.names)}); run at most that many workers")

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock, self.name = None, None
