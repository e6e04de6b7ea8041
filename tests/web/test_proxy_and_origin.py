"""Behind a reverse proxy: which forwarded headers count (LEDGER_TRUSTED_PROXIES), and the
CSRF check of a POST's origin, which must work behind https with our Referrer-Policy."""

from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from flask import request

from ledger.config import ConfigError, Settings
from tests.conftest import saml_settings_in, settings_in
from tests.web import test_signatory
from tests.web.test_login import saml_response_for
from tests.web.test_signatory import AARHUS, csrf_token

BEHIND_NGINX = "https://127.0.0.1:8443"  # loopback, so the development IdP may answer
CLIENT = "127.0.0.7"  # the address the portal's socket sees (loopback: the dev IdP answers)
agreement = test_signatory.agreement  # the fixture: customers and one agreement
FORGED = {
    "X-Forwarded-For": "198.51.100.66",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "9999",
}


def _where() -> dict[str, str]:
    """A page the test adds: what the portal takes to be the client, scheme and host."""
    return {"ip": request.remote_addr or "", "scheme": request.scheme, "host": request.host}


def _client(flask_app):
    flask_app.add_url_rule("/test/where", "test_where", _where)
    client = flask_app.test_client()
    client.environ_base["REMOTE_ADDR"] = CLIENT
    return client


def log_in(client, persona: str, **headers: str):
    """As tests/web/test_login.py's, with headers on the POST to the ACS."""
    posted = {"SAMLResponse": saml_response_for(client, persona)}
    return client.post("/saml/acs", data=posted, headers=headers)


def _approve(client, agreement, **headers: str):
    page = f"/aftaler/{agreement.id}"
    return client.post(
        f"{page}/godkend",
        data={"bekraeft": "ja", "csrf_token": csrf_token(client, page)},
        headers=headers,
    )


@pytest.fixture
def https_portal(app, saml_keys, tmp_path, agreement, make_portal):
    """The portal configured for https://127.0.0.1:8443, the test client speaking https."""
    saml = saml_settings_in(app.settings.data_dir, saml_keys, LEDGER_SAML_BASE_URL=BEHIND_NGINX)
    flask_app = make_portal(
        app, saml=saml, config={"PREFERRED_URL_SCHEME": "https", "SERVER_NAME": "127.0.0.1:8443"}
    )
    return _client(flask_app)


def test_trusted_proxies_is_a_small_whole_number_and_zero_by_default(tmp_path):
    assert settings_in(tmp_path).trusted_proxies == 0
    env = {"LEDGER_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env | {"LEDGER_TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    for bad in ("-1", "one", "6"):
        with pytest.raises(ConfigError, match="LEDGER_TRUSTED_PROXIES must be a whole number"):
            Settings.from_env(env | {"LEDGER_TRUSTED_PROXIES": bad})


def test_without_trusted_proxies_forged_forwarded_headers_change_nothing(
    app, make_portal, agreement
):
    client = _client(make_portal(app))
    seen = client.get("/test/where", headers=FORGED).json
    assert seen == {"ip": CLIENT, "scheme": "http", "host": "localhost"}

    log_in(client, "aarhus")
    done = _approve(client, agreement, **FORGED)
    assert done.status_code == 302
    [approval] = [e for e in app.history(cvr=AARHUS) if e.event_type == "Approved"]
    assert approval.event.request.ip == CLIENT


def test_with_one_trusted_proxy_its_forwarded_headers_name_the_client_and_https(
    app, make_portal, agreement
):
    behind_one = replace(app.settings, trusted_proxies=1)
    client = _client(make_portal(app, settings=behind_one))
    # The proxy appends the address it saw to whatever the client sent: only the last counts.
    forwarded = {
        "X-Forwarded-For": "198.51.100.66, 203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "127.0.0.1",
        "X-Forwarded-Port": "8443",
    }
    seen = client.get("/test/where", headers=forwarded).json
    assert seen == {"ip": "203.0.113.7", "scheme": "https", "host": "127.0.0.1:8443"}
    assert client.get("/test/where").json["ip"] == CLIENT  # no header: the socket's peer

    log_in(client, "aarhus")
    assert _approve(client, agreement, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 302
    [approval] = [e for e in app.history(cvr=AARHUS) if e.event_type == "Approved"]
    assert approval.event.request.ip == "203.0.113.7"


def test_pages_send_our_url_as_referer_only_to_ourselves(https_portal):
    assert https_portal.get("/").headers["Referrer-Policy"] == "same-origin"


def test_behind_https_a_post_from_our_own_page_is_accepted_by_its_origin_alone(
    https_portal, app, agreement
):
    log_in(https_portal, "aarhus", Origin=BEHIND_NGINX)
    # What Chromium sends for Godkend under Referrer-Policy no-referrer: Origin, no Referer.
    done = _approve(https_portal, agreement, Origin=BEHIND_NGINX)
    assert done.status_code == 302
    assert done.headers["Location"].startswith("/kvitteringer/")
    assert app.approval(AARHUS, agreement.id) is not None


def test_behind_https_a_same_origin_referer_stands_in_for_a_missing_origin(
    https_portal, app, agreement
):
    log_in(https_portal, "aarhus")
    done = _approve(https_portal, agreement, Referer=f"{BEHIND_NGINX}/aftaler/{agreement.id}")
    assert done.status_code == 302
    assert app.approval(AARHUS, agreement.id) is not None


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:8443"},  # our host, but not over https
        {"Origin": "https://127.0.0.1:8444"},
        {"Referer": "https://evil.example/aftaler"},
        {"Origin": "https://evil.example", "Referer": f"{BEHIND_NGINX}/aftaler"},
        {},  # neither: every browser names one for a form on our pages
    ],
    ids=["foreign", "null", "http", "other-port", "foreign-referer", "origin-first", "none"],
)
def test_behind_https_a_post_from_another_origin_gets_the_danish_csrf_page(
    https_portal, app, agreement, headers
):
    log_in(https_portal, "aarhus")
    before = len(list(app.signed_log.entries()))
    refused = _approve(https_portal, agreement, **headers)
    assert refused.status_code == 400
    assert "Formularen mangler sin sikkerhedsnøgle" in refused.text
    assert app.approval(AARHUS, agreement.id) is None
    assert len(list(app.signed_log.entries())) == before


def test_on_loopback_http_a_foreign_origin_is_refused_and_none_is_accepted(
    app, make_portal, agreement
):
    client = _client(make_portal(app))
    log_in(client, "aarhus")
    assert _approve(client, agreement, Origin="http://evil.example").status_code == 400
    assert app.approval(AARHUS, agreement.id) is None
    assert _approve(client, agreement).status_code == 302  # a script on loopback, no Origin


def test_the_acs_takes_the_identity_providers_cross_site_post(https_portal, app):
    landed = log_in(https_portal, "aarhus", Origin="https://nemlog-in.dk")
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/"
    assert "Anne Andersen" in https_portal.get("/").text
    assert not [e for e in app.signed_log.entries() if e.event_type == "LoginRejected"]


@pytest.mark.parametrize(
    ("trusted_proxies", "headers", "answers"),
    [
        (0, {}, True),  # `ledger demo`: a browser on this machine
        (1, {"X-Forwarded-For": "127.0.0.1"}, True),  # through nginx, from this machine
        (1, {"X-Forwarded-For": "203.0.113.7"}, False),  # through nginx, from elsewhere
        (0, {"X-Forwarded-For": "127.0.0.1"}, True),
    ],
)
def test_the_development_idp_answers_only_a_browser_on_this_machine(
    app, make_portal, trusted_proxies, headers, answers
):
    settings = replace(app.settings, trusted_proxies=trusted_proxies)
    client = _client(make_portal(app, settings=settings))
    query = urlsplit(client.get("/saml/login").headers["Location"]).query
    for path in (f"/dev-idp/sso?{query}", "/dev-idp/metadata"):
        assert client.get(path, headers=headers).status_code == (200 if answers else 404)


def test_the_development_idp_does_not_answer_another_machine(app, make_portal):
    client = _client(make_portal(app))
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    query = urlsplit(client.get("/saml/login").headers["Location"]).query
    # Its answer would name the loopback ACS URL, which the portal behind a proxy accepts.
    assert client.get(f"/dev-idp/sso?{query}&persona=staff").status_code == 404
