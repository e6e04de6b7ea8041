"""Staff's two pages of every customer, the overview (/drift) and the migration matrix
(/drift/migrering), read from the migration board and written row by row, each row kept
until its customer changes: on SQLite and PostgreSQL, what a write changes shows at once,
and a page of kept rows is the page a new process writes from nothing."""

import re

import pytest

from development.demo import demo_pdf, signatory
from ledger.danish_time import danish_today
from ledger.domain import approval_id, customer_id, declaration_id
from tests.fixtures import login
from tests.helpers import staff_login, staff_world
from tests.web.test_staff import _cells, _row, post, reset_path
from web.display import day

AARHUS, KOEBENHAVN, ODENSE = "55133018", "64942212", "35209115"
REASON = "Anne Andersen er ikke tegningsberettiget for kommunen."


@pytest.fixture
def agreement(app, operator):
    return staff_world(app, operator)


@pytest.fixture
def portal(app, make_portal, agreement):
    client = make_portal(app).test_client()
    staff_login(client)
    return client


def page(client, path: str) -> str:
    """The page as any process writes it (its form's token and its clock taken out)."""
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    text = re.sub(r'name="csrf_token" value="[^"]+"', "", answer.text)
    return re.sub(r"Opdateret [^<]*\.", "", text)


def test_the_overview_reads_no_customers_approval_or_declaration(portal, app, agreement):
    """Two aggregates per customer were read on every view; the board's rows hold it all."""
    portal.get("/drift/")
    asked = []
    find = app._find

    def counted(aggregate_id):
        asked.append(aggregate_id)
        return find(aggregate_id)

    app._find = counted
    try:
        assert "Aarhus Kommune" in page(portal, "/drift/")
    finally:
        app._find = find
    customers = [AARHUS, KOEBENHAVN, ODENSE]
    per_customer = {customer_id(cvr) for cvr in customers}
    per_customer |= {declaration_id(cvr) for cvr in customers}
    per_customer |= {approval_id(cvr, agreement.id) for cvr in customers}
    assert per_customer.isdisjoint(asked), asked


def test_the_overview_shows_a_reset_and_the_approval_again_at_once(portal, app, agreement):
    today = day(danish_today())
    before = page(portal, "/drift/")
    assert _cells(_row(before, AARHUS))[0] == f"Godkendt {today}"
    done = post(
        portal,
        reset_path(agreement),
        {"reason": REASON, "approved_version": "1", "confirmed": "1"},
    )
    assert done.status_code == 302
    reset = page(portal, "/drift/")
    assert _cells(_row(reset, AARHUS))[0] == f"Nulstillet {today} venter på kunden"
    for cvr in (KOEBENHAVN, ODENSE):  # their rows as before
        assert _row(reset, cvr) == _row(before, cvr)
    app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory("aarhus"),
        authentication=login(app, "_again"),
        ip="127.0.0.1",
        user_agent="test",
    )
    app.hand_in_declaration(
        cvr=ODENSE, document=demo_pdf("E", "1"), document_name="e.pdf", actor=signatory("odense")
    )
    again = page(portal, "/drift/")
    assert _cells(_row(again, AARHUS))[0] == f"Godkendt {today}"
    assert _cells(_row(again, ODENSE))[1:3] == [f"Afleveret {today}", f"Venter på os siden {today}"]
    assert "<strong>1</strong> venter på os" in again


def test_the_matrix_shows_a_recorded_task_and_a_reset_at_once(portal, app, agreement, operator):
    today = day(danish_today())
    before = page(portal, "/drift/migrering")
    assert _cells(_row(before, AARHUS))[0] == "Venter på os"
    app.archive_operating_agreement(
        cvr=AARHUS,
        document=demo_pdf("Driftsaftale", AARHUS),
        document_name="driftsaftale.pdf",
        signed_on=danish_today(),
        actor=operator,
    )
    archived = page(portal, "/drift/migrering")
    assert _cells(_row(archived, AARHUS))[:2] == [f"Udført {today}", f"Udført {today}"]
    assert _row(archived, ODENSE) == _row(before, ODENSE)
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    reset = page(portal, "/drift/migrering")
    assert _cells(_row(reset, AARHUS))[1].startswith("Venter på kunden")
    assert "<strong>0</strong> klar til skift" in reset


def test_pages_of_kept_rows_are_the_pages_a_new_process_writes(
    portal, app, agreement, operator, make_portal
):
    paths = [
        "/drift/",
        "/drift/?sorter=ventetid",
        "/drift/migrering",
        "/drift/migrering?vis=venter-paa-os",
    ]
    for path in paths:
        page(portal, path)  # every row written and kept
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    app.hand_in_declaration(
        cvr=KOEBENHAVN,
        document=demo_pdf("E", "2"),
        document_name="e.pdf",
        actor=signatory("koebenhavn"),
    )
    app.rename_customer(cvr=ODENSE, name="Odense Kommune (Digitalisering)", actor=operator)
    kept = [page(portal, path) for path in paths]
    fresh = make_portal(app).test_client()  # another process: nothing kept yet
    staff_login(fresh)
    assert [page(fresh, path) for path in paths] == kept
    assert "Odense Kommune (Digitalisering)" in kept[0]
    assert "Odense Kommune (Digitalisering)" in kept[2]
