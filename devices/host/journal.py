"""The host's journal: one row per exchange, in SQLite, the rig's second witness.

What it never holds: a clear PAN (only the masked one), a PIN, a PIN block, a key. The
``state`` column is the one thing updated after a row is written: an approved sale or
void becomes ``reversed`` when a reversal undoes it, so totals can be read off the rows.

A file-backed journal runs in WAL mode so another process (a report, a test runner) can
read it while the host writes: ``Journal.open(path)`` opens it read-only.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from devices.payments.settlement import SideTotals, Totals

_COLUMNS = (
    ("id", "INTEGER PRIMARY KEY AUTOINCREMENT"),
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
)
_NAMES = tuple(name for name, _ in _COLUMNS)


class JournalError(Exception):
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


assert tuple(f.name for f in fields(JournalEntry)) == _NAMES


class Journal:
    """Thread-safe: the host's loop thread writes while tests read from theirs."""

    def __init__(self, path: Path | None = None, *, _readonly: bool = False):
        self.path = path
        self._lock = threading.Lock()
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
        cols = ", ".join(f"{name} {decl}" for name, decl in _COLUMNS)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS journal ({cols})")
        self._db.execute("CREATE INDEX IF NOT EXISTS journal_tid ON journal (tid, kind)")
        self._insert = (f"INSERT INTO journal ({', '.join(_NAMES[1:])}) "
                        f"VALUES ({', '.join('?' for _ in _NAMES[1:])})")

    @classmethod
    def open(cls, path: Path | str) -> Journal:
        """Read-only view of a journal another process writes."""
        return cls(Path(path), _readonly=True)

    def record(self, **values: Any) -> int:
        """Append a row; returns its id. Unknown keys are a programming error."""
        unknown = set(values) - set(_NAMES[1:])
        if unknown:
            raise JournalError(f"journal has no column(s) {sorted(unknown)}")
        row = tuple(values.get(name) for name in _NAMES[1:])
        with self._lock:
            return int(self._db.execute(self._insert, row).lastrowid or 0)

    def set_state(self, entry_id: int, state: str) -> None:
        with self._lock:
            self._db.execute("UPDATE journal SET state = ? WHERE id = ?", (state, entry_id))

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
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [JournalEntry(*row) for row in rows]

    def totals(self, tid: str, batch: str) -> Totals:
        """A batch's totals read off the journal alone (settlement's rule: debit = approved
        sales, voided or not; credit = approved voids; reversed rows are out)."""
        sql = ("SELECT kind, scheme, SUM(amount), COUNT(*) FROM journal WHERE tid = ? AND "
               "batch = ? AND rc = '00' AND ((kind = 'sale' AND state IN ('approved', "
               "'voided')) OR (kind = 'void' AND state = 'approved')) GROUP BY kind, scheme")
        with self._lock:
            rows = self._db.execute(sql, (tid, batch)).fetchall()
        sides = {True: SideTotals(), False: SideTotals()}
        for kind, scheme, amount, count in rows:
            side = sides[scheme == "CUP"]
            if kind == "sale":
                side = replace(side, debit_amount=side.debit_amount + amount,
                               debit_count=side.debit_count + count)
            else:
                side = replace(side, credit_amount=side.credit_amount + amount,
                               credit_count=side.credit_count + count)
            sides[scheme == "CUP"] = side
        return Totals(sides[True], sides[False])

    def close(self) -> None:
        with self._lock:
            self._db.close()
