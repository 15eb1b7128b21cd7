"""Finding the paper: an empty tray is no slip at any camera level, a slip is found at all.

The empty tray's frames come from the simulated camera (devices/camera/scene.py): at L2
and L3 its lamp falloff and mottling give Otsu a lit and a shaded half to split, which
find_paper once took for paper.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from devices.camera import scene
from devices.camera.render import render_slip as print_on_paper
from harness.receipts import ReceiptReader, ReceiptUnreadable, shared_engine
from harness.receipts.corpus import make_sample, template_data
from harness.receipts.paper import PaperNotFound, find_paper, to_gray

TEMPLATE = template_data("cup-standard")
SEEDS = range(12)


@pytest.mark.parametrize("level", sorted(scene.LEVELS))
def test_an_empty_tray_is_no_paper(level):
    for seed in SEEDS:
        with pytest.raises(PaperNotFound, match=r"no slip in view|no paper in view"):
            find_paper(to_gray(scene.render_scene(None, level, seed)))


def test_an_empty_tray_is_unreadable_not_a_slip():
    reader = ReceiptReader(TEMPLATE, engine=shared_engine())
    witnesses = make_sample(TEMPLATE, random.Random(1)).witnesses
    for level in sorted(scene.LEVELS):
        with pytest.raises(ReceiptUnreadable, match="paper not found"):
            reader.check(scene.render_scene(None, level, seed=3), witnesses)


@pytest.mark.parametrize("level", sorted(scene.LEVELS))
def test_a_slip_on_the_tray_is_found_where_it_lies(level):
    for seed in range(4):
        quality = ("good", "faded")[seed % 2]  # faded print leaves the paper as light
        paper = print_on_paper(make_sample(TEMPLATE, random.Random(seed), quality=quality).slip).image
        truth = scene.render_scene_with_truth(paper, level, seed)
        corners = find_paper(to_gray(truth.frame))
        # within a few pixels of where the scene put it (blur softens the edge)
        assert np.abs(corners - truth.corners).max() < 12, (level, seed, corners, truth.corners)
