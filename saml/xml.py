"""Reading untrusted XML: strict base64, a size limit, no DTD, no entities, no network."""

import base64
import binascii
from xml.parsers import expat

from lxml import etree

from saml.refusals import LoginRefused, Refusal

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
)
_WHITESPACE = str.maketrans("", "", " \t\r\n")


def decode_posted(value: str, limit: int) -> bytes:
    """The bytes of a base64 form value no larger than `limit` characters."""
    if len(value) > limit:
        raise LoginRefused(Refusal.OVERSIZE, f"{len(value)} characters, limit {limit}")
    try:
        return base64.b64decode(value.translate(_WHITESPACE).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise LoginRefused(Refusal.MALFORMED_BASE64) from None


def checked(element: etree._Element | None, what: str) -> etree._Element:
    """An element that an earlier check of the document (the envelope's shape, the
    algorithms) found: should it be missing after all, the login is refused, never a 500."""
    if element is None:
        raise LoginRefused(Refusal.SCHEMA_INVALID, f"no {what}")
    return element


def parse(data: bytes) -> etree._Element:
    """The document element, refusing anything with a document type declaration."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise LoginRefused(Refusal.DTD_FORBIDDEN)
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as error:
        if _declares_document_type(data):
            raise LoginRefused(Refusal.DTD_FORBIDDEN) from None
        raise LoginRefused(Refusal.MALFORMED_XML, str(error)[:200]) from None
    info = root.getroottree().docinfo
    if getattr(info, "doctype", None) or info.internalDTD is not None:
        raise LoginRefused(Refusal.DTD_FORBIDDEN)
    return root


class _DocumentType(Exception):
    pass


def _declares_document_type(data: bytes) -> bool:
    """Whether unreadable XML declares a document type in an encoding the byte test misses
    (UTF-16, say): libxml2 then fails on the entities, before `docinfo` can be asked. Expat
    stops at the start of the declaration, before any entity in it is read."""

    def found(*_: object) -> None:
        raise _DocumentType

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = found
    try:
        parser.Parse(data, True)
    except _DocumentType:
        return True
    except expat.ExpatError:
        return False
    return False
