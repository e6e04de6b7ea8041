"""The openings of an event's personal data are written in the event's own transaction
(ledger.storage.StoredEventWithRows): they are stored if and only if the event is, alone or
in a group commit, and a write makes no transaction of its own for them."""

import threading
from uuid import UUID

import pytest

from ledger.application import LedgerApp
from ledger.evidence.personal import commitments_in
from ledger.evidence.tables import EVENTS_TABLE, LEAVES_TABLE, PERSONAL_DATA_TABLE
from ledger.identity import Actor

PERSON = "7d1f0c3a-5b2e-4c8d-9e6f-0a1b2c3d4e{:02x}"


@pytest.fixture
def adopted(app: LedgerApp, operator: Actor) -> LedgerApp:
    app.adopt_evidence_format_2(operator)  # False if `ledger init` adopted it already
    assert app.personal_mapper.adopted
    with app.personal_data.tables.connected():  # its table, made on first use otherwise
        pass
    return app


def run(app: LedgerApp, *statements: str) -> list[tuple]:
    connection = app.settings.database.connect(writable=True)
    try:
        found: list[tuple] = []
        for statement in statements:
            cursor = connection.cursor()
            cursor.execute(statement)
            if cursor.description is not None:
                found = [tuple(row) for row in cursor.fetchall()]
        return found
    finally:
        connection.close()


def openings(app: LedgerApp) -> set[tuple[str, str, int]]:
    """(commitment, originator id, version) of every stored opening."""
    rows = run(
        app, f"SELECT commitment, originator_id, originator_version FROM {PERSONAL_DATA_TABLE}"
    )
    return {(row[0], str(UUID(str(row[1]))), int(row[2])) for row in rows}


def commitments(app: LedgerApp) -> set[tuple[str, str, int]]:
    """(commitment, originator id, version) of every commitment in a stored payload."""
    found = set()
    for row in run(app, f"SELECT originator_id, originator_version, state FROM {EVENTS_TABLE}"):
        _, committed = commitments_in(bytes(row[2]))
        found |= {(item.commitment, str(UUID(str(row[0]))), int(row[1])) for item in committed}
    return found


def refuse_leaves(app: LedgerApp) -> None:
    if app.settings.database.is_sqlite:
        run(
            app,
            f"CREATE TRIGGER refuse_leaves BEFORE INSERT ON {LEAVES_TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
    else:
        run(
            app,
            "CREATE FUNCTION refuse_leaves() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            f"CREATE TRIGGER refuse_leaves BEFORE INSERT ON {LEAVES_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_leaves()",
        )


def accept_leaves(app: LedgerApp) -> None:
    statements = ["DROP TRIGGER refuse_leaves"]
    if not app.settings.database.is_sqlite:
        statements = [
            f"DROP TRIGGER refuse_leaves ON {LEAVES_TABLE}",
            "DROP FUNCTION refuse_leaves",
        ]
    run(app, *statements)


def grant(app: LedgerApp, operator: Actor, number: int) -> None:
    app.grant_role(
        person_uuid=PERSON.format(number),
        person_name=f"Zyxwa Qwertyø {number}",
        role="auditor",
        cvrs=[],
        actor=operator,
    )


def test_an_event_stores_its_openings_with_it(adopted, operator):
    before = openings(adopted)
    grant(adopted, operator, 1)
    added = openings(adopted) - before
    assert added, "the grant names a person, so it commits personal fields"
    assert added == commitments(adopted) - before
    assert openings(adopted) == commitments(adopted)


def test_an_event_that_is_not_stored_leaves_no_opening(adopted, operator):
    """Refused at its leaf (the last statement of its transaction), the event is not stored,
    and neither are its openings: before, they were committed first, on their own."""
    before = openings(adopted)
    refuse_leaves(adopted)
    try:
        with pytest.raises(Exception, match="refused by the test"):
            grant(adopted, operator, 2)
    finally:
        accept_leaves(adopted)
    assert openings(adopted) == before
    grant(adopted, operator, 2)  # the same command once the leaf is taken
    assert openings(adopted) == commitments(adopted)
    assert len(openings(adopted)) > len(before)


def test_writers_committed_together_store_every_opening_and_no_other(adopted, operator):
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def write(number: int) -> None:
        start.wait()
        try:
            grant(adopted, operator, 10 + number)
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    people = {str(UUID(PERSON.format(10 + n))) for n in range(8)}
    assert len(adopted.role_assignments()) >= len(people)
    assert openings(adopted) == commitments(adopted)


def test_an_opening_is_written_in_no_transaction_of_its_own(adopted, operator, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("the openings took a transaction of their own")

    monkeypatch.setattr(adopted.personal_data.tables, "run", refused)
    monkeypatch.setattr(adopted.personal_data.tables, "transaction", refused)
    grant(adopted, operator, 3)
    monkeypatch.undo()
    assert openings(adopted) == commitments(adopted)
