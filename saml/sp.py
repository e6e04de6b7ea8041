"""The NemLog-in service provider: python3-saml, hardened where it is weak.

python3-saml 1.16 verifies signatures, the schema and the time window. It does not keep an
assertion-ID cache, accepts unsolicited responses, compares `Destination` by prefix and
`Recipient` by substring, accepts a missing `Audience` or an empty `Issuer`, decrypts with
any algorithm before anything is checked, and raises on some malformed input. So a response
passes through three stages here:

1. before decryption: size, base64, no DTD, the envelope (`Destination`, `InResponseTo`,
   status), exactly one encrypted assertion, and only the encryption algorithms we allow;
2. after decryption, before any signature is processed: one assertion, one enveloped
   signature over it with allowed algorithms and transforms, no comments, unique IDs;
3. python3-saml's validation, then our exact comparisons, the replay cache and the policy.
"""

import base64
import datetime
import secrets
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import xmlsec
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from ledger.config import ConfigError
from ledger.evidence.database import DatabaseUnavailable
from saml import vocabulary as v
from saml.credentials import load_certificate
from saml.metadata import sp_metadata
from saml.policy import Identity, identity_from
from saml.refusals import LoginRefused, Refusal
from saml.settings import SamlSettings
from saml.xml import checked, decode_posted, parse

MINIMUM_LIBXMLSEC = (1, 3, 0)
# An assertion is for the POST that follows its issue: it may be at most this old when it
# arrives (beyond the clock skew; what OIOSAML.Java allows), and may name a validity of at
# most an hour from its IssueInstant or NotBefore to its last NotOnOrAfter (README, Security).
MAX_ISSUE_AGE = datetime.timedelta(minutes=5)
MAX_ASSERTION_LIFETIME = datetime.timedelta(hours=1)

_Error = OneLogin_Saml2_ValidationError
_LIBRARY_REASONS = {
    _Error.INVALID_SIGNATURE: Refusal.BAD_SIGNATURE,
    _Error.NO_SIGNED_ASSERTION: Refusal.UNSIGNED_ASSERTION,
    _Error.NO_SIGNATURE_FOUND: Refusal.UNSIGNED_ASSERTION,
    _Error.WRONG_NUMBER_OF_SIGNATURES: Refusal.BAD_SIGNATURE,
    _Error.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: Refusal.BAD_SIGNATURE,
    _Error.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: Refusal.BAD_SIGNATURE,
    _Error.WRONG_SIGNED_ELEMENT: Refusal.BAD_SIGNATURE,
    _Error.ID_NOT_FOUND_IN_SIGNED_ELEMENT: Refusal.BAD_SIGNATURE,
    _Error.DUPLICATED_ID_IN_SIGNED_ELEMENTS: Refusal.BAD_SIGNATURE,
    _Error.INVALID_SIGNED_ELEMENT: Refusal.BAD_SIGNATURE,
    _Error.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: Refusal.BAD_SIGNATURE,
    _Error.UNEXPECTED_SIGNED_ELEMENTS: Refusal.BAD_SIGNATURE,
    _Error.ASSERTION_EXPIRED: Refusal.EXPIRED,
    _Error.RESPONSE_EXPIRED: Refusal.EXPIRED,
    _Error.SESSION_EXPIRED: Refusal.EXPIRED,
    _Error.ASSERTION_TOO_EARLY: Refusal.NOT_YET_VALID,
    _Error.WRONG_AUDIENCE: Refusal.WRONG_AUDIENCE,
    _Error.WRONG_DESTINATION: Refusal.WRONG_DESTINATION,
    _Error.EMPTY_DESTINATION: Refusal.WRONG_DESTINATION,
    _Error.WRONG_ISSUER: Refusal.WRONG_ISSUER,
    _Error.ISSUER_MULTIPLE_IN_RESPONSE: Refusal.WRONG_ISSUER,
    _Error.ISSUER_NOT_FOUND_IN_ASSERTION: Refusal.WRONG_ISSUER,
    _Error.WRONG_INRESPONSETO: Refusal.IN_RESPONSE_TO_MISMATCH,
    _Error.WRONG_SUBJECTCONFIRMATION: Refusal.WRONG_SUBJECT_CONFIRMATION,
    _Error.DEPRECATED_SIGNATURE_METHOD: Refusal.WEAK_ALGORITHM,
    _Error.DEPRECATED_DIGEST_METHOD: Refusal.WEAK_ALGORITHM,
    _Error.INVALID_XML_FORMAT: Refusal.SCHEMA_INVALID,
    _Error.STATUS_CODE_IS_NOT_SUCCESS: Refusal.IDP_STATUS,
    _Error.WRONG_NUMBER_OF_ASSERTIONS: Refusal.ASSERTION_COUNT,
}


class OneTimeUse(Protocol):
    """Remembers tokens (assertion IDs, request IDs) for every process that shares it."""

    def first_use(self, kind: str, token: str, expires_at: datetime.datetime) -> bool:
        """True the first time `token` of `kind` is used, False every later time."""


@dataclass(frozen=True)
class IdentityProvider:
    """What the IdP's metadata says: who it is, where it is, which keys sign for it."""

    entity_id: str
    sso_url: str
    slo_url: str
    signing_certs: tuple[str, ...]

    @classmethod
    def from_metadata(
        cls, xml: bytes, *, now: datetime.datetime | None = None
    ) -> "IdentityProvider":
        try:
            parsed = OneLogin_Saml2_IdPMetadataParser.parse(
                xml,
                required_sso_binding=v.BINDING_REDIRECT,
                required_slo_binding=v.BINDING_REDIRECT,
            )["idp"]
        except Exception as error:
            raise ConfigError(f"the IdP metadata cannot be read: {error}") from error
        certs = list(parsed.get("x509certMulti", {}).get("signing", []))
        if not certs and parsed.get("x509cert"):
            certs = [parsed["x509cert"]]
        if not certs or "singleSignOnService" not in parsed:
            raise ConfigError("the IdP metadata has no signing certificate or no HTTP-Redirect SSO")
        now = now or datetime.datetime.now(datetime.UTC)
        valid = [body for body in certs if load_certificate(body).not_valid_after_utc > now]
        if not valid:
            ends = ", ".join(
                load_certificate(body).not_valid_after_utc.date().isoformat() for body in certs
            )
            raise ConfigError(
                f"the signing certificate of IdP {parsed['entityId']} expired ({ends}); "
                "fetch current metadata from NemLog-in"
            )
        slo = parsed.get("singleLogoutService", parsed["singleSignOnService"])
        return cls(
            parsed["entityId"], parsed["singleSignOnService"]["url"], slo["url"], tuple(valid)
        )


@dataclass(frozen=True)
class OutgoingRequest:
    """A signed request on its way to the IdP by HTTP-Redirect."""

    url: str
    request_id: str


@dataclass(frozen=True)
class LogoutResult:
    """What a single-logout message asked of us, and where the browser goes next."""

    redirect_url: str | None
    ends_session: bool


def check_libxmlsec() -> None:
    """NemLog-in's key transport (xmlenc11 RSA-OAEP) needs libxmlsec1 1.3.0 or newer."""
    # The function exists since xmlsec 1.3.9; the package's own stubs do not name it yet.
    version = tuple(xmlsec.get_libxmlsec_version())  # type: ignore[attr-defined]
    if version < MINIMUM_LIBXMLSEC:
        found = ".".join(map(str, version))
        raise ConfigError(
            f"libxmlsec1 {found} cannot decrypt NemLog-in's assertions (xmlenc11 RSA-OAEP); "
            "1.3.0 or newer is needed: install the `xmlsec` wheel from PyPI, which bundles one"
        )


class ServiceProvider:
    def __init__(
        self,
        settings: SamlSettings,
        idp: IdentityProvider,
        once: OneTimeUse,
    ) -> None:
        check_libxmlsec()
        self.settings = settings
        self.idp = idp
        self.once = once
        self._encryption_key = xmlsec.Key.from_memory(
            settings.encryption_key.read_bytes(), xmlsec.constants.KeyDataFormatPem
        )
        self._per_thread = threading.local()
        signing_cert = settings.signing_cert.read_text()
        self._metadata = sp_metadata(
            settings,
            signing_cert=signing_cert,
            encryption_cert=settings.encryption_cert.read_text(),
        )
        base = {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": settings.sp_entity_id,
                "assertionConsumerService": {"url": settings.acs_url, "binding": v.BINDING_POST},
                "singleLogoutService": {"url": settings.slo_url, "binding": v.BINDING_REDIRECT},
                "NameIDFormat": v.NAMEID_PERSISTENT,
                "x509cert": signing_cert,
                "privateKey": settings.signing_key.read_text(),
            },
            "idp": {
                "entityId": idp.entity_id,
                "singleSignOnService": {"url": idp.sso_url, "binding": v.BINDING_REDIRECT},
                "singleLogoutService": {"url": idp.slo_url, "binding": v.BINDING_REDIRECT},
                "x509certMulti": {"signing": list(idp.signing_certs)},
            },
        }
        security = {
            "authnRequestsSigned": True,
            "logoutRequestSigned": True,
            "logoutResponseSigned": True,
            "wantAssertionsSigned": True,
            # Encryption is required in stage 1, before python3-saml sees the response.
            "wantAssertionsEncrypted": False,
            "wantNameId": True,
            "wantAttributeStatement": True,
            "requestedAuthnContext": [v.LOA_SUBSTANTIAL_CONTEXT, v.PROFESSIONAL_CONTEXT],
            "requestedAuthnContextComparison": "minimum",
            "failOnAuthnContextMismatch": False,
            "signatureAlgorithm": v.RSA_SHA256,
            "digestAlgorithm": v.SHA256,
            "rejectDeprecatedAlgorithm": True,
        }
        # NemLog-in does not sign the Response around the assertion, but it signs logout
        # messages: two settings objects, one for each.
        self._login_settings = OneLogin_Saml2_Settings(
            base | {"security": security | {"wantMessagesSigned": False}}
        )
        self._logout_settings = OneLogin_Saml2_Settings(
            base | {"security": security | {"wantMessagesSigned": True}}
        )
        acs = urlsplit(settings.acs_url)
        self._acs_request: dict[str, Any] = {
            "https": "on" if acs.scheme == "https" else "off",
            "http_host": acs.netloc,
            "script_name": acs.path,
            "get_data": {},
            "post_data": {},
        }

    # Metadata and login

    def metadata(self) -> bytes:
        return self._metadata

    def login_request(self, *, force_authn: bool = False) -> OutgoingRequest:
        """An AuthnRequest signed with RSA-SHA256 for HTTP-Redirect; no RelayState is sent."""
        request = OneLogin_Saml2_Authn_Request(self._login_settings, force_authn=force_authn)
        parameters = {"SAMLRequest": request.get_request()}
        auth = OneLogin_Saml2_Auth(self._acs_request, self._login_settings)
        auth.add_request_signature(parameters, v.RSA_SHA256)
        return OutgoingRequest(auth.redirect_to(self.idp.sso_url, parameters), request.get_id())

    def accept(self, posted: str, *, pending: Collection[str]) -> Identity:
        """The verified identity in a POSTed SAMLResponse, or LoginRefused with a reason.

        `pending` holds the IDs of the AuthnRequests this browser sent and has not used.
        """
        try:
            return self._accept(posted, pending)
        except (LoginRefused, DatabaseUnavailable):
            raise  # the replay cache out of reach refuses nothing: the portal answers 503
        except Exception as error:  # any library failure is a refusal, never a 500
            raise LoginRefused(Refusal.INVALID_RESPONSE, type(error).__name__) from error

    def _accept(self, posted: str, pending: Collection[str]) -> Identity:
        root = parse(decode_posted(posted, self.settings.max_response_chars))
        request_id = self._check_envelope(root, pending)
        self._verify_response_signature(root)
        root, assertion = self._decrypt(root)
        assertion_id = _check_assertion_shape(root, assertion)
        self._validate_with_library(root, request_id)
        # From here on the assertion's signature has verified.
        facts = self._check_assertion(assertion, request_id)
        if not self.once.first_use("saml-assertion", assertion_id, facts.expires_at):
            raise LoginRefused(Refusal.REPLAYED)
        if not self.once.first_use("saml-request", request_id, facts.expires_at):
            raise LoginRefused(Refusal.REQUEST_REUSED)
        return identity_from(
            assertion,
            idp=self.idp.entity_id,
            in_response_to=request_id,
            assertion_xml=etree.tostring(assertion),
        )

    # Stage 1: before decryption

    def _check_envelope(self, root: etree._Element, pending: Collection[str]) -> str:
        if root.tag != f"{{{v.SAMLP}}}Response" or root.get("Version") != "2.0":
            raise LoginRefused(Refusal.NOT_A_RESPONSE)
        in_response_to = root.get("InResponseTo")
        if not in_response_to:
            raise LoginRefused(Refusal.UNSOLICITED)
        if in_response_to not in pending:
            raise LoginRefused(Refusal.IN_RESPONSE_TO_MISMATCH)
        destination = root.get("Destination")
        if destination != self.settings.acs_url:
            raise LoginRefused(Refusal.WRONG_DESTINATION, destination or "missing")
        issuers = root.findall(f"{{{v.SAML}}}Issuer")
        if len(issuers) > 1 or (issuers and issuers[0].text != self.idp.entity_id):
            raise LoginRefused(Refusal.WRONG_ISSUER)
        status = root.find(f"{{{v.SAMLP}}}Status/{{{v.SAMLP}}}StatusCode")
        if status is None or status.get("Value") != v.STATUS_SUCCESS:
            raise LoginRefused(
                Refusal.IDP_STATUS, status.get("Value", "") if status is not None else ""
            )
        if root.find(f".//{{{v.SAML}}}Assertion") is not None:
            raise LoginRefused(Refusal.UNENCRYPTED_ASSERTION)
        encrypted = root.findall(f".//{{{v.SAML}}}EncryptedAssertion")
        if len(encrypted) != 1 or encrypted[0].getparent() is not root:
            raise LoginRefused(Refusal.ASSERTION_COUNT, f"{len(encrypted)} encrypted assertions")
        for signature in root.findall(f"{{{v.DS}}}Signature"):
            _check_signature_algorithms(signature, root.get("ID"))
        _check_encryption_algorithms(encrypted[0])
        return in_response_to

    def _verify_response_signature(self, root: etree._Element) -> None:
        """A signed Response is signed over the encrypted assertion, so its signature is
        verified here, before decryption: python3-saml only ever sees the decrypted document."""
        signatures = root.findall(f"{{{v.DS}}}Signature")
        if not signatures:
            return
        if len(signatures) != 1:
            raise LoginRefused(Refusal.BAD_SIGNATURE, "more than one Response signature")
        ids = [element.get("ID") for element in root.iter() if element.get("ID") is not None]
        if len(ids) != len(set(ids)):
            raise LoginRefused(Refusal.DUPLICATE_ID)
        document = parse(etree.tostring(root))  # xmlsec marks the IDs on a copy
        xmlsec.tree.add_ids(document, ["ID"])
        signature = checked(document.find(f"{{{v.DS}}}Signature"), "Signature")
        for body in self.idp.signing_certs:
            context = xmlsec.SignatureContext()
            context.key = xmlsec.Key.from_memory(
                load_certificate(body).public_bytes(Encoding.PEM),
                xmlsec.constants.KeyDataFormatCertPem,
            )
            context.set_enabled_key_data([xmlsec.constants.KeyDataX509])
            try:
                context.verify(signature)
            except xmlsec.Error:
                continue
            return
        raise LoginRefused(Refusal.BAD_SIGNATURE, "the Response signature does not verify")

    def _keys_manager(self) -> xmlsec.KeysManager:
        """One keys manager per thread: making one loads the system's CA certificates
        (10-20 ms where SSL_CERT_FILE is set), too much to repeat for every login."""
        manager = getattr(self._per_thread, "manager", None)
        if manager is None:
            manager = xmlsec.KeysManager()
            manager.add_key(self._encryption_key)
            self._per_thread.manager = manager
        return manager

    def _decrypt(self, root: etree._Element) -> tuple[etree._Element, etree._Element]:
        """The Response with the decrypted assertion in place of the EncryptedAssertion, and
        the assertion.

        The new Response is parsed from text. Moving the decrypted element with lxml would
        drop every namespace declaration that its new parent makes under another prefix (lxml
        matches declarations by URI), and exclusive canonicalization signs prefixes: an
        assertion whose prefixes differ from the envelope's (pysaml2's do) would no longer
        verify. The Response's own signature, verified over the encrypted form before
        decryption, is left out: it cannot verify over the plaintext.
        """
        encrypted = checked(root.find(f"{{{v.SAML}}}EncryptedAssertion"), "EncryptedAssertion")
        data = checked(encrypted.find(f"{{{v.XENC}}}EncryptedData"), "EncryptedData")
        try:
            assertion = xmlsec.EncryptionContext(self._keys_manager()).decrypt(data)
        except xmlsec.Error:
            raise LoginRefused(Refusal.DECRYPTION_FAILED) from None
        if not isinstance(assertion, etree._Element) or assertion.tag != f"{{{v.SAML}}}Assertion":
            raise LoginRefused(Refusal.ASSERTION_COUNT, "the encrypted data is not one assertion")
        if len(encrypted) != 1:
            raise LoginRefused(Refusal.ASSERTION_COUNT, "more than the assertion was encrypted")
        plaintext = etree.tostring(assertion, with_tail=False)
        marker = etree.Comment(secrets.token_hex(16))
        root.replace(encrypted, marker)
        for signature in root.findall(f"{{{v.DS}}}Signature"):
            root.remove(signature)
        text = etree.tostring(root)
        placeholder = etree.tostring(marker, with_tail=False)
        if text.count(placeholder) != 1:
            raise LoginRefused(Refusal.ASSERTION_COUNT, "the decrypted assertion cannot be placed")
        decrypted = parse(text.replace(placeholder, plaintext))
        return decrypted, checked(decrypted.find(f"{{{v.SAML}}}Assertion"), "Assertion")

    # Stage 3: python3-saml, then what it does not check

    def _validate_with_library(self, root: etree._Element, request_id: str) -> None:
        encoded = base64.b64encode(etree.tostring(root)).decode("ascii")
        response = OneLogin_Saml2_Response(self._login_settings, encoded)
        try:
            response.is_valid(self._acs_request, request_id=request_id, raise_exceptions=True)
        except OneLogin_Saml2_ValidationError as error:
            reason = _LIBRARY_REASONS.get(error.code, Refusal.INVALID_RESPONSE)
            raise LoginRefused(reason, str(error)[:200]) from None

    def _check_assertion(self, assertion: etree._Element, request_id: str) -> "_Checked":
        def refuse(reason: Refusal, detail: str = "") -> LoginRefused:
            return LoginRefused(reason, detail)

        issuer = assertion.find(f"{{{v.SAML}}}Issuer")
        if issuer is None or issuer.text != self.idp.entity_id:
            raise refuse(Refusal.WRONG_ISSUER)
        audiences = [
            element.text
            for element in assertion.iterfind(
                f"{{{v.SAML}}}Conditions/{{{v.SAML}}}AudienceRestriction/{{{v.SAML}}}Audience"
            )
        ]
        if self.settings.sp_entity_id not in audiences:
            raise refuse(Refusal.WRONG_AUDIENCE, ", ".join(a or "" for a in audiences) or "missing")
        confirmations = assertion.findall(
            f"{{{v.SAML}}}Subject/{{{v.SAML}}}SubjectConfirmation[@Method='{v.BEARER}']"
            f"/{{{v.SAML}}}SubjectConfirmationData"
        )
        if len(confirmations) != 1:
            raise refuse(Refusal.WRONG_SUBJECT_CONFIRMATION)
        data = confirmations[0]
        if data.get("Recipient") != self.settings.acs_url:
            raise refuse(Refusal.WRONG_RECIPIENT, data.get("Recipient") or "missing")
        if data.get("InResponseTo") != request_id:
            raise refuse(Refusal.IN_RESPONSE_TO_MISMATCH, "in the assertion")
        name_id = assertion.find(f"{{{v.SAML}}}Subject/{{{v.SAML}}}NameID")
        if name_id is None or name_id.get("Format") != v.NAMEID_PERSISTENT:
            found = name_id.get("Format") if name_id is not None else None
            raise refuse(Refusal.NAMEID_FORMAT, (found or "missing")[:200])
        qualifier = name_id.get("SPNameQualifier")
        if qualifier is not None and qualifier != self.settings.sp_entity_id:
            raise refuse(Refusal.WRONG_SP_NAME_QUALIFIER, qualifier[:200])
        now = datetime.datetime.now(datetime.UTC)
        skew = datetime.timedelta(seconds=self.settings.clock_skew)
        conditions = assertion.find(f"{{{v.SAML}}}Conditions")
        starts = conditions.get("NotBefore") if conditions is not None else None
        not_before = _instant(starts) if starts else None  # optional in SAML
        ends = [
            _instant(value)
            for value in (
                data.get("NotOnOrAfter"),
                conditions.get("NotOnOrAfter") if conditions is not None else None,
            )
            if value
        ]
        if not ends:
            raise refuse(Refusal.EXPIRED, "no NotOnOrAfter")
        if not_before is not None and now + skew < not_before:
            raise refuse(Refusal.NOT_YET_VALID)
        if now - skew >= min(ends):
            raise refuse(Refusal.EXPIRED)
        issued = _instant(assertion.get("IssueInstant") or "")
        if now + skew < issued:
            raise refuse(Refusal.NOT_YET_VALID, "issued in the future")
        if now - issued > MAX_ISSUE_AGE + skew:
            raise refuse(Refusal.ISSUED_TOO_LONG_AGO)
        valid_from = min(issued, not_before) if not_before is not None else issued
        if max(ends) - valid_from > MAX_ASSERTION_LIFETIME:
            raise refuse(Refusal.ASSERTION_LIFETIME)
        return _Checked(expires_at=max(ends) + skew)

    # Logout

    def logout_request(self, *, name_id: str, session_index: str | None) -> OutgoingRequest:
        """A LogoutRequest for this login, signed for HTTP-Redirect."""
        request = OneLogin_Saml2_Logout_Request(
            self._logout_settings,
            name_id=name_id,
            session_index=session_index,
            name_id_format=v.NAMEID_PERSISTENT,
        )
        parameters = {"SAMLRequest": request.get_request()}
        auth = OneLogin_Saml2_Auth(self._acs_request, self._logout_settings)
        auth.add_request_signature(parameters, v.RSA_SHA256)
        return OutgoingRequest(auth.redirect_to(self.idp.slo_url, parameters), request.id)

    def single_logout(
        self, query: dict[str, str], raw_query: str, *, pending: str | None
    ) -> LogoutResult:
        """A signed LogoutResponse to our request, or the IdP's own LogoutRequest.

        The signature is checked over the query string exactly as the IdP encoded it.
        """
        slo = urlsplit(self.settings.slo_url)
        request_data = {
            "https": "on" if slo.scheme == "https" else "off",
            "http_host": slo.netloc,
            "script_name": slo.path,
            "get_data": query,
            "post_data": {},
            "query_string": raw_query,
            "validate_signature_from_qs": True,
        }
        auth = OneLogin_Saml2_Auth(request_data, self._logout_settings)
        try:
            redirect = auth.process_slo(
                keep_local_session=True, request_id=pending, delete_session_cb=None
            )
        except Exception as error:
            raise LoginRefused(Refusal.INVALID_LOGOUT, type(error).__name__) from error
        if auth.get_errors():
            raise LoginRefused(Refusal.INVALID_LOGOUT, auth.get_last_error_reason() or "")
        return LogoutResult(redirect_url=redirect, ends_session=True)


@dataclass(frozen=True)
class _Checked:
    expires_at: datetime.datetime


def _instant(value: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise LoginRefused(Refusal.SCHEMA_INVALID, f"not a time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def _check_encryption_algorithms(encrypted: etree._Element) -> None:
    datas = encrypted.findall(f"{{{v.XENC}}}EncryptedData")
    if len(datas) != 1:
        raise LoginRefused(Refusal.ASSERTION_COUNT, "not one EncryptedData")
    data = datas[0]
    method = data.find(f"{{{v.XENC}}}EncryptionMethod")
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in v.ALLOWED_DATA_ENCRYPTION:
        raise LoginRefused(Refusal.WEAK_ENCRYPTION, f"data encryption {algorithm}")
    keys = encrypted.findall(f".//{{{v.XENC}}}EncryptedKey")
    if len(keys) != 1:
        raise LoginRefused(Refusal.WEAK_ENCRYPTION, f"{len(keys)} encrypted keys")
    key_method = keys[0].find(f"{{{v.XENC}}}EncryptionMethod")
    transport = key_method.get("Algorithm") if key_method is not None else None
    if key_method is None or transport not in v.ALLOWED_KEY_TRANSPORT:
        raise LoginRefused(Refusal.WEAK_ENCRYPTION, f"key transport {transport}")
    digest = key_method.find(f"{{{v.DS}}}DigestMethod")
    named = digest.get("Algorithm") if digest is not None else None
    # rsa-oaep-mgf1p is OAEP with SHA-1 unless it names another digest: naming that default
    # (as the AES-256-CBC profile does) is the same algorithm as leaving it out. Every other
    # SHA-1 is refused.
    default_named = transport == v.RSA_OAEP_MGF1P and named == v.SHA1
    if digest is not None and named not in v.ALLOWED_DIGESTS and not default_named:
        raise LoginRefused(Refusal.WEAK_ALGORITHM, f"key transport digest {named}")
    if transport == v.RSA_OAEP:
        # xmlenc11 RSA-OAEP defaults to SHA-1 for both the digest and the mask function;
        # both must be named, and be SHA-2.
        mgf = key_method.find(f"{{{v.XENC11}}}MGF")
        if digest is None or mgf is None or mgf.get("Algorithm") not in v.ALLOWED_MGF:
            raise LoginRefused(Refusal.WEAK_ALGORITHM, "RSA-OAEP without SHA-2 digest and MGF")
    unexpected = next(encrypted.iter(f"{{{v.DS}}}RetrievalMethod", f"{{{v.DS}}}Transform"), None)
    if unexpected is not None:
        raise LoginRefused(
            Refusal.FORBIDDEN_TRANSFORM, unexpected.get("Algorithm") or unexpected.tag
        )


def _check_signature_algorithms(signature: etree._Element, signed_id: str | None) -> None:
    signed_info = signature.find(f"{{{v.DS}}}SignedInfo")
    if signed_info is None:
        raise LoginRefused(Refusal.BAD_SIGNATURE, "no SignedInfo")
    c14n = signed_info.find(f"{{{v.DS}}}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") != v.EXC_C14N:
        raise LoginRefused(Refusal.FORBIDDEN_TRANSFORM, "canonicalization")
    method = signed_info.find(f"{{{v.DS}}}SignatureMethod")
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in v.ALLOWED_SIGNATURE_METHODS:
        raise LoginRefused(Refusal.WEAK_ALGORITHM, f"signature method {algorithm}")
    references = signed_info.findall(f"{{{v.DS}}}Reference")
    if len(references) != 1 or not signed_id or references[0].get("URI") != f"#{signed_id}":
        raise LoginRefused(
            Refusal.BAD_SIGNATURE, "the signature does not cover exactly its element"
        )
    for transform in references[0].iterfind(f"{{{v.DS}}}Transforms/{{{v.DS}}}Transform"):
        if transform.get("Algorithm") not in v.ALLOWED_TRANSFORMS or len(transform):
            raise LoginRefused(Refusal.FORBIDDEN_TRANSFORM, transform.get("Algorithm") or "")
    digest = references[0].find(f"{{{v.DS}}}DigestMethod")
    if digest is None or digest.get("Algorithm") not in v.ALLOWED_DIGESTS:
        raise LoginRefused(Refusal.WEAK_ALGORITHM, "digest")
    if next(signature.iter(f"{{{v.DS}}}RetrievalMethod", "{*}XPath", "{*}XSLT"), None) is not None:
        raise LoginRefused(Refusal.FORBIDDEN_TRANSFORM, "XPath, XSLT or RetrievalMethod")


def _check_assertion_shape(root: etree._Element, assertion: etree._Element) -> str:
    """One assertion with an ID, directly in the Response, signed by one enveloped signature
    of its own, with no comments and no duplicate IDs anywhere: what the signature wrapping
    attacks need is refused before python3-saml looks for the signed element. Its ID."""
    assertion_id = assertion.get("ID")
    if assertion_id is None:
        raise LoginRefused(Refusal.SCHEMA_INVALID, "an assertion without ID")
    assertions = root.findall(f".//{{{v.SAML}}}Assertion")
    if len(assertions) != 1 or assertion.getparent() is not root:
        raise LoginRefused(Refusal.ASSERTION_COUNT, f"{len(assertions)} assertions")
    ids = [element.get("ID") for element in root.iter() if element.get("ID") is not None]
    if len(ids) != len(set(ids)):
        raise LoginRefused(Refusal.DUPLICATE_ID)
    if next(assertion.iter(etree.Comment, etree.ProcessingInstruction), None) is not None:
        raise LoginRefused(Refusal.COMMENT_IN_ASSERTION)
    signatures = list(assertion.iter(f"{{{v.DS}}}Signature"))
    if not signatures:
        raise LoginRefused(Refusal.UNSIGNED_ASSERTION)
    if len(signatures) != 1 or signatures[0].getparent() is not assertion:
        raise LoginRefused(Refusal.BAD_SIGNATURE, "not one enveloped signature")
    _check_signature_algorithms(signatures[0], assertion_id)
    return assertion_id


def parse_metadata_file(path: Any) -> IdentityProvider:
    try:
        xml = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"LEDGER_SAML_IDP_METADATA: cannot read {path}: {error}") from error
    return IdentityProvider.from_metadata(xml)
