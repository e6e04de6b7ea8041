"""Who logged in, and whether we accept them: OIOSAML 3.0, a professional identity, and an
NSIS level of Substantial or High read from the assertion itself (what was requested
guarantees nothing)."""

import base64
import datetime
from dataclasses import dataclass

from lxml import etree

from ledger.domain import ORGANISATION_NAME_MAX, PERSON_NAME_MAX, refused_character
from ledger.identity import (
    APPROVAL_MINIMUM_LEVEL,
    InvalidCVR,
    InvalidPersonUUID,
    NsisLevel,
    validate_cvr,
)
from ledger.identity import person_uuid as normalized_uuid
from saml import vocabulary as v
from saml.refusals import LoginRefused, Refusal


@dataclass(frozen=True)
class Identity:
    """A verified MitID Erhverv login, with the signed assertion kept as evidence."""

    person_uuid: str
    name: str
    email: str | None
    cvr: str
    organisation: str
    loa: NsisLevel
    authorized_to_represent: tuple[str, ...]
    name_id: str
    assertion_id: str
    issue_instant: str
    authn_instant: str
    session_index: str | None
    idp: str
    in_response_to: str
    assertion_xml: bytes
    # The MitID Erhverv privileges assigned to the person for this CVR (privilegesIntermediate).
    privileges: tuple[str, ...] = ()

    @property
    def authn_time(self) -> datetime.datetime:
        return datetime.datetime.fromisoformat(self.authn_instant)


def attributes_of(assertion: etree._Element) -> dict[str, list[str]]:
    """Attribute values by URI name; attributes in another name format are not ours."""
    values: dict[str, list[str]] = {}
    for attribute in assertion.iterfind(f"{{{v.SAML}}}AttributeStatement/{{{v.SAML}}}Attribute"):
        if attribute.get("NameFormat", v.ATTRNAME_URI) != v.ATTRNAME_URI:
            continue
        values.setdefault(attribute.get("Name", ""), []).extend(
            "".join(text for text in value.itertext() if isinstance(text, str)).strip()
            for value in attribute.iterfind(f"{{{v.SAML}}}AttributeValue")
        )
    return values


# The most text of a privileges attribute read (base64 of the XML); NemLog-in's lists are small.
PRIVILEGES_MAX = 64 * 1024
_PRIVILEGE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def privileges_for(values: list[str], cvr: str) -> tuple[str, ...]:
    """The privileges an OIO-BPP privilege list (base64 XML, as privilegesIntermediate
    carries it) grants within the scope of this CVR; none when it is absent or unreadable
    (a malformed list is no privilege, not a refused login)."""
    found: list[str] = []
    scope = v.PRIVILEGE_CVR_SCOPE + cvr
    for value in values:
        if not value or len(value) > PRIVILEGES_MAX:
            continue
        try:
            root = etree.fromstring(base64.b64decode(value, validate=True), _PRIVILEGE_PARSER)
        except (ValueError, etree.XMLSyntaxError):
            continue
        if root is None or not isinstance(root.tag, str):
            continue
        for group in root.iter():
            if not isinstance(group.tag, str) or etree.QName(group).localname != "PrivilegeGroup":
                continue
            if (group.get("Scope") or "").strip() != scope:
                continue
            for privilege in group:
                if isinstance(privilege.tag, str) and etree.QName(privilege).localname == (
                    "Privilege"
                ):
                    text = (privilege.text or "").strip()
                    if text and len(text) <= 500 and refused_character(text) is None:
                        found.append(text)
    return tuple(dict.fromkeys(found))


def identity_from(
    assertion: etree._Element, *, idp: str, in_response_to: str, assertion_xml: bytes
) -> Identity:
    """The identity in a verified assertion, or LoginRefused if our policy does not admit it."""
    assertion_id = assertion.get("ID", "")
    attributes = attributes_of(assertion)

    def one(name: str) -> str | None:
        found = attributes.get(name) or []
        return found[0] if len(found) == 1 and found[0] else None

    name_id_element = assertion.find(f"{{{v.SAML}}}Subject/{{{v.SAML}}}NameID")
    name_id = (name_id_element.text or "").strip() if name_id_element is not None else ""
    professional_uuid = one(v.PROFESSIONAL_UUID)
    if not name_id.startswith(v.PROFESSIONAL_NAMEID_PREFIX) or professional_uuid is None:
        raise LoginRefused(Refusal.PRIVATE_IDENTITY, assertion_id=assertion_id)
    try:
        person_uuid = normalized_uuid(professional_uuid)
    except InvalidPersonUUID:
        raise LoginRefused(Refusal.PRIVATE_IDENTITY, "not a UUID", assertion_id) from None
    if name_id.removeprefix(v.PROFESSIONAL_NAMEID_PREFIX).lower() != person_uuid:
        raise LoginRefused(Refusal.IDENTITY_MISMATCH, "NameID and UUID differ", assertion_id)

    def refuse(reason: Refusal, detail: str = "", cvr: str | None = None) -> LoginRefused:
        return LoginRefused(reason, detail, assertion_id, person_uuid, cvr)

    if one(v.SPEC_VERSION) != v.OIOSAML_3:
        raise refuse(Refusal.SPEC_VERSION, one(v.SPEC_VERSION) or "missing")
    try:
        cvr = validate_cvr(one(v.CVR) or "")
    except InvalidCVR as error:
        raise refuse(Refusal.MISSING_CVR, str(error)) from None
    try:
        loa = NsisLevel.parse(one(v.LOA) or "")
    except ValueError:
        raise refuse(Refusal.LOA_TOO_LOW, one(v.LOA) or "missing", cvr) from None
    if loa < APPROVAL_MINIMUM_LEVEL:
        raise refuse(Refusal.LOA_TOO_LOW, loa.label, cvr)
    statement = assertion.find(f"{{{v.SAML}}}AuthnStatement")
    if statement is None or not statement.get("AuthnInstant"):
        raise refuse(Refusal.SCHEMA_INVALID, "no AuthnStatement", cvr)
    name = one(v.FULL_NAME) or " ".join(
        part for part in (one(v.FIRST_NAME), one(v.LAST_NAME)) if part
    )
    organisation = one(v.ORG_NAME) or ""
    for label, text, longest in (
        ("name", name, PERSON_NAME_MAX),
        ("organisation", organisation, ORGANISATION_NAME_MAX),
    ):
        # The ledger records these with every approval; one it cannot record is refused
        # here, at login, instead of when the person clicks Godkend.
        if label == "name" and not text.strip():
            raise refuse(Refusal.UNUSABLE_IDENTITY, "no name", cvr)
        if len(text.strip()) > longest or refused_character(text) is not None:
            raise refuse(Refusal.UNUSABLE_IDENTITY, f"the {label} cannot be recorded", cvr)
    represented = tuple(value for value in attributes.get(v.AUTHORIZED_TO_REPRESENT, []) if value)
    return Identity(
        person_uuid=person_uuid,
        name=name,
        email=one(v.EMAIL),
        cvr=cvr,
        organisation=organisation,
        loa=loa,
        authorized_to_represent=represented,
        name_id=name_id,
        assertion_id=assertion_id,
        issue_instant=assertion.get("IssueInstant", ""),
        authn_instant=_utc(statement.get("AuthnInstant", "")),
        session_index=statement.get("SessionIndex"),
        idp=idp,
        in_response_to=in_response_to,
        assertion_xml=assertion_xml,
        privileges=privileges_for(attributes.get(v.PRIVILEGES_INTERMEDIATE, []), cvr),
    )


def _utc(value: str) -> str:
    moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).isoformat()
