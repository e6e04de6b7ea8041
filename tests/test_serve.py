"""`ledger serve` as a process: slow clients do not block it, and instances on one host share
no gunicorn control socket."""

import time
from pathlib import Path

import pytest

from ledger.identity import Actor
from ledger.setup import initialize
from tests.conftest import settings_in
from tests.served import free_port, ledger_serve, portal_environment

SLOW_CLIENTS = 8  # four times the two that blocked the portal's two sync workers


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
    env = portal_environment(settings_in(data_dir), saml_keys, HOME=str(home))
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
