"""The receipt reader on a small seeded corpus printed by the simulated printer.

One OCR engine for the whole module (loading it takes seconds); a handful of slips.
Photos are made here by warping the printed paper onto a darker tray, with light falloff,
blur and noise: what a camera over the tray sees, at a mild and a hopeless level.
"""

from __future__ import annotations

import random
import socket

import cv2
import numpy as np
import pytest
import yaml

from devices import events
from devices.camera.render import render_slip as print_on_paper
from harness.paths import FIXTURES
from harness.receipts import (
    OcrEngine,
    PrintLimits,
    ReceiptMismatch,
    ReceiptReader,
    ReceiptUnreadable,
    shared_engine,
)
from harness.receipts.corpus import make_sample, with_witness
from harness.receipts.fields import MaskedPan

TEMPLATE = yaml.safe_load((FIXTURES / "receipts" / "cup-standard.yaml").read_text(encoding="utf-8"))
PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"


def photo(paper: np.ndarray, *, blur: float, noise: float, seed: int) -> np.ndarray:
    """The paper lying skewed on a gray tray under a lamp that falls off to one side."""
    rng = np.random.default_rng(seed)
    h, w = paper.shape
    frame_w, frame_h = 1280, 960
    scale = 0.85 * frame_h / h
    cx, cy = frame_w / 2, frame_h / 2
    angle = np.deg2rad(rng.uniform(-6, 6))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) * scale / 2
    dst = half @ rot.T + [cx, cy] + rng.uniform(-12, 12, (4, 2))
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    frame = np.full((frame_h, frame_w), 70, np.uint8)
    frame = cv2.warpPerspective(paper, m, (frame_w, frame_h), dst=frame,
                                borderMode=cv2.BORDER_TRANSPARENT).astype(np.float32)
    xx = np.linspace(0, 1, frame_w)[None, :]
    frame *= 1 - 0.3 * xx
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    frame += rng.normal(0, noise, frame.shape)
    return cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="module")
def reader() -> ReceiptReader:
    return ReceiptReader(TEMPLATE, PrintLimits.from_profile(PROFILE), engine=shared_engine())


def sample(seed: int, **kw):
    return make_sample(TEMPLATE, random.Random(seed), **kw)


def scan(s) -> np.ndarray:
    return print_on_paper(s.slip).image


def test_a_clean_flat_slip_reads_exactly_and_passes(reader):
    s = sample(1)
    verdict = reader.verify(scan(s), s.witnesses)
    r = verdict.reading
    assert verdict.status == "pass", verdict.explain()
    assert r.copy == "merchant"
    assert r.value("merchant_name") == "POSRIG TEST MERCHANT"
    for key in ("merchant_id", "terminal_id", "operator", "batch", "trace", "auth_code", "rrn"):
        assert r.value(key) == s.values[key], key
    assert r.value("txn_type") == "sale"
    assert r.value("amount") == s.witnesses.ecr.amount
    assert r.value("datetime").strftime("%Y/%m/%d %H:%M:%S") == s.values["datetime"]
    pan = r.value("card_number")
    assert isinstance(pan, MaskedPan) and pan.masked
    assert (pan.first6, pan.last4) == (s.values["card_number"][:6], s.values["card_number"][-4:])
    assert r.grade.faults == () and r.grade.contrast_grade == "pass"


def test_a_void_customer_copy_photographed_on_the_tray_passes(reader):
    s = sample(2, kind="void", copy="customer")
    verdict = reader.verify(photo(scan(s), blur=1.0, noise=3, seed=2), s.witnesses)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.reading.copy == "customer"
    assert verdict.reading.value("txn_type") == "void"
    assert verdict.reading.value("trace") == s.values["trace"]


@pytest.mark.parametrize("field", ["amount", "trace", "card_number"])
def test_a_slip_that_prints_a_wrong_value_fails_on_that_field(reader, field):
    s = sample(10 + len(field), wrong_field=field)
    verdict = reader.verify(scan(s), s.witnesses)
    assert verdict.status == "fail", verdict.explain()
    assert f"mismatch:{field}" in verdict.faults
    check = verdict.check(field)
    assert check.status == "mismatch"
    assert set(check.witnesses) >= {"ecr", "host"}  # all three values shown
    assert check.slip and check.slip in verdict.explain()
    assert [c.key for c in verdict.checks if c.status != "ok"] == [field]
    crops = [name for name, _, mime in reader.evidence(scan(s), verdict) if mime == "image/png"]
    assert f"{field} on the slip" in crops


def test_ecr_and_host_disagreeing_is_a_mismatch_even_when_the_slip_matches_one(reader):
    s = sample(20)
    s = with_witness(s, rrn="999999999999")
    verdict = reader.verify(scan(s), s.witnesses)
    check = verdict.check("rrn")
    assert check.status == "mismatch" and "witnesses disagree" in check.detail and "host" in check.detail
    assert check.witnesses["ecr"] == "999999999999" and check.witnesses["host"] == s.values["rrn"]


def test_a_card_number_printed_in_clear_fails_the_terminal_and_never_leaves_in_clear(reader):
    s = sample(30, clear_pan=True)
    clear = s.values["card_number"]
    verdict = reader.verify(scan(s), s.witnesses)
    assert "card_number_unmasked" in verdict.faults and verdict.status == "fail"
    assert clear not in verdict.explain()
    assert clear not in repr(verdict.reading.fields["card_number"])


@pytest.mark.parametrize(("quality", "fault"), [
    ("faded", "print_contrast_low"),
    ("dead_column", "dead_dot_columns"),
    ("cut_short", "cut_short"),
])
def test_each_print_fault_is_named(reader, quality, fault):
    s = sample(40, quality=quality)
    paper = print_on_paper(s.slip)
    verdict = reader.verify(paper.image, s.witnesses)
    assert verdict.status == "fail"
    assert fault in verdict.faults, verdict.explain()
    grade = verdict.reading.grade
    if quality == "dead_column":
        assert any(abs(x - paper.dead_column) <= 1 for x in grade.dead_columns)
    if quality == "faded":
        assert grade.contrast < 0.30
    if quality == "cut_short":
        # what did print is still read and checked
        assert verdict.check("merchant_id").status == "ok"


def test_a_dead_dot_and_faded_ink_are_seen_through_the_camera_too(reader):
    dead = sample(41, quality="dead_column")
    paper = print_on_paper(dead.slip)
    verdict = reader.verify(photo(paper.image, blur=1.2, noise=3, seed=41), dead.witnesses)
    assert verdict.faults == ("dead_dot_columns",), verdict.explain()
    faded = sample(42, quality="faded")
    verdict = reader.verify(photo(scan(faded), blur=1.2, noise=3, seed=42), faded.witnesses)
    assert "print_contrast_low" in verdict.faults and verdict.reading.grade.contrast < 0.30
    good = sample(43)
    verdict = reader.verify(photo(scan(good), blur=1.2, noise=3, seed=43), good.witnesses)
    assert verdict.status == "pass" and verdict.reading.grade.dead_columns == ()


def test_a_hopeless_photo_is_flagged_never_misread(reader):
    s = sample(50)
    frame = photo(scan(s), blur=3.5, noise=14, seed=50)
    verdict = reader.verify(frame, s.witnesses)
    assert verdict.status == "unreadable", verdict.explain()
    assert not any(f.startswith("mismatch") for f in verdict.faults)


def test_check_attaches_evidence_and_raises_by_whose_fault_it_is(reader):
    seen: list[events.StepEvent] = []
    unsubscribe = events.subscribe(lambda e: seen.append(e) if isinstance(e, events.StepEvent) else None)
    try:
        good = sample(60)
        assert reader.check(scan(good), good.witnesses).passed
        bad = sample(61, wrong_field="amount")
        with pytest.raises(ReceiptMismatch, match="mismatch:amount"):
            reader.check(scan(bad), bad.witnesses)
        with pytest.raises(ReceiptUnreadable, match="paper not found"):
            reader.check(np.full((480, 640, 3), 60, np.uint8), good.witnesses)
    finally:
        unsubscribe()
    ends = [e for e in seen if e.phase == "end"]
    assert len(ends) == 3
    png = [a for a in ends[1].attachments if a.mime == "image/png"]
    assert png[0].name == "slip, fields read" and png[0].body[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(a.name == "amount on the slip" for a in png)


def test_the_reader_needs_no_network(monkeypatch):
    def refuse(*_args, **_kw):
        raise OSError("network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    engine = OcrEngine()  # a fresh engine: loading must not fetch anything either
    s = sample(70)
    verdict = ReceiptReader(TEMPLATE, engine=engine).verify(scan(s), s.witnesses)
    assert verdict.status == "pass", verdict.explain()
    # whole-frame detection (the baseline) loads the other two models
    lines = engine.read_page(scan(s)[200:320])
    assert any(s.values["card_number"][-4:] in line.text for line in lines)


def test_the_cli_checks_a_photo_taken_by_hand(tmp_path, capsys):
    from harness.cli import main

    s = sample(80)
    image = tmp_path / "slip.png"
    cv2.imwrite(str(image), photo(scan(s), blur=0.8, noise=2, seed=80))
    amount = s.values["amount"].split()[1]
    right = ["receipt", "read", str(image), "--expect", f"amount={amount}",
             "--expect", f"trace={s.values['trace']}", "--annotated", str(tmp_path / "out.png")]
    assert main(right) == 0, capsys.readouterr().out
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["receipt", "read", str(image), "--expect", "amount=0.01"]) == 1
    assert "mismatch:amount" in capsys.readouterr().out


def test_a_template_with_a_qr_code_has_it_read_from_below_the_bar():
    import zxingcpp

    template = {**TEMPLATE, "qr": True}
    s = sample(90)
    paper = scan(s)
    code = np.array(zxingcpp.create_barcode(f"posrig:{s.values['rrn']}",
                                            zxingcpp.BarcodeFormat.QRCode).to_image(scale=4))
    tail = np.full((code.shape[0] + 48, paper.shape[1]), paper[-1, 0], np.uint8)
    x = (paper.shape[1] - code.shape[1]) // 2
    tail[24:24 + code.shape[0], x:x + code.shape[1]] = np.where(code < 128, 24, 240)
    reading = ReceiptReader(template, engine=shared_engine()).read(np.vstack([paper, tail]))
    assert reading.qr == f"posrig:{s.values['rrn']}"
    assert reading.value("rrn") == s.values["rrn"]


def test_an_upside_down_slip_is_unreadable_and_says_why(reader):
    s = sample(95)
    verdict = reader.verify(np.ascontiguousarray(scan(s)[::-1, ::-1]), s.witnesses)
    assert verdict.status == "unreadable" and "upside down" in verdict.flags[0]
