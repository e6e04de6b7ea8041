"""The receipt a PDF receipt carries: the portal's PDF/A-3 receipt is the readable page with the
JSON receipt (section 5 of the evidence format) embedded as its first associated file, so that
whoever keeps the PDF keeps the evidence, and the document the event names by its SHA-256 (the
approved agreement, a handed-in declaration) as its second, so that they keep what was
approved too. Only the attachments are evidence; the page's text is for people and is not
checked. An embedded document must be one the receipt's signed payload names.

pypdf reads the file: pure Python and small, so `ledger verify --receipt` stays light, and it
is imported only when a receipt is a PDF."""

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from ledger.evidence.bundle import BundleError, Receipt
from ledger.evidence.documents import document_sha256, named_documents
from ledger.evidence.reasons import Reason


def _attachments(data: bytes) -> list[tuple[str, bytes]]:
    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
        return [(name, content) for name, contents in attachments.items() for content in contents]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BundleError(
            Reason.MALFORMED_RECEIPT, f"the PDF receipt cannot be read: {error}"
        ) from error


def documents_in_pdf(data: bytes) -> list[tuple[str, bytes]]:
    """The (name, bytes) of each file a PDF receipt embeds beside its JSON receipt."""
    return [(name, content) for name, content in _attachments(data) if not _is_json(name)]


def embedded_document_problems(
    receipt: Receipt, documents: list[tuple[str, bytes]]
) -> list[tuple[Reason, str, str]]:
    """(reason, where, detail) for each embedded document that is not one the receipt's
    signed payload names by `document_sha256`: `document-mismatch`, as a stored copy that
    no longer hashes to the value a payload names. Only a payload the receipt's checks have
    verified against its signed leaf is evidence of which hash was signed."""
    named = {
        value
        for member, value in named_documents(receipt.payload or b"")
        if member == "document_sha256"
    }
    problems = []
    for name, content in documents:
        sha256 = document_sha256(content)
        if receipt.payload is None:
            detail = "the receipt carries no payload that names a document"
        elif sha256 in named:
            continue
        else:
            detail = f"its SHA-256 {sha256} is not a document the signed event names"
        problems.append((Reason.DOCUMENT_MISMATCH, f"embedded {name}", detail))
    return problems


def _is_json(name: str) -> bool:
    return name.lower().endswith(".json")


def receipt_in_pdf(data: bytes) -> bytes:
    """The bytes of the JSON receipt embedded in a PDF receipt, exactly as embedded; a PDF
    that cannot be read, or has no or several `.json` attachments, is `malformed-receipt`
    (which one would be the evidence is not for the verifier to guess)."""
    found = [(name, content) for name, content in _attachments(data) if _is_json(name)]
    if not found:
        raise BundleError(
            Reason.MALFORMED_RECEIPT, "the PDF carries no receipt (no .json attachment)"
        )
    if len(found) > 1:
        names = ", ".join(sorted(name for name, _ in found))
        raise BundleError(
            Reason.MALFORMED_RECEIPT,
            f"the PDF carries {len(found)} .json attachments ({names}), not one receipt",
        )
    return found[0][1]
