"""Sessions that end, as deployed: nginx over https in front of `ledger serve` (gunicorn's
worker processes), on SQLite and PostgreSQL. The session's record is in the database, so
whichever worker answers a replayed cookie, the session has ended for it."""

import pytest
from playwright.sync_api import expect

from development.demo import PERSONS_BY_KEY
from tests.browser.conftest import Portal, log_in_as
from tests.browser.test_sessions import (
    ended_because,
    godkend_with_cookies_copied_before_logout,
    move_back,
    sent_to_login,
)


@pytest.fixture(scope="module")
def portal(https_portal: Portal) -> Portal:
    return https_portal


def test_cookies_copied_before_logout_over_https_cannot_approve_after_it(page, portal, new_context):
    godkend_with_cookies_copied_before_logout(page, portal, new_context, "__Host-session")


def test_pages_are_not_stored_through_nginx_and_the_style_sheet_may_be(page, portal, new_context):
    log_in_as(page, "aarhus", "/historik")
    history = page.reload()
    assert history.status == 200
    assert history.headers["cache-control"] == "no-store"
    anonymous = new_context().new_page()
    style = anonymous.goto("/static/style.css")
    assert style.status == 200
    assert "no-store" not in style.headers.get("cache-control", "")
    checkpoint = anonymous.goto("/api/v1/checkpoint")
    assert checkpoint.status == 200
    assert "no-store" not in checkpoint.headers.get("cache-control", "")


def test_the_idle_timeout_holds_whichever_worker_answers(page, portal):
    aarhus = PERSONS_BY_KEY["aarhus"].person_uuid
    log_in_as(page, "aarhus", "/historik")
    move_back(portal, aarhus, "last_seen_at", portal.settings.session_idle_minutes * 60 + 1)
    page.reload()
    sent_to_login(page)
    assert ended_because(portal, aarhus)[-1] == "idle"
    log_in_as(page, "aarhus", "/historik")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Historik")
