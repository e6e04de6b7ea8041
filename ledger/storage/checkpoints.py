"""The Merkle tree over the leaves and the signed checkpoints of it, in the database.

The tree is stored as the hashes of its complete subtrees (`level`, `idx`), written once
when the subtree fills, so roots and proofs of any size read O(log n) rows. A checkpoint is
made by extending the tree over the leaves written since the last one and signing the new
root with the log's current key; the checkpointer (`ledger.checkpointer`) calls it at a
cadence, and a receipt, a proof or the newest checkpoint asked for sooner calls it at once,
so every write since the last one shares one checkpoint.

Tree hashes and checkpoints are derived from the leaves, so their transactions commit
without waiting for the disk (SQLite `synchronous = NORMAL` in WAL mode, PostgreSQL
`synchronous_commit = off`): a crash can lose the newest checkpoint, never a leaf, and the
next checkpoint is made again over the same leaves. The leaves commit durably, as the events do.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.evidence import merkle
from ledger.evidence.leaf import rfc3339
from ledger.evidence.note import Checkpoint, sign_note
from ledger.evidence.tables import CHECKPOINTS_TABLE, LEAVES_TABLE, TREE_TABLE
from ledger.keyring import KeyRing
from ledger.storage import LogWriteError

EXTEND_BATCH = 50_000


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: str


class CheckpointStore:
    """Tree and checkpoint rows through one DB-API cursor (`?` or `%s` parameters).

    `arrays`: PostgreSQL through psycopg, which takes a batch of rows as one statement over
    arrays of its columns (`unnest`) in binary form (`%b`), where a statement a row costs
    a round trip's worth of work each in the driver (about 80 us a tree node)."""

    def __init__(
        self, cursor: Any, placeholder: str, table: Callable[[str], str], *, arrays: bool = False
    ) -> None:
        self.cursor = cursor
        self.p = placeholder
        self.arrays = arrays
        self.leaves = table(LEAVES_TABLE)
        self.tree = table(TREE_TABLE)
        self.checkpoints = table(CHECKPOINTS_TABLE)

    def _rows(self, statement: str, params: Iterable[Any] = ()) -> list[Any]:
        self.cursor.execute(statement, tuple(params))
        return list(self.cursor.fetchall())

    def latest(self) -> StoredCheckpoint | None:
        rows = self._rows(
            f"SELECT size, root, note, created_at FROM {self.checkpoints} "
            "ORDER BY size DESC LIMIT 1"
        )
        return self._checkpoint(rows)

    def at(self, size: int) -> StoredCheckpoint | None:
        rows = self._rows(
            f"SELECT size, root, note, created_at FROM {self.checkpoints} WHERE size = {self.p}",
            (size,),
        )
        return self._checkpoint(rows)

    def covering(self, size: int) -> StoredCheckpoint | None:
        """The first checkpoint whose tree holds at least `size` leaves."""
        rows = self._rows(
            f"SELECT size, root, note, created_at FROM {self.checkpoints} "
            f"WHERE size >= {self.p} ORDER BY size LIMIT 1",
            (size,),
        )
        return self._checkpoint(rows)

    @staticmethod
    def _checkpoint(rows: list[Any]) -> StoredCheckpoint | None:
        if not rows:
            return None
        size, root, note, created_at = rows[0]
        return StoredCheckpoint(size, bytes(root), note, created_at)

    def read_nodes(self, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
        wanted = list(nodes)
        found: dict[merkle.Node, bytes] = {}
        for start in range(0, len(wanted), 200):
            chunk = wanted[start : start + 200]
            condition = " OR ".join([f"(level = {self.p} AND idx = {self.p})"] * len(chunk))
            params = [value for node in chunk for value in node]
            for level, idx, hash_ in self._rows(
                f"SELECT level, idx, hash FROM {self.tree} WHERE {condition}", params
            ):
                found[(level, idx)] = bytes(hash_)
        return found

    def leaves_between(self, start: int, stop: int) -> list[bytes]:
        rows = self._rows(
            f"SELECT leaf FROM {self.leaves} WHERE seq >= {self.p} AND seq < {self.p} ORDER BY seq",
            (start, stop),
        )
        return [bytes(row[0]) for row in rows]

    def is_behind(self) -> bool:
        """Whether leaves exist that no checkpoint covers yet (read without a lock)."""
        rows = self._rows(
            f"SELECT (SELECT MAX(seq) FROM {self.leaves}), "
            f"(SELECT MAX(size) FROM {self.checkpoints})"
        )
        last_seq, size = rows[0]
        return last_seq is not None and (size or 0) <= last_seq

    def _insert_nodes(self, nodes: dict[merkle.Node, bytes]) -> None:
        if self.arrays:
            self.cursor.execute(
                f"INSERT INTO {self.tree} (level, idx, hash) "
                "SELECT * FROM unnest(%b::integer[], %b::bigint[], %b::bytea[])",
                (
                    [level for level, _ in nodes],
                    [idx for _, idx in nodes],
                    list(nodes.values()),
                ),
            )
            return
        self.cursor.executemany(
            f"INSERT INTO {self.tree} (level, idx, hash) VALUES ({self.p}, {self.p}, {self.p})",
            [(level, idx, hash_) for (level, idx), hash_ in nodes.items()],
        )

    def extend(self, keyring: KeyRing) -> StoredCheckpoint | None:
        """Grow the tree over the leaves since the last checkpoint and sign a new one.

        Call it holding the database's checkpoint lock; None when nothing is new.
        """
        latest = self.latest()
        size = latest.size if latest else 0
        start, next_kid = size, ""  # then the kid the last leaf read names
        while True:
            rows = self._rows(
                f"SELECT seq, leaf, next_kid FROM {self.leaves} WHERE seq >= {self.p} "
                f"ORDER BY seq LIMIT {self.p}",
                (size, EXTEND_BATCH),
            )
            if not rows:
                break
            for offset, row in enumerate(rows):
                if row[0] != size + offset:
                    raise LogWriteError(
                        f"the log has no leaf at seq {size + offset}; run `ledger verify`"
                    )
            hashes = [merkle.leaf_hash(bytes(row[1])) for row in rows]
            nodes = merkle.complete_subtrees(hashes, size, self.read_nodes)
            self._insert_nodes(nodes)
            size += len(rows)
            next_kid = rows[-1][2]
        if size == start:
            return None
        key = keyring.signing_key(next_kid)
        root = merkle.root(size, self.read_nodes)
        note = sign_note(Checkpoint(key.name, size, root).text(), [key])
        created_at = rfc3339(datetime.now(UTC))
        self.cursor.execute(
            f"INSERT INTO {self.checkpoints} (size, root, note, created_at) "
            f"VALUES ({self.p}, {self.p}, {self.p}, {self.p})",
            (size, root, note, created_at),
        )
        return StoredCheckpoint(size, root, note, created_at)
