"""The certification suite's plan (every scenario names its case in it, ``@pytest.mark.case``)
and the starting points scenarios share: a signed-in terminal, one with a sale in its batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import flows
from harness.plan import CertificationPlan

PLAN = Path(__file__).with_name("plan.yaml")


@pytest.fixture(scope="session")
def certification_plan() -> CertificationPlan:
    return CertificationPlan.load(PLAN)


@pytest.fixture
def signed_in(fresh_station):
    """A freshly power-cycled terminal, logged in and signed in."""
    assert flows.sign_in(fresh_station).ok
    return fresh_station


@pytest.fixture
def sold(signed_in):
    """A signed-in terminal and an approved chip sale of 42.00 in its open batch, its slip
    checked (before a later slip covers it on the tray)."""
    sale = flows.sale(signed_in, 4_200, "cup-debit-chip")
    assert sale.approved, sale
    flows.check_receipt(signed_in, sale)
    return signed_in, sale
