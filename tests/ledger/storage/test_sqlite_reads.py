"""On SQLite a read of one statement runs in autocommit mode: one SELECT is its own
consistent snapshot there, so the library's BEGIN and ROLLBACK around it were two
statements more per read (two reads per Godkend) and nothing else. The rows are the
library's own."""

from collections.abc import Iterator

import eventsourcing.sqlite
import pytest
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.application import LedgerApp

CVR = "29189846"


@pytest.fixture
def settings(sqlite_settings):
    return sqlite_settings


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """Every statement the library's connections made after the fixture began send."""
    sent: list[str] = []
    create = eventsourcing.sqlite.SQLiteConnectionPool._create_connection

    def traced(pool):
        connection = create(pool)
        connection._sqlite_conn.set_trace_callback(sent.append)
        return connection

    monkeypatch.setattr(eventsourcing.sqlite.SQLiteConnectionPool, "_create_connection", traced)
    return sent


@pytest.fixture
def ledger(app: LedgerApp, statements: list[str], operator) -> Iterator[LedgerApp]:
    app.register_customer(cvr=CVR, name="Aarhus Kommune", actor=operator)
    app.rename_customer(cvr=CVR, name="Aarhus Kommune (ny)", actor=operator)
    opened = LedgerApp(app.settings)  # its connections are traced
    yield opened
    opened.close()


def test_an_aggregate_is_read_in_one_statement_without_begin_or_rollback(ledger, statements):
    del statements[:]
    customer = ledger.customer(CVR)
    assert customer.name == "Aarhus Kommune (ny)"
    assert customer.version == 2
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, statements
    assert not [s for s in statements if s.strip().upper() in {"BEGIN", "ROLLBACK"}], statements


def test_the_rows_are_the_librarys(ledger):
    recorder = ledger.recorder
    customer = ledger.customer(CVR)
    ours = recorder.select_events(customer.id)
    library = SQLiteApplicationRecorder.select_events(recorder, customer.id)
    assert ours == library
    assert [e.originator_version for e in ours] == [1, 2]
    assert recorder.select_events_of([customer.id]) == library
    # Any other range is the library's own read.
    assert [e.originator_version for e in recorder.select_events(customer.id, gt=1)] == [2]
    assert [e.originator_version for e in recorder.select_events(customer.id, desc=True)] == [
        2,
        1,
    ]
