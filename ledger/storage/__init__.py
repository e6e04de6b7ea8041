"""Recorders that write each stored event's signed leaf in the event's own transaction.

`eventsourcing` chooses the infrastructure by the `PERSISTENCE_MODULE` setting; the modules
`ledger.storage.sqlite` and `ledger.storage.postgres` each offer a `Factory` whose
application recorder is the library's, extended to write leaves.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from ledger.config import KEYS_DIR_SETTING
from ledger.evidence.leaf import GENESIS_PREV, rfc3339, sign_chain
from ledger.keyring import KeyRing


class LogWriteError(RuntimeError):
    """The database refused an event's leaf; the event was not stored either.

    Distinct from the library's IntegrityError, which means a concurrent writer stored
    the aggregate's next version first.
    """


@dataclass(frozen=True)
class RowsBeside:
    """Rows of a table beside the event store that belong to one stored event: `statement`
    (in the database's placeholders) run for each of `rows`."""

    statement: str
    rows: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class StoredEventWithRows(StoredEvent):
    """A stored event whose rows beside it (the openings of its personal data's
    commitments, `ledger.personal_data`) the recorder writes in the event's own transaction:
    they are stored if and only if the event is."""

    beside: RowsBeside | None = None


def rows_beside(stored_events: Sequence[StoredEvent]) -> dict[str, list[tuple[object, ...]]]:
    """The rows beside these events, by statement, in the events' order."""
    found: dict[str, list[tuple[object, ...]]] = {}
    for event in stored_events:
        beside = getattr(event, "beside", None)
        if beside is not None:
            found.setdefault(beside.statement, []).extend(beside.rows)
    return found


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


class LeafRow(NamedTuple):
    """One row of the leaves table as a write makes it (a tuple: a write makes one a leaf)."""

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


class WrittenSeqs:
    """The `seq` of each leaf this process committed lately, by aggregate id and version.

    A request that has just saved asks for its event's place in the log (the receipt it
    redirects to); the writer knows it already, so that answer needs no read of its own. A
    committed leaf's `seq` never changes, so what is kept stays true; only the last few
    thousand are kept, and any other is read from the leaves table as before.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._seqs: dict[tuple[UUID, int], int] = {}

    def remember(self, rows: Sequence["LeafRow"]) -> None:
        """Called only once the transaction that wrote `rows` has committed."""
        if len(self._seqs) + len(rows) > self._size:
            self._seqs = {}
        self._seqs.update(((row.originator_id, row.originator_version), row.seq) for row in rows)

    def get(self, originator_id: UUID, version: int) -> int | None:
        return self._seqs.get((originator_id, version))


def _uuid(originator_id: object) -> UUID:
    return originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))


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
        kid = key.kid
        ids = [_uuid(stored.originator_id) for stored in stored_events]
        signed = sign_chain(
            (
                (str(originator_id), stored.originator_version, stored.topic, stored.state)
                for originator_id, stored in zip(ids, stored_events, strict=True)
            ),
            seq=seq,
            prev=prev,
            recorded_at=recorded_at,
            key=key,
        )
        rows = [
            LeafRow(
                seq + position,
                originator_id,
                stored.originator_version,
                leaf,
                leaf_hash,
                recorded_at,
                kid,
            )
            for position, (originator_id, stored, (leaf, leaf_hash)) in enumerate(
                zip(ids, stored_events, signed, strict=True)
            )
        ]
        if rotate_to and rows:  # the batch's last leaf names the key every next one uses
            rows[-1] = rows[-1]._replace(next_kid=rotate_to)
        return rows
