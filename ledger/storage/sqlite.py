"""SQLite storage: the library's recorder, writing each event's leaf in its transaction.

Concurrent writes of one process are combined (`ledger.storage.group_commit`): SQLite has
one writer at a time, and each commit waits for an fsync of the WAL, so threads that would
queue for the write lock one by one share one transaction and one fsync instead.
"""

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

import eventsourcing.sqlite as library
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
)
from eventsourcing.utils import Environment, EnvType

from ledger.evidence.tables import CHECKPOINTS_TABLE, EVENTS_TABLE, LEAVES_TABLE, TREE_TABLE
from ledger.storage import (
    LastLeaf,
    LeafWriter,
    LogRecord,
    LogWriteError,
    WrittenSeqs,
    rows_beside,
    select_log_at_statement,
    select_log_statement,
)
from ledger.storage.checkpoints import CheckpointStore, StoredCheckpoint
from ledger.storage.group_commit import GroupCommit, WriteRequest, refuse_taken, spread_ids
from ledger.storage.recorder import SignedLogRecorder

T = TypeVar("T")


class _VersionTaken(Exception):
    """A group written as it was met an aggregate version that is taken: it is rolled back
    and written again with the requests that must fail found first."""


class SignedSQLiteApplicationRecorder(SQLiteApplicationRecorder, SignedLogRecorder):
    def __init__(self, datastore: SQLiteDatastore, leaf_writer: LeafWriter) -> None:
        self.leaf_writer = leaf_writer
        self.written_seqs = WrittenSeqs()
        # The leaves of the transaction this thread is writing, remembered once it commits.
        self._writing = threading.local()
        super().__init__(datastore, EVENTS_TABLE)
        self.group_commit = GroupCommit(
            self._insert_alone,
            self._insert_together,
            retry_alone=(IntegrityError, LogWriteError, DataError),
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {LEAVES_TABLE} ("
            "seq INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, "
            "leaf BLOB NOT NULL, "
            "leaf_hash BLOB NOT NULL, "
            "recorded_at TEXT NOT NULL, "
            "next_kid TEXT NOT NULL, "
            "UNIQUE (originator_id, originator_version))",
            f"CREATE INDEX IF NOT EXISTS {LEAVES_TABLE}_recorded_at "
            f"ON {LEAVES_TABLE} (recorded_at)",
            f"CREATE TABLE IF NOT EXISTS {TREE_TABLE} ("
            "level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, "
            "PRIMARY KEY (level, idx)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} ("
            "size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, "
            "created_at TEXT NOT NULL)",
        ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Write the events and their leaves in one transaction, shared with the writes of
        other threads that wait for it (a write alone is the library's, unchanged)."""
        return self.group_commit.write(stored_events, kwargs)

    def _insert_alone(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's write of one request in its own transaction."""
        self._writing.rows = ()
        notification_ids = super().insert_events(stored_events, **kwargs)
        self.written_seqs.remember(self._writing.rows)
        return notification_ids

    def _insert_together(self, group: list[WriteRequest]) -> None:
        """Write a group's requests in one transaction with one commit, refusing those
        whose aggregate versions are taken; settles each request once committed.

        A group is first written as it is: nearly always no version in it is taken, and the
        events' primary key says so at no cost. Only when it refuses one is the group
        rolled back and written again after the conflict query has found which requests
        must fail."""
        try:
            accepted, notification_ids = self._write_group(group, find_taken=False)
        except _VersionTaken:
            accepted, notification_ids = self._write_group(group, find_taken=True)
        spread_ids(accepted, notification_ids)

    def _write_group(
        self, group: list[WriteRequest], *, find_taken: bool
    ) -> tuple[list[WriteRequest], Sequence[int] | None]:
        with self.datastore.get_connection(commit=True) as conn, _translated():
            c = conn.cursor()
            # The write lock first, so that what the conflict query finds stays true.
            c.execute("BEGIN IMMEDIATE")
            self._writing.rows = ()
            try:
                accepted = refuse_taken(group, self._stored_keys(c, group)) if find_taken else group
                events = [event for request in accepted for event in request.events]
                try:
                    notification_ids = self._insert_events(c, events) if events else []
                except sqlite3.IntegrityError as error:
                    if find_taken:
                        raise
                    raise _VersionTaken from error
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        self.written_seqs.remember(self._writing.rows)
        return accepted, notification_ids

    def _stored_keys(self, c: SQLiteCursor, group: list[WriteRequest]) -> list[tuple[UUID, int]]:
        """Which of the group's aggregate versions are stored already, in one query."""
        keys = [key for request in group for key in request.versions()]
        values = ", ".join(["(?, ?)"] * len(keys))
        c.execute(
            f"SELECT e.originator_id, e.originator_version FROM (VALUES {values}) AS k "
            f"JOIN {EVENTS_TABLE} e ON e.originator_id = k.column1 "
            "AND e.originator_version = k.column2",
            [part for oid, version in keys for part in (oid.hex, version)],
        )
        return [(UUID(row[0]), row[1]) for row in c.fetchall()]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        rotate_to: str | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        # The events go in first: that takes SQLite's write lock, so the last leaf read
        # next is the last one any process will have written before this transaction.
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        for statement, beside in rows_beside(stored_events).items():
            c.executemany(statement, beside)
        last = self._last_leaf(c)
        rows = self.leaf_writer.leaves_for(stored_events, last, rotate_to)
        try:
            c.executemany(
                f"INSERT INTO {LEAVES_TABLE} VALUES (?,?,?,?,?,?,?)",
                [row.values(row.originator_id.hex) for row in rows],
            )
        except sqlite3.Error as error:
            raise LogWriteError(f"the database refused the leaf: {error}") from error
        self._writing.rows = rows
        return notification_ids

    @staticmethod
    def _last_leaf(c: SQLiteCursor) -> LastLeaf | None:
        c.execute(f"SELECT seq, leaf_hash, next_kid FROM {LEAVES_TABLE} ORDER BY seq DESC LIMIT 1")
        row = c.fetchone()
        return LastLeaf(row[0], bytes(row[1]), row[2]) if row else None

    def last_leaf(self) -> LastLeaf | None:
        with self.datastore.transaction(commit=False) as c:
            return self._last_leaf(c)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's read; all of an aggregate's events (as the repository reads an
        aggregate) in one statement without the BEGIN and ROLLBACK around it."""
        if gt is not None or lte is not None or desc or limit is not None:
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        key = originator_id.hex if isinstance(originator_id, UUID) else originator_id
        rows = self._read(f"{self.select_events_statement}ORDER BY originator_version ASC", [key])
        return [
            StoredEvent(
                originator_id=self.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in rows
        ]

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates, in one statement."""
        places = ", ".join(["?"] * len(originator_ids))
        rows = self._read(
            "SELECT originator_id, originator_version, topic, state "
            f"FROM {EVENTS_TABLE} WHERE originator_id IN ({places}) "
            "ORDER BY originator_id, originator_version",
            [originator_id.hex for originator_id in originator_ids],
        )
        return [
            StoredEvent(
                originator_id=self.convert_originator_id(row[0]),
                originator_version=row[1],
                topic=row[2],
                state=row[3],
            )
            for row in rows
        ]

    def _read(self, statement: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one SELECT, run in autocommit mode: on SQLite one statement reads one
        consistent snapshot by itself, so the library's BEGIN and ROLLBACK around a read of
        one statement are two statements more and nothing else."""
        with self.datastore.get_connection(commit=False) as conn, _translated():
            cursor = conn.cursor()
            try:
                cursor.execute(statement, params)
                return list(cursor.fetchall())
            finally:
                cursor.sqlite_cursor.close()

    def select_log(
        self,
        *,
        after: int = -1,
        limit: int = 500,
        since: str | None = None,
        until: str | None = None,
    ) -> list[LogRecord]:
        statement = select_log_statement(
            EVENTS_TABLE,
            LEAVES_TABLE,
            "?",
            since=since is not None,
            until=until is not None,
        )
        params = [after, *(t for t in (since, until) if t is not None), limit]
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return [self._log_record(row) for row in c.fetchall()]

    def select_log_at(self, seqs: Sequence[int]) -> list[LogRecord]:
        """The events at the given `seq` numbers (those that exist), in `seq` order."""
        if not seqs:
            return []
        statement = select_log_at_statement(EVENTS_TABLE, LEAVES_TABLE, "?", len(seqs))
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, list(seqs))
            return [self._log_record(row) for row in c.fetchall()]

    def _log_record(self, row: Any) -> LogRecord:
        return LogRecord(
            row["seq"],
            row["recorded_at"],
            bytes(row["leaf"]),
            StoredEvent(
                originator_id=self.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            ),
        )

    def seq_of(self, originator_id: UUID, version: int) -> int:
        written = self.written_seqs.get(originator_id, version)
        if written is not None:
            return written
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT seq FROM {LEAVES_TABLE} "
                "WHERE originator_id = ? AND originator_version = ?",
                (originator_id.hex, version),
            )
            row = c.fetchone()
        if row is None:
            raise LookupError(f"no leaf for {originator_id} v{version}")
        return row[0]

    def advance_checkpoint(self) -> StoredCheckpoint | None:
        """Extend the tree and sign a checkpoint over the leaves no checkpoint covers yet."""
        if not self.read_tree(CheckpointStore.is_behind):
            return None
        with self.datastore.get_connection(commit=True) as conn:
            c = conn.cursor()
            # Derived data, committed without waiting for the disk (see checkpoints.py).
            c.execute("PRAGMA synchronous = NORMAL")
            try:
                c.execute("BEGIN IMMEDIATE")  # the write lock first: one checkpointer at a time
                try:
                    checkpoint = CheckpointStore(c, "?", str).extend(self.leaf_writer.keyring)
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
            finally:
                c.execute("PRAGMA synchronous = FULL")
            return checkpoint

    def read_tree(self, work: Callable[[CheckpointStore], T]) -> T:
        """Run `work` on the tree and checkpoints as one consistent snapshot."""
        with self.datastore.transaction(commit=False) as c:
            return work(CheckpointStore(c, "?", str))


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """The library's exceptions for sqlite3's, as its own transactions raise them."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise IntegrityError(error) from error
    except sqlite3.DataError as error:
        raise DataError(error) from error
    except sqlite3.OperationalError as error:
        raise OperationalError(error) from error
    except sqlite3.Error as error:
        raise PersistenceError(error) from error


def make_database_private(path: str) -> None:
    """The database file, and its WAL and shared-memory files, for the owner only (0600).

    The file is created 0600 before SQLite opens it; SQLite gives the WAL and -shm files it
    creates later the database file's mode, whatever the umask. Existing files are made so.
    """
    if path == ":memory:" or path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        # Not found: not made yet. Not permitted: not ours, so not ours to make private.
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(f"{path}{suffix}", 0o600)


class Factory(library.SQLiteFactory):
    """The library's factory with our recorder (the module must name only one factory)."""

    def __init__(self, env: Environment | EnvType | None):
        environment = env if isinstance(env, Environment) else Environment(env=env)
        make_database_private(environment.get(self.SQLITE_DBNAME) or "")
        super().__init__(environment)
        self.leaf_writer = LeafWriter.from_env(self.env)

    def application_recorder(self) -> SignedSQLiteApplicationRecorder:
        recorder = SignedSQLiteApplicationRecorder(self.datastore, self.leaf_writer)
        if self.env_create_table():
            recorder.create_table()
        return recorder
