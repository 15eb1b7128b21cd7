"""A QR code on the slip: zxing-cpp first, OpenCV's detector when zxing finds nothing.

ANCHORS.md: zxing-cpp decoded far more degraded codes than OpenCV's detector, so OpenCV
only gets the frames zxing gave up on.
"""

from __future__ import annotations

import cv2
import numpy as np


def read_qr(gray: np.ndarray) -> str | None:
    """The text of the first QR code found in ``gray`` (uint8), or None."""
    try:
        import zxingcpp
    except ImportError:  # pragma: no cover - zxing-cpp is a pinned dependency
        zxingcpp = None
    if zxingcpp is not None:
        for result in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode):
            if result.valid and result.text:
                return result.text
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(gray)
    return text or None
