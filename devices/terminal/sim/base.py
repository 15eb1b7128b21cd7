"""Types every part of the simulated terminal shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class PowerLost(Exception):
    """The supply went while the terminal was working: nothing more is said, sent or stored."""


class Refusal(Exception):
    """End the command with ``status`` (refused, declined, failed, cancelled) and ``reason``,
    showing ``display`` on the screen; ``data`` joins the response."""

    def __init__(self, status: str, reason: str, display: str, **data: Any):
        super().__init__(reason)
        self.status, self.reason, self.display, self.data = status, reason, display, data


@dataclass(frozen=True)
class Incoming:
    """A request as the terminal's ECR application sees it, whatever the dialect."""

    cmd: str
    args: dict[str, Any]
    ref: Any = None  # the dialect's own handle: a request id, a Concert request


@dataclass
class Outcome:
    status: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """A frame the ECR port could not take as a request: answered at once with ``status`` and
    ``reason`` (``bad_frame``, ``bad_arguments``, ``duplicate_id``: error; ``not_supported``:
    refused), echoing the request's ``ref`` (id) and ``cmd`` when they could be read."""

    status: str
    reason: str
    message: str
    cmd: str = "?"
    ref: Any = 0
