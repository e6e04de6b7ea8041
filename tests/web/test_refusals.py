"""Refused logins at the portal: what the signed log keeps of them, and how much.

The attacker here holds the SP's public encryption certificate and starts logins in their own
browser; they cannot sign as the IdP. Nothing they write may reach the log: a refusal before
the assertion's signature has verified is only counted, per reason and client network.
"""

import copy
import dataclasses
import time
from urllib.parse import urlsplit

import pytest
from lxml import etree

from development.demo import PERSONS_BY_KEY
from development.idp import DevelopmentIdP, encode
from ledger.domain import Bounded, LoginRejection
from ledger.identity import Actor
from saml import vocabulary as v
from tests.web.test_login import log_in, rejections, saml_response_for

# Assertion IDs near what the response limit allows (the ID stands twice in it, on the
# assertion and in its signature's reference: about 55 kB each). One with line breaks, tabs
# and a right-to-left override, which would fill a log and fool a reader of it; one of
# characters an xsd:ID may hold.
HOSTILE_IDS = {
    "control-characters": "_" + ("\n\tFORGED\u202e" * 3_000),
    "valid-characters": "_FORGED" + "A" * 55_000,
}


@pytest.fixture
def portal(app, make_portal):
    flask_app = make_portal(app)
    return flask_app.test_client()


def started_login(client) -> str:
    """A login started in this browser: the AuthnRequest's ID as the IdP reads it."""
    started = client.get("/saml/login")
    assert started.status_code == 302
    idp: DevelopmentIdP = client.application.extensions["dev_idp"]
    return idp.read_request(urlsplit(started.headers["Location"]).query).request_id


def broken_signature_with_id(client, assertion_id: str) -> str:
    """A response encrypted to the SP holding a genuine assertion that was changed after
    the IdP signed it: another CVR, and this ID (on the assertion and in its signature's
    reference). Its signature does not verify."""
    idp: DevelopmentIdP = client.application.extensions["dev_idp"]
    request_id = started_login(client)
    signed = idp.sign(idp.assertion(PERSONS_BY_KEY["aarhus"], request_id))
    forged = copy.deepcopy(etree.fromstring(etree.tostring(signed)))
    forged.set("ID", assertion_id)
    forged.find("ds:Signature/ds:SignedInfo/ds:Reference", v.NAMESPACES).set(
        "URI", f"#{assertion_id}"
    )
    value = forged.find(
        f"saml:AttributeStatement/saml:Attribute[@Name='{v.CVR}']/saml:AttributeValue",
        v.NAMESPACES,
    )
    value.text = PERSONS_BY_KEY["odense"].cvr
    return encode(idp.envelope(idp.encrypt(forged), request_id))


def stored_payloads(app) -> list[bytes]:
    return [entry.payload for entry in app.signed_log.entries()]


@pytest.mark.parametrize("kind", HOSTILE_IDS)
def test_an_unverified_assertion_id_never_reaches_the_log(portal, app, saml_settings, kind):
    posted = broken_signature_with_id(portal, HOSTILE_IDS[kind])
    assert len(posted) < saml_settings.max_response_chars

    refused = portal.post("/saml/acs", data={"SAMLResponse": posted})

    assert refused.status_code == 400
    assert "Login kunne ikke gennemføres" in refused.text
    for payload in stored_payloads(app):
        assert b"FORGED" not in payload
        assert len(payload) < 2000
    assert all(r.get("assertion_id") is None for r in rejections(app))


def test_a_verified_refusal_keeps_only_verified_and_bounded_facts(portal, app):
    refused = portal.post("/saml/acs", data={"SAMLResponse": saml_response_for(portal, "low")})

    assert refused.status_code == 403
    [recorded] = rejections(app)
    person = PERSONS_BY_KEY["low"]
    assert recorded["reason"] == "loa-too-low"
    assert (recorded["person_uuid"], recorded["cvr"]) == (person.person_uuid, person.cvr)
    assert recorded["assertion_id"].startswith("_")
    assert len(recorded["assertion_id"]) <= 64
    assert recorded["verified"] == ["assertion_id", "person_uuid", "cvr"]


def test_refusals_without_a_verified_identity_are_counted_per_reason_and_network(portal, app):
    for address, posted in [
        ("192.0.2.10", "not base64!"),
        ("192.0.2.99", "not base64!"),
        ("2001:db8:7:1::5", "PGZvbz4="),
    ]:
        portal.environ_base["REMOTE_ADDR"] = address
        assert portal.post("/saml/acs", data={"SAMLResponse": posted}).status_code == 400
    last = list(app.signed_log.entries())[-1]
    assert last.event_type != "LoginRefusalsCounted"  # still counting

    app.summarize_login_refusals(now=time.time() + app.settings.login_refusal_interval_seconds)

    (summary,) = [
        e.facts() for e in app.signed_log.entries() if e.event_type == "LoginRefusalsCounted"
    ]
    assert summary["counts"] == [
        {"reason": "malformed-base64", "network": "192.0.2.0/24", "refusals": 2},
        {"reason": "malformed-xml", "network": "2001:db8:7::/48", "refusals": 1},
    ]


def rate_limited_portal(app, make_portal, per_minute: int):
    settings = dataclasses.replace(app.settings, login_rate_per_minute=per_minute)
    return make_portal(app, settings=settings).test_client()


def test_a_network_over_the_rate_limit_gets_429_in_danish_on_every_portal(app, make_portal):
    first, second = (rate_limited_portal(app, make_portal, 3) for _ in range(2))
    for client in (first, second):
        client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert first.get("/saml/login").status_code == 302
    assert second.post("/saml/acs", data={"SAMLResponse": "PGZvbz4="}).status_code == 400
    assert first.get("/saml/login").status_code == 302
    events, pending = len(list(app.signed_log.entries())), app.refusal_counts.pending()

    for answer in [
        second.get("/saml/login"),
        first.post("/saml/acs", data={"SAMLResponse": "PGZvbz4="}),
    ]:
        assert answer.status_code == 429
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
        assert "For mange login-forsøg" in answer.text
        assert "højst et minut" in answer.text
        assert '<html lang="da">' in answer.text
    assert (len(list(app.signed_log.entries())), app.refusal_counts.pending()) == (events, pending)

    second.environ_base["REMOTE_ADDR"] = "198.51.100.4"  # another network
    assert second.get("/saml/login").status_code == 302
    assert first.get("/").status_code == 200  # the rest of the portal is not limited


def test_the_auditor_sees_which_facts_of_a_refusal_were_verified(portal, app):
    portal.post("/saml/acs", data={"SAMLResponse": saml_response_for(portal, "low")})
    portal.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    portal.post("/saml/acs", data={"SAMLResponse": "not base64!"})
    # Recorded before the portal said what was verified (or bounded what it kept): an ID
    # that came in unverified. Made as the library made it then, past today's checks.
    old = super(Bounded, LoginRejection)._create(
        LoginRejection.LoginRejected,
        reason="bad-signature",
        idp="https://idp.example",
        assertion_id="_" + "\u202eFORGED" * 40,
        person_uuid=None,
        cvr=None,
        actor=Actor.system("login"),
        verified=None,
    )
    vars(old.pending_events[0]).pop("verified")  # a field that events then did not have
    app.save(old)
    portal.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    app.summarize_login_refusals(now=time.time() + app.settings.login_refusal_interval_seconds)
    auditor = PERSONS_BY_KEY["auditor"]
    app.grant_role(
        person_uuid=auditor.person_uuid,
        person_name=auditor.name,
        role="auditor",
        cvrs=[],
        actor=Actor.cli_operator(),
    )
    log_in(portal, "auditor")

    page = portal.get("/revision/?type=LoginRejected")
    assert page.status_code == 200
    assert "<dd>Loginbevisets ID, Personens UUID, CVR</dd>" in page.text
    assert 'Loginbevisets ID <span class="hint">(verificeret)' in page.text
    assert "Intet (registreret, før portalen angav det)" in page.text
    assert 'Loginbevisets ID <span class="hint">(ikke verificeret)' in page.text
    assert page.text.count("FORGED") <= 10  # cut, not shown at length
    counted = portal.get("/revision/?type=LoginRefusalsCounted")
    assert "Afviste login talt" in counted.text
    assert "Login-svaret var ikke gyldig base64 fra 192.0.2.0/24: 1" in counted.text
    assert "Intet fra svarene er gemt" in counted.text


def test_a_signatory_reads_a_refused_login_of_its_municipality_in_words(portal, app):
    portal.post("/saml/acs", data={"SAMLResponse": saml_response_for(portal, "low")})
    app.register_customer(cvr=PERSONS_BY_KEY["aarhus"].cvr, name="Aarhus Kommune",
                          actor=Actor.cli_operator())  # fmt: skip
    log_in(portal, "aarhus")
    page = portal.get("/historik")
    assert page.status_code == 200
    assert (
        "Et login med MitID Erhverv for kommunen blev afvist, fordi sikringsniveauet var for lavt"
        in page.text
    )
    assert "loa-too-low" not in page.text  # the reason in words, not its code
