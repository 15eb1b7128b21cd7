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
from harness.receipts import formats as fm
from harness.receipts.annotate import ANNOTATED
from harness.receipts.notes import CODE_LENGTH
from harness.receipts.template import FieldSpec, PrintLimits, ReceiptTemplate
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
    read.add_argument("--template", default=None,
                      help="a receipt template by name (fixtures/receipts/NAME.yaml) or .yaml path "
                           "instead of the profile's; layout-free reads a slip of any terminal by "
                           "label dictionaries and value patterns (also tried when the slip is not "
                           "the profile's)")
    read.add_argument("--annotated", default=None,
                      help="write the annotated image here, as its name says (out.jpg, out.png)")
    read.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    read.set_defaults(func=run_read)
    learn = receipt.add_parser("learn", help="write a layout-free template from one slip whose values "
                                             "are known, for a person to review")
    learn.add_argument("image", help="a photo or scan of one slip of the terminal family")
    learn.add_argument("--expect", action="append", default=[], metavar="FIELD=VALUE", required=True,
                       help="what a field of this slip says (amount=29,000 auth_code=00652378 ...)")
    learn.add_argument("--name", default="learnt", help="the template's name (default: learnt)")
    learn.add_argument("--out", default=None, help="where to write it (default: NAME.yaml)")
    learn.set_defaults(func=run_learn)


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
            given[spec.key] = _expected_value(template, spec, text)
        except (fx.FieldError, fm.FormatError) as exc:
            raise ConfigError(f"--expect {item!r}: {exc}") from exc
    return given


def _expected_value(template: ReceiptTemplate, spec: FieldSpec, text: str) -> Any:
    """A template field's expected value, parsed as a person writes it and never reinterpreted:
    a date and time by the template's format or an unambiguous one (``23.09.16 14:05`` is an
    error, not 2309-01-06), an amount in the template's currency with either decimal mark
    (``RMB 152,00``), ids with exactly the digits the slip prints (only the counters, batch and
    trace, may drop their leading zeros)."""
    if spec.kind == "masked_pan":
        return pan_witness(text)
    if spec.kind == "datetime":
        return fm.expect_datetime(text, fm.Formats(datetime=(spec.format,)))
    if spec.kind == "amount":
        currency = fm.CURRENCY_SYMBOLS.get(spec.currency, spec.currency)
        value = fm.expect_amount(text, fm.Formats(currency=currency, decimals=2))
        return int(value * 100)
    if spec.kind == "digits":
        if not text.isdigit():
            raise fm.FormatError(f"expected digits, got {text!r}")
        if spec.length and len(text) < spec.length and spec.key in fm.Formats().pad:
            text = text.zfill(spec.length)  # a counter given without its leading zeros
        if spec.length and len(text) != spec.length:
            raise fm.FormatError(f"this template's slips print {spec.length} digits there, got {len(text)}")
        return text
    if spec.kind == "txn_type" and text in template.txn_types:
        return text
    return fx.parse(spec, text, template)


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


def load_image(name: str) -> Any:
    """The photo at ``name`` as BGR; a missing file, a folder or a non-image each said as such."""
    path = Path(name)
    if not path.exists():
        raise ConfigError(f"{name}: no such file (check the path of the photo)")
    if not path.is_file():
        raise ConfigError(f"{name}: is not a file (give the path of a photo, .jpg or .png)")
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise ConfigError(f"{name}: not an image OpenCV can read (use a .jpg or .png photo)")
    return frame


#: The CUP reader's reasons that say "this is not my slip" (rather than "a bad photo of it"):
#: the layout-free reader is tried then.
NOT_THIS_LAYOUT = ("paper not found", "only ", "no print found")
#: Trying the profile's layout on a photo that may be another terminal's slip, the template
#: reader gives up when none of the first rows it reads is a line of its template (one of a
#: CUP slip's first rows always is: its title, its copy, the merchant): without this a real
#: slip's 30-90 rows were read twice, 0.1-1.3 s spent before the layout-free reader began.
GIVE_UP_AFTER = 8


def run_read(args: argparse.Namespace) -> int:
    from harness.receipts.reader import ReceiptReader

    frame = load_image(args.image)
    profile = Path(args.profile)
    source = _template_source(args.template, profile)
    data = _load_template(source)
    if _is_layout_free(data):
        return _run_freeform(args, frame, data, note=None)
    template = ReceiptTemplate.from_dict(data, str(source))
    try:
        given = parse_expectations(template, args.expect)
        refused = None
    except ConfigError as exc:  # maybe not this template's slip at all: said if it is
        given, refused = {}, exc
    reader = ReceiptReader(template, PrintLimits.from_profile(profile),
                           give_up=GIVE_UP_AFTER if args.template is None else 0)
    verdict = reader.verify(frame, Witnesses(given=given))
    reading = verdict.reading
    if args.template is None and not reading.readable and not verdict.faults and \
            (reading.reason or "").startswith(NOT_THIS_LAYOUT):
        # not the profile's slip: the layout-free reader reads slips of any terminal
        note = f"not a {template.name} slip ({reading.reason}): read layout-free"
        return _run_freeform(args, frame, _load_template(_template_source("layout-free", profile)), note,
                             tried_ms=reading.ms)
    if refused is not None:
        raise refused
    if args.annotated:
        _write_annotated(args.annotated, lambda ext: reader.evidence(frame, verdict, ext=ext))
    status = verdict.status if given else ("read" if reading.readable and not verdict.faults
                                           else verdict.status)
    return _report(args, status, verdict)


def _run_freeform(args: argparse.Namespace, frame: Any, data: dict[str, Any], note: str | None,
                  tried_ms: float = 0.0) -> int:
    """The layout-free reader's verdict; ``tried_ms``, the time the profile's layout was tried
    first, is counted in the time printed: the photo's reading took both."""
    from harness.receipts.freeform import FreeformReader, FreeformTemplate
    from harness.receipts.freeform_check import evidence, parse_expectation, verify

    reader = FreeformReader(FreeformTemplate.from_dict(data))
    given = {}
    for item in args.expect:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--expect {item!r}: expected FIELD=VALUE")
        if key.strip() == "note":
            raise ConfigError(f"--expect {item!r}: the layout-free reader reads no notes")
        given[key.strip()] = parse_expectation(reader, key.strip(), text.strip())
    verdict = verify(reader, frame, given)
    if args.annotated:
        _write_annotated(args.annotated, lambda ext: evidence(frame, verdict, ext))
    if note and not args.json:
        print(note)
    return _report(args, verdict.status, verdict, layout_free=True, extra_ms=tried_ms)


def _write_annotated(name: str, make: Any) -> None:
    out = Path(name)
    try:
        evidence = make(out.suffix or ".png")
    except ValueError as exc:
        raise ConfigError(f"--annotated {name}: {exc}") from exc
    image = next((body for title, body, _ in evidence if title == ANNOTATED), None)
    if isinstance(image, bytes):
        out.write_bytes(image)


def _report(args: argparse.Namespace, status: str, verdict: Any, layout_free: bool = False,
            extra_ms: float = 0.0) -> int:
    reading = verdict.reading
    ms = reading.ms + extra_ms
    if args.json:
        print(json.dumps({
            "status": status, "faults": list(verdict.faults), "flags": list(verdict.flags),
            "template": reading.template, "layout_free": layout_free,
            "copy": reading.copy, "ms": round(ms, 1),
            "fields": {k: {"text": f.text, "value": show(f.value), "confidence": round(f.confidence, 3)}
                       for k, f in reading.fields.items()},
            "notes": [{"note": n.key, "code": n.code, "text": n.text} for n in reading.notes],
            "contrast": None if reading.grade is None else reading.grade.contrast,
        }, ensure_ascii=False))
    else:
        print(f"{args.image}: {status} ({ms:.0f} ms)")
        for key, got in reading.fields.items():
            print(f"  {key:14} {got.text or '—'}" + (f"   [{got.problem}]" if got.problem else ""))
        for note in reading.notes:
            print(f"  {'note':14} {note.describe()}: {note.text}")
        print(verdict.explain())
    return {"pass": 0, "read": 0, "fail": 1}.get(status, 3)


def _template_source(name: str | None, profile: Path) -> Path:
    """``--template`` as a path or a name in fixtures/receipts/, else the profile's template."""
    from devices.terminal.profile import profile_data
    from harness.config import Node
    from harness.paths import resolve

    if name is None:
        root = Node(profile_data(profile), profile)
        name = root.node("receipt").str("template")
        return resolve(f"receipts/{name}.yaml", profile.parent)
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"--template {name}: no such file")
        return path
    path = FIXTURES / "receipts" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (FIXTURES / "receipts").glob("*.yaml") if p.stem != "labels")
        raise ConfigError(f"--template {name}: no template of that name (known: {', '.join(known)}; "
                          "or give a .yaml path)")
    return path


def _load_template(path: Path) -> dict[str, Any]:
    from harness.config import load_yaml

    return load_yaml(path, "receipt template")


def _is_layout_free(data: dict[str, Any]) -> bool:
    return data.get("layout") == "free"


def run_learn(args: argparse.Namespace) -> int:
    from harness.receipts.freeform import FreeformReader
    from harness.receipts.learn import learn, write_template

    frame = load_image(args.image)
    reader = FreeformReader()
    template, report = learn(reader, frame, args.expect, name=args.name)
    out = Path(args.out or f"{args.name}.yaml")
    write_template(template, out, source=args.image)
    for line in report:
        print(line)
    print(f"wrote {out}: review it, then read slips of this layout with --template {out}")
    return 0


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - harness.cli is the entry point
    from harness.cli import main as posrig

    return posrig(["receipt", *(argv or sys.argv[1:])])
