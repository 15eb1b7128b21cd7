"""``posrig receipt learn PHOTO --expect field=value ...``: a family's template from one slip.

A person photographs one slip whose values they know (the terminal's own report, the
host's journal) and names them. The layout-free reader reads the slip; each value is looked
for among what was read, by its kind (``29,000`` is found as the amount 29000 wherever it
stands). Where it stands gives the template:

- ``labels``: the text printed before the value on its row, as the recogniser reads it (a
  family's own spelling of its labels; a script the recogniser cannot read still reads the
  same way on every slip of the family);
- ``anchor``: its place relative to the card number (or, without one, to the first value
  found): rows down, and which box on the row, so a field whose label cannot be read at all
  is still found on the next slip of that layout;
- ``formats``: the currency and decimal mark of the amount, the date format (not ids' lengths:
  another merchant on the same terminal software has a number of another length).

The template is written for a person to review; nothing learnt is trusted more than what the
reader sees on the next slip: a value found by its anchor must still parse by its kind.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from harness.config import ConfigError
from harness.receipts import formats as fm
from harness.receipts.freeform import FreeformReader, Slip, Token, encode_image, find_value, same_value
from harness.receipts.freeform_check import parse_expectation

ANCHOR_ORDER = ("card_number", "datetime", "amount")
LABEL_SURE = 0.80  # a label is learnt only if its weakest character was read this surely
MIN_LABEL_PX = 24  # a label's image narrower than this (at 48 px high) is a bracket, not a label


def learn(reader: FreeformReader, frame: np.ndarray, items: list[str],
          name: str = "learnt") -> tuple[dict[str, Any], list[str]]:
    """(the template as a dict, a line per field saying what was learnt or not found)."""
    expected: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--expect {item!r}: expected FIELD=VALUE")
        expected[key.strip()] = parse_expectation(reader, key.strip(), text.strip())
        raw[key.strip()] = text.strip()
    slips = reader.slips(frame)
    if not slips:
        raise ConfigError("no printed text found in the photo: nothing to learn from")
    slip = slips[0]
    # key -> (row, box, label text, value text, where the value starts in the box's text)
    where: dict[str, tuple[int, int, str, str, int]] = {}
    report = []
    found = {key: _find_all(reader, slip, key, reader.labels.fields[key].kind, want)
             for key, want in expected.items()}
    # the anchor first (a card number stands once on a slip); every other value at its
    # sighting nearest the anchor's row: a total printed three times is learnt where the
    # card block prints it
    anchor = next((k for k in ANCHOR_ORDER if found.get(k)), next((k for k in found if found[k]), None))
    anchor_row = found[anchor][0][0] if anchor else 0
    for key in expected:
        if not found[key]:
            report.append(f"{key}: {raw[key]!r} NOT FOUND on the slip (check the value, or the photo)")
            continue
        # nearest the anchor; below it on a tie (a card block prints its amount under the card)
        hit = min(found[key], key=lambda h: (abs(h[0] - anchor_row), h[0] < anchor_row))
        where[key] = hit
        report.append(f"{key}: {hit[3]!r} on row {hit[0] + 1}" + (f", after {hit[2]!r}" if hit[2] else ""))
    if not where:
        raise ConfigError("none of the expected values was found on the slip: nothing to learn")
    fields = []
    for key, (row, tok, label, _value, start) in where.items():
        entry: dict[str, Any] = {"key": key, "kind": reader.labels.fields[key].kind}
        if label:
            entry["labels"] = [label]
        image = _label_image(slip, row, tok, start)
        if image is not None and key not in ("card_number", "datetime"):  # those have their shape
            entry["label_image"] = encode_image(image)
        if key != anchor:
            entry["anchor"] = {"from": anchor, "rows": row - where[anchor][0], "token": tok}
        fields.append(entry)
    template = {"name": name, "layout": "free", "formats": _formats(where, expected), "fields": fields}
    return template, report


def _find_all(reader: FreeformReader, slip: Slip, key: str, kind: str,
              want: Any) -> list[tuple[int, int, str, str, int]]:
    """Every place on the slip where ``want`` is printed: (row, box, label before it, as read)."""
    fmt = reader.template.formats
    out = []
    for r, row in enumerate(slip.rows):
        for i, tok in enumerate(row):
            for value, start, end in find_value(kind, key, tok.text, fmt):
                if same_value(kind, value, want):
                    out.append((r, i, _label_before(row, i, tok, start), tok.text[start:end], start))
            if kind == "datetime" and i + 1 < len(row) and not out:
                # a date in one box and its time in the next (03/30/13 ... 18:51:29)
                joined = f"{tok.text} {row[i + 1].text}"
                for value, start, end in find_value(kind, key, joined, fmt):
                    if same_value(kind, value, want) and start < len(tok.text):
                        out.append((r, i, _label_before(row, i, tok, start), joined[start:end], start))
    return out


def _label_image(slip: Slip, r: int, i: int, start: int) -> np.ndarray | None:
    """The label's look: the box up to where the value starts, or the box before it."""
    row = slip.rows[r]
    tok = row[i]
    if tok.cut is None:
        return None
    if start > 0 and start <= len(tok.read.xs):
        xs = tok.read.xs
        x_end = (xs[start - 1] + xs[start]) / 2 if start < len(xs) else tok.cut.shape[1]
        image = tok.cut[:, :max(0, int(x_end))]
    elif i > 0 and row[i - 1].cut is not None:
        image = row[i - 1].cut
    else:
        return None
    return image if image.shape[1] >= MIN_LABEL_PX else None


def _label_before(row: list[Token], i: int, tok: Token, start: int) -> str:
    """The text before the value on its row, as read, if it was read surely: a label the
    recogniser garbles (a script it has no characters for) garbles differently on the next
    slip, and learnt as a label it would only find nothing, or something else."""
    # the words just before the value, not the field before them on the same row
    # ("Inv#: 00000008 Appr Code: 08678B" learns "Appr Code")
    before = tok.text[:start]
    cut = max((m.end() for m in re.finditer(r"\d[\d\s:.,/-]*", before)), default=0)
    label, lo, hi = before[cut:].strip(" :：=-#"), cut, start
    if not label and i > 0:
        tok = row[i - 1]
        label, lo, hi = tok.text.strip(" :：=-"), 0, len(tok.text)
    sure = min((c for ch, c in zip(tok.text[lo:hi], tok.read.confidences[lo:hi], strict=False)
                if not ch.isspace()), default=0.0)
    return label if sure >= LABEL_SURE else ""


def _formats(where: dict[str, tuple[int, int, str, str, int]], expected: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "amount" in where:
        text = where["amount"][3]
        cur = re.findall(r"[A-Z]{3}|NT\$|[€$¥￥₩£元원円]", fm.fold(text).upper())
        if cur:
            out["currency"] = fm.CURRENCY_SYMBOLS.get(cur[0], cur[0])
        m = re.search(r"[.,](\d{1,2})\D*$", text)
        out["decimals"] = len(m.group(1)) if m else 0
        if m:
            out["decimal"] = text[m.start()]
    if "datetime" in where and isinstance(expected.get("datetime"), datetime):
        fmt = _datetime_format(where["datetime"][3], expected["datetime"])
        if fmt:
            out["datetime"] = [fmt]
    # ids are not learnt as lengths: another merchant's number on the same terminal software
    # has another length (880109715, 8014130085); the family's ranges stay the generic ones
    return out


def _datetime_format(text: str, want: datetime) -> str | None:
    """The strftime format a printed date and time follows, told by the value it is known to
    hold (03/30/13 18:51:29 is 2013-03-30: month first, two-digit year)."""
    m = re.search(r"(\d{2,4})([-/.])(\d{1,2})([-/.])(\d{1,4})\D{1,6}?(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not m:
        return None
    a, s1, _b, s2, c, _h, _mi, sec = m.groups()
    orders = [f"%Y{s1}%m{s2}%d"] if len(a) == 4 else [f"%d{s1}%m{s2}%Y", f"%m{s1}%d{s2}%Y"] if len(c) == 4 \
        else [f"%m{s1}%d{s2}%y", f"%d{s1}%m{s2}%y", f"%y{s1}%m{s2}%d"]
    date_text = text[m.start():m.start(5) + len(c)]
    for order in orders:
        try:
            if datetime.strptime(date_text, order).date() == want.date():
                return f"{order} %H:%M" + (":%S" if sec else "")
        except ValueError:
            continue
    return None


def write_template(template: dict[str, Any], out: Path, source: str) -> None:
    head = (f"# Learnt by `posrig receipt learn` from {Path(source).name}: review before use.\n"
            "# labels: the text before each value as the recogniser read it (if read surely);\n"
            "# label_image: the label as printed (PNG, base64), found by its look; anchor: rows below the\n"
            "# anchor field and the box on that row, for labels no recogniser reads.\n")
    out.write_text(head + yaml.safe_dump(template, allow_unicode=True, sort_keys=False), encoding="utf-8")
