"""The witnesses' cosignatures of the log's checkpoints, kept beside the checkpoints.

Each row is one witness's signature line over the stored checkpoint of one size, kept only
after it was verified with that witness's key (`ledger.cosigning`). The checkpoint's note
with these lines after its own is the cosigned checkpoint: a verifier that knows only the
log's key skips them, one that trusts the witnesses counts them.
"""

from typing import Any

from ledger.evidence.cosignature import Cosignature
from ledger.evidence.database import DatabaseURL
from ledger.storage.tables_of_our_own import OwnTables

TABLE = "ledger_cosignatures"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " size BIGINT NOT NULL,"
    " witness TEXT NOT NULL,"
    " kid TEXT NOT NULL,"
    " cosigned_at BIGINT NOT NULL,"
    " line TEXT NOT NULL,"
    " PRIMARY KEY (size, witness, kid))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_witness ON {TABLE} (witness, size)",
)
_CREATE_LOCK = int.from_bytes(b"ledgercosign", "big") >> 33


class CosignatureStore:
    """Verified cosignatures by checkpoint size and witness."""

    def __init__(self, database: DatabaseURL) -> None:
        self.tables = OwnTables(database, _CREATE, _CREATE_LOCK)

    def add(self, size: int, cosignature: Cosignature) -> None:
        """Keep a witness's cosignature of checkpoint `size`; its first one stays."""
        p = self.tables.placeholder

        def insert(cursor: Any) -> None:
            cursor.execute(
                f"INSERT INTO {TABLE} (size, witness, kid, cosigned_at, line) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (size, witness, kid) DO NOTHING",
                (
                    size,
                    cosignature.witness,
                    cosignature.kid,
                    cosignature.timestamp,
                    cosignature.line,
                ),
            )

        self.tables.run(insert)

    def lines(self, size: int) -> list[str]:
        """The signature lines of the witnesses that cosigned checkpoint `size`, by name."""
        p = self.tables.placeholder
        rows = self.tables.rows(
            f"SELECT line FROM {TABLE} WHERE size = {p} ORDER BY witness, kid", (size,)
        )
        return [row[0] for row in rows]

    def witnesses(self, size: int) -> dict[str, int]:
        """The witnesses that cosigned checkpoint `size`, with the time each did."""
        p = self.tables.placeholder
        rows = self.tables.rows(
            f"SELECT witness, MIN(cosigned_at) FROM {TABLE} WHERE size = {p} GROUP BY witness",
            (size,),
        )
        return {witness: int(at) for witness, at in rows}

    def cosigned_size(self, witness: str) -> int:
        """The largest checkpoint size the witness cosigned, 0 before its first."""
        p = self.tables.placeholder
        rows = self.tables.rows(f"SELECT MAX(size) FROM {TABLE} WHERE witness = {p}", (witness,))
        return int(rows[0][0] or 0)

    def last_cosigned(self, witness: str) -> tuple[int, int] | None:
        """The largest checkpoint size the witness cosigned and when it did, None before its
        first (one row through the index on witness and size, however long the log)."""
        p = self.tables.placeholder
        rows = self.tables.rows(
            f"SELECT size, cosigned_at FROM {TABLE} WHERE witness = {p} "
            "ORDER BY size DESC, cosigned_at LIMIT 1",
            (witness,),
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def close(self) -> None:
        self.tables.close()
