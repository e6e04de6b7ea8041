"""Recorders that write each stored event's signed leaf in the event's own transaction.

`eventsourcing` chooses the infrastructure by the `PERSISTENCE_MODULE` setting; the modules
`ledger.storage.sqlite` and `ledger.storage.postgres` each offer a `Factory` whose
application recorder is the library's, extended to write leaves.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from ledger.config import KEYS_DIR_SETTING
from ledger.evidence.leaf import GENESIS_PREV, chain_hash, rfc3339, sign_leaf
from ledger.keyring import KeyRing


class LogWriteError(RuntimeError):
    """The database refused an event's leaf; the event was not stored either.

    Distinct from the library's IntegrityError, which means a concurrent writer stored
    the aggregate's next version first.
    """


@dataclass(frozen=True)
class LastLeaf:
    seq: int
    leaf_hash: bytes
    next_kid: str


@dataclass(frozen=True)
class LogRecord:
    """A stored event at its place in the log."""

    seq: int
    recorded_at: str
    leaf: bytes
    stored_event: StoredEvent


def select_log_statement(
    events: str, leaves: str, placeholder: str, *, since: bool, until: bool
) -> str:
    """Events with their leaves in `seq` order after a given `seq`, optionally in a time range."""
    conditions = [f"l.seq > {placeholder}"]
    if since:
        conditions.append(f"l.recorded_at >= {placeholder}")
    if until:
        conditions.append(f"l.recorded_at < {placeholder}")
    return (
        f"{_SELECT_LOG.format(events=events, leaves=leaves)} "
        f"WHERE {' AND '.join(conditions)} ORDER BY l.seq LIMIT {placeholder}"
    )


def select_log_at_statement(events: str, leaves: str, placeholder: str, count: int) -> str:
    """Events with their leaves at `count` given `seq` numbers, in `seq` order."""
    places = ", ".join([placeholder] * count)
    return (
        f"{_SELECT_LOG.format(events=events, leaves=leaves)} "
        f"WHERE l.seq IN ({places}) ORDER BY l.seq"
    )


_SELECT_LOG = (
    "SELECT l.seq, l.recorded_at, l.leaf, e.originator_id, e.originator_version, "
    "e.topic, e.state FROM {leaves} l JOIN {events} e "
    "ON e.originator_id = l.originator_id AND e.originator_version = l.originator_version"
)


@dataclass(frozen=True)
class LeafRow:
    seq: int
    originator_id: UUID
    originator_version: int
    leaf: bytes
    leaf_hash: bytes
    recorded_at: str
    next_kid: str

    def values(self, stored_id: object) -> tuple[object, ...]:
        """The row in the leaves table's column order, with the id as the database keeps it."""
        return (
            self.seq,
            stored_id,
            self.originator_version,
            self.leaf,
            self.leaf_hash,
            self.recorded_at,
            self.next_kid,
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeafWriter:
    """Signs the leaves for a batch of stored events, chained after the log's last leaf.

    A batch that rotates the key is signed with the old key; its last leaf names the new
    key as `next_kid`, which every process reads with the last leaf, so all writers switch
    in the same transaction that records the rotation.
    """

    def __init__(self, keyring: KeyRing, clock: Callable[[], datetime] = _utc_now) -> None:
        self.keyring = keyring
        self.clock = clock  # when a batch is recorded; a fixed one pins a leaf's bytes in tests

    @classmethod
    def from_env(cls, env: Environment) -> "LeafWriter":
        directory = env.get(KEYS_DIR_SETTING)
        if not directory:
            raise OSError(f"{KEYS_DIR_SETTING} is not set: the recorder cannot sign leaves")
        return cls(KeyRing.from_env(Path(directory), env))

    def leaves_for(
        self,
        stored_events: Sequence[StoredEvent],
        last: LastLeaf | None,
        rotate_to: str | None = None,
    ) -> list[LeafRow]:
        if last is None:
            key = self.keyring.first_signing_key()
            seq, prev = 0, GENESIS_PREV
        else:
            key = self.keyring.signing_key(last.next_kid)
            seq, prev = last.seq + 1, last.leaf_hash.hex()
        if rotate_to is not None:
            self.keyring.signing_key(rotate_to)  # the new key must be usable before it is named
        recorded_at = rfc3339(self.clock())
        rows = []
        for position, stored in enumerate(stored_events):
            originator_id = stored.originator_id
            if not isinstance(originator_id, UUID):
                originator_id = UUID(originator_id)
            leaf = sign_leaf(
                seq=seq,
                originator_id=str(originator_id),
                originator_version=stored.originator_version,
                topic=stored.topic,
                payload=stored.state,
                prev=prev,
                recorded_at=recorded_at,
                key=key,
            )
            leaf_hash = chain_hash(leaf)
            is_last = position == len(stored_events) - 1
            next_kid = rotate_to if (is_last and rotate_to) else key.kid
            rows.append(
                LeafRow(
                    seq,
                    originator_id,
                    stored.originator_version,
                    leaf,
                    leaf_hash,
                    recorded_at,
                    next_kid,
                )
            )
            seq, prev = seq + 1, leaf_hash.hex()
        return rows
