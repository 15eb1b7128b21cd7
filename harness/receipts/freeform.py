"""Slips no template describes: found anywhere in a photo, read row by row, fields given by
label dictionaries and value patterns.

The template reader (harness.receipts.reader) knows its slip to the pixel; a real bench
prints whatever its terminal family prints. This reader assumes only that a slip is rows
of printed text:

1. **Text, then slips.** The detector of the pinned RapidOCR wheel finds text boxes in the
   photo (scaled so its long side is ``DET_SIDE``); boxes close to each other (within five
   text heights above or below, two beside) form one slip, so several slips on a table, a
   hand or a scanned page around one are told apart by where their text is, not by the
   paper's outline. Each group that can be a slip is detected again in its own region at
   the scale that places its rows well (``TEXT_PX_FINE``).
2. **Rows** by the boxes' own angle and measured height (the pitch of that slip), left to
   right within a row; two boxes one above the other are never one row.
3. **Recognition** of each box from the full-resolution photo, keeping the recogniser's
   per-character confidences.
4. **Fields.** A box that starts with a label of the dictionary (fixtures/receipts/
   labels.yaml, or the family's own labels from its template) gives its value: the rest of
   the box, else the boxes to its right up to the next label (two columns on one row), else
   the row below. Masked card numbers and dates are also found by their pattern alone.
   Each value is parsed by its kind and the family's formats (harness.receipts.formats).
5. **Confidence** of a field is its weakest character's. Two different values for one field
   (two labels, a label and a pattern) make it unreadable: never a guess. A value beside its
   label but not level with it, and the slip's total found by its shape (the largest amount,
   printed twice), carry no label box: they confirm, never accuse (freeform_check).
"""

from __future__ import annotations

import itertools
import math
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devices.datafile import parse_yaml
from harness.paths import FIXTURES
from harness.receipts import formats as fm
from harness.receipts.ocr import REC_HEIGHT, LineRead, OcrEngine, normalise
from harness.receipts.paper import Flattened, to_gray
from harness.receipts.reading import FieldReading, ReceiptReading, SeenText

LABELS_FILE = FIXTURES / "receipts" / "labels.yaml"
GENERIC_FILE = FIXTURES / "receipts" / "layout-free.yaml"
# the detector sees the photo at most this large (its long side) to find the slip and its
# rows: 0.35 s of CPU at 640 px against 0.8 s at 960 on phone photos, the same rows found
# (a slip's boxes are still 19-23 px high there); a slip whose print is smaller than that is
# detected again in its own region only (DET_SIDE_MAX)
DET_SIDE = 640
DET_SIDE_MAX = 1600  # a slip cut out of a large photo is detected again at most this large
TEXT_PX_FINE = 24  # the box height a slip's rows are detected again at, to place them
MIN_SLIP_BOXES = 3  # a group of fewer text boxes is not a slip
SECOND_LOOKS = 3  # regions around sparse text looked at again when no card slip was read
AROUND = (3.0, 6.0)  # ... each reaching this many of its text's heights beside and above/below
IMAGE_MIN = 0.75  # correlation of a learnt label's image that finds it on the next slip
IMAGE_MARGIN = 0.05  # ... and by how much it must beat the next best box
CUT_HEIGHT = 0.8  # of a detected box's height, what is cut for recognition (see _cut)
READ_MIN = 0.80  # a value read at least this surely is read; below, unreadable
LABEL_CACHE = 4096  # texts whose labels a reader remembers
LEVEL = 0.25  # of the label's box height: a value beside its label further off level only confirms
SAME_TIME_S = 60  # two times on one slip this close are one (print time and approval time)
# Kinds whose value is in their digits: their confidence is their digits' (a date's separators
# and a card number's mask are where a recogniser is least sure, and carry nothing checked)
DIGIT_KINDS = ("datetime", "pan")
FIELD_KINDS = ("amount", "datetime", "pan", "digits", "code", "text")
_STRIP = "[](){}<>【】〔〕|*_'\""
_SEPARATORS = " :：.-=/#"


def compact(text: str) -> str:
    """How labels are compared: NFKC, upper case, no spaces, brackets or colons."""
    text = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in text if not ch.isspace() and ch not in _STRIP).strip(":：")


@dataclass(frozen=True)
class FieldDef:
    key: str
    kind: str
    aliases: tuple[str, ...]  # compacted, longest first


@dataclass(frozen=True)
class Labels:
    """Field -> what slips call it, from the dictionary and a family's template."""

    fields: dict[str, FieldDef]

    @classmethod
    def load(cls, path: Path = LABELS_FILE, extra: dict[str, list[str]] | None = None,
             kinds: dict[str, str] | None = None) -> Labels:
        data = parse_yaml(path.read_text(encoding="utf-8"))
        out: dict[str, FieldDef] = {}
        for key, entry in (data.get("fields") or {}).items():
            kind = str(entry.get("kind", "text"))
            if kind not in FIELD_KINDS:
                raise ValueError(f"{path}: fields.{key}.kind: one of {', '.join(FIELD_KINDS)}, got {kind!r}")
            names = [a for group in (entry.get("aliases") or {}).values() for a in group]
            out[str(key)] = FieldDef(str(key), kind, _aliases(names))
        for key, names in (extra or {}).items():
            base = out.get(key)
            kind = (kinds or {}).get(key) or (base.kind if base else "text")
            out[key] = FieldDef(key, kind, _aliases([*names, *(base.aliases if base else ())]))
        return cls(out)

    def match(self, text: str) -> tuple[str, int, float] | None:
        """The field whose label ``text`` starts with: (key, characters of ``text`` the label
        takes, similarity); the longest label wins (MERCHANT NAME over MERCHANT)."""
        got = compact(text)
        best: tuple[str, int, float, int] | None = None
        for key, fdef in self.fields.items():
            for alias in fdef.aliases:
                n = len(alias)
                if len(got) < n:
                    continue
                head = got[:n]
                # a Latin label ends at a word's end (MID, not MIDDLE); CJK and Hangul labels
                # are not spaced from what follows (金额AMOUNT)
                boundary = len(got) == n or not got[n].isalpha() or not alias[-1].isascii()
                if n <= 3:
                    ok = head == alias and boundary
                    score = 1.0 if ok else 0.0
                else:
                    score = _similarity(head, alias)
                    ok = score >= 1 - 1 / 8 and boundary
                if ok and (best is None or n > best[3]):
                    best = (key, n, score, n)
        if best is None:
            return None
        return best[0], _raw_index(text, best[1]), best[2]


def _aliases(names: list[str]) -> tuple[str, ...]:
    return tuple(sorted({compact(n) for n in names if compact(n)}, key=lambda a: -len(a)))


def _raw_index(text: str, kept: int) -> int:
    """Index in ``text`` just after its ``kept``-th character that ``compact`` keeps."""
    seen = 0
    norm = unicodedata.normalize("NFKC", text).upper()
    if len(norm) != len(text):  # a ligature or full-width form changed the length: approximate
        norm = text.upper()
    for i, ch in enumerate(norm):
        if seen >= kept:
            return i
        if not ch.isspace() and ch not in _STRIP:
            seen += 1
    return len(text)


def _similarity(a: str, b: str) -> float:
    from harness.receipts.fields import similarity

    return similarity(a, b)


@dataclass
class Token:
    """A detected text box and what was read in it."""

    quad: np.ndarray  # 4 x 2, frame pixels, clockwise from top-left
    read: LineRead
    cut: np.ndarray | None = None  # the box as recognised (REC_HEIGHT px high, gray)
    u: float = 0.0  # along the slip's rows
    v: float = 0.0  # across them
    height: float = 0.0

    @property
    def text(self) -> str:
        """What was read, full-width forms folded (＃ for #) where that keeps its length, so
        character confidences still line up."""
        folded = unicodedata.normalize("NFKC", self.read.text)
        return folded if len(folded) == len(self.read.text) else self.read.text

    def box(self) -> tuple[int, int, int, int]:
        x0, y0 = self.quad.min(axis=0)
        x1, y1 = self.quad.max(axis=0)
        return int(x0), int(y0), math.ceil(x1), math.ceil(y1)


@dataclass
class Candidate:
    key: str
    text: str  # the value as read
    confidence: float  # its weakest character
    tokens: list[Token]
    by: str  # "label" or "pattern"
    label_token: Token | None = None
    value: Any = None
    problem: str | None = None


@dataclass
class Slip:
    """One slip found in the photo: its tokens in rows."""

    rows: list[list[Token]]
    quad: np.ndarray  # the slip's outline in the frame (the hull of its text, padded)

    @property
    def tokens(self) -> list[Token]:
        return [t for row in self.rows for t in row]


@dataclass(frozen=True)
class FreeformTemplate:
    """A terminal family for the layout-free reader: its formats, its own labels (added to
    the dictionary), the fields its slips carry."""

    name: str
    formats: fm.Formats
    labels: dict[str, list[str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    fields: tuple[str, ...] = ()  # the fields its slips carry, in print order (empty: any)
    # field -> (anchor field, rows below the anchor's row, box on that row): learnt places
    anchors: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    # field -> its label as printed (gray, REC_HEIGHT px high): found by its look on the next
    # slip of the family even where the recogniser has no characters for its script
    images: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FreeformTemplate:
        labels: dict[str, list[str]] = {}
        kinds: dict[str, str] = {}
        order = []
        anchors: dict[str, tuple[str, int, int]] = {}
        images: dict[str, np.ndarray] = {}
        for entry in data.get("fields") or ():
            key = str(entry["key"])
            order.append(key)
            if entry.get("anchor"):
                a = entry["anchor"]
                anchors[key] = (str(a["from"]), int(a["rows"]), int(a["token"]))
            if entry.get("label_image"):
                images[key] = decode_image(str(entry["label_image"]))
            labels[key] = [str(x) for x in entry.get("labels") or ()]
            if entry.get("kind"):
                kinds[key] = str(entry["kind"])
        return cls(name=str(data.get("name", "layout-free")),
                   formats=fm.Formats.from_dict(data.get("formats")),
                   labels=labels, kinds=kinds, fields=tuple(order), anchors=anchors, images=images)

    @classmethod
    def generic(cls) -> FreeformTemplate:
        """The family that knows nothing (fixtures/receipts/layout-free.yaml)."""
        return cls.from_dict(parse_yaml(GENERIC_FILE.read_text(encoding="utf-8")))


class FreeformReader:
    """Reads slips of any layout; one reader per terminal family (its template)."""

    def __init__(self, template: FreeformTemplate | None = None, engine: OcrEngine | None = None):
        from harness.receipts.reader import shared_engine

        self.template = template or FreeformTemplate.generic()
        if engine is None:
            engine = shared_engine()
            engine.detector()  # loaded now: a reading's time is the slip's, not the model's
        self.engine = engine
        self.labels = Labels.load(extra=self.template.labels, kinds=self.template.kinds)
        # a text's labels, as _labels_in found them: a slip's boxes are looked at several times
        # (as a label, as the value right of one, as the row below one); bounded, cleared when full
        self._label_cache: dict[str, list[tuple[str, int, int]]] = {}

    # -- reading ---------------------------------------------------------------------------
    def read_all(self, frame: np.ndarray) -> list[ReceiptReading]:
        """Every slip in the photo, largest (most text) first."""
        started = time.perf_counter()
        gray = to_gray(frame)
        slips, sparse = self._slips(gray)
        out = [self._reading(frame, slip, started) for slip in slips]
        if not any(_shows_card_fields(r) for r in out):
            # No slip read shows a card payment, but text too small for the first look may stand
            # where a stray box or two was seen: a card terminal's slip among a till's receipts on
            # a table (its print a quarter of theirs, 2-3 px at 640 px). Looked at again closely;
            # a photo of a card slip that was read never pays for this.
            seen = slips + (self._second_look(gray, sparse, slips) if sparse else [])
            out += [self._reading(frame, slip, started) for slip in seen[len(slips):]]
            if not any(_shows_card_fields(r) for r in out) and max(gray.shape) > DET_SIDE * 2:
                # nothing at all was seen of it at 640 px: the whole photo once more, finely
                out += [self._reading(frame, slip, started) for slip in self._second_look(
                    gray, [(0, 0, gray.shape[1], gray.shape[0])], seen)]
        if not out:
            return [ReceiptReading(self.template.name, status="unreadable", reason="no printed text found",
                                   ms=(time.perf_counter() - started) * 1000)]
        return out

    def read(self, frame: np.ndarray) -> ReceiptReading:
        """The slip with the most fields read (a photo of one slip: that slip)."""
        readings = self.read_all(frame)
        return max(readings, key=lambda r: sum(f.value is not None for f in r.fields.values()))

    def slips(self, frame: np.ndarray) -> list[Slip]:
        return self._slips(to_gray(frame))[0]

    def _slips(self, gray: np.ndarray) -> tuple[list[Slip], list[tuple[int, int, int, int]]]:
        """The slips found, and the regions around text too sparse to be one (for a second look)."""
        quads = self._detect(gray, (0, 0, gray.shape[1], gray.shape[0]), DET_SIDE)
        if not quads:
            return [], []
        # The first look finds where the slips are, not exactly where each row is: a box found
        # at 640 px is placed to a few photo pixels at best, and the recogniser reads a row cut
        # that loosely worse. Each group of text that can be a slip is detected again on its
        # own, scaled so its boxes are TEXT_PX_FINE high (small print in a large photo: a slip
        # held at arm's length is found whole this way too); a group already seen that large,
        # or a box or two apart from the rest (a label on the table, a sign), is not.
        first = min(1.0, DET_SIDE / max(gray.shape))
        again: list[np.ndarray] = []
        sparse: list[tuple[int, int, int, int]] = []
        for region, members in _regions(quads, gray.shape):
            if len(members) < MIN_SLIP_BOXES:
                sparse.append(_around(members, gray.shape))
                continue
            x0, y0, x1, y1 = region
            h_full = max(1.0, float(np.median([_height(q) for q in members])))
            scale = min(1.0, TEXT_PX_FINE / h_full, DET_SIDE_MAX / max(x1 - x0, y1 - y0))
            if scale <= first * 1.15:
                again.extend(members)
                continue
            again.extend(self._detect(gray, region, int(max(x1 - x0, y1 - y0) * scale)))
        return self._recognised(gray, again), sparse

    def _second_look(self, gray: np.ndarray, sparse: list[tuple[int, int, int, int]],
                     seen: list[Slip]) -> list[Slip]:
        """Slips in the regions around sparse text, detected at up to full resolution (at most
        ``SECOND_LOOKS`` of them, the largest first); text already read is not read again."""
        quads: list[np.ndarray] = []
        for x0, y0, x1, y1 in sorted(sparse, key=lambda r: -(r[2] - r[0]) * (r[3] - r[1]))[:SECOND_LOOKS]:
            quads.extend(self._detect(gray, (x0, y0, x1, y1), min(DET_SIDE_MAX, max(x1 - x0, y1 - y0))))
        read = [t.quad for slip in seen for t in slip.tokens]
        return self._recognised(gray, [q for q in quads if not _read_already(q, read)])

    def _recognised(self, gray: np.ndarray, quads: list[np.ndarray]) -> list[Slip]:
        quads = [q for q in quads if _height(q) >= 6 and _width(q) >= 6]
        # only text that can be a slip is recognised (recognition is most of the time): a box
        # or two apart from the rest is a label on the table, a menu, a sign
        quads = [q for _, members in _regions(quads, gray.shape) if len(members) >= MIN_SLIP_BOXES
                 for q in members]
        if not quads:
            return []
        cuts = [_cut(gray, q) for q in quads]
        reads = self.engine.read_lines(cuts)
        tokens = [Token(q, r, c) for q, r, c in zip(quads, reads, cuts, strict=True) if r.text.strip()]
        return [_rows(group) for group in _clusters(tokens, gray.shape)]

    def _detect(self, gray: np.ndarray, region: tuple[int, int, int, int], side: int) -> list[np.ndarray]:
        """Text boxes in ``region`` of the photo, detected at ``side`` px (the long side), in
        photo pixels."""
        x0, y0, x1, y1 = region
        part = gray[y0:y1, x0:x1]
        scale = min(1.0, side / max(part.shape))
        small = cv2.resize(part, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
            if scale < 1 else part
        offset = np.array([x0, y0], np.float32)
        return [q / scale + offset for q in self.engine.detect(small)]

    def _reading(self, frame: np.ndarray, slip: Slip, started: float) -> ReceiptReading:
        found = self.fields_of(slip)
        flat = _frame_as_flat(frame, slip.quad)
        readings = {}
        for key, cand in found.items():
            boxes = tuple(t.box() for t in cand.tokens)
            label_box = cand.label_token.box() if cand.label_token is not None else None
            readings[key] = FieldReading(key, _shown(cand), cand.value, cand.confidence, boxes,
                                         label_box, cand.problem)
        status = "read" if any(c.value is not None for c in found.values()) else "unreadable"
        claimed = {id(t): key for key, cand in found.items() if cand.by == "label" for t in cand.tokens}
        seen = tuple(SeenText(_masked(t.text), t.read.confidences[:len(t.text)], t.box(), claimed.get(id(t)))
                     for t in slip.tokens)
        return ReceiptReading(self.template.name, status=status,
                              reason=None if status == "read" else "no field of a known kind read",
                              fields=readings, flat=flat, ms=(time.perf_counter() - started) * 1000,
                              seen=seen)

    # -- fields ----------------------------------------------------------------------------
    def fields_of(self, slip: Slip) -> dict[str, Candidate]:
        """Every field the slip shows, resolved from its candidates."""
        cands = self.candidates(slip)
        out: dict[str, Candidate] = {}
        for key, group in cands.items():
            out[key] = _resolve(key, group)
        for key, image in self.template.images.items():
            if key in out and out[key].value is not None:
                continue  # read by its label or its shape
            cand = self._by_image(slip, key, image)
            if cand is not None:
                out[key] = cand
        for key, (anchor, rows, index) in self.template.anchors.items():
            if key in out and out[key].value is not None:
                continue  # read by its label or its shape: the learnt place is not needed
            cand = self._at_anchor(slip, key, out.get(anchor), rows, index)
            if cand is not None:
                out[key] = cand
        return out

    def _by_image(self, slip: Slip, key: str, image: np.ndarray) -> Candidate | None:
        """The value after the box where the learnt label's image fits best: clearly best
        (IMAGE_MIN, and IMAGE_MARGIN over any other box), and a value of the field's kind
        after it on its row. Found by look, not by reading: it only confirms."""
        scored = []
        for r, row in enumerate(slip.rows):
            for i, tok in enumerate(row):
                fit = _fit(tok.cut, image)
                if fit is not None:
                    scored.append((fit[0], fit[1], r, i))
        scored.sort(reverse=True)
        if not scored or scored[0][0] < IMAGE_MIN or (len(scored) > 1 and
                                                     scored[1][0] > scored[0][0] - IMAGE_MARGIN):
            return None
        _, x_end, r, i = scored[0]
        row = slip.rows[r]
        tok = row[i]
        start = next((k for k, x in enumerate(tok.read.xs) if x > x_end), len(tok.text))
        kind = self._kind(key)
        for t, offset in [(tok, start), *((o, 0) for o in row[i + 1:])]:
            found = find_value(kind, key, t.text[offset:], self.template.formats)
            if found:
                value, lo, hi = found[0]
                lo, hi = lo + offset, hi + offset
                confidence = _conf(t.read, lo, hi, _counted(kind))
                return Candidate(key, t.text[lo:hi], confidence, [t], "image", None, value)
        return None

    def _at_anchor(self, slip: Slip, key: str, anchor: Candidate | None, rows: int,
                   index: int) -> Candidate | None:
        """The value at the place the template learnt for it, if one of its kind stands there.
        An anchor read ambiguously still marks its row: what is found there only confirms."""
        if anchor is None or not anchor.tokens:
            return None
        at = {id(t): r for r, row in enumerate(slip.rows) for t in row}
        r = at.get(id(anchor.tokens[0]))
        if r is None:
            return None
        # rows come and go between slips of a family (a wrapped name, one more item): the
        # learnt row first, then its neighbours; the learnt box first on each
        for dr in (0, 1, -1, 2, -2):
            if not 0 <= r + rows + dr < len(slip.rows):
                continue
            row = slip.rows[r + rows + dr]
            for tok in (row[index:index + 1] if index < len(row) else []) + row:
                found = find_value(self._kind(key), key, tok.text, self.template.formats)
                if found:
                    value, lo, hi = found[0]
                    confidence = _conf(tok.read, lo, hi, _counted(self._kind(key)))
                    return Candidate(key, tok.text[lo:hi], confidence, [tok], "layout", None, value)
        return None

    def candidates(self, slip: Slip) -> dict[str, list[Candidate]]:
        out: dict[str, list[Candidate]] = {}
        rows = slip.rows
        for r, row in enumerate(rows):
            for i, tok in enumerate(row):
                for key, start, end in self._labels_in(tok.text):
                    cand = self._value_after(key, tok, start, end, row[i + 1:],
                                             rows[r + 1] if r + 1 < len(rows) else [])
                    if cand is not None:
                        out.setdefault(key, []).append(cand)
            for tok in row:
                for cand in self._patterns(tok):
                    out.setdefault(cand.key, []).append(cand)
            for a, b in itertools.pairwise(row):
                cand = self._date_and_time(a, b)
                if cand is not None:
                    out.setdefault("datetime", []).append(cand)
        fmt = self.template.formats
        for key, group in out.items():
            kind = self.labels.fields[key].kind if key in self.labels.fields else "text"
            for cand in group:
                try:
                    cand.value = parse_value(key, kind, cand.text, fmt)
                except fm.FormatError as exc:
                    cand.problem = str(exc)
        if "datetime" in out:
            out["datetime"] = _date_then_time(out["datetime"], fmt)
        total = self._slip_total(slip)
        if total is not None:
            out.setdefault("amount", []).append(total)
        return out

    def _slip_total(self, slip: Slip) -> Candidate | None:
        """The slip's total where no label names it (a label in a script the recogniser has no
        characters for): the largest amount printed, printed at least twice (a total, the
        amount paid, the amount approved), each time read surely. Only an amount written as
        one (a thousands or decimal separator, or a currency) counts: an id is not an amount.
        Found by its shape, it only confirms (freeform_check): it is the slip's total, which a
        terminal that printed its own block wrong could still show right elsewhere."""
        fmt = self.template.formats
        prints: dict[Decimal, list[Candidate]] = {}
        largest = None  # of every amount printed, however surely read
        for tok in slip.tokens:
            text = tok.text.strip()
            if not _AMOUNT_TOKEN.fullmatch(text):
                continue
            try:
                value = fm.parse_amount(text, fmt)
            except fm.FormatError:
                continue
            largest = value if largest is None else max(largest, value)
            conf = _conf(tok.read, 0, len(tok.text), "amount")
            if conf >= READ_MIN:
                prints.setdefault(value, []).append(Candidate("amount", text, conf, [tok], "pattern",
                                                              value=value))
        if not prints:
            return None
        top = max(prints)
        # a larger amount read unsurely may be the total: then no total is known
        if len(prints[top]) < 2 or top != largest:
            return None
        return max(prints[top], key=lambda c: c.confidence)

    def _date_and_time(self, a: Token, b: Token) -> Candidate | None:
        """A date in one box and its time in the next (03/30/13 ... 18:51:29): one value."""
        fmt = self.template.formats
        for tok in (a, b):
            try:
                fm.find_datetime(tok.text, fmt)
                return None  # one box holds both: found on its own
            except fm.FormatError:
                pass
        joined = f"{a.text} {b.text}"
        try:
            _, lo, hi = fm.find_datetime(joined, fmt)
        except fm.FormatError:
            return None
        if lo >= len(a.text) or hi <= len(a.text) + 1:
            return None
        confidence = min(_conf(a.read, lo, len(a.text), True), _conf(b.read, 0, hi - len(a.text) - 1, True))
        return Candidate("datetime", joined[lo:hi], confidence, [a, b], "pattern")

    def _labels_in(self, text: str) -> list[tuple[str, int, int]]:
        """(field, label start, label end) for each label in ``text``: at its start or after
        a space (two columns recognised as one box)."""
        hits = self._label_cache.get(text)
        if hits is None:
            if len(self._label_cache) >= LABEL_CACHE:
                self._label_cache.clear()
            hits = self._label_cache[text] = self._find_labels(text)
        return list(hits)

    def _find_labels(self, text: str) -> list[tuple[str, int, int]]:
        hits: list[tuple[str, int, int]] = []
        starts = [0] + [m.end() for m in re.finditer(r"\s+", text)]
        taken = 0
        while starts:
            s = starts.pop(0)
            if s < taken:
                continue
            m = self.labels.match(text[s:])
            if m is None:
                continue
            if hits and hits[-1][0] == m[0] and not text[hits[-1][2]:s].strip(_SEPARATORS):
                # the same label in a second script (金额 AMOUNT): one label
                hits[-1] = (m[0], hits[-1][1], s + m[1])
            else:
                hits.append((m[0], s, s + m[1]))
            taken = s + m[1]
            # the second script may follow with no space (凭证号VOUCHER NO)
            starts = sorted({taken, *starts})
        return hits

    def _value_after(self, key: str, tok: Token, start: int, end: int, right: list[Token],
                     below: list[Token]) -> Candidate | None:
        text = tok.text
        nxt = next((s for _, s, _ in self._labels_in(text) if s > start), len(text))
        value, lo = _value_span(text, end, nxt, self._kind(key))
        if value:
            return Candidate(key, value, _conf(tok.read, lo, lo + len(value), _counted(self._kind(key))),
                             [tok], "label", tok)
        # the boxes to the right on the same row, up to the next label (the same label in a
        # second script, detected as a box of its own, is passed over)
        taken: list[Token] = []
        for other in right:
            hits = self._labels_in(other.text)
            if hits and hits[0][1] == 0:
                if hits[0][0] == key and not taken:
                    rest, _ = _value_span(other.text, hits[0][2], len(other.text), self._kind(key))
                    if rest:
                        return self._value_after(key, other, 0, hits[0][2], [], [])
                    continue
                break
            taken.append(other)
        from_below = False
        if not taken and below and not self._starts_with_label(below):
            taken, from_below = below, True  # the printer moved the value to the row below
        if not taken:
            return Candidate(key, "", 0.0, [], "label", tok, problem="no value next to its label")
        # a value beside its label but not level with it (a column of values half a row lower
        # than its labels) may be the next label's: it can confirm, never accuse (no label box)
        label = tok if from_below or all(abs(o.v - tok.v) <= LEVEL * tok.height for o in taken) else None
        first = taken[0]
        value, lo = _value_span(first.text, 0, len(first.text), self._kind(key))
        if value and len(value) < len(first.text.strip()):
            if from_below and not first.text[lo + len(value):][:1].isspace():
                # a row below that only starts like a value (22=2222142222222) is not one
                return Candidate(key, "", 0.0, [], "label", tok, problem="no value next to its label")
            # the value is the start of the box; what follows is not this field's
            confidence = _conf(first.read, lo, lo + len(value), _counted(self._kind(key)))
            return Candidate(key, value, confidence, [first], "label", label)
        joined = " ".join(t.text.strip() for t in taken)
        digits = _counted(self._kind(key))
        if self._kind(key) == "amount" and len(taken) > 1:
            try:
                parse_value(key, "amount", joined, self.template.formats)
            except fm.FormatError:
                # values stand at the right: a currency sign misread in its own box ("5" for
                # "$") is left out, and the rightmost box alone is the amount
                taken = taken[-1:]
                joined = taken[0].text.strip()
        # a box with nothing the value is as sure as (a currency sign on its own) does not count
        counted = [t for t in taken if _conf(t.read, 0, len(t.text), digits) > 0 or digits is False] or taken
        confidence = min(_conf(t.read, 0, len(t.text), digits) for t in counted)
        return Candidate(key, joined, confidence, taken, "label", label)

    def _starts_with_label(self, row: list[Token]) -> bool:
        hits = self._labels_in(row[0].text) if row else []
        return bool(hits) and hits[0][1] == 0

    def _kind(self, key: str) -> str:
        fdef = self.labels.fields.get(key)
        return fdef.kind if fdef else "text"

    def _patterns(self, tok: Token) -> list[Candidate]:
        """Values whose shape alone names the field: a masked card number, a date and time."""
        out = []
        text = tok.text
        for m in _PAN_SHAPE.finditer(text):
            part = m.group(0).strip(" -")
            groups = part.split()
            if len(groups) == 2 and len(groups[1]) <= 3 + (len(groups[0]) >= 12) and not _grouped(part):
                # a card number and its sequence number after a space (####8203 0000, a
                # girocard's): the number is the first group
                part = groups[0]
            flat = re.sub(r"[\s\-_—]", "", part)
            masks = sum(ch in fm.MASK_CHARS + "※＊" for ch in flat)
            digits = sum(ch.isdigit() for ch in flat)
            if masks >= 2 and digits >= 4 and 12 <= len(flat) <= 19 and _grouped(part) and \
                    _shows_a_card(flat):
                lo = text.index(part, m.start())
                out.append(Candidate("card_number", part, _conf(tok.read, lo, lo + len(part), True), [tok],
                                     "pattern"))
        try:
            _, lo, hi = fm.find_datetime(text, self.template.formats)
            out.append(Candidate("datetime", text[lo:hi], _conf(tok.read, lo, hi, digits=True), [tok],
                                 "pattern"))
        except fm.FormatError:
            pass
        return out


# An amount as a token of its own: digits grouped by thousands and/or with decimals, or with a
# currency; at least one separator or currency mark (an id of bare digits is not an amount)
_AMOUNT_TOKEN = re.compile(r"(?:[A-Z]{3}|NT\$|[€$¥￥₩£])?\s*(?:\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d{1,2})?|"
                           r"\d+[.,]\d{2})\s*(?:[A-Z]{3}|[€$¥￥₩£元원円])?|(?:[A-Z]{3}|NT\$|[€$¥￥₩£])\s*\d+")


def _date_then_time(group: list[Candidate], fmt: fm.Formats) -> list[Candidate]:
    """A date and its time under two labels (Datum: 23.09.2021 / Uhrzeit: 17:53:57): two
    labelled values that are not a date and time on their own, joined as a date then a time,
    are one value."""
    alone = [c for c in group if c.by == "label" and c.value is None and c.text]
    out = list(group)
    for a, b in itertools.permutations(alone, 2):
        if not any(c is a for c in out) or not any(c is b for c in out):
            continue  # already joined with another
        joined = f"{a.text} {b.text}"
        try:
            value, lo, hi = fm.find_datetime(joined, fmt)
        except fm.FormatError:
            continue
        if lo >= len(a.text) or hi <= len(a.text) + 1:
            continue  # one of the two holds it all
        out = [c for c in out if c is not a and c is not b]
        out.append(Candidate("datetime", joined[lo:hi], min(a.confidence, b.confidence),
                             [*a.tokens, *b.tokens], "label", a.label_token, value))
    return out


_PAN_SHAPE = re.compile(r"[\dOIl*xX×#•●·※＊][\dOIl\s\-_—*xX×#•●·※＊]{10,26}[\dOIl*xX#※＊]")


def _shows_a_card(flat: str) -> bool:
    """Slips show at least the first four digits (the card's scheme) or the last four; a
    masked phone or membership number (010*****89**) shows neither."""
    head = len(flat) - len(flat.lstrip("0123456789OIl"))
    tail = len(flat) - len(flat.rstrip("0123456789OIl"))
    return head >= 4 or tail >= 4


def _grouped(part: str) -> bool:
    """A card number printed with spaces has them between groups of four (1234 56** **** 7890);
    a run of text with spaces in other places is not one number."""
    groups = part.split()
    return len(groups) == 1 or all(len(g) == 4 for g in groups[:-1])


def _fit(cut: np.ndarray | None, image: np.ndarray) -> tuple[float, float] | None:
    """(correlation, x where the image ends) of a label's image in a box's cut, both blurred a
    little so print seen by another camera still fits; None when the box is too short."""
    if cut is None or cut.shape[0] != image.shape[0] or cut.shape[1] < image.shape[1]:
        return None
    a = cv2.GaussianBlur(cut.astype(np.float32), (0, 0), 1.5)
    b = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.5)
    res = cv2.matchTemplate(a, b, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    return float(score), float(loc[0] + image.shape[1])


def encode_image(image: np.ndarray) -> str:
    import base64

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("cannot encode a label image")
    return base64.b64encode(data.tobytes()).decode("ascii")


def decode_image(text: str) -> np.ndarray:
    import base64

    data = np.frombuffer(base64.b64decode(text), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if image is None or image.shape[0] != REC_HEIGHT:
        raise ValueError(f"a label image must be a PNG {REC_HEIGHT} px high")
    return image


def find_value(kind: str, key: str, text: str, fmt: fm.Formats) -> list[tuple[Any, int, int]]:
    """Every value of ``kind`` in ``text`` that parses: (value, start, end), in order."""
    if kind == "datetime":
        try:
            value, lo, hi = fm.find_datetime(text, fmt)
            return [(value, lo, hi)]
        except fm.FormatError:
            return []
    shape = _VALUE_SHAPES.get(kind)
    if shape is None:
        return []
    out = []
    for m in shape.finditer(text):
        part = m.group(0).rstrip(" ,.-")
        if not part.strip() or not _plausible(kind, part, text[m.start() + len(part):]):
            continue
        if kind == "pan":
            groups = part.split()
            if len(groups) == 2 and len(groups[1]) <= 4 and not _grouped(part):
                part = groups[0]  # a card number and its sequence number (####8203 0000)
        try:
            out.append((parse_value(key, kind, part, fmt), m.start(), m.start() + len(part)))
        except fm.FormatError:
            continue
    return out


def parse_value(key: str, kind: str, text: str, fmt: fm.Formats) -> Any:
    """A field's value from what was read, by its kind and the family's formats."""
    if not text.strip():
        raise fm.FormatError("nothing printed")
    if kind == "amount":
        return fm.parse_amount(text, fmt)
    if kind == "datetime":
        return fm.parse_datetime(text, fmt)
    if kind == "pan":
        return fm.parse_pan(text, fmt)
    if kind in ("digits", "code"):
        return fm.parse_code(key, text, fmt, digits_only=kind == "digits")
    return " ".join(normalise(text).split())


def same_value(kind: str, slip: Any, expected: Any, tolerance_s: float = 120.0) -> bool:
    if kind == "pan":
        return isinstance(slip, fm.ShownPan) and slip.masked and slip.agrees(expected)
    if kind == "datetime":
        return abs((slip - expected).total_seconds()) <= tolerance_s
    if kind == "amount":
        return Decimal(slip) == Decimal(expected)
    if kind in ("digits", "code"):
        return normalise(str(slip), digits=True) == normalise(str(expected), digits=True)
    return compact(str(slip)).casefold() == compact(str(expected)).casefold()


def _resolve(key: str, group: list[Candidate]) -> Candidate:
    """One value for the field, or an unreadable field that says why. Label candidates are
    preferred to pattern ones; two different values among the preferred are ambiguous."""
    parsed = [c for c in group if c.value is not None]
    by_label = [c for c in parsed if c.by == "label"]
    pool = by_label or parsed
    if not pool:
        best = max(group, key=lambda c: (c.by == "label", c.confidence))
        return Candidate(key, best.text, best.confidence, best.tokens, best.by, best.label_token, None,
                         best.problem or "not read")
    values = {_value_key(c.value) for c in pool}
    best = max(pool, key=lambda c: c.confidence)
    if len(values) > 1 and all(isinstance(c.value, datetime) for c in pool):
        # a POS's print time and the approval time a second apart: one time, as the
        # witnesses' tolerance sees it; the label's, else the latest, is the one shown
        times = sorted(c.value for c in pool)
        if (times[-1] - times[0]).total_seconds() <= SAME_TIME_S:
            values = {times[-1]}
            best = max(pool, key=lambda c: (c.value, c.confidence))
    if len(values) > 1:
        shown = " / ".join(sorted({_shown(c) for c in pool}))
        return Candidate(key, shown, min(c.confidence for c in pool), best.tokens, best.by, best.label_token,
                         None, f"the slip shows several values for it: {shown}")
    # the same value seen twice (a total and an amount paid) is read as surely as its best sighting
    return best


def _value_key(value: Any) -> Any:
    if isinstance(value, fm.ShownPan):
        return (value.head, value.tail)
    if isinstance(value, datetime):
        return value.replace(second=0) if value.second == 0 else value
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def _masked(text: str) -> str:
    """``text`` with any run of 13 to 19 digits masked as a card number is (first 6, last 4
    kept), the same length."""
    return re.sub(r"(?<!\d)(\d{6})(\d{3,9})(\d{4})(?!\d)", lambda m: m[1] + "*" * len(m[2]) + m[3], text)


def _shown(cand: Candidate) -> str:
    """The value as evidence may show it: a card number never in clear."""
    if cand.key == "card_number" or isinstance(cand.value, fm.ShownPan):
        digits = re.sub(r"\D", "", cand.text)
        if len(digits) > 10:
            from devices.masking import mask_pan

            return mask_pan(digits)
    return cand.text


# Where a value of each kind ends: an amount, a date and time, a card number or an id stop at
# the first character that cannot belong to them (a bracket, a word), so a label printed
# right after the value on the same row ("[금액] 29,000 원 [부가세]:2,636") is not taken in.
_VALUE_SHAPES = {
    "amount": re.compile(r"(?:[A-Z]{3}|NT\$|[€$¥￥₩£])?\s*[\dOoIl][\dOoIl,.' ]*[\dOoIl]?\s*"
                         r"(?:[A-Z]{3}|[€$¥￥₩£元원円])?"),
    "datetime": re.compile(r"[\dOoIl][\dOoIl\s\-/.:年月日時时分()A-Z가-힣]*[\dOoIl]"),
    "pan": re.compile(r"[\dOoIl*xX×#•●·※＊][\dOoIl\s\-_—*xX×#•●·※＊]*"),
    "digits": re.compile(r"[\dOoIl][\dOoIl\s]*"),
    "code": re.compile(r"[0-9A-Za-z]+"),
}
# A value of digits is a run that has digits in it and ends where a word would not go on:
# "INV NO" after a label is not the number 1 (a recogniser's I for 1 is undone only inside
# a run of digits).
_WORD_GOES_ON = re.compile(r"[A-Za-z]")


def _value_span(text: str, end: int, stop: int, kind: str = "text") -> tuple[str, int]:
    lo = end
    while lo < stop and text[lo] in _SEPARATORS:
        lo += 1
    value = text[lo:stop].rstrip()
    shape = _VALUE_SHAPES.get(kind)
    if shape is not None and value:
        m = shape.match(value)
        value = m.group(0).rstrip(" ,.-") if m else ""
        if value and not _plausible(kind, value, text[lo + len(value):stop]):
            value = ""
    return value, lo


def _plausible(kind: str, value: str, after: str) -> bool:
    """Is ``value`` (cut to its kind's shape) a value, not the start of a word?"""
    if kind in ("digits", "amount", "pan", "datetime"):
        real = sum(ch.isdigit() for ch in value)
        if real == 0 or (kind == "digits" and real < len(value.replace(" ", "")) / 2):
            return False
    if kind in ("digits", "code", "amount") and after[:1] and _WORD_GOES_ON.match(after[:1]) \
            and not value[-1:].isspace():
        return kind == "amount" and bool(re.match(r"[A-Z]{3}\b", after.upper()))
    return True


def _counted(kind: str) -> bool | str:
    """Which characters a value of ``kind`` is as sure as (``_conf``'s ``digits``)."""
    return True if kind in DIGIT_KINDS else "amount" if kind == "amount" else False


def _conf(read: LineRead, lo: int, hi: int, digits: bool | str = False) -> float:
    """The weakest character's confidence in ``read.text[lo:hi]``; with ``digits``, of its
    digits only (a date's separators are where a recogniser is least sure, and its digits
    carry the value); with ``"amount"``, of its digits and separators (a currency sign read
    unsurely does not change the number; a decimal mark does)."""
    keep = (lambda ch: ch.isdigit()) if digits is True else \
        (lambda ch: ch.isdigit() or ch in ",.'") if digits == "amount" else (lambda ch: True)
    confs = [c for ch, c in zip(read.text[lo:hi], read.confidences[lo:hi], strict=False)
             if not ch.isspace() and keep(ch)]
    return min(confs, default=0.0)


# -- geometry ------------------------------------------------------------------------------
def _height(q: np.ndarray) -> float:
    return float((np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2)


def _width(q: np.ndarray) -> float:
    return float((np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2)


def _cut(gray: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The box top-down from the full-resolution photo, straight at the recogniser's height.
    The detector's boxes are grown well past the ink (its "unclip"), and on a slip's tight
    pitch they take in strokes of the rows above and below, which garble the row (measured
    on phone photos: a card number read as "-5"); the box is cut at ``CUT_HEIGHT`` of its
    height, and a little wider, so a first or last character is not clipped."""
    h, w = _height(quad), _width(quad)
    pad = 0.1 * h
    centre = quad.mean(axis=0)
    grown = centre + (quad - centre) * np.array([(w + 2 * pad) / max(w, 1.0), CUT_HEIGHT])
    out_h = REC_HEIGHT
    out_w = max(4, round((w + 2 * pad) * out_h / max(1.0, h * CUT_HEIGHT)))
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
    m = cv2.getPerspectiveTransform(grown.astype(np.float32), dst)
    return cv2.warpPerspective(gray, m, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _regions(quads: list[np.ndarray], shape: tuple[int, ...]) -> list[tuple[tuple[int, int, int, int],
                                                                              list[np.ndarray]]]:
    """Groups of text boxes (as _clusters groups tokens) and each group's bounding region,
    with a margin of two text heights, clipped to the photo."""
    fake = [Token(q, LineRead("x", (1.0,), (0.0,), np.zeros((1, 1)), {})) for q in quads]
    out = []
    for group in _clusters(fake, shape, min_tokens=1):
        pts = np.concatenate([t.quad for t in group])
        h = float(np.median([_height(t.quad) for t in group]))
        x0, y0 = np.floor(pts.min(axis=0) - 2 * h).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0) + 2 * h).astype(int)
        region = (max(0, int(x0)), max(0, int(y0)), min(shape[1], int(x1)), min(shape[0], int(y1)))
        out.append((region, [t.quad for t in group]))
    return out


def _around(quads: list[np.ndarray], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The region a slip around these few boxes may fill: ``AROUND`` text heights beside and
    above and below (a slip is taller than wide), clipped to the photo."""
    pts = np.concatenate(quads)
    h = float(max(_height(q) for q in quads))
    x0, y0 = pts.min(axis=0) - np.array(AROUND) * h
    x1, y1 = np.ceil(pts.max(axis=0) + np.array(AROUND) * h)
    return max(0, int(x0)), max(0, int(y0)), min(shape[1], int(x1)), min(shape[0], int(y1))


def _read_already(quad: np.ndarray, read: list[np.ndarray]) -> bool:
    """Does ``quad`` stand inside a box already recognised, of text about its size? (A box
    the first look drew around a whole slip too small to tell its rows apart holds nothing
    read: its rows, found closer, are read now.)"""
    centre = tuple(float(v) for v in quad.mean(axis=0))
    return any(_height(r) < 2 * _height(quad)
               and cv2.pointPolygonTest(r.reshape(-1, 1, 2), centre, False) >= 0 for r in read)


def _shows_card_fields(reading: ReceiptReading) -> bool:
    """Did this slip give a card number or an authorisation code (a card payment's slip)?"""
    return any(reading.fields[k].value is not None
               for k in ("card_number", "auth_code") if k in reading.fields)


def _clusters(tokens: list[Token], shape: tuple[int, ...],
              min_tokens: int = MIN_SLIP_BOXES) -> list[list[Token]]:
    """Tokens grouped into slips: text within two text heights of other text is one slip."""
    if not tokens:
        return []
    h_med = float(np.median([_height(t.quad) for t in tokens]))
    scale = min(1.0, 800 / max(shape[:2]))
    mask = np.zeros((int(shape[0] * scale) + 1, int(shape[1] * scale) + 1), np.uint8)
    for t in tokens:
        cv2.fillPoly(mask, [np.round(t.quad * scale).astype(np.int32)], 255)
    # a slip's blank stretches (a cut line, a feed between its blocks) are taller than its
    # margins are wide: rows up to 5 text heights apart are one slip, boxes side by side
    # only within 2 (slips lying next to each other)
    kx = max(3, int(2 * h_med * scale) | 1)
    ky = max(3, int(5 * h_med * scale) | 1)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (kx, ky)))
    _, labels = cv2.connectedComponents(mask)
    groups: dict[int, list[Token]] = {}
    for t in tokens:
        cx, cy = (t.quad.mean(axis=0) * scale).astype(int)
        cy, cx = min(cy, labels.shape[0] - 1), min(cx, labels.shape[1] - 1)
        groups.setdefault(int(labels[cy, cx]), []).append(t)
    out = [g for g in groups.values() if len(g) >= min_tokens]
    # the largest slip first: most text read
    return sorted(out, key=lambda g: -sum(len(t.text) for t in g))


def _rows(tokens: list[Token]) -> Slip:
    angles = [math.atan2(t.quad[1][1] - t.quad[0][1], t.quad[1][0] - t.quad[0][0]) for t in tokens
              if _width(t.quad) > 2 * _height(t.quad)]
    theta = float(np.median(angles)) if angles else 0.0
    cos, sin = math.cos(theta), math.sin(theta)
    for t in tokens:
        cx, cy = t.quad.mean(axis=0)
        t.u, t.v, t.height = cos * cx + sin * cy, -sin * cx + cos * cy, _height(t.quad)
    tokens = sorted(tokens, key=lambda t: t.v)
    rows: list[list[Token]] = []
    for t in tokens:
        # the nearest of the last two rows within half a pitch that has no box where this one
        # stands: two boxes one above the other are two rows, however close (a label column
        # with its values half a row lower reads as one row otherwise: Beleg-Nr. and Trace-Nr.)
        best: tuple[float, list[Token]] | None = None
        for row in rows[-2:]:
            centre = float(np.mean([o.v for o in row]))
            pitch = float(np.median([o.height for o in row] + [t.height]))
            off = abs(t.v - centre)
            if off < 0.5 * pitch and not any(_overlap(o, t) for o in row) and (best is None or off < best[0]):
                best = (off, row)
        if best is not None:
            best[1].append(t)
        else:
            rows.append([t])
    rows.sort(key=lambda r: float(np.mean([o.v for o in r])))
    rows = [sorted(r, key=lambda t: t.u) for r in rows]
    pts = np.concatenate([t.quad for t in tokens])
    hull = cv2.boxPoints(cv2.minAreaRect(pts.astype(np.float32)))
    return Slip(rows, _order(hull))


def _overlap(a: Token, b: Token) -> bool:
    """Do the two boxes stand over each other along the rows (more than a third of the
    narrower one)?"""
    wa, wb = _width(a.quad), _width(b.quad)
    lo, hi = max(a.u - wa / 2, b.u - wb / 2), min(a.u + wa / 2, b.u + wb / 2)
    return hi - lo > min(wa, wb) / 3


def _order(quad: np.ndarray) -> np.ndarray:
    pts = quad.reshape(4, 2).astype(np.float32)
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    return np.array([pts[s.argmin()], pts[d.argmin()], pts[s.argmax()], pts[d.argmax()]], np.float32)


def _frame_as_flat(frame: np.ndarray, quad: np.ndarray) -> Flattened:
    """The photo itself as the 'flattened slip' evidence draws on: boxes are in frame pixels."""
    gray = to_gray(frame)
    return Flattened(gray, np.zeros((1, 1), np.float32), quad, np.eye(3, dtype=np.float64))
