"""The simulated camera's scene: seeded, the paper always a lighter quad the reader finds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from devices.bench_model import Slip
from devices.camera import scene
from devices.camera.render import render_slip_image
from harness.receipts.paper import find_paper, to_gray

LINES = ("银联POS签购单 POS SALES SLIP", "商户存根 MERCHANT COPY", "商户名称 MERCHANT NAME: POSRIG TEST",
         "凭证号 VOUCHER NO: 000123", "金额 AMOUNT: RMB 12.34")


@pytest.fixture(scope="module")
def paper() -> np.ndarray:
    return render_slip_image(Slip(LINES))


def _inside(corners: np.ndarray, erode: int) -> np.ndarray:
    mask = np.zeros((scene.FRAME_H, scene.FRAME_W), np.uint8)
    cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 255)
    kernel = np.ones((2 * abs(erode) + 1,) * 2, np.uint8)
    return (cv2.erode(mask, kernel) if erode > 0 else cv2.dilate(mask, kernel)) > 0


def test_a_seed_gives_the_same_frame_and_another_seed_another(paper):
    a = scene.render_scene(paper, "L2", 7)
    assert a.shape == (scene.FRAME_H, scene.FRAME_W, 3) and a.dtype == np.uint8
    assert np.array_equal(a, scene.render_scene(paper, "L2", 7))
    assert not np.array_equal(a, scene.render_scene(paper, "L2", 8))
    assert not np.array_equal(a, scene.render_scene(paper, "L3", 7))


@pytest.mark.parametrize("level", sorted(scene.LEVELS))
def test_the_paper_is_a_clearly_lighter_quad_than_the_tray_and_the_reader_finds_it(paper, level):
    assert scene.paper_tray_margin(scene.LEVELS[level]) > 60
    for seed in range(3):
        shot = scene.render_scene_with_truth(paper, level, seed)
        gray = to_gray(shot.frame)
        on_paper = gray[_inside(shot.corners, 12)]
        tray = gray[~_inside(shot.corners, -12)]
        # bare paper (the median: ink covers far less than half a slip) against the lightest tray
        assert np.median(on_paper) > np.percentile(tray, 99) + 40, (level, seed)
        found = find_paper(gray)
        assert np.abs(found - shot.corners).max() < 8, (level, seed, found, shot.corners)


@pytest.mark.parametrize("trim", [0, 1])  # paper of an even and of an odd height
def test_l0_is_square_at_the_printheads_scale_and_sharp(paper, trim):
    paper = paper[:paper.shape[0] - trim]
    shot = scene.render_scene_with_truth(paper, "L0", 3)
    h, w = paper.shape
    tl, tr, _, bl = shot.corners
    assert shot.scale == 1.0
    assert tr[0] - tl[0] == pytest.approx(w) and bl[1] - tl[1] == pytest.approx(h)
    assert tl[1] == pytest.approx(tr[1]) and tl[0] == pytest.approx(bl[0])
    x, y = int(tl[0]), int(tl[1])
    # the print itself, pixel for pixel: no light, blur or noise at L0
    assert np.array_equal(to_gray(shot.frame)[y + 1:y + h - 1, x + 1:x + w - 1], paper[1:-1, 1:-1])


def test_the_empty_tray_has_no_paper_and_the_same_light(paper):
    empty = scene.render_scene_with_truth(None, "L1", 4)
    full = scene.render_scene_with_truth(paper, "L1", 4)
    assert empty.corners is None
    where = _inside(full.corners, 12)
    assert np.median(to_gray(empty.frame)[where]) < 100 < np.median(to_gray(full.frame)[where])
    away = ~_inside(full.corners, -40)
    # the same seed lights the same tray: only the paper differs
    diff = np.abs(to_gray(empty.frame).astype(int) - to_gray(full.frame).astype(int))[away]
    assert diff.mean() < 3


def test_a_colour_slip_image_renders_as_its_gray_paper(paper):
    bgr = cv2.cvtColor(paper, cv2.COLOR_GRAY2BGR)
    assert np.array_equal(scene.render_scene(bgr, "L1", 2), scene.render_scene(paper, "L1", 2))


def test_a_slip_too_long_for_the_view_is_shrunk_into_it():
    long_paper = render_slip_image(Slip(tuple(f"LINE {i}: {i:06d}" for i in range(60))))
    shot = scene.render_scene_with_truth(long_paper, "L3", 1)
    assert shot.scale < scene.LEVELS["L3"].px_per_mm / 8
    assert (shot.corners >= 0).all()
    assert (shot.corners[:, 0] < scene.FRAME_W).all() and (shot.corners[:, 1] < scene.FRAME_H).all()


def test_a_falling_slip_is_higher_and_smeared(paper):
    rest = scene.render_scene_with_truth(paper, "L1", 5)
    falling = scene.render_scene_with_truth(paper, "L1", 5, drop=0.5)
    rise = rest.corners[:, 1] - falling.corners[:, 1]
    assert np.allclose(rise, 0.5 * scene.DROP_RISE * scene.FRAME_H)
    assert np.allclose(rest.corners[:, 0], falling.corners[:, 0])

    def sharpness(shot: scene.Scene) -> float:
        inside = _inside(shot.corners, 20)
        return float(np.abs(cv2.Laplacian(to_gray(shot.frame), cv2.CV_32F))[inside].mean())

    assert sharpness(falling) < 0.7 * sharpness(rest)


def test_bad_arguments_say_what_is_expected(paper):
    with pytest.raises(ValueError, match="L0"):
        scene.render_scene(paper, "L9", 0)
    with pytest.raises(ValueError, match="H x W"):
        scene.render_scene(np.zeros((4, 4, 2), np.uint8), "L1", 0)
    with pytest.raises(ValueError, match="drop"):
        scene.render_scene_with_truth(paper, "L1", 0, drop=1.5)
