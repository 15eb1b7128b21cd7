"""Reading receipts from the camera: three witnesses per transaction, and the print graded.

    reader = ReceiptReader(profile.receipt_template, PrintLimits.from_profile(profile.source))
    verdict = reader.check(frame, Witnesses(ecr=result, host=entry, merchant_name=..., ...))

docs/receipts.md says how it reads, what each fault means and what it costs.
"""

from harness.receipts.ocr import OcrEngine, OcrUnavailable
from harness.receipts.reader import ReceiptMismatch, ReceiptReader, ReceiptUnreadable, shared_engine
from harness.receipts.reading import FieldReading, NoteReading, ReceiptReading
from harness.receipts.template import NoteSpec, PrintLimits, ReceiptTemplate
from harness.receipts.verify import FieldCheck, ReceiptVerdict
from harness.receipts.witness import Witnesses

__all__ = [
    "FieldCheck", "FieldReading", "NoteReading", "NoteSpec", "OcrEngine", "OcrUnavailable",
    "PrintLimits", "ReceiptMismatch",
    "ReceiptReader", "ReceiptReading", "ReceiptTemplate", "ReceiptUnreadable", "ReceiptVerdict",
    "Witnesses", "shared_engine",
]
