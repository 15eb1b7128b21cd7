"""What a simulated terminal keeps across a power cut, and what it loses.

Stored (a JSON file per terminal, as a real one keeps it in flash): trace and batch
numbers, the batch itself and a pending reversal. Everything else (operator login,
working keys, the transaction in progress) lives in RAM and is gone when power goes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StoredState:
    trace: int = 0  # last STAN used
    batch: int = 1
    batch_items: list[dict[str, Any]] = field(default_factory=list)
    pending_reversal: dict[str, Any] | None = None

    def next_trace(self) -> int:
        self.trace = self.trace % 999999 + 1
        return self.trace


class StateFile:
    def __init__(self, path: Path):
        self.path = path

    def load(self) -> StoredState:
        if not self.path.exists():
            return StoredState()
        try:
            return StoredState(**json.loads(self.path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"terminal state file {self.path} is corrupt ({exc}); "
                             "delete it to start the terminal from a blank flash") from exc

    def save(self, state: StoredState) -> None:
        # write-then-rename: a power cut mid-write must leave the old state, not half a file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state)))
        os.replace(tmp, self.path)


@dataclass
class RamState:
    operator: str | None = None
    failed_logins: int = 0
    locked: bool = False
