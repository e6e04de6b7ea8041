"""The documents keep to the glossary (docs/ordliste.md) as the pages do
(tests/browser/test_every_page.py): the history's CSV (its headers and the words it writes
for event types, refusal reasons, roles and actors), the bundle's `LÆS MIG.txt`, and the
text of the PDF receipt."""

import io
import re

import pytest
from pypdf import PdfReader

from ledger import export
from tests.web import test_receipt_pdf, test_signatory
from tests.wording import wording_problems

# The receipt's fixtures: the demo's customers with one agreement, a portal, a PDF receipt.
agreement, portal = test_signatory.agreement, test_signatory.portal
pdf_receipt = test_receipt_pdf.pdf_receipt
# Machine text in a document, left out as a page's code is: file names, command lines and
# their options, the checkpoint's signed note and the hashes.
MACHINE = [
    re.compile(r"^\S+(?:, \S+)*(?= {2,}|\n)", re.MULTILINE),  # LÆS MIG's column of files
    re.compile(r"ledger \w+(?: --?[\w-]+(?: [A-ZÆØÅ][\w.-]*)?)*"),
    re.compile(r"\S+\.(?:csv|jsonl|json|tst|pem|txt|zip|pdf)\b"),
    re.compile(r"\b[0-9a-f]{40,}\b"),
    re.compile(r"^(?:— |\S+/\S+$|[A-Za-z0-9+/=]{20,}$).*", re.MULTILINE),
]


def prose(text: str) -> str:
    for pattern in MACHINE:
        text = pattern.sub(" ", text)
    return text


def test_the_csv_headers_and_the_words_it_writes_keep_to_the_glossary():
    words = [column.header for column in export.COLUMNS]
    words += [*export.CHECK_COLUMNS, export.OTHERS.header]
    for table in (
        export.EVENT_NAMES,
        export.REFUSAL_REASONS,
        export.ROLE_NAMES,
        export.ACTOR_KINDS,
        export.VERIFIED_NAMES,
        export.RECIPIENT_ROLES,
    ):
        words += [str(value) for value in table.values()]
    assert wording_problems("\n".join(words), customer_page=False) == []


@pytest.mark.parametrize("subset", [True, False])
@pytest.mark.parametrize("consistency", [True, False])
def test_the_bundles_read_me_keeps_to_the_glossary(subset, consistency):
    read_me = export.read_me(subset=subset, consistency=consistency)
    assert wording_problems(prose(read_me), customer_page=False) == []


def test_the_pdf_receipts_text_keeps_to_the_glossary(pdf_receipt):
    _, document = pdf_receipt
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)
    assert "Sådan kan det kontrolleres" in text
    assert wording_problems(prose(text), customer_page=True) == []
