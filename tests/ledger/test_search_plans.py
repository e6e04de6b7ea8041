"""Every combination of the auditor's filters is answered through an index, never by reading
the whole index: the database's own plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
PostgreSQL) for a search's total and for its first and a deep page, on an index of 30,000
rows where each filtered value is rare (one in a thousand), as a CVR, an agreement or a
person is in a large log."""

import itertools
import json
import re

import pytest

from ledger.search import REFUSED, TABLE, EventIndex, Query

CVR = "55133018"
AGREEMENT = "0b9f8a4e-3c9d-4f5e-8a7b-1c2d3e4f5a6b"
PERSON = "00000000-0000-4000-8000-000000000010"
ROWS = 30_000
FILTERS = ("cvr", "agreement", "person", "event_type", "time")


def synthetic_rows() -> list[tuple]:
    """Mostly summaries of refused logins without a CVR; one in a thousand events concerns
    the CVR, the agreement or the person, and one in fifty is an approval."""
    rows = []
    for seq in range(ROWS):
        minute, second = divmod(seq // 10, 60)
        hour, minute = divmod(minute, 60)
        recorded_at = f"2026-01-{1 + hour // 24:02d}T{hour % 24:02d}:{minute:02d}:{second:02d}Z"
        rare = seq % 1000 == 7
        rows.append(
            (
                seq,
                recorded_at,
                "Approved" if seq % 50 == 7 else "LoginRefusalsCounted",
                CVR if rare else (f"{10000000 + seq % 97}" if seq % 3 == 0 else None),
                AGREEMENT if rare else None,
                PERSON if rare else None,
                None,
            )
        )
    return rows


@pytest.fixture
def index(app):
    index = EventIndex(app)
    index.refresh()  # creates the tables
    with index.tables.transaction() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")
        places = ", ".join([index.p] * 7)
        cursor.executemany(f"INSERT INTO {TABLE} VALUES ({places})", synthetic_rows())
        # Refused logins of many people, the person's among them (one in a thousand).
        cursor.executemany(
            f"INSERT INTO {REFUSED} VALUES ({index.p}, {index.p}, {index.p})",
            [
                (seq, PERSON if seq % 1000 == 9 else f"00000000-0000-4000-8000-{seq:012d}", "t")
                for seq in range(1, ROWS, 3)
            ],
        )
    if not app.settings.database.is_sqlite:
        with index.tables.transaction() as cursor:
            cursor.execute(f"ANALYZE {TABLE}, {REFUSED}")
    yield index
    index.close()


def queries() -> list[Query]:
    values = {
        "cvr": {"cvr": CVR},
        "agreement": {"agreement": AGREEMENT},
        "person": {"person": PERSON},
        "event_type": {"event_type": "Approved"},
        "time": {"since": "2026-01-01T10:00:00Z", "until": "2026-01-01T10:05:00Z"},
    }
    found = []
    for size in range(len(FILTERS) + 1):
        for chosen in itertools.combinations(FILTERS, size):
            facts = {k: v for name in chosen for k, v in values[name].items()}
            found.append(Query(**facts))
            found.append(Query(**facts, scope=frozenset({CVR, "35209115"})))
    return found


def sqlite_problems(index: EventIndex, statement: str, params: list) -> list[str]:
    rows = index.tables.rows(f"EXPLAIN QUERY PLAN {statement}", params)
    details = [row[-1] for row in rows]
    scans = [d for d in details if re.search(rf"\bSCAN {TABLE}\b", d)]
    if not any(d.startswith(f"SEARCH {TABLE}") for d in details):
        scans.append(f"no index search: {details}")
    return scans


def postgres_problems(index: EventIndex, statement: str, params: list) -> list[str]:
    ((plan,),) = index.tables.rows(f"EXPLAIN (FORMAT JSON) {statement}", params)
    if isinstance(plan, str):
        plan = json.loads(plan)
    problems: list[str] = []

    def walk(node: dict) -> None:
        on_table = node.get("Relation Name") == TABLE
        kind = node["Node Type"]
        if on_table and kind == "Seq Scan":
            problems.append("Seq Scan")
        if on_table and kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
            problems.append(f"{kind} using {node.get('Index Name')} without a condition")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return problems


def test_every_combination_of_filters_is_answered_through_an_index(app, index):
    explain = sqlite_problems if app.settings.database.is_sqlite else postgres_problems
    failures = {}
    for query in queries():
        for page in (1, 200):
            for statement, params in index.search_statements(query, page, 25):
                if query.is_everything and "MAX(seq)" not in statement:
                    params = [ROWS - 1 - (page - 1) * 25, 26]  # as the search gives them
                problems = explain(index, statement, params)
                if problems:
                    failures[(query, page, statement)] = problems
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())
    assert len(queries()) == 64


def indexes_used(app, index: EventIndex, statement: str, params: list) -> set[str]:
    """The names of the indexes a plan reads the index table through."""
    if app.settings.database.is_sqlite:
        rows = index.tables.rows(f"EXPLAIN QUERY PLAN {statement}", params)
        return {
            m.group(1)
            for row in rows
            if (m := re.search(r"USING (?:COVERING )?INDEX (\w+)", row[-1]))
        }
    ((plan,),) = index.tables.rows(f"EXPLAIN (FORMAT JSON) {statement}", params)
    if isinstance(plan, str):
        plan = json.loads(plan)
    found: set[str] = set()

    def walk(node: dict) -> None:
        if "Index Name" in node:
            found.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_a_search_by_person_reads_the_refused_logins_by_their_persons_index(app, index):
    """A person's refused logins are found through the table beside the index by its index
    of persons, never by reading that table whole, whatever else the search asks."""
    for query in queries():
        if query.person is None:
            continue
        for statement, params in index.search_statements(query, 1, 25):
            used = indexes_used(app, index, statement, params)
            assert f"{REFUSED}_subject" in used, (query, statement, used)
            if app.settings.database.is_sqlite:
                plan = index.tables.rows(f"EXPLAIN QUERY PLAN {statement}", params)
                assert not [r for r in plan if re.search(rf"\bSCAN {REFUSED}\b", r[-1])]
            else:
                ((plan,),) = index.tables.rows(f"EXPLAIN (FORMAT JSON) {statement}", params)
                text = plan if isinstance(plan, str) else json.dumps(plan)
                assert not re.search(rf'"Seq Scan", [^{{}}]*"Relation Name": "{REFUSED}"', text)


def test_a_limited_auditors_search_of_a_common_type_reads_their_customers_events(app, index):
    """An auditor limited to some CVRs, asking for a type most of the log holds (refusal
    summaries, which have no CVR), is answered through the CVR's index: through the type's,
    every event of the type was read to find none of theirs (a page's counts per type did
    so for each type)."""
    query = Query(event_type="LoginRefusalsCounted", scope=frozenset({CVR, "35209115"}))
    for statement, params in index.search_statements(query, 1, 25):
        used = indexes_used(app, index, statement, params)
        assert used, statement
        assert all("cvr" in name for name in used), (statement, used)


def test_totals_are_counted_up_to_a_bound_and_say_so(app, index, monkeypatch):
    monkeypatch.setattr("ledger.search.COUNTED", 100)
    monkeypatch.setattr(index, "_catch_up", lambda **_: (0, []))  # the rows are synthetic
    monkeypatch.setattr(index, "_read_back", lambda query, seqs: ([], []))
    many = index.search(Query(event_type="LoginRefusalsCounted"))
    assert (many.total, many.exact, many.has_more) == (100, False, True)
    few = index.search(Query(cvr=CVR))
    assert (few.total, few.exact) == (ROWS // 1000, True)
    everything = index.search(Query(), page=1000, page_size=25)
    assert (everything.total, everything.exact) == (ROWS, True)
    assert everything.has_more == (ROWS > 1000 * 25)


def sorts(app, index: EventIndex, statement: str, params: list) -> list[str]:
    """The sorts a plan does (of every row it found, before the page's few are taken)."""
    if app.settings.database.is_sqlite:
        rows = index.tables.rows(f"EXPLAIN QUERY PLAN {statement}", params)
        return [row[-1] for row in rows if "TEMP B-TREE" in row[-1]]
    ((plan,),) = index.tables.rows(f"EXPLAIN (FORMAT JSON) {statement}", params)
    if isinstance(plan, str):
        plan = json.loads(plan)
    found: list[str] = []

    def walk(node: dict) -> None:
        if "Sort" in node["Node Type"]:
            found.append(node["Node Type"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_a_page_of_a_broad_search_reads_only_its_rows_in_order(app, index):
    """A search led by an event type, a date range or nothing may match most of the log: its
    page is read in the listing's order straight from an index, never sorted from every
    match (a date range, whose time need not rise with seq, is listed by time)."""
    failures = {}
    for query in queries():
        if query.leading not in ("event_type", "time", "seq"):
            continue
        key = ("2026-01-01T10:02:00Z", 6020) if query.by_time else (6020,)
        for anchor in (None, ("after", key), ("before", key)):
            statement, params = index.search_statements(query, 1, 25, anchor)[1]
            if query.is_everything and anchor is None:
                params = [ROWS - 1, 26]
            found = sorts(app, index, statement, params)
            if found:
                failures[(query, anchor)] = found
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_pages_linked_from_an_event_are_answered_through_an_index(app, index):
    explain = sqlite_problems if app.settings.database.is_sqlite else postgres_problems
    failures = {}
    for query in queries():
        key = ("2026-01-01T10:02:00Z", 6020) if query.by_time else (6020,)
        for direction in ("after", "before"):
            statement, params = index.search_statements(query, 200, 25, (direction, key))[1]
            assert "OFFSET" not in statement
            problems = explain(index, statement, params)
            if problems:
                failures[(query, direction)] = problems
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_a_page_by_number_beyond_the_counted_matches_is_not_stepped_to(app, index, monkeypatch):
    """Stepping over more rows than a total counts would grow with the log: a page by its
    number alone goes no deeper than the counted matches, and says so; the page links,
    which continue from an event, go on however deep."""
    monkeypatch.setattr("ledger.search.COUNTED", 100)
    monkeypatch.setattr(index, "_catch_up", lambda **_: (0, []))  # the rows are synthetic
    monkeypatch.setattr(index, "_read_back", lambda query, seqs: (list(seqs), []))
    query = Query(event_type="LoginRefusalsCounted")
    last_counted = index.search(query, page=4, page_size=25)
    assert (last_counted.too_deep, len(last_counted.entries)) == (False, 25)
    deeper = index.search(query, page=5, page_size=25)
    assert (deeper.too_deep, deeper.entries, deeper.has_more) == (True, [], False)
    linked = index.search(query, page=5, page_size=25, after=last_counted.last_seq)
    assert (linked.too_deep, len(linked.entries), linked.has_more) == (False, 25, True)
    assert index.search(Query(), page=1000, page_size=25).too_deep is False


def test_the_total_of_a_search_matching_most_rows_is_read_from_an_index(app, index):
    """A total stops at the counted bound, so it must be read from an index's newest end: a
    sequential scan (PostgreSQL's choice when most rows match) reads the whole table first
    when the matching rows are the newest. (Walking the primary key from the newest end and
    checking each row, PostgreSQL's choice for a type nearly every row has, is such a read.)"""

    def explain(index: EventIndex, statement: str, params: list) -> list[str]:
        if app.settings.database.is_sqlite:
            return sqlite_problems(index, statement, params)
        return [p for p in postgres_problems(index, statement, params) if "_pkey" not in p]

    broad = [
        Query(event_type="LoginRefusalsCounted"),
        Query(since="2026-01-01T00:00:00Z", until="2026-02-01T00:00:00Z"),
        Query(event_type="LoginRefusalsCounted", since="2026-01-01T00:00:00Z"),
    ]
    failures = {}
    for query in broad:
        for statement, params in index.search_statements(query, 1, 25):
            if problems := explain(index, statement, params) + sorts(app, index, statement, params):
                failures[(query, statement)] = problems
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())
