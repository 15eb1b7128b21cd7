"""The demonstration scenarios are filed under the real certification plan."""

from __future__ import annotations

import pytest

from harness.paths import REPO
from harness.plan import CertificationPlan


@pytest.fixture(scope="session")
def certification_plan() -> CertificationPlan:
    return CertificationPlan.load(REPO / "scenarios" / "plan.yaml")
