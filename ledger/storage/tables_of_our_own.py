"""Tables beside the event store (the replay cache, the search index): their connections.

The library's recorders own their connections; these tables are reached with plain DB-API
connections, one per operation, a few kept open between operations whichever thread runs the
next one, so that a threaded server neither shares a connection between threads at once nor
leaves one behind per thread.

A kept connection may have been ended by the server meanwhile (a restart, an administrator):
PostgreSQL then says so on the connection before closing it, so a kept connection with
something to read is known to be dead without a round trip, and is closed instead of used.
A connection that breaks anyway before a transaction has begun is replaced and the
transaction begun again; a read is run again. What cannot be done is `DatabaseUnavailable`.
"""

import select
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ledger.evidence.database import DatabaseUnavailable, DatabaseURL

T = TypeVar("T")

IDLE_CONNECTIONS = 4
_ATTEMPTS = 3  # how often a read, or the start of a transaction, is tried on a new connection


class OwnTables:
    """Connections to the ledger's database for tables the ledger keeps itself.

    `create` holds the statements that make the tables (run once per process, before the
    first operation); on PostgreSQL they run under an advisory lock, since concurrent
    `CREATE ... IF NOT EXISTS` can still collide there.
    """

    def __init__(self, database: DatabaseURL, create: Sequence[str], lock_id: int) -> None:
        self.database = database
        self.placeholder = database.placeholder
        self._create_statements = tuple(create)
        self._lock_id = lock_id
        self._idle: list[Any] = []
        self._guard = threading.Lock()
        self._created = False

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows a read returns; run again on a new connection if its connection broke."""

        def read(connection: Any) -> list[Any]:
            cursor = connection.cursor()
            cursor.execute(statement, tuple(params))
            return list(cursor.fetchall())

        connection, found = self._on_a_working_connection(read)
        self._give_back(connection)
        return found

    def _on_a_working_connection(self, first: Callable[[Any], T]) -> tuple[Any, T]:
        """A connection on which `first(connection)` succeeded, and what it returned. A
        connection found broken is replaced and `first` run again on the new one: it must
        be a read or a BEGIN, so nothing was done on the broken one."""
        for attempt in range(1, _ATTEMPTS + 1):
            connection = self._take()
            try:
                return connection, first(connection)
            except Exception as error:
                failure = self._failed(connection, error)
                if failure is None:
                    raise
                if attempt == _ATTEMPTS:
                    raise failure from error
        raise AssertionError("unreachable")

    def run(self, work: Callable[[Any], T], *, write: bool = True) -> T:
        """`work(cursor)` in a transaction, run again from the start on a new connection when
        the connection broke before COMMIT (nothing of it was written then). `work` must do
        nothing but its statements. A connection that breaks at COMMIT leaves it unknown
        whether the transaction committed: DatabaseUnavailable with `outcome_unknown`."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self.transaction(write=write, _in_run=True) as cursor:
                    return work(cursor)
            except _Interrupted as interrupted:
                if interrupted.at_commit or attempt == _ATTEMPTS:
                    raise interrupted.failure from interrupted.__cause__
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self, *, write: bool = True, _in_run: bool = False) -> Iterator[Any]:
        """A cursor in a transaction: BEGIN IMMEDIATE (the write lock first) on SQLite; on
        PostgreSQL a plain one to write, one snapshot (REPEATABLE READ) to read.

        A connection that breaks at BEGIN is replaced (nothing was done on it). One that
        breaks in the transaction leaves nothing written; one that breaks at COMMIT leaves
        it unknown whether the transaction committed (`outcome_unknown`)."""
        if self.database.is_sqlite:
            begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        else:
            begin = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ"
        connection, _ = self._on_a_working_connection(lambda c: c.execute(begin))
        try:
            cursor = connection.cursor()
            try:
                yield cursor
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except Exception as error:
            failure = self._failed(connection, error)
            if failure is None:
                raise
            if _in_run:
                raise _Interrupted(failure, at_commit=False) from error
            raise failure from error
        except BaseException:
            connection.close()
            raise
        try:
            connection.execute("COMMIT")
        except Exception as error:
            failure = self._failed(connection, error, outcome_unknown=True)
            if failure is None:
                raise
            if _in_run:
                raise _Interrupted(failure, at_commit=True) from error
            raise failure from error
        self._give_back(connection)

    @contextmanager
    def connected(self) -> Iterator[Any]:
        """A connection for one operation: an idle one, or a new one; one that failed is
        closed rather than kept, and a connection failure is `DatabaseUnavailable`."""
        connection = self._take()
        try:
            yield connection
        except Exception as error:
            failure = self._failed(connection, error)
            if failure is None:
                raise
            raise failure from error
        except BaseException:
            connection.close()
            raise
        self._give_back(connection)

    def close(self) -> None:
        with self._guard:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self) -> Any:
        """An idle connection that the server has not ended, or a new one."""
        while True:
            with self._guard:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if self.database.is_sqlite or not _ended_by_server(connection):
                return connection
            connection.close()
        connection = self.database.connect(writable=True)
        if not self._created:
            self._create(connection)
        return connection

    def _give_back(self, connection: Any) -> None:
        with self._guard:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def _failed(
        self, connection: Any, error: Exception, *, outcome_unknown: bool = False
    ) -> DatabaseUnavailable | None:
        """Close a connection that failed; `error` as DatabaseUnavailable if it was the
        connection that failed, and then the idle ones go too (they most likely failed with
        it: a restart ends them all)."""
        connection.close()
        failure = self._unavailable(error, outcome_unknown=outcome_unknown)
        if failure is not None:
            self.close()
        return failure

    def _unavailable(
        self, error: BaseException, *, outcome_unknown: bool = False
    ) -> DatabaseUnavailable | None:
        """`error` as DatabaseUnavailable if it means the database cannot be reached or does
        not answer (a broken connection, a restart; on SQLite a lock not had in time)."""
        if isinstance(error, DatabaseUnavailable):
            return error
        if self.database.is_sqlite:
            if isinstance(error, sqlite3.OperationalError) and (
                "locked" in str(error) or "busy" in str(error)
            ):
                return DatabaseUnavailable(
                    f"{self.database.url}: {error}", outcome_unknown=outcome_unknown
                )
            return None
        import psycopg

        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
            return self.database.unavailable(error, outcome_unknown=outcome_unknown)
        return None

    def _create(self, connection: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if self.database.is_sqlite else "BEGIN")
            if not self.database.is_sqlite:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id,))
            for statement in self._create_statements:
                cursor.execute(statement)
            connection.execute("COMMIT")
        except Exception as error:
            failure = self._failed(connection, error)
            if failure is None:
                raise
            raise failure from error
        self._created = True


class _Interrupted(Exception):
    """Inside `run`: the connection broke in the transaction (`work` may run again) or at
    its COMMIT (it must not: it may have committed)."""

    def __init__(self, failure: DatabaseUnavailable, *, at_commit: bool) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.at_commit = at_commit


def _ended_by_server(connection: Any) -> bool:
    """Whether an idle PostgreSQL connection has something to read: the server has nothing
    to say on an idle connection but why it ends it, so this one is dead (or dying)."""
    if connection.closed or connection.broken:
        return True
    poller = select.poll()  # not select.select, which fails for descriptors past 1023
    poller.register(connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))
