"""What a simulated terminal keeps across a power cut, and what it loses.

Stored (a JSON file per terminal, as a real one keeps it in flash): trace and batch
numbers, the batch itself, the pending reversal and the last slip (for reprint). Everything
else (operator login, working keys, the clock taken from the host, the transaction in
progress) lives in RAM and is gone when power goes.

Card numbers are needed after the fact (batch upload, the reversal's DE2), so the flash
holds them, but sealed under a device key (AES-GCM, derived from the terminal's master
key) as PCI DSS requires of stored PANs: the file never shows one in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class CardVault:
    """Seals card numbers for the flash; only this terminal (its TMK) opens them."""

    def __init__(self, tmk: bytes, tid: str):
        key = hmac.new(tmk, b"posrig-sim flash storage key " + tid.encode(), hashlib.sha256).digest()
        self._aead = AESGCM(key)
        self._aad = tid.encode()

    def seal(self, pan: str) -> str:
        nonce = os.urandom(12)
        return (nonce + self._aead.encrypt(nonce, pan.encode(), self._aad)).hex()

    def open(self, sealed: str) -> str:
        blob = bytes.fromhex(sealed)
        try:
            return self._aead.decrypt(blob[:12], blob[12:], self._aad).decode()
        except InvalidTag:
            raise ValueError("a sealed card number does not open with this terminal's key "
                             "(state file from another terminal?)") from None


@dataclass
class StoredState:
    trace: int = 0  # last STAN used
    batch: int = 1
    batch_items: list[dict[str, Any]] = field(default_factory=list)
    pending_reversal: dict[str, Any] | None = None
    batch_opened: str | None = None  # ISO date (terminal clock) of the open batch's first item
    last_slip: dict[str, Any] | None = None  # what the last transaction slip showed

    def next_trace(self) -> int:
        self.trace = self.trace % 999999 + 1
        return self.trace

    def item(self, trace: int, kind: str | None = None) -> dict[str, Any] | None:
        for item in self.batch_items:
            if item["trace"] == trace and (kind is None or item["kind"] == kind):
                return item
        return None


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
        tmp.write_text(json.dumps(asdict(state), ensure_ascii=False))
        os.replace(tmp, self.path)


@dataclass
class RamState:
    booted: bool = False
    operator: str | None = None
    failed_logins: int = 0
    locked: bool = False
    clock_offset: timedelta = timedelta(0)  # host clock minus ours, from the last sign-in

    def now(self) -> datetime:
        return datetime.now() + self.clock_offset

    def today(self) -> date:
        return self.now().date()
