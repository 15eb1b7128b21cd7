"""The certification suite's plan: every scenario names its case in it (``@pytest.mark.case``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.plan import CertificationPlan

PLAN = Path(__file__).with_name("plan.yaml")


@pytest.fixture(scope="session")
def certification_plan() -> CertificationPlan:
    return CertificationPlan.load(PLAN)
