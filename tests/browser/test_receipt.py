"""The receipt in Chromium as the signatory reads, keeps and prints it: the plain sentence,
the state of a reset approval today, the folded technical facts, the PDF receipt downloaded
and verified from the PDF, at 1280, 390 and 320 px without sideways scrolling and clean for axe,
and its print version without navigation or buttons."""

import re

import pytest
from playwright.sync_api import expect

from approval_ledger import cli
from tests.browser.conftest import axe_check, log_in_as
from tests.browser.test_through_nginx import STICKING_OUT

ODENSE = "35209115"  # the demo's reset approval (by a clerk), approved again by the signatory
WIDTHS = (1280, 390, 320)
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


def _odense_approvals(portal) -> tuple[int, int, int]:
    """The seqs of Odense's reset approval, its reset, and the approval in force."""
    entries = portal.ledger.history(cvr=ODENSE)
    by_type = {}
    for entry in entries:
        by_type.setdefault(entry.event_type, []).append(entry.seq)
    (reset,) = by_type["ApprovalReset"]
    first, again = sorted(by_type["Approved"])
    return first, reset, again


def _no_sideways_scroll(page, width: int) -> None:
    assert page.evaluate(PAGE_WIDTH) <= width
    assert page.evaluate(STICKING_OUT) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_receipt_of_a_reset_approval_says_so_in_words_at_each_width(
    new_context, portal, width, tmp_path
):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    first, reset, again = _odense_approvals(portal)
    log_in_as(page, "odense", f"/kvitteringer/{first}")
    main = page.get_by_role("main")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kvittering")
    expect(main.locator("p.summary")).to_contain_text(
        re.compile(
            r"^Odense Kommune godkendte Driftsaftale for OS2faktor Full Service IdP, version "
            r"2026\.1, den \d+\. \w+ \d{4} kl\. \d\d\.\d\d\. Godkendt af Bo Berg med MitID "
            r"Erhverv på sikringsniveau Betydelig\.$"
        )
    )
    state = page.get_by_role("status")
    expect(state).to_contain_text("Denne godkendelse gælder ikke længere.")
    expect(state).to_contain_text(
        re.compile(
            r"Denne godkendelse blev nulstillet den \d+\. \w+ \d{4} kl\. \d\d\.\d\d af .+? med "
            r"begrundelsen »Bo Berg er ikke tegningsberettiget for Odense Kommune\.«"
        )
    )
    expect(state).to_contain_text("Aftalen blev godkendt igen")
    # The facts are folded away until asked for, then named in Danish.
    facts = main.locator("details dl.facts")
    expect(facts).to_be_hidden()
    _no_sideways_scroll(page, width)
    axe_check(page)
    page.screenshot(path=tmp_path / f"receipt-reset-{width}.png", full_page=True)
    main.get_by_text("Tekniske oplysninger til kontrollen").click()
    expect(facts).to_be_visible()
    expect(facts).to_contain_text("Hændelsens fingeraftryk")
    _no_sideways_scroll(page, width)
    axe_check(page)
    page.screenshot(path=tmp_path / f"receipt-facts-{width}.png", full_page=True)

    state.get_by_role("link", name="Se kvitteringen for nulstillingen").click()
    assert page.url.endswith(f"/kvitteringer/{reset}")
    expect(main.locator("p.summary")).to_contain_text("blev nulstillet den")
    _no_sideways_scroll(page, width)
    page.go_back()
    page.get_by_role("link", name="Se kvitteringen for den gældende godkendelse").click()
    assert page.url.endswith(f"/kvitteringer/{again}")
    expect(main).to_contain_text("Godkendelsen gælder fortsat.")
    expect(main.locator("p.summary")).to_contain_text("Godkendt af Clara Christensen")
    _no_sideways_scroll(page, width)
    axe_check(page)
    page.screenshot(path=tmp_path / f"receipt-in-force-{width}.png", full_page=True)


def test_the_pdf_receipt_downloads_from_the_page_and_verifies_offline(
    page, portal, tmp_path, monkeypatch, capsys
):
    _, _, again = _odense_approvals(portal)
    log_in_as(page, "odense", f"/kvitteringer/{again}")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent kvittering (PDF)").click()
    download = downloading.value
    assert download.suggested_filename == f"kvittering-{again}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-1.7")
    monkeypatch.setenv("LEDGER_DATA_DIR", str(portal.data_dir))
    capsys.readouterr()
    assert cli.main(["verify", "--receipt", str(saved), "--keys", str(portal.verifier_keys)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("all holds")
    # The approved document, from the receipt.
    with page.expect_download() as downloading:
        page.get_by_role("link", name="driftsaftale-2026.1.pdf").click()
    assert downloading.value.suggested_filename == "driftsaftale-2026.1.pdf"


def test_a_printed_receipt_has_no_navigation_or_buttons_and_prints_the_facts(
    page, portal, tmp_path
):
    first, _, _ = _odense_approvals(portal)
    log_in_as(page, "odense", f"/kvitteringer/{first}")
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Hovedmenu")).to_be_hidden()
    expect(page.get_by_role("button", name="Log ud")).to_be_hidden()
    expect(page.get_by_role("link", name="Hent kvittering (PDF)")).to_be_hidden()
    expect(page.locator("details dl.facts")).to_be_visible()
    colours = page.evaluate(
        """() => [getComputedStyle(document.body).color,
                  getComputedStyle(document.body).backgroundColor,
                  getComputedStyle(document.querySelector("main a")).color]"""
    )
    assert colours == ["rgb(0, 0, 0)", "rgb(255, 255, 255)", "rgb(0, 0, 0)"]
    link_target = page.evaluate(
        """() => getComputedStyle(document.querySelector("main p a[href]"), "::after").content"""
    )
    assert "/kvitteringer/" in link_target
    printed = tmp_path / "printed.pdf"
    page.pdf(path=printed)
    assert printed.stat().st_size > 0


# Every page prints as a document: no navigation, buttons or forms, black text on white.
PRINTED = {
    "odense": ["/aftaler", "/historik", "/erklaering"],
    "staff": ["/drift/", "/drift/kunder"],
    "auditor": ["/revision/"],
}
SHOWN_IN_PRINT = """() => Array.from(document.querySelectorAll("nav, form, button, .button"))
    .filter(e => e.checkVisibility()).map(e => e.tagName + "." + e.className)"""
NOT_BLACK_ON_WHITE = """() => Array.from(document.querySelectorAll("body *"))
    .filter(e => e.checkVisibility())
    .filter(e => {
        const style = getComputedStyle(e);
        const paper = style.backgroundColor;
        return style.color !== "rgb(0, 0, 0)"
            || !(paper === "rgba(0, 0, 0, 0)" || paper === "rgb(255, 255, 255)");
    })
    .map(e => e.tagName + "." + e.className)"""


@pytest.mark.parametrize("persona", sorted(PRINTED))
def test_every_page_prints_black_on_white_without_navigation_buttons_or_forms(new_context, persona):
    page = new_context().new_page()
    first, *others = PRINTED[persona]
    log_in_as(page, persona, first)
    page.emulate_media(media="print")
    for path in [first, *others]:
        page.goto(path)
        assert page.evaluate(SHOWN_IN_PRINT) == [], path
        assert page.evaluate(NOT_BLACK_ON_WHITE) == [], path
