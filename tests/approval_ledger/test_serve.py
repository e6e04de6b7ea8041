"""`ledger serve` as a process: slow clients do not block it, and instances on one host share
no gunicorn control socket."""

import re
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from approval_ledger import cli
from approval_ledger.initialize import initialize
from development.demo import AGREEMENT_TITLE, seed
from ledger.identity import Actor
from tests.conftest import settings_in
from tests.served import free_port, ledger_serve, portal_environment

SLOW_CLIENTS = 8  # four times the two that blocked the portal's two sync workers
# 24 logins at once on a shared 2-core machine: a request may wait long for its turn.
REQUEST_TIMEOUT = 90


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "var"
    initialize(settings_in(data_dir), Actor.cli_operator()).app.close()
    return data_dir


def test_half_sent_requests_do_not_keep_others_from_a_page(data_dir, saml_keys, tmp_path):
    port = free_port()
    env = portal_environment(
        settings_in(data_dir), saml_keys, LEDGER_SAML_BASE_URL=f"http://127.0.0.1:{port}"
    )
    with ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log") as served:
        slow = []
        for n in range(SLOW_CLIENTS):
            client = served.socket()
            if n % 2:  # headers without their end
                client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow")
            else:  # a form whose body never comes
                client.sendall(
                    b"POST /saml/logout HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 100000\r\n\r\ncsrf_token="
                )
            slow.append(client)
        try:
            for _ in range(3):
                started = time.monotonic()
                status, body = served.get("/")
                assert status == 200
                assert "Log ind med MitID Erhverv" in body.decode()
                assert time.monotonic() - started < 5.0
        finally:
            for client in slow:
                client.close()


def test_two_instances_on_one_host_share_no_control_socket(data_dir, saml_keys, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = portal_environment(
        settings_in(data_dir), saml_keys, HOME=str(home), LEDGER_TRUSTED_PROXIES="1"
    )
    env.pop("XDG_RUNTIME_DIR", None)
    first, second = f"unix:{tmp_path / 'first.sock'}", f"unix:{tmp_path / 'second.sock'}"
    with (
        ledger_serve(env, first, tmp_path / "first.log") as one,
        ledger_serve(env, second, tmp_path / "second.log") as other,
    ):
        assert one.get("/")[0] == 200
        assert other.get("/")[0] == 200
        assert list(home.rglob("*")) == []  # gunicorn's default: $HOME/.gunicorn/gunicorn.ctl
        for served in (one, other):
            assert "control socket" not in served.log().lower()
            assert "[ERROR]" not in served.log()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _log_in_and_approve(base: str, agreement_id: str) -> str:
    """One browser's way through the development IdP to Godkend: the receipt's address."""
    cookies = urllib.request.HTTPCookieProcessor(CookieJar())
    browser = urllib.request.build_opener(cookies)
    by_hand = urllib.request.build_opener(cookies, _NoRedirects)
    idp = _redirect(by_hand, f"{base}/saml/login?next=/aftaler/{agreement_id}")
    page = browser.open(f"{idp}&persona=koebenhavn", timeout=REQUEST_TIMEOUT).read().decode()
    answer = re.search(r'name="SAMLResponse" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"SAMLResponse": answer}).encode()
    agreement = browser.open(f"{base}/saml/acs", data=form, timeout=REQUEST_TIMEOUT).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', agreement).group(1)
    form = urllib.parse.urlencode({"bekraeft": "ja", "csrf_token": token}).encode()
    return _redirect(by_hand, f"{base}/aftaler/{agreement_id}/godkend", form)


def _redirect(opener, url: str, form: bytes | None = None) -> str:
    """Where the answer to this request sends the browser (an opener that follows none)."""
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(url, data=form, timeout=REQUEST_TIMEOUT)
    assert answer.value.code == 302, answer.value.read()
    # Closed, as a browser does: gunicorn's gthread worker lingers up to 2 s on its main
    # thread for a client that keeps a "Connection: close" socket open.
    answer.value.close()
    return answer.value.headers["Location"]


def test_threads_log_in_and_approve_at_once_and_one_approval_is_recorded(
    settings, saml_keys, tmp_path
):
    """The threads of the gthread workers share each process's database connections."""
    ledger = initialize(settings, Actor.cli_operator()).app
    assert seed(ledger)
    [agreement] = [a for a in ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = portal_environment(settings, saml_keys, LEDGER_SAML_BASE_URL=base)
    try:
        with ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log") as served:
            with ThreadPoolExecutor(max_workers=24) as pool:
                receipts = set(
                    pool.map(lambda _: _log_in_and_approve(base, agreement.id), range(24))
                )
            assert "Traceback" not in served.log()
        [receipt] = receipts  # every one of them shows the same approval
        approvals = [e for e in ledger.history(cvr="64942212") if e.event_type == "Approved"]
        assert [f"/kvitteringer/{e.seq}" for e in approvals] == [receipt]
    finally:
        ledger.close()


def test_on_a_unix_socket_the_proxy_in_front_must_be_trusted(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(data_dir))
    monkeypatch.delenv("LEDGER_TRUSTED_PROXIES", raising=False)
    status = cli.main(["serve", "--bind", f"unix:{data_dir / 'portal.sock'}"])
    assert status == 2
    assert capsys.readouterr().err.startswith("ledger: LEDGER_TRUSTED_PROXIES must be")
    assert not (data_dir / "portal.sock").exists()


def test_ledger_serve_tells_systemd_when_it_is_ready(data_dir, saml_keys, tmp_path):
    """deploy/'s unit is Type=notify: gunicorn's master sends READY=1 on $NOTIFY_SOCKET."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "notify"))
        systemd.settimeout(30)
        port = free_port()
        env = portal_environment(
            settings_in(data_dir), saml_keys, NOTIFY_SOCKET=str(tmp_path / "notify")
        )
        with ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log"):
            assert systemd.recv(4096).decode().startswith("READY=1")


def test_the_portals_unix_socket_is_for_its_owner_and_group_only(data_dir, saml_keys, tmp_path):
    """nginx reaches the socket through the service's group (deploy/: www-data is in it);
    anyone else on the host, who could pose as the trusted proxy, cannot connect."""
    env = portal_environment(settings_in(data_dir), saml_keys, LEDGER_TRUSTED_PROXIES="1")
    portal_socket = tmp_path / "portal.sock"
    with ledger_serve(env, f"unix:{portal_socket}", tmp_path / "serve.log") as served:
        assert served.get("/")[0] == 200
        assert stat.S_ISSOCK(portal_socket.stat().st_mode)
        assert stat.S_IMODE(portal_socket.stat().st_mode) == 0o660


@pytest.mark.parametrize("bind", ["0.0.0.0:8080", "[::]:8080", "192.0.2.10:8080", "portal"])
def test_a_trusted_proxy_in_front_of_a_public_address_stops_the_start(
    data_dir, monkeypatch, capsys, bind
):
    """Whoever reaches gunicorn directly would be "the proxy": its X-Forwarded-For would be
    the address recorded in an approval."""
    monkeypatch.setenv("LEDGER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LEDGER_TRUSTED_PROXIES", "1")
    status = cli.main(["serve", "--bind", bind])
    assert status == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("ledger: LEDGER_TRUSTED_PROXIES=1 with --bind ")
    assert bind in line


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_trusted_proxy_may_reach_the_portal_on_loopback(data_dir, saml_keys, tmp_path, host):
    port = free_port()
    env = portal_environment(settings_in(data_dir), saml_keys, LEDGER_TRUSTED_PROXIES="1")
    with ledger_serve(env, f"{host}:{port}", tmp_path / "serve.log") as served:
        assert served.get("/")[0] == 200


def test_each_worker_builds_its_own_services_and_closes_them_as_it_exits(
    data_dir, saml_keys, tmp_path
):
    """The master checks the configuration with an app it closes again; each worker's app is
    its own, closed by gunicorn's worker_exit hook (an exception there would be logged)."""
    port = free_port()
    env = portal_environment(
        settings_in(data_dir), saml_keys, LEDGER_SAML_BASE_URL=f"http://127.0.0.1:{port}"
    )
    with ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log", workers=2) as served:
        assert served.get("/")[0] == 200
    log = served.log()
    assert log.count("Booting worker") == 2
    assert log.count("Worker exiting") == 2
    assert "Exception during worker exit" not in log
    assert "Traceback" not in log
