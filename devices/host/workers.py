"""Several host worker processes behind one port: a shared-nothing partition by terminal.

One Python process answers at most one core's worth of messages, and the ISO 8583 codec
alone takes half of that. ``HostConfig(workers=N)`` runs N worker processes, each with its
own event loop, listening on the same port (``SO_REUSEPORT``: the kernel spreads new
connections over them). What must stay one view is kept so:

- **A terminal's session and ledger** (working keys, batch, its transactions) live in
  exactly one worker, its owner: the TIDs, sorted, are dealt round robin. A worker that
  reads a frame for a terminal it does not own hands the *connection* to the owner (the
  socket descriptor and the bytes read so far, over a Unix socket): terminal-to-worker
  affinity cannot be chosen when the kernel accepts, only once DE41 is read. A terminal
  keeping its line open is handed over once; CUP's one connection per exchange pays it
  on every other exchange or so.
- **The issuer's balances** are per card, not per terminal: an array in shared memory
  under one lock.
- **The journal** is one SQLite file; row ids come from a shared counter and each
  worker's commit holds a shared lock (devices.host.journal.JournalShare).
- **Scripted behaviours** stay in the parent's :class:`Script`; a worker asks it over a
  pipe, and only while a shared counter says there are rules.
- **Sessions for the control channel**: one shared flag per terminal.

The parent keeps the port reserved (bound, not listening) and the control channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from devices import events
from devices.host.config import HostConfig
from devices.host.issuer import Issuer
from devices.host.journal import Journal, JournalShare
from devices.host.script import Behaviour, Script
from devices.text import escape_controls

#: Bytes a connection reads from its socket at a time (devices.host.server._Connection).
READ_SIZE = 16 * 1024
#: Bytes a connection may carry to its new owner: the frame and what followed it in the
#: buffer. A connection reads only when its buffer holds no complete frame (at most a
#: partial one, under 2 + 65,535 bytes), READ_SIZE at a time, so this is never exceeded:
#: a line pipelining any amount is handed over whole (the rest is still in the socket).
MAX_HANDOFF = READ_SIZE + 2 + 0xFFFF
_CTX = mp.get_context("spawn")  # no fork of a process that runs threads


def owners(config: HostConfig) -> dict[str, int]:
    """Which worker owns which terminal: sorted TIDs dealt round robin."""
    return {tid: i % config.workers for i, tid in enumerate(sorted(config.terminals))}


@dataclass(frozen=True)
class Shared:
    """What the workers share, created by the parent before it starts them."""

    balances: Any  # RawArray("q"), one per card in config order
    balance_lock: Any
    journal: JournalShare
    sessions: Any  # RawArray("b"), one per terminal, sorted TIDs
    rules: Any  # RawValue("i"): how many scripted rules the parent holds
    handoffs: Any  # Value("q"): connections handed to their terminal's owner so far


class Partition:
    """A worker's side of the partition: who owns a terminal, and handing a connection to
    its owner or taking one over."""

    def __init__(self, index: int, config: HostConfig, peers: dict[int, socket.socket],
                 handoffs: Any):
        self.index = index
        self.handoffs = handoffs
        self.owner = owners(config)
        self.peers = peers  # worker index -> SOCK_SEQPACKET socket to it

    def elsewhere(self, tid: str | None) -> int | None:
        """The owning worker when it is another one; None: handle it here (this worker's
        terminal, or no known terminal, whose answer needs no session)."""
        owner = self.owner.get(tid or "")
        return None if owner is None or owner == self.index else owner

    def send(self, owner: int, sock: socket.socket, data: bytes) -> None:
        fd = os.dup(sock.fileno())
        try:
            socket.send_fds(self.peers[owner], [data], [fd])
        finally:
            os.close(fd)  # the message holds its own reference until the owner takes it
        with self.handoffs.get_lock():
            self.handoffs.value += 1

    def listen(self, loop: asyncio.AbstractEventLoop,
               adopt: Any) -> None:
        """Call ``adopt(sock, data)`` for each connection another worker hands over."""
        for peer in self.peers.values():
            peer.setblocking(False)
            loop.add_reader(peer.fileno(), self._receive, peer, adopt)

    @staticmethod
    def _receive(peer: socket.socket, adopt: Any) -> None:
        with contextlib.suppress(BlockingIOError):
            data, fds, _, _ = socket.recv_fds(peer, MAX_HANDOFF + 1, 1)
            if fds:
                adopt(socket.socket(fileno=fds[0]), data)


class RemoteScript:
    """A worker's view of the parent's :class:`Script`."""

    def __init__(self, rules: Any, conn: Connection):
        self._rules, self._conn = rules, conn

    def take(self, tid: str | None, mti: str, kind: str) -> Behaviour | None:
        if not self._rules.value:  # no rules: the common case costs no message
            return None
        self._conn.send((tid, mti, kind))
        return self._conn.recv()


def print_log_event(event: events.StepEvent | events.LogEvent) -> None:
    """Exchange lines (already masked) to stdout, for a host run from a terminal."""
    if isinstance(event, events.LogEvent):
        print(escape_controls(event.text), flush=True)


def run_worker(config: HostConfig, index: int, shared: Shared,
               peers: dict[int, socket.socket], script_conn: Connection,
               ready: Any) -> None:
    """A worker process: one event loop serving its share of the terminals."""
    from devices.host.core import HostCore

    if config.print_exchanges:
        events.subscribe(print_log_event)
    from devices.host.server import AcquirerHost

    journal = Journal(config.journal_path, share=shared.journal, checkpoint="elsewhere")
    issuer = Issuer(config.cards, shared.balances, shared.balance_lock)
    core = HostCore(config, journal, issuer=issuer, worker=(index, config.workers),
                    script=RemoteScript(shared.rules, script_conn), sessions=shared.sessions)
    host = AcquirerHost(config, core=core, partition=Partition(index, config, peers, shared.handoffs))

    async def main() -> None:
        try:
            port = await host.start()
        except BaseException as exc:
            ready.put((index, f"{type(exc).__name__}: {exc}"))
            raise
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, host.stop)
        ready.put((index, port))
        await host.serve()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    journal.close()


class WorkerPool:
    """The parent's side: shared state, the reserved port, the workers, the script."""

    def __init__(self, config: HostConfig, journal: Journal):
        self.config = config
        self.shared = Shared(
            balances=_CTX.RawArray("q", [c.balance for c in config.cards]),
            balance_lock=_CTX.Lock(),
            journal=JournalShare(_CTX.Value("q", journal.last_id() + 1), _CTX.Lock()),
            sessions=_CTX.RawArray("b", len(config.terminals)),
            rules=_CTX.RawValue("i", 0), handoffs=_CTX.Value("q", 0))
        self.script = Script(counter=self.shared.rules)
        self.procs: list[Any] = []
        self._reserve: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self, timeout: float = 60.0) -> int:
        """Start the workers; returns the port once every one of them listens."""
        host, port = self.config.listen
        self._reserve = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._reserve.bind((host, port))  # held, never listening: the port stays ours
        port = self._reserve.getsockname()[1]
        config = replace(self.config, listen=(host, port), control_path=None)
        n = config.workers
        peers: list[dict[int, socket.socket]] = [{} for _ in range(n)]
        for a in range(n):
            for b in range(a + 1, n):
                peers[a][b], peers[b][a] = socket.socketpair(socket.AF_UNIX,
                                                             socket.SOCK_SEQPACKET)
                for sock in (peers[a][b], peers[b][a]):  # room for a few whole hand-overs
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MAX_HANDOFF)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MAX_HANDOFF)
        ready = _CTX.Queue()
        for i in range(n):
            mine, theirs = _CTX.Pipe()
            proc = _CTX.Process(target=run_worker, name=f"acquirer-host-{i}", daemon=True,
                                args=(config, i, self.shared, peers[i], theirs, ready))
            proc.start()
            self.procs.append(proc)
            thread = threading.Thread(target=self._serve_script, args=(mine,), daemon=True,
                                      name=f"acquirer-host-script-{i}")
            thread.start()
            self._threads.append(thread)
        for sockets in peers:  # the workers have their copies now
            for sock in sockets.values():
                sock.close()
        problems = []
        waiting, procs = set(range(n)), list(self.procs)
        deadline = time.monotonic() + timeout
        while waiting and not problems:
            # Not one blocking get: a worker killed while starting (Ctrl-C reaches the whole
            # process group) never answers, and stop() must not wait behind this minute.
            try:
                index, answer = ready.get(timeout=0.1)
            except queue.Empty:
                if self._stopping.is_set():
                    problems.append("the host was stopped while its workers started")
                for i in sorted(waiting):
                    if procs[i].exitcode is not None:
                        problems.append(f"worker {i} exited (code {procs[i].exitcode}) "
                                        "before listening")
                if time.monotonic() > deadline:
                    problems.append(f"workers {sorted(waiting)} not listening after {timeout} s")
                continue
            waiting.discard(index)
            if not isinstance(answer, int):
                problems.append(f"worker {index}: {answer}")
        if problems:
            self.stop()
            raise OSError("; ".join(problems))
        return port

    def _serve_script(self, conn: Connection) -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                tid, mti, kind = conn.recv()
                conn.send(self.script.take(tid, mti, kind))

    def signed_in(self) -> list[str]:
        return [tid for tid, flag in zip(sorted(self.config.terminals), self.shared.sessions,
                                         strict=True) if flag]

    def handoffs(self) -> int:
        return int(self.shared.handoffs.value)

    def stop(self) -> None:
        self._stopping.set()
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker stops serving and commits its rows
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.procs.clear()
        if self._reserve is not None:
            self._reserve.close()
            self._reserve = None
