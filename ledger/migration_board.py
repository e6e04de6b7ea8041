"""The migration board: every municipality's migration read without scanning the log.

A projection of the log, as the search index is (and caught up after it): one row per event
that concerns a migration (`ledger.migration.fact_of`: a customer's name, an agreement
version published or retired, an approval, its reset or check, a declaration's steps, each
migration task), in a table of its own (`ledger_migration_facts`). The matrix of every
municipality and one municipality's checklist are one SELECT of these rows, folded by
`ledger.migration.derive`, the one derivation of where a migration stands. Staff's overview
of the approvals and declarations (`customer_statuses`) is read from the same rows: a
customer's, an approval's and a declaration's state as their events left it, without
reading the aggregates (two per customer).

The rows hold no personal data (names and UUIDs stay in the log, format 2): who recorded
a task is read from the log by the task's `seq` (`entries`). The board is derived data:
`ledger reindex` rebuilds it, `ledger verify` compares every row with its event and finds
the events of the index it lacks.
"""

import datetime
import heapq
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ledger.domain import AgreementVersion, Declaration
from ledger.evidence.database import DatabaseURL
from ledger.evidence.reasons import Reason
from ledger.migration import (
    FACT_EVENT_TYPES,
    Fact,
    MigrationStatus,
    UncheckedApproval,
    derive,
    fact_of,
)
from ledger.read_models import CustomerStatus, danish_sort_key
from ledger.search import TABLE as INDEX_TABLE
from ledger.search import EventIndex, IndexProblem
from ledger.signed_log import Entry
from ledger.storage.tables_of_our_own import OwnTables

TABLE = "ledger_migration_facts"
# The highest `seq` of the search index the board has looked through (one row).
STATE = "ledger_migration_facts_done"
_COLUMNS = ("seq", "cvr", "subject", "change", "at", "party", "details")
_TYPES_SQL = ", ".join(f"'{name}'" for name in FACT_EVENT_TYPES)  # our own plain names
_BATCH = 500
_CREATE = {
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (seq INTEGER PRIMARY KEY, cvr TEXT, "
        "subject TEXT NOT NULL, change TEXT NOT NULL, at TEXT NOT NULL, party TEXT, "
        "details TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {STATE} (one INTEGER PRIMARY KEY, seq INTEGER NOT NULL)",
    ),
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (seq bigint PRIMARY KEY, cvr text, "
        "subject text NOT NULL, change text NOT NULL, at text NOT NULL, party text, "
        "details text NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {STATE} (one integer PRIMARY KEY, seq bigint NOT NULL)",
    ),
}
_CREATE_INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_cvr ON {TABLE} (cvr, seq)"
_CREATE_LOCK = int.from_bytes(b"ledgermb", "big") >> 1


def _row(fact: Fact) -> tuple[Any, ...]:
    return (
        fact.seq,
        fact.cvr,
        fact.subject,
        fact.change,
        fact.at.isoformat(),
        fact.party,
        json.dumps(fact.details, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
    )


def _fact(row: Sequence[Any]) -> Fact:
    seq, cvr, subject, change, at, party, details = row
    return Fact(
        cvr,
        subject,
        change,
        datetime.datetime.fromisoformat(at),
        party,
        json.loads(details),
        int(seq),
    )


@dataclass(frozen=True)
class CustomerView:
    """A customer as its events left it (`ledger.read_models.CustomerFacts`)."""

    cvr: str
    name: str
    created_on: datetime.datetime


@dataclass(frozen=True)
class ApprovalView:
    """An approval as its events left it (`ledger.read_models.ApprovalFacts`): approved at
    a moment, or reset; `modified_on` is when its last event happened."""

    is_approved: bool
    approved_at: datetime.datetime | None
    modified_on: datetime.datetime


@dataclass(frozen=True)
class DeclarationView:
    """A declaration as its events left it (`ledger.read_models.DeclarationFacts`)."""

    status: str
    handed_in_at: datetime.datetime
    modified_on: datetime.datetime
    sent_on: str | None = None
    renewal_due: str | None = None


def follow_up(
    facts: Sequence[Fact], current: Sequence[AgreementVersion], today: datetime.date
) -> CustomerStatus | None:
    """A customer's status for staff's overview from its facts in the order they happened:
    each event changes the view as it changes its aggregate (`Approval`, `Declaration`);
    None when the facts hold no registration."""
    customer: CustomerView | None = None
    approvals: dict[str, ApprovalView] = {}
    declaration: DeclarationView | None = None
    for fact in facts:
        if fact.subject == "customer":
            created = customer.created_on if customer is not None else fact.at
            customer = CustomerView(str(fact.cvr), fact.details["name"], created)
        elif fact.subject == "approval":
            version = fact.details["version"]
            if fact.change == "approved":
                approvals[version] = ApprovalView(True, fact.at, fact.at)
            elif fact.change == "reset":
                approvals[version] = ApprovalView(False, None, fact.at)
            elif version in approvals:  # checked: an event of the approval all the same
                approvals[version] = replace(approvals[version], modified_on=fact.at)
        elif fact.subject == "declaration":
            if fact.change == "handed-in":
                declaration = DeclarationView(Declaration.HANDED_IN, fact.at, fact.at)
            elif declaration is not None and fact.change == "countersigned":
                declaration = replace(
                    declaration, status=Declaration.COUNTERSIGNED, modified_on=fact.at
                )
            elif declaration is not None and fact.change == "sent":
                declaration = replace(
                    declaration,
                    status=Declaration.SENT,
                    modified_on=fact.at,
                    sent_on=fact.details["sent_on"],
                    renewal_due=fact.details["renewal_due"],
                )
    if customer is None:
        return None
    return CustomerStatus(
        customer=customer,
        approvals=[(version, approvals.get(str(version.id))) for version in current],
        declaration=declaration,
        today=today,
    )


class MigrationBoard:
    """Every municipality's migration, from the board's rows (see the module's text)."""

    def __init__(self, index: EventIndex) -> None:
        self.index = index
        self.app = index.app
        database = self.app.settings.database
        self.tables = OwnTables(database, (*_CREATE[database.scheme], _CREATE_INDEX), _CREATE_LOCK)
        self.p = self.tables.placeholder
        # The rows read so far, as facts, by CVR (None: every CVR's, the agreement
        # versions'), and each municipality's status as last derived: rows are only ever
        # added, so a read asks only for the rows after the last one read, and a
        # municipality whose facts did not change since is not derived again.
        self._lock = threading.Lock()
        self._read_up_to = -1
        self._by_cvr: dict[str | None, list[Fact]] = {}
        self._derived: dict[str, tuple[tuple[int, int, datetime.date], MigrationStatus]] = {}
        self._followed: dict[str, tuple[tuple[int, tuple[Any, ...], datetime.date], Any]] = {}

    # Keeping the board

    def refresh(self) -> int:
        """Add the rows of the events indexed since the last refresh; how many it added."""
        self.index.refresh()
        ((done_seq, highest_seq),) = self.tables.rows(
            f"SELECT (SELECT seq FROM {STATE} WHERE one = 1), (SELECT MAX(seq) FROM {INDEX_TABLE})"
        )
        done = -1 if done_seq is None else int(done_seq)
        if highest_seq is None or int(highest_seq) <= done:
            return 0
        highest = int(highest_seq)
        seqs = [
            int(row[0])
            for row in self.tables.rows(
                f"SELECT seq FROM {INDEX_TABLE} WHERE seq > {self.p} AND seq <= {self.p} "
                f"AND event_type IN ({_TYPES_SQL}) ORDER BY seq",
                (done, highest),
            )
        ]
        batches = [seqs[start : start + _BATCH] for start in range(0, len(seqs), _BATCH)]
        added = 0
        for number, batch in enumerate(batches, 1):
            rows = self._rows_of(self.app.signed_log.entries_at(batch))
            self._insert(rows, done=highest if number == len(batches) else None)
            added += len(rows)
        if not batches:
            self._insert([], done=highest)
        return added

    def fill_missing(self) -> int:
        """Derive again the rows of indexed events the board lacks below where it has
        looked (a row deleted in the database): one statement when none is missing. Each
        process does it at its first read; `ledger verify` reports such a row too."""
        seqs = [
            int(row[0])
            for row in self.tables.rows(
                f"SELECT i.seq FROM {INDEX_TABLE} i LEFT JOIN {TABLE} b ON b.seq = i.seq "
                f"WHERE i.event_type IN ({_TYPES_SQL}) AND b.seq IS NULL AND i.seq <= "
                f"(SELECT seq FROM {STATE} WHERE one = 1) ORDER BY i.seq"
            )
        ]
        added = 0
        for start in range(0, len(seqs), _BATCH):
            rows = self._rows_of(self.app.signed_log.entries_at(seqs[start : start + _BATCH]))
            self._insert(rows)
            added += len(rows)
        return added

    @staticmethod
    def _rows_of(entries: Sequence[Entry]) -> list[tuple[Any, ...]]:
        return [
            _row(fact) for entry in entries if (fact := fact_of(entry.event, entry.seq)) is not None
        ]

    def _insert(self, rows: Sequence[tuple[Any, ...]], *, done: int | None = None) -> None:
        """The rows, and with `done` the highest seq the board has looked at, in one
        transaction: a staff page that catches up after a write waits for one commit (an
        fsync on SQLite), not one for the rows and another for the mark."""
        if not rows and done is None:
            return
        p = self.p

        def insert(cursor: Any) -> None:
            if rows:
                cursor.executemany(
                    f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join([p] * len(_COLUMNS))}) ON CONFLICT (seq) DO NOTHING",
                    rows,
                )
            if done is not None:
                cursor.execute(
                    f"INSERT INTO {STATE} (one, seq) VALUES (1, {p}) ON CONFLICT (one) "
                    f"DO UPDATE SET seq = excluded.seq WHERE {STATE}.seq < excluded.seq",
                    (done,),
                )

        self.tables.run(insert)

    def rebuild(self) -> int:
        """Drop every row and derive the board again from the search index and the log."""

        def drop(cursor: Any) -> None:
            cursor.execute(f"DELETE FROM {TABLE}")
            cursor.execute(f"DELETE FROM {STATE}")

        self.tables.run(drop)
        self._forget()
        return self.refresh()

    def _forget(self) -> None:
        with self._lock:
            self._read_up_to = -1
            self._by_cvr = {}
            self._derived = {}
            self._followed = {}

    # Reading

    def _read(self) -> dict[str | None, list[Fact]]:
        """Every row as facts by CVR, reading from the database only the rows added since
        the last read (after catching up)."""
        self.refresh()
        if self._read_up_to < 0:  # this process's first read
            self.fill_missing()
        with self._lock:
            rows = self.tables.rows(
                f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE seq > {self.p} ORDER BY seq",
                (self._read_up_to,),
            )
            for row in rows:
                fact = _fact(row)
                self._by_cvr.setdefault(fact.cvr, []).append(fact)
            if rows:
                self._read_up_to = int(rows[-1][0])
            return {cvr: list(facts) for cvr, facts in self._by_cvr.items()}

    def _status(
        self, cvr: str, facts: list[Fact], shared: list[Fact], today: datetime.date
    ) -> MigrationStatus:
        key = (_seq(facts[-1]) if facts else -1, _seq(shared[-1]) if shared else -1, today)
        with self._lock:
            known = self._derived.get(cvr)
        if known is not None and known[0] == key:
            return known[1]
        status = derive(cvr, heapq.merge(facts, shared, key=_seq), today=today)
        with self._lock:
            self._derived[cvr] = (key, status)
        return status

    def matrix(self, *, today: datetime.date) -> list[MigrationStatus]:
        """Every registered municipality's migration, by name in Danish order."""
        by_cvr = self._read()
        shared = by_cvr.get(None, [])
        statuses = [
            self._status(cvr, facts, shared, today)
            for cvr, facts in by_cvr.items()
            if cvr is not None and any(f.subject == "customer" for f in facts)
        ]
        return sorted(statuses, key=lambda s: danish_sort_key(s.name))

    def customer_statuses(
        self, current: Sequence[AgreementVersion], *, today: datetime.date
    ) -> list[CustomerStatus]:
        """Every registered customer's approvals of the `current` agreement versions and
        its declaration, as staff's overview follows them up, by name in Danish order (then
        in the order registered); a customer whose facts did not change since the last read
        is not folded again."""
        by_cvr = self._read()
        versions = tuple(version.id for version in current)
        statuses = []
        for cvr, facts in by_cvr.items():
            if cvr is None or not facts:
                continue
            key = (_seq(facts[-1]), versions, today)
            with self._lock:
                known = self._followed.get(cvr)
            if known is not None and known[0] == key:
                status = known[1]
            else:
                status = follow_up(facts, current, today)
                with self._lock:
                    self._followed[cvr] = (key, status)
            if status is not None:
                statuses.append((_registered(facts), status))
        statuses.sort(key=lambda found: (danish_sort_key(found[1].customer.name), found[0]))
        return [status for _, status in statuses]

    def customers(self) -> list[CustomerView]:
        """Every registered customer (its name now, when it was registered), by name in
        Danish order (then in the order registered), as `LedgerApp.customers` has them but
        without reading an aggregate each."""
        found = []
        for cvr, facts in self._read().items():
            named = [f for f in facts if f.subject == "customer"] if cvr is not None else []
            if named:
                view = CustomerView(str(cvr), named[-1].details["name"], named[0].at)
                found.append((danish_sort_key(view.name), _seq(named[0]), view))
        return [view for *_, view in sorted(found, key=lambda f: f[:2])]

    def status(self, cvr: str, *, today: datetime.date) -> MigrationStatus:
        """One municipality's migration."""
        by_cvr = self._read()
        return self._status(cvr, by_cvr.get(cvr, []), by_cvr.get(None, []), today)

    def unchecked_approvals(self, *, today: datetime.date) -> list[UncheckedApproval]:
        """The approvals in force without a signal of signing authority, not yet checked."""
        found = [u for status in self.matrix(today=today) for u in status.unchecked]
        return sorted(found, key=lambda u: u.approved_at)

    def entries(self, status: MigrationStatus) -> dict[str, Entry]:
        """The log's event that settles each task that has one (who recorded it, and every
        fact it recorded, personal ones included while they are kept), by task key."""
        wanted = {t.seq: t.key for t in status.tasks if t.seq is not None}
        return {wanted[e.seq]: e for e in self.app.signed_log.entries_at(wanted)}

    # Checking

    def check(self) -> list[IndexProblem]:
        """How the board differs from the log: a row unlike its event's fact, a row for no
        event of the kind, or an event of the kind the index holds below where the board has
        looked without its row. Reads through a connection of its own and changes nothing
        (`ledger verify`); a board never made has nothing to differ."""
        database = self.app.settings.database
        connection = database.connect()
        try:
            if not all(_table_exists(connection, database, t) for t in (TABLE, STATE, INDEX_TABLE)):
                return []
            cursor = connection.cursor()
            cursor.execute(f"SELECT seq FROM {STATE} WHERE one = 1")
            found = cursor.fetchone()
            done = -1 if found is None else int(found[0])
            cursor.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} ORDER BY seq")
            rows = {int(row[0]): _normal(row) for row in cursor.fetchall()}
            cursor.execute(
                f"SELECT seq FROM {INDEX_TABLE} WHERE seq <= {self.p} "
                f"AND event_type IN ({_TYPES_SQL}) ORDER BY seq",
                (done,),
            )
            expected_seqs = [int(row[0]) for row in cursor.fetchall()]
        finally:
            connection.close()
        problems: list[IndexProblem] = []
        wanted = sorted(set(rows) | set(expected_seqs))
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            entries = {e.seq: e for e in self.app.signed_log.entries_at(chunk)}
            for seq in chunk:
                entry = entries.get(seq)
                fact = fact_of(entry.event, seq) if entry is not None else None
                expected = _row(fact) if fact is not None else None
                row = rows.get(seq)
                if row is None and expected is not None:
                    problems.append(
                        IndexProblem(Reason.INDEX_GAP, seq, "the migration board lacks its row")
                    )
                elif row is not None and expected is None:
                    problems.append(IndexProblem.unlogged(seq, "a migration board row"))
                elif row is not None and row != expected:
                    problems.append(
                        IndexProblem(
                            Reason.INDEX_MISMATCH,
                            seq,
                            "the migration board row differs from its event",
                        )
                    )
        return problems

    def close(self) -> None:
        self.tables.close()


def _seq(fact: Fact) -> int:
    return fact.seq if fact.seq is not None else -1


def _registered(facts: Sequence[Fact]) -> int:
    """Where the customer was registered in the log (the order `LedgerApp.customers` lists)."""
    return next((_seq(f) for f in facts if f.subject == "customer"), -1)


def _normal(row: Sequence[Any]) -> tuple[Any, ...]:
    return (int(row[0]), *row[1:])


def _table_exists(connection: Any, database: DatabaseURL, table: str) -> bool:
    cursor = connection.cursor()
    if database.is_sqlite:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return cursor.fetchone() is not None
    cursor.execute("SELECT to_regclass(%s)", (table,))
    return cursor.fetchone()[0] is not None
