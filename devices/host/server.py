"""The acquirer host's asyncio TCP server: reads frames, asks :class:`HostCore`, answers.

Connections are asyncio protocols rather than stream tasks: at thousands of round trips a
second the per-message cost of the stream layer was as large as the ISO 8583 codec's. Each
connection parses its own buffer, so one terminal's slow or hostile input never holds up
another:

- the length prefix is checked as soon as its 2 bytes are in (a huge or tiny length
  closes the connection before anything more is read);
- a sweeper closes connections idle longer than ``idle_timeout`` and frames not complete
  ``frame_timeout`` after their first byte (slow loris);
- a connection whose answers are not being read stops being read (back-pressure);
- a connection reads 16 KiB at a time, only when it holds no complete frame, and handles
  at most :data:`FRAMES_PER_TURN` frames before the loop turns to the others: a client
  pipelining thousands of frames delays another terminal by a few turns, not thousands;
- at ``max_connections_per_peer`` or ``max_connections`` the line idle longest makes room
  (:meth:`AcquirerHost.admit`), and a new line that sends nothing is closed after
  ``first_frame_timeout``: idle connections never lock a terminal out;
- anything the host cannot frame closes that connection and is journaled (per peer:
  devices.host.refusals).

Answers are not written the moment they are made: every connection's answers of one loop
iteration go out together at its end, after one journal commit. A file journal's rows are
thus committed before the terminal holds its answer (another process reading the journal
never lags the terminal), at one SQLite transaction per iteration instead of one per
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

from devices import events
from devices.faults import StationFault
from devices.host import dispatch
from devices.host.config import HostConfig
from devices.host.control import start_control
from devices.host.core import HostCore, Outcome
from devices.host.journal import Journal
from devices.host.lock import HostLock
from devices.host.workers import MAX_HANDOFF, READ_SIZE, Partition, WorkerPool
from devices.masking import scrub
from devices.payments import framing
from devices.payments.spec import MessageFormatError, decode_message

#: Frames one connection may have handled in one event-loop iteration before the others.
#: 4 frames of ~100 us: a terminal behind three pipelining clients waits ~1.2 ms a turn.
#: Measured behind three hogs on the shared 2-core machine (load 15-35): a sign-in's p99
#: was 70-90 ms with 4, 75-340 ms with 8, 318 ms with 16 (10 s, timed out, before).
FRAMES_PER_TURN = 4
#: Turns given to connections with frames left over, all of them together, per event-loop
#: iteration (round robin): what a new terminal waits behind stays the same however many
#: clients pipeline.
BACKLOG_TURNS = 1


class HostError(StationFault):
    pass


class AcquirerHost:
    """``port = host.start_in_thread()`` ... ``host.stop()``; or ``await host.serve()``."""

    def __init__(self, config: HostConfig, *, core: HostCore | None = None,
                 partition: Partition | None = None):
        """``core`` and ``partition`` are given by devices.host.workers to each worker of a
        host with ``config.workers > 1``; that host's own object only starts and stops
        them, keeps the script and the control channel, and reads the journal."""
        dispatch.install()  # which handler answers which request (dispatch.py)
        self.config = config
        self.partition = partition
        self.pool: WorkerPool | None = None
        self.port: int | None = None
        self.core: HostCore | None
        # One host per journal file: taken before the journal is opened (lock.py).
        self._lock: HostLock | None = None
        if core is None and config.journal_path is not None:
            self._lock = HostLock.take(Path(config.journal_path), self._about())
        if core is not None:
            self.journal, self.core = core.journal, core
            self.script: Any = core.script
        elif config.workers > 1:
            self.journal, self.core = Journal(config.journal_path, checkpoint="thread"), None
            self.pool = WorkerPool(config, self.journal)
            self.journal.writers_lock = self.pool.shared.journal.write_lock
            self.script = self.pool.script
        else:
            self.journal = Journal(config.journal_path, checkpoint="thread")
            self.core = HostCore(config, self.journal)
            self.script = self.core.script
        self._server: asyncio.Server | None = None
        self._control: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.connections: set[_Connection] = set()
        # Each peer's connections, the line idle longest first (see admit()).
        self.peers: dict[str, OrderedDict[_Connection, None]] = {}
        self._outbox: list[_Connection] = []  # connections with answers to send
        self._backlog: deque[_Connection] = deque()  # connections waiting for a turn
        self._backlog_due = False

    def __repr__(self) -> str:
        return f"AcquirerHost({self.config.listen[0]}:{self.port}, " \
               f"{len(self.config.terminals)} terminals)"

    def _about(self) -> dict[str, Any]:
        host, port = self.config.listen
        return {"listen": f"{host}:{self.port if self.port is not None else port}",
                "control": str(self.config.control_path or "") or None}

    # -- running ----------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen in the running loop; returns the bound port."""
        try:
            return await self._start()
        except BaseException:
            await self._shutdown()  # whatever did start stops; the journal's lock is released
            raise

    async def _start(self) -> int:
        host, port = self.config.listen
        loop = self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self.pool is not None:
            self.port = await loop.run_in_executor(None, self.pool.start)
        else:
            # Journal rows written in one loop iteration share one SQLite transaction.
            self.journal.on_pending = lambda: loop.call_soon(self.journal.flush)
            self._server = await loop.create_server(lambda: _Connection(self), host, port,
                                                    reuse_port=self.partition is not None)
            self.port = self._server.sockets[0].getsockname()[1]
            self._sweeper = asyncio.create_task(self._sweep())
            if self.partition is not None:
                self.partition.listen(loop, self._adopt)
        if self.config.control_path is not None:
            self._control = await start_control(self, self.config.control_path)
        if self._lock is not None:
            self._lock.describe(self._about())
        events.log("host", f"acquirer host listening on {host}:{self.port}"
                   + (f", control at {self.config.control_path}" if self._control else ""))
        return self.port

    async def serve(self) -> None:
        """Run until :meth:`stop` (or cancellation), as ``posrig host serve`` does."""
        if self.port is None:  # not started yet (a pool of workers has no _server here)
            await self.start()
        assert self._stopping is not None
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._control is not None:
            self._control.close()
            self._control = None
            with contextlib.suppress(OSError):
                Path(str(self.config.control_path)).unlink()
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.pool.stop)
        if self.core is not None:
            self.core.refusals.flush()
        self.journal.on_pending = None
        self._release()

    def _release(self) -> None:
        """Journal written and closed (a file journal leaves no -wal/-shm; it stays
        readable, see Journal.close), then the journal's lock released."""
        if self.journal.path is not None:
            self.journal.close()
        else:
            self.journal.flush()
            self.journal.stop_checkpoints()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def signed_in(self) -> list[str]:
        """TIDs that hold working keys now."""
        if self.pool is not None:
            return self.pool.signed_in()
        assert self.core is not None
        return sorted(tid for tid, term in self.core.terminals.items() if term.signed_in)

    def _adopt(self, sock: socket.socket, data: bytes) -> None:
        """Serve a connection another worker handed over, starting with ``data``."""
        assert self._loop is not None
        self._loop.create_task(self._loop.connect_accepted_socket(
            lambda: _Connection(self, initial=data), sock))

    def start_in_thread(self) -> int:
        """Serve from a thread with its own event loop; returns once the port is bound."""
        if self._thread is not None:
            raise HostError("this host is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                raise
            finally:
                ready.set()
            await self.serve()

        def run() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(main())

        self._thread = threading.Thread(target=run, name="acquirer-host", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise HostError(f"host could not listen on {self.config.listen}: {failure[0]}")
        assert self.port is not None
        return self.port

    def stop(self) -> None:
        """Stop serving (from any thread) and wait for the host's thread to end."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already gone
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None

    def post(self, conn: _Connection) -> None:
        """``conn`` has answers waiting: send them at the end of this loop iteration."""
        self._outbox.append(conn)
        if len(self._outbox) == 1:
            assert self._loop is not None
            self._loop.call_soon(self._send_out)

    def queue_turn(self, conn: _Connection) -> None:
        """``conn`` has frames left after its turn: it gets another in a later iteration."""
        if conn.queued:
            return
        conn.queued = True
        self._backlog.append(conn)
        if not self._backlog_due:
            self._backlog_due = True
            assert self._loop is not None
            self._loop.call_soon(self._run_backlog)

    def _run_backlog(self) -> None:
        self._backlog_due = False
        for _ in range(min(BACKLOG_TURNS, len(self._backlog))):
            conn = self._backlog.popleft()
            conn.queued = False
            conn.next_turn()  # may queue itself again, at the end
        if self._backlog and not self._backlog_due:
            self._backlog_due = True
            assert self._loop is not None
            self._loop.call_soon(self._run_backlog)

    def _send_out(self) -> None:
        conns, self._outbox = self._outbox, []
        self.journal.flush()  # commit the rows first: see the module docstring
        for conn in conns:
            conn.send_out()

    async def _sweep(self) -> None:
        """One timer for all connections instead of one per frame: cheaper per message."""
        cfg = self.config
        period = max(0.01, min(cfg.idle_timeout, cfg.frame_timeout, cfg.first_frame_timeout) / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.connections):
                conn.check_deadlines(now)
            assert self.core is not None
            self.core.refusals.sweep(now)

    # -- connection limits ------------------------------------------------------------------
    def admit(self, conn: _Connection) -> str | None:
        """Take ``conn`` in, closing the line idle longest when a limit is reached: of its
        own peer at ``max_connections_per_peer``, of the peer holding the most at
        ``max_connections``. Idle connections thus never lock a terminal out. Returns why
        ``conn`` is refused when no line can make room (every one is owed an answer)."""
        cfg = self.config
        mine = self.peers.get(conn.peer)
        if mine is not None and len(mine) >= cfg.max_connections_per_peer:
            if not self._evict(mine, f"{cfg.max_connections_per_peer} connections from "
                                     f"{conn.peer or 'one peer'}"):
                return f"more than {cfg.max_connections_per_peer} connections from this peer"
        elif len(self.connections) >= cfg.max_connections:
            busiest = max(self.peers.values(), key=len)
            if not self._evict(busiest, f"{cfg.max_connections} connections"):
                return f"more than {cfg.max_connections} connections"
        self.connections.add(conn)
        self.peers.setdefault(conn.peer, OrderedDict())[conn] = None
        return None

    def _evict(self, lines: OrderedDict[_Connection, None], limit: str) -> bool:
        for conn in lines:  # the line idle longest first
            if conn.evictable():
                conn.close(f"idle longest when a new connection came at the limit of {limit}")
                return True
        return False

    def touch(self, conn: _Connection) -> None:
        """``conn`` just received bytes: it is now the peer's line idle shortest."""
        lines = self.peers.get(conn.peer)
        if lines is not None and conn in lines:
            lines.move_to_end(conn)

    def forget(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        lines = self.peers.get(conn.peer)
        if lines is not None:
            lines.pop(conn, None)
            if not lines:
                del self.peers[conn.peer]


class _Connection(asyncio.BufferedProtocol):
    """One terminal's TCP connection: a byte buffer cut into frames.

    At most :data:`READ_SIZE` bytes are read at a time, and only when no complete frame is
    waiting in the buffer; at most :data:`FRAMES_PER_TURN` frames are handled before the
    connection yields to the others (a client pipelining thousands of frames waits in its
    own socket buffer, not in everyone's way). What a worker has read ahead of a frame it
    hands over is thus bounded too (devices.host.workers.MAX_HANDOFF)."""

    def __init__(self, host: AcquirerHost, initial: bytes = b""):
        assert host.core is not None
        self.host = host
        self.cfg = host.config
        self.core = host.core
        self.initial = initial  # bytes another worker read before handing the line over
        self.buffer = bytearray()
        self._read_buf = memoryview(bytearray(READ_SIZE))
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.connected_at = self.last_activity = time.monotonic()
        self.spoke = bool(initial)  # a complete frame arrived (the first-frame deadline)
        self.frame_started: float | None = None  # first byte of an incomplete frame
        self.held: Outcome | None = None  # a delayed answer; frames after it wait
        self.outbox: list[Outcome] = []  # answers made, sent at the end of the iteration
        self.writing_paused = False
        self.backlog = False  # complete frames left for a later turn
        self.queued = False  # in the host's queue of connections waiting for a turn
        self.waiting = False  # a hand-over waits for our queued answers to leave
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        refused = self.host.admit(self)
        if refused:
            self.core.reject_frame(refused, self.peer)
            transport.abort()
            return
        if self.initial:
            data, self.initial = self.initial, b""
            self.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.host.forget(self)
        self.buffer.clear()

    def close(self, reason: str | None = None) -> None:
        if reason is not None:
            self.core.reject_frame(f"{reason}; connection closed", self.peer)
        self.send_out()  # answers to earlier frames go out before the line closes
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.host.forget(self)

    def evictable(self) -> bool:
        """Nothing owed to this line: closing it to make room loses no answer."""
        return self.held is None and not self.outbox and not self.waiting

    def check_deadlines(self, now: float) -> None:
        cfg = self.cfg
        if self.frame_started is not None and now - self.frame_started > cfg.frame_timeout:
            self.close(f"frame not complete within {cfg.frame_timeout} s of its first byte")
        elif not self.spoke and self.frame_started is None \
                and now - self.connected_at > cfg.first_frame_timeout:
            self.close(f"no frame within {cfg.first_frame_timeout} s of connecting")
        elif self.held is None and now - self.last_activity > cfg.idle_timeout:
            self.close()  # an idle line is not an error: CUP terminals hang up themselves

    # -- reading: on only while nothing is owed, waiting or left for a later turn -----------
    def _sync_reading(self) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        if self.writing_paused or self.held is not None or self.backlog or self.waiting:
            t.pause_reading()
        else:
            t.resume_reading()

    def pause_writing(self) -> None:  # a client that does not read its answers stops being read
        self.writing_paused = True
        self._sync_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._sync_reading()
        if self.backlog:
            self.host.queue_turn(self)

    # -- frames -----------------------------------------------------------------------------
    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buf

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._read_buf[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        self.buffer += data
        self.last_activity = time.monotonic()
        self.host.touch(self)
        self._process()

    def next_turn(self) -> None:
        self.backlog = False
        if self.transport is None or self.transport.is_closing():
            return
        if self.writing_paused:  # resume_writing comes back here
            self.backlog = True
            return
        self._process()
        self._sync_reading()

    def _process(self) -> None:
        buf = self.buffer
        budget = FRAMES_PER_TURN
        while self.held is None and self.transport is not None \
                and not self.transport.is_closing():
            if len(buf) < 2:
                self.frame_started = self.last_activity if buf else None
                return
            size = buf[0] << 8 | buf[1]
            if size > self.cfg.max_frame or size < framing.MIN_PAYLOAD:
                self.close(f"length prefix announces {size} bytes; this host accepts at "
                           f"most {self.cfg.max_frame} and at least {framing.MIN_PAYLOAD}")
                return
            if len(buf) < size + 2:
                if self.frame_started is None:
                    self.frame_started = self.last_activity
                return
            if not budget:  # the others' turn: the rest waits for the next loop iteration
                self.backlog = True
                self.transport.pause_reading()
                self.host.queue_turn(self)
                return
            budget -= 1
            raw = bytes(buf[:size + 2])
            del buf[:size + 2]
            self.frame_started = None
            self.spoke = True
            try:
                frame = framing.decode_frame(raw[2:])
            except framing.FramingError as exc:
                self.close(str(exc))
                return
            req = None
            if self.host.partition is not None:
                with contextlib.suppress(MessageFormatError):  # answered here, needs no owner
                    req = decode_message(frame.body)
                owner = self.host.partition.elsewhere(req and req.get("41"))
                if owner is not None:
                    self._hand_off(owner, raw)
                    return
            try:
                outcome = self.core.handle(frame, req, self.peer)
            except Exception as exc:  # a host bug must cost one connection, not the server
                self.close(f"internal error {type(exc).__name__}: {scrub(str(exc))}")
                return
            if outcome.delay_s:
                self.held = outcome
                self._sync_reading()
                asyncio.get_running_loop().call_later(outcome.delay_s, self._release)
                return
            if not self.outbox:
                self.host.post(self)
            self.outbox.append(outcome)
            if outcome.close:  # scripted: nothing after it is read
                self.send_out()
                return

    def _hand_off(self, owner: int, raw: bytes) -> None:
        """Give this line to the worker that owns the terminal, with the frame just read
        and whatever followed it; this worker forgets the connection without closing it."""
        assert self.transport is not None and self.host.partition is not None
        self.send_out()  # answers to earlier frames first, in order
        data = raw + bytes(self.buffer)
        if self.transport.get_write_buffer_size():
            # Bytes of ours still queued would race the new owner's: wait until they left.
            self.buffer[:0] = raw
            self.waiting = True
            self._sync_reading()
            asyncio.get_running_loop().call_later(0.001, self._retry)
            return
        if len(data) > MAX_HANDOFF:  # cannot happen: reads are bounded (see the class)
            self.close(f"{len(data)} bytes pipelined ahead of a hand-over to another worker")
            return
        try:
            self.host.partition.send(owner, self.transport.get_extra_info("socket"), data)
        except OSError as exc:  # the owner is not taking connections (stuck or gone)
            self.close(f"could not hand the line to worker {owner}: {exc}")
            return
        self.buffer.clear()
        self.host.forget(self)
        self.transport.abort()  # closes this worker's descriptor only: the owner has one

    def _retry(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(0.001, self._retry)
            return
        self.waiting = False
        self._process()
        self._sync_reading()

    def eof_received(self) -> bool:
        if self.buffer:
            self.core.reject_frame(
                f"connection closed {len(self.buffer)} bytes into a frame whose length said "
                f"more", self.peer)
        self.send_out()
        if self.held is not None:  # answer the delayed request first, then close
            self.eof = True
            return True
        return False  # close our side too

    def send_out(self) -> None:
        """Write the answers made so far, after committing their journal rows, in one write."""
        if not self.outbox:
            return
        outcomes, self.outbox = self.outbox, []
        self.host.journal.flush()  # a no-op when the host's own send-out did it already
        t = self.transport
        if t is None or t.is_closing():
            return
        wires = []
        close = False
        for outcome in outcomes:
            if outcome.wire is not None:
                wires.append(outcome.wire)
            if outcome.close:
                close = True
                break
        if wires:
            t.write(wires[0] if len(wires) == 1 else b"".join(wires))
        if close:
            self.close()

    def _deliver(self, outcome: Outcome) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if outcome.wire is not None:
            self.transport.write(outcome.wire)
        if outcome.close:
            self.close()

    def _release(self) -> None:
        outcome, self.held = self.held, None
        if outcome is None or self.transport is None or self.transport.is_closing():
            return
        self.last_activity = time.monotonic()
        self.host.journal.flush()
        self._deliver(outcome)
        if self.eof:
            self.close()
        elif not self.transport.is_closing():
            self._process()
            self._sync_reading()
