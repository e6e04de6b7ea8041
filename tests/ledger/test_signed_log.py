"""The signed log as its users meet it: a receipt names a checkpoint covering its event,
receipts outlive a key rotation, and the log reads back in `seq` order."""

import logging
import sqlite3

import pytest

from ledger.application import LedgerApp
from ledger.domain import DomainError
from ledger.evidence import merkle
from ledger.evidence.bundle import Receipt, verify_receipt
from ledger.evidence.note import open_checkpoint
from ledger.keyring import KeyRing
from tests.fixtures import AARHUS, ODENSE

CUSTOMERS = {AARHUS: "Aarhus Kommune", ODENSE: "Odense Kommune", "64942212": "København"}


def refuse_checkpoints(app: LedgerApp, refuse: bool) -> None:
    """Make the database refuse (or accept again) every new checkpoint row."""
    db = app.settings.database
    if db.is_sqlite:
        connection = sqlite3.connect(db.sqlite_path)
        connection.execute(
            "CREATE TRIGGER refuse_checkpoint BEFORE INSERT ON ledger_checkpoints "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            if refuse
            else "DROP TRIGGER refuse_checkpoint"
        )
        connection.commit()
    else:
        connection = db.connect()
        connection.execute(
            "ALTER TABLE ledger_checkpoints ADD CONSTRAINT refuse_checkpoint CHECK (size < 0) "
            "NOT VALID"
            if refuse
            else "ALTER TABLE ledger_checkpoints DROP CONSTRAINT refuse_checkpoint"
        )
    connection.close()


def test_a_write_while_checkpoints_fail_stays_and_its_receipt_names_one_covering_it_later(
    app, operator, caplog
):
    refuse_checkpoints(app, True)
    customer = app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    assert [c.cvr for c in app.customers()] == [AARHUS]
    seq = app.signed_log.seq_of(customer.id, 1)
    with (
        caplog.at_level(logging.WARNING, logger="ledger.signed_log"),
        pytest.raises(DomainError, match="endnu ikke dækket af en checkpoint; prøv igen"),
    ):
        app.signed_log.receipt(seq)
    assert "no checkpoint made on demand" in caplog.text
    assert app.signed_log.stored_checkpoint(seq + 1) is None

    refuse_checkpoints(app, False)
    receipt = app.signed_log.receipt(seq)
    report = verify_receipt(receipt, app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert report.checkpoint.size == seq + 1


@pytest.mark.parametrize("seq", [-1, 1, 2**40])
def test_a_receipt_is_refused_for_a_seq_the_log_does_not_hold(app, seq):
    with pytest.raises(DomainError, match=f"Hændelse {seq} findes ikke"):
        app.signed_log.receipt(seq)


def test_a_receipt_kept_from_before_a_key_rotation_still_verifies_after_it(app, operator):
    customer = app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    seq = app.signed_log.seq_of(customer.id, 1)
    kept = app.signed_log.receipt(seq).to_json()
    old_kid = app.signed_log.signing_kid()
    new_kid = app.signed_log.rotate_signing_key(operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    keys = app.keyring.verifier_keys()
    assert set(keys) == {old_kid, new_kid}

    receipt = Receipt.from_json(kept)
    for trusted in (keys, None):  # the keys published now, and those the receipt carries
        report = verify_receipt(receipt, trusted)
        assert report.ok, report.problems
    old = report.checkpoint

    # The same checkpoint until a newer one is asked for (the keys now name the new key too).
    assert app.signed_log.receipt(seq).checkpoint == receipt.checkpoint
    newest = app.signed_log.checkpoint().size
    again = verify_receipt(app.signed_log.receipt(seq, newest), keys)
    assert again.ok, again.problems
    new = again.checkpoint
    assert new.size > old.size
    # The checkpoint the receipt holder kept is extended by the one signed with the new key.
    proof = app.signed_log.consistency_proof(old.size, new.size)
    merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    assert open_checkpoint(app.signed_log.stored_checkpoint(new.size).note, keys) == new


def test_a_log_that_was_never_started_cannot_rotate_its_key(settings, operator):
    settings.data_dir.mkdir(parents=True)
    KeyRing(settings.keys_dir).create(settings.origin)
    app = LedgerApp(settings)
    try:
        with pytest.raises(DomainError, match="Loggen er ikke startet"):
            app.signed_log.rotate_signing_key(operator)
        assert list(app.signed_log.entries()) == []
        assert app.signed_log.start(operator) is not None
        assert app.signed_log.start(operator) is None  # started once
    finally:
        app.close()


def test_the_log_reads_every_event_once_in_seq_order_whatever_the_page_size(app, operator):
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    everything = [(e.seq, e.event_type, e.leaf) for e in app.signed_log.entries()]
    assert [seq for seq, _, _ in everything] == [0, 1, 2, 3]
    assert [kind for _, kind, _ in everything] == ["LogStarted", *["Registered"] * 3]
    for page_size in (1, 2, 3, 4, 5):
        paged = app.signed_log.entries(page_size=page_size)
        assert [(e.seq, e.event_type, e.leaf) for e in paged] == everything
    assert [e.seq for e in app.signed_log.entries(after=1, page_size=1)] == [2, 3]

    assert [app.signed_log.entry(seq).leaf for seq in range(4)] == [leaf for *_, leaf in everything]
    assert app.signed_log.entry(-1) is None
    assert app.signed_log.entry(4) is None
    # Asked for more seq numbers than are read in one query, with repeats and gaps.
    chosen = app.signed_log.entries_at([*range(-600, 2), 3, 3, 9])
    assert [e.seq for e in chosen] == [0, 1, 3]
