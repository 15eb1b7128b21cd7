"""What the acquirer host is told: the terminals it knows (their master keys) and the cards
its issuer stub holds (parsed by :func:`devices.cards.load_cards`, the one card-list
parser). The key loader reads the lab's fixtures (test keys only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from devices.cards import Card
from devices.faults import RigDefect
from devices.payments.keys import KEY_MODES


class HostConfigError(RigDefect, ValueError):
    pass


@dataclass(frozen=True)
class TerminalKeys:
    tmk: bytes = field(repr=False)  # 16 bytes; a single-DES (001) terminal uses the first 8
    key_mode: str = "003"  # what the profile says the terminal signs in with
    mac_alg: str = "cup-ecb"  # or "x9.19"
    mid: str | None = None  # when set, DE42 must match (else 03 invalid merchant)
    key_layout: int = 60  # DE62 length for key mode 004: 60 ([C]) or 52 ([J])

    def __post_init__(self) -> None:
        if len(self.tmk) != 16:
            raise HostConfigError("a terminal master key must be 16 bytes (key not shown)")
        if self.key_mode not in KEY_MODES:
            raise HostConfigError(f"key mode must be one of {KEY_MODES}, got {self.key_mode!r}")
        if self.mac_alg not in ("cup-ecb", "x9.19"):
            raise HostConfigError(f"MAC algorithm must be cup-ecb or x9.19, got {self.mac_alg!r}")
        if self.key_layout not in (60, 52):
            raise HostConfigError(f"key layout must be 60 or 52, got {self.key_layout}")


@dataclass(frozen=True)
class HostConfig:
    terminals: dict[str, TerminalKeys]
    cards: list[Card]
    journal_path: Path | None = None  # None: in-memory SQLite
    listen: tuple[str, int] = ("127.0.0.1", 0)
    # Where the reference is silent, these are posrig's choices (docs/host.md).
    clock: Callable[[], datetime] = datetime.now
    first_batch: int = 1  # batch a terminal gets at its first sign-in if it sends 000000
    log_exchanges: bool = True  # publish each decoded exchange on devices.events
    # Worker processes have no subscriber of their own: print their exchange lines to stdout
    # (`posrig host serve`), as the parent's subscriber would.
    print_exchanges: bool = False
    idle_timeout: float = 60.0  # s a connection may sit between frames
    frame_timeout: float = 10.0  # s a frame may take once its first byte arrived
    max_frame: int = 4096  # bytes; a larger length prefix closes the connection
    # At either limit the line idle longest (of that peer, or of the peer holding the most)
    # is closed to make room; only when none can be closed is the new connection refused.
    max_connections: int = 1024  # per worker
    max_connections_per_peer: int = 256  # per source address, per worker
    first_frame_timeout: float = 10.0  # s a new connection may take to complete its first frame
    control_path: Path | None = None  # local control socket (phase 2), off when None
    # Worker processes sharing the port, each owning a share of the terminals
    # (devices.host.workers); more than one needs a journal file and a picklable clock.
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise HostConfigError(f"workers must be at least 1, got {self.workers}")
        for name in ("max_connections", "max_connections_per_peer", "max_frame"):
            if getattr(self, name) < 1:
                raise HostConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_frame > 0xFFFF:
            raise HostConfigError(f"max_frame is at most 65535 (a 2-byte length), "
                                  f"got {self.max_frame}")
        if self.workers > 1 and self.journal_path is None:
            raise HostConfigError(
                "several host workers write one journal: give journal_path (a file)")


def load_terminal_keys(path: Path, *, key_mode: str = "003", mac_alg: str = "cup-ecb",
                       mid: str | None = None) -> dict[str, TerminalKeys]:
    """``fixtures/keys/terminals.yaml``: ``terminals: {TID: {tmk: HEX, [key_mode], ...}}``."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise HostConfigError(f"{path}: the key file is not valid YAML: {exc}") from None
    terminals = data.get("terminals") if isinstance(data, dict) else None
    if not isinstance(terminals, dict):
        raise HostConfigError(f"{path}: expected 'terminals:' mapping each TID to {{tmk: HEX}}")
    out: dict[str, TerminalKeys] = {}
    for tid, entry in terminals.items():
        tid = str(tid)
        if len(tid) != 8:
            raise HostConfigError(f"{path}: terminal ID {tid!r} must be 8 characters")
        try:
            tmk = bytes.fromhex(str(entry["tmk"]))
        except (KeyError, ValueError, TypeError):
            raise HostConfigError(
                f"{path}: terminal {tid} needs 'tmk' as 32 hex digits") from None
        out[tid] = TerminalKeys(
            tmk=tmk, key_mode=str(entry.get("key_mode", key_mode)),
            mac_alg=str(entry.get("mac_alg", mac_alg)), mid=entry.get("mid", mid),
            key_layout=int(entry.get("key_layout", 60)))
    return out
