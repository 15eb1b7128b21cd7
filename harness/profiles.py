"""Terminal profiles, the card list and the test keys, loaded from fixtures/.

The profile model is ``devices.terminal.profile.TerminalProfile`` (re-exported here): the
rig, its own test bench and the virtual lab read a profile through the same strict parser.
"""

from __future__ import annotations

from pathlib import Path

from devices.cards import Card, CardDataError
from devices.cards import load_cards as parse_card_list
from devices.host.config import HostConfigError, load_terminal_keys
from devices.terminal.profile import TerminalProfile
from devices.terminal.profile import load_profile as parse_profile
from harness.config import ConfigError
from harness.paths import resolve

__all__ = ["TerminalProfile", "load_cards", "load_master_keys", "load_profile"]


def load_profile(path: str | Path) -> TerminalProfile:
    """The terminal profile at ``path``, parsed strictly by ``devices.terminal.profile`` (the
    one profile model), its receipt templates looked up beside it, then in fixtures/."""
    return parse_profile(path, resolve=resolve)


def load_cards(path: Path) -> dict[str, Card]:
    """The card list, parsed by :func:`devices.cards.load_cards` (the host uses the same)."""
    try:
        return parse_card_list(path)
    except CardDataError as exc:
        raise ConfigError(str(exc)) from exc


def load_master_keys(path: Path) -> dict[str, bytes]:
    """Each terminal's test master key, parsed by the host's own loader (one parser)."""
    try:
        return {tid: keys.tmk for tid, keys in load_terminal_keys(path).items()}
    except (HostConfigError, OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from exc
