"""Aggregates read together, on SQLite and PostgreSQL: one read of their events and one of
their personal values (on PostgreSQL each read is a round trip: one an event's openings was
a statement per role on staff's /drift/roller)."""

import pytest

from development.demo import PERSONS_BY_KEY
from ledger.evidence.tables import PERSONAL_DATA_TABLE
from ledger.search import EventIndex
from ledger.storage.tables_of_our_own import OwnTables


@pytest.fixture
def index(app):
    """The search index and its projection, from which the listed kinds' ids come."""
    index = EventIndex(app)
    yield index
    index.close()


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


def grant(app, operator, person, role: str, cvrs: list[str]) -> None:
    app.grant_role(
        person_uuid=person.person_uuid,
        person_name=person.name,
        role=role,
        cvrs=cvrs,
        actor=operator,
    )


def test_every_role_assignment_opens_its_personal_values_in_one_read(app, index, operator, request):
    people = [PERSONS_BY_KEY[k] for k in ("staff", "auditor", "odense-clerk", "aarhus")]
    for person in people:
        grant(app, operator, person, "auditor", [])
    index.refresh()  # caught up: what is counted is the listing's
    asked = request.getfixturevalue("reads")
    listed = app.role_assignments()
    assert [a.person_name for a in listed] == [p.name for p in people]
    assert asked == ["together", "openings"]
