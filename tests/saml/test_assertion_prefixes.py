"""An IdP may write its assertion with namespace prefixes other than the Response's (pysaml2
writes `encas2:Assertion` inside an `ns1:`-prefixed Response; .NET writes a default
namespace). Exclusive canonicalization signs the prefixes, so decryption must keep them."""

import pytest
import xmlsec
from lxml import etree

from development.demo import PERSONS_BY_KEY
from development.idp import encode
from saml import vocabulary as v
from tests.conftest import start_login


def with_prefix(assertion: etree._Element, prefix: str) -> etree._Element:
    """The same assertion, its SAML namespace written as `prefix` ("" for the default)."""
    text = etree.tostring(assertion).decode()
    tag = f"{prefix}:" if prefix else ""
    declaration = f"xmlns:{prefix}=" if prefix else "xmlns="
    text = text.replace("<saml:", f"<{tag}").replace("</saml:", f"</{tag}")
    return etree.fromstring(text.replace("xmlns:saml=", declaration))


def encrypted(assertion_xml: bytes, certificate_pem: bytes) -> etree._Element:
    """An EncryptedAssertion (AES-256-CBC, RSA-OAEP-MGF1P) made where the assertion was
    parsed, so that its namespace declarations are encrypted as written."""
    wrapper = etree.fromstring(
        f'<saml:EncryptedAssertion xmlns:saml="{v.SAML}">'.encode()
        + assertion_xml
        + b"</saml:EncryptedAssertion>"
    )
    template = xmlsec.template.encrypted_data_create(
        wrapper,
        xmlsec.constants.TransformAes256Cbc,
        type=xmlsec.constants.TypeEncElement,
        ns="xenc",
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(certificate_pem, xmlsec.constants.KeyDataFormatCertPem))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession
    )
    context.encrypt_xml(template, wrapper[0])
    return wrapper


@pytest.mark.parametrize("prefix", ["saml", "saml2", "encas2", ""])
def test_an_assertion_with_its_own_prefixes_logs_in(sp, dev_idp, saml_settings, prefix):
    request_id = start_login(sp, dev_idp)
    assertion = dev_idp.assertion(PERSONS_BY_KEY["aarhus"], request_id)
    signed = dev_idp.sign(with_prefix(assertion, prefix))
    assert signed.prefix == (prefix or None)
    response = dev_idp.envelope(
        encrypted(etree.tostring(signed), saml_settings.encryption_cert.read_bytes()), request_id
    )
    identity = sp.accept(encode(response), pending=[request_id])
    assert identity.cvr == "55133018"
    assert etree.fromstring(identity.assertion_xml).prefix == (prefix or None)
