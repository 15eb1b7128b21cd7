"""Settlement DE48 and batch-upload record layouts (reference §4.1, §4.2)."""

from __future__ import annotations

import pytest

from devices.payments.settlement import (
    BatchItem,
    SettlementFormatError,
    SideTotals,
    Totals,
    ic_record_de62,
    mag_records_de48,
    parse_ic_record,
    parse_mag_records,
    plan_uploads,
)

PAN = "6212340000000019"


def test_de48_layout_and_flag_positions():
    totals = Totals(SideTotals(12345, 3, 500, 1), SideTotals(7, 1, 0, 0))
    de48 = totals.to_de48("1", "2")
    assert len(de48) == 62
    assert de48[0:12] == "000000012345" and de48[12:15] == "003"
    assert de48[15:27] == "000000000500" and de48[27:30] == "001"
    assert de48[30] == "1" and de48[61] == "2"  # digits 31 and 62, 1-based
    assert Totals.from_de48(de48) == (totals, "1", "2")
    with pytest.raises(SettlementFormatError, match="62 digits"):
        Totals.from_de48(de48[:-1])


def test_totals_of_a_batch():
    items = [BatchItem("000001", PAN, 100), BatchItem("000002", PAN, 100, kind="void"),
             BatchItem("000003", PAN, 50, domestic=False)]
    totals = Totals.of(items)
    assert totals.domestic == SideTotals(100, 1, 100, 1)
    assert totals.foreign == SideTotals(50, 1, 0, 0)
    assert PAN not in repr(items[0])


def test_mag_records():
    items = [BatchItem(f"{i:06d}", PAN, i * 10) for i in range(1, 4)]
    de48 = mag_records_de48(items)
    assert len(de48) == 2 + 3 * 40 and de48[:2] == "03"
    assert de48[2:42] == "00" + "000001" + PAN.rjust(20, "0") + "000000000010"
    back = parse_mag_records(de48)
    assert (back[0].stan, back[0].pan, back[0].amount, back[0].domestic) == ("000001", PAN, 10, True)
    assert len(back) == 3
    with pytest.raises(SettlementFormatError, match="1 to 8"):
        mag_records_de48(items * 3)
    with pytest.raises(SettlementFormatError, match="40 each"):
        parse_mag_records(de48[:-1])


def test_ic_record():
    hexed = ic_record_de62(BatchItem("000009", PAN, 1234, ic=True, domestic=False))
    assert bytes.fromhex(hexed).decode() == "610100000000001234156"
    assert parse_ic_record(hexed) == (False, 1234)
    with pytest.raises(SettlementFormatError):
        parse_ic_record(b"71".hex())


def test_upload_plans():
    mag = [BatchItem(f"{i:06d}", PAN, 1) for i in range(10)]
    ic = [BatchItem("000100", PAN, 1, ic=True)]
    balanced = plan_uploads(mag + ic, "1", "1")
    assert (balanced.mag, balanced.ic, balanced.end_nmi, balanced.count) == ([], ic, "207", 1)
    unbalanced = plan_uploads(mag + ic, "2", "1")
    assert [len(g) for g in unbalanced.mag] == [8, 2]
    assert unbalanced.ic == ic and unbalanced.ic_nmi == "205" and unbalanced.end_nmi == "202"
    assert unbalanced.count == 11
    assert plan_uploads(mag, "1", "2").count == 0  # only the foreign side is off: nothing here
