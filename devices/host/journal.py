"""The host's journal: one row per exchange, in SQLite, the rig's second witness.

What it never holds: a clear PAN (only the masked one), a PIN, a PIN block, a key. The
``state`` column is the one thing updated after a row is written: an approved sale or
void becomes ``reversed`` when a reversal undoes it, so totals can be read off the rows.

A file-backed journal runs in WAL mode so another process (a report, a test runner) can
read it while the host writes: ``Journal.open(path)`` opens it read-only.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from devices.faults import StationFault
from devices.payments.settlement import SideTotals, Totals

# Row ids are given by the writer (one counter, shared by a host's workers), so the id
# needs no AUTOINCREMENT: that kept a sqlite_sequence page rewritten by every commit, a
# third of the WAL. A journal file an older host created keeps its declaration.
_COLUMNS = (
    ("id", "INTEGER PRIMARY KEY"),
    ("at", "TEXT NOT NULL"),
    ("tid", "TEXT"),
    ("mid", "TEXT"),
    ("mti", "TEXT"),
    ("kind", "TEXT NOT NULL"),
    ("stan", "TEXT"),
    ("batch", "TEXT"),
    ("amount", "INTEGER"),
    ("pan_masked", "TEXT"),
    ("entry_mode", "TEXT"),
    ("rc", "TEXT"),
    ("rrn", "TEXT"),
    ("auth_code", "TEXT"),
    ("behaviour", "TEXT"),
    ("note", "TEXT"),
    ("state", "TEXT"),  # approved | declined | reversed | voided-original ... (docs/host.md)
    ("orig_batch", "TEXT"),
    ("orig_stan", "TEXT"),
    ("scheme", "TEXT"),  # card organisation (CUP = domestic)
    ("response_mti", "TEXT"),
    ("orig_rrn", "TEXT"),  # a refund's original sale (DE37 of the 0220)
    ("qr_order", "TEXT"),  # a QR payment's order number (Q1, devices/host/qr.py)
    ("qr_voucher", "TEXT"),  # its payment voucher number (A4)
    ("wallet", "TEXT"),  # its wallet (Q3: 01 WeChat Pay, 02 Alipay, 03 UnionPay QR)
)
_NAMES = tuple(name for name, _ in _COLUMNS)
_COLUMN_SET = frozenset(_NAMES[1:])


#: Seconds between a checkpoint thread's WAL checkpoints.
CHECKPOINT_PERIOD = 0.25
#: WAL bytes beyond which the checkpoint thread copies the WAL back and truncates it, with
#: writers held off for that moment: a passive checkpoint under steady writes never lets
#: the WAL start over, so it grew without bound (1.1 GB beside a 117 MB journal). Also the
#: size SQLite trims the WAL to when it does start over (``journal_size_limit``).
WAL_LIMIT = 4 * 1024 * 1024


class JournalError(StationFault):
    pass


@dataclass(frozen=True)
class JournalEntry:
    id: int
    at: str  # ISO time, milliseconds
    tid: str | None
    mid: str | None
    mti: str | None
    kind: str  # signin | sale | void | reversal | settlement | batch_upload | ... | format_error
    stan: str | None
    batch: str | None
    amount: int | None  # fen
    pan_masked: str | None
    entry_mode: str | None  # chip | swipe | contactless | fallback
    rc: str | None
    rrn: str | None
    auth_code: str | None
    behaviour: str | None  # the scripted behaviour that changed this exchange, if any
    note: str | None
    state: str | None
    orig_batch: str | None
    orig_stan: str | None
    scheme: str | None
    response_mti: str | None
    orig_rrn: str | None = None  # newer columns: a default keeps older callers working
    qr_order: str | None = None
    qr_voucher: str | None = None
    wallet: str | None = None


assert tuple(f.name for f in fields(JournalEntry)) == _NAMES


@dataclass(frozen=True)
class JournalShare:
    """What host worker processes writing one journal file share: the next row id (a
    ``multiprocessing.Value("q")``, so ids are unique and a row can be updated by id) and
    a lock each holds for its commit. Waiting on the lock wakes as soon as the other
    commit ends; SQLite's own busy handler would sleep whole milliseconds instead."""

    next_id: Any
    write_lock: Any


class Journal:
    """Thread-safe: the host's loop thread writes while tests read from theirs."""

    def __init__(self, path: Path | None = None, *, _readonly: bool = False,
                 share: JournalShare | None = None, checkpoint: str = "auto"):
        """``checkpoint`` says who copies a file journal's WAL back into it: "auto" the
        committing connection, as SQLite does by default; "thread" a thread of this
        journal, every :data:`CHECKPOINT_PERIOD` s; "elsewhere" another journal's thread
        (a host's workers leave it to their parent's)."""
        if checkpoint not in ("auto", "thread", "elsewhere"):
            raise JournalError(f"checkpoint must be auto, thread or elsewhere, not {checkpoint!r}")
        self.path = path
        self._share = share
        self._lock = threading.Lock()
        #: What writers of this file hold while they commit; a truncating checkpoint holds
        #: it too (a host's workers share one: the parent sets it to theirs).
        self.writers_lock: Any = share.write_lock if share is not None else self._lock
        self._stop_checkpoints = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._closed = False
        #: The largest WAL seen by the checkpoint thread, in bytes (benches report it).
        self.wal_max = 0
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        #: Write-behind: when set, ``record`` queues the row and calls this once per batch
        #: (the host schedules :meth:`flush` for the end of its loop iteration), so rows
        #: written in one burst share one SQLite transaction. Unset: written at once.
        self.on_pending: Callable[[], None] | None = None
        if _readonly:
            assert path is not None
            if not Path(path).exists():
                raise JournalError(f"no journal at {path}: is the host running with it?")
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                       check_same_thread=False)
            return
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False,
                                   isolation_level=None)
        if path:
            # WAL lets readers in other processes go on while we write; NORMAL skips the
            # fsync per commit (a power cut may lose the last rows, never corrupt the file).
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            if checkpoint != "auto":
                # A checkpoint copies up to 4 MB back into the file: done by the commit
                # that crosses the mark, it stalled that answer and every one behind it
                # by milliseconds (the bench's p99 went from 2.5 to 7-11 ms).
                self._db.execute("PRAGMA wal_autocheckpoint=0")
        cols = ", ".join(f"{name} {decl}" for name, decl in _COLUMNS)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS journal ({cols})")
        have = {row[1] for row in self._db.execute("PRAGMA table_info(journal)")}
        for name, decl in _COLUMNS:  # a journal file an older host wrote lacks new columns
            if name not in have:
                self._db.execute(f"ALTER TABLE journal ADD COLUMN {name} {decl}")
        self._db.execute("CREATE INDEX IF NOT EXISTS journal_tid ON journal (tid, kind)")
        self._insert = (f"INSERT INTO journal ({', '.join(_NAMES)}) "
                        f"VALUES ({', '.join('?' for _ in _NAMES)})")
        self._next_id = self.last_id() + 1
        if path and checkpoint == "thread":
            self._checkpointer = threading.Thread(
                target=self._checkpoints, args=(Path(path),), daemon=True,
                name="journal-checkpoints")
            self._checkpointer.start()

    def _checkpoints(self, path: Path) -> None:
        """PASSIVE checkpoints on a connection of their own: writers are never blocked, and
        SQLite runs them without the GIL, so the host's loop goes on meanwhile. A WAL past
        :data:`WAL_LIMIT` is checkpointed and truncated with the writers held off (a few
        milliseconds): that is what bounds it under any load."""
        wal = Path(f"{path}-wal")
        db = sqlite3.connect(str(path), check_same_thread=False)
        try:
            while not self._stop_checkpoints.wait(CHECKPOINT_PERIOD):
                try:
                    size = wal.stat().st_size
                except OSError:
                    size = 0
                self.wal_max = max(self.wal_max, size)
                if size > WAL_LIMIT:
                    with self.writers_lock:
                        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                else:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the file went away with its host; nothing left to copy
        finally:
            db.close()

    def last_id(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection to read from, with what is queued written first. A closed file
        journal is read through a connection opened for the read and closed after it, so
        a stopped host's journal stays readable and leaves no -wal/-shm file behind."""
        with self._lock:
            if not self._closed:
                self._flush_locked()
                yield self._db
                return
            if self.path is None:
                raise JournalError("this in-memory journal was closed: its rows are gone")
            db = sqlite3.connect(str(self.path), check_same_thread=False)
            try:
                yield db
            finally:
                db.close()

    @classmethod
    def open(cls, path: Path | str) -> Journal:
        """Read-only view of a journal another process writes."""
        return cls(Path(path), _readonly=True)

    def record(self, **values: Any) -> int:
        """Append a row; returns its id. Unknown keys are a programming error."""
        return self.add(values)

    def add(self, values: dict[str, Any]) -> int:
        """:meth:`record` for a row already in a dict (the host's hot path)."""
        if not _COLUMN_SET.issuperset(values):
            raise JournalError(f"journal has no column(s) {sorted(values.keys() - _COLUMN_SET)}")
        row = tuple(map(values.get, _NAMES[1:]))
        with self._lock:
            if self._share is None:
                entry_id = self._next_id
                self._next_id += 1
            else:
                with self._share.next_id.get_lock():
                    entry_id = self._share.next_id.value
                    self._share.next_id.value = entry_id + 1
            self._queue(self._insert, (entry_id, *row))
        return entry_id

    def set_state(self, entry_id: int, state: str) -> None:
        with self._lock:
            self._queue("UPDATE journal SET state = ? WHERE id = ?", (state, entry_id))

    def _queue(self, sql: str, params: tuple[Any, ...]) -> None:
        self._pending.append((sql, params))
        if self.on_pending is None:
            self._flush_locked()
        elif len(self._pending) == 1:
            self.on_pending()

    def flush(self) -> None:
        """Write what is queued (readers call it first, so they never see a stale journal)."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        if self._closed:
            raise JournalError(f"journal {self.path} is closed: {len(self._pending)} row(s) "
                               "written after its host stopped were not kept")
        ops, self._pending = self._pending, []
        with self._share.write_lock if self._share is not None else contextlib.nullcontext():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # Runs of the same statement (a burst of inserts) go in one executemany.
                for sql, run in groupby(ops, key=itemgetter(0)):
                    self._db.executemany(sql, [params for _, params in run])
            finally:
                self._db.execute("COMMIT")

    def entries(self, tid: str | None = None, kind: str | None = None) -> list[JournalEntry]:
        where, args = [], []
        if tid is not None:
            where.append("tid = ?")
            args.append(tid)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        sql = f"SELECT {', '.join(_NAMES)} FROM journal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._reading() as db:
            rows = db.execute(sql + " ORDER BY id", args).fetchall()
        return [JournalEntry(*row) for row in rows]

    def other_terminal_of(self, rrn: str, tid: str) -> str | None:
        """The terminal, other than ``tid``, whose approved sale or void has reference
        ``rrn``; the host's workers each keep only their own terminals' ledgers, the journal
        has everyone's. Only asked when a void finds no original, so no index is kept."""
        sql = ("SELECT tid FROM journal WHERE rrn = ? AND tid != ? AND rc = '00' AND kind IN "
               "('sale', 'void') LIMIT 1")
        with self._reading() as db:
            row = db.execute(sql, (rrn, tid)).fetchone()
        return row[0] if row else None

    def approved_sale(self, tid: str, rrn: str) -> JournalEntry | None:
        """``tid``'s sale with reference ``rrn`` if it is approved and neither voided nor
        reversed: what a refund may give money back for."""
        sql = (f"SELECT {', '.join(_NAMES)} FROM journal WHERE tid = ? AND kind = 'sale' AND "
               "rc = '00' AND rrn = ? AND state = 'approved' ORDER BY id DESC LIMIT 1")
        with self._reading() as db:
            row = db.execute(sql, (tid, rrn)).fetchone()
        return JournalEntry(*row) if row else None

    def refunded(self, tid: str, rrn: str) -> int:
        """Fen ``tid``'s approved refunds have given back for the sale ``rrn``."""
        sql = ("SELECT COALESCE(SUM(amount), 0) FROM journal WHERE tid = ? AND kind = 'refund' "
               "AND rc = '00' AND state = 'approved' AND orig_rrn = ?")
        with self._reading() as db:
            return int(db.execute(sql, (tid, rrn)).fetchone()[0])

    def totals(self, tid: str, batch: str) -> Totals:
        """A batch's totals read off the journal alone (settlement's rule: debit = approved
        sales, voided or not; credit = approved voids and refunds; reversed rows are out)."""
        # A QR payment paid after an FD keeps its first answer's rc on its row (the query that
        # brought the 00 has its own row): its state says it was paid (devices/host/qr.py).
        sql = ("SELECT kind, scheme, SUM(amount), COUNT(*) FROM journal WHERE tid = ? AND "
               "batch = ? AND (rc = '00' OR (entry_mode = 'qr' AND kind IN ('sale', 'qr_order') "
               "AND rc = 'FD')) AND ((kind IN ('sale', 'qr_order') AND state IN ('approved', "
               "'voided', 'refunded', 'part_refunded')) OR (kind IN ('void', 'refund') AND "
               "state = 'approved')) GROUP BY kind, scheme")
        with self._reading() as db:
            rows = db.execute(sql, (tid, batch)).fetchall()
        sides = {True: SideTotals(), False: SideTotals()}
        for kind, scheme, amount, count in rows:
            side = sides[scheme == "CUP"]
            if kind in ("sale", "qr_order"):
                side = replace(side, debit_amount=side.debit_amount + amount,
                               debit_count=side.debit_count + count)
            else:
                side = replace(side, credit_amount=side.credit_amount + amount,
                               credit_count=side.credit_count + count)
            sides[scheme == "CUP"] = side
        return Totals(sides[True], sides[False])

    def stop_checkpoints(self) -> None:
        """End the checkpoint thread (a stopped host's journal stays readable)."""
        self._stop_checkpoints.set()
        if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
            self._checkpointer.join()
            self._checkpointer = None

    def close(self) -> None:
        """Write what is queued and close. A file journal stays readable (each read opens
        the file for its length); the last connection to close removes the -wal and -shm
        files, so a cleanly stopped host leaves only the journal."""
        self.stop_checkpoints()
        with self._lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True
            self._db.close()
