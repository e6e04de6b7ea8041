"""PostgreSQL storage: the library's recorder, writing each event's leaf under its table lock.

`POSTGRES_ENABLE_DB_FUNCTIONS` must stay off: the library's database function inserts
without the table lock that keeps the chain linear across connections.

The database may restart, or end connections, while the portal runs. A read whose connection
broke is run again on a new connection (after the pool has thrown out the other connections
that broke with it); a write whose connection broke is looked up before anything else: if
its events are stored it has committed and is reported so, if not it is written again. What
still cannot be done is `DatabaseUnavailable`, which the portal answers with 503.
"""

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import eventsourcing.postgres as library
import psycopg
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import Cursor, pq
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier
from psycopg_pool import PoolTimeout

from ledger.evidence.database import CONNECT_TIMEOUT_SECONDS, DatabaseUnavailable, unavailable
from ledger.evidence.tables import CHECKPOINTS_TABLE, EVENTS_TABLE, LEAVES_TABLE, TREE_TABLE
from ledger.storage import (
    LastLeaf,
    LeafRow,
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

# The library's errors that a database out of reach may show as (it names psycopg's).
_DATABASE_ERRORS = (OperationalError, InterfaceError, InternalError)

# An arbitrary, fixed advisory lock key: "ledgertb" as a 64-bit integer.
_CREATE_TABLES_LOCK = int.from_bytes(b"ledgertb", "big") >> 1
# The same for the one checkpointer at a time: "ledgerck".
_CHECKPOINT_LOCK = int.from_bytes(b"ledgerck", "big") >> 1
# How often an operation whose connection broke is tried, each time on a new connection.
_ATTEMPTS = 3
# How long finding out whether a write committed may wait for a writer still committing.
_OUTCOME_LOCK_TIMEOUT = "10s"


def _broken(error: Exception) -> bool:
    """Whether the library's error means that the connection broke or the server is
    restarting (or a transaction lost a deadlock or serialization race), so that the same
    operation may succeed on a new connection. A pool timeout does not: the pool has waited
    for a connection already, and the database is down."""
    cause = error.__cause__
    if isinstance(cause, PoolTimeout) or not isinstance(cause, psycopg.Error):
        return False
    if isinstance(cause, psycopg.InterfaceError):
        return True
    if cause.pgconn is not None and cause.pgconn.status == pq.ConnStatus.BAD:
        return True
    state = cause.sqlstate or ""
    if not state:
        return isinstance(cause, psycopg.OperationalError)
    return state.startswith(("08", "57P", "40")) or state == "25P03"


def _unreachable(error: Exception) -> bool:
    """Whether the error means the database cannot be reached or does not answer in time."""
    return _broken(error) or isinstance(error, (OperationalError, InterfaceError))


class SignedPostgresApplicationRecorder(PostgresApplicationRecorder, SignedLogRecorder):
    def __init__(self, datastore: PostgresDatastore, leaf_writer: LeafWriter) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)
        self.leaf_writer = leaf_writer
        self.written_seqs = WrittenSeqs()
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
        self.insert_leaves_statement = SQL(
            "INSERT INTO {0} SELECT * FROM unnest("
            "%b::bigint[], %b::uuid[], %b::bigint[], %b::bytea[], %b::bytea[], %b::text[], "
            "%b::text[])"
        ).format(leaves)
        self.select_taken_statement = SQL(
            "SELECT e.originator_id, e.originator_version FROM {0} e "
            "JOIN unnest(%s::uuid[], %s::bigint[]) AS k (originator_id, originator_version) "
            "ON e.originator_id = k.originator_id "
            "AND e.originator_version = k.originator_version"
        ).format(self.events_ref)
        self.select_events_of_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0} "
            "WHERE originator_id = ANY(%s::uuid[]) ORDER BY originator_id, originator_version"
        ).format(self.events_ref)
        # The library's insert passes the events as one array of a composite type, which
        # psycopg writes as text, escaping every value of every event in Python (about 50 us
        # an event); four arrays of plain types go in psycopg's binary form (`%b`), which
        # copies the bytes as they are. The same rows.
        self.insert_event_columns_statement = SQL(
            "INSERT INTO {0} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(self.events_ref)
        self.group_commit = GroupCommit(
            self._insert_alone,
            self._insert_requests,
            retry_alone=(IntegrityError, LogWriteError, DataError),
        )
        # psycopg renders a composed statement (SQL objects) to its text at every execute,
        # walking all its parts: the statements of every write and of the reads of every
        # request are rendered once, here, to the same text.
        self.insert_events_statement = rendered(self.insert_events_statement)
        self.lock_table_statements = [rendered(s) for s in self.lock_table_statements]
        self.notify_statement = rendered(SQL("NOTIFY {0}").format(Identifier(self.channel_name)))
        self.select_events_in_order_statement = rendered(
            self.select_events_statement + SQL(" ORDER BY originator_version ASC")
        )
        self.select_last_leaf_statement = rendered(self.select_last_leaf_statement)
        self.insert_leaves_statement = rendered(self.insert_leaves_statement)
        self.select_taken_statement = rendered(self.select_taken_statement)
        self.select_events_of_statement = rendered(self.select_events_of_statement)
        self.insert_event_columns_statement = rendered(self.insert_event_columns_statement)

    def _again(self, operation: Callable[[], T]) -> T:
        """Run a read (or an idempotent write) again when its connection broke."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return operation()
            except _DATABASE_ERRORS as error:
                if attempt < _ATTEMPTS and _broken(error):
                    self._discard_broken_connections()
                    continue
                if _unreachable(error):
                    raise self._unavailable(error) from error
                raise
        raise AssertionError("unreachable")

    def _discard_broken_connections(self) -> None:
        # The others idle in the pool most likely broke with this one (a restart ends every
        # connection): each is tested once now, instead of failing one request each later.
        self.datastore.pool.check()

    def _unavailable(
        self, error: Exception, *, outcome_unknown: bool = False
    ) -> DatabaseUnavailable:
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        where = (
            f"postgresql://{kwargs['user']}@{kwargs['host']}:{kwargs['port']}/{kwargs['dbname']}"
        )
        return unavailable(
            where,
            error.__cause__ or error,
            password=kwargs["password"],
            outcome_unknown=outcome_unknown,
        )

    # The library's reads, run again like ours (its own retry waits 0.2 s up to ten times,
    # each time on another connection of the pool, which may have broken too).

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Any:
        if gt is None and lte is None and not desc and limit is None:
            # All of an aggregate's events, as the repository reads an aggregate.
            return self._again(lambda: self._select_all_events(originator_id))
        select = PostgresApplicationRecorder.select_events.__wrapped__
        return self._again(
            lambda: select(self, originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        )

    def _select_all_events(self, originator_id: UUID | str) -> list[StoredEvent]:
        """The library's `select_events(originator_id)`, with its statement rendered once."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_events_in_order_statement, [originator_id], prepare=True)
            return _stored_events(curs.fetchall())

    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        curs.execute(self.notify_statement)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        select = PostgresApplicationRecorder.select_notifications.__wrapped__
        return self._again(lambda: select(self, *args, **kwargs))

    def max_notification_id(self) -> int | None:
        select = PostgresApplicationRecorder.max_notification_id.__wrapped__
        return self._again(lambda: select(self))

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates, in one statement (one round trip)."""

        def select() -> list[StoredEvent]:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self.select_events_of_statement, (list(originator_ids),), prepare=True)
                return _stored_events(curs.fetchall())

        return self._again(select)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Write the events and their leaves in one transaction, shared with the writes of
        other threads that wait for it (`ledger.storage.group_commit`).

        Answers as the library does: the notification IDs, or IntegrityError when another
        writer stored one of these aggregate versions first.
        """
        if not stored_events:
            return None
        return self.group_commit.write(stored_events, kwargs)

    def _insert_alone(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        request = WriteRequest(stored_events, kwargs)
        self._insert_requests([request])
        return request.answer()

    def _insert_requests(self, requests: list[WriteRequest]) -> None:
        """Write the requests in one transaction and settle each; when the connection
        breaks, find out whether that transaction committed before writing again.

        Raises only while nothing of these requests is stored: after a broken connection a
        transaction either committed all its requests or none, so a request found stored is
        never left with an exception."""
        pending = requests
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self._insert_transaction(pending)
                return
            except _DATABASE_ERRORS as error:
                if not _unreachable(error):
                    raise
                if isinstance(error.__cause__, PoolTimeout):
                    raise self._unavailable(error) from error  # nothing was sent
                self._discard_broken_connections()
                pending = self._settle_stored(pending, error)
                if not pending:
                    return
                if attempt == _ATTEMPTS or not _broken(error):
                    raise self._unavailable(error) from error
        raise AssertionError("unreachable")

    def _insert_transaction(self, requests: list[WriteRequest]) -> None:
        """One transaction in two round trips, each a pipeline of statements ending in one
        sync: first the table lock, the last leaf and (for a group) which aggregate versions
        are taken; then, signed meanwhile, the events, their leaves and the COMMIT, whose
        sync is the one psycopg sends at the pipeline's end anyway.

        The lock is held for one round trip and the signing only: the chain needs the last
        leaf, which only the lock makes final."""
        with self.datastore.get_connection() as conn:
            failure: Exception | None = None
            written: tuple[list[WriteRequest], Cursor[DictRow], list[LeafRow]] | None = None
            try:
                with conn.pipeline() as pipeline:
                    try:
                        written = self._pipelined(conn, pipeline, requests)
                    except Exception as error:
                        # Raised after the pipeline ends, as the library does: psycopg
                        # warns when a pipeline ends while an exception passes through it.
                        failure = error
            except psycopg.Error as error:
                failure = failure or error
            # An error on the events table (a concurrent writer won) passes on as the
            # library's IntegrityError; one on the leaves table is ours to name. Either may
            # be raised inside the pipeline or at its end, as the server's answers arrive.
            if isinstance(failure, psycopg.Error) and failure.diag.table_name == LEAVES_TABLE:
                refused = failure
                failure = LogWriteError(f"the database refused the leaf: {refused}")
                failure.__cause__ = refused
            if failure is not None or written is None:
                if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):
                        conn.rollback()
                raise failure or AssertionError("no write and no failure")
            accepted, events_curs, rows = written
            ids = [row["notification_id"] for row in events_curs.fetchall()] if accepted else []
            self.written_seqs.remember(rows)
            spread_ids(accepted, ids)

    def _pipelined(
        self,
        conn: psycopg.Connection[DictRow],
        pipeline: psycopg.Pipeline,
        requests: list[WriteRequest],
    ) -> tuple[list[WriteRequest], Cursor[DictRow], list[LeafRow]]:
        """Queue the transaction: the first part synced here, the second left for the
        pipeline's end. The requests to be written, the cursor of their IDs, and their
        leaves."""
        together = len(requests) > 1
        curs = conn.cursor()
        curs.execute("BEGIN")
        self._lock_table(curs)
        self._notify_channel(curs)
        last_curs = conn.cursor()
        last_curs.execute(self.select_last_leaf_statement, prepare=True)
        taken_curs = conn.cursor()
        if together:
            keys = [key for request in requests for key in request.versions()]
            taken_curs.execute(
                self.select_taken_statement,
                ([oid for oid, _ in keys], [version for _, version in keys]),
            )
        pipeline.sync()
        last = self._as_last_leaf(last_curs.fetchone())
        if together:
            taken = [(r["originator_id"], r["originator_version"]) for r in taken_curs.fetchall()]
            accepted = refuse_taken(requests, taken)
        else:
            accepted = requests
        events = [event for request in accepted for event in request.events]
        events_curs = conn.cursor()
        rows: list[LeafRow] = []
        if events:
            rotate_to = None if together else requests[0].kwargs.get("rotate_to")
            rows = self.leaf_writer.leaves_for(events, last, rotate_to)
            events_curs.execute(
                self.insert_event_columns_statement,
                (
                    [row.originator_id for row in rows],
                    [event.originator_version for event in events],
                    [event.topic for event in events],
                    [event.state for event in events],
                ),
            )
            for statement, beside in rows_beside(events).items():
                curs.executemany(statement, beside)
            columns = zip(*(row.values(row.originator_id) for row in rows), strict=True)
            curs.execute(
                self.insert_leaves_statement, [list(column) for column in columns], prepare=True
            )
        curs.execute("COMMIT")
        return accepted, events_curs, rows

    def _settle_stored(
        self, requests: list[WriteRequest], failure: Exception
    ) -> list[WriteRequest]:
        """Settle each request whose events a transaction stored (or whose places another
        writer's events hold: IntegrityError); the requests of which nothing is stored.

        The events table is locked in SHARE mode first, which waits for the EXCLUSIVE lock
        of a writer that is still committing, so the answer is final.
        """
        events = [event for request in requests for event in request.events]

        def look() -> list[Any]:
            with self.datastore.transaction(commit=False) as curs:
                curs.execute(SQL("SET LOCAL lock_timeout = {0}").format(_OUTCOME_LOCK_TIMEOUT))
                curs.execute(SQL("LOCK TABLE {0} IN SHARE MODE").format(self.events_ref))
                curs.execute(
                    SQL(
                        "SELECT originator_id, originator_version, state, notification_id "
                        "FROM {0} WHERE (originator_id, originator_version) IN "
                        "(SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
                    ).format(self.events_ref),
                    (
                        [UUID(str(e.originator_id)) for e in events],
                        [e.originator_version for e in events],
                    ),
                )
                return curs.fetchall()

        try:
            rows = self._again(look)
        except DatabaseUnavailable as lookup_failure:
            raise self._unavailable(failure, outcome_unknown=True) from lookup_failure
        found = {(UUID(str(r["originator_id"])), r["originator_version"]): r for r in rows}
        unwritten = []
        for request in requests:
            matches = [found.get(key) for key in request.versions()]
            if all(row is None for row in matches):
                unwritten.append(request)
            elif all(
                row is not None and bytes(row["state"]) == event.state
                for row, event in zip(matches, request.events, strict=True)
            ):
                request.succeed([row["notification_id"] for row in matches if row is not None])
            else:
                request.fail(IntegrityError("another writer stored these aggregate versions first"))
        return unwritten

    def _table(self, name: str) -> Composed:
        return SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(name))

    def _qualified(self, name: str) -> str:
        return f'"{self.datastore.schema}"."{name}"'

    def seq_of(self, originator_id: UUID, version: int) -> int:
        written = self.written_seqs.get(originator_id, version)
        if written is not None:
            return written

        def look() -> DictRow | None:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(
                    SQL(
                        "SELECT seq FROM {0} WHERE originator_id = %s AND originator_version = %s"
                    ).format(self.leaves_ref),
                    (originator_id, version),
                )
                return curs.fetchone()

        row = self._again(look)
        if row is None:
            raise LookupError(f"no leaf for {originator_id} v{version}")
        return row["seq"]

    def advance_checkpoint(self) -> StoredCheckpoint | None:
        """Extend the tree and sign a checkpoint over the leaves no checkpoint covers yet.

        Run again when its connection broke: extending is idempotent (it starts from what
        the tree holds, under the checkpointer's lock)."""
        if not self.read_tree(CheckpointStore.is_behind):
            return None

        def extend() -> StoredCheckpoint | None:
            with (
                self.datastore.transaction(commit=True) as curs,
                curs.connection.cursor(row_factory=tuple_row) as c,
            ):
                c.execute("SELECT pg_advisory_xact_lock(%s)", (_CHECKPOINT_LOCK,))
                # Derived data, committed without waiting for the disk (see checkpoints.py).
                c.execute("SET LOCAL synchronous_commit = off")
                return CheckpointStore(c, "%s", self._qualified, arrays=True).extend(
                    self.leaf_writer.keyring
                )

        return self._again(extend)

    def read_tree(self, work: Callable[[CheckpointStore], T]) -> T:
        """Run `work` on the tree and checkpoints in one transaction (only reads).

        The transaction ends with COMMIT, not ROLLBACK: psycopg forgets a connection's
        prepared statements at every ROLLBACK, and these connections are the writers' pool,
        so each read here (the checkpointer's, the witnesses' and the TSA's threads', a
        receipt's) would make the next write on that connection prepare its statements
        again. Committing a transaction that only read changes nothing."""

        def read() -> T:
            with (
                self.datastore.transaction(commit=True) as curs,
                curs.connection.cursor(row_factory=tuple_row) as c,
            ):
                return work(CheckpointStore(c, "%s", self._qualified))

        return self._again(read)

    def create_table(self) -> None:
        """Create the tables once, even when several processes start at the same moment.

        PostgreSQL's `CREATE ... IF NOT EXISTS` is not safe against a concurrent create
        (it can fail on the catalog's unique index), so creation is serialized by an
        advisory lock held on a connection of its own.
        """

        def create() -> None:
            with self.datastore.get_connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_TABLES_LOCK,))
                try:
                    super(SignedPostgresApplicationRecorder, self).create_table()
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_TABLES_LOCK,))

        self._again(create)

    @staticmethod
    def _as_last_leaf(row: DictRow | None) -> LastLeaf | None:
        return LastLeaf(row["seq"], bytes(row["leaf_hash"]), row["next_kid"]) if row else None

    def last_leaf(self) -> LastLeaf | None:
        def look() -> LastLeaf | None:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self.select_last_leaf_statement)
                return self._as_last_leaf(curs.fetchone())

        return self._again(look)

    def select_log(
        self,
        *,
        after: int = -1,
        limit: int = 500,
        since: str | None = None,
        until: str | None = None,
    ) -> list[LogRecord]:
        def read() -> list[LogRecord]:
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

        return self._again(read)

    def select_log_at(self, seqs: Sequence[int]) -> list[LogRecord]:
        """The events at the given `seq` numbers (those that exist), in `seq` order."""
        if not seqs:
            return []

        def read() -> list[LogRecord]:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                statement = select_log_at_statement(
                    self.events_ref.as_string(conn),
                    self.leaves_ref.as_string(conn),
                    "%s",
                    len(seqs),
                )
                curs.execute(statement.encode(), list(seqs))
                return [self._log_record(row) for row in curs.fetchall()]

        return self._again(read)

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


def rendered(statement: Any) -> Any:
    """A composed statement as the bytes psycopg would render it to (names quoted as
    PostgreSQL quotes them, UTF-8); any other statement as it is."""
    return statement.as_bytes(None) if isinstance(statement, Composable) else statement


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
        # The pool makes its connections in the background; without a timeout, one to a
        # host that does not answer would wait for as long as TCP does.
        pool_kwargs = self.datastore.pool.kwargs
        assert isinstance(pool_kwargs, dict)
        pool_kwargs["connect_timeout"] = CONNECT_TIMEOUT_SECONDS

    def application_recorder(self) -> SignedPostgresApplicationRecorder:
        recorder = SignedPostgresApplicationRecorder(self.datastore, self.leaf_writer)
        if self.env_create_table():
            recorder.create_table()
        return recorder


def _stored_events(rows: Sequence[DictRow]) -> list[StoredEvent]:
    """The library's stored events from rows of its events table."""
    return [
        StoredEvent(
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )
        for row in rows
    ]
