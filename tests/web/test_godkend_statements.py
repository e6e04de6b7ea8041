"""What one Godkend asks of PostgreSQL. Across a network every statement is a round trip
or part of one (the write sends its two halves as pipelines), and the round trips are what
a request waits for, so their number must not grow back."""

import psycopg
import pytest

from tests.fixtures import published_agreement, register_customers
from tests.web.test_login import log_in
from tests.web.test_signatory import csrf_token

# The session record; the customer (the signatory check), the version, the approval and
# the person's colleague role together; then the write: BEGIN, the lock timeout, the table
# lock, NOTIFY and the last leaf in one pipeline, the event, its openings, its leaf and
# COMMIT in the second. The receipt's seq comes from the write.
STATEMENTS_PER_GODKEND = 11


@pytest.fixture
def settings(postgres_settings):
    """PostgreSQL only: the statements are what a database across a network waits for."""
    return postgres_settings


@pytest.fixture
def agreement(app, operator):
    register_customers(app, operator)
    return published_agreement(app, operator)


def test_godkend_sends_postgresql_eleven_statements_and_reads_no_seq_after_its_write(
    app, make_portal, agreement, monkeypatch
):
    portal = make_portal(app).test_client()
    log_in(portal, "aarhus")
    page = f"/aftaler/{agreement.id}"
    token = csrf_token(portal, page)
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(cursor, query, *args, **kwargs):
        if isinstance(query, bytes):  # a statement the recorder rendered once
            sent.append(query.decode())
        else:
            sent.append(query.as_string(cursor) if hasattr(query, "as_string") else str(query))
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    done = portal.post(f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": token})
    monkeypatch.undo()
    assert done.status_code == 302
    assert "/kvitteringer/" in done.headers["Location"]
    assert len(sent) <= STATEMENTS_PER_GODKEND, "\n".join(sent)
    events_read = [s for s in sent if s.startswith("SELECT") and "stored_events" in s]
    assert len(events_read) == 1, "\n".join(events_read)  # customer, version, approval, role
    assert not [s for s in sent if s.startswith("SELECT seq FROM")], "\n".join(sent)
