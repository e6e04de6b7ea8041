"""The search index over the log, on SQLite and PostgreSQL: it finds what a scan of the
whole log finds, keeps up with the log, survives concurrent refreshes, and is never trusted
over the log itself. And the check of what a search shows."""

import itertools
import random
import sqlite3
import threading
from dataclasses import asdict, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from development.demo import OPERATOR_CVR
from ledger.application import LedgerApp
from ledger.domain import COLLEAGUE, AgreementVersion, Customer, DomainError, RoleAssignment
from ledger.evidence.bundle import ENTRIES_FILE, open_bundle, verify_bundle
from ledger.evidence.database import DatabaseURL
from ledger.evidence.keys import VerifierKey
from ledger.evidence.tables import TREE_TABLE
from ledger.export import export_bundle
from ledger.identity import Actor, NsisLevel, person_uuid
from ledger.search import (
    PROJECTION,
    TABLE,
    EventIndex,
    IndexRow,
    Query,
    _signature_holds,
    check_entries,
)
from ledger.signed_log import Entry
from ledger.storage.checkpoints import CheckpointStore
from ledger.storage.tables_of_our_own import OwnTables
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory
from tests.ledger.test_signed_log import refuse_checkpoints

KOEBENHAVN = "64942212"
CUSTOMERS = (AARHUS, ODENSE, KOEBENHAVN)


def person(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


# Signatories, two per customer: one sends its UUID in NemLog-in's urn:uuid: form.
SIGNATORIES = {
    cvr: [
        signatory(cvr, f"Person {i}0", NsisLevel.HIGH, f"urn:uuid:{person(10 * i)}"),
        signatory(cvr, f"Person {i}1", NsisLevel.SUBSTANTIAL, person(10 * i + 1)),
    ]
    for i, cvr in enumerate(CUSTOMERS, start=1)
}
STAFF = Actor.person(
    person_uuid=person(90),
    name="Dorte Drift",
    cvr=OPERATOR_CVR,
    organisation="Leverandøren",
    loa=NsisLevel.SUBSTANTIAL,
)
OUTSIDERS = [person(n) for n in (70, 71, 72)]  # people only roles and refusals concern


def build_mix(app: LedgerApp, operator: Actor, seed: int = 2026) -> list[UUID]:
    """A seeded mix of every kind of event; the agreement version ids."""
    rng = random.Random(seed)
    for cvr in CUSTOMERS:
        app.register_customer(cvr=cvr, name=f"Kommune {cvr}", actor=operator)
    agreements = [
        app.publish_agreement(
            title="Driftsaftale",
            version_label=f"2026.{n}",
            document=PDF + bytes([n]),
            document_name="aftale.pdf",
            actor=rng.choice([operator, STAFF]),
        ).id
        for n in (1, 2, 3)
    ]
    for step in range(100):
        cvr = rng.choice(CUSTOMERS)
        agreement = rng.choice(agreements)
        action = rng.choice(["approve", "approve", "reset", "role", "refused", "declaration"])
        try:
            if action == "approve":
                app.approve(
                    cvr=cvr,
                    version_id=agreement,
                    actor=rng.choice(SIGNATORIES[cvr]),
                    authentication=login(app, f"_a{step}"),
                    ip="127.0.0.1",
                    user_agent="test",
                )
            elif action == "reset":
                app.reset_approval(
                    cvr=cvr,
                    version_id=agreement,
                    reason="Ikke tegningsberettiget.",
                    actor=rng.choice([operator, STAFF]),
                )
            elif action == "role":
                who = rng.choice(OUTSIDERS)
                if rng.random() < 0.3:
                    app.revoke_role(person_uuid=who, role="auditor", actor=STAFF)
                else:
                    app.grant_role(
                        person_uuid=rng.choice([who, f"urn:uuid:{who.upper()}"]),
                        person_name="Revisor",
                        role="auditor",
                        cvrs=rng.sample(CUSTOMERS, rng.randint(0, 2)),
                        actor=rng.choice([operator, STAFF]),
                    )
            elif action == "refused":
                verified = rng.random() < 0.5
                app.record_login_rejected(
                    reason="loa-too-low",
                    idp="https://idp.example",
                    person_uuid=rng.choice(OUTSIDERS) if verified else None,
                    cvr=cvr if verified else None,
                )
            else:
                app.hand_in_declaration(
                    cvr=cvr,
                    document=PDF + b"declaration",
                    document_name="erklaering.pdf",
                    actor=SIGNATORIES[cvr][0],
                )
        except DomainError:
            pass  # nothing to reset, a declaration already under way: the ledger refused
    app.retire_agreement(agreements[0], actor=STAFF)
    return agreements


def brute_force(app: LedgerApp, query: Query) -> list[int]:
    """What a scan of the whole log finds, newest first, decided from each event itself."""

    def person_of(value: str | None) -> str | None:
        return person_uuid(value) if value else None

    def matches(entry: Entry) -> bool:
        event = entry.event
        agreement = getattr(event, "agreement_version_id", None)
        if isinstance(event, AgreementVersion.Event):
            agreement = event.originator_id
        people = {
            person_of(entry.actor.person_uuid if entry.actor else None),
            person_of(getattr(event, "person_uuid", None)),
        }
        cvr = entry.cvr  # a colleague role's grant is for its one municipality
        if isinstance(event, RoleAssignment.RoleGranted) and event.role == COLLEAGUE:
            (cvr,) = event.cvrs
        return (
            (query.cvr is None or cvr == query.cvr)
            and (query.scope is None or cvr in query.scope)
            and (query.agreement is None or str(agreement) == query.agreement)
            and (query.person is None or query.person in people)
            and (query.event_type is None or entry.event_type == query.event_type)
            and (query.since is None or entry.recorded_at >= query.since)
            and (query.until is None or entry.recorded_at < query.until)
        )

    return [entry.seq for entry in app.signed_log.entries() if matches(entry)][::-1]


@pytest.fixture
def mixed(app, operator) -> list[UUID]:
    return build_mix(app, operator)


def random_queries(app: LedgerApp, agreements: list[UUID], count: int) -> list[Query]:
    rng = random.Random(11)
    times = sorted(entry.recorded_at for entry in app.signed_log.entries())
    people = [person(n) for n in (10, 11, 20, 21, 30, 31, 90)] + OUTSIDERS
    event_types = [
        *sorted({entry.event_type for entry in app.signed_log.entries()}),
        "Countersigned",
    ]
    queries = []
    for _ in range(count):

        def maybe(values, p=0.35):
            return rng.choice(values) if rng.random() < p else None

        since, until = maybe(times), maybe(times)
        scope = maybe([(), (AARHUS,), (ODENSE, KOEBENHAVN), (OPERATOR_CVR, AARHUS)], 0.25)
        queries.append(
            Query.checked(
                cvr=maybe([*CUSTOMERS, OPERATOR_CVR]),
                agreement=maybe([str(a) for a in agreements]),
                person=maybe(people),
                event_type=maybe(event_types),
                since=since,
                until=until,
                scope=scope,
            )
        )
    return queries


def test_every_search_finds_what_a_scan_of_the_whole_log_finds(app, index, mixed):
    queries = random_queries(app, mixed, 150)
    found_something = 0
    for query in queries:
        expected = brute_force(app, query)
        page = index.search(query, page=1, page_size=500)
        assert [entry.seq for entry in page.entries] == expected, query
        assert page.total == len(expected)
        assert [entry.seq for entry in index.matching(query)] == expected
        assert [entry.seq for entry in index.matching(query, newest_first=False)] == expected[::-1]
        found_something += bool(expected)
    assert found_something > 50  # the queries are not all empty
    assert len(brute_force(app, Query())) == len(list(app.signed_log.entries()))


def test_each_filter_alone_finds_its_events(app, index, mixed):
    aarhus_person = person(10)
    cases = {
        Query(cvr=AARHUS): lambda e: e.cvr == AARHUS,
        Query(event_type="Approved"): lambda e: e.event_type == "Approved",
        Query(agreement=str(mixed[0])): lambda e: (
            getattr(e.event, "agreement_version_id", None) == mixed[0]
            or e.event.originator_id == mixed[0]
        ),
        Query(person=aarhus_person): lambda e: (
            e.actor is not None and person_uuid(e.actor.person_uuid or "0" * 32) == aarhus_person
        ),
    }
    for query, wanted in cases.items():
        expected = [e.seq for e in app.signed_log.entries() if wanted(e)][::-1]
        assert expected, query
        assert [e.seq for e in index.matching(query)] == expected
    # The urn:uuid: form a person's UUID arrived in finds the same events.
    assert Query.checked(person=f"urn:uuid:{aarhus_person.upper()}").person == aarhus_person


def test_pages_are_newest_first_and_together_hold_every_match(app, index, mixed):
    query = Query(cvr=ODENSE)
    expected = brute_force(app, query)
    seen: list[int] = []
    number = 1
    while True:
        page = index.search(query, page=number, page_size=7)
        assert page.total == len(expected)
        assert page.pages == -(-len(expected) // 7)
        seen += [entry.seq for entry in page.entries]
        if not page.has_more:
            break
        number += 1
    assert seen == expected
    assert seen == sorted(seen, reverse=True)
    assert index.search(query, page=number + 1, page_size=7).entries == []
    with pytest.raises(ValueError, match="out of range"):
        index.search(query, page=0)


def test_pages_linked_by_their_last_and_first_event_hold_every_match_once(app, index, mixed):
    for query in (Query(cvr=ODENSE), Query(), Query(event_type="Approved")):
        expected = brute_force(app, query)
        seen: list[int] = []
        pages = [index.search(query, page=1, page_size=4)]
        while pages[-1].has_more:
            last = pages[-1]
            pages.append(index.search(query, page=last.page + 1, page_size=4, after=last.last_seq))
            assert pages[-1].page == last.page + 1
        seen = [entry.seq for page in pages for entry in page.entries]
        assert seen == expected, query
        # Back again through the "newer" links: each page as it was shown.
        for newer, shown in itertools.pairwise(pages):
            back = index.search(query, page=newer.page, page_size=4, before=shown.first_seq)
            assert [e.seq for e in back.entries] == [e.seq for e in newer.entries]
            assert back.has_more
    # An event that is not in the index leaves the page to its number.
    by_number = index.search(Query(cvr=ODENSE), page=2, page_size=4)
    unknown = index.search(Query(cvr=ODENSE), page=2, page_size=4, after=10**9)
    assert [e.seq for e in unknown.entries] == [e.seq for e in by_number.entries]


def test_a_date_range_finds_every_event_when_the_clock_went_back(app, index, operator):
    """recorded_at need not rise with seq (writers racing, a clock set back): a date range
    finds exactly the events recorded within it, newest first by that time, on every page."""
    moments = iter(
        datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=m)
        for m in [10, 20, 5, 30, 30, 40, -600, 50, 45, 60, 35, 70, 80, 1, 90, 85, 100, 40]
    )
    app.recorder.leaf_writer.clock = lambda: next(moments)
    weights = (2, 7, 6, 5, 4, 3, 2, 1)
    cvrs = [
        f"{n}"
        for n in range(30000000, 30000400)
        if not sum(int(d) * w for d, w in zip(f"{n}", weights, strict=True)) % 11
    ]
    for n, cvr in enumerate(cvrs[:18]):
        app.register_customer(cvr=cvr, name=f"K {n}", actor=operator)
    app.recorder.leaf_writer.clock = lambda: datetime.now(UTC)
    logged = list(app.signed_log.entries())
    times = sorted({entry.recorded_at for entry in logged})
    assert any(a.recorded_at > b.recorded_at for a, b in itertools.pairwise(logged))
    for since in [None, *times[::3]]:
        for until in [None, *times[1::3]]:
            for event_type in (None, "Registered"):
                query = Query(since=since, until=until, event_type=event_type)
                if query.is_everything:
                    continue
                by_time = since is not None or until is not None
                assert query.by_time == by_time
                newest_first = sorted(
                    logged,
                    key=lambda e, by_time=by_time: (e.recorded_at, e.seq) if by_time else (e.seq,),
                    reverse=True,
                )
                expected = [e.seq for e in newest_first if query.matches(IndexRow.of(e))]
                first = index.search(query, page=1, page_size=500)
                assert [e.seq for e in first.entries] == expected, query
                assert first.total == len(expected)
                assert [e.seq for e in index.matching(query)] == expected
                assert [e.seq for e in index.matching(query, newest_first=False)] == sorted(
                    expected
                )
                pages = [index.search(query, page=1, page_size=3)]
                while pages[-1].has_more:
                    last = pages[-1]
                    pages.append(
                        index.search(query, page=last.page + 1, page_size=3, after=last.last_seq)
                    )
                assert [e.seq for page in pages for e in page.entries] == expected, query
                by_offset = [
                    e.seq
                    for number in range(1, len(pages) + 1)
                    for e in index.search(query, page=number, page_size=3).entries
                ]
                assert by_offset == expected, query


def test_a_limited_scope_hides_other_cvrs_and_events_without_a_cvr(app, index, mixed):
    everything = [e.seq for e in index.matching(Query())]
    assert everything == [e.seq for e in app.signed_log.entries()][::-1]
    limited = list(index.matching(Query(scope=frozenset({AARHUS}))))
    assert limited
    assert {e.cvr for e in limited} == {AARHUS}
    # LogStarted, refusals, CLI role grants
    assert any(e.cvr is None for e in app.signed_log.entries())
    assert list(index.matching(Query(scope=frozenset()))) == []
    assert list(index.matching(Query(cvr=ODENSE, scope=frozenset({AARHUS})))) == []


def test_the_index_catches_up_with_the_log_on_every_read(app, index, operator):
    assert index.refresh() == 1  # LogStarted
    assert index.refresh() == 0
    app.register_customer(cvr=AARHUS, name="Aarhus", actor=operator)
    page = index.search(Query(cvr=AARHUS))
    assert [e.event_type for e in page.entries] == ["Registered"]
    assert index.refresh() == 0


def test_two_processes_refreshing_at_once_leave_one_row_per_event(app, mixed):
    indexes = [EventIndex(app) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def refresh(index: EventIndex) -> None:
        try:
            barrier.wait()
            index.refresh()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=refresh, args=(index,)) for index in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        rows = tamper(app, f"SELECT seq FROM {TABLE} ORDER BY seq")
        assert [row[0] for row in rows] == [e.seq for e in app.signed_log.entries()]
    finally:
        for index in indexes:
            index.close()


def test_many_threads_search_through_one_index_at_once(app, index, mixed):
    expected = brute_force(app, Query(cvr=AARHUS))
    barrier = threading.Barrier(8)
    results: list[list[int]] = []

    def search() -> None:
        barrier.wait()
        for _ in range(5):
            results.append([e.seq for e in index.search(Query(cvr=AARHUS), page_size=500).entries])

    threads = [threading.Thread(target=search) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 40


def tamper(app: LedgerApp, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement (`?` parameters) on the ledger's database, as someone with access
    to it could; its rows."""
    database = app.settings.database
    if database.is_sqlite:
        connection = sqlite3.connect(database.sqlite_path, isolation_level=None)
    else:
        connection = database.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(statement.replace("?", database.placeholder), params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


def stored_id(app: LedgerApp, entry: Entry) -> object:
    """The event's aggregate id as the events table holds it."""
    return (
        entry.event.originator_id.hex
        if app.settings.database.is_sqlite
        else entry.event.originator_id
    )


def test_an_index_row_pointing_at_another_event_is_not_trusted(app, index, mixed):
    odense = next(
        e for e in app.signed_log.entries() if e.cvr == ODENSE and e.event_type == "Approved"
    )
    expected = brute_force(app, Query(cvr=AARHUS))
    index.refresh()
    tamper(app, f"UPDATE {TABLE} SET cvr = ? WHERE seq = ?", (AARHUS, odense.seq))
    page = index.search(Query(cvr=AARHUS), page_size=500)
    assert odense.seq not in [e.seq for e in page.entries]
    assert [e.seq for e in page.entries] == expected
    assert page.repaired == [odense.seq]
    # The row was rewritten from the log: the next search needs no repair.
    again = index.search(Query(cvr=AARHUS), page_size=500)
    assert again.repaired == []
    assert again.total == len(expected)
    assert [e.seq for e in index.matching(Query(cvr=ODENSE))] == brute_force(app, Query(cvr=ODENSE))

    # Exports read through `matching`, which leaves out what the log does not confirm.
    tamper(app, f"UPDATE {TABLE} SET event_type = ? WHERE seq = ?", ("Retired", 0))
    assert [e.seq for e in index.matching(Query(event_type="Retired"))] == brute_force(
        app, Query(event_type="Retired")
    )


def test_rows_beyond_the_log_are_forgotten_and_a_rebuild_restores_the_index(app, index, mixed):
    index.refresh()
    last = max(e.seq for e in app.signed_log.entries())
    tamper(
        app,
        f"INSERT INTO {TABLE} (seq, recorded_at, event_type, cvr) VALUES (?, ?, ?, ?)",
        (last + 5, "2030-01-01T00:00:00.000000Z", "Approved", AARHUS),
    )
    tamper(app, f"DELETE FROM {TABLE} WHERE seq = ?", (3,))
    assert last + 5 not in [e.seq for e in index.search(Query(cvr=AARHUS), page_size=500).entries]
    assert index.rebuild() == last + 1
    assert [e.seq for e in index.matching(Query())] == list(range(last, -1, -1))


# Checking what is shown


def test_shown_events_are_verified_and_proved_in_the_newest_checkpoint(app, index, mixed):
    size = app.signed_log.checkpoint().size  # asked for, as the cadence soon makes one
    page = index.search(Query(cvr=AARHUS), page_size=500)
    checked = check_entries(app, page.entries)
    assert checked.checkpoint_size == size
    assert checked.checkpoint_problem is None
    assert [c.entry.seq for c in checked.entries] == [e.seq for e in page.entries]
    assert all(c.verified and c.covered_by == size for c in checked.entries)


def test_a_tampered_event_or_leaf_shows_its_problem(app, index, mixed):
    approved = [e for e in app.signed_log.entries() if e.event_type == "Approved"]
    payload_changed, time_changed = approved[0], approved[1]
    # The stored payload gains a space: the event still reads, its hash no longer holds.
    tamper(
        app,
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (
            payload_changed.payload + b" ",
            stored_id(app, payload_changed),
            payload_changed.event.originator_version,
        ),
    )
    tamper(
        app,
        "UPDATE ledger_leaves SET recorded_at = ? WHERE seq = ?",
        ("2020-01-01T00:00:00.000000Z", time_changed.seq),
    )
    entries = app.signed_log.entries_at([payload_changed.seq, time_changed.seq, 0])
    checked = {c.entry.seq: c for c in check_entries(app, entries).entries}
    assert checked[payload_changed.seq].problems == ("payload-mismatch",)
    assert checked[time_changed.seq].problems == ("recorded-at-mismatch",)
    assert checked[0].verified


def test_a_leaf_signature_found_to_hold_is_checked_once_and_a_changed_one_anew(
    app, index, mixed, monkeypatch
):
    _signature_holds.cache_clear()
    checked_messages: list[bytes] = []
    verify = VerifierKey.verify

    def counting(key: VerifierKey, signature: bytes, message: bytes) -> bool:
        checked_messages.append(message)
        return verify(key, signature, message)

    monkeypatch.setattr(VerifierKey, "verify", counting)
    entries = index.search(Query(cvr=AARHUS), page_size=500).entries
    assert all(c.verified for c in check_entries(app, entries).entries)
    leaves = [m for m in checked_messages if m.startswith(b"{")]
    assert len(leaves) == len(entries)
    checked_messages.clear()
    assert all(c.verified for c in check_entries(app, entries).entries)
    assert not [m for m in checked_messages if m.startswith(b"{")]  # remembered: held before
    # The same leaf with another signature (one base64 character changed) is checked anew.
    first = entries[0]
    text = first.leaf.decode()
    at = text.index('"sig":"') + len('"sig":"') + 3
    forged = (text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]).encode()
    tamper(app, "UPDATE ledger_leaves SET leaf = ? WHERE seq = ?", (forged, first.seq))
    again = check_entries(app, app.signed_log.entries_at([first.seq])).entries
    assert "bad-signature" in again[0].problems


def test_an_inclusion_proved_once_is_not_proved_again_and_a_changed_leaf_is_proved_anew(
    app, index, mixed, monkeypatch
):
    size = app.signed_log.checkpoint().size
    reads = []
    read_nodes = CheckpointStore.read_nodes

    def counted(store, nodes):
        reads.append(list(nodes))
        return read_nodes(store, reads[-1])

    monkeypatch.setattr(CheckpointStore, "read_nodes", counted)
    entries = index.search(Query(cvr=AARHUS), page_size=500).entries
    assert all(c.covered_by == size for c in check_entries(app, entries).entries)
    assert len(reads) == 1
    # Shown again under the same checkpoint: each leaf is known to be in its tree.
    assert all(c.covered_by == size for c in check_entries(app, entries).entries)
    assert len(reads) == 1
    # Another leaf stored at one of those seqs (another event's) is not the one proved.
    first, other = entries[0], entries[1]
    tamper(app, "UPDATE ledger_leaves SET leaf = ? WHERE seq = ?", (other.leaf, first.seq))
    again = check_entries(app, app.signed_log.entries_at([first.seq])).entries[0]
    assert "bad-inclusion-proof" in again.problems
    assert again.covered_by is None
    assert len(reads) > 1


def test_the_counts_per_type_are_those_of_a_search_per_type(app, index, mixed):
    index.refresh()
    types = [*sorted({e.event_type for e in app.signed_log.entries()}), "NoSuchType"]
    for query in (Query(), Query(cvr=AARHUS), Query(scope=frozenset({AARHUS, ODENSE}))):
        expected = {
            kind: index.search(replace(query, event_type=kind), page_size=1).total for kind in types
        }
        counts = index.count_by_type(query, types).counts
        assert {kind: count for kind, count, _ in counts} == {
            kind: total for kind, total in expected.items() if total
        }
        assert sum(total for total in expected.values()) == index.search(query).total


def test_an_event_after_the_newest_checkpoint_is_proved_in_one_made_for_it(app, operator, index):
    size = app.signed_log.checkpoint().size
    app.save(Customer.register(AARHUS, "Aarhus", operator))  # a write makes no checkpoint
    checked = check_entries(app, list(app.signed_log.entries())).entries
    assert [c.covered_by for c in checked] == [size + 1] * (size + 1)
    assert all(c.verified for c in checked)
    assert app.signed_log.checkpoint().size == size + 1


def test_an_event_no_checkpoint_can_be_made_for_is_verified_but_not_yet_proved(
    app, operator, index
):
    size = app.signed_log.checkpoint().size
    app.save(Customer.register(AARHUS, "Aarhus", operator))
    refuse_checkpoints(app, True)
    try:
        checked = check_entries(app, list(app.signed_log.entries())).entries
    finally:
        refuse_checkpoints(app, False)
    assert [c.covered_by for c in checked] == [size] * size + [None]
    assert all(c.verified for c in checked)


def test_a_catch_up_with_nothing_to_do_asks_one_statement_and_finds_what_comes_next(
    app, operator, index, mixed, monkeypatch
):
    index.refresh()
    asked = []
    rows = OwnTables.rows

    def counted(tables, statement, params=()):
        asked.append(statement)
        return rows(tables, statement, params)

    monkeypatch.setattr(OwnTables, "rows", counted)
    assert index.refresh() == 0
    assert len(asked) == 1
    # With no parameters: PostgreSQL's plan of a prepared statement for any event types read
    # the whole index on every page (a sequential scan, growing with the log). And no join
    # with the projection, whose deleted rows a trigger records as the index's.
    assert asked[0].count(app.settings.database.placeholder) == 0
    assert PROJECTION not in asked[0]
    app.register_customer(cvr="29189846", name="Kommune 29189846", actor=operator)
    assert index.refresh() == 1
    assert "29189846" in {customer.cvr for customer in app.customers()}


def test_a_page_of_shown_events_is_proved_together_with_one_read_of_the_tree(
    app, index, mixed, monkeypatch
):
    size = app.signed_log.checkpoint().size
    reads = []
    read_nodes = CheckpointStore.read_nodes

    def counted(store, nodes):
        reads.append(list(nodes))
        return read_nodes(store, reads[-1])

    monkeypatch.setattr(CheckpointStore, "read_nodes", counted)
    page = index.search(Query(), page_size=25)
    checked = check_entries(app, page.entries)
    assert len(reads) == 1  # one multi-leaf proof, not one path per event
    assert len(reads[0]) <= 2 * size.bit_length()
    assert all(c.verified and c.covered_by == size for c in checked.entries)


def test_a_changed_tree_hash_fails_exactly_the_shown_events_whose_proof_reads_it(app, index, mixed):
    """Proved together, the page fails as a whole; then each event is proved on its own, so
    the page names the events the changed hash stands beside, as one proof each would."""
    size = app.signed_log.checkpoint().size
    assert size > 8
    tamper(app, f"UPDATE {TREE_TABLE} SET hash = ? WHERE level = 0 AND idx = 1", (b"x" * 32,))
    checked = {
        c.entry.seq: c for c in check_entries(app, app.signed_log.entries_at([0, 5])).entries
    }
    assert checked[0].problems == ("bad-inclusion-proof",)
    assert checked[0].covered_by is None
    assert checked[5].verified
    assert checked[5].covered_by == size
    # Shown beside the leaf whose stored hash changed, the event is proved from that leaf.
    beside = check_entries(app, app.signed_log.entries_at([0, 1])).entries
    assert all(c.verified and c.covered_by == size for c in beside)


def test_an_event_shown_twice_is_checked_twice(app, index, mixed):
    size = app.signed_log.checkpoint().size
    twice = app.signed_log.entries_at([3]) * 2
    assert [(c.entry.seq, c.covered_by) for c in check_entries(app, twice).entries] == [
        (3, size),
        (3, size),
    ]


def test_facts_are_what_asdict_makes_of_an_events_attributes(app, index, mixed):
    app.summarize_login_refusals()
    skipped = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    kinds = set()
    for entry in app.signed_log.entries():
        expected = {
            name: [asdict(v) if is_dataclass(v) else v for v in value]
            if isinstance(value, list)
            else asdict(value)
            if is_dataclass(value)
            else value
            for name, value in vars(entry.event).items()
            if name not in skipped
        }
        assert entry.facts() == expected
        kinds.add(entry.event_type)
    assert {"Approved", "LoginRejected", "RoleGranted"} <= kinds


# Bundles of chosen events


def test_a_bundle_of_the_matched_events_verifies_and_holds_exactly_them(
    app, index, mixed, tmp_path: Path
):
    query = Query(cvr=ODENSE, event_type="Approved")
    chosen = list(index.matching(query, newest_first=False))
    assert chosen
    out = tmp_path / "odense.zip"
    exported = export_bundle(app, out, entries=chosen)
    assert exported.subset
    assert exported.entries == len(chosen)
    report = verify_bundle(out, app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert report.subset
    assert report.entries == len(chosen)
    assert list(open_bundle(out).lines(ENTRIES_FILE)) == [e.leaf for e in chosen]


def test_a_bundle_of_nothing_is_an_empty_subset_that_verifies(app, tmp_path: Path):
    out = tmp_path / "empty"
    assert export_bundle(app, out, entries=[]).entries == 0
    report = verify_bundle(out, app.keyring.verifier_keys())
    assert report.ok
    assert report.subset
    assert report.entries == 0
    assert verify_bundle(export_bundle(app, tmp_path / "cvr", cvr=ODENSE).path).ok


def test_chosen_events_must_come_in_seq_order_and_not_with_other_filters(app, tmp_path: Path):
    entries = list(app.signed_log.entries())
    with pytest.raises(ValueError, match="not both"):
        export_bundle(app, tmp_path / "both", cvr=AARHUS, entries=entries)
    with pytest.raises(ValueError, match="seq order"):
        export_bundle(app, tmp_path / "twice", entries=entries + entries)


def test_the_index_lives_in_the_ledgers_database(app, index):
    index.refresh()
    connection = DatabaseURL.parse(app.settings.database.url).connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")
        assert cursor.fetchone()[0] == 1
    finally:
        connection.close()
