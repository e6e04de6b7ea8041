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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from ledger.application import LedgerApp
from ledger.config import RetentionSettings
from ledger.domain import Approval, DomainError, PersonalData
from ledger.evidence.personal import PERSONAL_MARK, PERSONAL_TYPE, redacted_name
from ledger.evidence.tables import EVENTS_TABLE, LEAVES_TABLE, PERSONAL_DATA_TABLE
from ledger.identity import Actor
from ledger.personal_data import (
    ASSERTION,
    IDENTITY,
    NETWORK,
    REFUSAL,
    personal_values,
    subject_of,
)
from ledger.search import TABLE as INDEX_TABLE
from ledger.storage.asking import AskingClaims

logger = logging.getLogger(__name__)

_CHUNK = 500
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
    """One erasure a run would make, or made (`seq` of its event)."""

    rule: str
    fields: set[str] = field(default_factory=set)
    commitments: list[str] = field(default_factory=list)
    seqs: set[int] | None = None
    before: str | None = None
    documents: set[str] = field(default_factory=set)
    index_seqs: dict[str, set[int]] = field(default_factory=dict)
    # Format 1 events whose payload is replaced by a redacted one, by seq.
    redactions: dict[int, "_Redaction"] = field(default_factory=dict)
    seq: int | None = None

    def describe(self) -> str:
        what = f"{len(self.commitments)} felter ({', '.join(sorted(self.fields)) or 'ingen'})"
        if self.seqs is not None:
            where = f"i {len(self.seqs)} hændelser"
        else:
            where = f"i hændelser før {self.before}"
        docs = f", {len(self.documents)} dokumenter" if self.documents else ""
        if self.redactions:
            docs += f", {len(self.redactions)} hændelser i format 1 redigeret"
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


class Eraser:
    """Erasures of one ledger: by retention rule, and on a person's request."""

    def __init__(self, app: LedgerApp, rules: RetentionSettings | None = None) -> None:
        self.app = app
        self.rules = rules or app.settings.retention
        self.tables = app.personal_data.tables
        self.p = self.tables.placeholder

    # What is due

    def plan(self, as_of: datetime) -> list[Planned]:
        """The erasures a retention run on `as_of` makes, in the order it makes them."""
        planned = [
            self._due_by_time(NETWORK, months_before(as_of, self.rules.network_months)),
            self._due_by_time(REFUSAL, months_before(as_of, self.rules.refusal_months)),
            *self._due_with_approvals(as_of),
        ]
        return [item for item in planned if item.commitments]

    def _due_by_time(self, kind: str, cutoff: datetime) -> Planned:
        rows = self._rows(f"kind = {self.p} AND event_time < {self.p}", (kind, cutoff.isoformat()))
        planned = Planned(kind, before=cutoff.isoformat())
        self._take(planned, rows, with_seqs=False)
        return planned

    def _due_with_approvals(self, as_of: datetime) -> list[Planned]:
        """The login evidence and the approvers' identities of approvals that ended long
        enough ago: each rule's events named one by one."""
        rows = self._rows(f"kind IN ({self.p}, {self.p})", (ASSERTION, IDENTITY))
        approvals = {
            (row.originator_id, row.originator_version)
            for row in rows
            if row.field == "authentication.assertion_id"
        }
        ended: dict[tuple[str, int], datetime | None] = {
            key: self.approval_end(UUID(key[0]), key[1]) for key in approvals
        }
        years = {ASSERTION: self.rules.assertion_years, IDENTITY: self.rules.identity_years}
        planned = {kind: Planned(kind, seqs=set()) for kind in (ASSERTION, IDENTITY)}
        due: dict[str, list[_Row]] = {ASSERTION: [], IDENTITY: []}
        for row in rows:
            end = ended.get((row.originator_id, row.originator_version))
            if end is not None and years_after(end, years[row.kind]) <= as_of:
                due[row.kind].append(row)
        for kind, kind_rows in due.items():
            self._take(planned[kind], kind_rows, with_seqs=True)
            if kind == ASSERTION:
                planned[kind].documents = self._assertions(kind_rows)
        return [planned[ASSERTION], planned[IDENTITY]]

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
        subject = subject_of(person)
        rows = self._rows(f"subject = {self.p}", (subject,))
        holding = []
        approvals = {
            (row.originator_id, row.originator_version)
            for row in rows
            if row.field == "authentication.assertion_id"
        }
        earlier = self._format_1_events(subject)
        for key in sorted(approvals):
            end = self.approval_end(UUID(key[0]), key[1])
            if end is None or years_after(end, self.rules.identity_years) > as_of:
                holding.append(self.app.signed_log.seq_of(UUID(key[0]), key[1]))
        for seq, redaction, assertion in earlier:
            if assertion is None:
                continue
            end = self.approval_end(redaction.originator_id, redaction.originator_version)
            if end is None or years_after(end, self.rules.identity_years) > as_of:
                holding.append(seq)
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
        )
        for seq, redaction, assertion in earlier:
            planned.redactions[seq] = redaction
            planned.fields.update(redaction.fields)
            assert planned.seqs is not None
            planned.seqs.add(seq)
            for name in redaction.fields:
                column = _INDEXED_PERSON.get(name)
                if column is not None:
                    planned.index_seqs.setdefault(column, set()).add(seq)
            if assertion is not None:
                planned.documents.add(assertion)
        self.carry_out(planned, actor=actor, reason=reason, basis=REQUEST_BASIS)
        return planned

    # Carrying out

    def run(
        self, as_of: datetime | None = None, *, dry_run: bool = False, actor: Actor
    ) -> list[Planned]:
        """A retention run: every erasure due on `as_of` (now by default), each recorded as
        its own event; with `dry_run`, what would be erased, and nothing is."""
        planned = self.plan(as_of or datetime.now(UTC))
        if not dry_run:
            for item in planned:
                self.carry_out(
                    item, actor=actor, reason=None, basis=rule_basis(self.rules, item.rule)
                )
        return planned

    def carry_out(self, planned: Planned, *, actor: Actor, reason: str | None, basis: str) -> None:
        """Record the erasure, then erase what it names."""
        erasure = PersonalData.erased(
            rule=planned.rule,
            basis=basis,
            reason=reason,
            fields=planned.fields,
            seqs=planned.seqs,
            before=planned.before,
            documents=planned.documents,
            openings=len(planned.commitments),
            actor=actor,
            redacted=[f"{seq} {r.sha256}" for seq, r in planned.redactions.items()],
        )
        self.app.save(erasure)
        planned.seq = self._seq_of(erasure)
        self._erase_openings(planned)
        for sha256 in planned.documents:
            self.app.documents.remove(sha256)

    def _format_1_events(self, subject: str | None) -> list[tuple[int, _Redaction, str | None]]:
        """The events stored before the log adopted format 2 that hold values about
        `subject`, each with its redaction and, for an approval by them, the assertion it
        names. They are found by reading the log: what the index says is not evidence."""
        found = []
        for entry in self.app.signed_log.entries():
            if PERSONAL_MARK in entry.payload:
                continue
            state = vars(entry.event)
            values = [
                value
                for value in personal_values(get_topic(type(entry.event)), state)
                if subject is not None and value.subject == subject
            ]
            if not values:
                continue
            event = entry.event
            fields = {value.field: value.kind for value in values}
            redaction = _Redaction(
                event.originator_id,
                event.originator_version,
                entry.event_type,
                state["timestamp"].isoformat(),
                fields,
                redacted_payload(
                    entry.payload, event.originator_id, event.originator_version, fields
                ),
            )
            authentication = state.get("authentication")
            assertion = None
            if "authentication.assertion_id" in fields and authentication is not None:
                assertion = authentication.assertion_sha256
            found.append((entry.seq, redaction, assertion))
        return found

    def _index_exists(self) -> bool:
        if self.app.settings.database.is_sqlite:
            statement = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name = {self.p}"
        else:
            statement = f"SELECT to_regclass({self.p})"
        rows = self.tables.rows(statement, (INDEX_TABLE,))
        return bool(rows) and rows[0][0] is not None

    def _erase_openings(self, planned: Planned) -> None:
        p = self.p
        erased_seq = planned.seq
        index_seqs = planned.index_seqs if self._index_exists() else {}

        def erase(cursor: Any) -> None:
            if self.app.settings.database.is_sqlite:
                cursor.execute("PRAGMA secure_delete = ON")
            erase_set = (
                f"UPDATE {PERSONAL_DATA_TABLE} SET opening_key = NULL, "
                f"opening_value = NULL, subject = NULL, erased_seq = {p}, rule = {p} "
            )
            if planned.before is not None:
                # A rule by time erases by the plan's own condition, in one statement: no
                # row can have become due since (its event happened before the cutoff).
                cursor.execute(
                    f"{erase_set} WHERE kind = {p} AND event_time < {p} "
                    "AND opening_key IS NOT NULL",
                    (erased_seq, planned.rule, planned.rule, planned.before),
                )
            else:
                for start in range(0, len(planned.commitments), _CHUNK):
                    chunk = planned.commitments[start : start + _CHUNK]
                    cursor.execute(
                        f"{erase_set} WHERE commitment IN ({', '.join([p] * len(chunk))})",
                        (erased_seq, planned.rule, *chunk),
                    )
            for redaction in planned.redactions.values():
                self._redact(cursor, redaction, planned)
            for column, seqs in index_seqs.items():
                ordered = sorted(seqs)
                for start in range(0, len(ordered), _CHUNK):
                    places = ordered[start : start + _CHUNK]
                    cursor.execute(
                        f"UPDATE {INDEX_TABLE} SET {column} = NULL "
                        f"WHERE seq IN ({', '.join([p] * len(places))})",
                        places,
                    )

        self.tables.run(erase)
        self._forget_old_copies(with_index=bool(index_seqs), with_events=bool(planned.redactions))

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

    def _forget_old_copies(self, *, with_index: bool, with_events: bool) -> None:
        """Leave no copy of an erased value in the database's own files where it can: on
        SQLite the write-ahead log is emptied into the file (whose freed space
        `secure_delete` zeroed); on PostgreSQL VACUUM makes the old row versions space for
        reuse (README, Personal data, on what stays in backups and the server's WAL)."""
        database = self.app.settings.database
        connection = database.connect(writable=True)
        try:
            if database.is_sqlite:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                connection.execute(f"VACUUM {PERSONAL_DATA_TABLE}")
                if with_index:
                    connection.execute(f"VACUUM {INDEX_TABLE}")
                if with_events:
                    connection.execute(f"VACUUM {EVENTS_TABLE}")
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
        each event type: the register of processing a data protection officer reads."""
        as_of = as_of or datetime.now(UTC)
        due: dict[str, int] = {}
        for planned in self.plan(as_of):
            for commitment in planned.commitments:
                due[commitment] = 1
        held = self.tables.rows(
            f"SELECT event_type, field, kind, commitment FROM {PERSONAL_DATA_TABLE} "
            "WHERE opening_key IS NOT NULL"
        )
        counts: dict[tuple[str, str, str], list[int]] = {}
        for event_type, field_name, kind, commitment in held:
            count = counts.setdefault((event_type, field_name, kind), [0, 0])
            count[0] += 1
            count[1] += due.get(commitment, 0)
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
