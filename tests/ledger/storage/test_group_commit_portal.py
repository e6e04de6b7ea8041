"""A group commit on PostgreSQL seen from outside the recorder: two Godkend clicks that land
in one group get the same receipt from the portal, and a group whose connection breaks is
answered by what it stored, as a lone write is (the database fault tests' proxy).

On PostgreSQL only: holding the events table's lock gathers the group while the portal's
other tables (sessions, the replay cache) stay writable; SQLite's one write lock would
hold the requests back before they reach the ledger.
"""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from approval_ledger.initialize import initialize
from development.demo import CUSTOMERS, demo_pdf
from tests.ledger.storage.test_database_faults import PostgresProxy, _through, portal_settings
from tests.ledger.storage.test_group_commit import (
    Note,
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
        answer = clients[n].post(
            f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": tokens[n]}
        )
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


# A group whose connection breaks: each request's outcome is looked up, as a lone write's


class CutsTheSecondWrite(PostgresProxy):
    """The proxy of the database fault tests, letting the first write through untouched
    (the key rotation that holds the group back) and cutting the next one as asked."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.passed = 0

    def _take(self, mode: str) -> bool:
        if self.passed == 0 and self._mode == mode:
            self.passed += 1
            return False
        return super()._take(mode)


@pytest.fixture
def cut_proxy(postgres_url) -> Iterator[CutsTheSecondWrite]:
    proxy = CutsTheSecondWrite(urlsplit(postgres_url).port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture
def proxied(tmp_path, postgres_url, cut_proxy, operator):
    """A ledger whose every connection goes through the proxy."""
    settings = portal_settings(tmp_path / "var", _through(postgres_url, cut_proxy))
    app = initialize(settings, operator).app
    yield app
    app.close()


@pytest.mark.parametrize("cut", ["after-commit", "before-commit"])
def test_a_group_whose_connection_broke_is_answered_by_what_was_stored(
    proxied, cut_proxy, postgres_url, cut
):
    before = sum(1 for _ in proxied.signed_log.entries())
    notes = [Note(f"note {n}") for n in range(3)]
    direct = portal_settings(proxied.settings.data_dir, postgres_url)
    with ThreadPoolExecutor(4) as pool:
        with write_lock_held(direct):
            rotation = rotation_blocked_behind_the_lock(proxied, pool)
            saves = [pool.submit(proxied.save, note) for note in notes]
            wait_until_asked(proxied, 4)
            if cut == "after-commit":
                cut_proxy.cut_after_commit()
            else:
                cut_proxy.cut_before_commit()
        rotation.result()
        for save in saves:
            assert len(save.result()) == 1
    assert cut_proxy.cuts == 1
    for note in notes:
        assert [e.originator_version for e in proxied.recorder.select_events(note.id)] == [1]
    assert_verified_log(proxied, before + 4)
