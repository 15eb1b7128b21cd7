"""The simulated printer's paper: the layout the receipt reader relies on, and each print fault."""

from __future__ import annotations

import numpy as np
import pytest

from devices.bench_model import Slip
from devices.camera import render
from devices.camera.render import FontMissingError, render_slip

LINES = (
    "银联POS签购单 POS SALES SLIP",
    "商户存根 MERCHANT COPY",
    "商户名称 MERCHANT NAME: 测试商户 POSRIG TEST SHOP",  # too long for one row: breaks after ": "
    "卡号 CARD NO: 621234******7890",
    "凭证号 VOUCHER NO: 000123",
    "金额 AMOUNT: RMB 12.34",
)


def _slip(quality: str) -> render.SlipImage:
    return render_slip(Slip(LINES, quality=quality))


def _contrast(img: render.SlipImage) -> float:
    x0, y0, x1, y1 = img.bar_box or (0, 0, 0, 0)
    paper = float(np.median(img.image[:, : img.margin_px]))
    ink = float(np.median(img.image[y0:y1, x0:x1]))
    return (paper - ink) / paper


def test_layout_rows_at_the_pitch_a_long_field_breaks_after_its_colon_then_the_bar():
    good = _slip("good")
    assert good.image.shape[1] == 384 + 2 * 40
    tops = [row.box[1] for row in good.rows]
    # each row's ink starts within its 32-dot slot, slots in order
    slots = [(top - render.TOP_FEED) // render.LINE_PITCH for top in tops]
    assert slots == list(range(len(good.rows)))
    merchant = [row for row in good.rows if row.line_index == 2]
    assert [row.text for row in merchant] == ["商户名称 MERCHANT NAME:", "测试商户 POSRIG TEST SHOP"]
    assert merchant[1].box[0] >= good.margin_px + render.VALUE_INDENT
    # the bar: every printhead dot, below the last row; the margins are bare paper
    x0, y0, x1, y1 = good.bar_box
    assert (x0, x1) == (40, 424) and y0 > good.rows[-1].box[3]
    assert (good.image[y0:y1, x0:x1] == render.INK["good"]).all()
    assert (good.image[:, :40] == render.PAPER).all() and (good.image[:, 424:] == render.PAPER).all()


def test_good_print_is_high_contrast_and_faded_print_is_legible_but_below_the_fail_line():
    assert _contrast(_slip("good")) > 0.85
    faded = _contrast(_slip("faded"))
    assert 0.20 < faded < 0.30  # the reader fails < 0.30; OCR still read 0.25 (ANCHORS.md)
    # same layout, only lighter ink
    assert [r.box for r in _slip("faded").rows] == [r.box for r in _slip("good").rows]


def test_a_dead_dot_is_blank_through_the_bar_and_every_row_and_only_that_column_changes():
    good, dead = _slip("good"), _slip("dead_column")
    col = dead.dead_column
    assert col is not None and good.dead_column is None
    assert (dead.image[:, col] == render.PAPER).all()
    x0, y0, x1, y1 = dead.bar_box
    bar_row = dead.image[(y0 + y1) // 2, x0:x1]
    assert np.flatnonzero(bar_row == render.PAPER).tolist() == [col - x0]
    changed = np.flatnonzero((good.image != dead.image).any(axis=0))
    assert changed.tolist() == [col]
    assert col == render_slip(Slip(LINES, quality="dead_column")).dead_column  # fixed per slip


def test_a_slip_cut_short_loses_its_bar_and_last_lines():
    good, cut = _slip("good"), _slip("cut_short")
    assert cut.bar_box is None
    assert cut.image.shape[0] < good.image.shape[0]
    assert (cut.image == good.image[: cut.image.shape[0]]).all()  # what is left is as printed
    assert 0 < len(cut.rows) < len(good.rows)
    assert max(row.line_index for row in cut.rows) < len(LINES) - 1  # the amount is gone


def test_an_unknown_quality_or_printer_is_refused():
    with pytest.raises(ValueError, match="smudged"):
        render_slip(Slip(LINES, quality="smudged"))
    with pytest.raises(ValueError, match="dots"):
        render_slip(Slip(LINES), width_px=10)


def test_without_a_cjk_font_the_error_names_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv(render.FONT_ENV, raising=False)
    monkeypatch.setattr(render, "_KNOWN_FONTS", (str(tmp_path / "none.ttc"),))
    monkeypatch.setattr(render.shutil, "which", lambda _name: None)
    with pytest.raises(FontMissingError, match="apt-get install fonts-wqy-microhei"):
        render.find_cjk_font()
    monkeypatch.setenv(render.FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(FontMissingError, match="POSRIG_CJK_FONT"):
        render.find_cjk_font()
