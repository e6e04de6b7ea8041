"""The PDF receipt: the receipt page's words as a PDF/A-3 document that anyone can open, print
and keep for years, with the JSON receipt embedded as its associated file, as a signed PDF from
Penneo carries its evidence, and beside it the document the event is about (the approved
agreement, the handed-in declaration), so that the receipt holds what was approved and not a
link to it. Whoever keeps the PDF keeps the proof, and `ledger verify --receipt
kvittering-N.pdf` checks both attachments (ledger.evidence.receipt_pdf reads them).

WeasyPrint lays out the HTML of the receipt template and writes the PDF/A-3b structure itself
(the sRGB output intent, XMP metadata, embedded fonts, the attachment's AF entry and its
relationship), so no PDF syntax is written here."""

import datetime
import io
from typing import Any

from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher

PDF_VARIANT = "pdf/a-3b"
# The JSON receipt is what the page's facts are taken from (ISO 32000-2, 7.11.3); the
# document is what the page is about, a supplement to it.
RELATIONSHIP = "Source"
DOCUMENT_RELATIONSHIP = "Supplement"


def pdf_receipt(
    page: str,
    *,
    base_url: str,
    receipt_json: str,
    receipt_name: str,
    made_at: datetime.datetime,
    document: tuple[str, bytes] | None = None,
) -> bytes:
    """The PDF of the rendered receipt page `page`, with `receipt_json` attached under
    `receipt_name` first and the (name, bytes) of the event's `document` second; `base_url`
    makes the page's links absolute, `made_at` dates the file."""
    attachment = Attachment(
        string=receipt_json,
        name=receipt_name,
        description="Kvitteringen som JSON: beviset, som ledger verify --receipt kontrollerer",
        created=made_at,
        modified=made_at,
        relationship=RELATIONSHIP,
    )
    attachments = [attachment]
    if document is not None:
        name, content = document
        attachments.append(
            Attachment(
                file_obj=io.BytesIO(content),
                name=name,
                description="Dokumentet, som hændelsen angiver med sit fingeraftryk (SHA-256)",
                created=made_at,
                modified=made_at,
                relationship=DOCUMENT_RELATIONSHIP,
            )
        )
    return pdf_document(page, base_url=base_url, attachments=attachments)


def pdf_document(page: str, *, base_url: str, attachments: list[Attachment]) -> bytes:
    """The PDF/A-3b of a rendered page with its associated files: the one way the portal
    makes a PDF (the receipt, the auditor's migration report)."""
    # The page is whole as it is: nothing is fetched while it is laid out, whatever a name or
    # a reason in it says.
    nothing = URLFetcher(allowed_protocols=())
    pdf: bytes = HTML(string=page, base_url=base_url, url_fetcher=nothing).write_pdf(
        pdf_variant=PDF_VARIANT,
        attachments=attachments,
        finisher=_each_associated_file_once,
        # Tagged: a screen reader reads the headings, the sentence and the facts in order.
        pdf_tags=True,
    )
    return pdf


def _each_associated_file_once(_document: Any, pdf: Any) -> None:
    """The catalog's AF names each associated file once: WeasyPrint 70 adds an attachment's
    file specification twice (found in the name tree and again among the objects)."""
    if "AF" in pdf.catalog:
        associated = pdf.catalog["AF"]
        pdf.catalog["AF"] = type(associated)(dict.fromkeys(associated))
