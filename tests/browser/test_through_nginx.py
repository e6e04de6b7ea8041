"""The browser flow through nginx over https, as deployed (`https_portal`): a signatory
approves, downloads the receipt, hands in the declaration and logs out; staff reset an
approval; an auditor exports. Once on SQLite and once on PostgreSQL.

Screenshots of the pages at 1280 and 320 px are written to the test's tmp directory
(`shots-*`); at 320 px no page may be wider than the window.
"""

import http.client
import re
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from approval_ledger import cli
from approval_ledger.serve import gunicorn_options
from development.demo import (
    AGREEMENT_TITLE,
    AGREEMENT_VERSION,
    CUSTOMERS,
    PERSONS_BY_KEY,
    demo_pdf,
)
from ledger.config import Settings
from ledger.evidence.bundle import Receipt
from tests.browser.conftest import (
    NGINX_SITE,
    Portal,
    choose_persona,
    log_in_as,
    path_of,
    running_nginx,
    tls_to,
)
from tests.served import free_port
from web import FORM_MARGIN_BYTES

KOEBENHAVN = "64942212"  # the one demo municipality that has not approved yet
AARHUS = "55133018"  # approved in the demo data
ODENSE = "35209115"  # approved, reset, approved again in the demo data
REASON = "Anne Andersen var ikke tegningsberettiget, da hun godkendte."
HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture(scope="module")
def portal(https_portal: Portal) -> Portal:
    """Every page of this module is reached through nginx over https."""
    return https_portal


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory, https_portal: Portal) -> Path:
    return tmp_path_factory.mktemp(f"shots-{https_portal.settings.database.scheme}")


# Elements wider than the window, data tables aside (WCAG 2.1, 1.4.10 Reflow, lets
# a table scroll sideways: its rows and columns need both directions).
# An element's content counts as well as its box (a line of a <pre> that does not wrap).
STICKING_OUT = """() => Array.from(document.querySelectorAll("body *"))
    .filter(e => !e.closest("table") && !e.querySelector("table"))
    .filter(e => {
        const box = e.getBoundingClientRect();
        // A select clips its chosen option's text inside its box (Chromium 150 gives it the
        // text's scrollWidth): only the box can stick out.
        const wide = e.tagName === "SELECT" ? box.width : Math.max(box.width, e.scrollWidth);
        return box.left + wide > innerWidth + 0.5;
    })
    .map(e => e.tagName + (e.className ? "." + e.className : ""))"""


def look_at(page, shots: Path, name: str) -> None:
    """Screenshots at 1280 and 320 px; at neither does anything but a table stick out."""
    for width in (1280, 320):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=shots / f"{name}-{width}.png", full_page=True)
        assert page.evaluate(STICKING_OUT) == [], f"{name} at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})


def cookie(context, name: str) -> dict:
    [found] = [c for c in context.cookies() if c["name"] == name]
    return found


def test_nginx_speaks_http2_sends_http_to_https_and_refuses_a_too_large_upload_in_danish(
    portal,
):
    with tls_to(portal.nginx.port, alpn=("h2", "http/1.1")) as connection:
        assert connection.selected_alpn_protocol() == "h2"
        assert connection.version() in {"TLSv1.2", "TLSv1.3"}

    plain = http.client.HTTPConnection("127.0.0.1", portal.nginx.http_port, timeout=10)
    plain.request("GET", "/aftaler?side=2")
    moved = plain.getresponse()
    assert moved.status == 301
    assert moved.getheader("Location") == "https://127.0.0.1/aftaler?side=2"
    plain.close()

    # nginx's limit is the portal's: the largest upload plus the form around it.
    limit = Settings.from_env({}).max_upload_bytes + FORM_MARGIN_BYTES
    assert f"client_max_body_size {limit};" in NGINX_SITE.read_text(encoding="utf-8")
    with tls_to(portal.nginx.port) as connection:
        connection.sendall(
            b"POST /erklaering HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {limit + 1}\r\n\r\n".encode()
        )
        answer = connection.recv(65536).decode("utf-8", "replace")
    assert answer.startswith("HTTP/1.1 413 ")
    assert "Filen er for stor" in answer


def test_half_sent_requests_to_nginx_do_not_keep_others_from_a_page(page, portal):
    slow = [tls_to(portal.nginx.port) for _ in range(30)]
    try:
        for connection in slow:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow")
        started = time.monotonic()
        assert page.goto("/").status == 200
        assert time.monotonic() - started < 5.0
    finally:
        for connection in slow:
            connection.close()


def test_a_signatory_approves_downloads_hands_in_and_logs_out_over_https(
    new_context, portal, shots, tmp_path
):
    # What a client claims about itself is not what nginx tells the portal.
    context = new_context(
        extra_http_headers={"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "http"}
    )
    page = context.new_page()
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    before = len(portal.event_types(KOEBENHAVN))

    start = page.goto("/")
    assert start.url == f"{portal.url}/"
    assert start.headers["strict-transport-security"] == HSTS
    assert start.headers["referrer-policy"] == "same-origin"
    look_at(page, shots, "forside")

    page.goto("/saml/login?next=/aftaler")
    assert urlsplit(page.url).path == "/dev-idp/sso"
    pending = cookie(context, "saml_pending")
    assert (pending["secure"], pending["httpOnly"], pending["sameSite"], pending["path"]) == (
        True,
        True,
        "None",  # the IdP's POST is cross-site
        "/saml/",
    )
    look_at(page, shots, "udviklings-idp")
    choose_persona(page, "koebenhavn")
    assert path_of(page) == "/aftaler"
    expect(page.locator("header")).to_contain_text(PERSONS_BY_KEY["koebenhavn"].name)
    session = cookie(context, "__Host-session")
    assert (session["secure"], session["httpOnly"], session["sameSite"], session["path"]) == (
        True,
        True,
        "Lax",
        "/",
    )
    assert all(c["secure"] for c in context.cookies())
    look_at(page, shots, "aftaler")

    page.get_by_role("row", name=re.compile(agreement.title)).get_by_role(
        "link", name=agreement.title
    ).click()
    assert path_of(page) == f"/aftaler/{agreement.id}"
    look_at(page, shots, "aftale")
    # From the keyboard: a click just after scrolling past the agreement's PDF frame
    # can land in that frame in headless Chromium (its hit-test region lags).
    page.get_by_label(re.compile("Jeg er tegningsberettiget")).press("Space")
    page.get_by_role("button", name="Godkend").press("Enter")
    page.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Kvittering")
    approved = portal.ledger.signed_log.entry(int(page.url.rsplit("/", 1)[1]))
    assert approved.event_type == "Approved"
    assert approved.cvr == KOEBENHAVN
    assert approved.event.request.ip == "127.0.0.1"  # the browser, as nginx saw it
    assert "HeadlessChrome" in approved.event.request.user_agent
    look_at(page, shots, "kvittering")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent kvittering (JSON)").click()
    saved = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(saved)
    assert Receipt.from_json(saved.read_text(encoding="utf-8")).leaf == approved.leaf

    page.get_by_role("navigation", name="Hovedmenu").get_by_role(
        "link", name="Ledelseserklæring"
    ).click()
    look_at(page, shots, "erklaering")
    page.get_by_label(re.compile("Den underskrevne erklæring")).set_input_files(
        {
            "name": "erklaering.pdf",
            "mimeType": "application/pdf",
            "buffer": demo_pdf("Ledelseserklæring", "2026"),
        }
    )
    page.get_by_role("button", name="Aflever erklæringen").click()
    page.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    handed_in = portal.ledger.signed_log.entry(int(page.url.rsplit("/", 1)[1]))
    assert handed_in.event_type == "HandedIn"
    assert handed_in.cvr == KOEBENHAVN

    page.get_by_role("button", name="Log ud").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Du er logget ud")
    look_at(page, shots, "logget-ud")
    assert "__Host-session" not in {c["name"] for c in context.cookies()}
    page.goto("/aftaler")
    assert urlsplit(page.url).path == "/dev-idp/sso"  # logged out: sent to log in again

    assert portal.event_types(KOEBENHAVN)[before:] == ["Approved", "HandedIn"]
    log = portal.nginx.access_log()
    assert f'"POST /aftaler/{agreement.id}/godkend HTTP/2.0" 302' in log
    assert "SAMLRequest" not in log
    assert "?" not in log  # no query strings, no Referer


def test_the_identity_providers_cross_site_post_logs_in_and_a_foreign_godkend_does_not(
    new_context, portal
):
    """NemLog-in's answer arrives by a POST from its own site: the ACS takes it (the login's
    cookie is SameSite=None); a form on another site posting Godkend records nothing."""
    idp_site = "https://nemlog-in.test"
    context = new_context()
    page = context.new_page()
    page.goto("/saml/login?next=/aftaler")
    answer = page.request.get(f"{page.url}&persona=aarhus").text()
    saml_response = re.search(r'name="SAMLResponse" value="([^"]+)"', answer).group(1)
    context.route(
        f"{idp_site}/**",
        lambda route: route.fulfill(
            content_type="text/html; charset=utf-8",
            body=f'<!doctype html><html lang="da"><title>IdP</title><form method="post" '
            f'action="{portal.url}/saml/acs"><input type="hidden" name="SAMLResponse" '
            f'value="{saml_response}"><button>Fortsæt</button></form></html>',
        ),
    )
    page.goto(f"{idp_site}/svar")
    with page.expect_request(lambda sent: sent.url.endswith("/saml/acs")) as posted:
        page.get_by_role("button", name="Fortsæt").click()
    assert posted.value.headers["origin"] == idp_site
    page.wait_for_url(f"{portal.url}/aftaler")
    expect(page.locator("header")).to_contain_text(PERSONS_BY_KEY["aarhus"].name)

    addendum = next(a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE)
    page.goto(f"/aftaler/{addendum.id}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    before = len(portal.event_types())
    context.route(
        "https://elsewhere.test/**",
        lambda route: route.fulfill(
            content_type="text/html; charset=utf-8",
            body=f'<!doctype html><html lang="da"><title>Andet sted</title><form method="post" '
            f'action="{portal.url}/aftaler/{addendum.id}/godkend"><input type="hidden" '
            f'name="csrf_token" value="{token}"><button>Godkend</button></form></html>',
        ),
    )
    page.goto("https://elsewhere.test/")
    with page.expect_response(lambda answer: answer.request.method == "POST") as refused:
        page.get_by_role("button", name="Godkend").click()
    assert refused.value.status == 400
    expect(page.get_by_role("main")).to_contain_text("Formularen mangler sin sikkerhedsnøgle")
    assert len(portal.event_types()) == before


def test_staff_reset_an_approval_over_https(new_context, portal, shots):
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    assert portal.ledger.approval(AARHUS, agreement.id).is_approved
    staff = new_context().new_page()
    log_in_as(staff, "staff")
    staff.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Drift").click()
    look_at(staff, shots, "drift")
    staff.get_by_role("row").filter(has_text=f"CVR {AARHUS}").get_by_role(
        "link", name=CUSTOMERS[AARHUS]
    ).click()
    staff.get_by_role("link", name=re.compile("Nulstil godkendelsen")).click()
    staff.get_by_label("Hvorfor skal godkendelsen nulstilles?").fill(REASON)
    staff.get_by_role("button", name="Videre til bekræftelse").click()
    look_at(staff, shots, "nulstil")
    staff.get_by_role("button", name="Bekræft nulstilling").click()
    expect(staff.get_by_role("status")).to_contain_text("er nulstillet")
    assert path_of(staff) == "/drift/"

    assert not portal.ledger.approval(AARHUS, agreement.id).is_approved
    [*_, reset] = [e for e in portal.ledger.history(cvr=AARHUS) if e.event_type == "ApprovalReset"]
    assert reset.actor.name == PERSONS_BY_KEY["staff"].name
    assert reset.event.reason == REASON


def test_an_auditor_exports_a_bundle_that_verifies_over_https(
    page, portal, shots, tmp_path, monkeypatch, capsys
):
    log_in_as(page, "auditor")
    page.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Revision").click()
    page.get_by_label("CVR-nummer").fill(ODENSE)
    page.get_by_label("Aftaleversion").select_option(
        label=f"{AGREEMENT_TITLE}, version {AGREEMENT_VERSION}"
    )
    page.get_by_role("button", name="Søg", exact=True).click()
    results = page.locator("table:has(caption:text-matches('^Hændelser')) tbody tr")
    expect(results).to_have_count(3)
    look_at(page, shots, "revision")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent bevispakke (zip) med alle 3").click()
    bundle = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(bundle)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(portal.data_dir))
    capsys.readouterr()
    assert cli.main(["verify", "--bundle", str(bundle), "--keys", str(portal.verifier_keys)]) == 0
    assert capsys.readouterr().out.strip().endswith("all holds")


def ask_nginx(port: int, request: bytes) -> str:
    """`request` as sent over TLS, and nginx's whole answer (it closes the connection)."""
    with tls_to(port) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer.decode("utf-8", "replace")


def assert_danish_page(answer: str, status: int, heading: str) -> None:
    assert answer.startswith(f"HTTP/1.1 {status} "), answer[:200]
    head, body = answer.split("\r\n\r\n", 1)
    assert "content-type: text/html; charset=utf-8" in head.lower()
    assert '<html lang="da">' in body
    assert f"<h1>{heading}</h1>" in body
    assert "nginx" not in body.lower()


def test_nginx_and_gunicorn_limits_agree_and_a_too_long_address_gets_a_danish_page(portal):
    site = NGINX_SITE.read_text(encoding="utf-8")
    [buffer] = re.findall(r"large_client_header_buffers \d+ (\d+)k;", site)
    options = gunicorn_options(bind="unix:portal.sock", workers=1)
    # nginx refuses first: what it passes on is within gunicorn's limits, also an HTTP/2
    # path made into a request line (nginx counts its Huffman code: 8 characters in 5 bytes).
    assert int(buffer) * 1024 * 8 // 5 + 100 <= options["limit_request_line"]
    assert int(buffer) * 1024 <= options["limit_request_field_size"]

    longest = int(buffer) * 1024 - len("GET / HTTP/1.1\r\n")
    answer = ask_nginx(
        portal.nginx.port,
        f"GET /{'a' * longest} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(),
    )
    # Through to the portal: its own Danish 404 passes nginx unchanged, with its headers.
    assert answer.startswith("HTTP/1.1 404 "), answer[:200]
    assert f"strict-transport-security: {HSTS}".lower() in answer.lower()

    for length in (longest + 1, 5000, 9000, 20000):
        answer = ask_nginx(
            portal.nginx.port,
            f"GET /historik?side={'1' * length} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(),
        )
        assert_danish_page(answer, 414, "Adressen er for lang")


def test_over_http2_an_address_longer_than_nginxs_buffer_reaches_the_portal(page, portal):
    """5000 digits are 3125 bytes in HPACK's Huffman code, which is what nginx counts: the
    request reaches the portal, and its redirect to the login (with the address in next=)
    fits nginx's buffer for the portal's headers (it answered 502)."""
    page.goto(f"/historik?side={'1' * 5000}")
    assert urlsplit(page.url).path == "/dev-idp/sso"


def test_nginx_refuses_a_nul_in_the_path_too_large_headers_and_trace_in_danish(portal):
    nul = ask_nginx(portal.nginx.port, b"GET /%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert_danish_page(nul, 400, "Forespørgslen kunne ikke læses")

    cookie = "x=" + "a" * 5000
    too_large = ask_nginx(
        portal.nginx.port,
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode(),
    )
    assert_danish_page(too_large, 400, "Forespørgslen kunne ikke læses")

    trace = ask_nginx(
        portal.nginx.port,
        b"TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert_danish_page(trace, 405, "Forespørgslen er ikke tilladt")

    nginx_own = ask_nginx(
        portal.nginx.port,
        b"GET /_nginx/400 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert_danish_page(nginx_own, 404, "Siden findes ikke")


def test_with_the_portal_stopped_nginx_answers_in_danish(portal, tmp_path):
    stopped = tmp_path / "stopped.sock"  # what is left when `ledger serve` is not running
    stopped.touch()
    port, http_port = free_port(), free_port()
    with running_nginx(tmp_path / "nginx", port, http_port, stopped) as nginx:
        answer = ask_nginx(
            nginx.port, b"GET /aftaler HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
    assert_danish_page(answer, 502, "Portalen svarer ikke lige nu")


def test_a_flood_of_logins_from_one_address_is_turned_away_by_nginx_in_danish(portal):
    """Last in this module: it uses up this address's logins for a while."""
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(
        "127.0.0.1", portal.nginx.port, timeout=10, context=unverified
    )
    statuses = []
    try:
        for _ in range(60):  # one kept-alive connection: as fast as one client can send
            connection.request(
                "POST",
                "/saml/acs",
                body="SAMLResponse=AA%3D",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            answer = connection.getresponse()
            body = answer.read().decode("utf-8")
            statuses.append(answer.status)
            if answer.status == 429:
                assert "For mange forsøg" in body
                assert answer.getheader("Retry-After") == "10"
    finally:
        connection.close()
    # nginx lets a burst of 20 through (refused by the portal as malformed), then 5 a
    # second. The portal's own limit (60 a minute per network) is not reached: every 429
    # here is nginx's.
    assert statuses[:20] == [400] * 20
    assert statuses.count(429) >= 20
