"""A slip checked without a camera says so on the test; in strict mode it is not checked at all."""

from __future__ import annotations

import pytest

from devices import events
from devices.events import StepEvent
from harness import flows
from harness.flows.receipt import STRICT_ENV
from harness.strategy import StationBroken


@pytest.mark.parametrize("keyed_station", ["001"], indirect=True)
def test_a_station_without_a_camera_checks_reported_lines_with_a_warning_and_strict_refuses(
        keyed_station, monkeypatch):
    station = keyed_station
    assert station.camera is None, "key-layouts.yaml's stations have no camera over the tray"
    assert flows.slip_check_method(station) == "reported lines"
    station.strategy.transition("signed_in")
    sale = flows.sale(station, 1_000, "cup-debit-chip")
    assert sale.approved, sale
    seen: list[StepEvent] = []
    unsubscribe = events.subscribe(lambda e: seen.append(e) if isinstance(e, StepEvent) else None)
    try:
        fields = flows.check_receipt(station, sale)
    finally:
        unsubscribe()
    assert fields["amount"]
    assert any(e.phase == "end" and e.title.startswith("WARNING: the sale slip") for e in seen)

    monkeypatch.setenv(STRICT_ENV, "1")
    assert flows.slip_check_method(station) == "none (strict)"
    with pytest.raises(StationBroken, match=r"must be read by camera.*camera:"):
        flows.check_receipt(station, sale)
