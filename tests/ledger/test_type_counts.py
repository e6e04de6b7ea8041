"""A search's counts per event type, on SQLite and PostgreSQL: when the search's own total is
all of its matches (at most COUNTED), the matches are read once and counted by type, and the
counts are the same as counting each type; when there are more, each type is counted up to
COUNTED as before."""

import pytest

from ledger.search import EventIndex, Query
from tests.fixtures import AARHUS, ODENSE
from tests.ledger.test_search import OUTSIDERS, build_mix
from tests.web.test_audit import index_statements


@pytest.fixture
def index(app, operator):
    agreements = build_mix(app, operator)
    index = EventIndex(app)
    index.refresh()
    index.agreements = agreements
    yield index
    index.close()


def queries(index) -> list[Query]:
    first, second, _ = index.agreements
    return [
        Query(agreement=str(first)),
        Query(agreement=str(second), cvr=AARHUS),
        Query(cvr=ODENSE),
        Query(scope=frozenset({AARHUS, ODENSE})),
        Query.checked(person=OUTSIDERS[0]),
        Query(event_type="Approved"),
        Query(event_type="Approved", agreement=str(first)),
        Query(cvr=AARHUS, since="2000-01-01T00:00:00.000000Z"),
    ]


def test_counted_together_they_are_the_counts_of_each_type(app, index, monkeypatch):
    types = [*sorted({e.event_type for e in app.signed_log.entries()}), "NoSuchType"]
    for query in queries(index):
        found = index.search(query)
        assert found.exact
        each = index.count_by_type(query, types)
        asked = index_statements(monkeypatch)
        together = index.count_by_type(query, types, matches=found.total)
        monkeypatch.undo()
        assert together == each, query
        assert sum(count for _, count, _ in together.counts) <= found.total
        assert len(asked) == 1
        assert "GROUP BY event_type" in asked[0]


def test_more_matches_than_counted_are_counted_per_type_up_to_counted(app, index, monkeypatch):
    monkeypatch.setattr("ledger.search.COUNTED", 5)
    query = Query(cvr=ODENSE)
    found = index.search(query)
    assert not found.exact
    types = sorted({e.event_type for e in app.signed_log.entries()})
    counted = index.count_by_type(query, types, matches=found.total if found.exact else None)
    assert counted == index.count_by_type(query, types)
    assert all(count <= 5 for _, count, _ in counted.counts)
    # A total said to be exact that more events have outgrown since: each type is counted.
    outgrown = index.count_by_type(query, types, matches=5)
    assert outgrown == counted
    assert sum(count for _, count, _ in outgrown.counts) > 5
