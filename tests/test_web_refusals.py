"""Refused logins at the portal: what the signed log keeps of them, and how much.

The attacker here holds the SP's public encryption certificate and starts logins in their own
browser; they cannot sign as the IdP. Nothing they write may reach the log: a refusal before
the assertion's signature has verified is only counted, per reason and client network.
"""

import copy
from urllib.parse import urlsplit

import pytest
from lxml import etree

from ledger.demo import PERSONS_BY_KEY
from saml import vocabulary as v
from saml.devidp import DevelopmentIdP, encode
from tests.test_web_login import rejections, saml_response_for
from web import create_app

# Assertion IDs near what the response limit allows (the ID stands twice in it, on the
# assertion and in its signature's reference: about 55 kB each). One with line breaks, tabs
# and a right-to-left override, which would fill a log and fool a reader of it; one of
# characters an xsd:ID may hold.
HOSTILE_IDS = {
    "control-characters": "_" + ("\n\tFORGED\u202e" * 3_000),
    "valid-characters": "_FORGED" + "A" * 55_000,
}


@pytest.fixture
def portal(app, saml_settings):
    flask_app = create_app(app.settings, saml=saml_settings, ledger=app)
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
    return [entry.payload for entry in app.log()]


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
