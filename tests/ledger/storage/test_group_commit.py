"""Group commit: threads saving at once share one transaction, and each keeps its own answer.

What is counted is the database's own record of it: on SQLite the COMMIT statements the
library's connections run (sqlite3's trace callback), on PostgreSQL the distinct inserting
transactions (`xmin`) of the events. To gather a group at a known moment, another
connection holds the log's write lock (SQLite's write lock, the PostgreSQL table lock) while
the writers queue, and lets go once they all have asked; the first writer, blocked on the
lock, leads a group of its own, and the writers queued behind it share the next one.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import eventsourcing.sqlite
import psycopg
import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.evidence.tables import EVENTS_TABLE, LEAVES_TABLE
from ledger.evidence.verify import verify_database
from ledger.identity import Actor
from ledger.storage import LogWriteError
from tests.fixtures import AARHUS, PDF, login, signatory

WRITERS = 16
DEADLINE_SECONDS = 60


class Note(Aggregate):
    """A minimal aggregate: one event with a text; notes with the same `key` are one
    aggregate, whose version 1 only one of them can be."""

    @event("Noted")
    def __init__(self, text: str, key: str = "") -> None:
        self.text = text

    @staticmethod
    def create_id(text: str, key: str = "") -> UUID:
        return uuid5(NAMESPACE_URL, key) if key else uuid4()


@pytest.fixture
def commits(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many transactions have written events: on SQLite the COMMITs of the library's
    connections opened from now on, on PostgreSQL the events' distinct `xmin`."""
    if not settings.database.is_sqlite:
        return lambda: _distinct_xmin(settings)
    statements: list[str] = []
    create = eventsourcing.sqlite.SQLiteConnectionPool._create_connection

    def traced(pool: Any) -> Any:
        connection = create(pool)
        connection._sqlite_conn.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(eventsourcing.sqlite.SQLiteConnectionPool, "_create_connection", traced)
    return lambda: sum(1 for statement in statements if statement.strip().upper() == "COMMIT")


def _distinct_xmin(settings: Settings) -> int:
    with psycopg.connect(settings.database.url) as connection:
        statement = f"SELECT count(DISTINCT xmin::text) FROM {EVENTS_TABLE}"
        row = connection.execute(statement).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def ledger(app: LedgerApp, commits: Callable[[], int]) -> Iterator[LedgerApp]:
    """A second application on the test's initialized ledger, opened after `commits` began
    counting, as one `ledger serve` worker holds one for all its threads."""
    opened = LedgerApp(app.settings)
    yield opened
    opened.close()


@contextmanager
def write_lock_held(settings: Settings) -> Iterator[None]:
    """The log's write lock, held by a connection of its own while the block runs."""
    if settings.database.is_sqlite:
        connection = sqlite3.connect(settings.database.sqlite_path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.rollback()
            connection.close()
        return
    with psycopg.connect(settings.database.url) as pg:
        pg.execute(f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            pg.rollback()


def wait_until_asked(ledger: LedgerApp, writes: int) -> None:
    """Wait (with a deadline) until `writes` saves have reached the recorder unanswered."""
    group_commit = ledger.recorder.group_commit  # type: ignore[attr-defined]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while group_commit.in_flight < writes:
        assert time.monotonic() < deadline, f"{group_commit.in_flight} of {writes} writes asked"
        time.sleep(0.01)


def assert_verified_log(ledger: LedgerApp, events: int) -> None:
    report = verify_database(ledger.settings.database, ledger.keyring.verifier_keys())
    assert report.ok, report.problems[:5]
    assert report.leaves == report.events == events
    assert [entry.seq for entry in ledger.signed_log.entries()] == list(range(events))


def event_count(ledger: LedgerApp) -> int:
    return sum(1 for _ in ledger.signed_log.entries())


def rotation_blocked_behind_the_lock(ledger: LedgerApp, pool: ThreadPoolExecutor) -> Future[str]:
    """A key rotation, which goes alone: it leads a group of one while the lock is held."""
    rotation = pool.submit(ledger.signed_log.rotate_signing_key, Actor(Actor.OPERATOR, "test"))
    wait_until_asked(ledger, 1)
    return rotation


def test_writers_queued_behind_one_write_share_one_transaction(ledger, commits):
    before_events, before_commits = event_count(ledger), commits()
    notes = [Note(f"note {n}") for n in range(WRITERS + 1)]
    with ThreadPoolExecutor(WRITERS + 1) as pool, write_lock_held(ledger.settings):
        saves = [pool.submit(ledger.save, note) for note in notes]
        wait_until_asked(ledger, WRITERS + 1)
    for save in saves:
        assert len(save.result()) == 1
    # The first writer's group (itself, and whoever queued before it took its group),
    # then one group of all the others.
    assert commits() - before_commits <= 2
    assert_verified_log(ledger, before_events + WRITERS + 1)
    seqs = [ledger.recorder.seq_of(note.id, 1) for note in notes]
    assert sorted(seqs) == list(range(before_events, before_events + WRITERS + 1))


def test_many_threads_saving_at_once_commit_fewer_transactions_than_saves(ledger, commits):
    before_events, before_commits = event_count(ledger), commits()
    each = 8
    barrier = threading.Barrier(WRITERS, timeout=DEADLINE_SECONDS)

    def write(writer: int) -> None:
        barrier.wait()
        for n in range(each):
            ledger.save(Note(f"writer {writer} note {n}"))

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    assert commits() - before_commits < WRITERS * each
    assert_verified_log(ledger, before_events + WRITERS * each)


def test_a_conflicting_pair_in_one_group_stores_one_event_and_refuses_the_other(ledger):
    before = event_count(ledger)
    first = Note("the first click", key="one approval")
    second = Note("the second click", key="one approval")
    with ThreadPoolExecutor(3) as pool:
        with write_lock_held(ledger.settings):
            rotation = rotation_blocked_behind_the_lock(ledger, pool)
            saves = [pool.submit(ledger.save, note) for note in (first, second)]
            wait_until_asked(ledger, 3)
        rotation.result()
        outcomes = [_outcome(save) for save in saves]
    assert outcomes[0] == "stored"
    assert outcomes[1] == "IntegrityError"
    stored = ledger.recorder.select_events(first.id)
    assert [(e.originator_version, b"the first click" in e.state) for e in stored] == [(1, True)]
    assert_verified_log(ledger, before + 2)


def test_a_group_refused_by_the_log_is_written_again_one_by_one_failing_only_the_faulty(
    ledger,
):
    before = event_count(ledger)
    good, faulty, other = Note("good"), Note("faulty"), Note("other")
    # A stray leaf holds the faulty note's place in the leaves table: its leaf is refused.
    _insert_stray_leaf(ledger.settings, faulty.id)
    with ThreadPoolExecutor(4) as pool:
        with write_lock_held(ledger.settings):
            rotation = rotation_blocked_behind_the_lock(ledger, pool)
            saves = [pool.submit(ledger.save, note) for note in (good, faulty, other)]
            wait_until_asked(ledger, 4)
        rotation.result()
        outcomes = [_outcome(save) for save in saves]
    assert outcomes == ["stored", "LogWriteError", "stored"]
    assert ledger.recorder.select_events(faulty.id) == []
    _delete_stray_leaf(ledger.settings)
    assert_verified_log(ledger, before + 3)


def test_concurrent_approvals_of_one_agreement_in_one_group_answer_with_the_same_approval(
    ledger, operator
):
    ledger.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    agreement = ledger.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    before = event_count(ledger)
    clicks = 6

    def approve(n: int) -> tuple[UUID, int, bool]:
        approval, approved_now = ledger.approve(
            cvr=AARHUS,
            version_id=agreement.id,
            actor=signatory(person_uuid=f"urn:uuid:00000000-0000-4000-8000-{n:012d}"),
            authentication=login(ledger, f"_click-{n}"),
            ip="192.0.2.1",
            user_agent="test",
        )
        return approval.id, approval.version, approved_now

    with ThreadPoolExecutor(clicks + 1) as pool:
        with write_lock_held(ledger.settings):
            rotation = rotation_blocked_behind_the_lock(ledger, pool)
            answers = [pool.submit(approve, n) for n in range(clicks)]
            wait_until_asked(ledger, clicks + 1)
        rotation.result()
        results = [answer.result() for answer in answers]
    assert len({(approval_id, version) for approval_id, version, _ in results}) == 1
    assert [approved_now for *_, approved_now in results].count(True) == 1
    approval_id, version, _ = results[0]
    seq = ledger.recorder.seq_of(approval_id, version)
    assert ledger.signed_log.entry(seq).event_type == "Approved"
    approved = [e for e in ledger.signed_log.entries() if e.event_type == "Approved"]
    assert [e.seq for e in approved] == [seq]
    assert_verified_log(ledger, before + 2)


def test_a_key_rotation_among_concurrent_writers_keeps_the_chain_verifiable(ledger):
    before = event_count(ledger)
    each, rotations = 6, 3
    barrier = threading.Barrier(WRITERS + 1, timeout=DEADLINE_SECONDS)

    def write(writer: int) -> None:
        barrier.wait()
        for n in range(each):
            ledger.save(Note(f"writer {writer} note {n}"))

    def rotate() -> list[str]:
        barrier.wait()
        return [ledger.signed_log.rotate_signing_key(Actor(Actor.OPERATOR, "t")) for _ in range(3)]

    with ThreadPoolExecutor(WRITERS + 1) as pool:
        kids = pool.submit(rotate)
        list(pool.map(write, range(WRITERS)))
        new_kids = kids.result()
    assert len(set(new_kids)) == rotations
    assert ledger.signed_log.signing_kid() == new_kids[-1]
    assert_verified_log(ledger, before + WRITERS * each + rotations)


def _outcome(save: Future[Any]) -> str:
    try:
        save.result()
    except (IntegrityError, LogWriteError) as refused:
        return type(refused).__name__
    return "stored"


def _insert_stray_leaf(settings: Settings, originator_id: UUID) -> None:
    values = (-1, originator_id, 1, b"stray", b"stray", "2026-01-01T00:00:00Z", "stray")
    if settings.database.is_sqlite:
        with sqlite3.connect(settings.database.sqlite_path) as connection:
            connection.execute(
                f"INSERT INTO {LEAVES_TABLE} VALUES (?,?,?,?,?,?,?)",
                (values[0], originator_id.hex, *values[2:]),
            )
        return
    with psycopg.connect(settings.database.url) as pg:
        pg.execute(f"INSERT INTO {LEAVES_TABLE} VALUES (%s,%s,%s,%s,%s,%s,%s)", values)


def _delete_stray_leaf(settings: Settings) -> None:
    statement = f"DELETE FROM {LEAVES_TABLE} WHERE seq = -1"
    if settings.database.is_sqlite:
        with sqlite3.connect(settings.database.sqlite_path) as connection:
            connection.execute(statement)
        return
    with psycopg.connect(settings.database.url) as pg:
        pg.execute(statement)
