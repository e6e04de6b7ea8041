"""The receipt a signatory reads and keeps: a plain Danish sentence first, the state of the
approval today (a reset shown while the signed facts stay as they were), and the PDF/A-3
receipt with the JSON receipt and the approved agreement embedded, which `ledger verify
--receipt` checks straight from the PDF and refuses once either attachment is altered."""

import base64
import datetime
import hashlib
import io
import json
import re

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from approval_ledger.cli import main
from development.demo import demo_pdf
from ledger.danish_time import DANISH_TIME
from ledger.evidence.bundle import BundleError, Receipt, verify_receipt
from ledger.evidence.reasons import Reason
from ledger.evidence.receipt_pdf import documents_in_pdf, receipt_in_pdf
from ledger.identity import Actor
from tests.approval_ledger.test_offline_verification import NOT_FOR_OFFLINE
from tests.approval_ledger.test_offline_verification import _offline as offline
from tests.web import test_signatory
from tests.web.test_login import log_in
from tests.web.test_signatory import approve

# The signatory pages' fixtures: the demo's customers with one agreement, and a portal.
agreement, portal = test_signatory.agreement, test_signatory.portal

KOEBENHAVN = "64942212"
STAFF = Actor(Actor.OPERATOR, "Ida Iversen")


def _approved_seq(portal, persona: str, agreement) -> int:
    log_in(portal, persona)
    return int(approve(portal, agreement).headers["Location"].rsplit("/", 1)[1])


def _danish_minute(recorded_at: str) -> str:
    moment = datetime.datetime.fromisoformat(recorded_at).astimezone(DANISH_TIME)
    months = ["januar", "februar", "marts", "april", "maj", "juni", "juli", "august"]
    months += ["september", "oktober", "november", "december"]
    return f"{moment.day}. {months[moment.month - 1]} {moment.year} kl. {moment:%H.%M}"


def _text(html: str) -> str:
    """The page's words as a reader sees them: tags gone, white space one space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_receipt_opens_with_a_plain_danish_sentence_of_who_approved_what_and_when(
    portal, app, agreement
):
    seq = _approved_seq(portal, "koebenhavn", agreement)
    page = portal.get(f"/kvitteringer/{seq}").text
    when = _danish_minute(app.signed_log.entry(seq).recorded_at)
    sentence = (
        f"Københavns Kommune godkendte Driftsaftale, version 2026.1, den {when}. "
        "Godkendt af Frederik Friis med MitID Erhverv på sikringsniveau Betydelig."
    )
    assert sentence in _text(page)
    assert page.index("godkendte Driftsaftale") < page.index("Sådan kan det kontrolleres")
    assert "Godkendelsen gælder fortsat." in page
    # The technical facts are folded away, under Danish names.
    folded = page[page.index("<details>") : page.index("</details>")]
    for name in ("Løbenummer i loggen", "Hændelsens fingeraftryk", "Loginbevisets ID"):
        assert name in folded
    assert "Loggens kontrolpunkt" in folded
    # The approved PDF, from the receipt, with the hash the log names.
    document = portal.get(f"/kvitteringer/{seq}/dokument")
    assert document.status_code == 200
    assert document.data == demo_pdf("Driftsaftale", "2026.1")
    assert f'href="/kvitteringer/{seq}/dokument"' in page
    assert f'href="/kvitteringer/{seq}.pdf"' in page


def test_a_receipt_of_a_reset_approval_says_so_and_keeps_the_signed_facts(portal, app, agreement):
    seq = _approved_seq(portal, "koebenhavn", agreement)
    before = portal.get(f"/kvitteringer/{seq}").text
    signed = portal.get(f"/kvitteringer/{seq}.json").text
    app.reset_approval(
        cvr=KOEBENHAVN,
        version_id=agreement.id,
        actor=STAFF,
        reason="Forkert person godkendte.",
    )
    reset_seq = app.signed_log.seq_of(app.approval(KOEBENHAVN, agreement.id).id, 2)
    reset = app.signed_log.entry(reset_seq)
    page = portal.get(f"/kvitteringer/{seq}").text
    assert (
        f"Denne godkendelse blev nulstillet den {_danish_minute(reset.recorded_at)} "
        "af leverandøren (Ida Iversen) med begrundelsen »Forkert person godkendte.« "
    ) in _text(page)
    assert "Aftalen er ikke godkendt i dag og venter på en ny godkendelse." in page
    assert "Godkendelsen gælder fortsat." not in page
    assert f'href="/kvitteringer/{reset_seq}"' in page
    # The signed facts stay as they were: the sentence, the facts and the JSON receipt.
    opening = "Københavns Kommune godkendte Driftsaftale"
    assert opening in page
    assert before[before.index("<details>") :] == page[page.index("<details>") :]
    assert portal.get(f"/kvitteringer/{seq}.json").text == signed
    # Approved again: the old receipt points to the approval in force.
    again = _approved_seq(portal, "koebenhavn", agreement)
    page = portal.get(f"/kvitteringer/{seq}").text
    assert "Aftalen blev godkendt igen den" in page
    assert f'href="/kvitteringer/{again}"' in page
    assert "Godkendelsen gælder fortsat." in portal.get(f"/kvitteringer/{again}").text
    # The reset's own receipt says what happened in words too.
    reset_page = _text(portal.get(f"/kvitteringer/{reset_seq}").text)
    assert (
        "Godkendelsen af Driftsaftale, version 2026.1, for Københavns Kommune blev nulstillet"
    ) in reset_page
    assert "Aftalen: driftsaftale.pdf (PDF)" in reset_page


def test_a_receipt_of_an_approval_in_force_says_when_its_version_was_retired_since(
    portal, app, operator, agreement
):
    seq = _approved_seq(portal, "koebenhavn", agreement)
    assert "trukket tilbage" not in portal.get(f"/kvitteringer/{seq}").text
    app.retire_agreement(agreement.id, actor=operator)
    page = portal.get(f"/kvitteringer/{seq}").text
    assert (
        "Godkendelsen gælder fortsat. Denne version af aftalen er siden trukket tilbage."
    ) in _text(page)


@pytest.fixture
def pdf_receipt(portal, app, agreement) -> tuple[int, bytes]:
    seq = _approved_seq(portal, "koebenhavn", agreement)
    answer = portal.get(f"/kvitteringer/{seq}.pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="kvittering-{seq}.pdf"'
    return seq, answer.data


def test_the_pdf_receipt_carries_the_json_receipt_and_the_agreement_and_verifies_from_the_pdf(
    pdf_receipt, portal, app, agreement, tmp_path, monkeypatch, capsys
):
    seq, document = pdf_receipt
    reader = PdfReader(io.BytesIO(document))
    assert set(reader.attachments) == {f"kvittering-{seq}.json", "driftsaftale.pdf"}
    [embedded] = reader.attachments[f"kvittering-{seq}.json"]
    assert embedded == portal.get(f"/kvitteringer/{seq}.json").data == receipt_in_pdf(document)
    assert verify_receipt(Receipt.from_json(embedded), app.keyring.verifier_keys()).ok
    # The approved agreement itself, the bytes whose SHA-256 the signed approval names.
    [approved] = reader.attachments["driftsaftale.pdf"]
    assert approved == demo_pdf("Driftsaftale", "2026.1")
    assert approved == portal.get(f"/kvitteringer/{seq}/dokument").data
    assert hashlib.sha256(approved).hexdigest() == agreement.document_sha256
    signed = json.loads(base64.b64decode(json.loads(embedded)["payload"]))
    assert signed["request"]["_data_"]["document_sha256"] == agreement.document_sha256
    assert documents_in_pdf(document) == [("driftsaftale.pdf", approved)]
    # The words a person reads are in the PDF as text.
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Københavns Kommune godkendte Driftsaftale, version 2026.1" in re.sub(r"\s+", " ", text)
    saved = tmp_path / f"kvittering-{seq}.pdf"
    saved.write_bytes(document)
    keys = app.settings.keys_dir / "verifier-keys"
    monkeypatch.delenv("LEDGER_DATA_DIR", raising=False)
    capsys.readouterr()
    assert main(["verify", "--receipt", str(saved), "--keys", str(keys)]) == 0
    said = capsys.readouterr()
    assert said.out.rstrip().endswith("all holds")
    assert (
        f"the embedded driftsaftale.pdf is the document the signed event names "
        f"(SHA-256 {agreement.document_sha256})"
    ) in said.err


def _with_attachment(document: bytes, content: bytes, name: str = ".json") -> bytes:
    """The PDF with the bytes of its embedded file whose name ends with `name` replaced
    (and its size with them)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(document)))
    names = writer.root_object["/Names"]["/EmbeddedFiles"]["/Names"]
    [reference] = [names[i + 1] for i in range(0, len(names), 2) if names[i].endswith(name)]
    stream = reference.get_object()["/EF"]["/F"].get_object()
    stream.set_data(content)
    stream["/Params"][NameObject("/Size")] = type(stream["/Params"]["/Size"])(len(content))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_receipt_whose_attachment_was_altered_fails(pdf_receipt, app, tmp_path, capsys):
    _, document = pdf_receipt
    receipt = json.loads(receipt_in_pdf(document))
    payload = base64.b64decode(receipt["payload"])
    # The approver's name is committed, not in the payload (evidence format 2): the
    # forger changes the statement the approver confirmed.
    assert b"Frederik Friis" not in payload
    assert b"godkender aftalen" in payload
    receipt["payload"] = base64.b64encode(
        payload.replace(b"godkender aftalen", b"afviser aftalen")
    ).decode()
    altered = json.dumps(receipt).encode()
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(_with_attachment(document, altered))
    assert receipt_in_pdf(tampered.read_bytes()) == altered
    keys = app.settings.keys_dir / "verifier-keys"
    capsys.readouterr()
    assert main(["verify", "--receipt", str(tampered), "--keys", str(keys)]) == 1
    out = capsys.readouterr().out
    assert "payload-mismatch" in out, out
    assert "all holds" not in out


def test_a_pdf_receipt_whose_embedded_agreement_was_swapped_fails(
    pdf_receipt, app, tmp_path, capsys
):
    """The receipt JSON still verifies, but the agreement beside it is not the one the
    signed approval names: the PDF no longer holds what was approved."""
    _, document = pdf_receipt
    other = demo_pdf("Driftsaftale", "2026.1 med en ændret side")
    swapped = tmp_path / "swapped.pdf"
    swapped.write_bytes(_with_attachment(document, other, name="driftsaftale.pdf"))
    assert receipt_in_pdf(swapped.read_bytes()) == receipt_in_pdf(document)
    keys = app.settings.keys_dir / "verifier-keys"
    capsys.readouterr()
    assert main(["verify", "--receipt", str(swapped), "--keys", str(keys)]) == 1
    out = capsys.readouterr().out
    assert "document-mismatch" in out, out
    assert hashlib.sha256(other).hexdigest() in out
    assert "all holds" not in out


def test_a_pdf_without_a_receipt_attachment_is_a_malformed_receipt(tmp_path, capsys):
    bare = demo_pdf("Driftsaftale", "2026.1")
    with pytest.raises(BundleError) as refused:
        receipt_in_pdf(bare)
    assert refused.value.reason == Reason.MALFORMED_RECEIPT
    path = tmp_path / "bare.pdf"
    path.write_bytes(bare)
    capsys.readouterr()
    assert main(["verify", "--receipt", str(path)]) == 1
    assert "malformed-receipt" in capsys.readouterr().out


def test_the_pdf_receipt_has_the_parts_pdf_a_3b_requires(pdf_receipt):
    """No PDF/A validator is packaged for Debian or PyPI (veraPDF is not), so this checks the
    clauses of ISO 19005-3 (level B) that the receipt could break, one by one: the claim in
    XMP metadata that matches the document information, the sRGB output intent, every font
    embedded, no encryption or JavaScript, a file identifier, and the attachment as an
    associated file with its relationship, MIME type and dates."""
    seq, document = pdf_receipt
    reader = PdfReader(io.BytesIO(document))
    root = reader.trailer["/Root"]
    assert not reader.is_encrypted
    assert "/ID" in reader.trailer
    assert root["/Lang"] == "da"
    # Tagged, for screen readers (PDF/A-3b does not ask for it; the receipt is for anyone).
    assert root["/MarkInfo"]["/Marked"]
    assert "/StructTreeRoot" in root
    assert "/JavaScript" not in root["/Names"]
    assert "/OpenAction" not in root
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8")
    assert 'pdfaid:part="3"' in xmp
    assert 'pdfaid:conformance="B"' in xmp
    title = reader.metadata["/Title"]
    assert title.startswith(f"Kvittering {seq}: Driftsaftale")
    assert f'<rdf:li xml:lang="x-default">{title}</rdf:li>' in xmp
    [intent] = [intent.get_object() for intent in root["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"  # ICC
    fonts = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                fonts.append(descriptor["/FontName"])
                assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), descriptor
    assert fonts
    # The JSON receipt first, the approved agreement second, each an associated file.
    receipt, agreement = [associated.get_object() for associated in root["/AF"]]
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    tree = {names[i]: names[i + 1].get_object() for i in range(0, len(names), 2)}
    for filespec, name, relationship, subtype in [
        (receipt, f"kvittering-{seq}.json", "/Source", "/application/json"),
        (agreement, "driftsaftale.pdf", "/Supplement", "/application/pdf"),
    ]:
        assert filespec["/AFRelationship"] == relationship
        assert filespec["/UF"] == filespec["/F"] == name
        assert tree[name] == filespec
        embedded = filespec["/EF"]["/F"].get_object()
        assert embedded["/Subtype"] == subtype
        assert {"/ModDate", "/Size"} <= set(embedded["/Params"])


def test_ledger_verify_of_a_pdf_receipt_loads_neither_the_event_store_nor_the_portal(
    pdf_receipt, app, tmp_path
):
    seq, document = pdf_receipt
    saved = tmp_path / f"kvittering-{seq}.pdf"
    saved.write_bytes(document)
    keys = app.settings.keys_dir / "verifier-keys"
    status, loaded = offline("verify", "--receipt", str(saved), "--keys", str(keys))
    assert status == 0
    assert "pypdf" in loaded
    assert loaded.isdisjoint({*NOT_FOR_OFFLINE, "weasyprint"}), sorted(loaded)


def test_nothing_is_fetched_while_a_pdf_receipt_is_laid_out(tmp_path):
    """A name or reason in the page could only ever be text, but should markup get in, the
    PDF still loads nothing: no file and no address is read."""
    from PIL import Image

    from web.receipt_pdf import pdf_receipt

    picture = tmp_path / "picture.png"
    Image.new("RGB", (40, 40), "red").save(picture)
    page = f'<html lang="da"><title>t</title><p>tekst</p><img src="{picture.as_uri()}"></html>'
    made = datetime.datetime.now(datetime.UTC)
    document = pdf_receipt(
        page, base_url="http://127.0.0.1/", receipt_json="{}", receipt_name="k.json", made_at=made
    )
    [sheet] = PdfReader(io.BytesIO(document)).pages
    assert not sheet["/Resources"].get("/XObject")
    assert "tekst" in sheet.extract_text()
