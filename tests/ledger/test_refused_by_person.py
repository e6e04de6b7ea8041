"""A search by person finds the person's refused logins until the refusal rule erases their
UUID (ledger.search: the refused logins' subjects, a table beside the index that the rule
DELETEs from, so that it rewrites no index row); after it, the UUID is in no table."""

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from approval_ledger.cli import main
from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.erasure import Eraser
from ledger.evidence.reasons import Reason
from ledger.evidence.verify import verify_database
from ledger.identity import Actor
from ledger.search import REFUSED, TABLE, EventIndex, Query
from tests.helpers import point_the_cli_at

PERSON = "3c9e7a51-2d4b-4f6e-8a1c-5b7d9e0f1a2b"
OTHER = "8e2b4d6f-1a3c-4e5f-9b7d-0c2e4f6a8b1d"
LATER = datetime.now(UTC) + timedelta(days=7 * 31)


def refuse(app: LedgerApp, person: str = PERSON, assertion: str = "_refused-r1") -> int:
    rejection = app.record_login_rejected(
        reason="not-professional",
        idp="https://idp.test",
        assertion_id=assertion,
        person_uuid=person,
    )
    return app.signed_log.seq_of(rejection.id, 1)


def found(
    index: EventIndex, person: str, *, page: int = 1, page_size: int = 50, after: int | None = None
) -> tuple[list[int], int]:
    listed = index.search(Query.checked(person=person), page=page, page_size=page_size, after=after)
    assert listed.repaired == []
    return [entry.seq for entry in listed.entries], listed.total


def side_rows(app: LedgerApp) -> list[tuple[int, str]]:
    return sorted(
        (int(seq), subject)
        for seq, subject in app.personal_data.tables.rows(
            f"SELECT seq, subject_uuid FROM {REFUSED}"
        )
    )


def verified(app: LedgerApp) -> None:
    report = verify_database(
        app.settings.database, app.keyring.verifier_keys(), documents=app.settings.documents_dir
    )
    assert report.ok, [str(problem) for problem in report.problems]


def places_holding(app: LedgerApp, text: str, dump: Path) -> list[str]:
    """The data directory's files (the SQLite file, its WAL, the documents) and, on
    PostgreSQL, a dump of the database, that hold `text`, as grep finds it."""
    places = [str(app.settings.data_dir)]
    if not app.settings.database.is_sqlite:
        subprocess.run(
            ["pg_dump", "--data-only", "--file", str(dump), app.settings.database.url], check=True
        )
        places.append(str(dump))
    held = subprocess.run(["grep", "-rlaF", text, *places], capture_output=True, text=True)
    return held.stdout.split()


def test_a_search_by_person_finds_their_refused_logins_until_the_rule_erases_them(
    app, operator, monkeypatch, capsys, tmp_path: Path
):
    assert app.personal_mapper.adopted
    first = refuse(app)
    refuse(app, OTHER, "_refused-r2")
    second = refuse(app, assertion="_refused-r3")
    index = EventIndex(app)
    try:
        assert found(index, PERSON) == ([second, first], 2)
        assert found(index, f"urn:uuid:{PERSON.upper()}", page_size=1) == ([second], 2)
        assert found(index, PERSON, page_size=1, after=second) == ([first], 2)
        assert found(index, PERSON, page_size=1, page=2) == ([first], 2)
        by_type = index.count_by_type(Query.checked(person=PERSON), ["LoginRejected", "Approved"])
        assert by_type.counts == [("LoginRejected", 2, True)]
        # The index row itself keeps no UUID of a refused login; the side table does.
        rows = app.personal_data.tables.rows(
            f"SELECT subject_uuid FROM {TABLE} WHERE seq IN ({first}, {second})"
        )
        assert rows == [(None,), (None,)]
        assert [seq for seq, subject in side_rows(app) if subject == PERSON] == [first, second]
        assert index.check() == []
        # Derived data: a reindex makes the same rows, and one changed is found by the check.
        index.rebuild()
        assert found(index, PERSON) == ([second, first], 2)
        app.personal_data.tables.run(
            lambda c: c.execute(
                f"UPDATE {REFUSED} SET subject_uuid = '{OTHER}' WHERE seq = {first}"
            )
        )
        assert [(p.reason, p.seq) for p in index.check()] == [(Reason.INDEX_MISMATCH, first)]
        app.personal_data.tables.run(
            lambda c: c.execute(f"DELETE FROM {REFUSED} WHERE seq = {first}")
        )
        assert [(p.reason, p.seq) for p in index.check()] == [(Reason.INDEX_GAP, first)]
        index.rebuild()
        assert index.check() == []
        assert places_holding(app, PERSON, tmp_path / "before.sql") != []  # grep finds it

        point_the_cli_at(app, monkeypatch)
        assert main(["retention", "run", "--as-of", LATER.date().isoformat()]) == 0
        assert "erased regel refusal" in capsys.readouterr().out

        assert found(index, PERSON) == ([], 0)
        assert found(index, OTHER) == ([], 0)
        assert side_rows(app) == []
        assert index.check() == []
        verified(app)
        if not app.settings.database.is_sqlite:
            Eraser(app).reclaim()
        assert places_holding(app, PERSON, tmp_path / "after.sql") == []
        assert places_holding(app, OTHER, tmp_path / "after-other.sql") == []
    finally:
        index.close()


def test_a_request_erasure_takes_the_refused_login_out_of_the_search_by_person(app, operator):
    seq = refuse(app)
    kept = refuse(app, OTHER, "_refused-r2")
    index = EventIndex(app)
    try:
        assert found(index, PERSON) == ([seq], 1)
        Eraser(app).erase_person(f"urn:uuid:{PERSON}", reason="Sag 7", actor=operator)
        assert found(index, PERSON) == ([], 0)
        assert found(index, OTHER) == ([kept], 1)
        assert side_rows(app) == [(kept, OTHER)]
        assert index.check() == []
        verified(app)
    finally:
        index.close()


@pytest.fixture
def format_1(settings: Settings, operator: Actor):
    ledger = initialize(settings, operator, evidence_format=1).app
    yield ledger
    ledger.close()


def test_a_format_1_refused_login_is_found_by_person_until_the_rule_redacts_it(format_1, operator):
    seq = refuse(format_1)
    index = EventIndex(format_1)
    try:
        assert found(index, PERSON) == ([seq], 1)
        assert format_1.adopt_evidence_format_2(operator)
        done = {planned.rule for planned in Eraser(format_1).run(LATER, actor=operator)}
        assert "refusal" in done
        assert found(index, PERSON) == ([], 0)
        assert side_rows(format_1) == []
        assert index.check() == []
        verified(format_1)
    finally:
        index.close()
