"""Sessions that end, in the browser: cookies copied from a logged-in Chromium are replayed in
a fresh context after the session ended, as a thief who took them would, and let no one in."""

from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from development.demo import AGREEMENT_TITLE, PERSONS_BY_KEY
from ledger.storage.sessions import TABLE
from tests.browser.conftest import log_in_as, path_of

KOEBENHAVN = "64942212"  # the one demo municipality that has not approved yet
AUDITOR = PERSONS_BY_KEY["auditor"]


def move_back(portal, person_uuid: str, column: str, seconds: int) -> None:
    """Let time pass for this person's stored sessions: `column` is `seconds` earlier."""
    database = portal.settings.database
    connection = database.connect(writable=True)
    try:
        connection.execute(
            f"UPDATE {TABLE} SET {column} = {column} - {int(seconds)} "
            f"WHERE person_uuid = {database.placeholder}",
            (person_uuid,),
        )
    finally:
        connection.close()


def ended_because(portal, person_uuid: str) -> list[str | None]:
    database = portal.settings.database
    connection = database.connect(writable=True)
    try:
        rows = connection.execute(
            f"SELECT ended_because FROM {TABLE} "
            f"WHERE person_uuid = {database.placeholder} ORDER BY created_at",
            (person_uuid,),
        ).fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]


def sent_to_login(page) -> None:
    """The portal sent the browser to log in: it is at the development IdP's persona page."""
    page.wait_for_url(lambda url: urlsplit(url).path == "/dev-idp/sso")
    expect(page.get_by_role("link", name=PERSONS_BY_KEY["aarhus"].name)).to_be_visible()


def godkend_with_cookies_copied_before_logout(page, portal, new_context, session_cookie: str):
    """Log in as København's signatory at the agreement, copy the page and the cookies, log
    out; then, in a fresh context holding the copies, click Godkend on the copied page. The
    Godkend POST goes to the portal: it must send the browser to log in, storing nothing."""
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    agreement_path = f"/aftaler/{agreement.id}"
    log_in_as(page, "koebenhavn", agreement_path)
    expect(page.get_by_role("button", name="Godkend")).to_be_visible()
    copied_page = page.content()  # with its CSRF token
    copied_cookies = page.context.cookies()
    assert session_cookie in {cookie["name"] for cookie in copied_cookies}

    page.get_by_role("button", name="Log ud").click()  # through the IdP's single logout
    expect(page.get_by_role("heading", level=1)).to_have_text("Du er logget ud")

    thief = new_context()
    thief.add_cookies(copied_cookies)
    # The agreement page as it was before logout; the Godkend POST goes to the portal.
    thief.route(
        f"{portal.url}{agreement_path}",
        lambda route: (
            route.fulfill(body=copied_page, content_type="text/html; charset=utf-8")
            if route.request.method == "GET"
            else route.continue_()
        ),
    )
    # Only the Godkend POST reaches the portal: the copied page's frame of the agreement's
    # PDF would be sent to log in first, and its answer would replace the copied cookie.
    thief.route(f"{portal.url}{agreement_path}/dokument?visning=side", lambda route: route.abort())
    stolen = thief.new_page()
    stolen.goto(agreement_path)
    with stolen.expect_response(lambda answer: answer.request.method == "POST") as posted:
        stolen.get_by_role("button", name="Godkend").press("Enter")
    assert posted.value.status == 302
    assert posted.value.headers["cache-control"] == "no-store"
    location = urlsplit(posted.value.headers["location"])
    assert location.path == "/saml/login"
    assert parse_qs(location.query)["next"] == [agreement_path]  # back to the page after login
    sent_to_login(stolen)
    assert portal.event_types(KOEBENHAVN).count("Approved") == 0
    assert ended_because(portal, PERSONS_BY_KEY["koebenhavn"].person_uuid) == ["logout"]

    again = thief.new_page()
    again.goto("/aftaler")
    sent_to_login(again)


def test_cookies_copied_before_logout_cannot_approve_after_it(page, portal, new_context):
    godkend_with_cookies_copied_before_logout(page, portal, new_context, "session")


def test_cookies_replayed_after_the_idle_timeout_or_the_lifetime_let_no_one_in(
    page, portal, new_context
):
    aarhus = PERSONS_BY_KEY["aarhus"].person_uuid
    log_in_as(page, "aarhus", "/historik")
    copied_cookies = page.context.cookies()
    move_back(portal, aarhus, "last_seen_at", portal.settings.session_idle_minutes * 60 + 1)
    thief = new_context()
    thief.add_cookies(copied_cookies)
    stolen = thief.new_page()
    stolen.goto("/historik")
    sent_to_login(stolen)
    page.goto("/historik")  # the person's own browser too: the server decided
    sent_to_login(page)
    assert ended_because(portal, aarhus)[-1] == "idle"

    log_in_as(page, "aarhus", "/historik")
    move_back(portal, aarhus, "created_at", portal.settings.session_max_hours * 3600 - 60)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Historik")
    move_back(portal, aarhus, "created_at", 61)
    page.reload()
    sent_to_login(page)
    assert ended_because(portal, aarhus)[-1] == "lifetime"


def test_staff_revoking_the_auditor_role_ends_the_auditors_session(page, portal, new_context):
    auditor = new_context().new_page()
    log_in_as(auditor, "auditor", "/revision/")
    expect(auditor.get_by_role("heading", level=1)).to_be_visible()
    auditor_cookies = auditor.context.cookies()

    log_in_as(page, "staff", "/drift/roller")
    page.get_by_role("link", name=f"Fratag {AUDITOR.name} rollen Revisor").click()
    page.get_by_label("Hvorfor fratages rollen?").fill("Revisionen af 2026 er afsluttet.")
    page.get_by_role("button", name="Fratag rollen").click()
    expect(page.get_by_role("main")).to_contain_text(
        f"{AUDITOR.name} har ikke længere rollen Revisor."
    )

    auditor.goto("/revision/")
    sent_to_login(auditor)
    thief = new_context()
    thief.add_cookies(auditor_cookies)
    stolen = thief.new_page()
    stolen.goto("/revision/eksport.csv?cvr=55133018")
    sent_to_login(stolen)
    assert ended_because(portal, AUDITOR.person_uuid) == ["role-revoked"]
    # The staff member's own session goes on.
    page.goto("/drift/roller")
    assert path_of(page) == "/drift/roller"
