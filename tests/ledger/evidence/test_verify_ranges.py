"""`ledger verify` checks the log in ranges of a power of two leaves (1,024 and up) and folds
the Merkle tree from each range's subtree, with one job or several: what it reports is what
a check of the tree leaf by leaf reports, for checkpoints at a range's end, inside a range
and in the last, partial range, and for a checkpoint an auditor kept."""

import hashlib
from typing import Any

import pytest

from approval_ledger.initialize import initialize
from ledger.config import Settings
from ledger.domain import LoginRejection
from ledger.evidence.database import DatabaseURL
from ledger.evidence.keys import VerifierKey
from ledger.evidence.merkle import RootBuilder, leaf_hash
from ledger.evidence.note import Checkpoint, open_checkpoint
from ledger.evidence.tables import CHECKPOINTS_TABLE, EVENTS_TABLE, LEAVES_TABLE
from ledger.evidence.verify import KeptEvidence, Report, verify_database
from ledger.identity import Actor

# The log's size after each save, each followed by a checkpoint: LogStarted is seq 0, so
# the first save ends the first range of 1,024; 1,724 is inside the second, 2,048 its end,
# 2,548 inside the last, partial range.
CHECKPOINTS = (1024, 1724, 2048, 2548)


def build(settings: Settings, operator: Actor) -> dict[str, VerifierKey]:
    app = initialize(settings, operator).app
    try:
        size = 1
        for checkpoint in CHECKPOINTS:
            app.save(
                *(
                    LoginRejection(
                        reason="assurance level too low",
                        idp="https://idp.example/",
                        assertion_id=f"_rejected-{n}",
                        person_uuid=None,
                        cvr=None,
                        actor=Actor.system("login"),
                    )
                    for n in range(size, checkpoint)
                )
            )
            app.signed_log.checkpoint()
            size = checkpoint
        keys = app.keyring.verifier_keys()
    finally:
        app.close()
    return keys


def run(url: DatabaseURL, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    connection = url.connect(writable=True)
    try:
        cursor = connection.cursor()
        cursor.execute(statement.replace("?", url.placeholder), params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


def kept(url: DatabaseURL, keys: dict[str, VerifierKey], size: int) -> KeptEvidence:
    ((note,),) = run(url, f"SELECT note FROM {CHECKPOINTS_TABLE} WHERE size = ?", (size,))
    return KeptEvidence(open_checkpoint(note, keys))


def both(url: DatabaseURL, keys: dict[str, VerifierKey], **options: Any) -> Report:
    """The report of one job, after checking that two jobs report the same."""
    one = verify_database(url, keys, jobs=1, **options)
    two = verify_database(url, keys, jobs=2, **options)
    assert two.problems == one.problems
    assert two.leaves == one.leaves
    return one


@pytest.fixture
def log(settings: Settings, operator: Actor) -> tuple[DatabaseURL, dict[str, VerifierKey]]:
    return settings.database, build(settings, operator)


def test_checkpoints_at_and_inside_ranges_hold_and_so_does_one_kept_inside_a_range(
    log: tuple[DatabaseURL, dict[str, VerifierKey]],
) -> None:
    url, keys = log
    assert [size for (size,) in run(url, f"SELECT size FROM {CHECKPOINTS_TABLE} ORDER BY size")][
        -4:
    ] == list(CHECKPOINTS)

    assert both(url, keys).ok
    for size in CHECKPOINTS:
        assert both(url, keys, against=kept(url, keys, size)).ok


def test_a_stored_root_changed_inside_a_range_is_reported_as_leaf_by_leaf(
    log: tuple[DatabaseURL, dict[str, VerifierKey]],
) -> None:
    url, keys = log
    run(url, f"UPDATE {CHECKPOINTS_TABLE} SET root = ? WHERE size = 1724", (bytes(32),))

    report = both(url, keys)

    assert [(p.reason, p.detail) for p in report.problems] == [
        (
            "checkpoint-root-mismatch",
            "the stored checkpoint of size 1724 is not the root of the stored leaves",
        )
    ]


def test_a_kept_checkpoint_inside_a_range_that_the_log_no_longer_holds_is_rewritten_history(
    log: tuple[DatabaseURL, dict[str, VerifierKey]],
) -> None:
    url, keys = log
    real = kept(url, keys, 1724).checkpoint
    other = Checkpoint(real.origin, real.size, hashlib.sha256(b"another tree").digest())

    report = both(url, keys, against=KeptEvidence(other))

    assert [(p.reason, p.seq) for p in report.problems] == [("rewritten-history", None)]


def test_a_gap_at_the_end_of_a_range_of_1024_is_a_seq_gap(
    log: tuple[DatabaseURL, dict[str, VerifierKey]],
) -> None:
    url, keys = log
    ((oid, version),) = run(
        url, f"SELECT originator_id, originator_version FROM {LEAVES_TABLE} WHERE seq = 1023"
    )
    run(url, f"DELETE FROM {LEAVES_TABLE} WHERE seq = 1023")
    run(
        url,
        f"DELETE FROM {EVENTS_TABLE} WHERE originator_id = ? AND originator_version = ?",
        (oid, version),
    )

    report = both(url, keys)

    assert [(p.reason, p.seq) for p in report.problems] == [
        ("seq-gap", 1024),
        ("broken-chain", 1024),
    ]


def test_a_leaf_changed_in_the_middle_of_a_range_fails_the_checkpoints_after_it(
    log: tuple[DatabaseURL, dict[str, VerifierKey]],
) -> None:
    url, keys = log
    ((leaf,),) = run(url, f"SELECT leaf FROM {LEAVES_TABLE} WHERE seq = 1500")
    changed = bytes(leaf).replace(b'"seq":1500', b'"seq":1501')
    assert changed != bytes(leaf)
    run(url, f"UPDATE {LEAVES_TABLE} SET leaf = ? WHERE seq = 1500", (changed,))

    report = both(url, keys, against=kept(url, keys, 2048))

    reasons = [p.reason for p in report.problems]
    assert "checkpoint-root-mismatch" in reasons
    assert "rewritten-history" in reasons
    (mismatch,) = (p for p in report.problems if p.reason == "checkpoint-root-mismatch")
    assert "size 1724 (and 2 later ones)" in mismatch.detail


def test_subtrees_appended_give_the_roots_of_leaves_appended_one_at_a_time() -> None:
    leaves = [leaf_hash(bytes([n % 256, n // 256])) for n in range(300)]
    for chunk in (1, 2, 8, 64):
        for size in range(0, 300, 7):
            one_by_one = RootBuilder()
            for h in leaves[:size]:
                one_by_one.append_hash(h)
            folded = RootBuilder()
            for start in range(0, size, chunk):
                part = RootBuilder()
                for h in leaves[start : min(start + chunk, size)]:
                    part.append_hash(h)
                for width, h in part._stack:
                    folded.append_subtree(width, h)
            assert (folded.size, folded.root()) == (size, one_by_one.root())
    with pytest.raises(ValueError, match="cannot follow"):
        RootBuilder().append_subtree(3, leaves[0])
    builder = RootBuilder()
    builder.append_hash(leaves[0])
    with pytest.raises(ValueError, match="of 2 leaves cannot follow 1"):
        builder.append_subtree(2, leaves[1])
