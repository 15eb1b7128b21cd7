"""Reprint: the same slip again, marked as a reprint, whether the last one or by its trace.
The camera reads each reprint: the mark must be on the paper and every field the original's."""

from __future__ import annotations

import pytest

from harness import flows


def reprint_mark(station) -> str:
    """The line the profile's receipt template says a reprint ends with."""
    return station.profile.receipt_template["notes"]["reprint"]


@pytest.fixture
def two_sales(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    first = flows.sale(station, 3_100, "cup-debit-chip")
    assert first.approved, first
    flows.check_receipt(station, first)  # before the next slip covers it on the tray
    second = flows.sale(station, 3_200, "cup-credit-chip")
    assert second.approved, second
    flows.check_receipt(station, second)
    return station, first, second


@pytest.mark.case("CUP-REPRINT-001")
def test_reprint_of_the_last_slip(two_sales):
    station, _, last = two_sales
    copy = flows.reprint(station)
    assert (copy.status, copy.trace, copy.printed) == ("ok", last.trace, True), copy
    # the terminal's own account of the slip, then the paper: both must say it is a copy
    assert copy.receipt[-1:] == (reprint_mark(station),), f"not marked a reprint: {copy.receipt[-1:]}"
    # every field must be the original's (its ECR result and journal entry), or the check fails
    assert flows.check_receipt(station, last, reprint=copy)["note"] == "reprint"


@pytest.mark.case("CUP-REPRINT-002")
def test_reprint_by_trace_and_of_an_unknown_trace(two_sales):
    station, first, second = two_sales
    copy = flows.reprint(station, first.trace)
    assert (copy.status, copy.trace) == ("ok", first.trace), copy
    assert copy.receipt[-1:] == (reprint_mark(station),), f"not marked a reprint: {copy.receipt[-1:]}"
    assert flows.check_receipt(station, first, reprint=copy)["note"] == "reprint"
    unknown = flows.reprint(station, second.trace + 100)
    assert (unknown.status, unknown.reason) == ("refused", "trace_not_found"), unknown
