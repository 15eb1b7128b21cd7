"""Reading YAML data files into typed objects, with errors that point at the problem.

Every error names the file, the key path (``stations[1].terminal.ecr``) and what was
expected, so a lab engineer fixing an inventory never has to read a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devices.faults import RigDefect


class ConfigError(RigDefect, ValueError):
    pass


def load_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: the {what} is not valid YAML: {exc}") from exc


class Node:
    """A mapping in a data file, remembering where it came from."""

    def __init__(self, data: Any, file: Path, where: str = ""):
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: {where or 'top level'}: expected a mapping, "
                              f"got {type(data).__name__}")
        self.data, self.file, self.where = data, file, where

    def _key(self, key: str | int) -> str:
        return f"{self.where}.{key}" if self.where else str(key)

    def error(self, key: str | int, expected: str, got: Any = None) -> ConfigError:
        tail = "" if got is None else f", got {got!r}"
        return ConfigError(f"{self.file}: {self._key(key)}: expected {expected}{tail}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self.file}: {self._key(key)}: missing (required)")
            return default
        return self.data[key]

    def str(self, key: str, default: Any = ..., *, pattern: str | None = None,
            expected: str = "a string") -> Any:
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an unquoted number where a string was meant
        if not isinstance(value, str) or not value:
            raise self.error(key, expected, value)
        if pattern is not None:
            import re

            if not re.fullmatch(pattern, value):
                raise self.error(key, expected, value)
        return value

    def int(self, key: str, default: Any = ..., *, min: int | None = None) -> int:
        value = self.raw(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or (min is not None and value < min):
            raise self.error(key, f"an integer{'' if min is None else f' >= {min}'}", value)
        return value

    def float(self, key: str, default: Any = ...) -> float:
        value = self.raw(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(key, "a number", value)
        return float(value)

    def bool(self, key: str, default: Any = ...) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "true or false", value)
        return value

    def node(self, key: str, default: Any = ...) -> Node:
        value = self.raw(key, default)
        return Node(value, self.file, self._key(key))

    def nodes(self, key: str) -> list[Node]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise self.error(key, "a non-empty list", value)
        return [Node(v, self.file, f"{self._key(key)}[{i}]") for i, v in enumerate(value)]
