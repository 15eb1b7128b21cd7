"""Host faults: no answer, or an answer whose MAC does not verify. The terminal must not
take either as approved, must keep a reversal, and send it before anything else."""

from __future__ import annotations

import pytest

from harness import flows


def reversal_of(station, trace):
    found = [e for e in flows.journal(station, "reversal")
             if e.orig_stan is not None and int(e.orig_stan) == trace]
    assert found, f"the host received no reversal of trace {trace}"
    return found[-1]


@pytest.mark.case("CUP-HOST-002")
def test_host_silent_then_the_reversal_goes_out_before_the_next_sale(signed_in):
    station = signed_in
    # The host books the sale, then closes the line without answering: the terminal
    # cannot know the outcome (as with silence, without waiting out its timeout).
    flows.host_will(station, "sale", close=True)
    lost = flows.sale(station, 2_300, "cup-debit-chip")
    assert lost.status == "failed" and not lost.raw.get("printed"), lost
    assert flows.status(station).data["reversal_pending"] is True

    after = flows.sale(station, 2_400, "cup-debit-chip")
    assert after.approved, after
    lost_trace = flows.journal(station, "sale")[-2].stan
    reversal = reversal_of(station, int(lost_trace))
    assert reversal.rc == "00"
    assert reversal.note.startswith("reason 98"), f"no answer is reason 98: {reversal.note}"
    assert reversal.id < flows.journaled(station, after).id, "the reversal must go out first"
    assert flows.status(station).data["reversal_pending"] is False
    flows.check_witnesses(station, after, "cup-debit-chip")
    flows.check_receipt(station, after)


@pytest.mark.case("CUP-HOST-001")
def test_bad_mac_is_not_approved_and_is_reversed_after_sign_in(signed_in):
    station = signed_in
    flows.host_will(station, "sale", corrupt_mac=True)
    sale = flows.sale(station, 2_500, "cup-debit-chip")
    assert (sale.status, sale.reason) == ("failed", "mac_error") and not sale.raw.get("printed"), sale
    status = flows.status(station).data
    assert status["reversal_pending"] is True, status

    assert flows.sign_in(station).ok
    after = flows.sale(station, 2_600, "cup-debit-chip")
    assert after.approved, after
    bad_trace = int(flows.journal(station, "sale")[-2].stan)
    reversal = reversal_of(station, bad_trace)
    assert reversal.note.startswith("reason A0"), f"a bad MAC is reason A0: {reversal.note}"
    assert reversal.id < flows.journaled(station, after).id
    flows.check_witnesses(station, after, "cup-debit-chip")
    flows.check_receipt(station, after)
