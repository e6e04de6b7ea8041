"""Metadata both ways, the AuthnRequest as NemLog-in receives it, and the start-up checks.

`data/` holds NemLog-in's published IdP metadata files, byte for byte as published.
"""

import base64
import datetime
import hashlib
import importlib.resources
import zlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import onelogin.saml2
import pytest
import saml2.data.schemas
import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from saml2.attribute_converter import ac_factory
from saml2.config import Config
from saml2.mdstore import MetadataStore

from ledger.config import ConfigError
from saml import vocabulary as v
from saml.credentials import certificate_body, load_certificate
from saml.settings import SamlSettings
from saml.sp import IdentityProvider, ServiceProvider, check_libxmlsec, parse_metadata_file

DATA = Path(__file__).parent / "data"
DEVTEST4 = DATA / "devtest4-idp-metadata.xml"
INTEGRATIONTEST_2023 = DATA / "integrationtest-idp-metadata-2023.xml"
# SHA-256 of the files as NemLog-in published them: they are kept unchanged.
PUBLISHED = {
    DEVTEST4.name: "039bd968a977bb055da1667e52b5837190a4f742c640559ee4fbd2e5c96d9de6",
    INTEGRATIONTEST_2023.name: "5596da7484c26546d7d1095d5b908cce2cda34fcdf12d375ddd5915a32533371",
}
NEMLOGIN_DEVTEST4 = "https://test-devtest4-nemlog-in.dk/idp/saml/3.0/"
CPR = "https://data.gov.dk/model/core/eid/cprNumber"


def utc(*parts: int) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=datetime.UTC)


# NemLog-in's IdP metadata


def test_the_metadata_files_are_the_published_ones():
    for name, digest in PUBLISHED.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_nemlogins_devtest4_metadata_loads_unchanged():
    # A day inside the certificate's validity (2025-08-20 to 2028-08-19), so that the test
    # does not expire with it.
    idp = IdentityProvider.from_metadata(DEVTEST4.read_bytes(), now=utc(2026, 6, 1))
    assert idp.entity_id == "https://saml.test-devtest4-nemlog-in.dk"
    assert (idp.sso_url, idp.slo_url) == (NEMLOGIN_DEVTEST4, NEMLOGIN_DEVTEST4)
    # Only the IdP's signing certificate, not the attribute authority's.
    (body,) = idp.signing_certs
    certificate = load_certificate(body)
    assert certificate.not_valid_before_utc.date() == datetime.date(2025, 8, 20)
    assert certificate.not_valid_after_utc.date() == datetime.date(2028, 8, 19)
    assert "Digitaliseringsstyrelsen" in certificate.subject.rfc4514_string()
    # xmlsec takes its key for checking signatures (the certificate is signed with RSA-PSS).
    xmlsec.Key.from_memory(
        certificate.public_bytes(Encoding.PEM), xmlsec.constants.KeyDataFormatCertPem
    )


def test_metadata_whose_certificate_expired_is_refused_at_start_naming_the_date():
    with pytest.raises(ConfigError, match="2026-03-12") as refused:
        parse_metadata_file(INTEGRATIONTEST_2023)
    assert "https://saml.test-nemlog-in.dk/" in str(refused.value)
    assert "expired" in str(refused.value)
    with pytest.raises(ConfigError, match="2026-03-12"):
        IdentityProvider.from_metadata(
            INTEGRATIONTEST_2023.read_bytes(), now=utc(2026, 3, 12, 12, 50, 48)
        )


def test_metadata_whose_certificate_has_not_yet_expired_loads():
    idp = IdentityProvider.from_metadata(
        INTEGRATIONTEST_2023.read_bytes(), now=utc(2026, 3, 12, 12, 50, 47)
    )
    assert idp.entity_id == "https://saml.test-nemlog-in.dk/"
    assert idp.sso_url == idp.slo_url == "https://login.test-nemlog-in.dk/idp/saml/3.0/"


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"not xml", "cannot be read"),
        (b"<EntityDescriptor xmlns='urn:oasis:names:tc:SAML:2.0:metadata'/>", "cannot be read"),
    ],
)
def test_unusable_metadata_is_a_config_error(xml, message):
    with pytest.raises(ConfigError, match=message):
        IdentityProvider.from_metadata(xml)


def test_a_missing_metadata_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="LEDGER_SAML_IDP_METADATA"):
        parse_metadata_file(tmp_path / "absent.xml")


# Our SP metadata, as uploaded to NemLog-in


def md(tag: str) -> str:
    return f"{{{v.MD}}}{tag}"


@pytest.fixture
def metadata(sp) -> etree._Element:
    return etree.fromstring(sp.metadata())


def test_our_metadata_has_separate_signing_and_encryption_certificates(metadata, saml_settings):
    (descriptor,) = metadata.findall(md("SPSSODescriptor"))
    assert metadata.get("entityID") == saml_settings.sp_entity_id
    assert descriptor.get("AuthnRequestsSigned") == "true"
    assert descriptor.get("WantAssertionsSigned") == "true"
    certificates = {
        key.get("use"): key.findtext(
            f"{{{v.DS}}}KeyInfo/{{{v.DS}}}X509Data/{{{v.DS}}}X509Certificate"
        )
        for key in descriptor.findall(md("KeyDescriptor"))
    }
    assert certificates == {
        "signing": certificate_body(saml_settings.signing_cert.read_text()),
        "encryption": certificate_body(saml_settings.encryption_cert.read_text()),
    }
    assert certificates["signing"] != certificates["encryption"]


def test_our_metadata_offers_only_strong_encryption(metadata):
    (key,) = metadata.iterfind(f".//{md('KeyDescriptor')}[@use='encryption']")
    methods = {method.get("Algorithm"): method for method in key.findall(md("EncryptionMethod"))}
    assert set(methods) == {v.AES256_GCM, v.AES256_CBC, v.RSA_OAEP, v.RSA_OAEP_MGF1P}
    oaep = methods[v.RSA_OAEP]
    assert oaep.find(f"{{{v.DS}}}DigestMethod").get("Algorithm") == v.SHA256
    assert oaep.find(f"{{{v.XENC11}}}MGF").get("Algorithm") == v.MGF1_SHA256


def test_our_metadata_has_the_endpoints_and_formats_nemlogin_requires(metadata, saml_settings):
    (descriptor,) = metadata.findall(md("SPSSODescriptor"))
    assert [element.text for element in descriptor.findall(md("NameIDFormat"))] == [
        v.NAMEID_PERSISTENT
    ]
    (acs,) = descriptor.findall(md("AssertionConsumerService"))
    assert (acs.get("Binding"), acs.get("Location")) == (v.BINDING_POST, saml_settings.acs_url)
    assert saml_settings.acs_url == "http://127.0.0.1:5000/saml/acs"
    slo = descriptor.findall(md("SingleLogoutService"))
    assert [(element.get("Binding"), element.get("Location")) for element in slo] == [
        (v.BINDING_REDIRECT, "http://127.0.0.1:5000/saml/slo")
    ]
    (contact,) = metadata.findall(md("ContactPerson"))
    assert contact.get("contactType") == "technical"
    assert contact.findtext(md("EmailAddress")) == "mailto:drift@example.invalid"


def test_our_metadata_requests_attributes_by_uri_and_never_the_cpr_number(metadata):
    requested = metadata.findall(f".//{md('AttributeConsumingService')}/{md('RequestedAttribute')}")
    assert {element.get("NameFormat") for element in requested} == {v.ATTRNAME_URI}
    names = {element.get("Name"): element.get("isRequired") for element in requested}
    assert CPR not in names
    assert not any("cpr" in name.lower() for name in names)
    for required in (v.SPEC_VERSION, v.LOA, v.CVR, v.PROFESSIONAL_UUID):
        assert names[required] == "true"


def metadata_schema() -> etree.XMLSchema:
    """SAML metadata 2.0 as python3-saml bundles it, and xmlenc 1.1 (the W3C schema that
    pysaml2 bundles), which declares the `xenc11:MGF` of our RSA-OAEP EncryptionMethod."""
    onelogin_schemas = Path(onelogin.saml2.__file__).parent / "schemas"
    xenc11 = Path(str(importlib.resources.files(saml2.data.schemas) / "xenc-schema-11.xsd"))
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x-test">'
        f'<xs:import namespace="{v.MD}" '
        f'schemaLocation="{(onelogin_schemas / "saml-schema-metadata-2.0.xsd").as_uri()}"/>'
        f'<xs:import namespace="{v.XENC11}" schemaLocation="{xenc11.as_uri()}"/>'
        "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper))


def test_our_metadata_is_valid_saml_metadata(sp):
    schema = metadata_schema()
    assert schema.validate(etree.fromstring(sp.metadata())), schema.error_log
    # python3-saml's own check knows no xmlenc 1.1 schema, so its strict wildcard refuses the
    # `xenc11:MGF` element (as in SAML-Toolkits/python3-saml#436); everything else passes it.
    without_mgf = etree.fromstring(sp.metadata())
    for mgf in without_mgf.iter(f"{{{v.XENC11}}}MGF"):
        mgf.getparent().remove(mgf)
    assert isinstance(
        OneLogin_Saml2_XML.validate_xml(without_mgf, "saml-schema-metadata-2.0.xsd"),
        etree._Element,
    )


def test_pysaml2_reads_our_metadata_as_an_sp(sp, saml_settings):
    store = MetadataStore(ac_factory(), Config())
    store.load("inline", sp.metadata().decode())
    entity = saml_settings.sp_entity_id
    assert [acs["location"] for acs in store.assertion_consumer_service(entity)] == [
        saml_settings.acs_url
    ]
    for use, path in (
        ("signing", saml_settings.signing_cert),
        ("encryption", saml_settings.encryption_cert),
    ):
        bodies = ["".join(body.split()) for _, body in store.certs(entity, "spsso", use)]
        assert bodies == [certificate_body(path.read_text())]
    (slo,) = store.single_logout_service(entity, v.BINDING_REDIRECT, "spsso")
    assert slo["location"] == saml_settings.slo_url
    required = store.attribute_requirement(entity)["required"]
    assert {attribute["name"] for attribute in required} >= {v.LOA, v.CVR, v.PROFESSIONAL_UUID}


# The AuthnRequest, as NemLog-in receives it


@pytest.fixture
def nemlogin_sp(saml_settings, used_once) -> ServiceProvider:
    """Our SP configured with NemLog-in's DevTest4 metadata."""
    idp = IdentityProvider.from_metadata(DEVTEST4.read_bytes(), now=utc(2026, 6, 1))
    return ServiceProvider(saml_settings, idp, used_once)


def redirect(url: str) -> tuple[list[tuple[str, str]], etree._Element]:
    """The query parameters as sent (still URL-encoded) and the inflated request."""
    fields = [tuple(part.split("=", 1)) for part in urlsplit(url).query.split("&")]
    request = dict(fields)["SAMLRequest"]
    xml = zlib.decompress(base64.b64decode(unquote(request), validate=True), -15)
    return fields, etree.fromstring(xml)


def test_the_request_is_signed_with_rsa_sha256_over_the_query_as_sent(nemlogin_sp, saml_settings):
    url = nemlogin_sp.login_request(force_authn=True).url
    assert url.startswith(NEMLOGIN_DEVTEST4 + "?")
    fields, _ = redirect(url)
    assert sorted(name for name, _ in fields) == ["SAMLRequest", "SigAlg", "Signature"]
    values = dict(fields)
    assert unquote(values["SigAlg"]) == v.RSA_SHA256
    signed = f"SAMLRequest={values['SAMLRequest']}&SigAlg={values['SigAlg']}".encode()
    signature = base64.b64decode(unquote(values["Signature"]), validate=True)
    public_key = x509.load_pem_x509_certificate(
        saml_settings.signing_cert.read_bytes()
    ).public_key()
    public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, signed + b"&RelayState=x", padding.PKCS1v15(), hashes.SHA256())


def test_the_request_asks_for_substantial_professional_and_persistent(nemlogin_sp, saml_settings):
    outgoing = nemlogin_sp.login_request(force_authn=True)
    _, request = redirect(outgoing.url)
    assert request.tag == f"{{{v.SAMLP}}}AuthnRequest"
    assert request.get("ID") == outgoing.request_id
    assert request.get("Destination") == NEMLOGIN_DEVTEST4
    assert request.get("AssertionConsumerServiceURL") == saml_settings.acs_url
    assert request.findtext(f"{{{v.SAML}}}Issuer") == saml_settings.sp_entity_id
    assert request.get("ForceAuthn") == "true"
    (policy,) = request.findall(f"{{{v.SAMLP}}}NameIDPolicy")
    assert policy.get("Format") == v.NAMEID_PERSISTENT
    (context,) = request.findall(f"{{{v.SAMLP}}}RequestedAuthnContext")
    assert context.get("Comparison") == "minimum"
    assert [ref.text for ref in context.findall(f"{{{v.SAML}}}AuthnContextClassRef")] == [
        v.LOA_SUBSTANTIAL_CONTEXT,
        v.PROFESSIONAL_CONTEXT,
    ]
    # The redirect binding carries the signature: none inside the XML.
    assert request.find(f".//{{{v.DS}}}Signature") is None


def test_force_authn_only_when_asked(nemlogin_sp):
    _, request = redirect(nemlogin_sp.login_request().url)
    assert request.get("ForceAuthn") in {None, "false"}
    first, second = (nemlogin_sp.login_request().request_id for _ in range(2))
    assert first != second


# Start-up configuration


def settings_from(tmp_path: Path, **env: str) -> SamlSettings:
    return SamlSettings.from_env(tmp_path, env)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://portal.example.dk",
        "http://10.0.0.5:5000",
        "http://0.0.0.0:5000",
        "http://127.0.0.1.nip.io:5000",
        "http://localhost.example.dk",
    ],
)
def test_the_development_idp_is_refused_off_loopback(tmp_path, base_url):
    with pytest.raises(ConfigError, match="loopback"):
        settings_from(tmp_path, LEDGER_DEV_IDP="1", LEDGER_SAML_BASE_URL=base_url)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:5000",
        "http://127.0.0.2:8080",
        "http://localhost:5000",
        "http://[::1]:5000",
    ],
)
def test_the_development_idp_is_allowed_on_loopback(tmp_path, base_url):
    settings = settings_from(tmp_path, LEDGER_DEV_IDP="1", LEDGER_SAML_BASE_URL=base_url)
    assert settings.dev_idp
    assert settings.acs_url == f"{base_url}/saml/acs"


@pytest.mark.parametrize("dev_idp", [None, "0", "true"])
def test_without_the_development_idp_nemlogins_metadata_is_required(tmp_path, dev_idp):
    env = {"LEDGER_SAML_BASE_URL": "https://portal.example.dk"}
    if dev_idp is not None:
        env["LEDGER_DEV_IDP"] = dev_idp
    with pytest.raises(ConfigError, match="LEDGER_SAML_IDP_METADATA"):
        settings_from(tmp_path, **env)
    metadata = tmp_path / "nemlogin.xml"
    settings = settings_from(tmp_path, **env, LEDGER_SAML_IDP_METADATA=str(metadata))
    assert (settings.idp_metadata, settings.dev_idp) == (metadata, False)


@pytest.mark.parametrize("skew", ["abc", "-1", "1.5", "301", "3600", " 60"])
def test_a_bad_clock_skew_is_refused(tmp_path, skew):
    with pytest.raises(ConfigError, match="LEDGER_SAML_CLOCK_SKEW_SECONDS"):
        settings_from(tmp_path, LEDGER_DEV_IDP="1", LEDGER_SAML_CLOCK_SKEW_SECONDS=skew)


@pytest.mark.parametrize(("skew", "seconds"), [(None, 180), ("0", 0), ("300", 300)])
def test_a_clock_skew_up_to_five_minutes_is_allowed(tmp_path, skew, seconds):
    env = {"LEDGER_DEV_IDP": "1"}
    if skew is not None:
        env["LEDGER_SAML_CLOCK_SKEW_SECONDS"] = skew
    assert settings_from(tmp_path, **env).clock_skew == seconds


@pytest.mark.parametrize(
    "base_url", ["ftp://portal.example.dk", "portal.example.dk", "https://portal.example.dk/?x=1"]
)
def test_a_base_url_that_is_not_http_is_refused(tmp_path, base_url):
    with pytest.raises(ConfigError, match="LEDGER_SAML_BASE_URL"):
        settings_from(tmp_path, LEDGER_DEV_IDP="1", LEDGER_SAML_BASE_URL=base_url)


def test_the_installed_libxmlsec_can_decrypt_nemlogins_assertions():
    assert tuple(xmlsec.get_libxmlsec_version()) >= (1, 3, 0)
    check_libxmlsec()


def test_debians_libxmlsec_1_2_is_refused_at_start(monkeypatch, saml_settings, dev_idp, used_once):
    monkeypatch.setattr(xmlsec, "get_libxmlsec_version", lambda: (1, 2, 37))
    with pytest.raises(ConfigError, match=r"1\.3\.0") as refused:
        check_libxmlsec()
    assert "1.2.37" in str(refused.value)
    with pytest.raises(ConfigError, match=r"1\.3\.0"):
        ServiceProvider(
            saml_settings, IdentityProvider.from_metadata(dev_idp.metadata()), used_once
        )
