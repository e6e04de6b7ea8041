"""Searching the history without reading the whole log, and checking what a search shows.

The search index is a projection of the log: one row per event with the facts people
search by (CVR, agreement version, person, event type, time), in a table of its own in
the ledger's database. It is derived data: it is caught up from the log on every read,
can be dropped and rebuilt at any time, and is never evidence. A search only chooses
`seq` numbers; the events shown are read back from the log by `seq`, and an event whose
own facts do not match the search is left out and its index row rewritten from the log.

A deleted row must not hide an event: a trigger on the index records every row deleted,
and each catch-up indexes those events again from the log, with a warning in the log.
Where the trigger could not see a deletion (a TRUNCATE, a trigger dropped) the rows up to
the highest `seq` indexed are counted (the log is gap-free, so there must be that seq + 1
of them) and the missing ones found against the log's leaves. `ledger verify` compares
every row with the event it stands for.

Beside it, in the same transactions, the aggregate projection (`ledger_aggregate_events`):
one row per event of a customer, an agreement version, a role assignment or a declaration,
naming its aggregate. It lists those aggregates (the staff pages, `/aftaler`, the agreement
names of the audit pages) without reading the log by topic: the list of ids comes from it,
the aggregates themselves are read from the event store by id. It is kept as the index is:
the same catch-up writes both, a row missing beside an index row of its event type is
derived again from the log, a rebuild redoes both, and `ledger verify` compares every row.

What is shown is checked as `ledger verify` checks a leaf (its form, signature, payload
hash, and that it names the event it stands beside), and by an inclusion proof in the
newest checkpoint. That check reads the portal's own database; an auditor's real check is
offline, on an exported bundle with keys kept out of band.
"""

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import get_topic

from ledger.application import LedgerApp
from ledger.domain import AgreementVersion, Customer, Declaration, RoleAssignment
from ledger.evidence import merkle
from ledger.evidence.database import DatabaseURL
from ledger.evidence.keys import VerifierKey
from ledger.evidence.leaf import EventFacts, LeafError, event_mismatches, parse_leaf
from ledger.evidence.note import Checkpoint, NoteError, open_checkpoint
from ledger.evidence.personal import REDACTED_MARK
from ledger.evidence.reasons import Reason
from ledger.evidence.tables import LEAVES_TABLE
from ledger.identity import parse_uuid, person_uuid, validate_cvr
from ledger.messages import quoted
from ledger.personal_data import BY_TIME, EVENT_FIELDS, is_erased, kind_of, subject_of
from ledger.signed_log import Entry
from ledger.storage.checkpoints import CheckpointStore, StoredCheckpoint
from ledger.storage.tables_of_our_own import OwnTables

logger = logging.getLogger(__name__)

TABLE = "ledger_event_index"
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PAGE = 1_000_000
# A search counts its matches up to this many; a page says "more than" beyond it, so that a
# total costs at most this many index entries however many events match.
COUNTED = 10_000
_BATCH = 500  # events indexed, or read back, per statement
# Leaf signatures found to hold that are remembered (a few pages of the largest size each).
REMEMBERED_SIGNATURES = 4096
# Inclusions of a leaf in a checkpoint's tree found to hold that are remembered (as many).
REMEMBERED_INCLUSIONS = 4096
# A catch-up that indexed this many events analyzes the tables on PostgreSQL: with no
# statistics yet (a log just imported, an index rebuilt) it walked the primary key for a
# person's or a limited auditor's page instead of their indexes, reading every row.
ANALYZE_AFTER = 10_000
_CHECK_PAGE = 2000  # index rows read at once by `check`
_COLUMNS = (
    "seq",
    "recorded_at",
    "event_type",
    "cvr",
    "agreement_version_id",
    "actor_uuid",
    "subject_uuid",
)
_INDEXED = ("cvr", "event_type", "agreement_version_id", "actor_uuid", "subject_uuid")
# Times are RFC 3339 strings of one fixed form, compared byte by byte (hence "C" collation).
_CREATE = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {TABLE} (seq INTEGER PRIMARY KEY, "
    "recorded_at TEXT NOT NULL, event_type TEXT NOT NULL, cvr TEXT, "
    "agreement_version_id TEXT, actor_uuid TEXT, subject_uuid TEXT)",
    "postgresql": f"CREATE TABLE IF NOT EXISTS {TABLE} (seq bigint PRIMARY KEY, "
    'recorded_at text COLLATE "C" NOT NULL, event_type text NOT NULL, cvr text, '
    "agreement_version_id text, actor_uuid text, subject_uuid text)",
}
_CREATE_INDEXES = (
    *(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_{column} ON {TABLE} ({column}, seq)"
        for column in _INDEXED
    ),
    f"CREATE INDEX IF NOT EXISTS {TABLE}_cvr_event_type ON {TABLE} (cvr, event_type, seq)",
    # A date range, alone or with an event type, is listed by time (see Query.by_time).
    f"CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE} (recorded_at, seq)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_event_type_time ON {TABLE} (event_type, recorded_at, seq)",
    f"DROP INDEX IF EXISTS {TABLE}_recorded_at",  # the time index before it had seq
    # An index made before refused logins' UUIDs were left out forgets them (IndexRow.of).
    f"UPDATE {TABLE} SET subject_uuid = NULL WHERE subject_uuid IS NOT NULL AND event_type IN ("
    + ", ".join(
        f"'{topic.rsplit('.', 1)[-1]}'"
        for topic, fields in EVENT_FIELDS.items()
        if fields.get("person_uuid") in BY_TIME
    )
    + ")",
)
# The people of refused logins, beside the index: the person UUID of an event whose
# `person_uuid` a rule by time erases (a refused login's) is kept here, not in the index row,
# so that the rule DELETEs these rows (by the same condition as its openings: the value's kind
# and the event's time, the time the openings keep) and rewrites no index row, while a search
# by person still finds the event until then. Derived from the log with its index row, in the
# same transaction; rebuilt and checked with it.
REFUSED = "ledger_event_index_refused"
_REFUSED_COLUMNS = ("seq", "subject_uuid", "event_time")
# The kinds of value (the rules by time) whose persons it holds.
REFUSED_KINDS = frozenset(
    kind for fields in EVENT_FIELDS.values() if (kind := fields.get("person_uuid")) in BY_TIME
)
_CREATE_REFUSED = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {REFUSED} (seq INTEGER PRIMARY KEY, "
    "subject_uuid TEXT NOT NULL, event_time TEXT NOT NULL)",
    "postgresql": f"CREATE TABLE IF NOT EXISTS {REFUSED} (seq bigint PRIMARY KEY, "
    "subject_uuid text NOT NULL, event_time text NOT NULL)",
}
_CREATE_REFUSED_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS {REFUSED}_subject ON {REFUSED} (subject_uuid, seq)",
    f"CREATE INDEX IF NOT EXISTS {REFUSED}_event_time ON {REFUSED} (event_time)",
)
# The aggregate projection: which aggregates of these kinds exist, and their events' places.
PROJECTION = "ledger_aggregate_events"
PROJECTED: dict[type, str] = {
    Customer: "customer",
    AgreementVersion: "agreement_version",
    RoleAssignment: "role_assignment",
    Declaration: "declaration",
}
_KINDS = {aggregate.__name__: kind for aggregate, kind in PROJECTED.items()}
# The event types of those aggregates as the index names them (no other aggregate uses them).
PROJECTED_EVENT_TYPES = (
    "Registered",
    "Renamed",
    "Published",
    "Retired",
    "RoleGranted",
    "RoleRevoked",
    "HandedIn",
    "Countersigned",
    "SentToAgency",
)
_PROJECTION_COLUMNS = ("seq", "kind", "originator_id", "originator_version")
_CREATE_PROJECTION = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {PROJECTION} (seq INTEGER PRIMARY KEY, "
    "kind TEXT NOT NULL, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL)",
    "postgresql": f"CREATE TABLE IF NOT EXISTS {PROJECTION} (seq bigint PRIMARY KEY, "
    "kind text NOT NULL, originator_id text NOT NULL, originator_version bigint NOT NULL)",
}
_CREATE_PROJECTION_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {PROJECTION}_kind ON {PROJECTION} (kind, originator_version, seq)"
)
# Every index or projection row deleted (or moved to another seq), recorded by a trigger on
# each, so that a catch-up finds a deleted row without counting or joining every row. A
# TRUNCATE on PostgreSQL records TRUNCATED instead: then the rows are counted. So does a
# process that finds a trigger missing (never made, or dropped) before it makes it:
# deletions meanwhile were recorded nowhere.
REMOVED = "ledger_event_index_removed"
TRUNCATED = -(2**63)
_CREATE_REMOVED = {
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {REMOVED} (seq INTEGER PRIMARY KEY)",
        f"INSERT OR IGNORE INTO {REMOVED} (seq) SELECT {TRUNCATED} WHERE NOT EXISTS "
        f"(SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = '{REMOVED}')",
        f"CREATE TRIGGER IF NOT EXISTS {REMOVED} AFTER DELETE ON {TABLE} "
        f"BEGIN INSERT OR IGNORE INTO {REMOVED} (seq) VALUES (old.seq); END",
        f"CREATE TRIGGER IF NOT EXISTS {REMOVED}_moved AFTER UPDATE OF seq ON {TABLE} "
        f"WHEN old.seq <> new.seq BEGIN INSERT OR IGNORE INTO {REMOVED} (seq) "
        "VALUES (old.seq); END",
        f"INSERT OR IGNORE INTO {REMOVED} (seq) SELECT {TRUNCATED} WHERE NOT EXISTS "
        f"(SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = '{REMOVED}_projection')",
        f"CREATE TRIGGER IF NOT EXISTS {REMOVED}_projection AFTER DELETE ON {PROJECTION} "
        f"BEGIN INSERT OR IGNORE INTO {REMOVED} (seq) VALUES (old.seq); END",
        f"CREATE TRIGGER IF NOT EXISTS {REMOVED}_projection_moved AFTER UPDATE OF seq ON "
        f"{PROJECTION} WHEN old.seq <> new.seq BEGIN INSERT OR IGNORE INTO {REMOVED} (seq) "
        "VALUES (old.seq); END",
    ),
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {REMOVED} (seq bigint PRIMARY KEY)",
        f"INSERT INTO {REMOVED} (seq) SELECT {TRUNCATED} WHERE NOT EXISTS (SELECT 1 FROM "
        f"pg_trigger WHERE tgname = '{REMOVED}' AND tgrelid = to_regclass('{TABLE}') "
        "AND tgenabled <> 'D') ON CONFLICT DO NOTHING",
        f"CREATE OR REPLACE FUNCTION {REMOVED}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        f"IF TG_OP = 'TRUNCATE' THEN INSERT INTO {REMOVED} (seq) VALUES ({TRUNCATED}) "
        "ON CONFLICT DO NOTHING; "
        f"ELSIF TG_OP = 'DELETE' OR OLD.seq <> NEW.seq THEN INSERT INTO {REMOVED} (seq) "
        "VALUES (OLD.seq) ON CONFLICT DO NOTHING; "
        "END IF; RETURN NULL; END $$",
        f"CREATE OR REPLACE TRIGGER {REMOVED} AFTER DELETE OR UPDATE OF seq ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION {REMOVED}()",
        f"CREATE OR REPLACE TRIGGER {REMOVED}_truncated AFTER TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {REMOVED}()",
        f"INSERT INTO {REMOVED} (seq) SELECT {TRUNCATED} WHERE NOT EXISTS (SELECT 1 FROM "
        f"pg_trigger WHERE tgname = '{REMOVED}_projection' AND tgrelid = "
        f"to_regclass('{PROJECTION}') AND tgenabled <> 'D') ON CONFLICT DO NOTHING",
        f"CREATE OR REPLACE TRIGGER {REMOVED}_projection AFTER DELETE OR UPDATE OF seq ON "
        f"{PROJECTION} FOR EACH ROW EXECUTE FUNCTION {REMOVED}()",
        f"CREATE OR REPLACE TRIGGER {REMOVED}_projection_truncated AFTER TRUNCATE ON "
        f"{PROJECTION} FOR EACH STATEMENT EXECUTE FUNCTION {REMOVED}()",
    ),
}
# An arbitrary, fixed advisory lock key for creating the table: "ledgerix".
_CREATE_LOCK = int.from_bytes(b"ledgerix", "big") >> 1


def _person_key(value: str | None) -> str | None:
    """A person UUID as the index keeps it: bare and lower case, as the ledger writes it
    (none for a UUID erased from the log: the index must not keep it either)."""
    if not value or is_erased(value):
        return None
    return subject_of(value)


@functools.cache
def _erased_by_time(event_type: type) -> bool:
    """Whether the `person_uuid` of events of this type is erased by a rule by time (a
    refused login's), and so not indexed."""
    return kind_of(get_topic(event_type), "person_uuid") in BY_TIME


@dataclass(frozen=True)
class IndexRow:
    """What the index knows of one event: the facts a search filters on."""

    seq: int
    recorded_at: str
    event_type: str
    cvr: str | None
    agreement_version_id: str | None
    actor_uuid: str | None
    subject_uuid: str | None

    @classmethod
    def of(cls, entry: Entry) -> "IndexRow":
        """The row derived from an event in the log; the only place the index's facts come from.

        The agreement is the version an approval or reset concerns, or the version itself
        for its own events. The person is whoever acted, and the person a role concerns;
        not the person of a refused login, whose UUID the refusal rule erases by time alone
        (ledger.erasure deletes its opening, and rewrites no index row for it): that person
        is kept beside the index (RefusedRow), where the rule DELETEs it too.
        """
        event = entry.event
        agreement = getattr(event, "agreement_version_id", None)
        if agreement is None and isinstance(event, AgreementVersion.Event):
            agreement = event.originator_id
        actor = entry.actor
        return cls(
            seq=entry.seq,
            recorded_at=entry.recorded_at,
            event_type=entry.event_type,
            cvr=entry.cvr,
            agreement_version_id=str(agreement) if agreement is not None else None,
            actor_uuid=_person_key(actor.person_uuid if actor else None),
            subject_uuid=None
            if _erased_by_time(type(event))
            else _person_key(getattr(event, "person_uuid", None)),
        )

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, column) for column in _COLUMNS)


@dataclass(frozen=True)
class RefusedRow:
    """The person of an event whose person UUID a rule by time erases (a refused login),
    while the log still holds it, and the event's time the rule compares."""

    seq: int
    subject_uuid: str
    event_time: str

    @classmethod
    def of(cls, entry: Entry) -> "RefusedRow | None":
        """The row derived from an event in the log; None for another kind of event, or
        one whose person UUID is erased."""
        event = entry.event
        if not _erased_by_time(type(event)) or not isinstance(event, DomainEvent):
            return None
        subject = _person_key(getattr(event, "person_uuid", None))
        if subject is None:
            return None
        # The time the event's openings keep (ledger.personal_data), which the rule compares.
        return cls(entry.seq, subject, event.timestamp.isoformat())

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, column) for column in _REFUSED_COLUMNS)


@dataclass(frozen=True)
class ProjectionRow:
    """An event of a projected aggregate: which aggregate, of which kind, at which version."""

    seq: int
    kind: str
    originator_id: str
    originator_version: int

    @classmethod
    def of(cls, entry: Entry) -> "ProjectionRow | None":
        """The row derived from an event in the log; None for an event of another aggregate."""
        kind = _KINDS.get(entry.aggregate_type)
        if kind is None:
            return None
        event = entry.event
        return cls(entry.seq, kind, str(event.originator_id), event.originator_version)

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, column) for column in _PROJECTION_COLUMNS)


@dataclass(frozen=True)
class Query:
    """What an auditor searches for; every given fact must hold. `scope` is the set of CVRs
    the asker may read (None: all); events without a CVR are outside any scope."""

    cvr: str | None = None
    agreement: str | None = None
    person: str | None = None
    event_type: str | None = None
    since: str | None = None
    until: str | None = None
    scope: frozenset[str] | None = None

    @classmethod
    def checked(
        cls,
        *,
        cvr: str | None = None,
        agreement: str | None = None,
        person: str | None = None,
        event_type: str | None = None,
        since: str | None = None,
        until: str | None = None,
        scope: Sequence[str] | None = None,
    ) -> "Query":
        """A query of normalized facts; ValueError with a Danish message for a bad one."""
        if agreement:
            try:
                agreement = str(parse_uuid(agreement.strip()))
            except ValueError:
                raise ValueError(
                    f"{quoted(agreement, 60)} er ikke id'et på en aftaleversion."
                ) from None
        return cls(
            cvr=validate_cvr(cvr) if cvr else None,
            agreement=agreement or None,
            person=person_uuid(person) if person else None,
            event_type=event_type or None,
            since=since,
            until=until,
            scope=frozenset(scope) if scope is not None else None,
        )

    @property
    def is_everything(self) -> bool:
        """Whether the query chooses the whole log."""
        return self == Query()

    def matches(self, row: IndexRow, refused: "RefusedRow | None" = None) -> bool:
        """Whether the event of `row` (and of `refused`, its refused login's person) matches."""
        people = (row.actor_uuid, row.subject_uuid, refused.subject_uuid if refused else None)
        return (
            (self.cvr is None or row.cvr == self.cvr)
            and (self.scope is None or row.cvr in self.scope)
            and (self.agreement is None or row.agreement_version_id == self.agreement)
            and (self.person is None or self.person in people)
            and (self.event_type is None or row.event_type == self.event_type)
            and (self.since is None or row.recorded_at >= self.since)
            and (self.until is None or row.recorded_at < self.until)
        )

    @property
    def leading(self) -> str:
        """The filter whose index chooses the rows (the others are checked on those rows):
        the most selective one given, in this order. A CVR, an agreement version or a
        person concerns few events whatever the log's size; an event type or a time range
        may concern most of them, so they lead only when nothing narrower is given."""
        if self.cvr is not None:
            return "cvr"
        if self.agreement is not None:
            return "agreement"
        if self.person is not None:
            return "person"
        if self.scope is not None:
            return "scope"
        if self.event_type is not None:
            return "event_type"
        if self.since is not None or self.until is not None:
            return "time"
        return "seq"

    @property
    def by_time(self) -> bool:
        """Whether the matches are listed by the time each was recorded (then by `seq`)
        rather than by `seq` alone: a date range with no narrower filter than an event type.

        Such a range may hold most of the log, and the clock that stamps `recorded_at` is
        not bound to rise with `seq` (two writers, a clock set back), so no range of `seq`
        is known to hold exactly the range's events. An index on (time, seq), or (type,
        time, seq), serves "newest first within the range" directly, so a page reads only
        its own rows whatever the log holds. Where the clock rose with `seq` (as it does
        for one writer) the two orders are the same."""
        return (self.since is not None or self.until is not None) and self.leading in (
            "event_type",
            "time",
        )

    @property
    def order(self) -> tuple[str, ...]:
        """The index columns the matches are listed by, newest last."""
        return ("recorded_at", "seq") if self.by_time else ("seq",)

    def where(self, p: str, *, sqlite: bool = True) -> tuple[str, list[Any]]:
        """The same conditions as `matches`, as SQL over the index, written so that the
        database uses the leading filter's index (or the composite one of a CVR and an
        event type) and checks every other condition on the rows it finds: a condition
        on a column it should not use an index for is written on an expression of it
        (`+column` on SQLite, `column || ''` on PostgreSQL), which no index matches. A
        planner left to choose took the event type's index for a CVR and a type, reading
        every event of that type."""
        lead = self.leading

        def column(name: str, indexed: bool) -> str:
            if indexed:
                return name
            return f"+{name}" if sqlite else f"({name} || '')"

        conditions: list[str] = []
        params: list[Any] = []
        # The composite index (cvr, event_type, seq) serves a CVR with a type. A scope's
        # CVRs (an IN list) lead alone: with the type left indexable, SQLite took the type's
        # index for its order and checked the scope on every event of the type (a limited
        # auditor's page read all 1,000,000 refusal summaries for their counts per type).
        type_indexed = lead in ("event_type", "cvr")
        for name, value, indexed in (
            ("cvr", self.cvr, lead == "cvr"),
            ("agreement_version_id", self.agreement, lead == "agreement"),
            ("event_type", self.event_type, type_indexed),
        ):
            if value is not None:
                conditions.append(f"{column(name, indexed)} = {p}")
                params.append(value)
        if self.scope is not None:
            if not self.scope:
                conditions.append("1 = 0")
            else:
                places = ", ".join([p] * len(self.scope))
                conditions.append(f"{column('cvr', lead == 'scope')} IN ({places})")
                params.extend(sorted(self.scope))
        if self.person is not None:
            # The person acted, a role concerns them, or a refused login does (the table
            # beside the index, read by its subject's index; on PostgreSQL as an array made
            # once, which the bitmap of the index's primary key takes beside the other two).
            led = lead == "person"
            actor, subject = (column(c, led) for c in ("actor_uuid", "subject_uuid"))
            refused = f"SELECT seq FROM {REFUSED} WHERE subject_uuid = {p}"
            if sqlite:
                refusal = f"{'seq' if led else '+seq'} IN ({refused})"
            else:
                refusal = f"{'seq' if led else '(seq + 0)'} = ANY(ARRAY({refused}))"
            conditions.append(f"({actor} = {p} OR {subject} = {p} OR {refusal})")
            params += [self.person, self.person, self.person]
        if self.since is not None:
            conditions.append(f"{column('recorded_at', self.by_time)} >= {p}")
            params.append(self.since)
        if self.until is not None:
            conditions.append(f"{column('recorded_at', self.by_time)} < {p}")
            params.append(self.until)
        return " AND ".join(conditions) or "1 = 1", params


@dataclass(frozen=True)
class SearchPage:
    """One page of a search, newest first, read from the log."""

    entries: list[Entry]
    total: int  # at most COUNTED; `exact` says whether there are more
    page: int
    page_size: int
    repaired: list[int]  # seq numbers whose index rows were missing or did not match the log
    more: bool = False  # whether a later page has events
    exact: bool = True  # whether `total` is all of them (False: more than COUNTED)
    # The first and last event of the page in the index, which the links to the newer and
    # the older page continue from.
    first_seq: int | None = None
    last_seq: int | None = None
    # Whether the page, asked for by its number alone, lies beyond the counted matches: it is
    # not read (stepping over that many rows would grow with the log), the links go on.
    too_deep: bool = False

    @property
    def pages(self) -> int:
        """How many pages `total` fills (when not exact, how many at least)."""
        return max(1, -(-self.total // self.page_size))

    @property
    def has_more(self) -> bool:
        return self.more


class _TypeStandIn(str):
    """An event type that stands in for each of several in one statement's parameters."""


_A_TYPE = _TypeStandIn("event type")


@dataclass(frozen=True)
class TypeCounts:
    """The matches of a search per event type, most first: (type, count, whether the count
    is all of them; False: there are more than `COUNTED`)."""

    counts: list[tuple[str, int, bool]]


class EventIndex:
    """The search index over one ledger's log, in the ledger's own database.

    Each operation takes a connection of its own (a few are kept open between operations),
    so any number of threads may search at once. Several processes may catch the index up
    at once: a row is inserted only if its `seq` is not there yet, and every process
    derives the same row from the same event.
    """

    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.database: DatabaseURL = app.settings.database
        self.tables = OwnTables(
            self.database,
            (
                _CREATE[self.database.scheme],
                *_CREATE_INDEXES,
                _CREATE_PROJECTION[self.database.scheme],
                _CREATE_PROJECTION_INDEX,
                *_CREATE_REMOVED[self.database.scheme],
                _CREATE_REFUSED[self.database.scheme],
                *_CREATE_REFUSED_INDEXES,
            ),
            _CREATE_LOCK,
        )
        self.p = self.tables.placeholder
        # The application lists its customers, agreement versions and role assignments
        # through the projection kept here (it sits below the index and cannot make one).
        app.projection = self

    # Keeping the index

    def refresh(self) -> int:
        """Index the events logged since the last refresh, and any whose rows are missing;
        how many it read from the log (another process may have indexed some first)."""
        return self._catch_up()[0]

    def _catch_up(self) -> tuple[int, list[int]]:
        """(events read from the log, the `seq` numbers of those whose rows were missing).

        It reads only the rows deleted since the last catch-up, as the trigger recorded
        them, so that it does not grow with the log. The rows are counted only when the
        trigger could not record a deletion (a TRUNCATE, or a trigger missing when this
        process made it: rows deleted before this version or with it dropped are found so;
        `ledger verify` finds them in any case)."""
        if self._up_to_date():
            return 0, []
        indexed = self._highest()
        last = self.app.signed_log.last_leaf()
        last_seq = -1 if last is None else last.seq
        if indexed > last_seq:
            # The index is ahead of the log it was derived from (the log was replaced or
            # cut short, which `ledger verify` reports): forget what the log no longer has.
            logger.warning("the search index reaches seq %d, the log %d", indexed, last_seq)
            with self.tables.transaction() as cursor:
                for table in (TABLE, PROJECTION, REMOVED, REFUSED):
                    cursor.execute(f"DELETE FROM {table} WHERE seq > {self.p}", (last_seq,))
            indexed = self._highest()
        refilled = self._fill_removed(indexed)
        # Nothing after the log's last leaf to read (the usual case: one read fewer).
        added = self._index_after(indexed) if indexed < last_seq else 0
        self._fill_projection_gaps()
        if added + len(refilled) >= ANALYZE_AFTER and not self.database.is_sqlite:
            with self.tables.transaction() as cursor:
                cursor.execute(f"ANALYZE {TABLE}, {PROJECTION}")
        return added + len(refilled), refilled

    def _up_to_date(self) -> bool:
        """Whether a catch-up would find nothing to do, asked in one statement (a page asks
        on every view, and four round trips were most of what it cost): the index reaches
        the log's last leaf and no deletion of an index or a projection row was recorded.
        Anything else takes the whole catch-up, which also looks for projection rows
        missing beside index rows of their event types.

        It reads no projection row: joining every index row of the projected types with the
        projection, as it did, was some 1,700 buffers a page on PostgreSQL at 98 customers,
        growing with them (and, in a database just imported, whose index-only scans still
        read the table, with the log)."""
        ((indexed, last, removed),) = self.tables.rows(
            f"SELECT (SELECT MAX(seq) FROM {TABLE}), (SELECT MAX(seq) FROM {LEAVES_TABLE}), "
            f"EXISTS (SELECT 1 FROM {REMOVED})"
        )
        return indexed is not None and indexed == last and not removed

    def _fill_removed(self, indexed: int) -> list[int]:
        """Index again the logged events up to `indexed` whose rows the trigger saw deleted
        and that have none now; their `seq` numbers. A TRUNCATE makes it count the rows."""
        removed = [row[0] for row in self.tables.rows(f"SELECT seq FROM {REMOVED} ORDER BY seq")]
        if not removed:
            return []
        if TRUNCATED in removed:
            count, _ = self._extent()
            refilled = self._fill_gaps(indexed) if count < indexed + 1 else []
        else:
            missing = [
                row[0]
                for row in self.tables.rows(
                    f"SELECT r.seq FROM {REMOVED} r LEFT JOIN {TABLE} i ON i.seq = r.seq "
                    f"WHERE r.seq >= 0 AND r.seq <= {self.p} AND i.seq IS NULL ORDER BY r.seq",
                    (indexed,),
                )
            ]
            refilled = self._fill_gaps(indexed, missing) if missing else []
        with self.tables.transaction() as cursor:
            for start in range(0, len(removed), _BATCH):
                chunk = removed[start : start + _BATCH]
                places = ", ".join([self.p] * len(chunk))
                cursor.execute(f"DELETE FROM {REMOVED} WHERE seq IN ({places})", chunk)
        return refilled

    def _highest(self) -> int:
        """The highest seq indexed (-1: none), from the primary key."""
        ((indexed,),) = self.tables.rows(f"SELECT MAX(seq) FROM {TABLE}")
        return -1 if indexed is None else indexed

    def _fill_projection_gaps(self) -> None:
        """Derive again from the log the projection rows missing beside index rows of the
        projected event types (rows deleted, or a projection newer than the index). Reads
        only those event types' index rows and the projection: both small."""
        types = ", ".join([self.p] * len(PROJECTED_EVENT_TYPES))
        missing = [
            row[0]
            for row in self.tables.rows(
                f"SELECT i.seq FROM {TABLE} i LEFT JOIN {PROJECTION} a ON a.seq = i.seq "
                f"WHERE i.event_type IN ({types}) AND a.seq IS NULL ORDER BY i.seq",
                PROJECTED_EVENT_TYPES,
            )
        ]
        if not missing:
            return
        rows = [
            row
            for entry in self.app.signed_log.entries_at(missing)
            if (row := ProjectionRow.of(entry)) is not None
        ]
        if rows:
            with self.tables.transaction() as cursor:
                self._insert_projection_rows(cursor, rows)
        logger.warning(
            "the aggregate projection lacked %d events of its kinds (the first at seq %d); "
            "derived %d of them again from the log",
            len(missing),
            missing[0],
            len(rows),
        )

    def _extent(self) -> tuple[int, int]:
        """How many rows the index has from seq 0 on, and the highest seq (-1: none).

        One count over the narrowest index (about 0.1 s per million rows on SQLite), and
        the lowest and highest seq from the primary key; rows below seq 0, which no search
        can show, are left out of the count only when there are any.
        """
        ((count, lowest, indexed),) = self.tables.rows(
            f"SELECT (SELECT COUNT(*) FROM {TABLE}), (SELECT MIN(seq) FROM {TABLE}), "
            f"(SELECT MAX(seq) FROM {TABLE})"
        )
        if lowest is not None and lowest < 0:
            ((below,),) = self.tables.rows(f"SELECT COUNT(*) FROM {TABLE} WHERE seq < 0")
            count -= below
        return count, -1 if indexed is None else indexed

    def _fill_gaps(self, indexed: int, missing: list[int] | None = None) -> list[int]:
        """Index again the logged events up to `indexed` that have no row (rows were
        deleted), or those of `missing` that are logged; their `seq` numbers."""
        missing = (
            missing
            if missing is not None
            else [
                row[0]
                for row in self.tables.rows(
                    f"SELECT l.seq FROM {LEAVES_TABLE} l LEFT JOIN {TABLE} i ON i.seq = l.seq "
                    f"WHERE l.seq >= 0 AND l.seq <= {self.p} AND i.seq IS NULL ORDER BY l.seq",
                    (indexed,),
                )
            ]
        )
        refilled: list[int] = []
        for start in range(0, len(missing), _BATCH):
            entries = self.app.signed_log.entries_at(missing[start : start + _BATCH])
            self._insert(entries)
            refilled.extend(entry.seq for entry in entries)
        if missing:
            logger.warning(
                "the search index lacked %d logged events up to seq %d (the first at seq %d); "
                "indexed %d of them again from the log",
                len(missing),
                indexed,
                missing[0],
                len(refilled),
            )
        return refilled

    def _index_after(self, indexed: int) -> int:
        """Index the logged events after seq `indexed`; how many."""
        added = 0
        batch: list[Entry] = []
        for entry in self.app.signed_log.entries(after=indexed, page_size=_BATCH):
            batch.append(entry)
            if len(batch) == _BATCH:
                added += self._insert(batch)
                batch = []
        return added + self._insert(batch)

    def rebuild(self) -> int:
        """Drop every row of the index and the projection and derive both again from the
        whole log (searches and lists meanwhile find less)."""
        with self.tables.transaction() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")
            cursor.execute(f"DELETE FROM {PROJECTION}")
            cursor.execute(f"DELETE FROM {REFUSED}")
            cursor.execute(f"DELETE FROM {REMOVED}")  # every row is derived again below
        return self.refresh()

    def _insert(self, entries: Sequence[Entry]) -> int:
        if entries:
            with self.tables.transaction() as cursor:
                self._insert_rows(cursor, entries)
        return len(entries)

    def _insert_rows(self, cursor: Any, entries: Sequence[Entry]) -> None:
        """The index rows of these events and, in the same transaction, their projection
        rows and their refused logins' persons: they are derived and kept together."""
        places = ", ".join([self.p] * len(_COLUMNS))
        cursor.executemany(
            f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({places}) "
            "ON CONFLICT (seq) DO NOTHING",
            [IndexRow.of(entry).values() for entry in entries],
        )
        projected = [row for entry in entries if (row := ProjectionRow.of(entry)) is not None]
        if projected:
            self._insert_projection_rows(cursor, projected)
        refused = [
            person.values() for entry in entries if (person := RefusedRow.of(entry)) is not None
        ]
        if refused:
            cursor.executemany(
                f"INSERT INTO {REFUSED} ({', '.join(_REFUSED_COLUMNS)}) "
                f"VALUES ({', '.join([self.p] * len(_REFUSED_COLUMNS))}) "
                "ON CONFLICT (seq) DO NOTHING",
                refused,
            )

    def _insert_projection_rows(self, cursor: Any, rows: Sequence[ProjectionRow]) -> None:
        places = ", ".join([self.p] * len(_PROJECTION_COLUMNS))
        cursor.executemany(
            f"INSERT INTO {PROJECTION} ({', '.join(_PROJECTION_COLUMNS)}) VALUES ({places}) "
            "ON CONFLICT (seq) DO NOTHING",
            [row.values() for row in rows],
        )

    def _repair(self, seqs: Sequence[int]) -> None:
        """Rewrite the index rows of these `seq` numbers from the log (or drop them)."""
        logger.warning("search index rows disagreed with the log at seq %s", list(seqs))
        entries = self.app.signed_log.entries_at(seqs)
        places = ", ".join([self.p] * len(seqs))
        with self.tables.transaction() as cursor:
            for table in (TABLE, PROJECTION, REMOVED, REFUSED):  # the trigger saw these go
                cursor.execute(f"DELETE FROM {table} WHERE seq IN ({places})", list(seqs))
            if entries:
                self._insert_rows(cursor, entries)

    # The aggregate projection

    def ids_of(self, aggregate: type) -> list[UUID]:
        """The ids of every aggregate of this projected kind, in the order each was first
        recorded. Catches up first, which reads what was logged and deleted since and the
        projection's own few rows, never the whole log or index."""
        self._catch_up()
        rows = self.tables.rows(
            f"SELECT originator_id FROM {PROJECTION} WHERE kind = {self.p} "
            "AND originator_version = 1 ORDER BY seq",
            (PROJECTED[aggregate],),
        )
        return list(dict.fromkeys(UUID(row[0]) for row in rows))

    # Searching

    def search(
        self,
        query: Query,
        *,
        page: int = 1,
        page_size: int = PAGE_SIZE,
        after: int | None = None,
        before: int | None = None,
        oldest_first: bool = False,
    ) -> SearchPage:
        """One page of the events matching `query`, newest first (or `oldest_first`), with
        the total count.

        `after` (or `before`) is the `seq` of the event the page follows (or precedes) in
        the listing, as the page links give it: the page is then read from that event on
        through the index, however deep, instead of stepping over the earlier pages' rows.
        `page` is then the number the links counted, shown as it is; an event that is not
        in the index (the address was edited) leaves the page to its number alone."""
        if not 1 <= page <= MAX_PAGE or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page {page} of size {page_size} is out of range")
        _, refilled = self._catch_up()
        repaired: list[int] = []
        while True:
            with self.tables.transaction(write=False) as cursor:
                total, exact, seqs, more, too_deep = self._page(
                    cursor, query, page, page_size, after=after, before=before, oldest=oldest_first
                )
            entries, untrusted = self._read_back(query, seqs)
            if not untrusted or repaired:
                break
            self._repair(untrusted)
            repaired = untrusted
        return SearchPage(
            entries,
            total,
            page,
            page_size,
            sorted({*refilled, *repaired}),
            more=more,
            exact=exact,
            first_seq=seqs[0] if seqs else None,
            last_seq=seqs[-1] if seqs else None,
            too_deep=too_deep,
        )

    def search_statements(
        self,
        query: Query,
        page: int = 1,
        page_size: int = PAGE_SIZE,
        anchor: tuple[str, tuple[Any, ...]] | None = None,
        oldest_first: bool = False,
    ) -> list[tuple[str, list[Any]]]:
        """The statements a search runs for its total and its page (for EXPLAIN). `anchor`
        is ("after" or "before", the key of the event the page follows or precedes in the
        listing, which is oldest first when `oldest_first`)."""
        order = query.order
        where, params = query.where(self.p, sqlite=self.database.is_sqlite)
        keyset: tuple[str, list[Any]] | None = None
        if anchor is not None:
            direction, key = anchor
            keys = order[0] if len(order) == 1 else f"({', '.join(order)})"
            places = self.p if len(order) == 1 else f"({', '.join([self.p] * len(order))})"
            towards_older = (direction == "after") != oldest_first
            compare, sort = ("<", "DESC") if towards_older else (">", "ASC")
            keyset = (
                f"SELECT seq FROM {TABLE} WHERE {where} AND {keys} {compare} {places} "
                f"ORDER BY {', '.join(f'{column} {sort}' for column in order)} LIMIT {self.p}",
                [*params, *key, page_size + 1],
            )
        if query.is_everything:
            # The index holds every seq from 0 to its highest (the catch-up saw to it): the
            # total is that seq + 1, and a page, however deep, is a range of the key.
            return [
                (f"SELECT MAX(seq) FROM {TABLE}", []),
                keyset
                or (
                    (
                        f"SELECT seq FROM {TABLE} WHERE seq >= {self.p} "
                        f"ORDER BY seq ASC LIMIT {self.p}",
                        [(page - 1) * page_size, page_size + 1],
                    )
                    if oldest_first
                    else (
                        f"SELECT seq FROM {TABLE} WHERE seq >= 0 AND seq <= {self.p} "
                        f"ORDER BY seq DESC LIMIT {self.p}",
                        [0, page_size + 1],
                    )
                ),
            ]
        newest_first = ", ".join(f"{column} DESC" for column in order)
        listed = ", ".join(f"{column} ASC" for column in order) if oldest_first else newest_first
        # The count is read in the listing's order too, so that the database reads it from
        # an index from the newest end: left free, PostgreSQL chose a sequential scan for a
        # range holding most rows, which reads the whole table when its rows are the newest.
        return [
            (
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {TABLE} WHERE {where} "
                f"ORDER BY {newest_first} LIMIT {self.p}) AS counted",
                [*params, COUNTED + 1],
            ),
            keyset
            or (
                f"SELECT seq FROM {TABLE} WHERE {where} "
                f"ORDER BY {listed} LIMIT {self.p} OFFSET {self.p}",
                [*params, page_size + 1, (page - 1) * page_size],
            ),
        ]

    def _anchor(
        self, cursor: Any, query: Query, after: int | None, before: int | None
    ) -> tuple[str, tuple[Any, ...]] | None:
        """The key in the listing's order of the event a page follows or precedes; None
        when none is given or the index has no such event."""
        if after is None and before is None:
            return None
        direction, seq = ("after", after) if after is not None else ("before", before)
        if not query.by_time:
            cursor.execute(f"SELECT seq FROM {TABLE} WHERE seq = {self.p}", (seq,))
            return (direction, (seq,)) if cursor.fetchone() is not None else None
        cursor.execute(f"SELECT recorded_at FROM {TABLE} WHERE seq = {self.p}", (seq,))
        found = cursor.fetchone()
        return None if found is None else (direction, (found[0], seq))

    def _page(
        self,
        cursor: Any,
        query: Query,
        page: int,
        page_size: int,
        *,
        after: int | None = None,
        before: int | None = None,
        oldest: bool = False,
    ) -> tuple[int, bool, list[int], bool, bool]:
        """(the total, whether it is exact, the page's seq numbers in the listing's order,
        whether more follow, whether the page lies beyond the counted matches)."""
        anchor = self._anchor(cursor, query, after, before)
        (count, count_params), (select, select_params) = self.search_statements(
            query, page, page_size, anchor, oldest_first=oldest
        )
        cursor.execute(count, count_params)
        (found,) = cursor.fetchone()
        if query.is_everything:
            total = 0 if found is None else found + 1
            if anchor is None and not oldest:
                select_params = [total - 1 - (page - 1) * page_size, page_size + 1]
            exact = True
        else:
            total, exact = min(found, COUNTED), found <= COUNTED
            if anchor is None and (page - 1) * page_size >= total:
                # Nothing there (an exact total), or more rows than were counted to step over.
                return total, exact, [], False, not exact
        cursor.execute(select, select_params)
        seqs = [row[0] for row in cursor.fetchall()]
        if anchor is not None and anchor[0] == "before":
            # Read towards the newer end: the page is the nearest ones, and the anchor follows.
            return total, exact, seqs[:page_size][::-1], True, False
        return total, exact, seqs[:page_size], len(seqs) > page_size, False

    def count_by_type(
        self, query: Query, event_types: Iterable[str], *, matches: int | None = None
    ) -> "TypeCounts":
        """How many of the events matching `query` are of each of `event_types` (those it
        has), each counted up to `COUNTED` as a search's total is: one count per type through
        the index that leads with the type beside the query's own filter (CVR and type, type
        and time, type alone), so each reads at most that many index entries. The counts are
        asked in one statement, one subquery each: a page asks for them on every view, and on
        PostgreSQL a statement per type was a round trip per type.

        `matches` is the search's own total when it is all of them: when that is at most
        `COUNTED`, the matches are read once and counted by type, not once for each type (a
        search by agreement version read its events 27 times)."""
        kinds = [query.event_type] if query.event_type is not None else list(event_types)
        if not kinds:
            return TypeCounts([])
        counts = None
        if matches is not None and matches <= COUNTED and not query.is_everything:
            counts = self._counted_together(query, set(kinds))
        if counts is None:
            counts = self._counted_by_type(query, kinds)
        return TypeCounts(sorted(counts, key=lambda row: (-row[1], row[0])))

    def _counted_by_type(self, query: Query, kinds: list[str]) -> list[tuple[str, int, bool]]:
        """Each type's matches counted apart, up to `COUNTED`, in one statement. Every
        type's count is the same statement with its type as a parameter: made once, with a
        stand-in for the type that each type's parameters put it in place of."""
        statement, its_params = self.search_statements(replace(query, event_type=_A_TYPE))[0]
        params = [kind if param is _A_TYPE else param for kind in kinds for param in its_params]
        counts_of = ", ".join([f"({statement})"] * len(kinds))
        ((*found,),) = self.tables.rows(f"SELECT {counts_of}", params)
        return [
            (kind, min(count, COUNTED), count <= COUNTED)
            for kind, count in zip(kinds, found, strict=True)
            if count
        ]

    def _counted_together(
        self, query: Query, kinds: set[str]
    ) -> list[tuple[str, int, bool]] | None:
        """The matches of `query` counted by type in one read of them, as the total is read
        (its index, newest first, at most `COUNTED` + 1), for `kinds`; None when there are
        more than `COUNTED` (more came since the search): then each type is counted."""
        where, params = query.where(self.p, sqlite=self.database.is_sqlite)
        newest_first = ", ".join(f"{column} DESC" for column in query.order)
        rows = self.tables.rows(
            f"SELECT event_type, COUNT(*) FROM (SELECT event_type FROM {TABLE} WHERE {where} "
            f"ORDER BY {newest_first} LIMIT {self.p}) AS matched GROUP BY event_type",
            [*params, COUNTED + 1],
        )
        if sum(count for _, count in rows) > COUNTED:
            return None
        return [(kind, count, True) for kind, count in rows if kind in kinds]

    def matching(self, query: Query, *, newest_first: bool = True) -> Iterator[Entry]:
        """Every event matching `query`, read from the log a batch at a time: newest first
        in the pages' order, or oldest first in `seq` order (the order of the log, which a
        bundle keeps)."""
        self.refresh()
        if query.by_time and not newest_first:
            # The range is found through the time index, then read back in the log's order.
            seqs = sorted(seq for batch in self._chosen(query, newest_first=True) for seq in batch)
            for start in range(0, len(seqs), _BATCH):
                yield from self._trusted(query, seqs[start : start + _BATCH])
            return
        for batch in self._chosen(query, newest_first=newest_first):
            yield from self._trusted(query, batch)

    def _chosen(self, query: Query, *, newest_first: bool) -> Iterator[list[int]]:
        """The `seq` numbers matching `query` in the listing's order, a batch at a time."""
        where, params = query.where(self.p, sqlite=self.database.is_sqlite)
        order = query.order if newest_first else ("seq",)
        keys = order[0] if len(order) == 1 else f"({', '.join(order)})"
        places = self.p if len(order) == 1 else f"({', '.join([self.p] * len(order))})"
        sort, beyond = ("DESC", "<") if newest_first else ("ASC", ">")
        ordering = ", ".join(f"{column} {sort}" for column in order)
        bound: tuple[Any, ...] | None = None
        while True:
            condition = where if bound is None else f"{where} AND {keys} {beyond} {places}"
            rows = self.tables.rows(
                f"SELECT {', '.join(order)} FROM {TABLE} WHERE {condition} "
                f"ORDER BY {ordering} LIMIT {self.p}",
                [*params, *(bound or ()), _BATCH],
            )
            yield [row[-1] for row in rows]
            if len(rows) < _BATCH:
                return
            bound = tuple(rows[-1])

    def _trusted(self, query: Query, seqs: Sequence[int]) -> list[Entry]:
        """The events at `seqs` that match, in that order; a wrong index row is repaired."""
        entries, untrusted = self._read_back(query, seqs)
        if untrusted:
            self._repair(untrusted)
        return entries

    def _read_back(self, query: Query, seqs: Sequence[int]) -> tuple[list[Entry], list[int]]:
        """The chosen events from the log, in the order of `seqs`, and the `seq` numbers
        whose event does not match the query (the index row was wrong, or there is no such
        event)."""
        found = {entry.seq: entry for entry in self.app.signed_log.entries_at(seqs)}
        trusted = [
            found[seq]
            for seq in seqs
            if seq in found and query.matches(IndexRow.of(found[seq]), RefusedRow.of(found[seq]))
        ]
        untrusted = sorted(set(seqs) - {entry.seq for entry in trusted})
        return trusted, untrusted

    # Checking the index

    def check(self) -> list["IndexProblem"]:
        """Every way the index or the projection differs from the log: a logged event
        without its row (`index-gap`, which hides it from searches, or its aggregate from
        the lists, until the next catch-up repairs it), and a row that is not what the event
        says or stands for no logged event (`index-mismatch`). Reads through a connection of
        its own and changes nothing; an index never made (no search yet) has nothing to
        differ."""
        connection = self.database.connect()
        try:
            if not _table_exists(connection, self.database, TABLE):
                return []
            cursor = connection.cursor()
            cursor.execute(f"SELECT MAX(seq) FROM {TABLE}")
            (indexed,) = cursor.fetchone()
            rows = _stored_rows(connection, self.p, TABLE, _COLUMNS, IndexRow)
            projected = (
                _stored_rows(connection, self.p, PROJECTION, _PROJECTION_COLUMNS, ProjectionRow)
                if _table_exists(connection, self.database, PROJECTION)
                else iter(())
            )
            refusals = (
                _stored_rows(connection, self.p, REFUSED, _REFUSED_COLUMNS, RefusedRow)
                if _table_exists(connection, self.database, REFUSED)
                else iter(())
            )
            problems: list[IndexProblem] = []
            row = next(rows, None)
            aggregate = next(projected, None)
            refusal = next(refusals, None)
            for entry in self.app.signed_log.entries(page_size=_BATCH):
                if indexed is None or entry.seq > indexed:
                    break  # logged after the last catch-up: the next search indexes it
                while row is not None and row.seq < entry.seq:
                    problems.append(IndexProblem.unlogged(row.seq))
                    row = next(rows, None)
                while aggregate is not None and aggregate.seq < entry.seq:
                    problems.append(
                        IndexProblem.unlogged(aggregate.seq, f"an {PROJECTION_NAME} row")
                    )
                    aggregate = next(projected, None)
                while refusal is not None and refusal.seq < entry.seq:
                    problems.append(IndexProblem.unlogged(refusal.seq, f"a {REFUSED_NAME} row"))
                    refusal = next(refusals, None)
                expected_refusal = RefusedRow.of(entry)
                if refusal is not None and refusal.seq == entry.seq:
                    if refusal != expected_refusal:
                        problems.append(
                            IndexProblem(
                                Reason.INDEX_MISMATCH,
                                entry.seq,
                                f"the {REFUSED_NAME} row is not the event's"
                                if expected_refusal is not None
                                else f"a {REFUSED_NAME} row for an event with no such person",
                            )
                        )
                    refusal = next(refusals, None)
                elif expected_refusal is not None:
                    problems.append(
                        IndexProblem(
                            Reason.INDEX_GAP,
                            entry.seq,
                            f"the {REFUSED_NAME} has no row for this event, which a search by "
                            "its person misses until the index is rebuilt",
                        )
                    )
                expected_aggregate = ProjectionRow.of(entry)
                if aggregate is not None and aggregate.seq == entry.seq:
                    if aggregate != expected_aggregate:
                        problems.append(_mismatch(entry.seq, aggregate, expected_aggregate))
                    aggregate = next(projected, None)
                elif expected_aggregate is not None:
                    problems.append(
                        IndexProblem(
                            Reason.INDEX_GAP,
                            entry.seq,
                            f"the {PROJECTION_NAME} has no row for this event, so its "
                            f"{expected_aggregate.kind} is missing from the lists until the "
                            "next catch-up derives it again",
                        )
                    )
                if row is None or row.seq != entry.seq:
                    problems.append(
                        IndexProblem(
                            Reason.INDEX_GAP,
                            entry.seq,
                            "the search index has no row for this event, which searches, "
                            "the timeline and the CSV miss until the next search indexes it",
                        )
                    )
                    continue
                expected = IndexRow.of(entry)
                if row != expected:
                    differing = [c for c in _COLUMNS if getattr(row, c) != getattr(expected, c)]
                    problems.append(
                        IndexProblem(
                            Reason.INDEX_MISMATCH,
                            entry.seq,
                            f"the row's {', '.join(differing)} differ from the event's",
                        )
                    )
                row = next(rows, None)
            while row is not None:
                problems.append(IndexProblem.unlogged(row.seq))
                row = next(rows, None)
            while aggregate is not None:
                problems.append(IndexProblem.unlogged(aggregate.seq, f"an {PROJECTION_NAME} row"))
                aggregate = next(projected, None)
            while refusal is not None:
                problems.append(IndexProblem.unlogged(refusal.seq, f"a {REFUSED_NAME} row"))
                refusal = next(refusals, None)
            return problems
        finally:
            connection.close()

    # The database

    def close(self) -> None:
        if self.app.projection is self:
            self.app.projection = None
        self.tables.close()


@dataclass(frozen=True)
class IndexProblem:
    """A way the search index differs from the log, with `ledger verify`'s reason code."""

    reason: Reason
    seq: int
    detail: str

    @classmethod
    def unlogged(cls, seq: int, row: str = "an index row") -> "IndexProblem":
        return cls(Reason.INDEX_MISMATCH, seq, f"{row} for a seq the log has no event at")


PROJECTION_NAME = "aggregate projection"
REFUSED_NAME = "table of refused logins' persons"


def _mismatch(seq: int, row: ProjectionRow, expected: ProjectionRow | None) -> IndexProblem:
    if expected is None:
        detail = f"an {PROJECTION_NAME} row for an event of no projected aggregate"
    else:
        differing = [c for c in _PROJECTION_COLUMNS if getattr(row, c) != getattr(expected, c)]
        detail = f"the {PROJECTION_NAME} row's {', '.join(differing)} differ from the event's"
    return IndexProblem(Reason.INDEX_MISMATCH, seq, detail)


def _table_exists(connection: Any, database: DatabaseURL, table: str) -> bool:
    cursor = connection.cursor()
    if database.is_sqlite:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    else:
        cursor.execute("SELECT to_regclass(%s)", (table,))
        return cursor.fetchone()[0] is not None
    return cursor.fetchone() is not None


def _stored_rows(
    connection: Any, p: str, table: str, columns: Sequence[str], row_type: Any
) -> Iterator[Any]:
    """Every row of the index or the projection in seq order, a page at a time."""
    after: int | None = None
    while True:
        cursor = connection.cursor()
        condition = "" if after is None else f"WHERE seq > {p} "
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {table} {condition}ORDER BY seq LIMIT {p}",
            (*([] if after is None else [after]), _CHECK_PAGE),
        )
        page = cursor.fetchall()
        yield from (row_type(*row) for row in page)
        if len(page) < _CHECK_PAGE:
            return
        after = page[-1][0]


# Checking what is shown


@dataclass(frozen=True)
class CheckedEntry:
    """An event with the result of checking its leaf and its inclusion in a checkpoint."""

    entry: Entry
    problems: tuple[Reason, ...]  # reason codes as `ledger verify` names them; empty: it holds
    covered_by: int | None  # the size of the newest checkpoint proved to include it

    @property
    def verified(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class CheckedEntries:
    entries: list[CheckedEntry]
    checkpoint_size: int | None  # the newest stored checkpoint, if its signature holds
    checkpoint_problem: str | None


def leaf_problems(entry: Entry, keys: Mapping[str, VerifierKey]) -> list[Reason]:
    """How one event's leaf fails the evidence format, as `ledger verify` checks a leaf
    (all but the chain to the previous leaf, which needs that leaf): its form, its signature
    (`_signature_holds`) and each fact of the event, in `check_leaf`'s order."""
    event = entry.event
    facts = EventFacts(
        seq=entry.seq,
        originator_id=str(event.originator_id),
        originator_version=event.originator_version,
        topic=get_topic(type(event)),
        # A format 1 payload an erasure redacted no longer hashes to its leaf: `ledger
        # verify` holds it to the erasure event; here it is as withheld.
        payload=None if REDACTED_MARK in entry.payload else entry.payload,
        recorded_at=entry.recorded_at,
    )
    try:
        signed = parse_leaf(entry.leaf)
    except LeafError as error:
        return [error.reason]
    problems: list[Reason] = []
    key = keys.get(signed.leaf.kid)
    if key is None:
        problems.append(Reason.UNKNOWN_KEY)
    elif not _signature_holds(key, signed.signature, signed.message):
        problems.append(Reason.BAD_SIGNATURE)
    return problems + [reason for reason, _ in event_mismatches(signed.leaf, facts)]


@functools.lru_cache(maxsize=REMEMBERED_SIGNATURES)
def _signature_holds(key: VerifierKey, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is `key`'s of `message`, remembered: a page checks the signature
    of every leaf it shows, each time it is shown, and the same pages are read again and
    again (the newest events, the page before). The answer depends on nothing but the three
    (the exact bytes, the key's name and public key), so a remembered one is as true as a
    new one; an Ed25519 check costs more than the rest of a row."""
    return key.verify(signature, message)


def check_entries(app: LedgerApp, entries: Sequence[Entry]) -> CheckedEntries:
    """Check each event's leaf and prove it in the newest checkpoint, in one snapshot. The
    checkpoint covering the newest of them is made first if the cadence has not yet. The
    events are proved in it together, by one multi-leaf proof (a page's events share most of
    their paths); only when that fails is each proved on its own, to name the ones that fail."""
    keys = app.keyring.verifier_keys()
    needed = max(entry.seq for entry in entries) + 1 if entries else 0

    def first_try(tree: CheckpointStore) -> CheckedEntries | None:
        stored = tree.latest()
        if needed and (stored is None or stored.size < needed):
            return None  # no stored checkpoint covers them yet: one is made first
        return check(tree, stored)

    def check(tree: CheckpointStore, stored: StoredCheckpoint | None) -> CheckedEntries:
        size = root = problem = None
        if stored is not None:
            try:
                opened = _opened(stored.note, tuple(keys.items()), app.settings.origin)
            except NoteError as error:
                problem = error.reason
            else:
                size, root = opened.size, opened.root
        together = _included_together(entries, size, root, tree)
        checked = []
        for entry in entries:
            problems = leaf_problems(entry, keys)
            covered_by = None
            if size is not None and root is not None and entry.seq < size:
                if together:
                    covered_by = size
                else:
                    try:
                        proof = merkle.inclusion_proof(entry.seq, size, tree.read_nodes)
                        merkle.verify_inclusion(entry.seq, size, entry.leaf, proof, root)
                    except (merkle.ProofError, LookupError):
                        problems.append(Reason.BAD_INCLUSION_PROOF)
                    else:
                        covered_by = size
            checked.append(CheckedEntry(entry, tuple(problems), covered_by))
        return CheckedEntries(checked, size, problem)

    found = app.signed_log.read_tree(first_try)
    if found is None:
        app.signed_log.cover(needed)
        found = app.signed_log.read_tree(lambda tree: check(tree, tree.latest()))
    return found


@functools.lru_cache(maxsize=64)
def _opened(
    note: str | bytes, keys: tuple[tuple[str, VerifierKey], ...], origin: str | None
) -> Checkpoint:
    """`open_checkpoint`, remembered (its NoteError is not): a page opens the newest
    checkpoint on every view, and it is the same note until the next one is made. The
    answer depends on nothing but the note's bytes, the keys and the origin, so a
    remembered one is as true as a new one."""
    return open_checkpoint(note, dict(keys), origin)


class _Remembered:
    """Facts found to hold, the most recently asked kept (at most `size`); for any thread."""

    def __init__(self, size: int) -> None:
        self._facts: OrderedDict[Any, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def __contains__(self, fact: Any) -> bool:
        with self._lock:
            if fact not in self._facts:
                return False
            self._facts.move_to_end(fact)
            return True

    def add(self, fact: Any) -> None:
        with self._lock:
            self._facts[fact] = None
            self._facts.move_to_end(fact)
            if len(self._facts) > self._size:
                self._facts.popitem(last=False)


# (checkpoint size, root, seq, leaf hash) of each leaf proved to be in that checkpoint's
# tree: a page proves its events in the newest checkpoint on every view, and the same pages
# are read again and again. A leaf proved once to be at its seq in the tree of that size and
# root is there for good (the root commits to every leaf), whatever is stored later, so a
# remembered inclusion is as true as a new proof.
_INCLUDED = _Remembered(REMEMBERED_INCLUSIONS)


def _included_together(
    entries: Sequence[Entry], size: int | None, root: bytes | None, tree: CheckpointStore
) -> bool:
    """Whether every entry within the checkpoint is in its tree, proved at once: the root
    folded from their leaves and the stored subtrees beside them is the checkpoint's (for
    the leaves not proved in it before). When it is not (or a stored hash is missing), each
    is proved on its own, to say which fails."""
    if size is None or root is None:
        return False
    hashed: dict[int, bytes] = {}
    for entry in entries:
        if entry.seq < size:
            leaf = merkle.leaf_hash(entry.leaf)
            if hashed.setdefault(entry.seq, leaf) != leaf:
                return False  # two leaves for one seq: each is proved on its own
    unproved = {
        seq: leaf for seq, leaf in hashed.items() if (size, root, seq, leaf) not in _INCLUDED
    }
    if not unproved:
        return True
    try:
        included = merkle.root_with_leaves(size, unproved, tree.read_nodes) == root
    except (ValueError, LookupError):
        return False
    if included:
        for seq, leaf in unproved.items():
            _INCLUDED.add((size, root, seq, leaf))
    return included
