"""The PostgreSQL recorder renders the statements of every write and read once, to bytes,
instead of letting psycopg walk their composed parts at every execute: each must be the very
text the composed statement renders to on a live connection, so the database is asked the
same as before (and psycopg's prepared statements are keyed by the same text)."""

import pytest
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from ledger.evidence.tables import EVENTS_TABLE

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(postgres_settings):
    return postgres_settings


def test_each_rendered_statement_is_the_text_of_the_composed_one(app):
    recorder = app.recorder
    library = PostgresApplicationRecorder(recorder.datastore, events_table_name=EVENTS_TABLE)
    with recorder.datastore.get_connection() as conn:
        expected = {
            "insert_events_statement": library.insert_events_statement.as_bytes(conn),
            "notify_statement": SQL("NOTIFY {0}")
            .format(Identifier(library.channel_name))
            .as_bytes(conn),
            "select_events_in_order_statement": (
                library.select_events_statement + SQL(" ORDER BY originator_version") + SQL(" ASC")
            ).as_bytes(conn),
        }
        locks = [statement.as_bytes(conn) for statement in library.lock_table_statements]
    for name, text in expected.items():
        assert getattr(recorder, name) == text, name
    assert recorder.lock_table_statements == locks
    for name in (
        "select_last_leaf_statement",
        "insert_leaves_statement",
        "select_taken_statement",
        "select_events_of_statement",
    ):
        assert isinstance(getattr(recorder, name), bytes), name


def test_an_aggregate_reads_back_through_the_rendered_select(app, operator):
    customer = app.register_customer(cvr="29189846", name="Aarhus Kommune", actor=operator)
    app.rename_customer(cvr="29189846", name="Aarhus Kommune (ny)", actor=operator)
    read = app.customer("29189846")
    assert read.id == customer.id
    assert read.name == "Aarhus Kommune (ny)"
    assert read.version == 2
    # The library's own select, for any other range, still answers.
    assert [e.originator_version for e in app.recorder.select_events(read.id, gt=1)] == [2]
    assert [e.originator_version for e in app.recorder.select_events(read.id, desc=True)] == [
        2,
        1,
    ]
