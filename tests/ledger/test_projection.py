"""The aggregate projection, on SQLite and PostgreSQL: the customers, agreement versions,
role assignments and declarations it lists are exactly those a scan of the log by topic
finds, it keeps up with the log, `ledger reindex` rebuilds it, a deleted row is derived
again, and `ledger verify` reports a row that is missing, altered or invented."""

import pytest

from approval_ledger.cli import main
from ledger.domain import AgreementVersion, Customer, Declaration, RoleAssignment
from ledger.search import PROJECTION, EventIndex
from tests.ledger.test_search import build_mix, tamper

CREATED = {
    Customer: Customer.Registered,
    AgreementVersion: AgreementVersion.Published,
    RoleAssignment: RoleAssignment.RoleGranted,
    Declaration: Declaration.HandedIn,
}


@pytest.fixture
def mixed(app, operator):
    return build_mix(app, operator)


def scanned(app, kind):
    """What a scan of the log by topic finds: the ids of the aggregates the kind's first
    event opened, in log order."""
    return app._originators(CREATED[kind])


def projection_rows(app) -> list[tuple]:
    return tamper(
        app,
        f"SELECT seq, kind, originator_id, originator_version FROM {PROJECTION} ORDER BY seq",
    )


@pytest.mark.parametrize("kind", list(CREATED))
def test_each_kind_lists_what_a_scan_of_the_log_finds(app, index, mixed, kind):
    expected = scanned(app, kind)
    assert expected  # the mix has some of every kind
    assert index.ids_of(kind) == expected


def test_the_application_lists_through_the_projection_as_it_did_from_the_log(
    app, mixed, monkeypatch
):
    from_the_log = (app.customers(), app.agreement_versions(), app.role_assignments())
    index = EventIndex(app)
    try:
        assert app.projection is index
        # Nothing is read from the log by topic once the index keeps the projection.
        monkeypatch.setattr(app, "_originators", lambda created: pytest.fail("scanned"))
        assert (app.customers(), app.agreement_versions(), app.role_assignments()) == from_the_log
    finally:
        index.close()
    assert app.projection is None


def test_the_projection_keeps_up_with_the_log(app, index, operator):
    assert index.ids_of(Customer) == []
    customer = app.register_customer(cvr="55133018", name="Aarhus Kommune", actor=operator)
    assert index.ids_of(Customer) == [customer.id]
    assert [c.cvr for c in app.customers()] == ["55133018"]


def test_reindex_rebuilds_the_projection(app, index, mixed, monkeypatch, capsys, verify_cli):
    index.refresh()
    before = projection_rows(app)
    assert before
    tamper(app, f"DELETE FROM {PROJECTION}")
    assert main(["reindex"]) == 0  # verify_cli set the environment to this ledger
    assert projection_rows(app) == before
    assert verify_cli()[:2] == (0, [])


def test_a_deleted_row_is_derived_again_and_reported_by_verify(app, index, mixed, verify_cli):
    index.refresh()
    [(seq, _, originator_id, _)] = tamper(
        app,
        f"SELECT seq, kind, originator_id, originator_version FROM {PROJECTION} "
        "WHERE kind = 'agreement_version' AND originator_version = 1 ORDER BY seq LIMIT 1",
    )
    tamper(app, f"DELETE FROM {PROJECTION} WHERE seq = ?", (seq,))
    code, problems, report = verify_cli()
    assert code == 1
    assert problems == [("index-gap", seq)]
    assert "aggregate projection" in report["problems"][0]["detail"]
    # The next list finds the gap beside the index's row of the event, from the log.
    assert str(index.ids_of(AgreementVersion)[0]) == originator_id
    assert verify_cli()[:2] == (0, [])


def test_an_altered_or_invented_row_is_reported_by_verify(app, index, mixed, operator, verify_cli):
    index.refresh()
    rows = projection_rows(app)
    customers = [row for row in rows if row[1] == "customer"]
    altered, other = customers[0], customers[1]
    tamper(app, f"UPDATE {PROJECTION} SET originator_id = ? WHERE seq = ?", (other[2], altered[0]))
    approval_seq = next(
        entry.seq for entry in app.signed_log.entries() if entry.event_type == "Approved"
    )
    tamper(
        app,
        f"INSERT INTO {PROJECTION} (seq, kind, originator_id, originator_version) "
        "VALUES (?, 'customer', ?, 1)",
        (approval_seq, "00000000-0000-4000-8000-000000000001"),
    )
    code, problems, report = verify_cli()
    assert code == 1
    assert sorted(problems) == sorted(
        [("index-mismatch", altered[0]), ("index-mismatch", approval_seq)]
    )
    details = {p["seq"]: p["detail"] for p in report["problems"]}
    assert (
        details[altered[0]]
        == "the aggregate projection row's originator_id differ from the event's"
    )
    assert (
        details[approval_seq]
        == "an aggregate projection row for an event of no projected aggregate"
    )
    # The lists still show only aggregates that exist, each once.
    assert sorted(c.cvr for c in app.customers()) == sorted(
        app.repository.get(oid).cvr for oid in scanned(app, Customer) if str(oid) != altered[2]
    )


def test_a_row_deleted_while_the_trigger_was_dropped_is_found_when_it_is_made_again(
    app, index, mixed
):
    """The catch-up reads no projection row when nothing was recorded deleted; a deletion
    made with the trigger dropped is found by the next process, which makes it again."""
    index.refresh()
    before = projection_rows(app)
    drop = "DROP TRIGGER ledger_event_index_removed_projection"
    tamper(app, drop if app.settings.database.is_sqlite else f"{drop} ON {PROJECTION}")
    tamper(app, f"DELETE FROM {PROJECTION} WHERE seq = ?", (before[0][0],))
    again = EventIndex(app)  # as a process starting makes the tables and triggers
    try:
        again.refresh()
        assert projection_rows(app) == before
    finally:
        again.close()
