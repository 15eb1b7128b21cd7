"""When the terminal blames the host, the rig asks its own host's journal (harness/host_blame.py):
a host that never got the request or spoiled its answer is a station fault, a host that
answered normally makes the terminal's claim a defect, a test's script is the test's stimulus.

The rule on journal rows first, then against the virtual lab: the host broken from outside
(devices/host/breakage.py) in a sale and a sign-in, a scripted host, and a terminal's claim
the journal refutes.
"""

from __future__ import annotations

import dataclasses

import pytest

from devices.faults import classify
from devices.host.breakage import HOST_FAULT, BreakageError, break_host
from devices.host.journal import JournalEntry
from harness import flows, host_blame
from harness.host_blame import AGREED, HOST, SCRIPT, TERMINAL, Claim, HostClaimFalse, HostFailed
from harness.strategy import StationState

CARD = "cup-debit-chip"


def row(kind: str = "sale", rc: str | None = "00", *, behaviour: str | None = None,
        note: str | None = None, id: int = 1) -> JournalEntry:
    return JournalEntry(id=id, at="2026-12-04T23:00:00.000", tid="10000001", mid=None, mti="0200",
                        kind=kind, stan="000012", batch="000001", amount=2_000, pan_masked=None,
                        entry_mode=None, rc=rc, rrn=None, auth_code=None, behaviour=behaviour,
                        note=note, state=None, orig_batch=None, orig_stan=None, scheme=None,
                        response_mti="0210")


# -- the rule, on rows ---------------------------------------------------------------------------

def test_an_answer_that_blames_nobody_makes_no_claim():
    assert host_blame.claim_of("sale", "approved", {"rc": "00"}) is None
    assert host_blame.claim_of("sale", "refused", {"reason": "amount_out_of_range"}) is None
    assert host_blame.claim_of("sale", "cancelled", {"reason": "no_card"}) is None
    assert host_blame.claim_of("sale", "failed", {"reason": "card_removed"}) is None


@pytest.mark.parametrize("reason", sorted(host_blame.NO_ANSWER | host_blame.BAD_ANSWER))
def test_no_row_of_the_request_is_the_host_s_fault(reason):
    claim = host_blame.claim_of("sale", "failed", {"reason": reason})
    assert claim is not None
    # a reversal answered first is not the sale's row
    found = host_blame.judge(claim, [row("reversal")] if reason != "reversal_pending" else [])
    assert found.whose == HOST and "journaled no" in found.why


@pytest.mark.parametrize("reason", sorted(host_blame.NO_ANSWER | host_blame.BAD_ANSWER))
def test_a_request_answered_normally_makes_the_claim_a_terminal_defect(reason):
    claim = host_blame.claim_of("sale", "failed", {"reason": reason})
    kind = "reversal" if reason == "reversal_pending" else "sale"
    found = host_blame.judge(claim, [row(kind)])
    assert (found.whose, found.row.kind) == (TERMINAL, kind)
    assert "answered rc 00" in found.why


def test_a_scripted_exchange_is_the_test_s_stimulus_whatever_else_the_journal_says():
    claim = host_blame.claim_of("sale", "failed", {"reason": "no_host_response"})
    found = host_blame.judge(claim, [row(behaviour="drop"), row(HOST_FAULT, rc=None, note="x")])
    assert found.whose == SCRIPT and "drop" in found.why


def test_a_host_fault_row_is_the_host_s_fault_even_beside_a_normal_answer():
    claim = host_blame.claim_of("sale", "failed", {"reason": "mac_error"})
    found = host_blame.judge(claim, [row(), row(HOST_FAULT, rc=None, note="answer 0210 sent with a "
                                                                         "corrupted MAC", id=2)])
    assert found.whose == HOST and "corrupted MAC" in found.why


def test_a_decline_is_borne_out_by_the_same_code_and_refuted_by_another():
    declined = host_blame.claim_of("sale", "declined", {"rc": "51"})
    assert host_blame.judge(declined, [row(rc="51")]).whose == AGREED
    assert host_blame.judge(declined, [row(rc="00")]).whose == TERMINAL
    assert host_blame.judge(declined, []).whose == HOST
    signin = host_blame.claim_of("sale", "failed", {"reason": "signin_declined", "rc": "96"})
    assert signin.kinds == ("signin",)
    assert host_blame.judge(signin, [row("sale"), row("signin", rc="96")]).whose == AGREED


def test_a_settlement_claim_is_judged_on_its_last_message_and_what_had_to_follow_it():
    silent = Claim("settle", "failed", "no_host_response", None)
    assert silent.kinds == ("settlement", "batch_upload")
    settled = row("settlement", id=1)
    upload = row("batch_upload", id=2)
    end = dataclasses.replace(row("batch_upload", id=3), state="clean")
    # the 0500 answered, nothing after it: the upload the terminal had to send never arrived
    found = host_blame.judge(silent, [settled])
    assert (found.whose, found.row.id) == (HOST, 1) and "never received it" in found.why
    assert host_blame.judge(silent, [settled, upload]).whose == HOST
    # the upload's end answered: the exchange was over, the claim of no answer is false
    found = host_blame.judge(silent, [settled, upload, end])
    assert (found.whose, found.row.id) == (TERMINAL, 3)
    # a bad answer is about the last message journaled, whatever had to follow it
    bad = Claim("settle", "failed", "bad_host_response", None)
    assert host_blame.judge(bad, [settled]).whose == TERMINAL


def test_breaking_the_host_names_what_it_can_break():
    from devices.host.core import HostCore

    with pytest.raises(BreakageError, match="unknown host breakage 'melt'"):
        break_host(object.__new__(HostCore), "melt")


# -- the rule in the flows, against the virtual lab ---------------------------------------------

@pytest.fixture
def host_breaks(station, lab):
    """``host_breaks(mode)`` breaks the lab's host for this station's terminal; mended after
    the test, the terminal signed in again (a bad MAC signs it out)."""
    if lab.virtual is None or lab.virtual.host is None:
        pytest.skip("the rig breaks only a host it runs itself (the virtual lab's)")
    made = []

    def breaks(mode: str):
        made.append(break_host(lab.virtual.host, mode, tid=station.tid))
        return made[-1]
    def no_reversal_left() -> None:
        station.strategy.transition(StationState.SIGNED_IN)
        if flows.status(station).data.get("reversal_pending"):
            # it goes out before the next sale: this test's (or the next one's) sale must be
            # the only message
            assert flows.sale(station, 1_000, CARD).approved

    no_reversal_left()
    try:
        yield breaks
    finally:
        for broken in made:
            broken.mend()
        no_reversal_left()


@pytest.mark.parametrize(("mode", "reason", "why"), [
    ("hang_up", "host_unreachable", "journaled no sale"),
    ("bad_mac", "mac_error", "corrupted MAC"),
    ("wrong_amount", "bad_host_response", "amount 2100 fen instead of 2000"),
])
def test_a_host_broken_mid_sale_is_a_station_fault(station, host_breaks, mode, reason, why):
    since = host_blame.mark(station)
    broken = host_breaks(mode)
    with pytest.raises(HostFailed, match=why) as caught:
        flows.sale(station, 2_000, CARD)
    assert broken.hit == 1
    assert f"the terminal says {reason} in its sale" in str(caught.value)
    verdict = classify(caught.value)
    assert (verdict.status, verdict.category, verdict.quarantine) == ("broken", "Station fault", True)
    # broken, not scripted: nothing the host journaled since says a test asked for it
    assert not [entry.behaviour for entry in flows.journal(station)
                if entry.id > since.last_id and entry.behaviour]


@pytest.mark.heavy  # waits out real timers: in the heavy set .ci/run runs
def test_a_host_hung_on_the_sign_in_is_a_station_fault(station, host_breaks):
    host_breaks("hang")
    with pytest.raises(HostFailed, match=r"no_host_response in its signin.*journaled no signin"):
        flows.sign_in(station, log_in=False)


def test_a_host_broken_when_the_reversal_goes_out_is_a_station_fault(station, host_breaks):
    host_breaks("hang_up")
    with pytest.raises(HostFailed, match="host_unreachable in its sale"):
        flows.sale(station, 2_000, CARD)  # lost: the terminal keeps a reversal
    assert flows.status(station).data["reversal_pending"] is True
    # the next sale sends the reversal first; the host hangs up on every attempt
    with pytest.raises(HostFailed, match=r"reversal_pending in its sale.*journaled no reversal"):
        flows.sale(station, 2_000, CARD)


def test_a_scripted_host_is_the_test_s_stimulus(station, host_breaks):
    flows.host_will(station, "sale", close=True)  # what CUP-HOST-002 does
    lost = flows.sale(station, 2_300, CARD)
    assert (lost.status, lost.reason) == ("failed", "host_unreachable"), lost
    assert flows.last_journaled(station, "sale").behaviour == "close"


def test_a_claim_the_host_s_journal_refutes_is_a_terminal_defect(station, host_breaks):
    since = host_blame.mark(station)
    sale = flows.sale(station, 2_100, CARD)  # answered normally: approved, journaled
    assert sale.approved, sale
    for status, data, said in (("failed", {"reason": "no_host_response"}, "no_host_response"),
                               ("failed", {"reason": "mac_error"}, "mac_error"),
                               ("declined", {"rc": "05"}, r"declined \(rc 05\)")):
        with pytest.raises(HostClaimFalse, match=rf"says {said} in its sale, but the host journaled "
                                                  rf"its sale stan {sale.trace:06d}.*answered rc 00"
                           ) as caught:
            host_blame.check(station, "sale", status, data, since)
        assert classify(caught.value).status == "failed"
    # the same answer, as the terminal really gave it, blames nobody
    host_blame.check(station, "sale", sale.status, sale.raw, since)
    # and a decline the host really gave (a wrong PIN: 55, nothing scripted) is borne out
    before = host_blame.mark(station)
    wrong = "".join(str((int(digit) + 1) % 10) for digit in station.card(CARD).pin)
    refused = flows.sale(station, 1_500, CARD, pin=wrong)
    assert (refused.status, refused.rc) == ("declined", "55"), refused
    assert flows.last_journaled(station, "sale").behaviour is None
    host_blame.check(station, "sale", refused.status, refused.raw, before)
    with pytest.raises(HostClaimFalse, match="answered rc 55, not 51"):
        host_blame.check(station, "sale", "declined", {**refused.raw, "rc": "51"}, before)


def test_a_settlement_the_host_saw_to_its_end_refutes_a_claim_of_no_answer(station, host_breaks):
    since = host_blame.mark(station)
    settled = flows.settle(station)
    assert settled.ok, settled
    rows = [entry for entry in flows.journal(station) if entry.id > since.last_id]
    assert rows[0].kind == "settlement" and rows[-1].state in ("clean", "discrepancies"), rows
    with pytest.raises(HostClaimFalse, match=r"says no_host_response in its settle, but the host "
                                             r"journaled its batch_upload"):
        host_blame.check(station, "settle", "failed", {"reason": "no_host_response"}, since)
