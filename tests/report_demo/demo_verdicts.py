"""Demonstration scenarios for the report's verdicts; they must NOT pass.

Run by tests/test_report_verdicts.py (never part of the certification suite):
- a host whose journal reports a wrong amount: the witnesses disagree -> *failed*,
  category "Terminal defect";
- a station whose card robot jams: *broken*, category "Station fault", and the station
  takes no more tests: the next scenario on it is *skipped*.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from devices.robot import Fault
from harness import flows


@pytest.mark.case("CUP-SALE-001")
def test_host_reports_a_wrong_amount(fresh_station, monkeypatch):
    station = fresh_station
    assert flows.sign_in(station).ok
    result = flows.sale(station, 2_000, "cup-debit-chip")
    assert result.approved, f"the demonstration needs an approved sale, got {result}"
    journal = station.host.entries

    def wrong_amount(tid, kind=None):
        return [replace(e, amount=e.amount + 100) if e.amount else e for e in journal(tid, kind)]

    monkeypatch.setattr(station.host, "entries", wrong_amount)
    flows.check_witnesses(station, result, "cup-debit-chip")


@pytest.mark.case("CUP-SALE-002")
def test_card_robot_jams(station, lab):
    assert flows.sign_in(station).ok
    lab.virtual.stations[station.name].robot.inject(Fault.JAM)
    flows.sale(station, 1_000, "cup-debit-chip", entry="tap")


@pytest.mark.case("CUP-SALE-005")
def test_jammed_station_takes_no_more_tests(station):
    flows.sign_in(station)
