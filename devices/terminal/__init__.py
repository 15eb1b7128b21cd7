"""The terminal under test: its ECR link, its dialects, a driver and a simulator."""

from __future__ import annotations

from typing import Protocol

from devices.terminal.dialect import Event, Response


class Terminal(Protocol):
    """What a flow needs from any terminal family, whatever its dialect."""

    def send(self, cmd: str, **args: object): ...
    def call(self, cmd: str, timeout: float | None = None, **args: object) -> Response: ...
    def expect_prompt(self, prompt: str, timeout: float = 30.0) -> Event: ...
    def close(self) -> None: ...
