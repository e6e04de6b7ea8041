"""Erasing personal data on schedule and on request, each erasure a signed event
(docs/evidence-format.md section 10.4 and 10.5), and the register of what the log holds.

An erasure is recorded first and carried out after: the `PersonalDataErased` event names
what is to go, then the openings lose their keys and values, the search index the person's
UUID, and the documents directory the assertions named. A crash between the two leaves an
event whose data is still there, which `ledger verify` reports (`erasure-incomplete`) and
the same erasure run again completes; the other order would leave data gone without an
event, which is indistinguishable from tampering.
"""

import calendar
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.application import LedgerApp, normalized_person_uuid
from ledger.config import RetentionSettings
from ledger.domain import Approval, DomainError, PersonalData
from ledger.evidence.personal import (
    PERSONAL_MARK,
    PERSONAL_TYPE,
    REDACTED_MARK,
    redacted_name,
    value_text,
)
from ledger.evidence.personal import event_type as event_type_of
from ledger.evidence.tables import (
    EVENTS_TABLE,
    LEAVES_TABLE,
    PERSONAL_DATA_TABLE,
    TIME_ERASURES_TABLE,
)
from ledger.identity import Actor, checked_email_address
from ledger.messages import quoted
from ledger.personal_data import (
    ASSERTION,
    EVENT_FIELDS,
    FORMAT_1_SCANNED,
    FORMAT_1_TABLE,
    IDENTITY,
    LOGIN_ASSERTIONS_TABLE,
    NETWORK,
    REFUSAL,
    is_erased,
    personal_values,
    subject_of,
)
from ledger.search import REFUSED, REFUSED_KINDS
from ledger.search import TABLE as INDEX_TABLE
from ledger.storage.asking import AskingClaims
from ledger.storage.notices import CONTACTS, FAILED, MOOT, OUTBOX, SENT, UNCERTAIN

logger = logging.getLogger(__name__)

_CHUNK = 500
# How the register names the assertions kept at logins (no event names them until an
# approval does).
LOGIN_EVENT = "Login"
LOGIN_FIELD = "assertion (dokument)"
OUTBOX_EVENT = "Udbakke"
OUTBOX_FIELD = "recipient_email, recipient_name"
CONTACTS_EVENT = "Kontakter"
CONTACTS_FIELD = "name, email"
# The outbox's states in which a notice is done with (sent, or given up), whose recipient
# may be forgotten; one still to be sent keeps its address.
_FINAL_SQL = ", ".join(f"'{state}'" for state in (SENT, FAILED, MOOT, UNCERTAIN))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# A format 1 payload naming a person as its actor holds their name and UUID (the library's
# encoder writes no spaces).
_PERSON_ACTOR = b'"kind":"person"'
# How often, and how long between, an erasure asks SQLite to empty its write-ahead log
# while readers of older snapshots keep it (seconds), and how long each ask may wait for
# them (SQLite's busy handler, milliseconds): about 5 s in all before it gives up.
_CHECKPOINT_WAITS = (0.25, 0.5, 1.0)
_CHECKPOINT_BUSY_MS = 750


def _checkpoint_wal(connection: Any) -> bool:
    """Empty SQLite's WAL into the database file (TRUNCATE): True once it is, False when
    readers still held it after every wait."""
    connection.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_BUSY_MS}")
    for wait in (0.0, *_CHECKPOINT_WAITS):
        if wait:
            time.sleep(wait)
        busy, in_log, copied = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy and in_log == copied:
            return True
    logger.warning("the write-ahead log could not be emptied after an erasure (readers)")
    return False


# Fields whose erasure takes a person's UUID out of the search index, and the column.
_INDEXED_PERSON = {"actor.person_uuid": "actor_uuid", "person_uuid": "subject_uuid"}
REQUEST_BASIS = "Databeskyttelsesforordningen art. 17, stk. 1 (den registreredes anmodning)"
HOLD_BASIS = (
    "Databeskyttelsesforordningen art. 17, stk. 3, litra b og e: godkendelsen er fortsat "
    "bevis for en aftale (retlig forpligtelse og retskrav), og personens data i den slettes "
    "først, når den er ophørt og forældelsesfristen er udløbet"
)

ROLE_BASIS = (
    "Databeskyttelsesforordningen art. 6, stk. 1, litra b og c: personen har en aktiv rolle i "
    "portalen, som kræver navn og UUID; fratag rollen, før personens data slettes"
)


def rule_basis(rules: RetentionSettings, rule: str) -> str:
    """A retention rule's legal basis in words, as its erasure event records it."""
    return {
        NETWORK: f"Opbevaringsregel network: IP-adresse og browser i {rules.network_months} "
        "måneder efter hændelsen",
        REFUSAL: f"Opbevaringsregel refusal: afviste logins i {rules.refusal_months} måneder",
        ASSERTION: "Opbevaringsregel assertion: loginbeviset til godkendelsens ophør og "
        f"{rules.assertion_years} år derefter",
        IDENTITY: "Opbevaringsregel identity: godkenderens navn og UUID til godkendelsens "
        f"ophør og {rules.identity_years} år derefter (forældelsesfristen)",
    }[rule]


def months_before(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


@dataclass
class Planned:
    """One erasure a run would make, or made (`seq` of its event).

    An erasure naming its events lists its openings (`commitments`); a rule by time
    (`before`) counts them instead (`due`, by event type and field), since it erases them by
    its condition in one statement and reads none of them into Python."""

    rule: str
    fields: set[str] = field(default_factory=set)
    commitments: list[str] = field(default_factory=list)
    seqs: set[int] | None = None
    before: str | None = None
    documents: set[str] = field(default_factory=set)
    index_seqs: dict[str, set[int]] = field(default_factory=dict)
    # With `before`: the openings due, by (event type, field), and the (event type, field)
    # of the format 1 values it redacts.
    due: dict[tuple[str, str], int] = field(default_factory=dict)
    redacted_fields: set[tuple[str, str]] = field(default_factory=set)
    # E-mail addresses beside the log (ledger.storage.notices): the outbox's recipients of
    # notices created before `outbox_before_ms` and sent or given up, the signatories'
    # addresses last seen before `contacts_before_ms`, and for a request an address and a
    # person's contact row. `outbox`, `contacts`: how many rows.
    outbox_before_ms: int | None = None
    contacts_before_ms: int | None = None
    addresses: set[str] = field(default_factory=set)
    contact_of: str | None = None
    outbox: int = 0
    contacts: int = 0
    # Format 1 events (section 10.4) whose payload loses these fields (field: kind), by
    # seq; `redactions` holds the payloads that replaced them once carried out.
    pending: dict[int, dict[str, str]] = field(default_factory=dict)
    redactions: dict[int, "_Redaction"] = field(default_factory=dict)
    seq: int | None = None
    # When its event was recorded (its `timestamp`).
    erased_at: datetime | None = None

    @property
    def openings(self) -> int:
        return len(self.commitments) + sum(self.due.values())

    @property
    def empty(self) -> bool:
        return (
            not self.openings
            and not self.pending
            and not self.documents
            and not self.outbox
            and not self.contacts
        )

    def describe(self) -> str:
        what = f"{self.openings} felter ({', '.join(sorted(self.fields)) or 'ingen'})"
        if self.seqs is not None:
            where = f"i {len(self.seqs)} hændelser"
        else:
            where = f"i hændelser før {self.before}"
        docs = f", {len(self.documents)} dokumenter" if self.documents else ""
        if self.outbox:
            docs += f", {self.outbox} modtagere i udbakken"
        if self.contacts:
            docs += f", {self.contacts} kontaktadresser"
        if self.pending:
            docs += f", {len(self.pending)} hændelser i format 1 redigeret"
        done = f" (seq {self.seq})" if self.seq is not None else ""
        return f"regel {self.rule}: {what} {where}{docs}{done}"


@dataclass(frozen=True)
class Refusal:
    """A request the ledger refused, with why and the events that keep the data."""

    basis: str
    seqs: list[int]
    seq: int | None


@dataclass(frozen=True)
class _Redaction:
    """A format 1 event's payload with a person's values replaced (section 10.4)."""

    originator_id: UUID
    originator_version: int
    event_type: str
    event_time: str
    fields: dict[str, str]  # field: kind
    payload: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()


def redacted_payload(
    payload: bytes, originator_id: UUID, version: int, fields: Iterable[str]
) -> bytes:
    """The stored payload with each of `fields` replaced by a commitment naming it, in the
    library's own JSON form, so that the event still reads (as erased values)."""
    document = json.loads(payload)
    for name in fields:
        head, _, rest = name.partition(".")
        marker = {
            "_type_": PERSONAL_TYPE,
            "_data_": {
                "field": name,
                "commitment": redacted_name(str(originator_id), version, name),
            },
        }
        if rest:
            document[head]["_data_"][rest] = marker
        else:
            document[head] = marker
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class _Row:
    commitment: str
    originator_id: str
    originator_version: int
    field: str
    kind: str


class FormatOneIndex:
    """Where the personal values of format 1 events are (section 10.4), so that a retention
    rule or a request finds them without reading the log: one row per value, by seq and
    field, with its kind, subject and time, until an erasure redacts it (`erased_seq`).

    Format 1 events are a closed set once the log adopted format 2 (only a process started
    before the adoption can still write one), so the index is made by reading the log once
    and caught up from where it stopped: a catch-up reads only the events stored since the
    last one, and decodes only those that can hold a person's value in their payload."""

    TABLE = FORMAT_1_TABLE
    SCANNED = FORMAT_1_SCANNED
    PAGE = 2000

    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.tables = app.personal_data.tables  # its tables are made with the openings'
        self.p = self.tables.placeholder
        self._started_in_format_2: bool | None = None

    def catch_up(self) -> int:
        """Index the format 1 events stored since the last catch-up; how many were read.
        A log started in format 2 has none (every process that ever wrote to it read its
        format from its first event), and nothing of it is read."""
        if self._started_in_format_2 is None:
            first = self.app.signed_log.entry(0)
            self._started_in_format_2 = (
                first is not None and first.facts().get("evidence_format", 1) >= 2
            )
        if self._started_in_format_2:
            return 0
        found = self.tables.rows(f"SELECT scanned_to FROM {self.SCANNED} WHERE one = 1")
        after = int(found[0][0]) if found else -1
        read = 0
        p = self.p
        while True:
            records = self.app.signed_log.recorder.select_log(after=after, limit=self.PAGE)
            if not records:
                return read
            rows = [row for record in records for row in self._rows_of(record)]
            last = records[-1].seq
            read += len(records)

            def store(cursor: Any, rows: list[tuple[Any, ...]] = rows, last: int = last) -> None:
                if rows:
                    cursor.executemany(
                        f"INSERT INTO {self.TABLE} (seq, field, originator_id, "
                        "originator_version, event_type, event_time, kind, subject, assertion) "
                        f"VALUES ({', '.join([p] * 9)}) ON CONFLICT DO NOTHING",
                        rows,
                    )
                cursor.execute(f"DELETE FROM {self.SCANNED} WHERE one = 1")
                cursor.execute(
                    f"INSERT INTO {self.SCANNED} (one, scanned_to) VALUES (1, {p})", (last,)
                )

            self.tables.run(store)
            if len(records) < self.PAGE:
                return read
            after = last

    def _rows_of(self, record: Any) -> list[tuple[Any, ...]]:
        stored = record.stored_event
        state = bytes(stored.state)
        if PERSONAL_MARK in state and REDACTED_MARK not in state:
            return []  # format 2: its values are in the personal data table
        if stored.topic not in EVENT_FIELDS and _PERSON_ACTOR not in state:
            return []  # no field of it can hold a person's value
        event = self.app.mapper.to_domain_event(stored)
        facts = vars(event)
        values = [
            value
            for value in personal_values(stored.topic, facts)
            if not is_erased(value.value)  # a field an earlier redaction took
        ]
        authentication = facts.get("authentication")
        assertion = getattr(authentication, "assertion_sha256", None)
        at = facts["timestamp"].isoformat()
        name = event_type_of(stored.topic)
        return [
            (
                record.seq,
                value.field,
                str(stored.originator_id),
                int(stored.originator_version),
                name,
                at,
                value.kind,
                value.subject,
                assertion if value.field == "authentication.assertion_id" else None,
            )
            for value in values
        ]

    def rows(self, condition: str, params: Sequence[Any]) -> list["_V1Row"]:
        """The values not yet erased that meet `condition`, by seq and field."""
        found = self.tables.rows(
            f"SELECT seq, field, originator_id, originator_version, event_type, kind, "
            f"event_time, assertion FROM {self.TABLE} WHERE erased_seq IS NULL AND {condition} "
            "ORDER BY seq, field",
            params,
        )
        return [_V1Row(int(r[0]), r[1], r[2], int(r[3]), *r[4:]) for r in found]

    def counts(self) -> list[tuple[str, str, str, int]]:
        """(event type, field, kind, values held) of the format 1 values not yet erased."""
        return [
            (r[0], r[1], r[2], int(r[3]))
            for r in self.tables.rows(
                f"SELECT event_type, field, kind, COUNT(*) FROM {self.TABLE} "
                "WHERE erased_seq IS NULL GROUP BY event_type, field, kind"
            )
        ]

    def event_types(self, seqs: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(seqs))
        found: dict[int, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for seq, event_type in self.tables.rows(
                f"SELECT DISTINCT seq, event_type FROM {self.TABLE} "
                f"WHERE seq IN ({', '.join([self.p] * len(chunk))})",
                chunk,
            ):
                found[int(seq)] = event_type
        return found

    def mark_erased(self, cursor: Any, erased_seq: int, places: Iterable[tuple[int, str]]) -> None:
        p = self.p
        cursor.executemany(
            f"UPDATE {self.TABLE} SET erased_seq = {p}, subject = NULL "
            f"WHERE seq = {p} AND field = {p}",
            [(erased_seq, seq, name) for seq, name in places],
        )

    def close(self) -> None:
        """Nothing of its own to close: it uses the personal data store's connections."""


def _places(rows: Iterable["_Row"], earlier: Iterable["_V1Row"]) -> Iterator[tuple[str, int, str]]:
    """(aggregate id, version, field) of openings and format 1 values alike."""
    for row in rows:
        yield row.originator_id, row.originator_version, row.field
    for v1 in earlier:
        yield v1.originator_id, v1.originator_version, v1.field


@dataclass(frozen=True)
class _V1Row:
    seq: int
    field: str
    originator_id: str
    originator_version: int
    event_type: str
    kind: str
    event_time: str
    assertion: str | None


class Eraser:
    """Erasures of one ledger: by retention rule, and on a person's request."""

    def __init__(self, app: LedgerApp, rules: RetentionSettings | None = None) -> None:
        self.app = app
        self.rules = rules or app.settings.retention
        self.tables = app.personal_data.tables
        self.p = self.tables.placeholder
        self.format_1 = FormatOneIndex(app)
        # Whether the last erasure left erased values in SQLite's WAL (readers held it).
        self.left_in_wal = False

    def close(self) -> None:
        self.format_1.close()

    def _format_1_index(self) -> FormatOneIndex:
        """The index of format 1 values, caught up with the events stored since it last was."""
        self.format_1.catch_up()
        return self.format_1

    # What is due

    def plan(self, as_of: datetime) -> list[Planned]:
        """The erasures a retention run on `as_of` makes, in the order it makes them."""
        planned = [
            self._due_by_time(NETWORK, months_before(as_of, self.rules.network_months)),
            self._due_by_time(REFUSAL, months_before(as_of, self.rules.refusal_months)),
            *self._due_with_approvals(as_of),
            self._logins_without_approval(months_before(as_of, self.rules.network_months)),
        ]
        self._due_addresses(planned[0], planned[3], as_of)
        return [item for item in planned if not item.empty]

    def _due_addresses(self, network: Planned, identity: Planned, as_of: datetime) -> None:
        """The e-mail addresses beside the log that are due: a sent (or given up) notice's
        recipient with the network rule, a signatory's address not seen at a login for the
        identity period with the identity rule."""
        p = self.p
        if self._table_exists(OUTBOX):
            network.outbox_before_ms = _ms(months_before(as_of, self.rules.network_months))
            network.outbox = int(
                self.tables.rows(
                    f"SELECT COUNT(*) FROM {OUTBOX} WHERE created_ms < {p} "
                    f"AND state IN ({_FINAL_SQL}) "
                    "AND (recipient_email IS NOT NULL OR recipient_name IS NOT NULL)",
                    (network.outbox_before_ms,),
                )[0][0]
            )
        if self._table_exists(CONTACTS):
            years = self.rules.identity_years
            identity.contacts_before_ms = _ms(years_after(as_of, -years))
            identity.contacts = int(
                self.tables.rows(
                    f"SELECT COUNT(*) FROM {CONTACTS} WHERE seen_ms < {p}",
                    (identity.contacts_before_ms,),
                )[0][0]
            )

    def _logins_without_approval(self, cutoff: datetime) -> Planned:
        """The assertions kept at logins before `cutoff` that no approval names (the login
        led to nothing): erased by the rule `assertion` after the network period, as
        NemLog-in keeps its own login logs. An approval names its assertion by the id its
        opening holds (format 2) or by the document's hash (format 1)."""
        p = self.p
        before = cutoff.isoformat()
        planned = Planned(ASSERTION, before=before)
        planned.documents = {
            row[0]
            for row in self.tables.rows(
                f"SELECT a.sha256 FROM {LOGIN_ASSERTIONS_TABLE} a "
                f"WHERE a.stored_at < {p} AND a.erased_seq IS NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {PERSONAL_DATA_TABLE} d "
                "WHERE d.field = 'authentication.assertion_id' "
                "AND d.opening_value = a.assertion_value) "
                f"AND NOT EXISTS (SELECT 1 FROM {FORMAT_1_TABLE} v WHERE v.assertion = a.sha256)",
                (before,),
            )
        }
        return planned

    def _due_by_time(self, kind: str, cutoff: datetime) -> Planned:
        """What a rule by time erases, counted in the database: the openings of `kind` of
        events before `cutoff`, and the format 1 values of that kind and time."""
        before = cutoff.isoformat()
        planned = Planned(kind, before=before)
        p = self.p
        for event_type, field_name, count in self.tables.rows(
            f"SELECT event_type, field, COUNT(*) FROM {PERSONAL_DATA_TABLE} "
            f"WHERE kind = {p} AND event_time < {p} AND opening_key IS NOT NULL "
            "GROUP BY event_type, field",
            (kind, before),
        ):
            planned.due[(event_type, field_name)] = int(count)
            planned.fields.add(field_name)
        self._take_format_1(
            planned,
            self._format_1_index().rows(f"kind = {p} AND event_time < {p}", (kind, before)),
        )
        return planned

    def _due_with_approvals(self, as_of: datetime) -> list[Planned]:
        """The login evidence and the approvers' identities of approvals that ended long
        enough ago: each rule's events named one by one."""
        rows = self._rows(f"kind IN ({self.p}, {self.p})", (ASSERTION, IDENTITY))
        earlier = self._format_1_index().rows(
            f"kind IN ({self.p}, {self.p})", (ASSERTION, IDENTITY)
        )
        approvals = {
            (row[0], row[1])
            for row in _places(rows, earlier)
            if row[2] == "authentication.assertion_id"
        }
        ended: dict[tuple[str, int], datetime | None] = {
            key: self.approval_end(UUID(key[0]), key[1]) for key in approvals
        }
        years = {ASSERTION: self.rules.assertion_years, IDENTITY: self.rules.identity_years}

        def is_due(row: "_Row | _V1Row") -> bool:
            end = ended.get((row.originator_id, row.originator_version))
            return end is not None and years_after(end, years[row.kind]) <= as_of

        planned = {kind: Planned(kind, seqs=set()) for kind in (ASSERTION, IDENTITY)}
        for kind, item in planned.items():
            kind_rows = [row for row in rows if row.kind == kind and is_due(row)]
            self._take(item, kind_rows, with_seqs=True)
            v1_rows = [row for row in earlier if row.kind == kind and is_due(row)]
            self._take_format_1(item, v1_rows)
            if kind == ASSERTION:
                item.documents = self._assertions(kind_rows) | {
                    row.assertion for row in v1_rows if row.assertion
                }
        return [planned[ASSERTION], planned[IDENTITY]]

    def _take_format_1(self, planned: Planned, rows: Sequence[_V1Row]) -> None:
        """Put format 1 values in the plan: their events' payloads are redacted."""
        for row in rows:
            planned.pending.setdefault(row.seq, {})[row.field] = row.kind
            planned.fields.add(row.field)
            planned.redacted_fields.add((row.event_type, row.field))
            if planned.seqs is not None:
                planned.seqs.add(row.seq)
            column = _INDEXED_PERSON.get(row.field)
            if column is not None:
                planned.index_seqs.setdefault(column, set()).add(row.seq)

    def approval_end(self, approval: UUID, version: int) -> datetime | None:
        """When the approval recorded at `version` stopped being in force: its reset, or the
        retirement of its agreement version; None while it is in force."""
        try:
            aggregate: Approval = self.app.repository.get(approval)
        except AggregateNotFoundError:
            return None
        if aggregate.version > version:
            reset: list[Any] = list(
                self.app.repository.event_store.get(approval, gt=version, lte=version + 1)
            )
            moment: datetime = reset[0].timestamp
            return moment
        try:
            agreement = self.app.agreement_version(aggregate.agreement_version_id)
        except DomainError:
            return None
        return agreement.modified_on if agreement.retired else None

    # On request

    def erase_person(
        self, person: str, *, reason: str, actor: Actor, as_of: datetime | None = None
    ) -> Planned | Refusal:
        """Erase every personal value about `person` (GDPR art. 17), or refuse, recording
        the refusal, when an approval of theirs is still evidence."""
        as_of = as_of or datetime.now(UTC)
        person = normalized_person_uuid(person)  # DomainError for what is no UUID
        subject = subject_of(person)
        rows = self._rows(f"subject = {self.p}", (subject,))
        earlier = self._format_1_index().rows(f"subject = {self.p}", (subject,))
        holding = []
        approvals = {
            (row[0], row[1])
            for row in _places(rows, earlier)
            if row[2] == "authentication.assertion_id"
        }
        for key in sorted(approvals):
            end = self.approval_end(UUID(key[0]), key[1])
            if end is None or years_after(end, self.rules.identity_years) > as_of:
                holding.append(self.app.signed_log.seq_of(UUID(key[0]), key[1]))
        basis = HOLD_BASIS
        roles = self.app.roles_of(person)
        if roles and not holding:
            basis = ROLE_BASIS
            holding = [self.app.signed_log.seq_of(role.id, role.version) for role in roles]
        if holding:
            refusal = PersonalData.refused(basis=basis, reason=reason, seqs=holding, actor=actor)
            self.app.save(refusal)
            return Refusal(basis, sorted(holding), self._seq_of(refusal))
        planned = Planned("request", seqs=set())
        self._take(planned, rows, with_seqs=True)
        planned.documents = self._assertions(
            [r for r in rows if r.field == "authentication.assertion_id"]
        ) | {row.assertion for row in earlier if row.assertion}
        planned.documents |= {
            row[0]
            for row in self.tables.rows(
                f"SELECT sha256 FROM {LOGIN_ASSERTIONS_TABLE} "
                f"WHERE subject = {self.p} AND erased_seq IS NULL",
                (subject,),
            )
        }
        self._take_format_1(planned, earlier)
        if self._table_exists(CONTACTS):
            for (email,) in self.tables.rows(
                f"SELECT email FROM {CONTACTS} WHERE person_uuid = {self.p}", (subject,)
            ):
                planned.contact_of = subject
                planned.contacts = 1
                self._take_address(planned, email)
        self.carry_out(planned, actor=actor, reason=reason, basis=REQUEST_BASIS)
        return planned

    def erase_address(self, email: str, *, reason: str, actor: Actor) -> Planned:
        """Erase an e-mail address on its owner's request: the notices sent to it (their
        `recipient_email`), the outbox's rows and a signatory's contact row. Nothing keeps
        an address as evidence of an agreement, so nothing refuses."""
        address = checked_email_address(email)
        if address is None:  # the portal stores and mails no other kind of address
            raise DomainError(f"{quoted(email, 60)} er ikke en e-mailadresse, portalen gemmer.")
        planned = Planned("request", seqs=set())
        self._take_address(planned, address)
        if self._table_exists(CONTACTS):
            planned.contacts = int(
                self.tables.rows(
                    f"SELECT COUNT(*) FROM {CONTACTS} WHERE email = {self.p}", (address,)
                )[0][0]
            )
        self.carry_out(planned, actor=actor, reason=reason, basis=REQUEST_BASIS)
        return planned

    def _take_address(self, planned: Planned, email: str) -> None:
        """The openings of notices sent to `email`, and the outbox rows addressed to it."""
        planned.addresses.add(email)
        held = value_text(email).decode("utf-8")
        rows = self._rows(f"field = 'recipient_email' AND opening_value = {self.p}", (held,))
        known = set(planned.commitments)
        self._take(planned, [row for row in rows if row.commitment not in known], with_seqs=True)
        # A format 1 notice holds the address in its payload and names no person: the
        # notices the index lists are read (a closed set, none in a log started in format 2)
        # and those sent to this address redacted.
        earlier = self._format_1_index().rows("field = 'recipient_email'", ())
        if earlier:
            addressed = {
                entry.seq
                for entry in self.app.signed_log.entries_at([row.seq for row in earlier])
                if vars(entry.event).get("recipient_email") == email
            }
            self._take_format_1(planned, [row for row in earlier if row.seq in addressed])
        if self._table_exists(OUTBOX):
            planned.outbox += int(
                self.tables.rows(
                    f"SELECT COUNT(*) FROM {OUTBOX} WHERE recipient_email = {self.p}", (email,)
                )[0][0]
            )

    # Carrying out

    def run(
        self,
        as_of: datetime | None = None,
        *,
        dry_run: bool = False,
        actor: Actor,
        reclaim: bool = True,
    ) -> list[Planned]:
        """A retention run: every erasure due on `as_of` (now by default), each recorded as
        its own event; with `dry_run`, what would be erased, and nothing is. Then, unless
        `reclaim` is False (bench/erasure.py times it apart), `reclaim`."""
        planned = self.plan(as_of or datetime.now(UTC))
        if not dry_run:
            for item in planned:
                self.carry_out(
                    item, actor=actor, reason=None, basis=rule_basis(self.rules, item.rule)
                )
            if not planned and self.app.settings.database.is_sqlite:
                # What an earlier erasure left in the WAL, because readers held it then,
                # is emptied by the next run (the daily job's, or one by hand).
                self.left_in_wal = not self._forget_old_copies(with_index=False, with_events=False)
            if reclaim:
                self.reclaim()
        return planned

    def reclaim(self) -> None:
        """On PostgreSQL, VACUUM the personal data, the search index and the events: once a
        run (the daily job's), after its erasures and for those made on request since, as
        VACUUM reads every index of a table whole (an erasure of one subject touches only
        that subject's rows). It is upkeep rather than the erasure: no query reads an old row
        version before it either, and its bytes stay in the files after it (README). On
        SQLite each erasure empties the WAL itself, and nothing is left to do."""
        if not self.app.settings.database.is_sqlite:
            self._forget_old_copies(with_index=self._index_exists(), with_events=True)

    def carry_out(self, planned: Planned, *, actor: Actor, reason: str | None, basis: str) -> None:
        """Record the erasure, then erase what it names. The redacted payloads are made from
        the payloads stored now (an earlier erasure may have redacted other fields)."""
        planned.redactions = self._redactions(planned.pending)
        # The tables beside the log are named as table.column, beside the payloads' fields.
        if planned.outbox:
            planned.fields |= {f"{OUTBOX}.recipient_email", f"{OUTBOX}.recipient_name"}
        if planned.contacts:
            planned.fields |= {f"{CONTACTS}.name", f"{CONTACTS}.email"}
        erasure = PersonalData.erased(
            rule=planned.rule,
            basis=basis,
            reason=reason,
            fields=planned.fields,
            seqs=planned.seqs,
            before=planned.before,
            documents=planned.documents,
            openings=planned.openings,
            actor=actor,
            redacted=[f"{seq} {r.sha256}" for seq, r in planned.redactions.items()],
            event_fields=None
            if planned.before is None
            else [f"{t} {f}" for t, f in planned.due.keys() | planned.redacted_fields],
        )
        self.app.save(erasure)
        planned.seq = self._seq_of(erasure)
        planned.erased_at = erasure.created_on
        self._erase_openings(planned)
        for sha256 in planned.documents:
            self.app.documents.remove(sha256)

    def _redactions(self, pending: dict[int, dict[str, str]]) -> dict[int, _Redaction]:
        found = {}
        for entry in self.app.signed_log.entries_at(pending):
            fields = pending[entry.seq]
            event = entry.event
            found[entry.seq] = _Redaction(
                event.originator_id,
                event.originator_version,
                entry.event_type,
                vars(event)["timestamp"].isoformat(),
                fields,
                redacted_payload(
                    entry.payload, event.originator_id, event.originator_version, fields
                ),
            )
        return found

    def _index_exists(self) -> bool:
        return self._table_exists(INDEX_TABLE)

    def _table_exists(self, table: str) -> bool:
        if self.app.settings.database.is_sqlite:
            statement = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name = {self.p}"
        else:
            statement = f"SELECT to_regclass({self.p})"
        rows = self.tables.rows(statement, (table,))
        return bool(rows) and rows[0][0] is not None

    def _erase_openings(self, planned: Planned) -> None:
        p = self.p
        erased_seq = planned.seq
        assert erased_seq is not None
        indexed = self._index_exists()
        index_seqs = planned.index_seqs if indexed else {}
        # The refused logins' persons beside the index (ledger.search.REFUSED).
        refused = indexed and self._table_exists(REFUSED)
        sqlite = self.app.settings.database.is_sqlite

        def erase(cursor: Any) -> None:
            if sqlite:
                cursor.execute("PRAGMA secure_delete = ON")
            erase_set = (
                f"UPDATE {PERSONAL_DATA_TABLE} SET opening_key = NULL, "
                f"opening_value = NULL, subject = NULL, erased_seq = {p}, rule = {p} "
            )
            if planned.before is not None and planned.due:
                # A rule by time DELETEs the openings due by the plan's own condition, set
                # by set (no row can have become due since: its event happened before the
                # cutoff), and records itself where readers find the erasure of an opening
                # that is gone. The search index keeps no person of these kinds of value
                # (ledger.search: a refused login's UUID is not indexed), so nothing there
                # is rewritten: an UPDATE writes a new version of the row into every index
                # of its table, a DELETE only marks it dead (some 30 times cheaper on
                # PostgreSQL).
                assert planned.erased_at is not None
                cursor.execute(
                    f"DELETE FROM {PERSONAL_DATA_TABLE} WHERE kind = {p} AND event_time < {p} "
                    "AND opening_key IS NOT NULL",
                    (planned.rule, planned.before),
                )
                if refused and planned.rule in REFUSED_KINDS:
                    # The persons of the refused logins it erases, beside the search index,
                    # by the same condition (their event's time): a DELETE as well.
                    cursor.execute(
                        f"DELETE FROM {REFUSED} WHERE event_time < {p}", (planned.before,)
                    )
                cursor.execute(
                    f"INSERT INTO {TIME_ERASURES_TABLE} (seq, rule, kind, cutoff, erased_at) "
                    f"VALUES ({p}, {p}, {p}, {p}, {p})",
                    (
                        erased_seq,
                        planned.rule,
                        planned.rule,
                        planned.before,
                        planned.erased_at.isoformat(),
                    ),
                )
            else:
                for start in range(0, len(planned.commitments), _CHUNK):
                    chunk = planned.commitments[start : start + _CHUNK]
                    cursor.execute(
                        f"{erase_set} WHERE commitment IN ({', '.join([p] * len(chunk))})",
                        (erased_seq, planned.rule, *chunk),
                    )
            for seq, redaction in planned.redactions.items():
                self._redact(cursor, redaction, planned)
                self.format_1.mark_erased(
                    cursor, erased_seq, ((seq, name) for name in redaction.fields)
                )
            self._erase_addresses(cursor, planned)
            documents = sorted(planned.documents)
            for start in range(0, len(documents), _CHUNK):
                chunk = documents[start : start + _CHUNK]
                cursor.execute(
                    f"UPDATE {LOGIN_ASSERTIONS_TABLE} SET subject = NULL, assertion_value = NULL, "
                    f"erased_seq = {p}, rule = {p} WHERE sha256 IN ({', '.join([p] * len(chunk))})",
                    (erased_seq, planned.rule, *chunk),
                )
            for column, seqs in index_seqs.items():
                ordered = sorted(seqs)
                for start in range(0, len(ordered), _CHUNK):
                    places = ordered[start : start + _CHUNK]
                    cursor.execute(
                        f"UPDATE {INDEX_TABLE} SET {column} = NULL "
                        f"WHERE seq IN ({', '.join([p] * len(places))})",
                        places,
                    )
                    if refused and column == "subject_uuid":
                        cursor.execute(
                            f"DELETE FROM {REFUSED} WHERE seq IN ({', '.join([p] * len(places))})",
                            places,
                        )

        self.tables.run(erase)
        if sqlite:
            self.left_in_wal = not self._forget_old_copies(
                with_index=bool(index_seqs),
                with_events=bool(planned.redactions),
            )

    def _erase_addresses(self, cursor: Any, planned: Planned) -> None:
        """The outbox's recipients and the contact rows the plan names: the outbox keeps
        its rows (what was sent, when, about which event) without the address and name."""
        p = self.p
        forget = f"UPDATE {OUTBOX} SET recipient_email = NULL, recipient_name = NULL "
        if planned.outbox and planned.outbox_before_ms is not None:
            cursor.execute(
                f"{forget} WHERE created_ms < {p} AND state IN ({_FINAL_SQL})",
                (planned.outbox_before_ms,),
            )
        if planned.outbox:
            for email in sorted(planned.addresses):
                cursor.execute(f"{forget} WHERE recipient_email = {p}", (email,))
        if planned.contacts and planned.contacts_before_ms is not None:
            cursor.execute(
                f"DELETE FROM {CONTACTS} WHERE seen_ms < {p}", (planned.contacts_before_ms,)
            )
        if planned.contacts and planned.contact_of is not None:
            cursor.execute(f"DELETE FROM {CONTACTS} WHERE person_uuid = {p}", (planned.contact_of,))
        if planned.contacts and planned.addresses and planned.contact_of is None:
            for email in sorted(planned.addresses):
                cursor.execute(f"DELETE FROM {CONTACTS} WHERE email = {p}", (email,))

    def _redact(self, cursor: Any, redaction: _Redaction, planned: Planned) -> None:
        """Replace a format 1 payload by its redaction, and leave a row per erased field
        that says which erasure took it (what the reader shows in its place)."""
        p = self.p
        oid = redaction.originator_id
        cursor.execute(
            f"UPDATE {EVENTS_TABLE} SET state = {p} "
            f"WHERE originator_id = {p} AND originator_version = {p}",
            (
                redaction.payload,
                oid.hex if self.app.settings.database.is_sqlite else oid,
                redaction.originator_version,
            ),
        )
        cursor.executemany(
            f"INSERT INTO {PERSONAL_DATA_TABLE} (commitment, originator_id, originator_version, "
            "event_type, field, kind, event_time, erased_seq, rule) "
            f"VALUES ({', '.join([p] * 9)})",
            [
                (
                    redacted_name(str(oid), redaction.originator_version, name),
                    str(oid),
                    redaction.originator_version,
                    redaction.event_type,
                    name,
                    kind,
                    redaction.event_time,
                    planned.seq,
                    planned.rule,
                )
                for name, kind in redaction.fields.items()
            ],
        )

    def _forget_old_copies(self, *, with_index: bool, with_events: bool) -> bool:
        """Leave no copy of an erased value in the database's own files where it can: on
        SQLite the write-ahead log is emptied into the file (whose freed space
        `secure_delete` zeroed), tried again while readers of older snapshots hold it; on
        PostgreSQL VACUUM makes the old row versions space for reuse, once a retention run
        (README, Personal data, on what stays in the files, in backups and in the server's
        WAL). False when the SQLite WAL could not be emptied: it is at the next erasure, or
        the next checkpoint the readers let through."""
        database = self.app.settings.database
        connection = database.connect(writable=True)
        try:
            if database.is_sqlite:
                return _checkpoint_wal(connection)
            connection.execute(f"VACUUM {PERSONAL_DATA_TABLE}")
            if with_index:
                connection.execute(f"VACUUM {INDEX_TABLE}")
                if self._table_exists(REFUSED):
                    connection.execute(f"VACUUM {REFUSED}")
            if with_events:
                connection.execute(f"VACUUM {EVENTS_TABLE}")
            return True
        finally:
            connection.close()

    # Helpers

    def _rows(self, condition: str, params: Sequence[Any]) -> list[_Row]:
        found = self.tables.rows(
            f"SELECT commitment, originator_id, originator_version, field, kind "
            f"FROM {PERSONAL_DATA_TABLE} WHERE opening_key IS NOT NULL AND {condition} "
            "ORDER BY originator_id, originator_version, field",
            params,
        )
        return [_Row(row[0], row[1], int(row[2]), row[3], row[4]) for row in found]

    def _take(self, planned: Planned, rows: Sequence[_Row], *, with_seqs: bool) -> None:
        """Put the rows' openings in the plan, with the search index's columns to clear."""
        wanted = [
            (row.originator_id, row.originator_version)
            for row in rows
            if with_seqs or row.field in _INDEXED_PERSON
        ]
        seqs = self._seqs_of(wanted)
        for row in rows:
            planned.commitments.append(row.commitment)
            planned.fields.add(row.field)
            seq = seqs.get((row.originator_id, row.originator_version))
            if seq is None:
                continue  # not asked for, or an opening whose event was never stored
            if with_seqs and planned.seqs is not None:
                planned.seqs.add(seq)
            column = _INDEXED_PERSON.get(row.field)
            if column is not None:
                planned.index_seqs.setdefault(column, set()).add(seq)

    def _seqs_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The places in the log of these events (aggregate id, version), read from the
        leaves a chunk at a time rather than one query an event."""
        sqlite = self.app.settings.database.is_sqlite
        wanted = set(keys)
        ids = sorted({oid for oid, _ in wanted})
        found: dict[tuple[str, int], int] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            # SQLite keeps an id as 32 hex digits, PostgreSQL as a uuid.
            stored = {oid.replace("-", "") if sqlite else oid: oid for oid in chunk}
            for seq, oid, version in self.tables.rows(
                f"SELECT seq, originator_id, originator_version FROM {LEAVES_TABLE} "
                f"WHERE originator_id IN ({', '.join([self.p] * len(chunk))})",
                list(stored),
            ):
                key = (stored.get(oid) or str(oid), int(version))
                if key in wanted:
                    found[key] = int(seq)
        return found

    def _assertions(self, rows: Iterable[_Row]) -> set[str]:
        """The assertion documents the approvals of these rows name."""
        found = set()
        for key in {(row.originator_id, row.originator_version) for row in rows}:
            events = self.app.repository.event_store.get(UUID(key[0]), gt=key[1] - 1, lte=key[1])
            for event in events:
                authentication = getattr(event, "authentication", None)
                if authentication is not None:
                    found.add(authentication.assertion_sha256)
        return found

    def _seq_of(self, aggregate: PersonalData) -> int:
        return self.app.signed_log.seq_of(aggregate.id, 1)

    # The register of processing

    def report(self, as_of: datetime | None = None) -> list[tuple[str, str, str, int, int]]:
        """(event type, field, rule, values held, due for erasure on `as_of`) per field of
        each event type: the register of processing a data protection officer reads. The
        values of format 1 events are counted with the others; all is counted in the
        database, not read."""
        as_of = as_of or datetime.now(UTC)
        counts: dict[tuple[str, str, str], list[int]] = {}
        for event_type, field_name, kind, held in self.tables.rows(
            f"SELECT event_type, field, kind, COUNT(*) FROM {PERSONAL_DATA_TABLE} "
            "WHERE opening_key IS NOT NULL GROUP BY event_type, field, kind"
        ):
            counts.setdefault((event_type, field_name, kind), [0, 0])[0] += int(held)
        for event_type, field_name, kind, held in self._format_1_index().counts():
            counts.setdefault((event_type, field_name, kind), [0, 0])[0] += held
        logins = self.tables.rows(
            f"SELECT COUNT(*) FROM {LOGIN_ASSERTIONS_TABLE} WHERE erased_seq IS NULL"
        )
        planned = self.plan(as_of)
        due_logins = sum(
            len(item.documents) for item in planned if item.before and item.rule == ASSERTION
        )
        if logins[0][0] or due_logins:
            counts[(LOGIN_EVENT, LOGIN_FIELD, ASSERTION)] = [int(logins[0][0]), due_logins]
        network = next((i for i in planned if i.rule == NETWORK and i.before), None)
        identity = next((i for i in planned if i.rule == IDENTITY), None)
        if self._table_exists(OUTBOX):
            held_outbox = self.tables.rows(
                f"SELECT COUNT(*) FROM {OUTBOX} WHERE recipient_email IS NOT NULL "
                "OR recipient_name IS NOT NULL"
            )[0][0]
            counts[(OUTBOX_EVENT, OUTBOX_FIELD, NETWORK)] = [
                int(held_outbox),
                network.outbox if network else 0,
            ]
        if self._table_exists(CONTACTS):
            held_contacts = self.tables.rows(f"SELECT COUNT(*) FROM {CONTACTS}")[0][0]
            counts[(CONTACTS_EVENT, CONTACTS_FIELD, IDENTITY)] = [
                int(held_contacts),
                identity.contacts if identity else 0,
            ]
        named = [commitment for item in planned for commitment in item.commitments]
        for start in range(0, len(named), _CHUNK):
            chunk = named[start : start + _CHUNK]
            for event_type, field_name, kind in self.tables.rows(
                f"SELECT event_type, field, kind FROM {PERSONAL_DATA_TABLE} "
                f"WHERE commitment IN ({', '.join([self.p] * len(chunk))})",
                chunk,
            ):
                counts.setdefault((event_type, field_name, kind), [0, 0])[1] += 1
        types = self.format_1.event_types({seq for item in planned for seq in item.pending})
        for item in planned:
            for (event_type, field_name), n in item.due.items():
                counts.setdefault((event_type, field_name, item.rule), [0, 0])[1] += n
            for seq, fields in item.pending.items():
                for field_name, kind in fields.items():
                    counts.setdefault((types[seq], field_name, kind), [0, 0])[1] += 1
        return [(*key, n, d) for key, (n, d) in sorted(counts.items())]


class RetentionJob:
    """The retention rules run once a day under `ledger serve`: a daemon thread in every
    worker wakes every `every` seconds, and the first process to claim the day (through
    `ledger.storage.asking`, one row the database serialises across processes and hosts)
    runs them; the others find the day taken. A run that fails is logged by the kind of
    failure alone and tried again at the next wake-up."""

    KIND = "retention"

    def __init__(
        self,
        app: LedgerApp,
        *,
        every: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.eraser = Eraser(app)
        self.claims = AskingClaims(app.settings.database, lease=6 * 3600.0)
        self.every = every
        self.clock = clock
        self.done_day: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-retention", daemon=True)

    def start(self) -> "RetentionJob":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.claims.close()

    def run_once(self) -> list[Planned] | None:
        """Today's run if this process claims today and has not run it; else None."""
        now = self.clock()
        day = now.toordinal()
        if self.done_day == day:
            return None
        try:
            if not self.claims.claim(self.KIND, day):
                return None
            done = self.eraser.run(now, actor=Actor.system("retention"))
        except Exception as error:
            logger.warning("no retention run this time (%s)", type(error).__name__)
            return None
        self.done_day = day
        for planned in done:
            logger.info("retention: erased %s", planned.describe())
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()
