"""A corpus of hostile SAML responses: each is refused with its exact reason.

The attacker modelled here can start logins in their own browser, can obtain genuine
assertions signed by the IdP (their own logins; or someone else's, decrypted), and can
encrypt anything they like to the SP's encryption certificate, which is public in its
metadata. They cannot sign as the IdP. Every hostile response is built with the same steps
as the genuine one (`assertion`, `sign`, `encrypt`, `envelope`), and the positive controls
show that those steps, unmodified, give a response the SP accepts: so each case fails if
its defence is missing, rather than because the builder is broken.
"""

import base64
import copy
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import xmlsec
from lxml import etree

from development.demo import PERSONS_BY_KEY
from development.idp import DevelopmentIdP, encode, instant, new_id
from ledger.identity import NsisLevel
from saml import vocabulary as v
from saml.credentials import ensure_key_pair
from saml.refusals import LoginRefused
from saml.settings import SamlSettings
from saml.sp import ServiceProvider
from tests.conftest import saml_settings_in, start_login

HOUR = datetime.timedelta(hours=1)
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
# The CVR number the forged assertions claim: Odense Kommune's, not the attacker's own.
EVIL_CVR = PERSONS_BY_KEY["odense"].cvr


# Loading an RSA-3072 key takes a fifth of a second, so the IdPs (which keep no state) are
# made once for this module; each test still gets a service provider and a replay cache of
# its own.


@pytest.fixture(scope="module")
def saml_settings(tmp_path_factory: pytest.TempPathFactory, saml_keys: Path) -> SamlSettings:
    return saml_settings_in(tmp_path_factory.mktemp("var"), saml_keys)


@pytest.fixture(scope="module")
def dev_idp(saml_settings: SamlSettings) -> DevelopmentIdP:
    return DevelopmentIdP.from_settings(saml_settings)


@pytest.fixture(scope="module")
def attacker_idp(
    saml_settings: SamlSettings, tmp_path_factory: pytest.TempPathFactory
) -> DevelopmentIdP:
    """An IdP with the genuine one's entity ID and endpoints, but the attacker's own key
    and self-signed certificate."""
    keys = tmp_path_factory.mktemp("attacker-keys")
    key, cert = keys / "attacker.key", keys / "attacker.crt"
    ensure_key_pair(key, cert, "approval-ledger development IdP")
    key_pem, cert_pem = key.read_bytes(), cert.read_text()
    return DevelopmentIdP(
        base_url=saml_settings.base_url,
        key_pem=key_pem,
        cert_pem=cert_pem,
        sp_entity_id=saml_settings.sp_entity_id,
        sp_acs_url=saml_settings.acs_url,
        sp_slo_url=saml_settings.slo_url,
        sp_signing_cert_pem=saml_settings.signing_cert.read_text(),
        sp_encryption_cert_pem=saml_settings.encryption_cert.read_text(),
    )


@dataclass
class Attack:
    """A login the attacker started, and the steps of the IdP to build responses with."""

    sp: ServiceProvider
    idp: DevelopmentIdP
    attacker: DevelopmentIdP
    request_id: str
    pending: list[str] = field(default_factory=list)

    def assertion(self, person: str = "aarhus", **options) -> etree._Element:
        request_id = options.pop("request_id", self.request_id)
        return self.idp.assertion(PERSONS_BY_KEY[person], request_id, **options)

    def signed(self, person: str = "aarhus", **options) -> etree._Element:
        """A genuine assertion for this login, signed by the IdP, as the attacker reads it."""
        return _reparsed(self.idp.sign(self.assertion(person, **options)))

    def encrypted(self, assertion: etree._Element | None = None, **options) -> etree._Element:
        """The assertion (a genuine one by default) encrypted to the SP."""
        assertion = self.signed() if assertion is None else assertion
        return _reparsed(self.idp.encrypt(assertion, **options))

    def response(
        self, *contents: etree._Element, in_response_to: str | None = "", **options
    ) -> etree._Element:
        """The Response around the contents (by default one genuine encrypted assertion)."""
        contents = contents or (self.encrypted(),)
        request_id = self.request_id if in_response_to == "" else in_response_to
        response = self.idp.envelope(contents[0], request_id, **options)
        for content in contents[1:]:
            response.append(content)
        return response

    def post(self, response: etree._Element | None = None) -> str:
        return encode(self.response() if response is None else response)

    def refusal(self, posted: str) -> LoginRefused:
        with pytest.raises(LoginRefused) as refused:
            self.sp.accept(posted, pending=self.pending)
        return refused.value


@pytest.fixture
def attack(sp: ServiceProvider, dev_idp: DevelopmentIdP, attacker_idp: DevelopmentIdP) -> Attack:
    request_id = start_login(sp, dev_idp)
    return Attack(sp, dev_idp, attacker_idp, request_id, [request_id])


# Editing XML


def _reparsed(element: etree._Element) -> etree._Element:
    """The element read back from its text. Nodes that xmlsec creates are invisible to
    lxml's `find` (their names are not in the document's dictionary); the attacker works
    on the text anyway."""
    return etree.fromstring(etree.tostring(element))


def _find(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path, v.NAMESPACES)
    assert found is not None, path
    return found


def _remove(element: etree._Element) -> etree._Element:
    element.getparent().remove(element)
    return element


def _attribute_value(assertion: etree._Element, name: str) -> etree._Element:
    return _find(
        assertion, f"saml:AttributeStatement/saml:Attribute[@Name='{name}']/saml:AttributeValue"
    )


def _signature(element: etree._Element) -> etree._Element:
    return _find(element, "ds:Signature")


def _forged(assertion: etree._Element, *, keep_signature: bool = False) -> etree._Element:
    """A copy of a genuine assertion claiming another organisation's CVR number."""
    forged = copy.deepcopy(assertion)
    _attribute_value(forged, v.CVR).text = EVIL_CVR
    if not keep_signature:
        _remove(_signature(forged))
    return forged


def _without_signature(assertion: etree._Element) -> etree._Element:
    clone = copy.deepcopy(assertion)
    _remove(_signature(clone))
    return clone


def _signature_verifies(element: etree._Element, cert_pem: str) -> bool:
    """Whether the enveloped signature of `element` verifies on its own, as xmlsec sees it."""
    document = copy.deepcopy(element)
    xmlsec.tree.add_ids(document, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(cert_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
    try:
        context.verify(_signature(document))
    except xmlsec.Error:
        return False
    return True


# Positive controls: the same steps, unmodified, give a response the SP accepts.


def test_the_unmodified_response_from_the_same_builder_is_accepted(attack):
    identity = attack.sp.accept(attack.post(), pending=attack.pending)
    assert (identity.cvr, identity.loa) == ("55133018", NsisLevel.SUBSTANTIAL)
    assert identity.in_response_to == attack.request_id


def test_aes_256_cbc_with_rsa_oaep_mgf1p_is_accepted(attack):
    encrypted = attack.encrypted(data_algorithm=v.AES256_CBC, key_transport=v.RSA_OAEP_MGF1P)
    assert attack.sp.accept(attack.post(attack.response(encrypted)), pending=attack.pending)


@pytest.mark.parametrize("digest", [v.SHA1, v.SHA256], ids=["its-own-default-sha1", "sha256"])
def test_rsa_oaep_mgf1p_naming_its_digest_is_accepted(attack, digest):
    # rsa-oaep-mgf1p's digest is SHA-1 unless named; naming the default changes nothing.
    encrypted = attack.encrypted(
        data_algorithm=v.AES256_CBC, key_transport=v.RSA_OAEP_MGF1P, key_digest=digest
    )
    method = _find(encrypted, ".//xenc:EncryptedKey/xenc:EncryptionMethod/ds:DigestMethod")
    assert method.get("Algorithm") == digest
    assert attack.sp.accept(attack.post(attack.response(encrypted)), pending=attack.pending)


def test_the_sp_name_qualifier_of_our_own_entity_id_is_accepted(attack):
    posted = _signed_after(
        attack, _set("saml:Subject/saml:NameID", "SPNameQualifier", attack.idp.sp_entity_id)
    )
    assert attack.sp.accept(posted, pending=attack.pending).cvr == "55133018"


def test_an_assertion_issued_four_minutes_ago_and_valid_for_55_minutes_is_accepted(attack):
    issued = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=4)
    assertion = attack.signed(now=issued, lifetime=datetime.timedelta(minutes=55))
    posted = attack.post(attack.response(attack.encrypted(assertion)))
    assert attack.sp.accept(posted, pending=attack.pending).cvr == "55133018"


def test_a_response_signed_as_well_as_its_assertion_is_accepted(attack):
    response = attack.idp.sign(attack.response())
    assert attack.sp.accept(attack.post(response), pending=attack.pending)


def test_an_assertion_encrypted_from_its_text_is_accepted(attack):
    # The control for the cases that encrypt bytes of their own choosing.
    encrypted = _encrypted_bytes(attack, etree.tostring(attack.signed()))
    assert attack.sp.accept(attack.post(attack.response(encrypted)), pending=attack.pending)


def test_conditions_without_not_before_are_accepted(attack):
    # NotBefore is optional in SAML; a genuine assertion without it is not hostile.
    posted = _signed_after(attack, _set("saml:Conditions", "NotBefore", None))
    assert attack.sp.accept(posted, pending=attack.pending).cvr == "55133018"


# The corpus. Each builder returns the base64 SAMLResponse the attacker posts.

Build = Callable[[Attack], str]
CASES: list = []


def case(reason: str, name: str) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CASES.append(pytest.param(build, reason, id=name))
        return build

    return register


# XML Signature Wrapping, XSW1-XSW8 as SAML Raider builds them ("On Breaking SAML", 2012).
# The forged assertion claims Odense's CVR; the genuine one is the attacker's own login.
# The wrapped structure is what the attacker encrypts to the SP, or, where XSW puts two
# elements side by side in the Response, what the Response holds.


def _signed_response_with_forged_assertion(a: Attack) -> tuple[etree._Element, etree._Element]:
    """XSW1/XSW2: a signed Response whose copy keeps the signed original (without its
    signature), while the Response itself now carries a forged assertion and a new ID."""
    genuine = _reparsed(a.idp.sign(a.response()))
    original = copy.deepcopy(genuine)
    _remove(_signature(original))
    evil = genuine
    evil.set("ID", new_id())
    evil.replace(_find(evil, "saml:EncryptedAssertion"), a.encrypted(_forged(a.signed())))
    return evil, original


@case("assertion-count", "xsw1-signed-response-copied-into-its-own-signature")
def xsw1(a: Attack) -> str:
    evil, original = _signed_response_with_forged_assertion(a)
    _signature(evil).append(original)
    return a.post(evil)


@case("assertion-count", "xsw2-signed-response-copied-before-its-detached-signature")
def xsw2(a: Attack) -> str:
    evil, original = _signed_response_with_forged_assertion(a)
    _signature(evil).addprevious(original)
    return a.post(evil)


@case("assertion-count", "xsw3-forged-assertion-before-the-signed-one")
def xsw3(a: Attack) -> str:
    genuine = a.signed()
    forged = _forged(genuine)
    forged.set("ID", new_id())
    return a.post(a.response(a.encrypted(forged), a.encrypted(genuine)))


@case("assertion-count", "xsw4-signed-assertion-inside-the-forged-one")
def xsw4(a: Attack) -> str:
    genuine = a.signed()
    forged = _forged(genuine)
    forged.set("ID", new_id())
    forged.append(genuine)
    return a.post(a.response(a.encrypted(forged)))


@case("assertion-count", "xsw5-forged-signed-assertion-with-unsigned-original-after-it")
def xsw5(a: Attack) -> str:
    genuine = a.signed()
    original = _without_signature(genuine)
    forged = _forged(genuine, keep_signature=True)
    forged.set("ID", new_id())
    return a.post(a.response(a.encrypted(forged), a.encrypted(original)))


@case("assertion-count", "xsw6-unsigned-original-inside-the-forged-assertions-signature")
def xsw6(a: Attack) -> str:
    genuine = a.signed()
    forged = _forged(genuine, keep_signature=True)
    forged.set("ID", new_id())
    _signature(forged).append(_without_signature(genuine))
    return a.post(a.response(a.encrypted(forged)))


@case("assertion-count", "xsw7-forged-copy-with-the-same-id-in-extensions")
def xsw7(a: Attack) -> str:
    genuine = a.signed()
    forged = _forged(genuine)
    response = a.response(a.encrypted(genuine))
    extensions = etree.Element(f"{{{v.SAMLP}}}Extensions")
    extensions.append(a.encrypted(forged))
    _find(response, "saml:Issuer").addnext(extensions)
    return a.post(response)


@case("assertion-count", "xsw8-unsigned-original-in-a-signature-object-of-the-forged-copy")
def xsw8(a: Attack) -> str:
    genuine = a.signed()
    forged = _forged(genuine, keep_signature=True)
    holder = etree.SubElement(_signature(forged), f"{{{v.DS}}}Object")
    holder.append(_without_signature(genuine))
    return a.post(a.response(a.encrypted(forged)))


@case("unencrypted-assertion", "xsw3-in-plain-text-forged-assertion-before-the-signed-one")
def xsw3_plain(a: Attack) -> str:
    genuine = a.signed()
    forged = _forged(genuine)
    forged.set("ID", new_id())
    return a.post(a.response(forged, genuine))


@case("duplicate-id", "response-carrying-the-id-of-the-signed-assertion")
def response_with_assertion_id(a: Attack) -> str:
    genuine = a.signed()
    response = a.response(a.encrypted(genuine))
    response.set("ID", genuine.get("ID"))
    return a.post(response)


# Signatures


@case("unsigned-assertion", "signature-stripped")
def signature_stripped(a: Attack) -> str:
    return a.post(a.response(a.encrypted(_without_signature(a.signed()))))


@case("unsigned-assertion", "never-signed")
def never_signed(a: Attack) -> str:
    return a.post(a.response(a.encrypted(a.assertion())))


@case("bad-signature", "cvr-changed-after-signing")
def cvr_tampered(a: Attack) -> str:
    return a.post(a.response(a.encrypted(_forged(a.signed(), keep_signature=True))))


@case("bad-signature", "level-raised-from-low-after-signing")
def loa_tampered(a: Attack) -> str:
    assertion = a.signed("low")
    _attribute_value(assertion, v.LOA).text = NsisLevel.HIGH.label
    return a.post(a.response(a.encrypted(assertion)))


@case("bad-signature", "signed-with-the-attackers-key-and-certificate-in-keyinfo")
def certificate_swapped(a: Attack) -> str:
    assertion = _reparsed(a.attacker.sign(a.assertion()))
    assert _signature_verifies(assertion, a.attacker.cert_pem)  # valid, for the wrong key
    return a.post(a.response(a.encrypted(assertion)))


@case("bad-signature", "two-signatures-in-the-assertion")
def two_signatures(a: Attack) -> str:
    assertion = a.signed()
    _signature(assertion).addnext(copy.deepcopy(_signature(assertion)))
    return a.post(a.response(a.encrypted(assertion)))


@case("bad-signature", "response-signed-with-the-attackers-key")
def response_signed_by_attacker(a: Attack) -> str:
    return a.post(a.attacker.sign(a.response()))


@case("weak-algorithm", "response-signed-with-rsa-sha1")
def response_rsa_sha1(a: Attack) -> str:
    return a.post(a.idp.sign(a.response(), signature_method=v.RSA_SHA1))


@case("weak-algorithm", "rsa-sha1-signature")
def rsa_sha1(a: Attack) -> str:
    assertion = _reparsed(a.idp.sign(a.assertion(), signature_method=v.RSA_SHA1))
    return a.post(a.response(a.encrypted(assertion)))


@case("weak-algorithm", "sha1-digest")
def sha1_digest(a: Attack) -> str:
    assertion = _reparsed(a.idp.sign(a.assertion(), digest=v.SHA1))
    return a.post(a.response(a.encrypted(assertion)))


@case("forbidden-transform", "canonicalization-with-comments")
def c14n_with_comments(a: Attack) -> str:
    assertion = a.signed()
    _find(assertion, "ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod").set(
        "Algorithm", C14N_WITH_COMMENTS
    )
    return a.post(a.response(a.encrypted(assertion)))


# Comments: exclusive canonicalization without comments drops them, so the IdP's signature
# still verifies, but a reader of `.text` sees only the part before the comment.


@case("comment-in-assertion", "comment-inside-the-nameid")
def comment_in_name_id(a: Attack) -> str:
    assertion = a.signed()
    name_id = _find(assertion, "saml:Subject/saml:NameID")
    cut = len(name_id.text) - 4
    comment = etree.Comment("")
    comment.tail = name_id.text[cut:]
    name_id.text = name_id.text[:cut]
    name_id.append(comment)
    assert _signature_verifies(assertion, a.idp.cert_pem)  # the attack's premise
    return a.post(a.response(a.encrypted(assertion)))


@case("comment-in-assertion", "processing-instruction-inside-the-cvr")
def processing_instruction_in_cvr(a: Attack) -> str:
    assertion = a.signed()
    value = _attribute_value(assertion, v.CVR)
    instruction = etree.ProcessingInstruction("evil", "x")
    instruction.tail = value.text[4:]
    value.text = value.text[:4]
    value.append(instruction)
    return a.post(a.response(a.encrypted(assertion)))


# Encryption


@case("weak-encryption", "rsa-1_5-key-transport")
def rsa_1_5(a: Attack) -> str:
    return a.post(a.response(a.encrypted(key_transport=v.RSA_1_5)))


@case("weak-encryption", "tripledes-cbc-data-encryption")
def tripledes(a: Attack) -> str:
    return a.post(a.response(a.encrypted(data_algorithm=v.TRIPLEDES_CBC)))


@case("weak-encryption", "aes-128-cbc-data-encryption")
def aes128_cbc(a: Attack) -> str:
    return a.post(a.response(a.encrypted(data_algorithm=v.AES128_CBC)))


@case("weak-encryption", "aes-128-gcm-data-encryption")
def aes128_gcm(a: Attack) -> str:
    return a.post(a.response(a.encrypted(data_algorithm=v.AES128_GCM)))


@case("weak-algorithm", "xmlenc11-rsa-oaep-without-its-mgf")
def oaep_without_mgf(a: Attack) -> str:
    encrypted = a.encrypted()
    _remove(_find(encrypted, ".//xenc:EncryptedKey/xenc:EncryptionMethod/xenc11:MGF"))
    return a.post(a.response(encrypted))


@case("weak-algorithm", "xmlenc11-rsa-oaep-with-a-sha1-digest")
def oaep_sha1_digest(a: Attack) -> str:
    encrypted = a.encrypted()
    _find(encrypted, ".//xenc:EncryptedKey/xenc:EncryptionMethod/ds:DigestMethod").set(
        "Algorithm", v.SHA1
    )
    return a.post(a.response(encrypted))


@case("weak-algorithm", "xmlenc11-rsa-oaep-with-mgf1-sha1")
def oaep_mgf1_sha1(a: Attack) -> str:
    encrypted = a.encrypted()
    _find(encrypted, ".//xenc:EncryptedKey/xenc:EncryptionMethod/xenc11:MGF").set(
        "Algorithm", v.MGF1_SHA1
    )
    return a.post(a.response(encrypted))


@case("weak-algorithm", "rsa-oaep-mgf1p-with-an-md5-digest")
def mgf1p_md5_digest(a: Attack) -> str:
    encrypted = a.encrypted(key_transport=v.RSA_OAEP_MGF1P, key_digest=v.SHA1)
    _find(encrypted, ".//xenc:EncryptedKey/xenc:EncryptionMethod/ds:DigestMethod").set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#md5"
    )
    return a.post(a.response(encrypted))


@case("forbidden-transform", "retrieval-method-in-the-encrypted-data")
def retrieval_method(a: Attack) -> str:
    encrypted = a.encrypted()
    key_info = _find(encrypted, "xenc:EncryptedData/ds:KeyInfo")
    etree.SubElement(
        key_info, f"{{{v.DS}}}RetrievalMethod", URI="#key", Type=f"{v.XENC}EncryptedKey"
    )
    return a.post(a.response(encrypted))


def _encrypted_bytes(a: Attack, plaintext: bytes) -> etree._Element:
    """An EncryptedAssertion whose EncryptedData (of Type Element) holds any bytes at all."""
    wrapper = etree.Element(f"{{{v.SAML}}}EncryptedAssertion", nsmap={"saml": v.SAML})
    template = xmlsec.template.encrypted_data_create(
        etree.SubElement(wrapper, "placeholder"),
        xmlsec.constants.TransformAes256Cbc,
        type=xmlsec.constants.TypeEncElement,
        ns="xenc",
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(
        xmlsec.Key.from_memory(
            a.sp.settings.encryption_cert.read_bytes(), xmlsec.constants.KeyDataFormatCertPem
        )
    )
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession
    )
    data = _reparsed(context.encrypt_binary(template, plaintext))
    wrapper.clear()
    wrapper.append(data)
    return wrapper


@case("assertion-count", "xsw3-forged-and-signed-assertions-in-one-encrypted-payload")
def xsw3_one_payload(a: Attack) -> str:
    genuine = a.signed()
    forged = _forged(genuine)
    forged.set("ID", new_id())
    plaintext = etree.tostring(forged) + etree.tostring(genuine)
    return a.post(a.response(_encrypted_bytes(a, plaintext)))


@case("assertion-count", "comment-beside-the-assertion-in-the-encrypted-payload")
def comment_beside_assertion(a: Attack) -> str:
    return a.post(a.response(_encrypted_bytes(a, etree.tostring(a.signed()) + b"<!-- -->")))


@case("decryption-failed", "encrypted-to-another-certificate")
def wrong_recipient_key(a: Attack) -> str:
    other = a.attacker.cert_pem.encode()
    return a.post(a.response(a.encrypted(recipient_cert_pem=other)))


@case("assertion-count", "two-encrypted-assertions")
def two_assertions(a: Attack) -> str:
    return a.post(a.response(a.encrypted(), a.encrypted(a.signed("odense"))))


@case("unencrypted-assertion", "plain-signed-assertion")
def unencrypted(a: Attack) -> str:
    return a.post(a.response(a.signed()))


@case("unencrypted-assertion", "plain-assertion-beside-the-encrypted-one")
def unencrypted_beside(a: Attack) -> str:
    return a.post(a.response(a.encrypted(), a.signed("odense")))


@case("assertion-count", "encrypted-data-holding-a-subject-not-an-assertion")
def encrypted_not_assertion(a: Attack) -> str:
    wrapper = a.encrypted(_find(a.signed(), "saml:Subject"))
    return a.post(a.response(wrapper))


# The envelope and the request it answers


@case("unsolicited", "no-in-response-to")
def unsolicited(a: Attack) -> str:
    return a.post(a.response(in_response_to=None))


@case("in-response-to-mismatch", "in-response-to-not-pending")
def not_pending(a: Attack) -> str:
    a.pending = [start_login(a.sp, a.idp)]
    return a.post()


@case("in-response-to-mismatch", "assertion-without-in-response-to")
def assertion_without_in_response_to(a: Attack) -> str:
    assertion = a.assertion()
    del _find(assertion, ".//saml:SubjectConfirmationData").attrib["InResponseTo"]
    return a.post(a.response(a.encrypted(a.idp.sign(assertion))))


@case("wrong-subject-confirmation", "assertion-for-another-pending-request")
def assertion_for_another_request(a: Attack) -> str:
    # A genuine assertion issued for the attacker's earlier login, posted to a later one.
    earlier = start_login(a.sp, a.idp)
    a.pending.append(earlier)
    return a.post(a.response(a.encrypted(a.signed(request_id=earlier))))


@case("wrong-destination", "other-destination")
def other_destination(a: Attack) -> str:
    return a.post(a.response(destination="https://evil.example/saml/acs"))


@case("wrong-destination", "destination-extending-ours")
def destination_prefix(a: Attack) -> str:
    return a.post(a.response(destination=a.idp.sp_acs_url + "/../../evil"))


@case("wrong-destination", "no-destination")
def no_destination(a: Attack) -> str:
    response = a.response()
    del response.attrib["Destination"]
    return a.post(response)


@case("wrong-issuer", "response-issuer-of-another-idp")
def response_issuer(a: Attack) -> str:
    response = a.response()
    _find(response, "saml:Issuer").text = "https://evil.example/idp"
    return a.post(response)


@case("idp-status", "status-not-success")
def idp_status(a: Attack) -> str:
    response = a.response()
    _find(response, "samlp:Status/samlp:StatusCode").set(
        "Value", "urn:oasis:names:tc:SAML:2.0:status:Responder"
    )
    return a.post(response)


@case("not-a-response", "logout-response-posted-to-the-acs")
def not_a_response(a: Attack) -> str:
    response = a.response()
    response.tag = f"{{{v.SAMLP}}}LogoutResponse"
    return a.post(response)


# The assertion's conditions (each assertion correctly signed by the IdP)


def _signed_after(a: Attack, change: Callable[[etree._Element], None], **options) -> str:
    assertion = a.assertion(**options)
    change(assertion)
    return a.post(a.response(a.encrypted(a.idp.sign(assertion))))


def _set(path: str, attribute: str, value: str | None) -> Callable[[etree._Element], None]:
    def change(assertion: etree._Element) -> None:
        element = _find(assertion, path)
        if value is None:
            del element.attrib[attribute]
        else:
            element.set(attribute, value)

    return change


@case("wrong-audience", "other-audience")
def other_audience(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        _find(assertion, ".//saml:Audience").text = "https://other-sp.example/metadata"

    return _signed_after(a, change)


@case("wrong-audience", "no-audience")
def no_audience(a: Attack) -> str:
    return _signed_after(
        a, lambda assertion: _remove(_find(assertion, ".//saml:AudienceRestriction"))
    )


@case("wrong-subject-confirmation", "other-recipient")
def other_recipient(a: Attack) -> str:
    data = ".//saml:SubjectConfirmationData"
    return _signed_after(a, _set(data, "Recipient", "https://evil.example/saml/acs"))


@case("wrong-recipient", "recipient-containing-ours")
def recipient_substring(a: Attack) -> str:
    data = ".//saml:SubjectConfirmationData"
    evil = "https://evil.example/?" + a.idp.sp_acs_url
    return _signed_after(a, _set(data, "Recipient", evil))


@case("wrong-recipient", "no-recipient")
def no_recipient(a: Attack) -> str:
    return _signed_after(a, _set(".//saml:SubjectConfirmationData", "Recipient", None))


@case("wrong-issuer", "assertion-issuer-of-another-idp")
def other_issuer(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        _find(assertion, "saml:Issuer").text = "https://evil.example/idp"

    return _signed_after(a, change)


@case("wrong-issuer", "empty-assertion-issuer")
def empty_issuer(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        _find(assertion, "saml:Issuer").text = ""

    return _signed_after(a, change)


@case("schema-invalid", "no-assertion-issuer")
def no_issuer(a: Attack) -> str:
    assertion = a.assertion()
    _remove(_find(assertion, "saml:Issuer"))
    return a.post(a.response(a.encrypted(_sign_without_issuer(a.idp, assertion))))


def _sign_without_issuer(idp: DevelopmentIdP, element: etree._Element) -> etree._Element:
    """What `DevelopmentIdP.sign` does, with the signature first for want of an Issuer."""
    signature = xmlsec.template.create(
        element, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
    )
    element.insert(0, signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri=f"#{element.get('ID')}"
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.tree.add_ids(element, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(idp.key_pem, xmlsec.constants.KeyDataFormatPem)
    context.sign(signature)
    assert _signature_verifies(element, idp.cert_pem)
    return element


@case("nameid-format", "transient-nameid")
def transient_name_id(a: Attack) -> str:
    transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    return _signed_after(a, _set("saml:Subject/saml:NameID", "Format", transient))


@case("nameid-format", "nameid-without-a-format")
def name_id_without_format(a: Attack) -> str:
    return _signed_after(a, _set("saml:Subject/saml:NameID", "Format", None))


@case("wrong-sp-name-qualifier", "sp-name-qualifier-of-another-sp")
def other_sp_name_qualifier(a: Attack) -> str:
    other = "https://other-sp.example/metadata"
    return _signed_after(a, _set("saml:Subject/saml:NameID", "SPNameQualifier", other))


@case("assertion-lifetime", "valid-for-a-day")
def valid_for_a_day(a: Attack) -> str:
    return a.post(a.response(a.encrypted(a.signed(lifetime=datetime.timedelta(days=1)))))


@case("assertion-lifetime", "valid-from-a-day-before-it-was-issued")
def not_before_long_before_issue(a: Attack) -> str:
    day_before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    return _signed_after(a, _set("saml:Conditions", "NotBefore", instant(day_before)))


@case("issued-too-long-ago", "issued-ten-minutes-ago-still-valid")
def issued_long_ago(a: Attack) -> str:
    issued = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    assertion = a.signed(now=issued, lifetime=datetime.timedelta(minutes=15))
    return a.post(a.response(a.encrypted(assertion)))


@case("not-yet-valid", "issued-ten-minutes-from-now")
def issued_in_the_future(a: Attack) -> str:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    return _signed_after(a, _set(".", "IssueInstant", instant(later)))


@case("expired", "expired-an-hour-ago")
def expired(a: Attack) -> str:
    an_hour_ago = datetime.datetime.now(datetime.UTC) - HOUR
    assertion = a.signed(now=an_hour_ago)
    return a.post(a.response(a.encrypted(assertion), now=an_hour_ago))


@case("not-yet-valid", "valid-only-from-an-hour-from-now")
def not_yet_valid(a: Attack) -> str:
    in_an_hour = datetime.datetime.now(datetime.UTC) + HOUR
    assertion = a.signed(now=in_an_hour)
    return a.post(a.response(a.encrypted(assertion), now=in_an_hour))


# Who logged in: genuine, correctly signed assertions our policy does not admit.


@case("private-identity", "private-mitid")
def private_identity(a: Attack) -> str:
    return a.post(a.response(a.encrypted(a.signed("private"))))


@case("loa-too-low", "level-low")
def level_low(a: Attack) -> str:
    return a.post(a.response(a.encrypted(a.signed("low"))))


@case("missing-cvr", "no-cvr")
def no_cvr(a: Attack) -> str:
    return _signed_after(
        a, lambda assertion: _remove(_attribute_value(assertion, v.CVR).getparent())
    )


@case("missing-cvr", "cvr-failing-modulus-11")
def invalid_cvr(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        _attribute_value(assertion, v.CVR).text = "12345678"

    return _signed_after(a, change)


@case("spec-version", "oiosaml-2-spec-version")
def wrong_spec_version(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        _attribute_value(assertion, v.SPEC_VERSION).text = "OIO-SAML-2.0"

    return _signed_after(a, change)


@case("identity-mismatch", "nameid-and-uuid-of-different-people")
def name_id_mismatch(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        other = PERSONS_BY_KEY["odense"].person_uuid
        _attribute_value(assertion, v.PROFESSIONAL_UUID).text = f"urn:uuid:{other}"

    return _signed_after(a, change)


@case("unusable-identity", "a-name-longer-than-the-ledger-records")
def name_too_long(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        _attribute_value(assertion, v.FULL_NAME).text = "Anne " * 60

    return _signed_after(a, change)


@case("unusable-identity", "an-organisation-name-with-a-bidi-override")
def organisation_with_bidi_override(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        _attribute_value(assertion, v.ORG_NAME).text = "Aarhus \u202eenummoK"

    return _signed_after(a, change)


@case("unusable-identity", "no-name")
def no_name(a: Attack) -> str:
    def change(assertion: etree._Element) -> None:
        for name in (v.FULL_NAME, v.FIRST_NAME, v.LAST_NAME):
            _remove(_attribute_value(assertion, name).getparent())

    return _signed_after(a, change)


# Input that is not a well-formed response at all


@case("malformed-base64", "not-base64")
def not_base64(a: Attack) -> str:
    return a.post()[:-3] + "!*!"


@case("malformed-base64", "non-ascii")
def non_ascii(a: Attack) -> str:
    return "PHNhbWxwOlJlc3Bvbn" + "æøå"


@case("malformed-xml", "truncated-xml")
def truncated_xml(a: Attack) -> str:
    xml = base64.b64decode(a.post())
    return base64.b64encode(xml[: len(xml) // 2]).decode()


@case("oversize", "over-the-size-limit")
def oversize(a: Attack) -> str:
    return "A" * (a.sp.settings.max_response_chars + 4)


@pytest.mark.parametrize(("build", "reason"), CASES)
def test_a_hostile_response_is_refused_with_its_reason(attack, build, reason):
    posted = build(attack)
    assert attack.refusal(posted).reason == reason


# Transforms in the signature are refused before any signature is processed, so that
# nothing in them runs.


def _exslt_writing(marker: Path) -> etree._Element:
    stylesheet = etree.fromstring(
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"'
        ' xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">'
        '<xsl:template match="/">'
        f'<exsl:document href="{marker.as_uri()}" method="text">ran</exsl:document>'
        "</xsl:template></xsl:stylesheet>"
    )
    return stylesheet


@pytest.mark.parametrize(
    "algorithm",
    [
        pytest.param(XSLT, id="xslt"),
        pytest.param(XPATH, id="xpath"),
        pytest.param(XPATH_FILTER2, id="xpath-filter2"),
        pytest.param(C14N_WITH_COMMENTS, id="c14n-with-comments"),
    ],
)
def test_a_transform_in_the_signed_reference_is_refused_before_signature_processing(
    attack, tmp_path, algorithm
):
    """The transform is added after the IdP signed, so the signature no longer verifies:
    had any signature been processed first (xmlsec's, and with it python3-saml's), the
    refusal would be `bad-signature`, as it is with the transform check taken out."""
    marker = tmp_path / "transform-ran"
    assertion = attack.signed()
    transforms = _find(assertion, "ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms")
    transform = etree.SubElement(transforms, f"{{{v.DS}}}Transform", Algorithm=algorithm)
    if algorithm == XSLT:
        transform.append(_exslt_writing(marker))
    elif algorithm == XPATH:
        # The classic: a filter leaving the attributes out of the digest.
        xpath = etree.SubElement(transform, f"{{{v.DS}}}XPath", nsmap={"saml": v.SAML})
        xpath.text = "not(ancestor-or-self::saml:AttributeStatement)"

    refusal = attack.refusal(attack.post(attack.response(attack.encrypted(assertion))))

    assert refusal.reason == "forbidden-transform"
    assert not marker.exists()


# Document type declarations are refused before anything in them is read: nothing named
# in them is fetched, no entity is expanded, in whatever encoding they come.

BILLION_LAUGHS = '<!ENTITY lol0 "lol">' + "".join(
    f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
)


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-contents-of-a-local-file")
    return secret


def _entities(kind: str, secret: Path) -> tuple[str, str]:
    """An internal DTD subset, and the reference that would use it."""
    if kind == "external-entity":
        return f'<!ENTITY xxe SYSTEM "{secret.as_uri()}">', "&xxe;"
    return BILLION_LAUGHS, "&lol9;"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("kind", ["external-entity", "billion-laughs"])
def test_a_document_type_declaration_is_refused_and_nothing_is_fetched_or_expanded(
    attack, tmp_path, encoding, kind
):
    subset, reference = _entities(kind, _secret(tmp_path))
    text = etree.tostring(attack.response(), encoding="unicode")
    text = text.replace("</saml:Issuer>", f"{reference}</saml:Issuer>", 1)
    xml = f'<?xml version="1.0" encoding="{encoding}"?>'
    xml += f"<!DOCTYPE samlp:Response [{subset}]>{text}"

    refusal = attack.refusal(base64.b64encode(xml.encode(encoding)).decode())

    assert refusal.reason == "dtd-forbidden"
    assert "the-secret" not in repr(refusal)
    assert "lollol" not in repr(refusal)


@pytest.mark.parametrize("kind", ["external-entity", "billion-laughs"])
def test_a_document_type_declaration_inside_the_encrypted_assertion_is_refused(
    attack, tmp_path, kind
):
    subset, reference = _entities(kind, _secret(tmp_path))
    text = etree.tostring(attack.signed(), encoding="unicode")
    text = text.replace("</saml:Issuer>", f"{reference}</saml:Issuer>", 1)
    plaintext = f"<!DOCTYPE saml:Assertion [{subset}]>{text}".encode()

    refusal = attack.refusal(attack.post(attack.response(_encrypted_bytes(attack, plaintext))))

    assert refusal.reason == "decryption-failed"
    assert "the-secret" not in repr(refusal)


# Replay


def test_the_same_response_is_refused_the_second_time(attack):
    posted = attack.post()
    attack.sp.accept(posted, pending=attack.pending)
    assert attack.refusal(posted).reason == "replayed"


def test_a_second_genuine_response_to_the_same_request_is_refused(attack):
    attack.sp.accept(attack.post(), pending=attack.pending)
    assert attack.refusal(attack.post()).reason == "request-reused"
