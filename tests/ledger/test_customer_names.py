"""A customer's name corrected, on SQLite and PostgreSQL: a `Renamed` event that keeps the
former name, the customers' read model following it also after `ledger reindex`, and the
staff overview's statuses read from the migration board, however long the log."""

import pytest

from approval_ledger.cli import main
from ledger.danish_time import danish_today
from ledger.domain import Customer, DomainError
from ledger.identity import InvalidCVR, validate_cvr
from ledger.migration_board import MigrationBoard
from ledger.search import PROJECTION
from ledger.storage.tables_of_our_own import OwnTables
from tests.fixtures import AARHUS, ODENSE
from tests.ledger.test_search import tamper


def test_a_renamed_customer_is_listed_by_its_new_name_also_after_reindex(
    app, index, operator, verify_cli
):
    app.register_customer(cvr=AARHUS, name="Århus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    renamed = app.rename_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    assert renamed.former_names == ["Århus Kommune"]
    [*_, entry] = app.history(cvr=AARHUS)
    assert (entry.event_type, entry.event.previous_name, entry.event.name) == (
        "Renamed",
        "Århus Kommune",
        "Aarhus Kommune",
    )
    assert sorted(c.name for c in app.customers()) == ["Aarhus Kommune", "Odense Kommune"]
    kinds = tamper(app, f"SELECT kind, originator_version FROM {PROJECTION} ORDER BY seq")
    assert kinds[-1] == ("customer", 2)  # the rename is projected beside the registration

    tamper(app, f"DELETE FROM {PROJECTION}")
    assert main(["reindex"]) == 0  # verify_cli set the environment to this ledger
    assert [c.name for c in app.customers()] == ["Aarhus Kommune", "Odense Kommune"]
    assert app.customer(AARHUS).former_names == ["Århus Kommune"]
    code, problems, _ = verify_cli()
    assert (code, problems) == (0, [])


def test_a_rename_to_the_same_name_or_of_no_customer_is_refused(app, index, operator):
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    recorded = len(list(app.history()))
    with pytest.raises(DomainError, match="hedder allerede"):
        app.rename_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    with pytest.raises(DomainError, match="ikke registreret"):
        app.rename_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    assert len(list(app.history())) == recorded


def test_the_overview_reads_the_board_not_the_log(app, index, operator, monkeypatch):
    """The statuses cost the same statements with 300 more events in the log, and read no
    aggregate: they come from the migration board's rows, caught up like the index."""
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    board = MigrationBoard(index)
    asked = []
    rows = OwnTables.rows

    def counted(self, statement, params=()):
        asked.append(statement)
        return rows(self, statement, params)

    def statuses_statements() -> int:
        board.customer_statuses([], today=danish_today())  # caught up first
        asked.clear()
        monkeypatch.setattr(OwnTables, "rows", counted)
        monkeypatch.setattr(app.recorder, "select_events", lambda *a, **k: pytest.fail("read"))
        statuses = board.customer_statuses([], today=danish_today())
        monkeypatch.undo()
        assert [s.customer.name for s in statuses] == ["Odense Kommune", "Aarhus Kommune"]
        return len(asked)

    try:
        few = statuses_statements()
        for _ in range(300):
            app.record_login_rejected(reason="loa-too-low", idp="https://idp.example", cvr=AARHUS)
        assert isinstance(app.customer(AARHUS), Customer)
        assert statuses_statements() == few
    finally:
        board.close()


def test_the_customers_are_read_together_not_one_statement_each(app, index, operator, monkeypatch):
    """`customers()` (and every listed kind) reads its aggregates in one statement: on
    PostgreSQL 98 municipalities one by one were 98 round trips on every staff page."""
    valid = [cvr for cvr in map(str, range(10_000_000, 10_000_400)) if _valid(cvr)]
    names = {cvr: f"Kommune {place}" for place, cvr in enumerate(valid, 1)}
    for cvr in valid:
        app.register_customer(cvr=cvr, name=names[cvr], actor=operator)
    app.rename_customer(cvr=valid[0], name="Omdøbt Kommune", actor=operator)
    recorder = app.signed_recorder
    one_by_one, together = recorder.select_events, recorder.select_events_of
    reads: list[str] = []
    monkeypatch.setattr(
        recorder, "select_events", lambda *a, **k: reads.append("one") or one_by_one(*a, **k)
    )
    monkeypatch.setattr(
        recorder, "select_events_of", lambda ids: reads.append("together") or together(ids)
    )
    listed = app.customers()
    assert reads == ["together"]
    assert [c.cvr for c in listed] == valid  # in the order first recorded
    assert listed[0].name == "Omdøbt Kommune"
    assert listed[0].former_names == [names[valid[0]]]


def _valid(cvr: str) -> bool:
    try:
        return validate_cvr(cvr) == cvr
    except InvalidCVR:
        return False
