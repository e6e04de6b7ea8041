"""A signatory in the browser: Godkend and the receipt, the staff pages denied, CSRF."""

import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from approval_ledger import cli
from development.demo import AGREEMENT_TITLE, PERSONS_BY_KEY, demo_pdf
from ledger.evidence.bundle import Receipt
from ledger.identity import Actor
from tests.browser.conftest import axe_check, log_in_as, path_of

KOEBENHAVN = "64942212"  # the one demo municipality that has not approved yet
AARHUS = "55133018"
ODENSE = "35209115"
STATEMENT = (
    "Jeg er tegningsberettiget for Københavns Kommune og godkender aftalen på kommunens vegne"
)
# A desktop window and a phone (390 px); every page is also looked at in a 320 px window.
WIDTHS = [1280, 390]
PAGE_WIDTH = "() => document.documentElement.scrollWidth"
SHOTS = Path(os.environ.get("LEDGER_TEST_SHOTS", tempfile.gettempdir())) / "signatory-shots"


def test_a_signatory_approves_and_downloads_a_receipt_that_verifies_offline(
    page, portal, tmp_path, monkeypatch, capsys
):
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    page.goto("/")
    axe_check(page)
    page.get_by_role("link", name="Log ind med MitID Erhverv").click()
    log_in_as(page, "koebenhavn", check=True)
    expect(page.get_by_role("main")).to_contain_text(
        "Du er logget ind som Frederik Friis for Københavns Kommune (CVR 64942212) "
        "med sikringsniveau Betydelig."
    )
    axe_check(page)

    page.get_by_role("link", name="Se og godkend din organisations aftaler").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aftaler for Københavns Kommune")
    row = page.get_by_role("row", name=re.compile(agreement.title))
    expect(row).to_contain_text("Afventer godkendelse")
    axe_check(page)

    # A second tab on the agreement page, for a second click after the first one.
    other_tab = page.context.new_page()
    other_tab.goto(f"/aftaler/{agreement.id}")

    row.get_by_role("link", name=agreement.title).click()
    assert path_of(page) == f"/aftaler/{agreement.id}"
    expect(page.get_by_role("main")).to_contain_text(agreement.document_sha256)
    axe_check(page)

    # From the keyboard: a click just after scrolling past the agreement's PDF frame
    # can land in that frame in headless Chromium (its hit-test region lags).
    page.get_by_label(STATEMENT).press("Space")
    page.get_by_role("button", name="Godkend").press("Enter")
    page.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    seq = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text("Kvittering")
    expect(page.get_by_role("main")).to_contain_text("Frederik Friis, Københavns Kommune")
    axe_check(page)
    entry = portal.ledger.signed_log.entry(seq)
    assert entry.event_type == "Approved"
    assert entry.cvr == KOEBENHAVN
    assert entry.event.actor.person_uuid == PERSONS_BY_KEY["koebenhavn"].person_uuid
    expect(page.get_by_role("main")).to_contain_text(entry.event.authentication.assertion_id)

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent kvittering (JSON)").click()
    download = downloading.value
    assert download.suggested_filename == f"kvittering-{seq}.json"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert Receipt.from_json(saved.read_text(encoding="utf-8")).leaf == entry.leaf
    monkeypatch.setenv("LEDGER_DATA_DIR", str(portal.data_dir))
    capsys.readouterr()
    assert cli.main(["verify", "--receipt", str(saved), "--keys", str(portal.verifier_keys)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("all holds")

    # A reload, and a second click in the other tab, show the same receipt.
    page.reload()
    assert path_of(page) == f"/kvitteringer/{seq}"
    expect(page.get_by_role("heading", level=1)).to_have_text("Kvittering")
    other_tab.get_by_role("button", name="Godkend").press("Enter")
    other_tab.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    assert path_of(other_tab) == f"/kvitteringer/{seq}"
    assert portal.event_types(KOEBENHAVN).count("Approved") == 1

    page.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Aftaler").click()
    expect(page.get_by_role("row", name=re.compile(agreement.title))).to_contain_text(
        "Godkendt af Frederik Friis"
    )


def test_a_signatory_is_denied_the_staff_and_audit_pages(page, portal):
    log_in_as(page, "aarhus")
    menu = page.get_by_role("navigation", name="Hovedmenu")
    expect(menu.get_by_role("link", name="Aftaler")).to_be_visible()
    expect(menu.get_by_role("link", name="Drift")).to_have_count(0)
    expect(menu.get_by_role("link", name="Revision")).to_have_count(0)
    for path in ("/drift/", "/revision/"):
        answer = page.goto(path)
        assert answer.status == 403
        expect(page.locator("html")).to_have_attribute("lang", "da")
        expect(page.get_by_role("heading", level=1)).to_have_text("Ingen adgang")
        expect(page.get_by_role("main")).to_contain_text(
            "Du har ikke adgang til denne side med det login, du bruger nu."
        )
    axe_check(page)


def test_a_post_without_its_csrf_token_is_refused(page, portal):
    addendum = portal.ledger.publish_agreement(
        title="Tillæg til driftsaftalen",
        version_label="2026.2",
        document=demo_pdf("Tillaeg", "2026.2"),
        document_name="tillaeg-2026.2.pdf",
        actor=Actor.cli_operator(),
    )
    before = len(portal.event_types())
    log_in_as(page, "aarhus", f"/aftaler/{addendum.id}")

    # A form that lost its token: the Godkend form with the hidden field taken out.
    page.locator("form:has(button:text-is('Godkend')) input[name=csrf_token]").evaluate(
        "field => field.remove()"
    )
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.get_by_role("button", name="Godkend").press("Enter")
    assert posted.value.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("Forkert forespørgsel")
    expect(page.get_by_role("main")).to_contain_text("Formularen mangler sin sikkerhedsnøgle")
    axe_check(page)

    # A bare POST with the session cookie but no token, as a cross-site form would send.
    bare = page.request.post(f"{portal.url}/aftaler/{addendum.id}/godkend")
    assert bare.status == 400
    assert "sikkerhedsnøgle" in bare.text()

    assert len(portal.event_types()) == before
    assert portal.ledger.approval(AARHUS, addendum.id) is None
    page.goto(f"/aftaler/{addendum.id}")
    expect(page.get_by_role("button", name="Godkend")).to_be_visible()  # still logged in


def test_the_declaration_and_history_pages_pass_axe_also_with_an_upload_refused(page, portal):
    log_in_as(page, "koebenhavn", "/historik")
    expect(page.get_by_role("heading", level=1)).to_have_text("Historik for Københavns Kommune")
    axe_check(page)
    menu = page.get_by_role("navigation", name="Hovedmenu")
    menu.get_by_role("link", name="Ledelseserklæring").click()
    expect(page.get_by_role("main")).to_contain_text("Der er endnu ikke afleveret en erklæring.")
    axe_check(page)
    page.get_by_label(re.compile("Den underskrevne erklæring")).set_input_files(
        {"name": "erklaering.pdf", "mimeType": "application/pdf", "buffer": b"not a pdf"}
    )
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.get_by_role("button", name="Aflever erklæringen").click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("ikke en PDF")
    axe_check(page)
    assert "HandedIn" not in portal.event_types(KOEBENHAVN)


def looked_at(page, name: str, width: int) -> None:
    """axe-core clean, no sideways scrolling at the test's width and at 320 px, and a
    screenshot of each for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    axe_check(page)
    for seen in dict.fromkeys([width, 320]):
        page.set_viewport_size({"width": seen, "height": 900})
        assert page.evaluate(PAGE_WIDTH) <= seen, f"{name} at {seen} px"
        page.screenshot(path=SHOTS / f"{name}-{seen}.png", full_page=True)
    page.set_viewport_size({"width": width, "height": 900})


def publish(portal, title: str, label: str):
    return portal.ledger.publish_agreement(
        title=title,
        version_label=label,
        document=demo_pdf(title, label),
        document_name=f"{label}.pdf",
        actor=Actor.cli_operator(),
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_agreement_is_read_in_the_page_and_godkend_needs_the_statement_ticked(
    new_context, portal, width
):
    agreement = publish(portal, f"Tillæg om logning ({width})", "2026.1")
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    refused_frames = []
    page.on("console", lambda message: refused_frames.append(message.text))
    with page.expect_response(re.compile(r"/dokument\?visning=side$")) as shown:
        log_in_as(page, "koebenhavn", f"/aftaler/{agreement.id}")
    assert shown.value.status == 200
    assert shown.value.headers["content-type"] == "application/pdf"
    frame = page.locator("iframe.document")
    expect(frame).to_be_visible()
    expect(frame).to_have_attribute("title", f"Aftalens dokument: {agreement.document_name}")
    assert not [text for text in refused_frames if "Content Security Policy" in text]
    # A browser without a PDF viewer (headless Chromium shows a grey frame) has the plain
    # download beside the frame, which gives the agreement's own bytes.
    download = page.get_by_role("link", name="Hent aftalen som PDF")
    expect(download).to_be_visible()
    with page.expect_download() as downloaded:
        download.press("Enter")
    assert Path(downloaded.value.path()).read_bytes() == demo_pdf(agreement.title, "2026.1")
    assert downloaded.value.suggested_filename == agreement.document_name
    box = page.get_by_label(STATEMENT)
    expect(box).not_to_be_checked()
    looked_at(page, f"aftale-{width}", width)

    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.get_by_role("button", name="Godkend").press("Enter")
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_have_text(
        "Sæt kryds ved erklæringen, før du trykker Godkend. Aftalen er ikke godkendt."
    )
    expect(box).to_have_attribute("aria-invalid", "true")
    assert portal.ledger.approval(KOEBENHAVN, agreement.id) is None
    looked_at(page, f"aftale-uden-kryds-{width}", width)

    # From the keyboard: a click just after scrolling past the agreement's PDF frame
    # can land in that frame in headless Chromium (its hit-test region lags).
    page.get_by_label(STATEMENT).press("Space")
    page.get_by_role("button", name="Godkend").press("Enter")
    page.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    seq = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("status").filter(has_text="Hvad sker der nu?")).to_contain_text(
        "Hvad sker der nu? Aftalen er godkendt for Københavns Kommune"
    )
    assert portal.ledger.signed_log.entry(seq).event.confirmed_statement == STATEMENT
    page.goto(f"/aftaler/{agreement.id}")
    expect(page.get_by_role("heading", name="Hvad sker der nu?")).to_be_visible()
    expect(page.get_by_role("button", name="Godkend")).to_have_count(0)
    looked_at(page, f"aftale-godkendt-{width}", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_with_two_current_versions_the_pages_say_which_is_which(new_context, portal, width):
    title = f"Databehandleraftale ({width})"
    older, newer = publish(portal, title, "2026.1"), publish(portal, title, "2026.2")
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    log_in_as(page, "koebenhavn", "/aftaler")
    expect(page.get_by_role("main")).to_contain_text(
        f"Af {title} er der 2 gældende versioner: 2026.1 og 2026.2. De erstatter ikke hinanden: "
        "hver version skal godkendes for sig, indtil leverandøren trækker en af dem tilbage."
    )
    looked_at(page, f"aftaler-to-versioner-{width}", width)
    page.goto(f"/aftaler/{newer.id}")
    versions = page.get_by_role("region", name="Hvilken version skal godkendes?")
    expect(versions).to_contain_text("Denne side gælder version 2026.2.")
    expect(versions).to_contain_text("Versionerne erstatter ikke hinanden")
    versions.get_by_role("link", name="Version 2026.1").click()
    assert path_of(page) == f"/aftaler/{older.id}"
    expect(page.get_by_role("region", name="Hvilken version skal godkendes?")).to_contain_text(
        "Denne side gælder version 2026.1."
    )
    looked_at(page, f"aftale-to-versioner-{width}", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_history_reads_as_danish_sentences_with_a_receipt_for_each(new_context, portal, width):
    portal.ledger.record_login_rejected(
        reason="loa-too-low",
        idp="https://idp.example",
        person_uuid=PERSONS_BY_KEY["low"].person_uuid,
        cvr=AARHUS,
    )
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    log_in_as(page, "aarhus", "/historik")
    expect(page.get_by_role("heading", level=1)).to_have_text("Historik for Aarhus Kommune")
    events = page.get_by_role("main").get_by_role("list").first
    expect(events).to_contain_text(
        "Anne Andersen (Aarhus Kommune) godkendte Driftsaftale for OS2faktor Full Service IdP, "
        "version 2026.1, med MitID Erhverv på sikringsniveau Betydelig og bekræftede: »Jeg er "
        "tegningsberettiget for Aarhus Kommune og godkender aftalen på kommunens vegne«."
    )
    expect(events).to_contain_text(
        "Et login med MitID Erhverv for kommunen blev afvist, fordi sikringsniveauet var for lavt"
    )
    expect(events).to_contain_text("Anne Andersen (Aarhus Kommune) afleverede den fælles")
    main = page.get_by_role("main").inner_text()
    for raw in ("agreement_version_id", "loa-too-low", "{'", PERSONS_BY_KEY["low"].person_uuid):
        assert raw not in main
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", main)  # no UUIDs
    assert re.search(r"\d{1,2}\. [a-zæøå]+ \d{4} kl\. \d{2}\.\d{2}\n", main)  # to the minute
    looked_at(page, f"historik-{width}", width)
    approved = events.get_by_role("listitem").filter(has_text="godkendte Driftsaftale")
    approved.get_by_role("link", name=re.compile("Se kvittering")).click()
    assert re.fullmatch(r"/kvitteringer/\d+", path_of(page))
    entry = portal.ledger.signed_log.entry(int(path_of(page).rsplit("/", 1)[1]))
    assert (entry.event_type, entry.cvr) == ("Approved", AARHUS)


@pytest.mark.parametrize(
    ("width", "persona", "cvr"), [(1280, "koebenhavn", KOEBENHAVN), (390, "odense", ODENSE)]
)
def test_the_signatory_downloads_its_handed_in_and_countersigned_declaration(
    new_context, portal, tmp_path, width, persona, cvr
):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    log_in_as(page, persona, "/erklaering")
    expect(page.get_by_role("heading", name="Hvad sker der nu?")).to_be_visible()
    handed_in = demo_pdf("Faelles ledelseserklaering", persona)
    page.get_by_label(re.compile("Den underskrevne erklæring")).set_input_files(
        {"name": "erklaering.pdf", "mimeType": "application/pdf", "buffer": handed_in}
    )
    page.get_by_role("button", name="Aflever erklæringen").click()
    page.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    expect(page.get_by_role("status").filter(has_text="Hvad sker der nu?")).to_contain_text(
        "Hvad sker der nu? Erklæringen er afleveret. Nu underskriver leverandøren den"
    )
    page.get_by_role("navigation", name="Hovedmenu").get_by_role(
        "link", name="Ledelseserklæring"
    ).click()
    expect(page.get_by_role("link", name="Hent den medunderskrevne erklæring (PDF)")).to_have_count(
        0
    )
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent den erklæring, I afleverede (PDF)").click()
    assert downloading.value.suggested_filename == f"erklaering-{cvr}-afleveret.pdf"
    downloading.value.save_as(tmp_path / "afleveret.pdf")
    assert (tmp_path / "afleveret.pdf").read_bytes() == handed_in
    looked_at(page, f"erklaering-afleveret-{width}", width)

    countersigned = demo_pdf("Medunderskrevet erklaering", persona)
    portal.ledger.countersign_declaration(
        cvr=cvr, document=countersigned, document_name="m.pdf", actor=Actor.cli_operator()
    )
    page.reload()
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent den medunderskrevne erklæring (PDF)").click()
    assert downloading.value.suggested_filename == f"erklaering-{cvr}-medunderskrevet.pdf"
    downloading.value.save_as(tmp_path / "medunderskrevet.pdf")
    assert (tmp_path / "medunderskrevet.pdf").read_bytes() == countersigned
    looked_at(page, f"erklaering-medunderskrevet-{width}", width)
