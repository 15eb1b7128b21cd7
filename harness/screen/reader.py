"""The screen reader: which of the profile's screen states a display camera's frame shows.

``ScreenReader(profile.screen).read(frame)`` finds the lit screen, squares it, finds its
rows of text by their ink and recognises only those rows (``OcrEngine.read_lines``, the
OCR the receipt reader uses), then matches every state's patterns against the rows inside
the state's region. ``ScreenReading.states`` lists every state that matches, in the
profile's order; the first is *the* state (so a profile lists the prompt row's states
before the screen's title states: "processing / remove card" is ``remove_card``).

``read_page`` is the baseline the bench measures against: the OCR's own whole-frame
detection and recognition, matched the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from devices.terminal.screen import ScreenProfile, ScreenState
from harness.receipts.ocr import OcrEngine, normalise
from harness.receipts.reader import shared_engine
from harness.screen.locate import crop_corners, find_screen, flat_image, rectify, text_rows, to_gray


@dataclass(frozen=True)
class ScreenRow:
    text: str  # as recognised, NFKC-normalised
    centre: tuple[float, float]  # shares of the screen (x, y)


@dataclass(frozen=True)
class ScreenReading:
    """What one frame showed."""

    lit: bool  # False: no lit screen in view (the terminal is off, or the camera sees none)
    rows: tuple[ScreenRow, ...]
    states: tuple[str, ...]  # every state that matched, in the profile's order
    groups: dict[str, dict[str, str]] = field(default_factory=dict)  # named groups per matched state
    seconds: float = 0.0  # how long the read took

    @property
    def state(self) -> str | None:
        return self.states[0] if self.states else None

    @property
    def text(self) -> str:
        """The screen's text, one row a line (what an error quotes)."""
        if not self.lit:
            return "(no lit screen in view)"
        return " / ".join(r.text for r in self.rows) or "(a lit screen, blank)"

    def shows(self, state: str) -> bool:
        return state in self.states


def match_state(state: ScreenState, rows: tuple[ScreenRow, ...]) -> dict[str, str] | None:
    """The state's named groups if every one of its patterns is found in the rows of its
    region, else None."""
    if state.region is None:
        chosen = rows
    else:
        x0, y0, x1, y1 = state.region
        chosen = tuple(r for r in rows if x0 <= r.centre[0] <= x1 and y0 <= r.centre[1] <= y1)
    text = "\n".join(r.text for r in chosen)
    groups: dict[str, str] = {}
    for pattern in state.patterns:
        found = pattern.search(text)
        if found is None:
            return None
        groups.update({k: v for k, v in found.groupdict().items() if v is not None})
    return groups


def match_states(profile: ScreenProfile, rows: tuple[ScreenRow, ...]) -> tuple[tuple[str, ...],
                                                                               dict[str, dict[str, str]]]:
    names, groups = [], {}
    for state in profile.states:
        found = match_state(state, rows)
        if found is not None:
            names.append(state.name)
            groups[state.name] = found
    return tuple(names), groups


class ScreenReader:
    """Reads frames of one terminal model's screen. Thread-safe (the OCR engine is)."""

    def __init__(self, profile: ScreenProfile, engine: OcrEngine | None = None):
        self.profile = profile
        self._engine = engine

    @property
    def engine(self) -> OcrEngine:
        if self._engine is None:
            self._engine = shared_engine()  # loading takes seconds: once per process
        return self._engine

    def locate(self, frame: np.ndarray) -> np.ndarray | None:
        """The squared screen (gray), or None when no lit screen is in view."""
        gray = to_gray(frame)
        corners = (crop_corners(self.profile.crop, gray.shape) if self.profile.crop is not None
                   else find_screen(gray))
        return None if corners is None else rectify(gray, corners)

    def read(self, frame: np.ndarray) -> ScreenReading:
        started = time.perf_counter()
        screen = self.locate(frame)
        if screen is None:
            return ScreenReading(False, (), (), {}, time.perf_counter() - started)
        h, w = screen.shape
        flat = flat_image(screen)
        found = text_rows(flat)
        reads = self.engine.read_lines([flat[r.box[1]:r.box[3], r.box[0]:r.box[2]] for r in found])
        rows = tuple(ScreenRow(normalise(read.text).strip(), r.centre((w, h)))
                     for r, read in zip(found, reads, strict=True) if read.text.strip())
        states, groups = match_states(self.profile, rows)
        return ScreenReading(True, rows, states, groups, time.perf_counter() - started)

    def read_page(self, frame: np.ndarray) -> ScreenReading:
        """The baseline: whole-frame detection and recognition, rows placed in the frame."""
        started = time.perf_counter()
        h, w = frame.shape[:2]
        lines = self.engine.read_page(frame)
        rows = tuple(ScreenRow(normalise(line.text).strip(),
                               (float(line.box[:, 0].mean()) / w, float(line.box[:, 1].mean()) / h))
                     for line in sorted(lines, key=lambda ln: float(ln.box[:, 1].mean())))
        # the frame, not the screen: a region cannot be placed, so every state is matched whole
        whole = ScreenProfile(tuple(ScreenState(s.name, s.patterns) for s in self.profile.states))
        states, groups = match_states(whole, rows)
        return ScreenReading(bool(rows), rows, states, groups, time.perf_counter() - started)
