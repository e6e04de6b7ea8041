"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium) against a real portal.

Each test module gets a portal of its own: a data directory in tmp, `ledger init`, the demo
data of `development.demo.seed`, and the app of `approval_ledger.bootstrap.build_app` served
by werkzeug on a free loopback port in a background thread, with the development IdP on the
same origin (the SAML base URL is that port, so the IdP's and the ACS URLs match). Each test
gets a fresh browser context, so no cookie or session survives from one test to the next.

Only SQLite: these tests check what a person sees and does in the browser, which does not
depend on the database; the page and ledger tests run on PostgreSQL too.

`https_portal` is the portal as deployed, for a module that makes it its `portal`: Debian's
nginx with the site file of `deploy/` (TLS with a certificate made here, HTTP/2), started
as a process of its own with its configuration, pid, logs and temporary files in tmp, in
front of `ledger serve` on a Unix socket with LEDGER_TRUSTED_PROXIES=1; once on SQLite and
once on PostgreSQL.

Chromium is never downloaded (`playwright install` is not used): `.ci/run` installs Debian's
package. Without /usr/bin/chromium (or /usr/sbin/nginx, for the https portal) the tests are
skipped, except in CI (`CI` set), where that is a failure.
"""

import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from approval_ledger.bootstrap import build_app
from approval_ledger.initialize import initialize
from development.demo import PERSONS_BY_KEY, seed
from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.identity import Actor
from tests.conftest import new_postgres_database, saml_settings_in, settings_in
from tests.served import free_port, ledger_serve, portal_environment

CHROMIUM = Path("/usr/bin/chromium")
NGINX = Path("/usr/sbin/nginx")
NGINX_SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "approval-ledger.conf"
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
class Nginx:
    """A running nginx: its https and plain http ports, and its files."""

    port: int
    http_port: int
    directory: Path

    def access_log(self) -> str:
        return (self.directory / "access.log").read_text(encoding="utf-8")


@dataclass
class Portal:
    """A running portal: its URL, data directory, settings and ledger (and its nginx)."""

    url: str
    settings: Settings
    ledger: LedgerApp
    nginx: Nginx | None = None

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


def require_debian_program(path: Path, package: str) -> None:
    """Skip without it; in CI, fail."""
    if path.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing; .ci/run installs Debian's {package} package")
    pytest.skip(f"this test needs Debian's {package} at {path} (apt-get install {package})")


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole run."""
    require_debian_program(CHROMIUM, "chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def portal(
    browser, tmp_path_factory: pytest.TempPathFactory, saml_keys: Path, request
) -> Iterator[Portal]:
    """A seeded portal served on a free loopback port for this test module, with the
    module's `PORTAL_CONFIG` (Flask settings) if it has one."""
    data_dir = tmp_path_factory.mktemp("portal") / "var"
    settings = settings_in(data_dir)
    ledger = initialize(settings, Actor.cli_operator()).app
    assert seed(ledger)
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, _no_app, threaded=True, request_handler=_QuietHandler
    )
    url = f"http://127.0.0.1:{server.server_port}"
    saml = saml_settings_in(data_dir, saml_keys, LEDGER_SAML_BASE_URL=url)
    config = getattr(request.module, "PORTAL_CONFIG", None)
    server.app = build_app(settings, saml, ledger=ledger, config=config)
    thread = threading.Thread(target=server.serve_forever, name="portal", daemon=True)
    thread.start()
    try:
        yield Portal(url, settings, ledger)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        server.app.extensions["services"].close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def https_portal(
    request: pytest.FixtureRequest,
    browser,
    tmp_path_factory: pytest.TempPathFactory,
    saml_keys: Path,
) -> Iterator[Portal]:
    """The seeded portal as deployed: nginx over https in front of `ledger serve`."""
    require_debian_program(NGINX, "nginx")
    directory = tmp_path_factory.mktemp(f"https-portal-{request.param}")
    with ExitStack() as stack:
        database_url = None
        if request.param == "postgres":
            database_url = stack.enter_context(new_postgres_database())
        settings = settings_in(directory / "var", database_url)
        ledger = initialize(settings, Actor.cli_operator()).app
        stack.callback(ledger.close)
        assert seed(ledger)
        port, http_port = free_port(), free_port()
        url = f"https://127.0.0.1:{port}"
        portal_socket = directory / "portal.sock"
        env = portal_environment(
            settings, saml_keys, LEDGER_SAML_BASE_URL=url, LEDGER_TRUSTED_PROXIES="1"
        )
        stack.enter_context(ledger_serve(env, f"unix:{portal_socket}", directory / "serve.log"))
        nginx = stack.enter_context(
            running_nginx(directory / "nginx", port, http_port, portal_socket)
        )
        yield Portal(url, settings, ledger, nginx)


@contextmanager
def running_nginx(directory: Path, port: int, http_port: int, upstream: Path) -> Iterator[Nginx]:
    """Debian's nginx with deploy/'s site file, made to listen on loopback ports and to
    reach `upstream`; everything it writes is in `directory`. Stopped gracefully after."""
    directory.mkdir()
    certificate, key = self_signed_certificate(directory)
    site = nginx_site_for_test(
        NGINX_SITE.read_text(encoding="utf-8"),
        port=port,
        http_port=http_port,
        upstream=upstream,
        certificate=certificate,
        key=key,
        logs=directory,
    )
    (directory / "site.conf").write_text(site, encoding="utf-8")
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""  # to reach the socket in tmp
    (directory / "nginx.conf").write_text(
        f"""{user}worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} notice;
daemon off;
events {{
    worker_connections 512;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
{temp_paths}
    include {directory / "site.conf"};
}}
""",
        encoding="utf-8",
    )
    command = [str(NGINX), "-p", str(directory), "-c", str(directory / "nginx.conf")]
    command += ["-e", str(directory / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_tls(port, process)
        yield Nginx(port, http_port, directory)
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish what is being answered
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def nginx_site_for_test(
    site: str,
    *,
    port: int,
    http_port: int,
    upstream: Path,
    certificate: Path,
    key: Path,
    logs: Path,
) -> str:
    """The deploy/ site file with its host name, ports, certificate, socket and log paths
    replaced; each of them must be there exactly as often as expected."""
    replacements = [
        ("    listen [::]:443 ssl http2;\n", "", 1),
        ("    listen [::]:80;\n", "", 1),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;", 1),
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("/etc/letsencrypt/live/portal.example.dk/fullchain.pem", str(certificate), 1),
        ("/etc/letsencrypt/live/portal.example.dk/privkey.pem", str(key), 1),
        ("server_name portal.example.dk;", "server_name 127.0.0.1;", 2),
        ("server unix:/run/approval-ledger/portal.sock;", f"server unix:{upstream};", 1),
        ("/var/log/nginx/approval-ledger.access.log", str(logs / "access.log"), 2),
        ("/var/log/nginx/approval-ledger.error.log", str(logs / "error.log"), 1),
    ]
    for old, new, count in replacements:
        assert site.count(old) == count, f"{NGINX_SITE} no longer has {old!r} {count} times"
        site = site.replace(old, new)
    assert "portal.example.dk" not in site
    assert "/var/log/" not in site
    return site


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day, and its key: PEM files in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = directory / "portal.crt", directory / "portal.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return certificate_file, key_file


def tls_to(port: int, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:`port` that accepts the test's own certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(list(alpn))
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))


def _wait_for_tls(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"nginx stopped ({process.returncode}): {process.stderr.read()}")
        try:
            tls_to(port).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)  # polling for nginx to listen: there is nothing to wait on


@pytest.fixture
def new_context(browser, portal: Portal):
    """Make browser contexts on the portal (JavaScript on unless asked); all closed after.
    On https they accept the test's self-signed certificate."""
    contexts = []

    def make(**options):
        options.setdefault("ignore_https_errors", urlsplit(portal.url).scheme == "https")
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
