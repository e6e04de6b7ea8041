"""pysaml2, an independent SAML implementation, acting as the IdP against our SP.

pysaml2 reads our real signed AuthnRequest (HTTP-Redirect, signature checked over the query
string) and answers with an assertion it signs and encrypts for our encryption certificate;
our SP, configured from pysaml2's own IdP metadata, must log the person in. pysaml2 signs and
encrypts with the `xmlsec1` command (Debian package `xmlsec1`, version 1.2.37 here), so its key
transport is `rsa-oaep-mgf1p`.
"""

import base64
import copy
import functools
import os
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import saml2.entity
import saml2.sigver
import xmlsec
from lxml import etree
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.response import IncorrectlySigned
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

from ledger.evidence.database import DatabaseURL
from ledger.identity import NsisLevel
from ledger.storage.once import UsedOnce
from saml import vocabulary as v
from saml.refusals import LoginRefused
from saml.sp import IdentityProvider, OutgoingRequest, ServiceProvider
from tests.conftest import saml_settings_in

XMLSEC1 = shutil.which("xmlsec1")
if XMLSEC1 is None and not os.environ.get("CI"):
    pytest.skip(
        "the xmlsec1 command (Debian package xmlsec1) is not installed; pysaml2 needs it",
        allow_module_level=True,
    )

IDP_BASE = "http://127.0.0.1:5000/pysaml2-idp"
PERSON_UUID = str(uuid.UUID("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"))
CVR = "55133018"
IDENTITY = {
    v.SPEC_VERSION: [v.OIOSAML_3],
    v.LOA: ["Substantial"],
    v.CVR: [CVR],
    v.ORG_NAME: ["Aarhus Kommune"],
    v.PROFESSIONAL_UUID: [f"urn:uuid:{PERSON_UUID}"],
    v.FULL_NAME: ["Anne Andersen"],
    v.FIRST_NAME: ["Anne"],
    v.LAST_NAME: ["Andersen"],
    v.EMAIL: ["anne.andersen@example.dk"],
    v.AUTHORIZED_TO_REPRESENT: [CVR],
}


@pytest.fixture(scope="module", autouse=True)
def _xmlsec1() -> None:
    if XMLSEC1 is None:  # only reached in CI, where a missing tool is a failure
        pytest.fail("the xmlsec1 command is not installed; .ci/run installs it")


@pytest.fixture(scope="session")
def attribute_maps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pysaml2 attribute map for OIOSAML 3.0: every name is its own URI, NameFormat uri."""
    directory = tmp_path_factory.mktemp("pysaml2-maps")
    names = sorted(IDENTITY)
    (directory / "oiosaml3_uri_map.py").write_text(
        f"MAP = {{'identifier': {NAME_FORMAT_URI!r}, 'to': {{n: n for n in {names!r}}}}}\n"
    )
    return directory


def pysaml2_idp(config: dict[str, Any], sp_metadata: str) -> Server:
    """A pysaml2 IdP that knows our SP from its metadata."""
    loaded = IdPConfig().load(copy.deepcopy(config) | {"metadata": {"inline": [sp_metadata]}})
    return Server(config=loaded)


class Peer:
    """A pysaml2 IdP and our SP, each configured from the other's metadata."""

    def __init__(self, server: Server, sp: ServiceProvider) -> None:
        self.server = server
        self.sp = sp

    def read(self, request: OutgoingRequest, *, signature: str | None = None) -> Any:
        """pysaml2's view of our AuthnRequest, its redirect signature checked."""
        query = parse_qs(urlsplit(request.url).query)
        return self.server.parse_authn_request(
            query["SAMLRequest"][0],
            BINDING_HTTP_REDIRECT,
            sigalg=query["SigAlg"][0],
            signature=signature or query["Signature"][0],
        ).message

    def respond(
        self, request: Any, *, loa: str = "Substantial", sign_response: bool = False
    ) -> str:
        """The base64 SAMLResponse pysaml2 POSTs: signed assertion, encrypted for our SP."""
        response = self.server.create_authn_response(
            IDENTITY | {v.LOA: [loa]},
            name_id=NameID(
                format=NAMEID_FORMAT_PERSISTENT, text=v.PROFESSIONAL_NAMEID_PREFIX + PERSON_UUID
            ),
            authn={"class_ref": f"https://data.gov.dk/concept/core/nsis/loa/{loa}"},
            sign_response=sign_response,
            sign_assertion=True,
            encrypt_assertion=True,
            encrypt_cert_assertion=self.sp.settings.encryption_cert.read_text(),
            **self.server.response_args(request),
        )
        return base64.b64encode(str(response).encode()).decode()


@pytest.fixture(scope="module")
def peer_config(saml_keys, attribute_maps) -> dict[str, Any]:
    """The pysaml2 IdP's configuration (the development IdP's key pair); copy before changing."""
    return {
        "entityid": IDP_BASE,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [(f"{IDP_BASE}/sso", BINDING_HTTP_REDIRECT)],
                    "single_logout_service": [(f"{IDP_BASE}/slo", BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "want_authn_requests_signed": True,
                # pysaml2 signs with RSA-SHA1 unless told otherwise.
                "signing_algorithm": v.RSA_SHA256,
                "digest_algorithm": v.SHA256,
                "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
            }
        },
        "key_file": str(saml_keys / "dev-idp" / "idp-signing.key"),
        "cert_file": str(saml_keys / "dev-idp" / "idp-signing.crt"),
        "xmlsec_binary": XMLSEC1,
        "attribute_map_dir": str(attribute_maps),
        "delete_tmpfiles": True,
    }


@pytest.fixture(scope="module")
def peer_metadata(peer_config) -> bytes:
    """pysaml2's metadata for its IdP, as our SP is configured with it."""
    return str(entity_descriptor(IdPConfig().load(copy.deepcopy(peer_config)))).encode()


@pytest.fixture(scope="module")
def our_metadata(peer_metadata, saml_keys, tmp_path_factory) -> str:
    """Our SP's metadata as pysaml2 loads it: the same for every test's SP (same keys and URL)."""
    data_dir = tmp_path_factory.mktemp("sp-metadata")
    once = UsedOnce(DatabaseURL.parse(f"sqlite:///{data_dir / 'unused.sqlite3'}"))
    idp = IdentityProvider.from_metadata(peer_metadata)
    return ServiceProvider(saml_settings_in(data_dir, saml_keys), idp, once).metadata().decode()


@pytest.fixture(scope="module")
def server(peer_config, our_metadata) -> Server:
    """Loading the RSA-3072 key takes pysaml2 a while: one IdP for the module's tests."""
    return pysaml2_idp(peer_config, our_metadata)


@pytest.fixture
def peer(server, peer_metadata, our_metadata, saml_settings, used_once) -> Peer:
    sp = ServiceProvider(saml_settings, IdentityProvider.from_metadata(peer_metadata), used_once)
    assert sp.metadata().decode() == our_metadata
    return Peer(server, sp)


@pytest.fixture
def aes_cbc(monkeypatch) -> None:
    """Configure the peer for AES-256-CBC. pysaml2 7.x has no setting for the data encryption:
    `saml2.entity` builds every EncryptedData with 3DES (`pre_encryption_part`'s default) and
    `encrypt_assertion` asks xmlsec1 for a 3DES session key. Both are the peer's choices,
    changed here on the pysaml2 side only; our SP is not touched."""
    monkeypatch.setattr(
        saml2.entity,
        "pre_encryption_part",
        functools.partial(saml2.sigver.pre_encryption_part, msg_enc=v.AES256_CBC),
    )
    monkeypatch.setattr(
        saml2.sigver.SecurityContext,
        "encrypt_assertion",
        functools.partialmethod(saml2.sigver.SecurityContext.encrypt_assertion, key_type="aes-256"),
    )


def encryption_methods(posted: str) -> tuple[str | None, str | None]:
    root = etree.fromstring(base64.b64decode(posted))
    data = root.find(f"{{{v.SAML}}}EncryptedAssertion/{{{v.XENC}}}EncryptedData")
    key = data.find(f".//{{{v.XENC}}}EncryptedKey")
    return (
        data.find(f"{{{v.XENC}}}EncryptionMethod").get("Algorithm"),
        key.find(f"{{{v.XENC}}}EncryptionMethod").get("Algorithm"),
    )


def signature_verifies(element: etree._Element, cert_file: str) -> bool:
    xmlsec.tree.add_ids(element, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_file(cert_file, xmlsec.constants.KeyDataFormatCertPem)
    try:
        context.verify(element.find(f"{{{v.DS}}}Signature"))
    except xmlsec.Error:
        return False
    return True


def test_pysaml2_reads_our_signed_request(peer):
    outgoing = peer.sp.login_request(force_authn=True)
    request = peer.read(outgoing)
    assert request.id == outgoing.request_id
    assert request.destination == f"{IDP_BASE}/sso"
    assert request.issuer.text == peer.sp.settings.sp_entity_id
    assert request.assertion_consumer_service_url == peer.sp.settings.acs_url
    assert request.force_authn == "true"
    assert request.name_id_policy.format == NAMEID_FORMAT_PERSISTENT
    context = request.requested_authn_context
    assert context.comparison == "minimum"
    assert [ref.text for ref in context.authn_context_class_ref] == [
        v.LOA_SUBSTANTIAL_CONTEXT,
        v.PROFESSIONAL_CONTEXT,
    ]
    assert peer.read(peer.sp.login_request()).force_authn is None


def test_pysaml2_checks_the_signature_of_our_request(peer):
    outgoing = peer.sp.login_request()
    signature = parse_qs(urlsplit(outgoing.url).query)["Signature"][0]
    other = parse_qs(urlsplit(peer.sp.login_request().url).query)["Signature"][0]
    assert signature != other
    with pytest.raises(IncorrectlySigned):
        peer.read(outgoing, signature=other)


@pytest.mark.usefixtures("aes_cbc")
def test_pysaml2_logs_in_through_our_sp_signed_and_encrypted(peer):
    outgoing = peer.sp.login_request()
    posted = peer.respond(peer.read(outgoing))
    assert encryption_methods(posted) == (v.AES256_CBC, v.RSA_OAEP_MGF1P)

    identity = peer.sp.accept(posted, pending=[outgoing.request_id])

    assert identity.person_uuid == PERSON_UUID
    assert identity.name_id == v.PROFESSIONAL_NAMEID_PREFIX + PERSON_UUID
    assert (identity.cvr, identity.organisation, identity.loa) == (
        CVR,
        "Aarhus Kommune",
        NsisLevel.SUBSTANTIAL,
    )
    assert (identity.name, identity.email) == ("Anne Andersen", "anne.andersen@example.dk")
    assert identity.authorized_to_represent == (CVR,)
    assert (identity.idp, identity.in_response_to) == (IDP_BASE, outgoing.request_id)
    assert identity.session_index
    # pysaml2 writes the encrypted assertion with namespace prefixes of its own (`encas2:`
    # where the Response says `ns1:`); exclusive canonicalization signs prefixes, so the
    # assertion kept as evidence must still verify on its own with the IdP's certificate.
    kept = etree.fromstring(identity.assertion_xml)
    assert kept.get("ID") == identity.assertion_id
    assert signature_verifies(kept, peer.server.config.cert_file)

    with pytest.raises(LoginRefused) as again:
        peer.sp.accept(posted, pending=[outgoing.request_id])
    assert again.value.reason == "replayed"


@pytest.mark.usefixtures("aes_cbc")
def test_a_signed_response_around_the_encrypted_assertion_is_accepted_too(peer):
    """The Response's signature covers the encrypted assertion; it is checked before decryption."""
    outgoing = peer.sp.login_request()
    posted = peer.respond(peer.read(outgoing), sign_response=True)
    assert etree.fromstring(base64.b64decode(posted)).find(f"{{{v.DS}}}Signature") is not None
    assert peer.sp.accept(posted, pending=[outgoing.request_id]).cvr == CVR


@pytest.mark.usefixtures("aes_cbc")
def test_a_signed_response_with_a_broken_signature_is_refused(peer):
    outgoing = peer.sp.login_request()
    posted = peer.respond(peer.read(outgoing), sign_response=True)
    root = etree.fromstring(base64.b64decode(posted))
    status = root.find(f"{{{v.SAMLP}}}Status")
    etree.SubElement(status, f"{{{v.SAMLP}}}StatusMessage").text = "added after signing"
    forged = base64.b64encode(etree.tostring(root)).decode()
    with pytest.raises(LoginRefused) as refused:
        peer.sp.accept(forged, pending=[outgoing.request_id])
    assert refused.value.reason == "bad-signature"


@pytest.mark.usefixtures("aes_cbc")
def test_level_low_from_pysaml2_is_refused(peer):
    outgoing = peer.sp.login_request()
    posted = peer.respond(peer.read(outgoing), loa="Low")
    with pytest.raises(LoginRefused) as refused:
        peer.sp.accept(posted, pending=[outgoing.request_id])
    assert (refused.value.reason, refused.value.cvr) == ("loa-too-low", CVR)


def test_pysaml2s_default_3des_is_refused_as_weak_encryption(peer):
    outgoing = peer.sp.login_request()
    posted = peer.respond(peer.read(outgoing))
    assert encryption_methods(posted) == (v.TRIPLEDES_CBC, v.RSA_OAEP_MGF1P)
    with pytest.raises(LoginRefused) as refused:
        peer.sp.accept(posted, pending=[outgoing.request_id])
    assert refused.value.reason == "weak-encryption"
    assert v.TRIPLEDES_CBC in refused.value.detail


@pytest.mark.usefixtures("aes_cbc")
def test_pysaml2s_default_sha1_signature_is_refused(peer, peer_config, our_metadata):
    config = copy.deepcopy(peer_config)
    del config["service"]["idp"]["signing_algorithm"], config["service"]["idp"]["digest_algorithm"]
    peer = Peer(pysaml2_idp(config, our_metadata), peer.sp)
    outgoing = peer.sp.login_request()
    posted = peer.respond(peer.read(outgoing))
    with pytest.raises(LoginRefused) as refused:
        peer.sp.accept(posted, pending=[outgoing.request_id])
    assert refused.value.reason == "weak-algorithm"
    assert v.RSA_SHA1 in refused.value.detail
