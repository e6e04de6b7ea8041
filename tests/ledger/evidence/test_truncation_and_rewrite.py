"""What a hash chain alone cannot show: a log cut short, or rewritten by someone holding the
signing key. Stored checkpoints and the checkpoint (or bundle) an auditor kept reveal both."""

import hashlib
import json
import sqlite3
import uuid

import pytest

from approval_ledger.cli import main
from ledger.application import LedgerApp
from ledger.evidence.keys import SigningKey
from ledger.evidence.leaf import sign_leaf
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory


@pytest.fixture
def ledger_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEDGER_ORIGIN", "test.example/ledger")
    assert main(["init"]) == 0
    return tmp_path / "var"


def business(data_dir) -> None:
    from ledger.config import Settings
    from ledger.identity import Actor

    app = LedgerApp(Settings.from_env())
    operator = Actor(Actor.OPERATOR, "test")
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    agreement = app.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory(),
        authentication=login(app),
        ip="192.0.2.1",
        user_agent="test",
    )
    app.signed_log.checkpoint()  # over the whole log, as `ledger serve` soon makes one
    app.close()


def keep_checkpoint(capsys, path) -> None:
    capsys.readouterr()
    assert main(["checkpoint"]) == 0
    path.write_text(capsys.readouterr().out)


def delete_newest(db_path, count: int, *, with_checkpoints: bool) -> None:
    with sqlite3.connect(db_path) as db:
        (last,) = db.execute("SELECT MAX(seq) FROM ledger_leaves").fetchone()
        for seq in range(last - count + 1, last + 1):
            oid, version = db.execute(
                "SELECT originator_id, originator_version FROM ledger_leaves WHERE seq = ?",
                (seq,),
            ).fetchone()
            db.execute(
                "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                (oid, version),
            )
            db.execute("DELETE FROM ledger_leaves WHERE seq = ?", (seq,))
        if with_checkpoints:
            db.execute("DELETE FROM ledger_checkpoints WHERE size > ?", (last - count + 1,))


def verify_json(capsys, *args):
    capsys.readouterr()
    code = main(["verify", "--json", *args])
    report = json.loads(capsys.readouterr().out)
    return code, [(p["reason"], p["seq"]) for p in report["problems"]]


def test_deleting_the_newest_events_is_reported_against_the_stored_checkpoint(ledger_env, capsys):
    business(ledger_env)
    delete_newest(ledger_env / "ledger.sqlite3", 2, with_checkpoints=False)
    code, problems = verify_json(capsys)
    assert code == 1
    assert problems == [("truncated", 3)]


def test_deleting_the_newest_events_and_their_checkpoints_is_reported_against_a_kept_one(
    ledger_env, tmp_path, capsys
):
    business(ledger_env)
    kept = tmp_path / "kept-checkpoint"
    keep_checkpoint(capsys, kept)
    delete_newest(ledger_env / "ledger.sqlite3", 2, with_checkpoints=True)
    code, problems = verify_json(capsys)
    assert (code, problems) == (0, []), "the cut is invisible to the log alone"
    code, problems = verify_json(capsys, "--against", str(kept))
    assert code == 1
    assert problems == [("truncated", 3)]


def _signing_key(keys_dir) -> SigningKey:
    (key_file,) = keys_dir.glob("signing-*.pem")
    return SigningKey.read(key_file)


def _leaves_and_events(db) -> list[tuple]:
    """(seq, originator_id, version, topic, state, leaf, recorded_at), in seq order."""
    return db.execute(
        "SELECT l.seq, l.originator_id, l.originator_version, e.topic, e.state, l.leaf, "
        "l.recorded_at FROM ledger_leaves l JOIN stored_events e ON "
        "e.originator_id = l.originator_id AND e.originator_version = l.originator_version "
        "ORDER BY l.seq"
    ).fetchall()


def _resigned(number, oid, version, topic, state, prev, recorded_at, key) -> bytes:
    """The leaf a holder of the key signs for this event at place `number`."""
    return sign_leaf(
        seq=number,
        originator_id=str(uuid.UUID(oid)),
        originator_version=version,
        topic=topic,
        payload=state,
        prev=prev,
        recorded_at=recorded_at,
        key=key,
    )


def rewrite_from(db_path, keys_dir, seq: int) -> None:
    """Rewrite event `seq` and re-sign every leaf from it on, as a holder of the key
    could; then rebuild the tree and checkpoints so the log agrees with itself."""
    key = _signing_key(keys_dir)
    with sqlite3.connect(db_path) as db:
        rows = _leaves_and_events(db)
        prev = hashlib.sha256(rows[seq - 1][5]).hexdigest()
        for number, oid, version, topic, state, _, recorded_at in rows[seq:]:
            if number == seq:
                state = state.replace(b"Aarhus Kommune", b"Aarhus Komune")
                db.execute(
                    "UPDATE stored_events SET state = ? WHERE originator_id = ? AND "
                    "originator_version = ?",
                    (state, oid, version),
                )
            leaf = _resigned(number, oid, version, topic, state, prev, recorded_at, key)
            db.execute(
                "UPDATE ledger_leaves SET leaf = ?, leaf_hash = ? WHERE seq = ?",
                (leaf, hashlib.sha256(leaf).digest(), number),
            )
            prev = hashlib.sha256(leaf).hexdigest()
        db.execute("DELETE FROM ledger_tree")
        db.execute("DELETE FROM ledger_checkpoints")


def test_a_history_rewritten_with_the_key_shows_only_against_what_the_auditor_kept(
    ledger_env, tmp_path, capsys
):
    business(ledger_env)
    kept_checkpoint = tmp_path / "kept-checkpoint"
    keep_checkpoint(capsys, kept_checkpoint)
    kept_bundle = tmp_path / "kept.zip"
    assert main(["export", "--out", str(kept_bundle)]) == 0
    rewrite_from(ledger_env / "ledger.sqlite3", ledger_env / "keys", 1)
    capsys.readouterr()
    assert main(["checkpoint"]) == 0  # the rewriter signs fresh checkpoints
    assert verify_json(capsys) == (0, [])
    code, problems = verify_json(capsys, "--against", str(kept_checkpoint))
    assert (code, problems) == (1, [("rewritten-history", None)])
    code, problems = verify_json(capsys, "--against", str(kept_bundle))
    assert (code, problems) == (1, [("rewritten-history", 1)])


def test_a_kept_checkpoint_of_the_same_log_still_holds(ledger_env, tmp_path, capsys):
    business(ledger_env)
    kept = tmp_path / "kept-checkpoint"
    keep_checkpoint(capsys, kept)
    assert main(["customer", "add", "--cvr", "64942212", "--name", "København"]) == 0
    assert verify_json(capsys, "--against", str(kept)) == (0, [])


def delete_and_resign_from(db_path, keys_dir, seq: int) -> None:
    """Delete event `seq` and re-sign every later leaf one place earlier, as a holder of
    the key could; then rebuild the tree and checkpoints so the log agrees with itself."""
    key = _signing_key(keys_dir)
    with sqlite3.connect(db_path) as db:
        rows = _leaves_and_events(db)
        _, oid, version, *_ = rows[seq]
        db.execute(
            "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
            (oid, version),
        )
        db.execute("DELETE FROM ledger_leaves WHERE seq >= ?", (seq,))
        prev = hashlib.sha256(rows[seq - 1][5]).hexdigest()
        for number, (_, oid, version, topic, state, _, recorded_at) in enumerate(
            rows[seq + 1 :], start=seq
        ):
            leaf = _resigned(number, oid, version, topic, state, prev, recorded_at, key)
            db.execute(
                "INSERT INTO ledger_leaves (seq, originator_id, originator_version, leaf, "
                "leaf_hash, recorded_at, next_kid) SELECT ?, ?, ?, ?, ?, ?, next_kid "
                "FROM ledger_leaves WHERE seq = 0",
                (number, oid, version, leaf, hashlib.sha256(leaf).digest(), recorded_at),
            )
            prev = hashlib.sha256(leaf).hexdigest()
        db.execute("DELETE FROM ledger_tree")
        db.execute("DELETE FROM ledger_checkpoints")


def test_an_event_deleted_from_the_middle_and_re_signed_names_its_seq_against_a_kept_bundle(
    ledger_env, tmp_path, capsys
):
    business(ledger_env)
    kept_checkpoint = tmp_path / "kept-checkpoint"
    keep_checkpoint(capsys, kept_checkpoint)
    kept_bundle = tmp_path / "kept.zip"
    assert main(["export", "--out", str(kept_bundle)]) == 0
    delete_and_resign_from(ledger_env / "ledger.sqlite3", ledger_env / "keys", 2)
    capsys.readouterr()
    assert main(["checkpoint"]) == 0  # the rewriter signs fresh checkpoints
    assert verify_json(capsys) == (0, []), "the log alone agrees with itself"
    code, problems = verify_json(capsys, "--against", str(kept_checkpoint))
    assert (code, problems) == (1, [("truncated", 4)])
    code, problems = verify_json(capsys, "--against", str(kept_bundle))
    assert (code, problems) == (1, [("rewritten-history", 2), ("truncated", 4)])


def test_a_log_cut_short_but_otherwise_unchanged_is_only_truncated_against_a_kept_bundle(
    ledger_env, tmp_path, capsys
):
    business(ledger_env)
    kept_bundle = tmp_path / "kept.zip"
    assert main(["export", "--out", str(kept_bundle)]) == 0
    delete_newest(ledger_env / "ledger.sqlite3", 2, with_checkpoints=True)
    assert verify_json(capsys, "--against", str(kept_bundle)) == (1, [("truncated", 3)])


def test_a_kept_checkpoint_that_is_not_utf_8_stops_the_check_with_its_reason(
    ledger_env, capsys, tmp_path
):
    business(ledger_env)
    kept = tmp_path / "kept"
    keep_checkpoint(capsys, kept)
    kept.write_bytes(b"\xff" + kept.read_bytes())
    capsys.readouterr()
    assert main(["verify", "--against", str(kept)]) == 2
    assert capsys.readouterr().err.startswith(f"ledger: {kept}: malformed-note: ")
