"""Two Godkend clicks that land in one group commit get the same receipt from the portal.

On PostgreSQL only: holding the events table's lock gathers the group while the portal's
other tables (sessions, the replay cache) stay writable; SQLite's one write lock would
hold the requests back before they reach the ledger.
"""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from approval_ledger.initialize import initialize
from development.demo import CUSTOMERS, demo_pdf
from tests.ledger.storage.test_group_commit import (
    assert_verified_log,
    rotation_blocked_behind_the_lock,
    wait_until_asked,
    write_lock_held,
)
from tests.web.test_login import log_in

pytestmark = pytest.mark.postgres

ODENSE = "35209115"


@pytest.fixture
def ledger(postgres_settings, operator):
    app = initialize(postgres_settings, operator).app
    yield app
    app.close()


def test_two_godkend_clicks_in_one_group_get_the_same_receipt(ledger, operator, make_portal):
    for cvr, name in CUSTOMERS.items():
        ledger.register_customer(cvr=cvr, name=name, actor=operator)
    agreement = ledger.publish_agreement(
        title="Driftsaftale",
        version_label="2026.1",
        document=demo_pdf("Driftsaftale", "2026.1"),
        document_name="driftsaftale.pdf",
        actor=operator,
    )
    before = sum(1 for _ in ledger.signed_log.entries())
    portal = make_portal(ledger)
    clients = [portal.test_client() for _ in range(2)]
    page = f"/aftaler/{agreement.id}"
    tokens = []
    for client, persona in zip(clients, ("odense", "odense-clerk"), strict=True):
        assert log_in(client, persona).status_code == 302
        found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
        assert found is not None
        tokens.append(found.group(1))

    def click(n: int) -> str:  # each client in one thread only
        answer = clients[n].post(f"{page}/godkend", data={"csrf_token": tokens[n]})
        assert answer.status_code == 302, answer.text
        return str(answer.headers["Location"])

    with ThreadPoolExecutor(3) as pool:
        with write_lock_held(ledger.settings):
            rotation = rotation_blocked_behind_the_lock(ledger, pool)
            clicks = [pool.submit(click, n) for n in range(2)]
            wait_until_asked(ledger, 3)
        rotation.result()
        locations = [answer.result() for answer in clicks]
    assert locations[0] == locations[1]
    assert locations[0].startswith("/kvitteringer/")
    assert [e.event_type for e in ledger.history(cvr=ODENSE)].count("Approved") == 1
    assert_verified_log(ledger, before + 2)
