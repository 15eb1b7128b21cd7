"""A receipt template as the reader uses it, and the print limits a profile sets.

The template (fixtures/receipts/*.yaml) is the same file the simulated printer renders
from: title, copy markers, one labelled line per field, and how the slip is set (its
``print`` section: paper width, font size, line pitch, a value after its label's ``": "`` or
flush right on the label's row). The reader adds what it needs to read a value back: the
field's ``kind`` (how it is written), lengths, the date format, and the notes a slip may end
with (a reprint's mark, a decline's reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.camera.render import CUP_LAYOUT, PrintLayout
from harness.config import ConfigError, Node

KINDS = ("text", "digits", "alnum", "masked_pan", "txn_type", "datetime", "amount", "count_amount")
#: What may follow a note's fixed text after a colon: the host's response code (two
#: characters, ISO 8583 DE39), then its text in words.
NOTE_VALUES = ("response_code",)
#: A template's ``print`` section: the keys the simulated printer follows (paper_mm 58 or 80,
#: font_px and pitch in dots, values ``after`` or ``right``, a font file), the ones the reader
#: reads the slip by (devices/terminal/sim/printer.py PRINT_KEYS names the same).
PRINT_KEYS = ("paper_mm", "font_px", "pitch", "values", "font")


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    kind: str = "text"
    length: int | None = None  # digits / alnum: how many characters the value has
    format: str = "%Y/%m/%d %H:%M:%S"  # datetime
    currency: str = "RMB"  # amount, count_amount


@dataclass(frozen=True)
class NoteSpec:
    """A line a slip may end with, after its last field: ``text`` alone (a reprint's mark),
    or ``text: <value>`` (a decline's ``交易失败 DECLINED: 51 insufficient funds``)."""

    key: str  # reprint / declined: what the verdict calls it
    text: str  # the fixed part, without the colon
    value: str | None = None  # one of NOTE_VALUES, None for a fixed line


@dataclass(frozen=True)
class ReceiptTemplate:
    name: str
    title: str
    copies: dict[str, str]  # merchant / customer -> the copy marker line
    fields: tuple[FieldSpec, ...]
    txn_types: dict[str, str]  # sale / void -> what the slip prints
    bar: bool = True  # a full-width bar after the last line (dead-dot check)
    qr: bool = False
    notes: tuple[NoteSpec, ...] = ()  # lines a slip may end with, between its last field and the bar
    settlement: str | None = None  # the template of the settlement slip printed with these
    #: how the slip is set (the ``print`` section): the CUP layout when the template has none
    layout: PrintLayout = CUP_LAYOUT

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
                   bar=root.bool("bar", True), qr=root.bool("qr", False),
                   notes=_notes(root, fields), settlement=root.str("settlement", None),
                   layout=_layout(root))

    def field(self, key: str) -> FieldSpec:
        for spec in self.fields:
            if spec.key == key:
                return spec
        raise KeyError(f"template {self.name} has no field {key!r}")


def _layout(root: Node) -> PrintLayout:
    """The ``print`` section, every key checked: the reader reads a slip by the layout it was
    set in, so a layout it cannot follow is refused, never half applied."""
    if not root.has("print"):
        return CUP_LAYOUT
    if not isinstance(root.raw("print"), dict):
        raise root.error("print", f"a mapping of {', '.join(PRINT_KEYS)}", root.raw("print"))
    section = root.node("print", keys=PRINT_KEYS)
    given: dict[str, Any] = {}
    for key in ("paper_mm", "font_px", "pitch"):
        if section.has(key):
            given[key] = section.int(key, min=1)
    if section.has("values"):
        given["values"] = section.str("values", pattern="after|right", expected="after or right")
    if section.has("font"):
        given["font"] = section.str("font")
    try:
        return PrintLayout(**given)
    except ValueError as exc:
        raise ConfigError(f"{root.file}: print: {exc}") from exc


def _notes(root: Node, fields: list[FieldSpec]) -> tuple[NoteSpec, ...]:
    """``notes:``: name -> the line (a string), or -> {text: ..., value: response_code}."""
    raw = root.raw("notes", None)
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise root.error("notes", "a mapping of note name to its line (reprint: \"重打印 REPRINT\")",
                         type(raw).__name__)
    notes = []
    labels = {f.label for f in fields}
    for key, entry in raw.items():
        if isinstance(entry, str):
            entry = {"text": entry}
        node = Node(entry, root.file, f"notes.{key}") if isinstance(entry, dict) else None
        if node is None:
            raise root.error(f"notes.{key}", "the note's line, or {text: ..., value: response_code}",
                             entry)
        text = node.str("text").strip().rstrip(":：").strip()
        value = node.str("value", None)
        if value is not None and value not in NOTE_VALUES:
            raise node.error("value", f"one of {', '.join(NOTE_VALUES)}", value)
        if not text or text in labels:
            raise node.error("text", "a line no field of the template prints as its label", text)
        notes.append(NoteSpec(str(key), text, value))
    return tuple(notes)


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
        """The ``receipt.print`` section of a terminal profile, read by the one profile model
        (devices.terminal.profile) without loading the rest of the profile: its cards, keys and
        templates cost every `posrig receipt read` 0.15 s (measured)."""
        from devices.terminal.profile import print_limits

        return cls(**print_limits(profile_path))
