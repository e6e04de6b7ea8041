"""Any sequence of events and erasures leaves the log verifying: `ledger verify` finds
nothing, every bundle and receipt made on the way still verifies with the same bytes, and
no erased value can be found in the database file, the documents directory or a bundle
exported after its erasure."""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.erasure import Eraser, Planned
from ledger.evidence.bundle import verify_bundle
from ledger.evidence.personal import commitments_in
from ledger.evidence.tables import PERSONAL_DATA_TABLE
from ledger.evidence.verify import verify_database
from ledger.export import export_bundle
from ledger.identity import Actor
from ledger.personal_data import BY_TIME, is_erased
from tests.conftest import new_postgres_database, settings_in
from tests.fixtures import AARHUS, login, signatory

OPERATOR = Actor(Actor.OPERATOR, "drift")
NOW = datetime.now(UTC)
PEOPLE = 3

# One step: approve (by a person, of one of two agreements), reset one of them, a refused
# login, a retention run some days on, a person's request some days on, a bundle.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("approve"), st.integers(0, PEOPLE - 1), st.integers(0, 1)),
        st.tuples(st.just("reset"), st.integers(0, 1), st.just(0)),
        st.tuples(st.just("refused"), st.integers(0, PEOPLE - 1), st.just(0)),
        st.tuples(st.just("retention"), st.integers(0, 5 * 366), st.just(0)),
        st.tuples(st.just("request"), st.integers(0, PEOPLE - 1), st.integers(0, 5 * 366)),
        st.tuples(st.just("bundle"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=15,
)


def person(number: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{number + 1:012d}"


def name(number: int) -> str:
    return f"Personnavn{number}x"


@dataclass
class Run:
    app: LedgerApp
    out: Path
    counter: int = 0
    agreements: list = field(default_factory=list)
    # Values each held by one event: (seq, which fact, the value).
    unique: list[tuple[int, str, str]] = field(default_factory=list)
    erased_people: set[int] = field(default_factory=set)
    receipts: dict[int, str] = field(default_factory=dict)
    bundles: list[tuple[Path, dict[str, bytes]]] = field(default_factory=list)

    def next(self) -> int:
        self.counter += 1
        return self.counter


def grep(text: str, *places: Path) -> list[str]:
    found = subprocess.run(
        ["grep", "-rlaFw", text, *map(str, places)], capture_output=True, text=True
    )
    return found.stdout.split()


def do(run: Run, step: tuple[str, int, int]) -> None:
    app, kind = run.app, step[0]
    if kind == "approve":
        who, which = step[1], step[2]
        if who in run.erased_people:
            return
        agreement = run.agreements[which]
        approval = app.approval(AARHUS, agreement.id)
        if approval is not None and approval.is_approved:
            return
        n = run.next()
        ip, agent, assertion = f"198.18.{n}.7", f"Agent{n}x", f"_assertion{n}x"
        approval, _ = app.approve(
            cvr=AARHUS,
            version_id=agreement.id,
            actor=signatory(name=name(who), person_uuid=person(who)),
            authentication=login(app, assertion),
            ip=ip,
            user_agent=agent,
        )
        seq = app.signed_log.seq_of(approval.id, approval.version)
        run.unique += [(seq, "ip", ip), (seq, "user_agent", agent), (seq, "assertion", assertion)]
        run.receipts[seq] = app.signed_log.receipt(seq).to_json()
    elif kind == "reset":
        approval = app.approval(AARHUS, run.agreements[step[1]].id)
        if approval is not None and approval.is_approved:
            app.reset_approval(
                cvr=AARHUS,
                version_id=run.agreements[step[1]].id,
                reason="godkendt af den forkerte",
                actor=OPERATOR,
            )
    elif kind == "refused":
        if step[1] in run.erased_people:
            return
        n = run.next()
        rejection = app.record_login_rejected(
            reason="not-professional",
            idp="https://idp.test",
            assertion_id=f"_refused{n}x",
            person_uuid=person(step[1])[9:],
        )
        seq = app.signed_log.seq_of(rejection.id, 1)
        run.unique.append((seq, "refused", f"_refused{n}x"))
    elif kind == "retention":
        Eraser(app).run(NOW + timedelta(days=step[1]), actor=OPERATOR)
    elif kind == "request":
        outcome = Eraser(app).erase_person(
            person(step[1]),
            reason="Sag 1",
            actor=OPERATOR,
            as_of=NOW + timedelta(days=step[2]),
        )
        if isinstance(outcome, Planned):
            run.erased_people.add(step[1])
    elif kind == "bundle":
        path = run.out / f"bundle-{len(run.bundles)}"
        export_bundle(app, path)
        run.bundles.append((path, {p.name: p.read_bytes() for p in path.iterdir()}))


def check(run: Run) -> None:
    app = run.app
    keys = app.keyring.verifier_keys()
    report = verify_database(app.settings.database, keys, documents=app.settings.documents_dir)
    assert report.ok, [str(p) for p in report.problems]
    for seq, receipt in run.receipts.items():
        assert app.signed_log.receipt(seq).to_json() == receipt
    for path, files in run.bundles:
        assert {p.name: p.read_bytes() for p in path.iterdir()} == files
        assert verify_bundle(path, keys).ok
    latest = run.out / f"latest-{run.next()}"
    export_bundle(app, latest)
    assert verify_bundle(latest, keys).ok
    held = database_files(app, run.out / f"dump-{run.next()}")
    places = (*held, latest)
    gone = [(seq, fact, value) for seq, fact, value in run.unique if is_gone(app, seq, fact)]
    for seq, fact, value in gone:
        assert grep(value, *places) == [], (seq, fact, value)
    for seq, fact, value in run.unique:
        if (seq, fact, value) not in gone:
            assert grep(value, *held) != [], (seq, fact, value)  # still held
    # A rule by time deletes what it erased (no row is left naming it), a request keeps a row
    # without key or value: either way every reader names the erasure that took the value.
    stored = {
        row[0]: row[1]
        for row in app.personal_data.tables.rows(
            f"SELECT commitment, rule FROM {PERSONAL_DATA_TABLE}"
        )
    }
    assert not [rule for rule in stored.values() if rule in BY_TIME]
    missing = 0
    for seq, fact, _ in gone:
        shown = erased_value(app, seq, fact)
        assert shown.seq is not None, (seq, fact, str(shown))
        assert shown.rule is not None, (seq, fact, str(shown))
        missing += shown.rule in BY_TIME
    committed = [
        c.commitment for entry in app.signed_log.entries() for c in commitments_in(entry.payload)[1]
    ]
    assert missing <= sum(commitment not in stored for commitment in committed)
    event(f"{missing} erased values' rows missing (deleted by a time rule)")
    event(f"{len(gone)} of {len(run.unique)} unique values erased")
    event(f"{len(run.erased_people)} people erased on request")
    for who in run.erased_people:
        assert grep(name(who), *places) == [], name(who)
        assert grep(person(who)[9:], *places) == [], person(who)
    shutil.rmtree(latest)


def erased_value(app: LedgerApp, seq: int, fact: str) -> Any:
    facts = app.signed_log.entry(seq).facts()
    return {
        "ip": lambda: facts["request"]["ip"],
        "user_agent": lambda: facts["request"]["user_agent"],
        "assertion": lambda: facts["authentication"]["assertion_id"],
        "refused": lambda: facts["assertion_id"],
    }[fact]()


def database_files(app: LedgerApp, dump: Path) -> tuple[Path, ...]:
    """Where the ledger's data is for grep: its data directory (the SQLite file and its WAL,
    the documents), and on PostgreSQL a dump of the database as SQL reads it (what a query
    can still find; old row versions are the server's files, see README)."""
    if app.settings.database.is_sqlite:
        return (app.settings.data_dir,)
    subprocess.run(
        ["pg_dump", "--data-only", "--file", str(dump), app.settings.database.url], check=True
    )
    return (app.settings.data_dir, dump)


def is_gone(app: LedgerApp, seq: int, fact: str) -> bool:
    return is_erased(erased_value(app, seq, fact))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps)
def test_any_events_and_erasures_leave_every_proof_valid_and_nothing_erased_findable(steps):
    exercise(steps, None)


@pytest.mark.postgres
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps)
def test_the_same_on_postgresql(steps):
    with new_postgres_database() as url:
        exercise(steps, url)


def exercise(steps: list[tuple[str, int, int]], database_url: str | None) -> None:
    directory = Path(tempfile.mkdtemp(prefix="erasure-property-"))
    app = initialize(settings_in(directory / "var", database_url), OPERATOR).app
    try:
        app.adopt_evidence_format_2(OPERATOR)
        app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=OPERATOR)
        run = Run(app, directory)
        for label in ("2026.1", "2026.2"):
            run.agreements.append(
                app.publish_agreement(
                    title="Driftsaftale",
                    version_label=label,
                    document=b"%PDF-1.4\n% " + label.encode() + b"\n%%EOF\n",
                    document_name="driftsaftale.pdf",
                    actor=OPERATOR,
                )
            )
        for step in steps:
            do(run, step)
        check(run)
    finally:
        app.close()
        shutil.rmtree(directory, ignore_errors=True)
