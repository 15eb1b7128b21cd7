"""Which printed row is which template line, and where each value sits.

A template's labels are fixed text, printed by the same printhead font on every slip.
The first time a label is read, it is recognised by OCR and checked against the template;
its bitmap is then kept in a ``LabelBook``, and on later slips the label is found by
correlating that bitmap with the row, which costs a fraction of a millisecond instead of
tens of milliseconds of recognition. A row whose label does not correlate well is read
by OCR again, so a garbled or missing label is always seen: the book only ever speeds up
confirming a label that is exactly what the template says.

A template whose ``print`` section sets values flush right (``values: right``: two columns)
prints no colon after a label whose value fits on its row: the label ends where the blank
between the two columns begins.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from harness.receipts.fields import compact, similarity
from harness.receipts.layout import Layout, Row
from harness.receipts.ocr import LineRead, OcrEngine
from harness.receipts.template import ReceiptTemplate

MATCH_MIN = 0.8  # correlation with a learned label bitmap that confirms the label
# Both sides are blurred before correlating, so a label learned from a sharp slip still
# correlates on a blurred photo (measured: same label 0.93-0.98 from flat scan to severe
# camera blur, a different label under 0.5).
MATCH_BLUR = 1.5
EXEMPLAR_BLURS = (MATCH_BLUR, 2.5)  # a learned bitmap is kept at these blurs
MATCH_MARGIN = 0.06  # the best label must beat the next best by this much
LEARN_MIN = 0.97  # OCR similarity to the template label before a bitmap is learned
FIND_MIN = 0.7  # OCR similarity that identifies a row as a template line at all
PAD = 3
CLEAR_READ = 0.8  # a row read at least this surely and matching no label is a misprint
WRAP_MIN = 0.6  # a row this much of a fixed line's length may be its first row, wrapped
NOTE = "note:"  # key prefix of a note line (a reprint's mark, a decline's reason)
SCRIPT_HALF = 0.5  # each script's half of a bilingual label must be this similar (_both_scripts)


@dataclass(frozen=True)
class Line:
    """A template line: the title, a copy marker, or a field's label."""

    key: str  # "title", "copy:merchant", "note:reprint", or the field key
    label: str  # the fixed text (a field's label without its colon)
    has_value: bool

    @property
    def optional(self) -> bool:
        """A note stands on some slips only: its absence is for the verdict to judge."""
        return self.key.startswith(NOTE)


def template_lines(template: ReceiptTemplate) -> list[list[Line]]:
    """Expected lines in order; each slot lists the lines that may stand there (copies, notes)."""
    slots: list[list[Line]] = []
    if template.title:
        slots.append([Line("title", template.title, False)])
    if template.copies:
        slots.append([Line(f"copy:{k}", v, False) for k, v in template.copies.items()])
    slots.extend([Line(f.key, f.label, True)] for f in template.fields)
    if template.notes:
        slots.append([Line(NOTE + n.key, n.text, n.value is not None) for n in template.notes])
    return slots


@dataclass
class Located:
    """A template line found on the slip."""

    line: Line
    row: Row
    label_box: tuple[int, int, int, int]
    # a value's rows; for a fixed line (a long note), the rows it wrapped onto
    value_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    by: str = "bitmap"  # "bitmap" or "ocr"
    label_read: str = ""  # OCR text of the row, when it was read


@dataclass
class LocatedLines:
    found: list[Located]
    missing: list[str]  # keys of template lines not found, in template order
    garbled: list[str]  # rows read clearly that match no template line (their OCR text)
    out_of_order: list[str]
    unreadable_rows: int = 0  # rows that matched nothing and were not read clearly either


class LabelBook:
    """Label bitmaps learned per template line; shared by all slips a reader reads."""

    def __init__(self, per_label: int = 3):
        self._shapes: dict[str, list[np.ndarray]] = {}
        self._per_label = per_label
        self._lock = threading.Lock()

    def match(self, key: str, strip: np.ndarray) -> tuple[float, int, int]:
        """Best correlation of ``key``'s bitmaps in ``strip``: (score, x, width)."""
        with self._lock:
            shapes = list(self._shapes.get(key, ()))
        if not shapes:
            return (0.0, 0, 0)
        strip = cv2.GaussianBlur(strip, (0, 0), MATCH_BLUR)
        best = (0.0, 0, 0)
        for shape in shapes:
            if shape.shape[0] > strip.shape[0] or shape.shape[1] > strip.shape[1]:
                continue
            res = cv2.matchTemplate(strip, shape, cv2.TM_CCOEFF_NORMED)
            _, score, _, loc = cv2.minMaxLoc(res)
            if score > best[0]:
                best = (float(score), loc[0], shape.shape[1])
        return best

    def learn(self, key: str, bitmap: np.ndarray) -> None:
        with self._lock:
            shapes = self._shapes.setdefault(key, [])
            if len(shapes) < self._per_label * len(EXEMPLAR_BLURS):
                # the same label as a blurrier camera would show it, too
                shapes.extend(cv2.GaussianBlur(bitmap, (0, 0), sigma) for sigma in EXEMPLAR_BLURS)

    def known(self, key: str) -> bool:
        with self._lock:
            return bool(self._shapes.get(key))


def _strip(refl: np.ndarray, row: Row, x0: int, x1: int, pad: int = PAD) -> np.ndarray:
    h, w = refl.shape
    y0, y1 = max(0, row.box[1] - pad), min(h, row.box[3] + pad)
    return refl[y0:y1, max(0, x0):min(w, x1)]


def _space_after_colon(refl: np.ndarray, row: Row, x_colon: int, level: float) -> int:
    """Where a label ends: the widest blank run near the colon the recogniser placed
    (its position is good to a few pixels; the space after a colon is wider than the
    gaps between letters)."""
    ink = (refl[row.box[1]:row.box[3], :] < level).any(axis=0)
    lo, hi = max(row.box[0], x_colon - 6), min(row.box[2], x_colon + 16)
    best, best_len, start = None, 0, None
    for x in range(lo, hi + 1):
        blank = x < hi and not ink[x]
        if blank and start is None:
            start = x
        elif not blank and start is not None:
            if x - start > best_len:
                best, best_len = start, x - start
            start = None
    return best if best is not None else min(row.box[2], x_colon + 4)


def _label_in_text(line: Line, text: str, two_columns: bool = False) -> tuple[float, int]:
    """How well the start of ``text`` reads as ``line``'s label: (similarity, chars used).
    ``two_columns``: a value may stand flush right on the row with no colon before it (a
    colon further on is the value's own, a time's), so the label's length is tried too."""
    want = compact(line.label)
    got = compact(text)
    if line.has_value:
        cut = max(got.find(":"), got.find("："))
        cuts = [cut if cut > 0 else len(want)]
        if two_columns and cut > 0:
            cuts.append(len(want))
        best = (0.0, 0)
        for used in cuts:
            head = got[:used]
            if _both_scripts(head, want) and similarity(head, want) > best[0]:
                best = (similarity(head, want), used)
        return best
    if WRAP_MIN * len(want) <= len(got) < len(want):
        # a fixed line too long for the printhead wraps at a space: its first row is a prefix
        return max(similarity(got, want), similarity(got, want[:len(got)])), len(got)
    return similarity(got, want), len(got)


def _both_scripts(got: str, want: str) -> bool:
    """A bilingual label (商户名称 MERCHANT NAME) is this label only when each half is there:
    a slip printing the English halves alone matched 9 of 14 CUP lines on similarity and had
    nine values taken as read (issue 15). Each half must be at least half right, which a
    blurred label still is (消费微情 for 消费撤销)."""
    want_cjk, want_latin = _cjk(want), _latin(want)
    if not want_cjk or not want_latin:
        return True
    return similarity(_cjk(got), want_cjk) >= SCRIPT_HALF and \
        similarity(_latin(got), want_latin) >= SCRIPT_HALF


def _cjk(text: str) -> str:
    return "".join(ch for ch in text if ord(ch) >= 0x2E80)


def _latin(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isalpha())


def _wrapped_rest(line: Line, text: str) -> bool:
    """Is ``text``, a row that matched nothing, how the fixed ``line`` above it ends?"""
    want, got = compact(line.label), compact(text)
    return 0 < len(got) < len(want) and similarity(got, want[-len(got):]) >= FIND_MIN


def locate(refl: np.ndarray, layout: Layout, template: ReceiptTemplate, book: LabelBook,
           engine: OcrEngine, give_up: int = 0) -> LocatedLines:
    """The template's lines among the slip's rows. ``give_up``: when no row matched a label
    by its look, read only this many rows first, and if none of them is a line of the
    template either, stop (a photo of another terminal's slip: its 30-90 rows are not read
    for nothing before the layout-free reader reads them again)."""
    slots = template_lines(template)
    # each row that is not indented starts a line; indented rows carry its value on
    groups: list[tuple[Row, list[Row]]] = []
    for row in layout.rows:
        if row.indented and groups:
            groups[-1][1].append(row)
        else:
            groups.append((row, []))
    garbled: list[str] = []
    unreadable = 0
    slot_i = 0
    pending_ocr: list[tuple[int, Row, list[Row]]] = []
    results: dict[int, Located] = {}
    for g, (head, cont) in enumerate(groups):
        # the expected line, or one a little further on when lines went missing
        hit, skip = _by_bitmap(refl, head, slots[slot_i:slot_i + 3], book, layout.ink_level)
        if hit is not None:
            slot_i += skip
        if hit is not None:
            _take_value_rows(hit, cont)
            results[g] = hit
            slot_i += 1
        else:
            pending_ocr.append((g, head, cont))
            slot_i += 1  # assume it stands in its slot; OCR below says what it really is
    # the rows no label matched by its look are read; with give_up, the first few alone first
    first = give_up if give_up and not results else len(pending_ocr)
    for i, part in enumerate((pending_ocr[:first], pending_ocr[first:])):
        if not part or (i == 1 and not results):
            break
        crops = [_strip(refl, head, head.box[0] - 4, head.box[2] + 4) for _, head, _ in part]
        reads = engine.read_lines([np.clip(c * 255, 0, 255).astype(np.uint8) for c in crops])
        for (g, head, cont), read in zip(part, reads, strict=True):
            hit = _by_ocr(refl, head, read, slots, book, layout.ink_level,
                          two_columns=template.layout.values == "right")
            above = results.get(g - 1)
            if hit is None and above is not None and not above.line.has_value \
                    and _wrapped_rest(above.line, read.text):
                above.value_boxes.append(head.box)  # the rest of a wrapped line, flush left
                continue
            if hit is None:
                if read.confidence >= CLEAR_READ:
                    garbled.append(read.text)
                else:
                    unreadable += 1
                continue
            _take_value_rows(hit, cont)
            results[g] = hit
    found = [results[g] for g in sorted(results)]
    keys_found = [h.line.key for h in found]
    order = [line.key for slot in slots for line in slot]
    missing = [slot[0].key if len(slot) == 1 else slot[0].key.split(":")[0]
               for slot in slots if not slot[0].optional
               and not any(line.key in keys_found for line in slot)]
    ranks = [order.index(k) for k in keys_found]
    out_of_order = [k for i, k in enumerate(keys_found) if i and ranks[i] < ranks[i - 1]]
    return LocatedLines(found, missing, garbled, out_of_order, unreadable)


def _take_value_rows(hit: Located, cont: list[Row]) -> None:
    """Indented rows under a label carry its value on (a long value wraps)."""
    if hit.line.has_value:
        hit.value_boxes.extend(r.box for r in cont)


def _by_bitmap(refl: np.ndarray, head: Row, slots: list[list[Line]], book: LabelBook,
               level: float) -> tuple[Located | None, int]:
    """The line whose learned bitmap fits ``head`` clearly best among the next few slots.
    Labels share words (MERCHANT NAME / MERCHANT NO), so a fit must beat the others by a
    margin; otherwise OCR decides."""
    # a blurred row's ink box is shorter than its text: search well above and below it
    # and to the paper's edge, since blur also trims the ink box's ends
    strip = _strip(refl, head, head.box[0] - 8, refl.shape[1], pad=8)
    # A line further on is taken only past slots whose every line could have fitted: the
    # first merchant copy a reader sees (商户存根 MERCHANT COPY, not learned yet) fits
    # 商户编号 MERCHANT NO's bitmap better than anything it knows. Unknown lines go to OCR.
    reach = next((i for i, slot in enumerate(slots) if not all(book.known(ln.key) for ln in slot)),
                 len(slots) - 1)
    scored = []
    for skip, slot in enumerate(slots[:reach + 1]):
        for line in slot:
            if book.known(line.key):
                score, x, width = book.match(line.key, strip)
                scored.append((score, skip, line, x, width))
    if not scored:
        return None, 0
    scored.sort(key=lambda s: -s[0])
    score, skip, line, x, width = scored[0]
    if score < MATCH_MIN or (len(scored) > 1 and scored[1][0] > score - MATCH_MARGIN):
        return None, 0
    x_start = max(0, head.box[0] - 8) + x
    # a blurred fit can land a few pixels off: the label ends at the space after its colon
    x_end = _space_after_colon(refl, head, x_start + width - 2, level) if line.has_value \
        else x_start + width
    return _located(refl, head, line, x_start, x_end, "bitmap", "", level), skip


def _by_ocr(refl: np.ndarray, head: Row, read: LineRead, slots: list[list[Line]],
            book: LabelBook, level: float, two_columns: bool = False) -> Located | None:
    best: tuple[float, Line, int] | None = None
    for slot in slots:
        for line in slot:
            score, used = _label_in_text(line, read.text, two_columns)
            if best is None or score > best[0]:
                best = (score, line, used)
    if best is None or best[0] < FIND_MIN:
        return None
    score, line, used = best
    x0 = head.box[0]
    if line.has_value and two_columns and not _colon_after(read.text, used):
        # a value flush right (no colon: it fitted on the label's row): the label ends where
        # the blank between the columns begins, after the label's last character
        last = _char_index(read.text, used - 1)
        x_last = x0 - 4 + int(read.xs[last]) if last < len(read.xs) else head.box[0]
        x_end = _column_gap(refl, head, x_last, level)
    elif line.has_value:
        # the colon's position in the crop, then the blank after it
        colon = _char_index(read.text, used)
        x_colon = x0 - 4 + int(read.xs[colon]) if colon < len(read.xs) else head.box[2]
        x_end = _space_after_colon(refl, head, x_colon, level)
    else:
        x_end = head.box[2]
    hit = _located(refl, head, line, x0, x_end, "ocr", read.text, level)
    if score >= LEARN_MIN:
        y0, y1 = max(0, head.box[1] - 1), head.box[3] + 1
        book.learn(line.key, np.ascontiguousarray(refl[y0:y1, x0:x_end]))
    return hit


def _colon_after(text: str, used: int) -> bool:
    """Does the label that takes ``used`` compact characters of ``text`` end with a colon
    (its value moved to the rows below, or a CUP-style ``LABEL: value``)?"""
    return compact(text)[used:used + 1] in (":", "：")


def _column_gap(refl: np.ndarray, row: Row, x_from: int, level: float) -> int:
    """Where a label ends on a two-column row: the widest blank run right of ``x_from`` (its
    last character); the printer leaves at least two spaces before a value flush right, a
    label or a value has single spaces. A row with nothing right of its label (a decline's
    blank authorisation code) ends with the label."""
    ink = (refl[row.box[1]:row.box[3], :] < level).any(axis=0)
    best, best_len, start = row.box[2], 0, None
    for x in range(max(row.box[0], x_from), row.box[2] + 1):
        blank = x < row.box[2] and not ink[x]
        if blank and start is None:
            start = x
        elif not blank and start is not None:
            if x < row.box[2] and x - start > best_len:  # a blank run with ink after it
                best, best_len = start, x - start
            start = None
    return best


def _char_index(text: str, compact_index: int) -> int:
    """Index in ``text`` of the ``compact_index``-th non-space character."""
    seen = -1
    for i, ch in enumerate(text):
        if not ch.isspace():
            seen += 1
            if seen == compact_index:
                return i
    return len(text)


def _located(refl: np.ndarray, head: Row, line: Line, x_start: int, x_end: int, by: str,
             text: str, level: float) -> Located:
    label_box = (x_start, head.box[1], x_end, head.box[3])
    hit = Located(line, head, label_box, by=by, label_read=text)
    if not line.has_value:
        return hit
    ink = (refl[head.box[1]:head.box[3], x_end:head.box[2]] < level).any(axis=0)
    blobs = _blobs(ink, gap=3)
    # a label found a few pixels short leaves its colon behind: a lone narrow blob
    if blobs and blobs[0][1] - blobs[0][0] <= 6 and blobs[0][0] <= 8 and len(blobs) > 1:
        blobs = blobs[1:]
    if blobs and (len(blobs) > 1 or blobs[0][1] - blobs[0][0] > 6):
        hit.value_boxes.append((x_end + blobs[0][0], head.box[1], head.box[2], head.box[3]))
    return hit


def _blobs(ink: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs of ink columns, joined across blank runs shorter than ``gap``."""
    cols = np.flatnonzero(ink)
    if cols.size == 0:
        return []
    out = [[int(cols[0]), int(cols[0]) + 1]]
    for c in cols[1:]:
        if c - out[-1][1] < gap:
            out[-1][1] = int(c) + 1
        else:
            out.append([int(c), int(c) + 1])
    return [(a, b) for a, b in out]
