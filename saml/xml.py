"""Reading untrusted XML: strict base64, a size limit, no DTD, no entities, no network."""

import base64
import binascii

from lxml import etree

from saml.refusals import LoginRefused

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
        raise LoginRefused("oversize", f"{len(value)} characters, limit {limit}")
    try:
        return base64.b64decode(value.translate(_WHITESPACE).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise LoginRefused("malformed-base64") from None


def parse(data: bytes) -> etree._Element:
    """The document element, refusing anything with a document type declaration."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise LoginRefused("dtd-forbidden")
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as error:
        raise LoginRefused("malformed-xml", str(error)[:200]) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise LoginRefused("dtd-forbidden")
    return root
