"""What a page reads of the person logged in, on SQLite and PostgreSQL: their roles and the
customer they are logged in for in one read a request (the menu asks both on every page; on
PostgreSQL each read is a round trip), and nothing of them again."""

import pytest

from development.demo import PERSONS_BY_KEY
from ledger.domain import customer_id, role_assignment_id
from tests.fixtures import AARHUS
from tests.helpers import staff_login, staff_world
from tests.web.test_login import log_in
from web.auth import PortalUser


@pytest.fixture
def portal(app, make_portal, operator):
    staff_world(app, operator)
    return make_portal(app)


@pytest.fixture
def reads(app, monkeypatch):
    """The aggregates each read of events asks for: one by one, or together."""
    asked: list[list] = []
    recorder = app.signed_recorder
    one_by_one, together = recorder.select_events, recorder.select_events_of

    def one(originator_id, *args, **kwargs):
        asked.append([originator_id])
        return one_by_one(originator_id, *args, **kwargs)

    def many(ids):
        asked.append(list(ids))
        return together(ids)

    monkeypatch.setattr(recorder, "select_events", one)
    monkeypatch.setattr(recorder, "select_events_of", many)
    return asked


def test_staffs_page_reads_the_roles_and_the_operators_cvr_once_together(portal, app, request):
    client = portal.test_client()
    staff_login(client)
    assert client.get("/drift/kunder").status_code == 200
    asked = request.getfixturevalue("reads")
    assert client.get("/drift/kunder").status_code == 200
    staff = PERSONS_BY_KEY["staff"]
    operator_cvr = portal.config["OPERATOR_CVR"]
    person = [role_assignment_id(staff.person_uuid, r) for r in ("staff", "auditor", "colleague")]
    assert [ids for ids in asked if set(ids) & {*person, customer_id(operator_cvr)}] == [
        [*person, customer_id(operator_cvr)]
    ]


def test_a_signatorys_page_reads_the_customer_once_with_the_roles(portal, app, request):
    client = portal.test_client()
    assert log_in(client, "aarhus").status_code == 302
    assert client.get("/aftaler").status_code == 200
    asked = request.getfixturevalue("reads")
    page = client.get("/aftaler")
    assert page.status_code == 200
    assert app.customer(AARHUS).name in page.text
    asked.pop()  # the app.customer of the line above
    signatory = PERSONS_BY_KEY["aarhus"]
    person = [
        role_assignment_id(signatory.person_uuid, r) for r in ("staff", "auditor", "colleague")
    ]
    assert [ids for ids in asked if set(ids) & {*person, customer_id(AARHUS)}] == [
        [*person, customer_id(AARHUS)]
    ]


def test_a_person_not_logged_in_for_a_customer_has_no_customer():
    user = PortalUser(person_uuid="p", name="n", cvr="c", organisation="o", loa="Betydelig")
    assert (user.assignments, user.customer, user.roles) == ((), None, frozenset())
