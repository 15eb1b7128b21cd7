"""The text detector run on onnxruntime here (harness/receipts/detect.py) finds the boxes
rapidocr's own detector finds on the same image, from the same model: it replaces rapidocr's
pipeline only to spare every ``posrig receipt read`` the import of rapidocr's engine registry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from harness.paths import FIXTURES
from harness.receipts.ocr import OcrEngine

CORPUS = FIXTURES / "receipts" / "corpus"


def _rapidocr_boxes(engine: OcrEngine, image: np.ndarray) -> list[np.ndarray]:
    page = engine._load_page()  # rapidocr's whole pipeline, detection alone
    page(np.full((32, 32, 3), 255, np.uint8), use_det=True, use_cls=False, use_rec=False)
    det = page.text_det
    det.limit_side_len, det.limit_type = max(image.shape[:2]), "max"  # no rescaling: same input
    out = page(image, use_det=True, use_cls=False, use_rec=False)
    return [] if out.boxes is None else [np.asarray(b, np.float32) for b in out.boxes]


@pytest.mark.heavy  # loads rapidocr's whole pipeline beside ours (~2 s of CPU): the heavy set .ci/run runs
@pytest.mark.parametrize("name", ["de-05-block.jpg", "de-07-block.jpg"])
def test_the_detector_finds_the_boxes_rapidocr_finds(name):
    engine = OcrEngine()
    image = cv2.imread(str(CORPUS / name))
    scale = min(1.0, 640 / max(image.shape[:2]))
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ours, theirs = engine.detect(image), _rapidocr_boxes(engine, image)
    assert len(theirs) > 5, "the photo has rows of text"
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    # the same rectangles (whole pixels both: a box a pixel off changes how surely its row reads)
    for box in theirs:
        assert min(float(np.abs(box - o).max()) for o in ours) == 0.0


def test_a_blank_or_tiny_image_has_no_boxes():
    engine = OcrEngine()
    assert engine.detect(np.full((200, 300), 255, np.uint8)) == []
    assert engine.detect(np.full((5, 7, 3), 255, np.uint8)) == []
