"""PostgreSQL storage: the library's recorder, writing each event's leaf under its table lock.

`POSTGRES_ENABLE_DB_FUNCTIONS` must stay off: the library's database function inserts
without the table lock that keeps the chain linear across connections.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import eventsourcing.postgres as library
import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from ledger.evidence.tables import CHECKPOINTS_TABLE, EVENTS_TABLE, LEAVES_TABLE, TREE_TABLE
from ledger.storage import (
    LastLeaf,
    LeafWriter,
    LogRecord,
    LogWriteError,
    select_log_at_statement,
    select_log_statement,
)
from ledger.storage.checkpoints import CheckpointStore, StoredCheckpoint

T = TypeVar("T")

# An arbitrary, fixed advisory lock key: "ledgertb" as a 64-bit integer.
_CREATE_TABLES_LOCK = int.from_bytes(b"ledgertb", "big") >> 1
# The same for the one checkpointer at a time: "ledgerck".
_CHECKPOINT_LOCK = int.from_bytes(b"ledgerck", "big") >> 1


class SignedPostgresApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, leaf_writer: LeafWriter) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)
        self.leaf_writer = leaf_writer
        leaves = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(LEAVES_TABLE))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} ("
                "seq bigint PRIMARY KEY, "
                "originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, "
                "leaf bytea NOT NULL, "
                "leaf_hash bytea NOT NULL, "
                "recorded_at text NOT NULL, "
                "next_kid text NOT NULL, "
                "UNIQUE (originator_id, originator_version))"
            ).format(leaves)
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (recorded_at)").format(
                Identifier(f"{LEAVES_TABLE}_recorded_at"), leaves
            )
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (level integer NOT NULL, idx bigint NOT NULL, "
                "hash bytea NOT NULL, PRIMARY KEY (level, idx))"
            ).format(self._table(TREE_TABLE))
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (size bigint PRIMARY KEY, root bytea NOT NULL, "
                "note text NOT NULL, created_at text NOT NULL)"
            ).format(self._table(CHECKPOINTS_TABLE))
        )
        self.select_last_leaf_statement = SQL(
            "SELECT seq, leaf_hash, next_kid FROM {0} ORDER BY seq DESC LIMIT 1"
        ).format(leaves)
        self.events_ref = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(EVENTS_TABLE)
        )
        self.leaves_ref = leaves
        self.insert_leaf_statement = SQL(
            "INSERT INTO {0} VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(leaves)

    def _table(self, name: str) -> SQL:
        return SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(name))

    def _qualified(self, name: str) -> str:
        return f'"{self.datastore.schema}"."{name}"'

    def seq_of(self, originator_id: UUID, version: int) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT seq FROM {0} WHERE originator_id = %s AND originator_version = %s"
                ).format(self.leaves_ref),
                (originator_id, version),
            )
            row = curs.fetchone()
        if row is None:
            raise LookupError(f"no leaf for {originator_id} v{version}")
        return row["seq"]

    def advance_checkpoint(self) -> StoredCheckpoint | None:
        """Extend the tree and sign a checkpoint over the leaves no checkpoint covers yet."""
        if not self.read_tree(CheckpointStore.is_behind):
            return None
        with (
            self.datastore.transaction(commit=True) as curs,
            curs.connection.cursor(row_factory=tuple_row) as c,
        ):
            c.execute("SELECT pg_advisory_xact_lock(%s)", (_CHECKPOINT_LOCK,))
            # Derived data, committed without waiting for the disk (see checkpoints.py).
            c.execute("SET LOCAL synchronous_commit = off")
            return CheckpointStore(c, "%s", self._qualified).extend(self.leaf_writer.keyring)

    def read_tree(self, work: Callable[[CheckpointStore], T]) -> T:
        """Run `work` on the tree and checkpoints in one transaction."""
        with (
            self.datastore.transaction(commit=False) as curs,
            curs.connection.cursor(row_factory=tuple_row) as c,
        ):
            return work(CheckpointStore(c, "%s", self._qualified))

    def create_table(self) -> None:
        """Create the tables once, even when several processes start at the same moment.

        PostgreSQL's `CREATE ... IF NOT EXISTS` is not safe against a concurrent create
        (it can fail on the catalog's unique index), so creation is serialized by an
        advisory lock held on a connection of its own.
        """
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_TABLES_LOCK,))
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_TABLES_LOCK,))

    def _insert_stored_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        *,
        rotate_to: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        with curs.connection.cursor() as leaf_curs:
            leaf_curs.execute(self.select_last_leaf_statement)
            last = self._as_last_leaf(leaf_curs.fetchone())
            # Everything that can fail happens before the first INSERT: the library
            # commits the transaction even when an exception follows an INSERT here.
            rows = self.leaf_writer.leaves_for(stored_events, last, rotate_to)
            params = [row.values(row.originator_id) for row in rows]
            PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)
            try:
                # A nested pipeline block syncs at its end, so an error shows here. An
                # error on the events table (a concurrent writer won) passes on as the
                # library's IntegrityError; one on the leaves table is ours to name.
                with curs.connection.pipeline():
                    leaf_curs.executemany(self.insert_leaf_statement, params)
            except psycopg.Error as error:
                if error.diag.table_name == LEAVES_TABLE:
                    raise LogWriteError(f"the database refused the leaf: {error}") from error
                raise

    @staticmethod
    def _as_last_leaf(row: DictRow | None) -> LastLeaf | None:
        return LastLeaf(row["seq"], bytes(row["leaf_hash"]), row["next_kid"]) if row else None

    def last_leaf(self) -> LastLeaf | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_last_leaf_statement)
            return self._as_last_leaf(curs.fetchone())

    def select_log(
        self,
        *,
        after: int = -1,
        limit: int = 500,
        since: str | None = None,
        until: str | None = None,
    ) -> list[LogRecord]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            statement = select_log_statement(
                self.events_ref.as_string(conn),
                self.leaves_ref.as_string(conn),
                "%s",
                since=since is not None,
                until=until is not None,
            )
            params = [after, *(t for t in (since, until) if t is not None), limit]
            curs.execute(statement.encode(), params)
            return [self._log_record(row) for row in curs.fetchall()]

    def select_log_at(self, seqs: Sequence[int]) -> list[LogRecord]:
        """The events at the given `seq` numbers (those that exist), in `seq` order."""
        if not seqs:
            return []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            statement = select_log_at_statement(
                self.events_ref.as_string(conn), self.leaves_ref.as_string(conn), "%s", len(seqs)
            )
            curs.execute(statement.encode(), list(seqs))
            return [self._log_record(row) for row in curs.fetchall()]

    @staticmethod
    def _log_record(row: DictRow) -> LogRecord:
        return LogRecord(
            row["seq"],
            row["recorded_at"],
            bytes(row["leaf"]),
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            ),
        )


class Factory(library.PostgresFactory):
    """The library's factory with our recorder (the module must name only one factory)."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        if self.datastore.enable_db_functions:
            raise OSError(
                "POSTGRES_ENABLE_DB_FUNCTIONS must be off: it inserts events without "
                "the table lock that keeps the signed chain linear"
            )
        self.leaf_writer = LeafWriter.from_env(self.env)

    def application_recorder(self) -> SignedPostgresApplicationRecorder:
        recorder = SignedPostgresApplicationRecorder(self.datastore, self.leaf_writer)
        if self.env_create_table():
            recorder.create_table()
        return recorder
