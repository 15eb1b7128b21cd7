"""Sign-in beyond the first: with every key layout a terminal may be set up for, and again
whenever the host orders it."""

from __future__ import annotations

import pytest

from harness import flows


@pytest.mark.case("CUP-SIGNIN-003")
@pytest.mark.parametrize("keyed_station", ["001", "003", "004", "004/52"], indirect=True)
def test_sign_in_and_sale_with_each_key_layout(keyed_station):
    station = keyed_station
    flows.power_cycle(station)
    signin = flows.sign_in(station)
    assert signin.ok, signin
    assert signin.key_mode == station.profile.key_mode
    entry = flows.last_journaled(station, "signin")
    assert entry is not None and entry.rc == "00", entry
    if station.profile.key_mode == "004":  # the layout the profile chose reached both ends
        assert entry.note.endswith(f"DE62 {station.profile.key_layout} bytes"), entry.note
    # the working keys are right only if a PIN'd, MAC'd sale with them is approved
    sale = flows.sale(station, 1_300, "cup-debit-chip")
    assert sale.approved, sale
    flows.check_witnesses(station, sale, "cup-debit-chip")
    flows.check_receipt(station, sale)


@pytest.mark.case("CUP-SIGNIN-004")
def test_host_ordered_sign_in_is_obeyed_before_the_next_sale(fresh_station):
    station = fresh_station
    assert flows.sign_in(station).ok
    flows.host_will(station, "sale", resign=True)
    ordered = flows.sale(station, 1_400, "cup-debit-chip")
    assert ordered.approved, "the order comes with an approval, which stands"
    flows.check_receipt(station, ordered)
    before = len(flows.journal(station))
    refused = flows.sale(station, 1_500, "cup-debit-chip")
    assert (refused.status, refused.reason) == ("refused", "not_signed_in"), refused
    assert len(flows.journal(station)) == before, "the terminal went online without signing in"
    assert flows.sign_in(station).ok
    again = flows.sale(station, 1_500, "cup-debit-chip")
    assert again.approved, again
    flows.check_receipt(station, again)
