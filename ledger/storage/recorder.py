"""What the signed log asks of a recorder, beyond what the library's recorders offer.

Both recorders (`ledger.storage.sqlite`, `ledger.storage.postgres`) declare that they offer
it, so the type checker holds each to these signatures and the signed log's calls are
checked against them.
"""

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.storage import LastLeaf, LogRecord
from ledger.storage.checkpoints import CheckpointStore, StoredCheckpoint

T = TypeVar("T")


@runtime_checkable
class SignedLogRecorder(Protocol):
    """A recorder that writes each event's leaf with the event, and keeps the tree over them."""

    def last_leaf(self) -> LastLeaf | None:
        """The log's last leaf, None while the log is empty."""
        ...

    def seq_of(self, originator_id: UUID, version: int) -> int:
        """The place in the log of an aggregate's event; LookupError when it has none."""
        ...

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates in one statement, by aggregate and then
        version: what reading each with `select_events` gives, in one read instead of one
        each."""
        ...

    def select_log(
        self,
        *,
        after: int = -1,
        limit: int = 500,
        since: str | None = None,
        until: str | None = None,
    ) -> list[LogRecord]:
        """Up to `limit` events after `seq` `after`, in `seq` order, optionally recorded
        from `since` and before `until`."""
        ...

    def select_log_at(self, seqs: Sequence[int]) -> list[LogRecord]:
        """The events at the given `seq` numbers (those that exist), in `seq` order."""
        ...

    def advance_checkpoint(self) -> StoredCheckpoint | None:
        """Extend the tree and sign a checkpoint over the leaves no checkpoint covers yet;
        None when every leaf was covered."""
        ...

    def read_tree(self, work: Callable[[CheckpointStore], T]) -> T:
        """Run `work` on the tree and checkpoints as one consistent snapshot."""
        ...
