"""Void and settlement: the supervisor's word, one void per sale, a batch that balances.
Every slip printed on the way is read by the camera."""

from __future__ import annotations

import pytest

from harness import flows

ONE_DAY_S = 86_400


@pytest.mark.case("CUP-VOID-001")
def test_void_with_the_supervisor_password_is_approved(sold):
    station, sale = sold
    void = flows.void(station, sale, "cup-debit-chip")
    assert void.status == "approved", void
    assert void.amount == sale.amount and void.trace != sale.trace
    flows.check_witnesses(station, void, "cup-debit-chip")
    flows.check_receipt(station, void)


@pytest.mark.case("CUP-VOID-002")
def test_void_with_a_wrong_supervisor_password_is_refused(sold):
    station, sale = sold
    before = len(flows.journal(station))
    void = flows.void(station, sale, "cup-debit-chip", supervisor_password="000000")
    assert void.status == "refused", void
    assert len(flows.journal(station)) == before, "the terminal went online anyway"


@pytest.mark.case("CUP-VOID-003")
def test_a_voided_sale_cannot_be_voided_again(sold):
    station, sale = sold
    assert flows.void(station, sale, "cup-debit-chip").approved
    again = flows.void(station, sale, "cup-debit-chip")
    assert (again.status, again.reason) == ("refused", "already_voided"), again


@pytest.mark.case("CUP-SETTLE-001")
def test_settlement_of_a_balanced_batch_opens_the_next(sold):
    station, sale = sold
    response = flows.settle(station)
    assert response.status == "ok", response.data
    assert response.data["balanced"] is True, response.data
    assert response.data["next_batch"] == sale.batch + 1
    entry = flows.last_journaled(station, "settlement")
    assert entry is not None and entry.rc == "00"
    # batch and totals agree with the answer and the journal, or the check fails
    assert flows.check_settlement_slip(station, response)["note"] == "balanced"


@pytest.mark.case("CUP-SETTLE-002")
def test_unbalanced_settlement_uploads_the_batch(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    # the batch survives power cuts: close what earlier tests left, so it holds only ours
    leftovers = flows.settle(station)
    assert leftovers.status == "ok", leftovers.data
    flows.check_settlement_slip(station, leftovers)
    sales = []
    for amount, card, entry in ((2_000, "cup-magstripe", "swipe"), (2_100, "cup-credit-chip", "insert")):
        sales.append(flows.sale(station, amount, card, entry=entry))
        assert sales[-1].approved, sales[-1]
        flows.check_receipt(station, sales[-1])  # before the next slip covers it
    flows.host_will(station, "settlement", unbalanced=True)
    response = flows.settle(station)
    assert response.status == "ok", response.data
    assert response.data["balanced"] is False, response.data
    assert response.data["totals"]["domestic"]["debit_count"] == 2, response.data
    assert flows.check_settlement_slip(station, response)["note"] == "unbalanced"
    assert response.data["uploaded"] == 2, "both sales must be uploaded"
    uploads = flows.journal(station, "batch_upload")[-3:]
    assert [u.note[:3] for u in uploads] == ["201", "205", "202"], [u.note for u in uploads]
    assert uploads[-1].state == "clean", f"the host found the upload disagreeing: {uploads[-1].note}"


@pytest.mark.case("CUP-SETTLE-003")
def test_batch_open_since_yesterday_must_be_settled_before_the_next_sale(sold):
    station, sale = sold
    # The terminal's clock is the host's at sign-in: sign in "tomorrow".
    flows.host_will(station, "signin", clock_shift_s=ONE_DAY_S)
    assert flows.sign_in(station).ok
    before = len(flows.journal(station))
    refused = flows.sale(station, 1_000, "cup-debit-chip")
    assert (refused.status, refused.reason) == ("refused", "settlement_required"), refused
    assert len(flows.journal(station)) == before, "the terminal went online anyway"
    assert flows.status(station).data["settlement_required"] is True

    settled = flows.settle(station)
    assert (settled.status, settled.data["batch"]) == ("ok", sale.batch), settled.data
    flows.check_settlement_slip(station, settled, clock_offset_s=ONE_DAY_S)
    after = flows.sale(station, 1_000, "cup-debit-chip")
    assert after.approved and after.batch == settled.data["next_batch"], after
    # the slip prints the terminal's clock, a day ahead of the host's journal
    flows.check_receipt(station, after, clock_offset_s=ONE_DAY_S)
