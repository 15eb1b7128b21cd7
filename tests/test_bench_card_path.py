"""A card's whole path on the virtual bench, the physical model checked at every step:
picked, inserted, read by the terminal, PIN pressed, removed, back in its slot."""

from __future__ import annotations

import pytest

from devices.bench_model import Place
from devices.camera import frame_difference
from harness import flows
from harness.lab import Lab


@pytest.fixture
def lab(tmp_path):
    running = Lab.from_path(None, tmp_path)
    running.start()
    yield running
    running.stop()


def test_card_path_through_the_bench(lab):
    station = lab.station()
    model = lab.virtual.model(station.name)
    card = lab.cards["cup-debit-chip"]
    slot = station.slot_of(card)
    assert flows.sign_in(station).status == "ok"
    empty_tray = station.camera.grab()

    pending = station.terminal.send("sale", amount=2_000)
    station.terminal.expect_prompt("insert_card", timeout=10)
    assert model.place_of(slot) is Place.MAGAZINE

    station.robot.pick(slot)
    assert model.place_of(slot) is Place.GRIPPER
    assert model.card_at(Place.CHIP_READER) is None

    station.robot.insert()
    assert model.place_of(slot) is Place.CHIP_READER
    # the terminal asks for the PIN only because it read the card the robot inserted
    station.terminal.expect_prompt("enter_pin", timeout=10)

    station.robot.press_keys([*card.pin, "enter"], secret=True)
    response = pending.result(timeout=20)
    assert response.status == "approved"
    assert response.data["card"] == card.masked_pan
    assert model.place_of(slot) is Place.CHIP_READER  # still seated until the robot takes it

    station.robot.remove()
    assert model.place_of(slot) is Place.GRIPPER
    station.robot.return_card()
    assert model.place_of(slot) is Place.MAGAZINE
    assert station.robot.holding is None
    assert model.tray, "an approved sale prints a slip"
    # the camera over the tray sees the new slip: the frame is no longer the empty tray
    frame = station.camera.grab_settled(changed_from=empty_tray, timeout=10)
    assert frame_difference(frame, empty_tray) > 20


def test_terminal_waits_for_a_card_it_never_gets(lab):
    """No robot move, no read: a card lying in the magazine is invisible to the terminal."""
    station = lab.station()
    assert flows.sign_in(station).status == "ok"
    sim = lab.virtual.stations[station.name].terminal
    sim.cfg.card_timeout = 0.5  # the terminal's own card timeout, shortened for the test
    response = station.terminal.call("sale", amount=100, timeout=10)
    assert (response.status, response.data["reason"]) == ("cancelled", "no_card")
