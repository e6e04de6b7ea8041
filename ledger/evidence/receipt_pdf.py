"""The receipt a PDF receipt carries: the portal's PDF/A-3 receipt is the readable page with the
JSON receipt (section 5 of the evidence format) embedded as its one associated file, so that
whoever keeps the PDF keeps the evidence. Only the attachment is evidence; the page's text is
for people and is not checked.

pypdf reads the file: pure Python and small, so `ledger verify --receipt` stays light, and it
is imported only when a receipt is a PDF."""

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from ledger.evidence.bundle import BundleError
from ledger.evidence.reasons import Reason


def receipt_in_pdf(data: bytes) -> bytes:
    """The bytes of the JSON receipt embedded in a PDF receipt, exactly as embedded; a PDF
    that cannot be read, or has no or several `.json` attachments, is `malformed-receipt`
    (which one would be the evidence is not for the verifier to guess)."""
    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
        found = [
            (name, content)
            for name, contents in attachments.items()
            if name.lower().endswith(".json")
            for content in contents
        ]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BundleError(
            Reason.MALFORMED_RECEIPT, f"the PDF receipt cannot be read: {error}"
        ) from error
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
