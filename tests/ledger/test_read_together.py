"""Aggregates read together, on SQLite and PostgreSQL: one read of their events and one of
their personal values (on PostgreSQL each read is a round trip: one an event's openings was
a statement per role on staff's /drift/roller); and what the portal asks of the person
logged in on every page, their active roles and the customer their CVR is, read so."""

import pytest

from development.demo import PERSONS_BY_KEY
from ledger.domain import Customer
from ledger.evidence.tables import PERSONAL_DATA_TABLE
from ledger.storage.tables_of_our_own import OwnTables
from tests.fixtures import AARHUS, ODENSE, grant, register_customers

STAFF = PERSONS_BY_KEY["staff"]
AUDITOR = PERSONS_BY_KEY["auditor"]
AARHUS_SIGNATORY = PERSONS_BY_KEY["aarhus"]


@pytest.fixture
def reads(app, monkeypatch):
    """The reads of events (`one` by one, `together`) and of openings, from now on."""
    asked: list[str] = []
    recorder = app.signed_recorder
    one_by_one, together = recorder.select_events, recorder.select_events_of
    rows = OwnTables.rows

    def counted_rows(self, statement, params=()):
        if PERSONAL_DATA_TABLE in statement:
            asked.append("openings")
        return rows(self, statement, params)

    monkeypatch.setattr(
        recorder, "select_events", lambda *a, **k: asked.append("one") or one_by_one(*a, **k)
    )
    monkeypatch.setattr(
        recorder, "select_events_of", lambda ids: asked.append("together") or together(ids)
    )
    monkeypatch.setattr(OwnTables, "rows", counted_rows)
    return asked


def test_every_role_assignment_opens_its_personal_values_in_one_read(app, index, operator, request):
    people = [PERSONS_BY_KEY[k] for k in ("staff", "auditor", "odense-clerk", "aarhus")]
    for person in people:
        grant(app, operator, person, "auditor", [])
    index.refresh()  # caught up: what is counted is the listing's
    asked = request.getfixturevalue("reads")
    listed = app.role_assignments()
    assert [a.person_name for a in listed] == [p.name for p in people]
    assert asked == ["together", "openings"]


def test_the_roles_and_the_customer_are_one_read(app, operator, request):
    register_customers(app, operator)
    grant(app, operator, AUDITOR, "auditor", [AARHUS])
    grant(app, operator, AUDITOR, "staff", [])
    asked = request.getfixturevalue("reads")

    roles, customer = app.roles_and_customer(AUDITOR.person_uuid, AARHUS)
    assert asked == ["together", "openings"]
    assert sorted(r.role for r in roles) == ["auditor", "staff"]
    assert isinstance(customer, Customer)
    assert (customer.cvr, customer.name) == (AARHUS, app.customer(AARHUS).name)
    assert roles == app.roles_of(AUDITOR.person_uuid)


def test_a_cvr_that_is_no_customer_or_no_cvr_reads_the_roles_and_no_customer(app, operator):
    register_customers(app, operator)
    grant(app, operator, STAFF, "staff", [])
    assert ODENSE in {c.cvr for c in app.customers()}
    for cvr in ("10000009", "1234", ""):
        roles, customer = app.roles_and_customer(STAFF.person_uuid, cvr)
        assert ([r.role for r in roles], customer) == (["staff"], None)
    assert app.roles_and_customer("not a uuid", AARHUS)[0] == []
    assert app.roles_and_customer("not a uuid", AARHUS)[1].cvr == AARHUS
    assert app.roles_and_customer("not a uuid", "") == ([], None)


def test_a_revoked_role_is_not_among_the_roles(app, operator):
    register_customers(app, operator)
    grant(app, operator, AARHUS_SIGNATORY, "auditor", [])
    app.revoke_role(
        person_uuid=AARHUS_SIGNATORY.person_uuid,
        role="auditor",
        reason="Fratrådt sin stilling",
        actor=operator,
    )
    roles, customer = app.roles_and_customer(AARHUS_SIGNATORY.person_uuid, AARHUS)
    assert roles == []
    assert customer is not None
    assert customer.cvr == AARHUS
