"""A receipt template as the reader uses it, and the print limits a profile sets.

The template (fixtures/receipts/*.yaml) is the same file the simulated printer renders
from: title, copy markers, one labelled line per field. The reader adds what it needs to
read a value back: the field's ``kind`` (how it is written), lengths, the date format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import ConfigError, Node, load_yaml

KINDS = ("text", "digits", "alnum", "masked_pan", "txn_type", "datetime", "amount")


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    kind: str = "text"
    length: int | None = None  # digits / alnum: how many characters the value has
    format: str = "%Y/%m/%d %H:%M:%S"  # datetime
    currency: str = "RMB"  # amount


@dataclass(frozen=True)
class ReceiptTemplate:
    name: str
    title: str
    copies: dict[str, str]  # merchant / customer -> the copy marker line
    fields: tuple[FieldSpec, ...]
    txn_types: dict[str, str]  # sale / void -> what the slip prints
    bar: bool = True  # a full-width bar after the last line (dead-dot check)
    qr: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "receipt template") -> ReceiptTemplate:
        root = Node(data, Path(source))
        fields = []
        for node in root.nodes("fields"):
            kind = node.str("kind", "text")
            if kind not in KINDS:
                raise node.error("kind", f"one of {', '.join(KINDS)}", kind)
            length = node.int("length", None, min=1) if node.has("length") else None
            fields.append(FieldSpec(
                key=node.str("key"), label=node.str("label"), kind=kind, length=length,
                format=node.str("format", "%Y/%m/%d %H:%M:%S"),
                currency=node.str("currency", "RMB")))
        if not fields:
            raise ConfigError(f"{source}: fields: a receipt template needs at least one field")
        copies = {str(k): str(v) for k, v in (root.raw("copies", {}) or {}).items()}
        txn_types = {str(k): str(v) for k, v in (root.raw("txn_types", {}) or {}).items()}
        return cls(name=root.str("name"), title=root.str("title", "") or "", copies=copies,
                   fields=tuple(fields), txn_types=txn_types,
                   bar=root.bool("bar", True), qr=root.bool("qr", False))

    def field(self, key: str) -> FieldSpec:
        for spec in self.fields:
            if spec.key == key:
                return spec
        raise KeyError(f"template {self.name} has no field {key!r}")


@dataclass(frozen=True)
class PrintLimits:
    """Print-quality limits; contrast is (paper - ink) / paper on the flattened slip."""

    contrast_pass: float = 0.40  # at or above: pass
    contrast_fail: float = 0.30  # below: fail; in between: warn
    # a bar column lighter than its neighbours by this fraction of the print depth is a dead
    # dot: 1.0 on a flat scan, 0.14-0.4 through camera blur; good bars stay under 0.03
    dead_dot_drop: float = 0.10
    datetime_tolerance_s: float = 120.0  # slip clock vs the host's, a terminal prints its own

    def __post_init__(self) -> None:
        if not 0 < self.contrast_fail <= self.contrast_pass < 1:
            raise ConfigError(f"print limits: need 0 < contrast_fail <= contrast_pass < 1, got "
                              f"{self.contrast_fail} / {self.contrast_pass}")

    @classmethod
    def from_profile(cls, profile_path: Path) -> PrintLimits:
        """The ``receipt:`` section of a terminal profile (harness.profiles keeps only the template)."""
        root = Node(load_yaml(profile_path, "terminal profile"), profile_path)
        receipt = root.node("receipt")
        if not receipt.has("print"):
            return cls()
        p = receipt.node("print")
        base = cls()
        return cls(contrast_pass=p.float("contrast_pass", base.contrast_pass),
                   contrast_fail=p.float("contrast_fail", base.contrast_fail),
                   dead_dot_drop=p.float("dead_dot_drop", base.dead_dot_drop),
                   datetime_tolerance_s=p.float("datetime_tolerance_s", base.datetime_tolerance_s))
