"""The simulated phone's control socket (docs/qr.md, "The phone's control socket"): a client in
another process tells the phone which payment code to show, and a C2B sale is done from the
live inventory alone, as `posrig lab up` prints it."""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.bench_model import BenchModel
from devices.payments import qr
from devices.phone import SimulatedPhone
from devices.phone.control import MAX_LINE, PhoneControl, PhoneControlError
from devices.terminal.sim.qr_scan import decode
from harness import flows
from harness.flows import qr as scan
from harness.inventory import load_inventory
from harness.lab import Lab
from harness.paths import DEFAULT_LAB
from harness.virtual_lab import VirtualLab


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory whose socket paths fit a Unix socket's 108 bytes (pytest's tmp_path may not)."""
    with tempfile.TemporaryDirectory(prefix="pq-") as tmp:
        yield Path(tmp)


@pytest.fixture
def served(short_dir: Path) -> Iterator[tuple[SimulatedPhone, Path]]:
    model = BenchModel("st1", {})
    phone = SimulatedPhone(model, seed=2, control=short_dir / "phone.sock").start()
    try:
        yield phone, short_dir / "phone.sock"
    finally:
        phone.stop()


def exchange(path: Path, *lines: bytes) -> list[dict]:
    """Send ``lines`` on one connection; the answers, one per line, in order."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        reader = sock.makefile("rb")
        answers = []
        for line in lines:
            sock.sendall(line + b"\n")
            answers.append(json.loads(reader.readline()))
        return answers


def test_show_puts_the_code_on_the_phone_and_the_scanner_reads_it(served):
    phone, path = served
    code = qr.make_code("03", 77)
    [shown, held, status] = exchange(path, json.dumps({"cmd": "show", "code": code}).encode(),
                                     b'{"cmd": "present"}', b'{"cmd": "status"}')
    assert shown["ok"] and shown["showing"] and shown["code_masked"] == qr.mask_code(code)
    assert held["at_scanner"] and status["at_scanner"] and status["station"] == "st1"
    assert code not in json.dumps([shown, held, status]), "the code itself never comes back"
    assert phone.code == code
    assert decode(phone.model.scanner_view()()) == code
    [gone, blank] = exchange(path, b'{"cmd": "withdraw"}', b'{"cmd": "blank"}')
    assert not gone["at_scanner"] and phone.model.scanner_view() is None
    assert blank == {**blank, "ok": True, "showing": False, "code_masked": None}


@pytest.mark.parametrize(("line", "says"), [
    (b"show 123", "not JSON"),
    (b"[1, 2]", "an array, not an object"),
    (b'{"code": "1"}', 'no "cmd"'),
    (b'{"cmd": "scan"}', 'unknown cmd "scan"'),
    (b'{"cmd": "show", "code": "1", "seed": 3}', 'unknown field "seed"'),
    (b'{"cmd": "show", "code": 1300}', '"code" is a number, give a string'),
    (b'{"cmd": "show"}', '"code" missing'),
    (b'{"cmd": "show", "code": ""}', "1-350 ASCII characters"),
])
def test_a_bad_request_says_what_to_send_and_the_connection_serves_on(served, line, says):
    phone, path = served
    bad, good = exchange(path, line, b'{"cmd": "status"}')
    assert not bad["ok"] and says in bad["error"], bad
    assert good["ok"] and phone.code is None


def test_a_line_too_long_is_answered_then_closed_and_others_are_served(served):
    phone, path = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:  # connected, says nothing
        idle.connect(str(path))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(path))
            sock.sendall(b'{"cmd": "show", "code": "' + b"1" * (MAX_LINE + 10) + b'"}\n')
            reader = sock.makefile("rb")
            reply = json.loads(reader.readline())
            assert not reply["ok"] and f"at most {MAX_LINE} bytes" in reply["error"]
            assert reader.readline() == b"", "closed after answering"
        PhoneControl(path).show_code("6200000000000000001")
    assert phone.code == "6200000000000000001"


def test_the_client_raises_the_phones_refusal(served):
    _, path = served
    with pytest.raises(PhoneControlError, match="1-350 ASCII"):
        PhoneControl(path).show_code("码")
    with pytest.raises(PhoneControlError, match="phone control socket"):
        PhoneControl(path.with_name("nothing.sock")).status()


def test_c2b_sale_from_the_live_inventory_alone(short_dir: Path):
    """As a second shell would: the live inventory `posrig lab up` prints names the phone's
    socket; the host's wallet is scripted over its control socket, the terminal driven over
    its ECR link, the robot holds the phone, and the phone is told its code over its socket."""
    virtual = VirtualLab(load_inventory(DEFAULT_LAB).first(1), short_dir / "lab")
    live = virtual.start()
    lab = None
    try:
        [spec] = live.stations
        assert spec.phone and Path(spec.phone).is_socket(), spec
        assert json.loads(live.to_json())["stations"][0]["phone"] == spec.phone
        printed = short_dir / "live.json"
        printed.write_text(live.to_json())
        lab = Lab.from_path(printed, short_dir / "run")  # nothing of the virtual lab but its URLs
        lab.start()
        station = lab.station()
        assert lab.host is None and lab.live.stations[0].phone == spec.phone
        assert flows.sign_in(station).ok
        code = scan.payment_code(station, "02", "pending:1:approve")  # over the host's socket
        sale = scan.qr_sale(station, 1_250, code, PhoneControl(lab.live.stations[0].phone))
        assert sale.approved, sale
        assert sale.card == qr.mask_code(code) and sale.entry == "qr"
        row = scan.check_qr_witnesses(station, sale)
        assert row.state == "approved" and row.pan_masked == qr.mask_code(code)
        assert virtual.stations[spec.name].phone.code == code, "what the socket told it to show"
    finally:
        if lab is not None:
            lab.stop()
        virtual.stop()
    assert not Path(spec.phone).exists(), "the socket goes with the lab"
