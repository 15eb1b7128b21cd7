"""Issue 5's acceptance: a sale through the simulated terminal, and the camera driver, opened
on the simulated camera's URL, returns a frame of the slip the terminal just printed — which
the receipt reader then checks against the ECR answer and the host's journal."""

from __future__ import annotations

import numpy as np
import pytest

from devices.camera import OpenCvCamera, SimulatedCamera
from harness.flows import TransactionResult
from harness.paths import FIXTURES
from harness.profiles import load_profile
from harness.receipts import PrintLimits, ReceiptReader, Witnesses, shared_engine
from harness.receipts.paper import find_paper, to_gray

PROFILE = FIXTURES / "terminals" / "posrig-sim.yaml"


pytestmark = pytest.mark.bench(signed_in=True)


def test_the_camera_shows_the_slip_of_the_sale_just_made_and_it_checks_out(bench):
    profile = load_profile(PROFILE)
    reader = ReceiptReader(profile.receipt_template, PrintLimits.from_profile(profile.source),
                           engine=shared_engine())
    with SimulatedCamera(bench.model, level="L1", seed=11, fps=20) as sim, \
            OpenCvCamera(sim.url, station="station-1") as camera:
        before = camera.grab()
        slips_before = len(bench.model.tray)
        response = bench.sale(4_321, "cup-debit-chip", "insert")
        assert response.status == "approved"
        assert len(bench.model.tray) > slips_before  # the terminal printed
        frame = camera.grab_settled(changed_from=before, timeout=10)
        truth = sim.truth()

    assert truth.corners is not None
    assert np.abs(find_paper(to_gray(frame)) - truth.corners).max() < 8
    witnesses = Witnesses.of(TransactionResult.from_response("sale", 4_321, response),
                             bench.journal("sale")[-1], profile, bench.tid)
    verdict = reader.verify(frame, witnesses)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.reading.value("amount") == 4_321
    assert verdict.reading.copy == "customer"  # the newest slip on the tray is on top
