"""The timestamp authority's tokens of the log's checkpoints, kept beside the checkpoints.

Each row is the RFC 3161 token (DER) of the stored checkpoint of one size, kept only after
the log checked it against its request and the TSA trust anchors (`ledger.timestamping`).
A checkpoint has at most one: the first kept stays, as another process of the log may have
had the same checkpoint timestamped at the same moment.
"""

from datetime import UTC, datetime
from typing import Any

from ledger.evidence.database import DatabaseURL
from ledger.evidence.timestamp import Timestamp
from ledger.storage.tables_of_our_own import OwnTables

TABLE = "ledger_timestamps"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " size BIGINT NOT NULL PRIMARY KEY,"
    " stamped_at BIGINT NOT NULL,"
    " tsa TEXT NOT NULL,"
    " token {blob} NOT NULL)",
)
_CREATE_LOCK = int.from_bytes(b"ledgerstamps", "big") >> 33


class TimestampStore:
    """Checked timestamp tokens by checkpoint size."""

    def __init__(self, database: DatabaseURL) -> None:
        blob = "BLOB" if database.is_sqlite else "BYTEA"
        self.tables = OwnTables(
            database, [statement.format(blob=blob) for statement in _CREATE], _CREATE_LOCK
        )

    def add(self, size: int, timestamp: Timestamp) -> None:
        """Keep the token of checkpoint `size`; a first one stays."""
        p = self.tables.placeholder

        def insert(cursor: Any) -> None:
            cursor.execute(
                f"INSERT INTO {TABLE} (size, stamped_at, tsa, token) "
                f"VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (size) DO NOTHING",
                (size, int(timestamp.time.timestamp()), timestamp.tsa, timestamp.token),
            )

        self.tables.run(insert)

    def token(self, size: int) -> bytes | None:
        """The token of checkpoint `size`, None when it has none."""
        p = self.tables.placeholder
        rows = self.tables.rows(f"SELECT token FROM {TABLE} WHERE size = {p}", (size,))
        return bytes(rows[0][0]) if rows else None

    def stamped(self, size: int) -> tuple[datetime, str] | None:
        """When checkpoint `size` was timestamped and by which TSA, None when it was not."""
        p = self.tables.placeholder
        rows = self.tables.rows(f"SELECT stamped_at, tsa FROM {TABLE} WHERE size = {p}", (size,))
        if not rows:
            return None
        return datetime.fromtimestamp(int(rows[0][0]), UTC), str(rows[0][1])

    def newest(self) -> tuple[int, datetime] | None:
        """The largest timestamped size and when its token was made, None before the first."""
        rows = self.tables.rows(f"SELECT size, stamped_at FROM {TABLE} ORDER BY size DESC LIMIT 1")
        if not rows:
            return None
        return int(rows[0][0]), datetime.fromtimestamp(int(rows[0][1]), UTC)

    def close(self) -> None:
        self.tables.close()
