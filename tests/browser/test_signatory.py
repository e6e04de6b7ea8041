"""A signatory in the browser: Godkend and the receipt, the staff pages denied, CSRF."""

import re

from playwright.sync_api import expect

from approval_ledger import cli
from development.demo import AGREEMENT_TITLE, PERSONS_BY_KEY, demo_pdf
from ledger.evidence.bundle import Receipt
from ledger.identity import Actor
from tests.browser.conftest import axe_check, log_in_as, path_of

KOEBENHAVN = "64942212"  # the one demo municipality that has not approved yet
AARHUS = "55133018"


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

    page.get_by_role("button", name="Godkend").click()
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
    other_tab.get_by_role("button", name="Godkend").click()
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
        page.get_by_role("button", name="Godkend").click()
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
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Historik for CVR {KOEBENHAVN}")
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
