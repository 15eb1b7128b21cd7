"""Reading YAML data files (and the JSON a live lab prints) into typed objects, strictly.

Every error names the file, the key path (``stations[1].terminal.ecr``) and what was
expected, so a lab engineer fixing an inventory or a profile never has to read a
traceback. A mapping read with its keys declared (``Node(..., keys=...)``) is strict: a key
it does not declare is an error naming the key and the nearest declared one
(``stations[0].camra: unknown key; did you mean camera?``), raised before anything is
read from it -- so a misspelt *required* key is named as the misspelt key, not only as
missing, and a misspelt optional one (a ``camra:`` that would quietly leave a station
without its camera) can never pass unnoticed.

This lives in ``devices`` because the terminal profile is parsed here too (the simulated
terminal's bench needs it, and ``devices`` never imports ``harness``); ``harness.config``
re-exports it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml

from devices.faults import RigDefect


class ConfigError(RigDefect, ValueError):
    """A data file (inventory, profile, plan, template) is wrong; the message says where and how."""


#: libyaml's safe loader where PyYAML was built with it (the wheels are): the same documents,
#: 5-10x faster than the pure-Python one (a `posrig receipt read` parsed 0.16 s of YAML)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` with the fastest safe loader this PyYAML has."""
    return yaml.load(text, Loader=SAFE_LOADER)


def load_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror}); "
                          f"name a {what} file that exists") from exc
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: the {what} is not valid YAML: {exc}") from exc


def nearest(key: str, known: Iterable[str], present: Collection[str] = ()) -> str | None:
    """The declared key a misspelt ``key`` most likely meant: among the declared keys the
    mapping does not have first (a typo replaces a key), then among all of them."""
    known = [str(k) for k in known]
    for pool in ([k for k in known if k not in present], known):
        match = difflib.get_close_matches(str(key), pool, n=1, cutoff=0.6)
        if match:
            return match[0]
    return None


def unknown_key(file: Path | str, path: str, key: str, known: Iterable[str],
                present: Collection[str] = ()) -> str:
    """``FILE: PATH.KEY: unknown key; did you mean NEAREST?`` (or the keys it could be)."""
    known = sorted(str(k) for k in known)
    guess = nearest(key, known, present)
    hint = f"did you mean {guess}?" if guess else f"known keys: {', '.join(known) or '(none)'}"
    return f"{file}: {path}.{key}: unknown key; {hint}" if path else f"{file}: {key}: unknown key; {hint}"


class Node:
    """A mapping in a data file, remembering where it came from.

    ``keys``: the keys this mapping may have. Given, the mapping is strict: an undeclared
    key is refused at once, and asking for an undeclared key is a bug in the loader (so the
    declaration cannot drift from what the loader reads). None: any key (a mapping whose
    keys are data, such as a magazine's slots).
    """

    def __init__(self, data: Any, file: Path, where: str = "", *, keys: Iterable[str] | None = None):
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: {where or 'top level'}: expected a mapping, "
                              f"got {type(data).__name__}")
        self.data, self.file, self.where = data, file, where
        self.keys = None if keys is None else frozenset(keys)
        if self.keys is not None:
            present = {str(k) for k in data}
            for key in data:
                if str(key) not in self.keys:
                    raise ConfigError(unknown_key(file, where, str(key), self.keys, present))

    def _key(self, key: str | int) -> str:
        return f"{self.where}.{key}" if self.where else str(key)

    def _declared(self, key: str | int) -> None:
        if self.keys is not None and str(key) not in self.keys:
            raise RigDefect(f"{self.file}: posrig bug: the loader reads {self._key(key)}, which it "
                            f"does not declare ({sorted(self.keys)})")

    def error(self, key: str | int, expected: str, got: Any = None) -> ConfigError:
        tail = "" if got is None else f", got {got!r}"
        return ConfigError(f"{self.file}: {self._key(key)}: expected {expected}{tail}")

    def has(self, key: str) -> bool:
        self._declared(key)
        return key in self.data

    def raw(self, key: str | int, default: Any = ...) -> Any:
        self._declared(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self.file}: {self._key(key)}: missing (required)")
            return default
        return self.data[key]

    def str(self, key: str | int, default: Any = ..., *, pattern: str | None = None,
            expected: str = "a string") -> Any:
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an unquoted number where a string was meant
        if not isinstance(value, str) or not value:
            raise self.error(key, expected, value)
        if pattern is not None and not re.fullmatch(pattern, value):
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

    def choices(self, key: str, allowed: Collection[str], default: Any = ...) -> tuple[str, ...]:
        """A list of words, each one of ``allowed`` (``entry: [insert, swipe, tap]``)."""
        value = self.raw(key, default)
        expected = f"a list of {', '.join(allowed)}"
        if not isinstance(value, list | tuple) or not value:
            raise self.error(key, expected, value)
        for item in value:
            if item not in allowed:
                raise self.error(key, expected, item)
        return tuple(value)

    def node(self, key: str, default: Any = ..., *, keys: Iterable[str] | None = None) -> Node:
        value = self.raw(key, default)
        return Node(value, self.file, self._key(key), keys=keys)

    def nodes(self, key: str, *, keys: Iterable[str] | None = None) -> list[Node]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise self.error(key, "a non-empty list", value)
        return [Node(v, self.file, f"{self._key(key)}[{i}]", keys=keys) for i, v in enumerate(value)]
