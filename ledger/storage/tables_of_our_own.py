"""Tables beside the event store (the replay cache, the search index): their connections.

The library's recorders own their connections; these tables are reached with plain DB-API
connections, one per operation, a few kept open between operations whichever thread runs the
next one, so that a threaded server neither shares a connection between threads at once nor
leaves one behind per thread.
"""

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ledger.evidence.database import DatabaseURL

IDLE_CONNECTIONS = 4


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
        with self.connected() as connection:
            cursor = connection.cursor()
            cursor.execute(statement, tuple(params))
            return list(cursor.fetchall())

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Any]:
        """A cursor in a transaction: BEGIN IMMEDIATE (the write lock first) on SQLite; on
        PostgreSQL a plain one to write, one snapshot (REPEATABLE READ) to read."""
        with self.connected() as connection:
            if self.database.is_sqlite:
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            else:
                connection.execute("BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ")
            try:
                yield connection.cursor()
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def connected(self) -> Iterator[Any]:
        """A connection for one operation: an idle one, or a new one; one that failed is
        closed rather than kept."""
        with self._guard:
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self.database.connect(writable=True)
            if not self._created:
                self._create(connection)
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        with self._guard:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._guard:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _create(self, connection: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE" if self.database.is_sqlite else "BEGIN")
        try:
            if not self.database.is_sqlite:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id,))
            for statement in self._create_statements:
                cursor.execute(statement)
        except BaseException:
            connection.execute("ROLLBACK")
            connection.close()
            raise
        connection.execute("COMMIT")
        self._created = True
