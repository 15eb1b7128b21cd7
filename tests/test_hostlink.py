"""HostLink: one way to script the acquirer host, in the rig's process or through the control
socket of a host another process runs; and a clear error where neither is possible."""

from __future__ import annotations

import pytest

from devices.host import AcquirerHost
from devices.host.testing import lab_card, lab_config, signed_in
from harness.hostlink import ControlError, HostLink, HostUnscriptable
from harness.virtual_lab import MAX_SOCKET_PATH, control_socket


@pytest.mark.parametrize("route", ["in-process", "control socket"])
def test_both_routes_script_the_host_the_same_way(tmp_path, route):
    host = AcquirerHost(lab_config(control_path=tmp_path / "host.ctl"))
    host.start_in_thread()
    try:
        link = (HostLink(None, host) if route == "in-process"
                else HostLink(None, control=tmp_path / "host.ctl"))
        terminal = signed_in(host)
        link.script_next("10000001", "sale", 1, rc="51")
        assert [rule["behaviour"] for rule in link.pending()] == [{"rc": "51"}]
        assert terminal.sale(lab_card("cup-debit-chip"), 100).rc == "51"
        assert terminal.sale(lab_card("cup-debit-chip"), 100).rc == "00", "times=1 is one sale"
        link.script_next("10000001", "sale", None, rc="05")  # until cleared
        assert [terminal.sale(lab_card("cup-debit-chip"), 100).rc for _ in range(2)] == ["05", "05"]
        link.clear_script("10000001")
        assert link.pending() == []
    finally:
        host.stop()


def test_a_host_elsewhere_without_a_control_socket_cannot_be_scripted_and_says_how_to_fix_it():
    link = HostLink(journal_path=None, host=None, control=None)
    assert not link.scriptable
    with pytest.raises(HostUnscriptable, match=r"host\.control.*--control"):
        link.script_next("10000001", "sale", 1, rc="51")
    link.clear_script("10000001")  # nothing scripted, nothing to clear: not an error


def test_a_dead_control_socket_is_named_in_the_error(tmp_path):
    link = HostLink(journal_path=None, control=tmp_path / "gone.sock")
    with pytest.raises(ControlError, match=r"gone\.sock.*Is the host running"):
        link.script_next("10000001", "sale", 1, rc="51")


def test_the_control_socket_is_left_out_where_its_path_would_be_too_long(tmp_path):
    assert control_socket(tmp_path) == tmp_path.resolve() / "host-control.sock"
    deep = tmp_path / ("d" * (MAX_SOCKET_PATH - len(str(tmp_path))))
    assert control_socket(deep) is None
