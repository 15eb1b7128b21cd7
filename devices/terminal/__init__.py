"""The terminal under test: its ECR link, its dialects, a driver and a simulator.

``open_terminal`` picks the driver for a profile's dialect, so a station opens any
terminal family the same way:

    console = Console(spec.terminal.console, station, log_dir)   # when the bench has one
    terminal = open_terminal(url, dialect=profile.dialect, station=station, console=console)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from devices.terminal.dialect import Event, Response

if TYPE_CHECKING:
    from devices.terminal.console import Console
    from devices.terminal.driver import Pending, TerminalDriver

DIALECTS = ("posrig-ecr/1", "concert")


class Terminal(Protocol):
    """What a flow needs from any terminal family, whatever its dialect."""

    def send(self, cmd: str, **args: Any) -> Pending: ...
    def call(self, cmd: str, timeout: float | None = None, **args: Any) -> Response: ...
    def expect_event(self, match: Callable[[Event], bool], *, what: str,
                     timeout: float = 30.0) -> Event: ...
    def expect_prompt(self, prompt: str, timeout: float = 30.0) -> Event: ...
    def prompt_or_response(self, pending: Pending, prompts: tuple[str, ...],
                           timeout: float = 30.0) -> Event | Response: ...
    def reopen(self, url: str | None = None) -> Terminal: ...
    def close(self) -> None: ...


def open_terminal(url: str, *, dialect: str = "posrig-ecr/1", station: str = "station",
                  console: Console | None = None, **options: Any) -> TerminalDriver:
    """The driver for ``dialect`` on ``url`` (any serial URL or ``usb://VID:PID[/serial]``).
    ``options`` go to the driver (baudrate, ack_timeout, repeats, response_timeout,
    usb_backend); ``console`` gives a Concert driver its prompts."""
    if dialect == "posrig-ecr/1":
        from devices.terminal.driver import EcrTerminal

        return EcrTerminal(url, station=station, **options)
    if dialect == "concert":
        from devices.terminal.concert_driver import ConcertTerminal

        return ConcertTerminal(url, station=station, console=console, **options)
    raise ValueError(f"{station}: unknown terminal dialect {dialect!r}; posrig speaks "
                     f"{', '.join(DIALECTS)}")
