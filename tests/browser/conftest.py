"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium) against a real portal.

Each test module gets a portal of its own: a data directory in tmp, `ledger init`, the demo
data of `ledger.demo.seed`, and `create_app` served by werkzeug on a free loopback port in a
background thread, with the development IdP on the same origin (the SAML base URL is that
port, so the IdP's and the ACS URLs match). Each test gets a fresh browser context, so no
cookie or session survives from one test to the next.

Only SQLite: these tests check what a person sees and does in the browser, which does not
depend on the database; the page and ledger tests run on PostgreSQL too.

Chromium is never downloaded (`playwright install` is not used): `.ci/run` installs Debian's
package. Without /usr/bin/chromium the directory is skipped, except in CI (`CI` set), where
that is a failure.
"""

import os
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.demo import PERSONS_BY_KEY, seed
from ledger.identity import Actor
from ledger.setup import initialize
from tests.conftest import saml_settings_in, settings_in
from web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a loaded 2-core machine; every wait is Playwright's own (no sleeps).
TIMEOUT_MS = 15_000
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Contexts made with JavaScript off: axe-core cannot run in them (its timers never fire).
_WITHOUT_JAVASCRIPT = weakref.WeakSet()


@dataclass
class Portal:
    """A running portal: its URL, data directory, settings and ledger."""

    url: str
    settings: Settings
    ledger: LedgerApp

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def verifier_keys(self) -> Path:
        return self.settings.keys_dir / "verifier-keys"

    def event_types(self, cvr: str | None = None) -> list[str]:
        return [entry.event_type for entry in self.ledger.history(cvr=cvr)]


class _QuietHandler(WSGIRequestHandler):
    """No access log: it would fill a failure's output with SAML requests."""

    def log_request(self, *args, **kwargs) -> None:
        pass


def _no_app(environ, start_response):  # until the app knows its own port
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole run."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package")
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def portal(browser, tmp_path_factory: pytest.TempPathFactory, saml_keys: Path) -> Iterator[Portal]:
    """A seeded portal served on a free loopback port for this test module."""
    data_dir = tmp_path_factory.mktemp("portal") / "var"
    settings = settings_in(data_dir)
    ledger = initialize(settings, Actor.cli_operator()).app
    assert seed(ledger)
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, _no_app, threaded=True, request_handler=_QuietHandler
    )
    url = f"http://127.0.0.1:{server.server_port}"
    saml = saml_settings_in(data_dir, saml_keys, LEDGER_SAML_BASE_URL=url)
    server.app = create_app(settings, saml=saml, ledger=ledger)
    thread = threading.Thread(target=server.serve_forever, name="portal", daemon=True)
    thread.start()
    try:
        yield Portal(url, settings, ledger)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        ledger.close()


@pytest.fixture
def new_context(browser, portal: Portal):
    """Make browser contexts on the portal (JavaScript on unless asked); all closed after."""
    contexts = []

    def make(**options):
        context = browser.new_context(base_url=portal.url, accept_downloads=True, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        if options.get("java_script_enabled") is False:
            _WITHOUT_JAVASCRIPT.add(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    """A page in a fresh browser context: nobody is logged in."""
    return new_context().new_page()


def path_of(page) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def choose_persona(page, persona: str, next_path: str = "/", *, check: bool = False) -> None:
    """Pick `persona` on the development IdP's page, by clicking its link; the login starts
    at `/saml/login?next=next_path` unless the page is at the IdP already.

    With JavaScript the IdP's page posts the answer on by itself; this returns once the
    browser has left the IdP (at the page asked for, or at a refusal). `check` runs axe on
    the persona page.
    """
    if urlsplit(page.url).path != "/dev-idp/sso":  # else the person clicked Log ind already
        page.goto(f"/saml/login?next={next_path}")
        assert urlsplit(page.url).path == "/dev-idp/sso"
    if check:
        axe_check(page)
    page.get_by_role("link", name=PERSONS_BY_KEY[persona].name, exact=True).click()
    page.wait_for_url(lambda url: not urlsplit(url).path.startswith("/dev-idp/"))


def log_in_as(page, persona: str, next_path: str = "/", *, check: bool = False) -> None:
    """Log in through the development IdP as `persona` and arrive at `next_path`."""
    from playwright.sync_api import expect

    choose_persona(page, persona, next_path, check=check)
    assert path_of(page) == next_path
    expect(page.locator("header")).to_contain_text(PERSONS_BY_KEY[persona].name)


def axe_check(page) -> None:
    """Run axe-core in the page for WCAG 2.0 and 2.1, A and AA; fail on any violation.

    A page shown with JavaScript off is checked as a copy: its HTML, at its own URL (so
    the style sheet loads), in a context where axe can run but the page's own scripts are
    blocked, as they were in the page.
    """
    if page.context not in _WITHOUT_JAVASCRIPT:
        _axe(page)
        return
    html, url = page.content(), page.url
    copy = page.context.browser.new_context()
    try:
        copy.set_default_timeout(TIMEOUT_MS)
        copy.route("**/*.js", lambda route: route.abort())
        copy.route(
            lambda address: address == url,
            lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
        )
        checked = copy.new_page()
        checked.goto(url)
        assert checked.content() == html
        _axe(checked)
    finally:
        copy.close()


def _axe(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": WCAG_TAGS},
            "resultTypes": ["violations"],
        },
    )
    assert results.violations_count == 0, f"{path_of(page)}\n{_report(results.response)}"


def _report(response: dict) -> str:
    lines = [f"{len(response['violations'])} axe violation(s):"]
    for violation in response["violations"]:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            lines.append(f"  at {', '.join(map(str, node['target']))}: {node['html'][:200]}")
            lines.extend(f"    {line}" for line in node.get("failureSummary", "").splitlines())
    return "\n".join(lines)
