"""Print quality, read from the paper by the camera: a faded print and a dead printhead dot
are the terminal's faults even when every field on the slip is right."""

from __future__ import annotations

import pytest

from harness import flows


@pytest.fixture
def signed_in(fresh_station):
    if fresh_station.camera is None:
        pytest.skip(f"{fresh_station.name} has no camera over its tray: print quality is read "
                    "from the paper")
    assert flows.sign_in(fresh_station).ok
    return fresh_station


@pytest.mark.case("CUP-PRINT-001")
def test_faded_print_is_caught(signed_in, bench_faults):
    station = signed_in
    bench_faults.terminal("faded_print", times=1)
    sale = flows.sale(station, 3_300, "cup-debit-chip")
    assert sale.approved, sale
    verdict = flows.inspect_receipt(station, sale)
    assert (verdict.status, verdict.faults) == ("fail", ("print_contrast_low",)), verdict.explain()
    assert not verdict.flags, f"the faded slip must still read: {verdict.explain()}"
    with pytest.raises(flows.FlowError, match="print_contrast_low"):
        flows.check_receipt(station, sale)


@pytest.mark.case("CUP-PRINT-002")
def test_dead_printhead_column_is_caught(signed_in, bench_faults):
    station = signed_in
    bench_faults.terminal("dead_column", times=1)
    sale = flows.sale(station, 3_400, "cup-debit-chip")
    assert sale.approved, sale
    verdict = flows.inspect_receipt(station, sale)
    assert (verdict.status, verdict.faults) == ("fail", ("dead_dot_columns",)), verdict.explain()
    assert verdict.reading.grade.dead_columns, "the dead column's place must be reported"
