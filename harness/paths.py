"""Where the rig finds its data. ``fixtures/`` is read, never imported."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("POSRIG_FIXTURES", REPO / "fixtures"))
DEFAULT_LAB = FIXTURES / "labs" / "virtual.yaml"


def resolve(path: str | Path, relative_to: Path | None = None) -> Path:
    """A relative data path is looked up beside the file naming it, then in fixtures/."""
    p = Path(path)
    if p.is_absolute():
        return p
    if relative_to is not None and (relative_to / p).exists():
        return relative_to / p
    return FIXTURES / p
