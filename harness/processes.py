"""The processes of one ``posrig run``, found and stopped whoever started them.

A run starts pytest (and its xdist workers), robot or pabot (whose robot processes and
``pabot.pabotlib`` each start a session of their own, so no process group holds them all).
Every one of them inherits ``POSRIG_RUN=<the run's --out directory>`` from the run's
environment; that mark is how a run finds what is left of its runners (a pabotlib pabot did
not stop), and how the next run on the same ``--out`` finds what a killed run left behind.
A lock file in ``--out`` tells a live run from a dead one: only one run at a time uses a
directory, and while no run holds the lock, a process with the mark belongs to a dead run.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from devices.faults import RigDefect

RUN_ENV = "POSRIG_RUN"
LOCK_NAME = ".posrig-run.lock"
_PR_SET_PDEATHSIG = 1
#: How often a wait for processes to end looks again (it ends as soon as they are gone).
POLL_S = 0.1


class RunBusy(RigDefect):
    """Another ``posrig run`` is using the same ``--out`` directory."""


@dataclass(frozen=True)
class Found:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"{self.command} (pid {self.pid})"


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _alive(pid: int) -> bool:
    """Running (a zombie has ended: only its parent's wait is missing)."""
    try:
        stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X", "")


def _command(pid: int) -> str:
    try:
        args = _read(f"/proc/{pid}/cmdline").split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in args if a]
    # "python -m pabot.pabotlib ..." reads better as "pabot.pabotlib ..."
    if len(words) > 2 and words[1] == "-m":
        words = words[2:]
    return " ".join(words)[:120]


def processes_of(out: Path, *, exclude: Iterable[int] = ()) -> list[Found]:
    """Every live process carrying the run mark of ``out`` (never this process)."""
    mark = f"{RUN_ENV}={out.resolve()}".encode()
    skip = {os.getpid(), *exclude}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            environ = _read(f"/proc/{entry.name}/environ")
        except OSError:
            continue  # gone, or another user's
        if mark in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(Found(int(entry.name), _command(int(entry.name))))
    return found


def children_of(pid: int) -> list[Found]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = _read(f"/proc/{entry.name}/stat").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] not in ("Z", "X"):
            found.append(Found(int(entry.name), _command(int(entry.name))))
    return found


def wait_gone(pids: Iterable[int], timeout_s: float) -> list[int]:
    """Wait until none of ``pids`` runs, at most ``timeout_s``; those still running."""
    left = [p for p in pids if _alive(p)]
    deadline = time.monotonic() + timeout_s
    while left and time.monotonic() < deadline:
        time.sleep(POLL_S)
        left = [p for p in left if _alive(p)]
    return left


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop(found: list[Found], grace_s: float = 5.0) -> list[Found]:
    """SIGTERM, then SIGKILL whatever is still there after ``grace_s``; what was stopped."""
    pids = [f.pid for f in found]
    signal_all(pids, signal.SIGTERM)
    stubborn = wait_gone(pids, grace_s)
    if stubborn:
        signal_all(stubborn, signal.SIGKILL)
        wait_gone(stubborn, grace_s)
    return found


def reap(out: Path, grace_s: float = 5.0) -> list[Found]:
    """Stop every process left with the run mark of ``out``."""
    return stop(processes_of(out), grace_s)


#: Looked up once, here: a child between fork and exec should not load libraries.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(sig: int = signal.SIGINT) -> None:
    """For ``preexec_fn``: the child gets ``sig`` when the run that started it dies, even by
    SIGKILL, so it ends its running test as interrupted instead of running on unwatched."""
    _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


class RunLock:
    """One run at a time on an ``--out`` directory (the OS drops the lock of a dead run)."""

    def __init__(self, out: Path):
        self.path = out / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunBusy(f"another posrig run (pid {holder}) is using {self.path.parent}; "
                              "wait for it, stop it, or give this run its own --out") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (it is only a name)
            self._fd = None
