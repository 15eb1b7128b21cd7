"""Seeded slips with their transactions, for the tests and bench/receipts.py.

Each slip is printed by the simulated printer from the template, so the reader is tested
on exactly what the simulated terminal would put on the tray; its witnesses (an ECR
result and a host journal entry) are built to agree with it, unless the sample is meant
to disagree, in which case the *slip* carries one wrong field, as a faulty terminal would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import yaml

from devices.bench_model import Slip
from devices.camera import scene
from devices.camera.render import render_slip as print_on_paper
from devices.host.journal import JournalEntry
from devices.masking import mask_pan
from devices.payments.messages import RESPONSE_TEXT
from devices.terminal.sim.printer import format_amount, render_slip
from harness.flows import TransactionResult
from harness.paths import FIXTURES
from harness.receipts import fields as fx
from harness.receipts.settlement import SIDES, TOTAL_KEYS, SettlementReport
from harness.receipts.template import ReceiptTemplate
from harness.receipts.witness import Witnesses

MERCHANT = {"merchant_name": "POSRIG TEST MERCHANT", "merchant_id": "898100012340001",
            "terminal_id": "10000001", "operator": "01"}
# Synthetic, Luhn-valid test PANs (fixtures/cards.yaml ranges), 16 and 19 digits
PANS = ("6212340000000019", "6250940000000027", "6212340000000027", "6212345678901234566")
WRONG_FIELDS = ("amount", "trace", "card_number", "rrn", "auth_code", "batch")


@dataclass(frozen=True)
class Sample:
    slip: Slip
    witnesses: Witnesses
    values: dict[str, str]  # what the slip prints
    kind: str  # sale / void / settlement
    copy: str  # merchant / customer ("" on a settlement slip)
    wrong_field: str | None = None  # the field the slip gets wrong, for a disagreeing sample


def make_sample(template: dict[str, Any], rng: random.Random, *, kind: str = "sale",
                copy: str = "merchant", wrong_field: str | None = None, quality: str = "good",
                clear_pan: bool = False, note: str | None = None, rc: str = "51",
                printed_notes: tuple[str, ...] | None = None) -> Sample:
    """A slip and its witnesses. ``note`` makes it a ``reprint`` of an approved transaction or
    the merchant copy of one ``declined`` with ``rc``; ``printed_notes`` overrides the lines
    the slip ends with (a faulty terminal's), which otherwise are what ``note`` calls for."""
    pan = rng.choice(PANS)
    amount = rng.randint(1, 999_999)
    trace, batch = rng.randint(1, 999_999), rng.randint(1, 999)
    rrn = "".join(rng.choice("0123456789") for _ in range(12))
    auth = f"{rng.randrange(1_000_000):06d}"  # as the simulated host issues them
    when = datetime(2026, 1, 1) + timedelta(seconds=rng.randint(0, 300 * 86400))
    values = {
        **MERCHANT, "card_number": pan if clear_pan else mask_pan(pan),
        "txn_type": template["txn_types"][kind], "batch": f"{batch:06d}", "trace": f"{trace:06d}",
        "auth_code": auth, "rrn": rrn, "datetime": when.strftime("%Y/%m/%d %H:%M:%S"),
        "amount": format_amount(amount),
    }
    declined = note == "declined"
    if declined:  # no authorisation, and the simulated host gives a decline no reference
        rrn = auth = ""
        values.update(rrn="", auth_code="")
    ecr = TransactionResult(kind=kind, status="declined" if declined else "approved", amount=amount,
                            card=mask_pan(pan), entry="chip", rc=rc if declined else "00",
                            trace=trace, batch=batch, rrn=rrn or None, auth_code=auth or None)
    host = _journal_entry(
        id=1, at=(when - timedelta(seconds=1)).isoformat(timespec="milliseconds"),
        tid=MERCHANT["terminal_id"], mid=MERCHANT["merchant_id"], mti="0200", kind=kind,
        stan=f"{trace:06d}", batch=f"{batch:06d}", amount=amount, pan_masked=mask_pan(pan),
        entry_mode="chip", rc=ecr.rc, rrn=rrn or None, auth_code=auth or None, behaviour=None,
        note=None, state=ecr.status, orig_batch=None, orig_stan=None, scheme="CUP",
        response_mti="0210")
    printed = dict(values)
    if wrong_field is not None:
        printed[wrong_field] = _wrong(wrong_field, values[wrong_field], pan, rng)
    witnesses = Witnesses(ecr=ecr, host=host, **MERCHANT, reprint=note == "reprint")
    if printed_notes is None:
        printed_notes = () if note is None else (note_line(template, note, rc),)
    slip = render_slip(template, printed, copy=copy, quality=quality, notes=printed_notes)
    return Sample(slip, witnesses, printed, kind, copy, wrong_field)


def make_settlement_sample(template: dict[str, Any], rng: random.Random, *, balanced: bool = True,
                           wrong_field: str | None = None) -> Sample:
    """A settlement slip laid out as the simulated terminal prints it (title, one line per
    field, the host's verdict), with its ECR answer and journal row; ``wrong_field`` printed
    one count off, as a faulty terminal would."""
    batch = rng.randint(1, 999)
    when = datetime(2026, 1, 1) + timedelta(seconds=rng.randint(0, 300 * 86400))
    totals = {key: (n, rng.randint(1, 99_999) * n) for key in TOTAL_KEYS
              for n in [rng.choice((0, 0, 1, 2, 7, 12))]}
    report = SettlementReport("ok", batch, balanced, totals)
    described = "; ".join(f"{side} D {totals[side + '_debit'][0]}/{totals[side + '_debit'][1]} "
                          f"C {totals[side + '_credit'][0]}/{totals[side + '_credit'][1]}" for side in SIDES)
    host = _journal_entry(
        id=1, at=(when - timedelta(seconds=1)).isoformat(timespec="milliseconds"),
        tid=MERCHANT["terminal_id"], mid=MERCHANT["merchant_id"], mti="0500", kind="settlement",
        batch=f"{batch:06d}", rc="00", state="balanced" if balanced else "unbalanced",
        note=f"terminal: {described} | host: {described}", response_mti="0510")
    spec = ReceiptTemplate.from_dict(template)
    values = {"merchant_name": MERCHANT["merchant_name"], "merchant_id": MERCHANT["merchant_id"],
              "terminal_id": MERCHANT["terminal_id"], "batch": f"{batch:06d}",
              "datetime": when.strftime("%Y/%m/%d %H:%M:%S")}
    values.update({key: fx.printed(spec.field(key), total, spec) for key, total in totals.items()})
    if wrong_field is not None:
        count, fen = totals[wrong_field]
        values[wrong_field] = fx.printed(spec.field(wrong_field), (count + 1, fen), spec)
    lines = [spec.title, *(f"{f.label}: {values[f.key]}" for f in spec.fields),
             note_line(template, report.note or "balanced")]
    witnesses = Witnesses(ecr=report, host=host, **{k: v for k, v in MERCHANT.items() if k != "operator"})
    return Sample(Slip(tuple(lines)), witnesses, values, "settlement", "", wrong_field)


def note_line(template: dict[str, Any], note: str, rc: str = "51") -> str:
    """The line a slip ends with for a template's ``note``, as the simulated terminal prints it."""
    spec = template["notes"][note]
    if isinstance(spec, str):
        return spec
    return f"{spec['text']}: {rc} {RESPONSE_TEXT.get(rc, 'declined')}"


def template_data(name: str) -> dict[str, Any]:
    """``fixtures/receipts/<name>.yaml`` as the simulated printer and the reader take it."""
    return yaml.safe_load((FIXTURES / "receipts" / f"{name}.yaml").read_text(encoding="utf-8"))


def on_tray(slip: Slip, level: str, seed: int) -> np.ndarray:
    """``slip`` printed and photographed on the tray by the simulated camera at ``level``;
    ``flat``: the printed paper itself, as a flat scan gives it."""
    paper = print_on_paper(slip).image
    return paper if level == "flat" else scene.render_scene(paper, level, seed)


def _journal_entry(**values: Any) -> JournalEntry:
    """A journal row as the host writes it; columns this sample does not set are empty."""
    return JournalEntry(**{f.name: values.get(f.name) for f in fields(JournalEntry)})


def _wrong(key: str, value: str, pan: str, rng: random.Random) -> str:
    """The value a faulty terminal prints instead: one character off, as real faults are."""
    if key == "card_number":
        other = pan[:-4] + f"{(int(pan[-4:]) + rng.randint(1, 9)) % 10000:04d}"
        return mask_pan(other)
    if key == "amount":
        return value[:-1] + str((int(value[-1]) + rng.randint(1, 9)) % 10)
    i = rng.randrange(len(value))
    pool = "0123456789" if value.isdigit() else "0123456789ABCDEF"
    return value[:i] + rng.choice([c for c in pool if c != value[i]]) + value[i + 1:]


def with_witness(sample: Sample, **ecr_changes: Any) -> Sample:
    """The same slip, with the ECR result changed (the link and the host disagree)."""
    ecr = replace(sample.witnesses.ecr, **ecr_changes)
    return replace(sample, witnesses=replace(sample.witnesses, ecr=ecr))
