"""The search index cannot hide an event: a deleted index row is found by the next catch-up
and indexed again from the log (search, timeline, CSV and the signatory's history still show
the event), and `ledger verify` reports a row that is missing or differs from its event."""

import logging

import pytest

from approval_ledger.cli import main
from development.demo import seed
from ledger.search import REMOVED, TABLE, EventIndex, Query
from tests.ledger.test_search import tamper
from tests.web.test_audit import shown, spreadsheet_rows
from tests.web.test_login import log_in

AARHUS = "55133018"


@pytest.fixture
def seeded(app):
    seed(app)
    return app


@pytest.fixture
def portal(app, make_portal, seeded):
    return make_portal(app)


@pytest.fixture
def approved(app, seeded):
    """The seq of Aarhus's approval, with the index caught up to the end of the log."""
    index = EventIndex(app)
    index.refresh()
    index.close()
    return next(
        e.seq for e in app.signed_log.entries() if e.event_type == "Approved" and e.cvr == AARHUS
    )


def delete_row(app, seq: int) -> None:
    tamper(app, f"DELETE FROM {TABLE} WHERE seq = ?", (seq,))
    assert tamper(app, f"SELECT seq FROM {TABLE} WHERE seq = ?", (seq,)) == []


def auditor_view(client, view: str) -> list[int]:
    if view == "search":
        return shown(client.get("/revision/", query_string={"cvr": AARHUS}))
    if view == "timeline":
        return shown(client.get(f"/revision/kunde/{AARHUS}"))
    answer = client.get("/revision/eksport.csv", query_string={"cvr": AARHUS})
    assert answer.status_code == 200
    return [int(row["Nr."]) for row in spreadsheet_rows(answer.data)]


@pytest.mark.parametrize("view", ["search", "timeline", "csv"])
def test_a_deleted_index_row_does_not_hide_the_event_from_the_auditor(
    app, portal, approved, view, verify_cli, caplog
):
    client = portal.test_client()
    log_in(client, "auditor")
    delete_row(app, approved)
    code, problems, _ = verify_cli()
    assert (code, problems) == (1, [("index-gap", approved)])
    with caplog.at_level(logging.WARNING, logger="ledger.search"):
        assert approved in auditor_view(client, view)
    assert "the search index lacked 1 logged events" in caplog.text
    assert f"(the first at seq {approved})" in caplog.text
    assert verify_cli()[:2] == (0, [])


def test_a_deleted_index_row_does_not_hide_the_event_from_the_signatorys_history(
    app, portal, approved, verify_cli
):
    client = portal.test_client()
    log_in(client, "aarhus")
    delete_row(app, approved)
    assert verify_cli()[1] == [("index-gap", approved)]
    page = client.get("/historik")
    assert page.status_code == 200
    assert '/kvitteringer/0"' not in page.text  # seq 0 (the log's start) is no customer's
    assert f'/kvitteringer/{approved}"' in page.text
    assert verify_cli()[:2] == (0, [])


def test_the_auditors_page_says_the_index_was_repaired(app, portal, approved):
    client = portal.test_client()
    log_in(client, "auditor")
    delete_row(app, approved)
    page = client.get("/revision/", query_string={"cvr": AARHUS})
    assert approved in shown(page)
    assert "Søgeindekset stemte ikke med loggen for 1 hændelser" in page.text
    assert "Søgeindekset stemte ikke" not in client.get("/revision/").text


def test_the_search_says_which_events_it_indexed_again(app, approved):
    index = EventIndex(app)
    try:
        delete_row(app, approved)
        delete_row(app, 0)
        found = index.search(Query(), page_size=500)
        assert {approved, 0} <= {entry.seq for entry in found.entries}
        assert found.repaired == [0, approved]
        assert found.total == len(list(app.signed_log.entries()))
        assert index.search(Query(), page_size=500).repaired == []
    finally:
        index.close()


def test_verify_reports_an_index_row_that_differs_from_its_event_or_has_no_event(
    app, approved, verify_cli
):
    tamper(app, f"UPDATE {TABLE} SET cvr = ? WHERE seq = ?", ("35209115", approved))
    last = max(entry.seq for entry in app.signed_log.entries())
    tamper(
        app,
        f"INSERT INTO {TABLE} (seq, recorded_at, event_type) VALUES (?, ?, ?)",
        (-1, "2026-01-01T00:00:00.000000Z", "Approved"),
    )
    code, problems, report = verify_cli()
    assert code == 1
    assert problems == [("index-mismatch", -1), ("index-mismatch", approved)]
    assert report["problems"][1]["detail"] == "the row's cvr differ from the event's"
    assert last >= approved


def test_events_logged_after_the_last_search_are_no_gap(app, approved, operator, verify_cli):
    app.register_customer(cvr="29180008", name="Revisionsfirmaet", actor=operator)
    assert verify_cli()[:2] == (0, [])


def test_a_row_below_seq_0_cannot_stand_in_for_a_deleted_one(app, approved):
    delete_row(app, approved)
    tamper(
        app,
        f"INSERT INTO {TABLE} (seq, recorded_at, event_type, cvr) VALUES (?, ?, ?, ?)",
        (-1, "2026-01-01T00:00:00.000000Z", "Approved", AARHUS),
    )
    index = EventIndex(app)
    try:
        found = index.search(Query(cvr=AARHUS), page_size=500)
        assert approved in [entry.seq for entry in found.entries]
        assert -1 not in [entry.seq for entry in found.entries]
    finally:
        index.close()


def test_without_the_ledgers_keys_the_index_is_not_checked_and_that_is_said(
    app, approved, verify_cli, monkeypatch, tmp_path, capsys
):
    """An auditor with only the verifier keys still checks the log and the documents."""
    mine = tmp_path / "my-keys"
    mine.write_bytes((app.settings.keys_dir / "verifier-keys").read_bytes())
    verify_cli()  # points `ledger` at the ledger
    monkeypatch.setenv("LEDGER_KEYS_DIR", str(tmp_path / "no-keys-here"))
    delete_row(app, approved)
    capsys.readouterr()
    assert main(["verify", "--keys", str(mine)]) == 0
    printed = capsys.readouterr()
    assert printed.out.rstrip().endswith("all holds")
    assert printed.err.startswith("note: the search index was not checked: ")


def test_a_row_deleted_after_the_first_count_is_found_without_counting_again(
    app, approved, monkeypatch
):
    """Only a process's first catch-up counts every row; later ones read the deletions the
    trigger on the index recorded, and find the row that went all the same."""
    index = EventIndex(app)
    try:
        index.search(Query(cvr=AARHUS))
        monkeypatch.setattr(index, "_extent", lambda: pytest.fail("counted every row again"))
        delete_row(app, approved)
        tamper(app, f"UPDATE {TABLE} SET seq = ? WHERE seq = ?", (-5, 0))  # a row moved away
        found = index.search(Query(), page_size=500)
        assert found.repaired == [0, approved]
        assert {0, approved} <= {entry.seq for entry in found.entries}
        assert index.search(Query(), page_size=500).repaired == []
    finally:
        index.close()


def test_a_new_process_finds_a_deleted_row_without_counting_every_row(app, approved, monkeypatch):
    """The trigger has recorded every deletion since it was made, so no process counts the
    index's rows (0.1 s a million on SQLite) to find one: not its first catch-up either."""
    first = EventIndex(app)
    first.search(Query(cvr=AARHUS))
    first.close()
    delete_row(app, approved)
    later = EventIndex(app)  # as a new process finds the index
    try:
        monkeypatch.setattr(later, "_extent", lambda: pytest.fail("counted every row"))
        found = later.search(Query(cvr=AARHUS), page_size=500)
        assert approved in [entry.seq for entry in found.entries]
        assert found.repaired == [approved]
    finally:
        later.close()


def test_rows_deleted_while_the_trigger_was_gone_are_found_by_counting(app, approved):
    """Deletions made with the trigger dropped (or before it existed) were recorded nowhere:
    the process that finds it missing makes it again and the next catch-up counts."""
    first = EventIndex(app)
    first.search(Query(cvr=AARHUS))
    first.close()
    on = "" if app.settings.database.is_sqlite else f" ON {TABLE}"
    tamper(app, f"DROP TRIGGER {REMOVED}{on}")
    delete_row(app, approved)
    later = EventIndex(app)
    try:
        found = later.search(Query(cvr=AARHUS), page_size=500)
        assert approved in [entry.seq for entry in found.entries]
        assert found.repaired == [approved]
        delete_row(app, 0)  # and the trigger records deletions again
        assert later.search(Query(), page_size=500).repaired == [0]
    finally:
        later.close()


def test_a_catch_up_of_many_events_leaves_postgresql_statistics_of_them(app, operator, monkeypatch):
    """Without statistics PostgreSQL walked the primary key for a person's or a limited
    auditor's page (every row of a freshly imported log) instead of their indexes; a
    catch-up that indexed many events analyzes the tables it filled."""
    if app.settings.database.is_sqlite:
        pytest.skip("SQLite's plans here do not rest on statistics")
    monkeypatch.setattr("ledger.search.ANALYZE_AFTER", 5)
    for _ in range(6):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=AARHUS)
    index = EventIndex(app)
    try:
        index.refresh()
        ((tuples,),) = tamper(app, "SELECT reltuples FROM pg_class WHERE relname = ?", (TABLE,))
        assert tuples == len(list(app.signed_log.entries()))
    finally:
        index.close()
