"""RapidOCR on onnxruntime, loaded once, with the models that ship inside its wheel.

Two ways in. ``read_lines`` recognises crops of single printed lines (no detection):
the reader knows where the template puts its lines, and recognition alone is most of
the speed (ANCHORS.md: whole-frame detection + recognition is 650-750 ms a slip).
It keeps the recognizer's per-step character probabilities, so a value can be scored
against what the witnesses say it should be (``LineRead.logp``): that tells "printed
something else" from "could not read it". ``read_page`` is whole-frame detection and
recognition: the baseline bench/receipts.py measures the reader against.

Nothing is downloaded: every model is named by path, and a missing file is an error
that says which package to reinstall.
"""

from __future__ import annotations

import itertools
import logging
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devices.faults import RigDefect
from harness.receipts.detect import TextDetector

# The three models of rapidocr 3.10.0's wheel; a rapidocr upgrade checks these names.
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
REC_HEIGHT = 48  # the recognizer's input height
PARALLEL_MIN = 6  # crops from which read_lines recognises two at a time


class OcrUnavailable(RigDefect, RuntimeError):
    """The OCR models are missing: the message says how to get them back."""


def model_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


def model_paths() -> dict[str, Path]:
    paths = {"det": model_dir() / DET_MODEL, "rec": model_dir() / REC_MODEL,
             "cls": model_dir() / CLS_MODEL}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise OcrUnavailable(
            f"OCR model file(s) missing: {', '.join(missing)}. They ship inside the rapidocr "
            "wheel pinned in pyproject.toml: reinstall it (pip install --force-reinstall "
            "--no-deps rapidocr==3.10.0); posrig never downloads models at run time")
    return paths


# Forms OCR gives for a character the slip printed: full-width twins always; for digits,
# the letters a recognizer mistakes them for. Used both to normalise a reading and to
# score an expected value (the probability of "0" includes that of "O").
_DIGIT_LOOKALIKES = {"0": "OoQDa", "1": "Il|i", "2": "Z", "5": "S", "8": "B"}
_FOLD_DIGITS = {ch: d for d, chars in _DIGIT_LOOKALIKES.items() for ch in chars}


def normalise(text: str, digits: bool = False) -> str:
    """Full-width to ASCII; with ``digits``, letters a recogniser confuses with digits."""
    text = unicodedata.normalize("NFKC", text).replace("※", "*")
    if digits:
        text = "".join(_FOLD_DIGITS.get(ch, ch) for ch in text)
    return text


@dataclass(frozen=True)
class LineRead:
    """One recognised line: text (as recognised, not normalised) and where each char sits."""

    text: str
    confidences: tuple[float, ...]  # per character of ``text``
    xs: tuple[float, ...]  # centre of each character, in the crop's pixels
    _probs: np.ndarray  # T x C softmax output, kept for scoring
    _charset: dict[str, int]

    @property
    def confidence(self) -> float:
        return min(self.confidences, default=0.0)

    def logp(self, expected: str, digits: bool = False) -> float:
        """log P(``expected`` | crop) under CTC, folding look-alikes into each character."""
        return ctc_logp(self._probs, self._columns(expected, digits))

    def _columns(self, expected: str, digits: bool) -> list[list[int]]:
        cols = []
        for ch in expected:
            forms = {ch, chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch}
            if ch == "*":
                forms |= {"＊", "※"}
            if digits and ch in _DIGIT_LOOKALIKES:
                forms |= set(_DIGIT_LOOKALIKES[ch])
            cols.append([self._charset[f] for f in forms if f in self._charset])
        return cols


def ctc_logp(probs: np.ndarray, columns: list[list[int]]) -> float:
    """CTC forward algorithm: the log probability that ``probs`` spells the label ``columns``
    (each a set of class indices that count as that character); class 0 is the blank."""
    t_len = probs.shape[0]
    if any(not c for c in columns):
        return float("-inf")  # a character the recogniser cannot output
    n = len(columns)
    if n == 0:
        return float(np.log(np.clip(probs[:, 0], 1e-30, None)).sum())
    size = 2 * n + 1
    emit = np.empty((t_len, size))
    emit[:, 0::2] = probs[:, [0]]
    for i, cols in enumerate(columns):
        emit[:, 2 * i + 1] = probs[:, cols].sum(axis=1)
    # a path may jump over a blank, unless it sits between two equal characters
    skip = np.zeros(size, dtype=bool)
    for i in range(1, n):
        skip[2 * i + 1] = sorted(columns[i]) != sorted(columns[i - 1])
    alpha = np.zeros(size)
    alpha[0], alpha[1] = emit[0, 0], emit[0, 1]
    log_scale = 0.0
    for t in range(1, t_len):
        step = alpha.copy()
        step[1:] += alpha[:-1]
        step[2:] += np.where(skip[2:], alpha[:-2], 0.0)
        alpha = step * emit[t]
        total = alpha.sum()
        if total <= 0:
            return float("-inf")
        alpha /= total
        log_scale += float(np.log(total))
    final = alpha[-1] + alpha[-2]
    return float(np.log(final) + log_scale) if final > 0 else float("-inf")


@dataclass(frozen=True)
class PageLine:
    """A line found by whole-frame detection: its text and quadrilateral."""

    text: str
    confidence: float
    box: np.ndarray  # 4 x 2 float, clockwise from top-left


def _options(ort: Any, threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Threads that sleep instead of spinning between operators: on a bench host other
    # processes share the cores, and spinning there cost 1.7x the time (measured).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OcrEngine:
    """One loaded OCR engine; load it once and keep it. Thread-safe: recognition runs
    concurrently (onnxruntime's sessions allow it), and so does detection; whole-page reading
    (rapidocr's own pipeline) one at a time."""

    def __init__(self, threads: int = 2):
        import onnxruntime as ort

        self._paths = model_paths()
        self._threads = threads
        # one thread a recognition: read_lines runs two at a time itself, and a small crop split
        # over two threads only costs CPU in waking them (measured: 21 % less CPU a slip)
        options = _options(ort, 1)
        # the detector's session (made on first use) on two threads, sleeping between operators
        # too: nothing else runs beside a detection, and on two idle cores a layout-free read
        # took 0.62 s at the median against 0.74 s on one, for the same CPU (measured, 12 slips)
        self._det_options = _options(ort, threads)
        self._rec = ort.InferenceSession(str(self._paths["rec"]), options,
                                         providers=["CPUExecutionProvider"])
        self._input = self._rec.get_inputs()[0].name
        # the recogniser's alphabet is in its metadata; CTC adds the blank first, a space last
        alphabet = self._rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        characters = ["", *alphabet, " "]
        self._characters = characters
        self._charset = {ch: i for i, ch in enumerate(characters) if i > 0}
        self._page: Any = None  # whole-frame RapidOCR, loaded on first use
        self._det: TextDetector | None = None  # the detector alone, loaded on first use
        self._pool: ThreadPoolExecutor | None = None  # the second recognition thread, on first use
        self._lock = threading.Lock()

    def read_lines(self, crops: list[np.ndarray]) -> list[LineRead]:
        """Recognise each crop (grayscale or BGR, one printed line, dark on light). Many crops
        are recognised two at a time (every other one on a second thread): one crop keeps
        little more than one core busy, and a slip read layout-free has 30-60 of them."""
        if len(crops) < PARALLEL_MIN:
            return [self._read_one(crop) for crop in crops]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr-rec")
            pool = self._pool
        odd = pool.submit(lambda: [self._read_one(crop) for crop in crops[1::2]])
        even = [self._read_one(crop) for crop in crops[0::2]]
        out: list[LineRead] = []
        for a, b in itertools.zip_longest(even, odd.result()):
            out.extend(x for x in (a, b) if x is not None)
        return out

    def _read_one(self, crop: np.ndarray) -> LineRead:
        if crop.ndim == 3:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        h, w = crop.shape[:2]
        if h < 4 or w < 4:
            return LineRead("", (), (), np.zeros((1, len(self._characters))), self._charset)
        # stretch faint print to full range (a faded slip is still legible, ANCHORS.md)
        lo, hi = np.percentile(crop, (1, 99))
        if hi - lo > 25:
            crop = np.clip((crop.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        # a margin of blank paper either side, as the recogniser saw in training crops
        pad = max(2, h // 4)
        crop = cv2.copyMakeBorder(crop, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=int(crop.max()))
        scale = REC_HEIGHT / h
        width = max(REC_HEIGHT // 2, int(np.ceil(crop.shape[1] * scale)))
        resized = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        x = (resized.astype(np.float32) / 127.5 - 1.0)[None, None].repeat(3, axis=1)
        probs = self._rec.run(None, {self._input: x})[0][0]  # onnxruntime's run is thread-safe
        ids = probs.argmax(axis=1)
        step = width / probs.shape[0]
        text, confs, xs = [], [], []
        last = 0
        for t, idx in enumerate(ids):
            if idx != 0 and idx != last:
                text.append(self._characters[idx])
                confs.append(float(probs[t, idx]))
                xs.append(((t + 0.5) * step) / scale - pad)
            last = idx
        return LineRead("".join(text), tuple(confs), tuple(xs), probs, self._charset)

    def read_page(self, image: np.ndarray) -> list[PageLine]:
        """Whole-frame detection and recognition, lines in reading order."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        with self._lock:
            if self._page is None:
                self._page = self._load_page()
            # every step named: RapidOCR keeps the last call's use_* (detect() turns
            # recognition off), so a bare call after detect() returns boxes without text
            out = self._page(image, use_det=True, use_cls=True, use_rec=True)
        if out.boxes is None or out.txts is None:
            return []
        return [PageLine(str(t), float(s), np.asarray(b, dtype=np.float32))
                for b, t, s in zip(out.boxes, out.txts, out.scores, strict=True)]

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """Text boxes (4 x 2 float, clockwise from top-left) found by the detector alone, on
        ``image`` at the size given (the caller scales it): the layout-free reader recognises
        each box itself, to keep per-character probabilities."""
        return self.detector().boxes(image)

    def detector(self) -> TextDetector:
        """The detector's session, loaded on first use (the template reader never needs it)."""
        with self._lock:
            if self._det is None:
                self._det = TextDetector(str(self._paths["det"]), self._det_options)
            return self._det

    def _load_page(self) -> Any:
        from rapidocr import RapidOCR

        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        return RapidOCR(params={
            "Global.log_level": "error",
            "Det.model_path": str(self._paths["det"]),
            "Rec.model_path": str(self._paths["rec"]),
            "Cls.model_path": str(self._paths["cls"]),
            "EngineConfig.onnxruntime.intra_op_num_threads": self._threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        })
