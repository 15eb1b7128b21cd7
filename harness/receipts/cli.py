"""``posrig receipt read IMAGE [--expect FIELD=VALUE ...]``: check a photo taken by hand.

Without ``--expect`` it prints what it read and the print grade; with expectations it
gives the verdict a test would. Exit status: 0 pass (or read), 1 the slip fails,
3 the slip could not be read. Card numbers are masked in everything it prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2

from harness.config import ConfigError
from harness.paths import FIXTURES
from harness.receipts import fields as fx
from harness.receipts.annotate import ANNOTATED
from harness.receipts.notes import CODE_LENGTH
from harness.receipts.template import PrintLimits, ReceiptTemplate
from harness.receipts.witness import NO_NOTE, NoteWitness, Witnesses, pan_witness, show

DEFAULT_PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"


def add_parser(sub: Any) -> None:
    receipt = sub.add_parser("receipt", help="read receipts from images").add_subparsers(
        dest="receipt_command", required=True)
    read = receipt.add_parser("read", help="read a slip from an image file and grade it")
    read.add_argument("image", help="a photo or scan of the slip (PNG, JPEG)")
    read.add_argument("--expect", action="append", default=[], metavar="FIELD=VALUE",
                      help="what a field should say, e.g. amount=12.34 trace=000123 "
                           "card_number=621234******0019 txn_type=sale; the note the slip ends "
                           "with: note=reprint, note=declined:51, note=none (repeatable)")
    read.add_argument("--profile", default=str(DEFAULT_PROFILE),
                      help="terminal profile naming the receipt template and print limits")
    read.add_argument("--annotated", default=None,
                      help="write the annotated image here, as its name says (out.jpg, out.png)")
    read.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    read.set_defaults(func=run_read)


def parse_expectations(template: ReceiptTemplate, items: list[str]) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--expect {item!r}: expected FIELD=VALUE")
        if key.strip() == "note":
            given["note"] = _note_expected(template, item, text.strip())
            continue
        try:
            spec = template.field(key.strip())
        except KeyError as exc:
            names = ", ".join(f.key for f in template.fields)
            raise ConfigError(f"--expect {item!r}: no field {key!r} (fields: {names})") from exc
        text = text.strip()
        try:
            if spec.kind == "masked_pan":
                given[spec.key] = pan_witness(text)
            elif spec.kind == "digits" and text.isdigit() and spec.length:
                given[spec.key] = fx.parse(spec, text.zfill(spec.length), template)
            elif spec.kind == "txn_type" and text in template.txn_types:
                given[spec.key] = text
            else:
                given[spec.key] = fx.parse(spec, text, template)
        except fx.FieldError as exc:
            raise ConfigError(f"--expect {item!r}: {exc}") from exc
    return given


def _note_expected(template: ReceiptTemplate, item: str, text: str) -> NoteWitness:
    """``none``, a note's name, or ``name:code`` for a note that prints a response code."""
    if text.lower() == "none":
        return NO_NOTE
    name, _, code = text.partition(":")
    spec = next((n for n in template.notes if n.key == name.strip()), None)
    if spec is None:
        names = ", ".join(["none", *(n.key for n in template.notes)])
        raise ConfigError(f"--expect {item!r}: no note {name.strip()!r} (notes: {names})")
    code = code.strip()
    if code and (spec.value is None or len(code) != CODE_LENGTH or not code.isalnum()):
        raise ConfigError(f"--expect {item!r}: " + (f"the {spec.key} note prints no code" if spec.value
                          is None else f"a response code is {CODE_LENGTH} letters or digits"))
    return (spec.key, code.upper() or None)


def run_read(args: argparse.Namespace) -> int:
    from harness.config import Node, load_yaml
    from harness.paths import resolve
    from harness.receipts.reader import ReceiptReader

    profile = Path(args.profile)
    root = Node(load_yaml(profile, "terminal profile"), profile)
    name = root.node("receipt").str("template")
    template_path = resolve(f"receipts/{name}.yaml", profile.parent)
    template = ReceiptTemplate.from_dict(load_yaml(template_path, "receipt template"), str(template_path))
    frame = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if frame is None:
        raise ConfigError(f"{args.image}: not an image OpenCV can read")
    given = parse_expectations(template, args.expect)
    reader = ReceiptReader(template, PrintLimits.from_profile(profile))
    verdict = reader.verify(frame, Witnesses(given=given))
    reading = verdict.reading
    if args.annotated:
        out = Path(args.annotated)
        try:
            evidence = reader.evidence(frame, verdict, ext=out.suffix or ".png")
        except ValueError as exc:
            raise ConfigError(f"--annotated {args.annotated}: {exc}") from exc
        image = next((body for name, body, _ in evidence if name == ANNOTATED), None)
        if isinstance(image, bytes):
            out.write_bytes(image)
    status = verdict.status if given else ("read" if reading.readable and not verdict.faults
                                           else verdict.status)
    if args.json:
        print(json.dumps({
            "status": status, "faults": list(verdict.faults), "flags": list(verdict.flags),
            "copy": reading.copy, "ms": round(reading.ms, 1),
            "fields": {k: {"text": f.text, "value": show(f.value), "confidence": round(f.confidence, 3)}
                       for k, f in reading.fields.items()},
            "notes": [{"note": n.key, "code": n.code, "text": n.text} for n in reading.notes],
            "contrast": None if reading.grade is None else reading.grade.contrast,
        }, ensure_ascii=False))
    else:
        print(f"{args.image}: {status} ({reading.ms:.0f} ms)")
        for key, got in reading.fields.items():
            print(f"  {key:14} {got.text or '—'}" + (f"   [{got.problem}]" if got.problem else ""))
        for note in reading.notes:
            print(f"  {'note':14} {note.describe()}: {note.text}")
        print(verdict.explain())
    return {"pass": 0, "read": 0, "fail": 1}.get(status, 3)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - harness.cli is the entry point
    from harness.cli import main as posrig

    return posrig(["receipt", *(argv or sys.argv[1:])])
