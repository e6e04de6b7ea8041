"""Which process of the log asks an outside service (the witnesses, the TSA) about a checkpoint.

Every `ledger serve` worker follows the checkpoints, but one request per checkpoint and
witness is what a witness should see: the others would only add requests and 409s. As the
checkpointers take turns under one lock in the database (SQLite's write lock, a PostgreSQL
advisory lock), the followers take turns through one row per kind of asking, changed in one
short statement that the database serialises across processes and hosts. No lock is held
while a request is under way, so a slow witness keeps no writer waiting.

The row names the checkpoint size being asked about, the process asking and until when its
claim holds. A process may ask about size S when no one has asked about S yet (a larger S
than the row's: the first to come asks), when the claim is its own (it asks again, say, a
witness that was down, and so renews the claim), or when the claim has lapsed (its process
stopped or hangs: another takes over).
"""

import os
import secrets
import socket
import time
from typing import Any

from ledger.evidence.database import DatabaseURL
from ledger.storage.tables_of_our_own import OwnTables

TABLE = "ledger_asking"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " kind TEXT NOT NULL PRIMARY KEY,"
    " size BIGINT NOT NULL,"
    " holder TEXT NOT NULL,"
    " until_ms BIGINT NOT NULL)",
)
_CREATE_LOCK = int.from_bytes(b"ledgerasking", "big") >> 33


class AskingClaims:
    """`claim(kind, size)` is True for exactly one live process per kind and size."""

    def __init__(self, database: DatabaseURL, lease: float) -> None:
        if lease <= 0:
            raise ValueError("a claim must hold for a positive time")
        self.tables = OwnTables(database, _CREATE, _CREATE_LOCK)
        self.lease = lease
        self._nonce = secrets.token_hex(4)

    @property
    def holder(self) -> str:
        """This process: the pid is read at each claim, so a forked worker is another."""
        return f"{socket.gethostname()}:{os.getpid()}:{self._nonce}"

    def claim(self, kind: str, size: int) -> bool:
        """Whether this process is to ask about checkpoint `size` now; if so, the claim is
        its own for `lease` seconds more."""
        p = self.tables.placeholder
        now = int(time.time() * 1000)

        def take(cursor: Any) -> bool:
            cursor.execute(
                f"INSERT INTO {TABLE} (kind, size, holder, until_ms) VALUES ({p}, {p}, {p}, {p}) "
                "ON CONFLICT (kind) DO UPDATE SET size = excluded.size, "
                "holder = excluded.holder, until_ms = excluded.until_ms "
                f"WHERE {TABLE}.size < excluded.size OR {TABLE}.holder = excluded.holder "
                f"OR {TABLE}.until_ms < {p}",
                (kind, size, self.holder, now + int(self.lease * 1000), now),
            )
            return bool(cursor.rowcount == 1)

        return self.tables.run(take)

    def close(self) -> None:
        self.tables.close()
