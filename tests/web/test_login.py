"""The portal's NemLog-in login through the development IdP, with Flask's test client."""

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from development.demo import PERSONS_BY_KEY
from tests.conftest import saml_settings_in

REFERENCE_METADATA = Path(__file__).parents[1] / "saml" / "data" / "devtest4-idp-metadata.xml"


@pytest.fixture
def portal(app, make_portal):
    flask_app = make_portal(app)
    return flask_app.test_client()


def saml_response_for(client, persona: str, next_path: str = "/", fresh: bool = False) -> str:
    """Start a login and let the development IdP answer as `persona`: the SAMLResponse."""
    query = f"next={next_path}" + ("&fresh=1" if fresh else "")
    started = client.get(f"/saml/login?{query}")
    assert started.status_code == 302
    location = urlsplit(started.headers["Location"])
    assert location.path == "/dev-idp/sso"
    page = client.get(f"/dev-idp/sso?{location.query}&persona={persona}")
    assert page.status_code == 200
    return re.search(r'name="SAMLResponse" value="([^"]+)"', page.text).group(1)


def log_in(client, persona: str, next_path: str = "/"):
    return client.post(
        "/saml/acs", data={"SAMLResponse": saml_response_for(client, persona, next_path)}
    )


def rejections(app) -> list[dict]:
    return [
        entry.event.__dict__
        for entry in app.signed_log.entries()
        if entry.event_type == "LoginRejected"
    ]


def counted_refusals(app) -> list[str]:
    """The reasons of the refusals counted without a verified identity, once per refusal, as
    the summaries in the log hold them after the counting interval has ended."""
    app.summarize_login_refusals(now=time.time() + app.settings.login_refusal_interval_seconds)
    return [
        count["reason"]
        for entry in app.signed_log.entries()
        if entry.event_type == "LoginRefusalsCounted"
        for count in entry.facts()["counts"]
        for _ in range(count["refusals"])
    ]


def test_a_signatory_logs_in_and_comes_back_to_the_page_asked_for(portal, app):
    done = log_in(portal, "aarhus", "/api/v1/checkpoint")
    assert done.status_code == 302
    assert done.headers["Location"] == "/api/v1/checkpoint"
    start = portal.get("/")
    assert "Anne Andersen" in start.text
    assert "Aarhus Kommune (CVR 55133018)" in start.text
    assert "sikringsniveau Betydelig" in start.text
    with portal.session_transaction() as session:
        identity = session["identity"]
    assert identity["person_uuid"] == PERSONS_BY_KEY["aarhus"].person_uuid
    assert identity["loa"] == "Substantial"
    stored = app.documents.get(identity["assertion_sha256"])
    assert identity["assertion_id"].encode() in stored
    assert rejections(app) == []


def test_the_login_page_lists_the_personas_and_a_fresh_login_says_so(portal):
    started = portal.get("/saml/login?fresh=1")
    request = parse_qs(urlsplit(started.headers["Location"]).query)
    assert request["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    page = portal.get(started.headers["Location"].split("127.0.0.1:5000", 1)[1])
    assert "portalen beder om et nyt login" in page.text
    for person in PERSONS_BY_KEY.values():
        assert person.name in page.text


@pytest.mark.parametrize(
    ("persona", "headline", "kept"),
    [
        ("private", "Du skal logge ind med din erhvervsidentitet (MitID Erhverv)", False),
        ("low", "Dit login har ikke et tilstrækkeligt sikringsniveau", True),
    ],
)
def test_private_mitid_and_level_low_are_refused_in_danish_and_recorded(
    portal, app, persona, headline, kept
):
    refused = log_in(portal, persona)
    assert refused.status_code == 403
    assert headline in refused.text
    assert '<html lang="da">' in refused.text
    assert portal.get("/").text.count("Log ind med MitID Erhverv") == 1  # still logged out
    [recorded] = rejections(app)
    person = PERSONS_BY_KEY[persona]
    assert recorded["reason"] == ("private-identity" if persona == "private" else "loa-too-low")
    assert recorded["idp"] == "http://127.0.0.1:5000/dev-idp"
    assert recorded["assertion_id"]
    if kept:
        assert (recorded["person_uuid"], recorded["cvr"]) == (person.person_uuid, person.cvr)
    else:
        assert (recorded["person_uuid"], recorded["cvr"]) == (None, None)


def test_a_response_posted_from_another_browser_is_refused(portal, app, make_portal):
    response = saml_response_for(portal, "aarhus")
    other = make_portal(app).test_client()
    refused = other.post("/saml/acs", data={"SAMLResponse": response})
    assert refused.status_code == 400
    assert "hører ikke til et login fra denne browser" in refused.text
    assert rejections(app) == []
    assert counted_refusals(app) == ["in-response-to-mismatch"]
    # The browser that asked can still use it, once.
    assert portal.post("/saml/acs", data={"SAMLResponse": response}).status_code == 302
    assert portal.post("/saml/acs", data={"SAMLResponse": response}).status_code == 400


@pytest.mark.parametrize(
    ("posted", "reason"),
    [
        ("", "malformed-xml"),
        ("not base64!", "malformed-base64"),
        ("PGZvbz4=", "malformed-xml"),
        ("A" * 300_000, "oversize"),
    ],
)
def test_garbage_at_the_acs_is_a_clean_refusal_never_a_500(portal, app, posted, reason):
    refused = portal.post("/saml/acs", data={"SAMLResponse": posted})
    assert refused.status_code == 400
    assert "Login kunne ikke gennemføres" in refused.text
    assert rejections(app) == []
    assert counted_refusals(app) == [reason]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_next_must_be_a_local_path(portal, target):
    done = portal.post(
        "/saml/acs", data={"SAMLResponse": saml_response_for(portal, "aarhus", target)}
    )
    assert done.headers["Location"] == "/"


def test_login_gives_a_new_session_and_nothing_from_before_survives(portal):
    with portal.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["sid"] = "fixed"
    log_in(portal, "odense")
    with portal.session_transaction() as session:
        assert "planted" not in session
        assert session["sid"] != "fixed"
        assert session["identity"]["loa"] == "High"


def test_logout_needs_csrf_and_ends_the_idp_session_too(portal):
    log_in(portal, "aarhus")
    assert portal.post("/saml/logout").status_code == 400  # no CSRF token
    token = re.search(r'name="csrf_token" value="([^"]+)"', portal.get("/").text).group(1)
    to_idp = portal.post("/saml/logout", data={"csrf_token": token})
    assert to_idp.status_code == 302
    idp_slo = urlsplit(to_idp.headers["Location"])
    assert idp_slo.path == "/dev-idp/slo"
    back = portal.get(f"/dev-idp/slo?{idp_slo.query}")
    sp_slo = urlsplit(back.headers["Location"])
    assert sp_slo.path == "/saml/slo"
    done = portal.get(f"/saml/slo?{sp_slo.query}")
    assert done.status_code == 200
    assert "Du er logget ud" in done.text
    assert "Log ind med MitID Erhverv" in portal.get("/").text


def test_a_logout_started_at_nemlogin_ends_our_session_and_is_answered_signed(portal, app):
    log_in(portal, "aarhus")
    with portal.session_transaction() as session:
        identity = session["identity"]
    idp = portal.application.extensions["dev_idp"]
    incoming = urlsplit(idp.logout_request_url(identity["name_id"], identity["session_index"]))
    answered = portal.get(f"/saml/slo?{incoming.query}")
    assert answered.status_code == 302
    answer = urlsplit(answered.headers["Location"])
    assert answer.path == "/dev-idp/slo"
    assert set(parse_qs(answer.query)) == {"SAMLResponse", "SigAlg", "Signature"}
    assert portal.get(f"/dev-idp/slo?{answer.query}").status_code == 200  # its signature holds
    assert "Log ind med MitID Erhverv" in portal.get("/").text


def test_a_forged_logout_response_is_refused(portal):
    log_in(portal, "aarhus")
    forged = portal.get("/saml/slo?SAMLResponse=AAAA&SigAlg=x&Signature=AAAA")
    assert forged.status_code == 400


def test_pages_carry_strict_security_headers(portal):
    page = portal.get("/")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in page.headers  # loopback development only


def test_with_nemlogin_metadata_logins_go_to_nemlogin_and_there_is_no_dev_idp(
    app, tmp_path, saml_keys, make_portal
):
    settings = saml_settings_in(
        tmp_path / "var",
        saml_keys,
        LEDGER_DEV_IDP="",
        LEDGER_SAML_IDP_METADATA=str(REFERENCE_METADATA),
        LEDGER_SAML_BASE_URL="https://portal.example.dk",
    )
    client = make_portal(app, saml=settings).test_client()
    started = client.get("/saml/login", base_url="https://portal.example.dk")
    assert started.headers["Location"].startswith(
        "https://test-devtest4-nemlog-in.dk/idp/saml/3.0/"
    )
    assert "SameSite=None" in started.headers["Set-Cookie"]
    assert "Secure" in started.headers["Set-Cookie"]
    assert client.get("/dev-idp/metadata").status_code == 404
    page = client.get("/", base_url="https://portal.example.dk")
    assert "max-age=31536000" in page.headers["Strict-Transport-Security"]
    assert "https://test-devtest4-nemlog-in.dk" in page.headers["Content-Security-Policy"]
    metadata = client.get("/saml/metadata")
    assert b'entityID="https://portal.example.dk/saml/metadata"' in metadata.data
