"""Personal fields of events kept out of the hashed payload (docs/evidence-format.md
section 10): which fields are personal, the table of their openings, and the mapper that
commits them when an event is stored and opens them when it is read.

Domain events hold the values as always; only their stored form differs. A value is shown
while its opening is stored and opens its commitment, and as "slettet (persondata, seq N,
regel R)" once an erasure took it away, so every reader (pages, search, exports) gets it
without knowing of commitments.
"""

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoding
from eventsourcing.utils import get_topic

from ledger.documents import DocumentStore
from ledger.domain import PersonalData, RoleAssignment
from ledger.evidence.database import DatabaseURL
from ledger.evidence.personal import (
    KEY_BYTES,
    PERSONAL_MARK,
    PERSONAL_TYPE,
    Opening,
    commitment_of_text,
    commitments_in,
    erased_text,
    opens,
    value_text,
)
from ledger.evidence.personal import event_type as event_type_of
from ledger.evidence.tables import PERSONAL_DATA_TABLE, TIME_ERASURES_TABLE
from ledger.identity import Actor, InvalidPersonUUID, person_uuid
from ledger.storage import RowsBeside, StoredEventWithRows
from ledger.storage.tables_of_our_own import OwnTables

# The kinds of personal data, each erased by the retention rule of the same name.
NETWORK = "network"
ASSERTION = "assertion"
IDENTITY = "identity"
REFUSAL = "refusal"
KINDS = (NETWORK, ASSERTION, IDENTITY, REFUSAL)
# The kinds erased by time alone (their event's time and the rule's period): their openings
# are deleted, and no copy of them is kept elsewhere (the search index keeps no UUID of
# these kinds).
BY_TIME = (NETWORK, REFUSAL)

_APPROVED = "ledger.domain:Approval.Approved"
_NOTICE_SENT = "ledger.domain:Notice.NoticeSent"
# The personal fields of each event type beyond the acting person's own (`ACTOR_FIELDS`),
# with their kinds (the table of section 10.1).
EVENT_FIELDS: dict[str, dict[str, str]] = {
    _APPROVED: {
        "authentication.assertion_id": ASSERTION,
        "request.ip": NETWORK,
        "request.user_agent": NETWORK,
    },
    get_topic(RoleAssignment.RoleGranted): {"person_uuid": IDENTITY, "person_name": IDENTITY},
    # Events the library's @event decorator makes, named by their topics.
    "ledger.domain:RoleAssignment.RoleRevoked": {"person_uuid": IDENTITY},
    "ledger.domain:LoginRejection.LoginRejected": {"person_uuid": REFUSAL, "assertion_id": REFUSAL},
    _NOTICE_SENT: {"recipient_email": NETWORK},
    # Who set up the pupils' password policy, by name (ledger.migration, issue 15).
    "ledger.migration:Migration.FullServiceEnabled": {"pupils_set_up_by": IDENTITY},
    # On whose word staff marked a municipality's task not relevant, by name (issue 15).
    "ledger.migration:Migration.TaskMarkedNotRelevant": {"on_word_of": IDENTITY},
    # Staff's check of who granted a colleague role names the colleague (issue 15).
    "ledger.domain:RoleAssignment.GranterChecked": {"person_uuid": IDENTITY},
}
# A person's own fields in every event the person made.
ACTOR_FIELDS = {"actor.name": IDENTITY, "actor.person_uuid": IDENTITY}


def kind_of(topic: str, field: str) -> str | None:
    """The kind of personal data a field of an event of `topic` holds (None: not personal)."""
    return ACTOR_FIELDS.get(field) or EVENT_FIELDS.get(topic, {}).get(field)


# Erasure events name no one, and must stay readable: nothing of them is committed.
_NEVER = frozenset({get_topic(PersonalData.PersonalDataErased)})


class Erased(str):
    """The text shown where an erased personal value was; a `str`, so that every reader
    shows it as it shows the value, with the erasure's seq and rule for those that ask."""

    seq: int | None
    rule: str | None

    def __new__(cls, seq: int | None, rule: str | None) -> "Erased":
        text = super().__new__(cls, erased_text(seq, rule))
        text.seq, text.rule = seq, rule
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return Erased, (self.seq, self.rule)

    def __deepcopy__(self, memo: dict[int, Any]) -> "Erased":
        return self  # immutable, as a str is


def is_erased(value: Any) -> bool:
    return isinstance(value, Erased)


@dataclass(frozen=True)
class Commitment:
    """A personal value as the stored payload holds it (section 10.2)."""

    field: str
    commitment: str


class CommitmentTranscoding(Transcoding):
    type = Commitment
    name = PERSONAL_TYPE

    def encode(self, obj: Commitment) -> dict[str, str]:
        return {"field": obj.field, "commitment": obj.commitment}

    def decode(self, data: dict[str, str]) -> Commitment:
        return Commitment(data["field"], data["commitment"])


def subject_of(value: str | None) -> str | None:
    """A person UUID as the table keys subjects: bare and lower case."""
    if not value:
        return None
    try:
        return person_uuid(value)
    except InvalidPersonUUID:
        return value.strip().lower()


@dataclass(frozen=True)
class PersonalValue:
    """One personal value of an event, about to be committed."""

    field: str
    kind: str
    subject: str | None
    value: Any


def personal_values(topic: str, state: dict[str, Any]) -> list[PersonalValue]:
    """The personal values of an event's state (none of a field that is None)."""
    if topic in _NEVER:
        return []
    found: list[PersonalValue] = []
    actor = state.get("actor")
    actor_subject = None
    if isinstance(actor, Actor) and actor.kind == Actor.PERSON:
        actor_subject = subject_of(actor.person_uuid)
        for field, kind in ACTOR_FIELDS.items():
            value = getattr(actor, field.split(".", 1)[1])
            if value is not None:
                found.append(PersonalValue(field, kind, actor_subject, value))
    fields = EVENT_FIELDS.get(topic, {})
    own_subject = subject_of(state.get("person_uuid")) if "person_uuid" in fields else None
    for field, kind in fields.items():
        value = _at(state, field)
        if value is not None:
            subject = own_subject if own_subject is not None else actor_subject
            found.append(PersonalValue(field, kind, subject, value))
    return found


def _at(state: dict[str, Any], field: str) -> Any:
    head, _, rest = field.partition(".")
    value = state.get(head)
    return getattr(value, rest, None) if rest and value is not None else value


def _replaced(state: dict[str, Any], field: str, new: Any) -> None:
    head, _, rest = field.partition(".")
    if rest:
        state[head] = dataclasses.replace(state[head], **{rest: new})
    else:
        state[head] = new


@dataclass(frozen=True)
class OpeningRow:
    """A stored opening, or what is left of one after its erasure (no key, no value)."""

    commitment: str
    originator_id: str
    originator_version: int
    field: str
    kind: str
    key: bytes | None
    value: Any
    erased_seq: int | None
    rule: str | None


@dataclass(frozen=True)
class TimeErasure:
    """An erasure by a retention rule by time (`ledger.erasure`), which DELETEs the openings
    of its kind of events before its cutoff: a reader finds by it which erasure took a value
    whose opening is gone. `erased_at` is when the erasure was recorded: an event logged
    after it is not one it erased."""

    seq: int
    rule: str
    kind: str
    cutoff: datetime
    erased_at: datetime

    def took(self, kind: str, happened: datetime) -> bool:
        return kind == self.kind and happened < self.cutoff and happened < self.erased_at


FORMAT_1_TABLE = "ledger_personal_v1"
FORMAT_1_SCANNED = "ledger_personal_v1_scanned"
LOGIN_ASSERTIONS_TABLE = "ledger_login_assertions"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {PERSONAL_DATA_TABLE} ("
    " commitment TEXT PRIMARY KEY,"
    " originator_id TEXT NOT NULL,"
    " originator_version BIGINT NOT NULL,"
    " event_type TEXT NOT NULL,"
    " field TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " subject TEXT,"
    " event_time TEXT NOT NULL,"
    " opening_key TEXT,"
    " opening_value TEXT,"
    " erased_seq BIGINT,"
    " rule TEXT)",
    f"CREATE INDEX IF NOT EXISTS {PERSONAL_DATA_TABLE}_event "
    f"ON {PERSONAL_DATA_TABLE} (originator_id, originator_version)",
    f"CREATE INDEX IF NOT EXISTS {PERSONAL_DATA_TABLE}_subject ON {PERSONAL_DATA_TABLE} (subject)",
    f"CREATE INDEX IF NOT EXISTS {PERSONAL_DATA_TABLE}_due "
    f"ON {PERSONAL_DATA_TABLE} (kind, event_time)",
    # The erasures by retention rules by time, whose openings are deleted, not kept as rows
    # naming them (a reader finds the erasure of a missing opening here).
    f"CREATE TABLE IF NOT EXISTS {TIME_ERASURES_TABLE} ("
    " seq BIGINT PRIMARY KEY,"
    " rule TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " cutoff TEXT NOT NULL,"
    " erased_at TEXT NOT NULL)",
    # Where the personal values of format 1 events are (ledger.erasure.FormatOneIndex).
    f"CREATE TABLE IF NOT EXISTS {FORMAT_1_TABLE} ("
    " seq BIGINT NOT NULL,"
    " field TEXT NOT NULL,"
    " originator_id TEXT NOT NULL,"
    " originator_version BIGINT NOT NULL,"
    " event_type TEXT NOT NULL,"
    " event_time TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " subject TEXT,"
    " assertion TEXT,"
    " erased_seq BIGINT,"
    " PRIMARY KEY (seq, field))",
    f"CREATE INDEX IF NOT EXISTS {FORMAT_1_TABLE}_subject ON {FORMAT_1_TABLE} (subject)",
    f"CREATE INDEX IF NOT EXISTS {FORMAT_1_TABLE}_due ON {FORMAT_1_TABLE} (kind, event_time)",
    f"CREATE TABLE IF NOT EXISTS {FORMAT_1_SCANNED} (one INTEGER PRIMARY KEY, "
    "scanned_to BIGINT NOT NULL)",
    # The assertions kept at each login (the documents directory holds them), with whose
    # they are and when, so that one no approval names is erased by its rule or on request.
    f"CREATE TABLE IF NOT EXISTS {LOGIN_ASSERTIONS_TABLE} ("
    " sha256 TEXT PRIMARY KEY,"
    " stored_at TEXT NOT NULL,"
    " subject TEXT,"
    " assertion_value TEXT,"
    " erased_seq BIGINT,"
    " rule TEXT)",
    f"CREATE INDEX IF NOT EXISTS {LOGIN_ASSERTIONS_TABLE}_subject "
    f"ON {LOGIN_ASSERTIONS_TABLE} (subject)",
    f"CREATE INDEX IF NOT EXISTS {LOGIN_ASSERTIONS_TABLE}_stored "
    f"ON {LOGIN_ASSERTIONS_TABLE} (stored_at)",
)
_CREATE_LOCK = int.from_bytes(b"ledgerpersonal", "big") >> 49


class PersonalDataStore:
    """The openings of the log's commitments, by commitment, with their subject and kind.

    The key and the value of an opening are kept as text (the key in hex, the value as
    its JSON). An erasure naming its events (a request, the rules that follow an approval's
    end) UPDATEs them away, leaving a row saying which erasure took them that holds nothing
    about the person; a retention rule by time DELETEs its rows, and the erasure is found
    by the value's kind and its event's time among the `time_erasures`."""

    def __init__(self, database: DatabaseURL) -> None:
        self.database = database
        self.tables = OwnTables(database, _CREATE, _CREATE_LOCK)
        places = ", ".join([self.tables.placeholder] * 10)
        # Run by the recorder in the transaction of the event whose openings these are.
        self.insert_statement = (
            f"INSERT INTO {PERSONAL_DATA_TABLE} (commitment, originator_id, "
            "originator_version, event_type, field, kind, subject, event_time, opening_key, "
            f"opening_value) VALUES ({places})"
        )
        self._ready = False

    def ready(self) -> None:
        """Make the table, once, before the first opening is written beside an event."""
        if not self._ready:
            with self.tables.connected():
                pass
            self._ready = True

    def keep_login_assertion(
        self,
        documents: DocumentStore,
        assertion_xml: bytes,
        *,
        person_uuid: str,
        assertion_id: str,
        at: datetime | None = None,
    ) -> str:
        """Keep a login's decrypted assertion as evidence of the login (in the documents
        directory) and record whose it is and when, so that it is erased with the person,
        or by the rule `assertion` when no approval names it (ledger.erasure); its SHA-256."""
        sha256 = documents.put(assertion_xml)
        p = self.tables.placeholder
        row = (
            sha256,
            (at or datetime.now(UTC)).isoformat(),
            subject_of(person_uuid),
            value_text(assertion_id).decode("utf-8"),
        )
        self.tables.run(
            lambda cursor: cursor.execute(
                f"INSERT INTO {LOGIN_ASSERTIONS_TABLE} (sha256, stored_at, subject, "
                f"assertion_value) VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (sha256) DO NOTHING",
                row,
            )
        )
        return sha256

    def openings(self, commitments: Iterable[str]) -> dict[str, OpeningRow]:
        wanted = list(dict.fromkeys(commitments))
        found: dict[str, OpeningRow] = {}
        p = self.tables.placeholder
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self.tables.rows(
                f"SELECT commitment, originator_id, originator_version, field, kind, "
                f"opening_key, opening_value, erased_seq, rule FROM {PERSONAL_DATA_TABLE} "
                f"WHERE commitment IN ({', '.join([p] * len(chunk))})",
                chunk,
            )
            for row in rows:
                found[row[0]] = _opening_row(row)
        return found

    def time_erasures(self) -> list[TimeErasure]:
        """The erasures by retention rules by time, oldest first (a few a day at most)."""
        return [
            TimeErasure(
                int(seq),
                rule,
                kind,
                datetime.fromisoformat(cutoff),
                datetime.fromisoformat(erased_at),
            )
            for seq, rule, kind, cutoff, erased_at in self.tables.rows(
                f"SELECT seq, rule, kind, cutoff, erased_at FROM {TIME_ERASURES_TABLE} ORDER BY seq"
            )
        ]

    def bundle_openings(self, seq: int, payload: bytes) -> list[Opening]:
        """The openings a bundle shows of the event at `seq`: those of its payload's
        commitments that are still stored and open them (an erased value has none)."""
        _, committed = commitments_in(payload)
        if not committed:
            return []
        found = self.openings(item.commitment for item in committed)
        shown = []
        for item in committed:
            row = found.get(item.commitment)
            if (
                row is not None
                and row.key is not None
                and opens(row.key, item.field, row.value, item.commitment)
            ):
                shown.append(Opening(seq, item.field, row.key, row.value))
        return shown

    def close(self) -> None:
        self.tables.close()


def _opening_row(row: Sequence[Any]) -> OpeningRow:
    commitment_hex, oid, version, field, kind, key, value, erased_seq, rule = row
    return OpeningRow(
        commitment_hex,
        oid,
        int(version),
        field,
        kind,
        None if key is None else bytes.fromhex(key),
        None if value is None else json.loads(value),
        None if erased_seq is None else int(erased_seq),
        rule,
    )


class PersonalDataMapper(Mapper[UUID]):
    """The library's mapper, committing personal fields once the log has adopted format 2
    (`adopted`), and opening the commitments of every payload that has them."""

    def __init__(self, transcoder: Any, store: PersonalDataStore, **kwargs: Any) -> None:
        super().__init__(transcoder, **kwargs)
        self.store = store
        self._adopted = False

    @property
    def adopted(self) -> bool:
        return self._adopted

    @adopted.setter
    def adopted(self, adopted: bool) -> None:
        # The openings' table is made when the log is known to have adopted format 2 (as
        # the application starts), not inside a write, which would then wait for it.
        if adopted:
            self.store.ready()
        self._adopted = adopted

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if not self.adopted:
            return super().to_stored_event(domain_event)
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        values = personal_values(topic, state)
        if not values:
            return super().to_stored_event(domain_event)
        rows = []
        at = state["timestamp"].isoformat()
        oid, version = str(domain_event.originator_id), domain_event.originator_version
        event_type = event_type_of(topic)  # as an erasure by time names it
        keys = os.urandom(KEY_BYTES * len(values))  # each value's key, drawn in one call
        members: dict[str, dict[str, Commitment]] = {}  # of each value object, by field
        for index, item in enumerate(values):
            key = keys[index * KEY_BYTES : (index + 1) * KEY_BYTES]
            text = value_text(item.value)
            made = commitment_of_text(key, item.field, text)
            head, _, rest = item.field.partition(".")
            if rest:
                members.setdefault(head, {})[rest] = Commitment(item.field, made)
            else:
                state[head] = Commitment(item.field, made)
            rows.append(
                (
                    made,
                    oid,
                    version,
                    event_type,
                    item.field,
                    item.kind,
                    item.subject,
                    at,
                    key.hex(),
                    text.decode("utf-8"),
                )
            )
        for head, committed_members in members.items():  # one copy of each value object
            state[head] = dataclasses.replace(state[head], **committed_members)
        committed = object.__new__(type(domain_event))
        object.__setattr__(committed, "__dict__", state)
        stored = super().to_stored_event(committed)
        # The recorder writes the openings in the event's own transaction, so no stored
        # event names a commitment whose opening was never stored, and no opening is left
        # of an event that was not.
        return StoredEventWithRows(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=stored.state,
            beside=RowsBeside(self.store.insert_statement, tuple(rows)),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self.to_domain_events([stored_event])[0]

    def to_domain_events(
        self, stored_events: Sequence[StoredEvent]
    ) -> list[DomainEventProtocol[UUID]]:
        """The events, their commitments opened with one read of the openings for all of
        them (a page of the log costs one query for its personal values, not one an event)."""
        decoded = []
        wanted: list[str] = []
        for stored_event in stored_events:
            domain_event = super().to_domain_event(stored_event)
            places = []
            if PERSONAL_MARK in stored_event.state:
                places = [
                    (name, member, value)
                    for name, value in vars(domain_event).items()
                    for member, value in _commitments_of(value)
                ]
                wanted.extend(value.commitment for _, _, value in places)
            decoded.append((stored_event.topic, domain_event, places))
        found = self.store.openings(wanted) if wanted else {}
        # Read only when an opening is missing: most pages have none.
        by_time: list[TimeErasure] | None = None
        for topic, domain_event, places in decoded:
            state = vars(domain_event)
            for name, member, value in places:
                opened = _opened(value, found)
                if value.commitment not in found:
                    if by_time is None:
                        by_time = self.store.time_erasures()
                    opened = _erased_by_time(by_time, topic, value.field, state.get("timestamp"))
                _replaced(state, f"{name}.{member}" if member else name, opened)
        return [domain_event for _, domain_event, _ in decoded]


def _commitments_of(value: Any) -> list[tuple[str, Commitment]]:
    """The commitments a value of an event holds: itself, or its members' (value types)."""
    if isinstance(value, Commitment):
        return [("", value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            (member.name, getattr(value, member.name))
            for member in dataclasses.fields(value)
            if isinstance(getattr(value, member.name), Commitment)
        ]
    return []


def _erased_by_time(
    erasures: Sequence[TimeErasure], topic: str, field: str, happened: datetime | None
) -> "Erased":
    """A value whose opening is gone: erased by the first time rule that took its kind of
    value of an event at that time, or by no erasure recorded (which `ledger verify` reports
    as `personal-data-missing`)."""
    kind = kind_of(topic, field)
    if kind is not None and happened is not None:
        for erasure in erasures:
            if erasure.took(kind, happened):
                return Erased(erasure.seq, erasure.rule)
    return Erased(None, None)


def _opened(value: Commitment, found: dict[str, OpeningRow]) -> Any:
    row = found.get(value.commitment)
    if row is None:
        return Erased(None, None)
    if row.key is None:
        return Erased(row.erased_seq, row.rule)
    if not opens(row.key, value.field, row.value, value.commitment):
        return Erased(None, None)
    return row.value
