"""Tokens that may be used once, shared by every process and host using the database.

The SAML login keeps assertion IDs and request IDs here until they expire: a replayed
assertion, or a second response to one request, finds its token already used.
"""

import datetime
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.evidence.database import DatabaseURL

TABLE = "ledger_used_once"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " kind TEXT NOT NULL,"
    " token TEXT NOT NULL,"
    " expires_at BIGINT NOT NULL,"
    " PRIMARY KEY (kind, token))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_expires ON {TABLE} (expires_at)",
)


class UsedOnce:
    """`first_use(kind, token, expires_at)` is True exactly once per unexpired token."""

    def __init__(self, database: DatabaseURL) -> None:
        self.database = database
        self._local = threading.local()
        self._created = False

    def first_use(self, kind: str, token: str, expires_at: datetime.datetime) -> bool:
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        p = self.database.placeholder
        connection = self._connection()
        with _transaction(connection, self.database):
            cursor = connection.cursor()
            cursor.execute(f"DELETE FROM {TABLE} WHERE expires_at < {p}", (now,))
            cursor.execute(
                f"INSERT INTO {TABLE} (kind, token, expires_at) VALUES ({p}, {p}, {p}) "
                "ON CONFLICT (kind, token) DO NOTHING",
                (kind, token, int(expires_at.timestamp()) + 1),
            )
            return cursor.rowcount == 1

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        if not self._created:
            with _transaction(connection, self.database):
                if not self.database.is_sqlite:
                    # concurrent CREATE ... IF NOT EXISTS can still collide on PostgreSQL
                    connection.execute("SELECT pg_advisory_xact_lock(7301944)")
                for statement in _CREATE:
                    connection.cursor().execute(statement)
            self._created = True
        return connection

    def _connect(self) -> Any:
        db = self.database
        if db.is_sqlite:
            import sqlite3

            assert db.sqlite_path is not None
            connection = sqlite3.connect(db.sqlite_path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            return connection
        import psycopg

        return psycopg.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            password=db.password,
            dbname=db.dbname,
            autocommit=True,
        )


@contextmanager
def _transaction(connection: Any, database: DatabaseURL) -> Iterator[None]:
    """BEGIN IMMEDIATE on SQLite (take the write lock first), BEGIN on PostgreSQL."""
    connection.execute("BEGIN IMMEDIATE" if database.is_sqlite else "BEGIN")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
