"""The host's configuration: the card list (one parser, devices.cards.load_cards, shared
with the harness) and how a file journal is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.cards import CardDataError, load_cards
from devices.host.journal import Journal, JournalError
from devices.host.testing import FIXTURES, lab_card, lab_config
from harness.config import ConfigError
from harness.profiles import load_cards as harness_load_cards

GOOD = '{id: x, pan: "6212340000000019", expiry: "3012", service_code: "220", pin: "975310"'


def write(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "cards.yaml"
    path.write_text("cards:\n" + "".join(f"  - {entry}\n" for entry in entries))
    return path


def test_fixture_cards_load_by_id_and_the_host_and_harness_read_the_same():
    cards = load_cards(FIXTURES / "cards.yaml")
    assert cards["cup-low-funds"].balance == 1000
    assert cards["cup-debit-chip"].contactless is True
    assert harness_load_cards(FIXTURES / "cards.yaml") == cards
    assert lab_config().cards == list(cards.values())
    assert lab_card("cup-expired") == cards["cup-expired"]


def test_numbers_written_without_quotes_are_read_as_text(tmp_path):
    path = write(tmp_path, "{id: 7, pan: 6212340000000019, expiry: 3012, service_code: 220, "
                           "pin: 123456, seq_no: 1}")
    card = load_cards(path)["7"]
    assert (card.pan, card.expiry, card.pin, card.seq_no) == ("6212340000000019", "3012",
                                                              "123456", "1")


@pytest.mark.parametrize(("entry", "message"), [
    ('{id: x, pan: "6212340000000018", expiry: "3012", service_code: "220", pin: "975310"}',
     r"cards\[1\] \(x\): .*Luhn"),
    (GOOD + ", colour: red}", r"cards\[1\] \(x\): unknown key\(s\) \['colour'\]"),
    ('{id: x, pan: "6212340000000019", expiry: "3012"}',
     r"cards\[1\] \(x\): missing pin, service_code"),
    (GOOD + ", chip: yes please}", r"cards\[1\] \(x\): chip: expected true or false"),
    (GOOD + ", balance: -5}", r"cards\[1\] \(x\): balance: expected a whole number"),
    ('{pan: "6212340000000019"}', r"cards\[1\]: id: expected a string"),
    ("just text", r"cards\[1\]: expected a mapping"),
])
def test_a_bad_entry_is_named_by_file_and_place_without_its_card_number(tmp_path, entry,
                                                                        message):
    path = write(tmp_path, GOOD.replace("id: x", "id: first") + "}", entry)
    with pytest.raises(CardDataError, match=message) as info:
        load_cards(path)
    assert str(path) in str(info.value)
    assert "621234000000001" not in str(info.value) and "975310" not in str(info.value)
    with pytest.raises(ConfigError, match=message):  # the harness says the same
        harness_load_cards(path)


def test_a_repeated_id_and_an_empty_or_missing_file_are_refused(tmp_path):
    with pytest.raises(CardDataError, match=r"cards\[1\] \(x\): id 'x' is already used"):
        load_cards(write(tmp_path, GOOD + "}", GOOD + "}"))
    (tmp_path / "empty.yaml").write_text("cards: []\n")
    with pytest.raises(CardDataError, match=r"empty\.yaml: cards: expected a non-empty list"):
        load_cards(tmp_path / "empty.yaml")
    with pytest.raises(CardDataError, match=r"nowhere\.yaml: cannot read the card list"):
        load_cards(tmp_path / "nowhere.yaml")


def test_a_file_journal_leaves_wal_checkpoints_to_its_thread_or_its_parent(tmp_path):
    writer = Journal(tmp_path / "j.sqlite", checkpoint="elsewhere")
    assert writer._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for amount in range(50):
        writer.record(at="2026-03-04T05:06:07.000", kind="sale", amount=amount)
    writer.flush()
    # Nothing was copied back by the commits: a checkpoint from another connection
    # (what the thread runs) finds every frame still to do, and does them.
    owner = Journal(tmp_path / "j.sqlite", checkpoint="thread")
    busy, frames, copied = owner._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, frames) and frames > 0
    owner.close()
    writer.close()
    assert Journal(None)._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    with pytest.raises(JournalError, match="checkpoint must be"):
        Journal(None, checkpoint="never")
