"""Demonstration scenarios for the report's verdicts; they must NOT pass.

Run by tests/test_report_verdicts.py (never part of the certification suite):
- a host that answers a sale with a wrong amount (the host's scripted ``amount``
  behaviour): the sale is not the approved one the plan requires -> *failed*, category
  "Terminal defect";
- a station whose card robot jams: *broken*, category "Station fault", and the station
  takes no more tests: the next scenario on it is *skipped*.
"""

from __future__ import annotations

import pytest

from devices.robot import Fault
from harness import flows


@pytest.mark.case("CUP-SALE-001")
def test_host_reports_a_wrong_amount(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    flows.host_will(station, "sale", amount=2_100)  # the answer's DE4 says 21.00
    result = flows.sale(station, 2_000, "cup-debit-chip")
    # What CUP-SALE-001 requires; the terminal rightly refuses the answer, so this fails.
    assert result.approved, f"sale {result.status}, rc={result.rc} ({result.reason})"
    flows.check_witnesses(station, result, "cup-debit-chip")


@pytest.mark.case("CUP-SALE-002")
def test_card_robot_jams(station, lab):
    assert flows.sign_in(station).ok
    lab.virtual.stations[station.name].robot.inject(Fault.JAM)
    flows.sale(station, 1_000, "cup-debit-chip", entry="tap")


@pytest.mark.case("CUP-SALE-005")
def test_jammed_station_takes_no_more_tests(station):
    flows.sign_in(station)
