"""Power-on, operator login and sign-in: what a terminal needs before it may take a card."""

from __future__ import annotations

import pytest

from harness import flows

WRONG = "999999"


@pytest.mark.case("CUP-PWR-001")
def test_terminal_boots_and_answers_after_power_returns(fresh_station):
    status = flows.status(fresh_station).data
    assert status["powered"] is True
    assert status["logged_in"] is False and status["signed_in"] is False, \
        f"login and keys must not survive a power cut: {status}"


@pytest.mark.case("CUP-LOGIN-001")
def test_right_password_logs_the_operator_in(fresh_station):
    login = flows.login(fresh_station)
    assert login.status == "ok", login.data
    assert flows.status(fresh_station).data["logged_in"] is True


@pytest.mark.case("CUP-LOGIN-002")
def test_wrong_password_is_refused(fresh_station):
    login = flows.login(fresh_station, password=WRONG)
    assert (login.status, login.data.get("reason")) == ("refused", "wrong_password")
    assert flows.status(fresh_station).data["logged_in"] is False


@pytest.mark.case("CUP-LOGIN-003")
def test_three_wrong_passwords_lock_the_operator_out(fresh_station):
    answers = [flows.login(fresh_station, password=WRONG).data.get("reason") for _ in range(3)]
    assert answers == ["wrong_password", "wrong_password", "locked"]
    right = flows.login(fresh_station)
    assert (right.status, right.data.get("reason")) == ("refused", "locked"), \
        "the right password must not unlock a locked operator"


@pytest.mark.case("CUP-LOGIN-004")
def test_sign_in_before_login_is_refused(fresh_station):
    before = len(flows.journal(fresh_station))
    signin = flows.sign_in(fresh_station, log_in=False)
    assert (signin.status, signin.reason) == ("refused", "not_logged_in")
    assert len(flows.journal(fresh_station)) == before, "the terminal went online anyway"


@pytest.mark.case("CUP-SIGNIN-001")
def test_sign_in_exchanges_working_keys_and_takes_the_host_batch(fresh_station):
    signin = flows.sign_in(fresh_station)
    assert signin.ok, signin
    assert signin.key_mode == fresh_station.profile.key_mode
    entry = flows.last_journaled(fresh_station, "signin")
    assert entry is not None and entry.rc == "00"
    assert int(entry.batch) == signin.batch
    assert flows.status(fresh_station).data["signed_in"] is True


@pytest.mark.case("CUP-SIGNIN-002")
def test_sign_in_declined_by_the_host_leaves_the_terminal_signed_out(fresh_station):
    flows.host_will(fresh_station, "signin", rc="96")
    signin = flows.sign_in(fresh_station)
    assert (signin.status, signin.rc) == ("declined", "96"), signin
    assert flows.status(fresh_station).data["signed_in"] is False
