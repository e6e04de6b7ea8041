"""The signed log of the ledger's events: its keys, checkpoints, proofs and receipts.

What an auditor relies on reads here, apart from the business commands of `LedgerApp`.
Every leaf is written by the recorder in its event's transaction; this service signs the
checkpoints over them, proves events in them, rotates the key that signs them, and reads
the events back in log order.
"""

import copy
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Mapper

from ledger.config import TsaSettings
from ledger.domain import COLLEAGUE, LOG_KEYS_ID, DomainError, LogKeys, RoleAssignment
from ledger.evidence import merkle
from ledger.evidence.bundle import Receipt
from ledger.evidence.cosignature import WitnessEntry
from ledger.evidence.personal import REDACTED_MARK
from ledger.identity import Actor
from ledger.keyring import KeyRing
from ledger.storage import LastLeaf, LogRecord
from ledger.storage.checkpoints import CheckpointStore, StoredCheckpoint
from ledger.storage.cosignatures import CosignatureStore
from ledger.storage.recorder import SignedLogRecorder
from ledger.storage.timestamps import TimestampStore

T = TypeVar("T")
logger = logging.getLogger(__name__)

_READ_AT_ONCE = 500  # seq numbers read in one query
NO_PROOF_FROM_THE_EMPTY_TREE = (
    "Der findes intet konsistensbevis fra det tomme træ (størrelse 0), for ethvert træ "
    "udvider det; den gamle størrelse skal være mindst 1."
)


@dataclass(frozen=True)
class Entry:
    """One event in the history, with its place in the signed log."""

    seq: int
    recorded_at: str
    event: DomainEventProtocol[UUID]
    leaf: bytes
    payload: bytes

    @property
    def event_type(self) -> str:
        return _type_names(type(self.event))[1]

    @property
    def aggregate_type(self) -> str:
        return _type_names(type(self.event))[0]

    @property
    def about_cvr(self) -> str | None:
        """The CVR the event itself is about, never its actor's: its own `cvr` (a colleague
        role's RoleRevoked names it), or a colleague role's one municipality (RoleGranted
        names `cvrs`), whoever granted or revoked it."""
        event = self.event
        if isinstance(event, RoleAssignment.RoleGranted) and event.role == COLLEAGUE:
            (cvr,) = event.cvrs
            return str(cvr)
        return getattr(event, "cvr", None)

    @property
    def cvr(self) -> str | None:
        """The CVR the event is searched and shown by: the one it is about, else its actor's."""
        return self.about_cvr or getattr(self.actor, "cvr", None)

    @property
    def actor(self) -> Actor | None:
        return getattr(self.event, "actor", None)

    def facts(self) -> dict[str, Any]:
        """The event's own attributes, as JSON-ready values."""
        facts = {}
        for name, value in vars(self.event).items():
            if name in (
                "originator_id",
                "originator_version",
                "timestamp",
                "originator_topic",
            ):
                continue
            facts[name] = _plain(value)
        return facts


@functools.cache
def _type_names(kind: type) -> tuple[str, str]:
    """An event class's aggregate and event names (`Approval.Approved`: Approval, Approved),
    made once per class: a page asks for them several times per event."""
    return kind.__qualname__.split(".", 1)[0], kind.__qualname__.rsplit(".", 1)[-1]


def _plain(value: Any) -> Any:
    """A value of an event as JSON-ready data: value objects (also in lists) as dicts."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if _field_names(type(value)) is None:
        return value
    return _as_dict(value)


# Values `copy.deepcopy` returns as they are, so `_as_dict` need not ask it.
_ATOMS = frozenset({str, int, float, bool, bytes, type(None), UUID})
_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None for any other type), looked up once per type: a page
    of events projects the same few value types over and over."""
    try:
        return _FIELDS[kind]
    except KeyError:
        names = tuple(f.name for f in fields(kind)) if is_dataclass(kind) else None
        _FIELDS[kind] = names
        return names


def _as_dict(value: Any) -> Any:
    """What `dataclasses.asdict` makes of a value, without its deep copy of each string and
    number (a copy of an immutable value is the value)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    names = _field_names(kind)
    if names is not None:
        return {name: _as_dict(getattr(value, name)) for name in names}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return kind(*[_as_dict(item) for item in value])
    if isinstance(value, list | tuple):
        return kind(_as_dict(item) for item in value)
    if isinstance(value, dict):
        return kind((_as_dict(k), _as_dict(v)) for k, v in value.items())
    return copy.deepcopy(value)


def as_proved(payload: bytes) -> bytes | None:
    """The payload a receipt or bundle carries: none for a format 1 payload an erasure
    redacted, which no longer hashes to its leaf (docs/evidence-format.md section 10.4)."""
    return None if REDACTED_MARK in payload else payload


class SignedLog:
    """The log's keys, checkpoints, proofs and receipts, and its events in `seq` order.

    The key events (`LogStarted`, `KeyRotated`) are saved through the application's `save`,
    so that the application stays the only place that saves and they are checkpointed like
    any other event.
    """

    def __init__(
        self,
        *,
        recorder: SignedLogRecorder,
        mapper: Mapper[UUID],
        repository: Repository[UUID],
        save: Callable[..., object],
        keyring: KeyRing,
        origin: str,
        cosignatures: CosignatureStore | None = None,
        witnesses: tuple[WitnessEntry, ...] = (),
        witness_quorum: int = 0,
        timestamps: TimestampStore | None = None,
        tsa: TsaSettings | None = None,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.repository = repository
        self.save = save
        self.keyring = keyring
        self.origin = origin
        # The witnesses asked to cosign the checkpoints (`ledger.cosigning`), how many of
        # them a checkpoint needs, and where their verified cosignatures are kept.
        self.cosignatures = cosignatures
        self.witnesses = witnesses
        self.witness_quorum = witness_quorum
        # The timestamp authority asked to timestamp the checkpoints (`ledger.timestamping`)
        # and where its checked tokens are kept.
        self.timestamps = timestamps
        self.tsa = tsa

    # The log and its keys

    def start(self, actor: Actor, *, evidence_format: int = 1) -> LogKeys | None:
        """Record the first key as the log's first event; nothing when already started.
        The first event names the evidence format the log writes from then on (a log
        started in format 1 may adopt 2 later, `adopt_format`)."""
        if self._log_keys() is not None:
            return None
        key = self.keyring.first_signing_key()
        log_keys = LogKeys(
            origin=key.name,
            verifier_key=key.verifier_key.line(),
            actor=actor,
            evidence_format=evidence_format,
        )
        try:
            self.save(log_keys)
        except IntegrityError:
            return None
        return log_keys

    def last_leaf(self) -> LastLeaf | None:
        """The log's last leaf, None while the log is empty."""
        return self.recorder.last_leaf()

    def signing_kid(self) -> str:
        last = self.recorder.last_leaf()
        return last.next_kid if last else self.keyring.first_signing_key().kid

    def rotate_signing_key(self, actor: Actor, *, existing_key: bool = False) -> str:
        """A new signing key; the rotation is recorded in a leaf signed by the old key.
        `existing_key`: the key pair made beforehand in the token (`KeyRing.create`)."""
        log_keys = self._log_keys()
        if log_keys is None:
            raise DomainError("Loggen er ikke startet; kør `ledger init`.")
        previous_kid = self.signing_kid()
        new_key = self.keyring.create(self.origin, existing=existing_key)
        log_keys.rotate(
            previous_kid=previous_kid,
            verifier_key=new_key.verifier_key.line(),
            actor=actor,
        )
        try:
            self.save(log_keys, rotate_to=new_key.kid)
        except BaseException:
            self.keyring.retire(new_key.kid)
            raise
        self.keyring.retire(previous_kid)
        return new_key.kid

    def evidence_format(self) -> int:
        """The evidence format the log writes new events in: 1 until it adopts another."""
        log_keys = self._log_keys()
        return 1 if log_keys is None else getattr(log_keys, "evidence_format", 1)

    def adopt_format(self, version: int, actor: Actor) -> bool:
        """Record that the log writes `version` of the evidence format from now on (section
        10); False when it already does. The writer of this process switches at once,
        other processes when they start."""
        log_keys = self._log_keys()
        if log_keys is None:
            raise DomainError("Loggen er ikke startet; kør `ledger init`.")
        if self.evidence_format() >= version:
            return False
        log_keys.adopt_format(version=version, actor=actor)
        self.save(log_keys)
        return True

    def _log_keys(self) -> LogKeys | None:
        try:
            log_keys: LogKeys = self.repository.get(LOG_KEYS_ID)
        except AggregateNotFoundError:
            return None
        return log_keys

    # Checkpoints and proofs

    def advance_checkpoint(self) -> StoredCheckpoint | None:
        """Sign a checkpoint over the leaves no checkpoint covers yet; None when all are."""
        return self.recorder.advance_checkpoint()

    def _advance_on_demand(self) -> None:
        """A checkpoint for an asker the cadence has not yet served. If it cannot be made,
        the asker is told what is not covered (as a DomainError) rather than why: the kind
        of failure is logged, without anything of an event."""
        try:
            self.recorder.advance_checkpoint()
        except Exception as error:
            logger.warning("no checkpoint made on demand (%s)", type(error).__name__)

    def cover(self, size: int) -> None:
        """Make the checkpoint covering the first `size` leaves now when no stored one does
        (an asker has seen a leaf before the cadence covered it, as a receipt's has). If it
        cannot be made, the asker shows what is not covered; the failure is logged."""
        if self.read_tree(lambda tree: tree.covering(size)) is None:
            self._advance_on_demand()

    def checkpoint(self) -> StoredCheckpoint | None:
        """The newest checkpoint, made first when leaves are not yet covered."""
        self.recorder.advance_checkpoint()
        return self.read_tree(lambda tree: tree.latest())

    def cosigned_note(self, checkpoint: StoredCheckpoint) -> str:
        """The checkpoint's note with the witnesses' cosignature lines after the log's own
        (C2SP: a verifier skips the lines of keys it does not know)."""
        if self.cosignatures is None:
            return checkpoint.note
        return checkpoint.note + "".join(self.cosignatures.lines(checkpoint.size))

    def cosigned_by(self, checkpoint: StoredCheckpoint) -> dict[str, int]:
        """The configured witnesses that cosigned the checkpoint, with when each did."""
        if self.cosignatures is None or not self.witnesses:
            return {}
        names = {witness.name for witness in self.witnesses}
        found = self.cosignatures.witnesses(checkpoint.size)
        return {name: at for name, at in found.items() if name in names}

    def read_tree(self, work: Callable[[CheckpointStore], T]) -> T:
        """Run `work` on the tree and checkpoints as one consistent snapshot."""
        return self.recorder.read_tree(work)

    def stored_checkpoint(self, size: int) -> StoredCheckpoint | None:
        return self.read_tree(lambda tree: tree.at(size))

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf `seq` in the checkpointed tree of `size`.

        A size no checkpoint has yet is made one at once when the log holds exactly that
        many leaves (the asker has seen a leaf before the cadence covered it)."""
        if self.stored_checkpoint(size) is None:
            self._advance_on_demand()

        def prove(tree: CheckpointStore) -> list[bytes]:
            if tree.at(size) is None:
                raise DomainError(f"Der er ingen checkpoint med størrelse {size}.")
            if not 0 <= seq < size:
                raise DomainError(f"Hændelse {seq} er ikke i et træ med størrelse {size}.")
            return merkle.inclusion_proof(seq, size, tree.read_nodes)

        return self.read_tree(prove)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 proof that checkpoint `new_size` extends checkpoint `old_size`.

        None from the empty tree: every tree extends it, so the empty proof RFC 9162 would
        leave for it proves nothing, and `merkle.verify_consistency` refuses it.
        """
        if old_size == 0:
            raise DomainError(NO_PROOF_FROM_THE_EMPTY_TREE)

        def prove(tree: CheckpointStore) -> list[bytes]:
            # The old checkpoint is the one the asker kept; the new one must be stored,
            # which means every complete subtree within it is.
            if tree.at(new_size) is None:
                raise DomainError(f"Der er ingen checkpoint med størrelse {new_size}.")
            if not 0 <= old_size <= new_size:
                raise DomainError("Den gamle størrelse skal være mindre end den nye.")
            return merkle.consistency_proof(old_size, new_size, tree.read_nodes)

        return self.read_tree(prove)

    def seq_of(self, originator_id: UUID, version: int) -> int:
        """The place in the log of an aggregate's event."""
        return self.recorder.seq_of(originator_id, version)

    def receipt(self, seq: int, size: int | None = None) -> Receipt:
        """Everything that proves event `seq` on its own (docs/evidence-format.md section 5).

        The same every time it is asked for: its checkpoint is the first stored one that
        covers the event (made at once if none does yet), so a receipt downloaded twice is
        the same receipt. `size` asks for it in a later stored checkpoint instead, one the
        holder has seen (`GET /api/v1/checkpoint`) and wants the event proved in. The
        checkpoint comes with the witnesses' cosignatures kept of it: a receipt of a
        checkpoint the witnesses cosign after it was first fetched carries them from then on
        (witnesses cosign the newest checkpoint, so `size` of a cosigned one asks for them)."""
        record = self._record(seq)
        if record is None:
            raise DomainError(f"Hændelse {seq} findes ikke.")
        if size is not None and size <= seq:
            raise DomainError(f"Hændelse {seq} er ikke i et træ med størrelse {size}.")
        if self.read_tree(lambda tree: tree.covering(seq + 1)) is None:
            self._advance_on_demand()

        def prove(tree: CheckpointStore) -> tuple[Receipt, int]:
            checkpoint = tree.covering(seq + 1) if size is None else tree.at(size)
            if checkpoint is None and size is not None:
                raise DomainError(f"Der er ingen checkpoint med størrelse {size}.")
            if checkpoint is None:
                raise DomainError("Hændelsen er endnu ikke dækket af en checkpoint; prøv igen.")
            return Receipt(
                leaf=record.leaf,
                payload=as_proved(record.stored_event.state),
                checkpoint=self.cosigned_note(checkpoint),
                inclusion=merkle.inclusion_proof(seq, checkpoint.size, tree.read_nodes),
                keys=[key.line() for key in self.keyring.verifier_keys().values()],
            ), checkpoint.size

        receipt, proved_in = self.read_tree(prove)
        # The TSA's token of its checkpoint, when it has one (kept once checked).
        token = self.timestamp_token(proved_in)
        return receipt if token is None else replace(receipt, timestamp=token)

    def timestamp_token(self, size: int) -> bytes | None:
        """The timestamp authority's token of checkpoint `size`, None when it has none."""
        return None if self.timestamps is None else self.timestamps.token(size)

    # Reading the log

    def entries(
        self,
        *,
        after: int = -1,
        since: str | None = None,
        until: str | None = None,
        page_size: int = 500,
    ) -> Iterator[Entry]:
        """Every event with its `seq`, oldest first, read a page at a time."""
        while True:
            records = self.recorder.select_log(
                after=after, limit=page_size, since=since, until=until
            )
            yield from self._entries(records)
            if len(records) < page_size:
                return
            after = records[-1].seq

    def entry(self, seq: int) -> Entry | None:
        """The event at `seq` in the log, if there is one."""
        record = self._record(seq)
        return None if record is None else self._entry(record)

    def _record(self, seq: int) -> LogRecord | None:
        if seq < 0:
            return None
        records = self.recorder.select_log(after=seq - 1, limit=1)
        return records[0] if records and records[0].seq == seq else None

    def entries_at(self, seqs: Iterable[int]) -> list[Entry]:
        """The events at these `seq` numbers, oldest first; a `seq` not in the log is left out."""
        wanted = sorted(set(seqs))
        entries: list[Entry] = []
        for start in range(0, len(wanted), _READ_AT_ONCE):
            chunk = wanted[start : start + _READ_AT_ONCE]
            entries.extend(self._entries(self.recorder.select_log_at(chunk)))
        return entries

    def _entries(self, records: Sequence[LogRecord]) -> list[Entry]:
        """The entries of these records, decoded together: a mapper that reads something
        beside each event (the openings of personal values, section 10) reads it once for
        all of them."""
        decode_all = getattr(self.mapper, "to_domain_events", None)
        if decode_all is None:
            return [self._entry(record) for record in records]
        events = decode_all([record.stored_event for record in records])
        return [
            Entry(record.seq, record.recorded_at, event, record.leaf, record.stored_event.state)
            for record, event in zip(records, events, strict=True)
        ]

    def _entry(self, record: LogRecord) -> Entry:
        return Entry(
            record.seq,
            record.recorded_at,
            self.mapper.to_domain_event(record.stored_event),
            record.leaf,
            record.stored_event.state,
        )
