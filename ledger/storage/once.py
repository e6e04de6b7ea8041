"""Tokens that may be used once, shared by every process and host using the database.

The SAML login keeps assertion IDs and request IDs here until they expire: a replayed
assertion, or a second response to one request, finds its token already used.
"""

import datetime
from typing import Any

from ledger.evidence.database import DatabaseURL
from ledger.storage.tables_of_our_own import OwnTables

TABLE = "ledger_used_once"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " kind TEXT NOT NULL,"
    " token TEXT NOT NULL,"
    " expires_at BIGINT NOT NULL,"
    " PRIMARY KEY (kind, token))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_expires ON {TABLE} (expires_at)",
)
_CREATE_LOCK = int.from_bytes(b"ledgeronce", "big") >> 17


class UsedOnce:
    """`first_use(kind, token, expires_at)` is True exactly once per unexpired token."""

    def __init__(self, database: DatabaseURL) -> None:
        self.tables = OwnTables(database, _CREATE, _CREATE_LOCK)

    def first_use(self, kind: str, token: str, expires_at: datetime.datetime) -> bool:
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        p = self.tables.placeholder

        def use(cursor: Any) -> bool:
            cursor.execute(f"DELETE FROM {TABLE} WHERE expires_at < {p}", (now,))
            cursor.execute(
                f"INSERT INTO {TABLE} (kind, token, expires_at) VALUES ({p}, {p}, {p}) "
                "ON CONFLICT (kind, token) DO NOTHING",
                (kind, token, int(expires_at.timestamp()) + 1),
            )
            return cursor.rowcount == 1

        # Run again if the connection broke before COMMIT. If it broke at COMMIT, whether
        # the token was stored is unknown, and trying again could call our own use a replay:
        # DatabaseUnavailable then, and the login is neither let in nor refused.
        return self.tables.run(use)

    def close(self) -> None:
        self.tables.close()
