"""The PDF receipt: the receipt page's words as a PDF/A-3 document that anyone can open, print
and keep for years, with the JSON receipt embedded as its associated file, as a signed PDF from
Penneo carries its evidence. Whoever keeps the PDF keeps the proof, and `ledger verify
--receipt kvittering-N.pdf` checks the attachment (ledger.evidence.receipt_pdf reads it).

WeasyPrint lays out the HTML of the receipt template and writes the PDF/A-3b structure itself
(the sRGB output intent, XMP metadata, embedded fonts, the attachment's AF entry and its
relationship), so no PDF syntax is written here."""

import datetime
from typing import Any

from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher

PDF_VARIANT = "pdf/a-3b"
# The attachment is what the page's facts are taken from (ISO 32000-2, 7.11.3).
RELATIONSHIP = "Source"


def pdf_receipt(
    page: str,
    *,
    base_url: str,
    receipt_json: str,
    receipt_name: str,
    made_at: datetime.datetime,
) -> bytes:
    """The PDF of the rendered receipt page `page`, with `receipt_json` attached under
    `receipt_name`; `base_url` makes the page's links absolute, `made_at` dates the file."""
    attachment = Attachment(
        string=receipt_json,
        name=receipt_name,
        description="Kvitteringen som JSON: beviset, som ledger verify --receipt kontrollerer",
        created=made_at,
        modified=made_at,
        relationship=RELATIONSHIP,
    )
    # The page is whole as it is: nothing is fetched while it is laid out, whatever a name or
    # a reason in it says.
    nothing = URLFetcher(allowed_protocols=())
    document: bytes = HTML(string=page, base_url=base_url, url_fetcher=nothing).write_pdf(
        pdf_variant=PDF_VARIANT,
        attachments=[attachment],
        finisher=_each_associated_file_once,
        # Tagged: a screen reader reads the headings, the sentence and the facts in order.
        pdf_tags=True,
    )
    return document


def _each_associated_file_once(_document: Any, pdf: Any) -> None:
    """The catalog's AF names each associated file once: WeasyPrint 70 adds an attachment's
    file specification twice (found in the name tree and again among the objects)."""
    if "AF" in pdf.catalog:
        associated = pdf.catalog["AF"]
        pdf.catalog["AF"] = type(associated)(dict.fromkeys(associated))
