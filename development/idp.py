"""The development IdP: answers the SP's real signed requests as NemLog-in does.

Its responses have NemLog-in's shape: an unsigned Response holding one assertion, signed
with RSA-SHA256 and encrypted with AES-256-GCM under `xmlenc11#rsa-oaep` (SHA-256 digest,
MGF1-SHA256 named in an `<xenc11:MGF>` element). Each step (`assertion`, `sign`,
`encrypt`, `envelope`) is its own method so that tests can build the hostile variants the
service provider must refuse. It is enabled only on a loopback address (`SamlSettings`).
"""

import base64
import datetime
import secrets
import zlib
from dataclasses import dataclass
from urllib.parse import quote, unquote

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from development.demo import DemoPerson
from saml import vocabulary as v
from saml.credentials import certificate_body, ensure_sp_credentials
from saml.refusals import LoginRefused
from saml.settings import SamlSettings
from saml.xml import parse

LIFETIME = datetime.timedelta(minutes=5)

_SIGNATURE_TRANSFORMS = {
    v.RSA_SHA256: xmlsec.constants.TransformRsaSha256,
    v.RSA_SHA1: xmlsec.constants.TransformRsaSha1,
}
_DIGEST_TRANSFORMS = {
    v.SHA256: xmlsec.constants.TransformSha256,
    v.SHA1: xmlsec.constants.TransformSha1,
}
_DATA_TRANSFORMS = {
    v.AES256_GCM: xmlsec.constants.TransformAes256Gcm,
    v.AES128_GCM: xmlsec.constants.TransformAes128Gcm,
    v.AES256_CBC: xmlsec.constants.TransformAes256Cbc,
    v.AES128_CBC: xmlsec.constants.TransformAes128Cbc,
    v.TRIPLEDES_CBC: xmlsec.constants.TransformDes3Cbc,
}
_SESSION_KEYS = {
    v.AES256_GCM: (xmlsec.constants.KeyDataAes, 256),
    v.AES128_GCM: (xmlsec.constants.KeyDataAes, 128),
    v.AES256_CBC: (xmlsec.constants.KeyDataAes, 256),
    v.AES128_CBC: (xmlsec.constants.KeyDataAes, 128),
    v.TRIPLEDES_CBC: (xmlsec.constants.KeyDataDes, 192),
}


def privilege_list(cvr: str, privileges: tuple[str, ...]) -> str:
    """An OIO Basic Privilege Profile list of these privileges for one CVR, base64, as
    NemLog-in sends it in privilegesIntermediate."""
    root = etree.Element(
        "{http://itst.dk/oiosaml/basic_privilege_profile}PrivilegeList",
        nsmap={"bpp": "http://itst.dk/oiosaml/basic_privilege_profile"},
    )
    group = etree.SubElement(root, "PrivilegeGroup", Scope=v.PRIVILEGE_CVR_SCOPE + cvr)
    for privilege in privileges:
        etree.SubElement(group, "Privilege").text = privilege
    return base64.b64encode(etree.tostring(root, xml_declaration=True, encoding="UTF-8")).decode()


@dataclass(frozen=True)
class ReceivedRequest:
    """A message from the SP whose redirect signature has been checked."""

    kind: str  # "AuthnRequest", "LogoutRequest", or "LogoutResponse" (to our LogoutRequest)
    request_id: str
    force_authn: bool
    relay_state: str | None
    name_id: str | None = None


class DevIdpError(ValueError):
    """A request the development IdP will not answer."""


def new_id() -> str:
    return "_" + secrets.token_hex(16)


def instant(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DevelopmentIdP:
    def __init__(
        self,
        *,
        base_url: str,
        key_pem: bytes,
        cert_pem: str,
        sp_entity_id: str,
        sp_acs_url: str,
        sp_slo_url: str,
        sp_signing_cert_pem: str,
        sp_encryption_cert_pem: str,
    ) -> None:
        self.entity_id = f"{base_url}/dev-idp"
        self.sso_url = f"{base_url}/dev-idp/sso"
        self.slo_url = f"{base_url}/dev-idp/slo"
        self.key_pem = key_pem
        self.cert_pem = cert_pem
        self.sp_entity_id = sp_entity_id
        self.sp_acs_url = sp_acs_url
        self.sp_slo_url = sp_slo_url
        self._private_key = serialization.load_pem_private_key(key_pem, password=None)
        sp_cert = x509.load_pem_x509_certificate(sp_signing_cert_pem.encode())
        self._sp_public_key = sp_cert.public_key()
        self._sp_encryption_cert = sp_encryption_cert_pem.encode()

    @classmethod
    def from_settings(cls, settings: SamlSettings) -> "DevelopmentIdP":
        ensure_sp_credentials(settings)
        return cls(
            base_url=settings.base_url,
            key_pem=settings.dev_idp_key.read_bytes(),
            cert_pem=settings.dev_idp_cert.read_text(),
            sp_entity_id=settings.sp_entity_id,
            sp_acs_url=settings.acs_url,
            sp_slo_url=settings.slo_url,
            sp_signing_cert_pem=settings.signing_cert.read_text(),
            sp_encryption_cert_pem=settings.encryption_cert.read_text(),
        )

    def metadata(self) -> bytes:
        root = etree.Element(
            f"{{{v.MD}}}EntityDescriptor",
            {"entityID": self.entity_id},
            nsmap={"md": v.MD, "ds": v.DS},
        )
        idp = etree.SubElement(
            root,
            f"{{{v.MD}}}IDPSSODescriptor",
            WantAuthnRequestsSigned="true",
            protocolSupportEnumeration=v.SAMLP,
        )
        key = etree.SubElement(idp, f"{{{v.MD}}}KeyDescriptor", use="signing")
        data = etree.SubElement(etree.SubElement(key, f"{{{v.DS}}}KeyInfo"), f"{{{v.DS}}}X509Data")
        etree.SubElement(data, f"{{{v.DS}}}X509Certificate").text = certificate_body(self.cert_pem)
        etree.SubElement(
            idp,
            f"{{{v.MD}}}SingleLogoutService",
            Binding=v.BINDING_REDIRECT,
            Location=self.slo_url,
        )
        etree.SubElement(idp, f"{{{v.MD}}}NameIDFormat").text = v.NAMEID_PERSISTENT
        etree.SubElement(
            idp,
            f"{{{v.MD}}}SingleSignOnService",
            Binding=v.BINDING_REDIRECT,
            Location=self.sso_url,
        )
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    # Requests from the SP

    def read_request(self, raw_query: str) -> ReceivedRequest:
        """The SP's AuthnRequest or LogoutRequest, after checking its redirect signature over
        the query string exactly as the SP encoded it."""
        fields = dict(part.split("=", 1) for part in raw_query.split("&") if "=" in part)
        carrier = "SAMLRequest" if "SAMLRequest" in fields else "SAMLResponse"
        if carrier not in fields or "Signature" not in fields:
            raise DevIdpError("the request is not signed")
        if unquote(fields.get("SigAlg", "")) != v.RSA_SHA256:
            raise DevIdpError("the request is not signed with RSA-SHA256")
        signed = "&".join(
            f"{name}={fields[name]}" for name in (carrier, "RelayState", "SigAlg") if name in fields
        )
        try:
            signature = base64.b64decode(unquote(fields["Signature"]), validate=True)
            assert isinstance(self._sp_public_key, rsa.RSAPublicKey)
            self._sp_public_key.verify(
                signature, signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError) as error:
            raise DevIdpError("the request's signature does not verify") from error
        try:
            xml = zlib.decompress(base64.b64decode(unquote(fields[carrier])), -15)
            request = parse(xml)
        except (zlib.error, ValueError, LoginRefused) as error:
            raise DevIdpError("the request cannot be read") from error
        issuer = request.find(f"{{{v.SAML}}}Issuer")
        if issuer is None or issuer.text != self.sp_entity_id:
            raise DevIdpError("the request is not from our SP")
        kind = etree.QName(request).localname
        relay = unquote(fields["RelayState"]) if "RelayState" in fields else None
        if kind == "AuthnRequest":
            if request.get("Destination") != self.sso_url:
                raise DevIdpError("the request is for another IdP")
            acs = request.get("AssertionConsumerServiceURL")
            if acs not in {None, self.sp_acs_url}:
                raise DevIdpError("the request names another AssertionConsumerService")
            force = request.get("ForceAuthn") in {"true", "1"}
            return ReceivedRequest(kind, request.get("ID", ""), force, relay)
        if kind == "LogoutRequest":
            name_id = request.find(f"{{{v.SAML}}}NameID")
            text = name_id.text if name_id is not None else None
            return ReceivedRequest(kind, request.get("ID", ""), False, relay, text)
        if kind == "LogoutResponse":
            return ReceivedRequest(kind, request.get("InResponseTo", ""), False, relay)
        raise DevIdpError(f"unexpected request {kind}")

    # Building a response, step by step

    def assertion(
        self,
        person: DemoPerson,
        request_id: str,
        *,
        now: datetime.datetime | None = None,
        lifetime: datetime.timedelta = LIFETIME,
    ) -> etree._Element:
        now = now or datetime.datetime.now(datetime.UTC)
        ends = instant(now + lifetime)
        assertion = etree.Element(
            f"{{{v.SAML}}}Assertion",
            {"ID": new_id(), "Version": "2.0", "IssueInstant": instant(now)},
            nsmap={"saml": v.SAML, "xs": v.XS, "xsi": v.XSI},
        )

        def child(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
            return etree.SubElement(parent, f"{{{v.SAML}}}{tag}", attributes)

        child(assertion, "Issuer").text = self.entity_id
        subject = child(assertion, "Subject")
        prefix = v.PROFESSIONAL_NAMEID_PREFIX if person.professional else v.PRIVATE_NAMEID_PREFIX
        child(subject, "NameID", Format=v.NAMEID_PERSISTENT).text = prefix + person.person_uuid
        confirmation = child(subject, "SubjectConfirmation", Method=v.BEARER)
        child(
            confirmation,
            "SubjectConfirmationData",
            InResponseTo=request_id,
            NotOnOrAfter=ends,
            Recipient=self.sp_acs_url,
        )
        conditions = child(assertion, "Conditions", NotBefore=instant(now), NotOnOrAfter=ends)
        child(child(conditions, "AudienceRestriction"), "Audience").text = self.sp_entity_id
        statement = child(
            assertion, "AuthnStatement", AuthnInstant=instant(now), SessionIndex=new_id()
        )
        context = child(statement, "AuthnContext")
        child(
            context, "AuthnContextClassRef"
        ).text = f"https://data.gov.dk/concept/core/nsis/loa/{person.loa.label}"
        attributes = child(assertion, "AttributeStatement")
        first, _, last = person.name.partition(" ")
        values: list[tuple[str, str]] = [
            (v.SPEC_VERSION, v.OIOSAML_3),
            (v.LOA, person.loa.label),
            (v.IAL, person.loa.label),
            (v.AAL, person.loa.label),
            (v.FIRST_NAME, first),
            (v.LAST_NAME, last),
            (v.FULL_NAME, person.name),
            (v.EMAIL, person.email),
        ]
        if person.professional:
            assert person.cvr is not None
            assert person.organisation is not None
            values += [
                (v.CVR, person.cvr),
                (v.ORG_NAME, person.organisation),
                (v.PROFESSIONAL_UUID, f"urn:uuid:{person.person_uuid}"),
            ]
            if person.authorized_to_represent:
                values.append((v.AUTHORIZED_TO_REPRESENT, person.cvr))
            if person.privileges:
                values.append(
                    (v.PRIVILEGES_INTERMEDIATE, privilege_list(person.cvr, person.privileges))
                )
        else:
            values.append((v.PERSON_UUID, person.person_uuid))
        for name, value in values:
            attribute = child(attributes, "Attribute", Name=name, NameFormat=v.ATTRNAME_URI)
            element = child(attribute, "AttributeValue")
            element.set(f"{{{v.XSI}}}type", "xs:string")
            element.text = value
        return assertion

    def sign(
        self,
        element: etree._Element,
        *,
        signature_method: str = v.RSA_SHA256,
        digest: str = v.SHA256,
    ) -> etree._Element:
        """Sign the element in place with an enveloped signature after its Issuer."""
        signature = xmlsec.template.create(
            element, xmlsec.constants.TransformExclC14N, _SIGNATURE_TRANSFORMS[signature_method]
        )
        issuer = element.find(f"{{{v.SAML}}}Issuer")
        assert issuer is not None, "the elements this IdP signs all begin with an Issuer"
        issuer.addnext(signature)
        reference = xmlsec.template.add_reference(
            signature, _DIGEST_TRANSFORMS[digest], uri=f"#{element.get('ID')}"
        )
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
        xmlsec.tree.add_ids(element, ["ID"])
        context = xmlsec.SignatureContext()
        key = xmlsec.Key.from_memory(self.key_pem, xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_memory(self.cert_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
        context.key = key
        context.sign(signature)
        return element

    def encrypt(
        self,
        assertion: etree._Element,
        *,
        data_algorithm: str = v.AES256_GCM,
        key_transport: str = v.RSA_OAEP,
        key_digest: str | None = None,
        recipient_cert_pem: bytes | None = None,
    ) -> etree._Element:
        """An EncryptedAssertion holding the assertion, for the SP's encryption certificate.

        `key_digest` names the digest of `rsa-oaep-mgf1p` in a `DigestMethod` (left out, it is
        SHA-1, as the .NET reference library sends it); xmlenc11 RSA-OAEP always names
        SHA-256 and MGF1-SHA256."""
        wrapper = etree.Element(f"{{{v.SAML}}}EncryptedAssertion", nsmap={"saml": v.SAML})
        wrapper.append(assertion)
        template = xmlsec.template.encrypted_data_create(
            wrapper,
            _DATA_TRANSFORMS[data_algorithm],
            type=xmlsec.constants.TypeEncElement,
            ns="xenc",
        )
        xmlsec.template.encrypted_data_ensure_cipher_value(template)
        key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
        transport = (
            xmlsec.constants.TransformRsaPkcs1
            if key_transport == v.RSA_1_5
            else xmlsec.constants.TransformRsaOaep
        )
        encrypted_key = xmlsec.template.add_encrypted_key(key_info, transport)
        xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
        method = encrypted_key.find(f"{{{v.XENC}}}EncryptionMethod")
        assert method is not None, "xmlsec's template names the key transport"
        if key_transport == v.RSA_OAEP:
            method.set("Algorithm", v.RSA_OAEP)
            etree.SubElement(method, f"{{{v.DS}}}DigestMethod", Algorithm=v.SHA256)
            etree.SubElement(
                method, f"{{{v.XENC11}}}MGF", Algorithm=v.MGF1_SHA256, nsmap={"xenc11": v.XENC11}
            )
        elif key_transport == v.RSA_OAEP_MGF1P and key_digest is not None:
            etree.SubElement(method, f"{{{v.DS}}}DigestMethod", Algorithm=key_digest)
        manager = xmlsec.KeysManager()
        manager.add_key(
            xmlsec.Key.from_memory(
                recipient_cert_pem or self._sp_encryption_cert,
                xmlsec.constants.KeyDataFormatCertPem,
            )
        )
        context = xmlsec.EncryptionContext(manager)
        kind, bits = _SESSION_KEYS[data_algorithm]
        context.key = xmlsec.Key.generate(kind, bits, xmlsec.constants.KeyDataTypeSession)
        context.encrypt_xml(template, assertion)
        return wrapper

    def envelope(
        self,
        content: etree._Element,
        request_id: str | None,
        *,
        now: datetime.datetime | None = None,
        destination: str | None = None,
    ) -> etree._Element:
        """The (unsigned) Response around an assertion, encrypted or not."""
        now = now or datetime.datetime.now(datetime.UTC)
        response = etree.Element(
            f"{{{v.SAMLP}}}Response",
            {
                "ID": new_id(),
                "Version": "2.0",
                "IssueInstant": instant(now),
                "Destination": destination or self.sp_acs_url,
            },
            nsmap={"samlp": v.SAMLP, "saml": v.SAML},
        )
        if request_id is not None:
            response.set("InResponseTo", request_id)
        etree.SubElement(response, f"{{{v.SAML}}}Issuer").text = self.entity_id
        status = etree.SubElement(response, f"{{{v.SAMLP}}}Status")
        etree.SubElement(status, f"{{{v.SAMLP}}}StatusCode", Value=v.STATUS_SUCCESS)
        response.append(content)
        return response

    def response(self, person: DemoPerson, request_id: str) -> str:
        """The base64 SAMLResponse NemLog-in would POST for this person."""
        assertion = self.sign(self.assertion(person, request_id))
        return encode(self.envelope(self.encrypt(assertion), request_id))

    # Logout

    def logout_response_url(self, request: ReceivedRequest) -> str:
        """A signed LogoutResponse to the SP's LogoutRequest, by HTTP-Redirect."""
        response = self._logout_message("LogoutResponse", InResponseTo=request.request_id)
        status = etree.SubElement(response, f"{{{v.SAMLP}}}Status")
        etree.SubElement(status, f"{{{v.SAMLP}}}StatusCode", Value=v.STATUS_SUCCESS)
        return self._signed_redirect("SAMLResponse", response, request.relay_state)

    def logout_request_url(self, name_id: str, session_index: str | None) -> str:
        """An IdP-initiated LogoutRequest (the person logged out at another service)."""
        request = self._logout_message("LogoutRequest")
        name = etree.SubElement(request, f"{{{v.SAML}}}NameID", Format=v.NAMEID_PERSISTENT)
        name.text = name_id
        if session_index:
            etree.SubElement(request, f"{{{v.SAMLP}}}SessionIndex").text = session_index
        return self._signed_redirect("SAMLRequest", request, None)

    def _logout_message(self, kind: str, **attributes: str) -> etree._Element:
        message = etree.Element(
            f"{{{v.SAMLP}}}{kind}",
            {
                "ID": new_id(),
                "Version": "2.0",
                "IssueInstant": instant(datetime.datetime.now(datetime.UTC)),
                "Destination": self.sp_slo_url,
                **attributes,
            },
            nsmap={"samlp": v.SAMLP, "saml": v.SAML},
        )
        etree.SubElement(message, f"{{{v.SAML}}}Issuer").text = self.entity_id
        return message

    def _signed_redirect(self, name: str, message: etree._Element, relay: str | None) -> str:
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = deflater.compress(etree.tostring(message)) + deflater.flush()
        query = f"{name}=" + quote(base64.b64encode(deflated).decode(), safe="")
        if relay is not None:
            query += "&RelayState=" + quote(relay, safe="")
        query += "&SigAlg=" + quote(v.RSA_SHA256, safe="")
        assert isinstance(self._private_key, rsa.RSAPrivateKey)
        signature = self._private_key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
        query += "&Signature=" + quote(base64.b64encode(signature).decode(), safe="")
        return f"{self.sp_slo_url}?{query}"


def encode(response: etree._Element) -> str:
    return base64.b64encode(etree.tostring(response)).decode("ascii")
