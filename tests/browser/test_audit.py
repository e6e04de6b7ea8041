"""An auditor finds two approvals and the reset between them, and exports a bundle that
`ledger verify --bundle` accepts offline."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from approval_ledger import cli
from development.demo import AGREEMENT_TITLE, AGREEMENT_VERSION, PERSONS_BY_KEY
from tests.browser.conftest import axe_check, log_in_as, path_of

AARHUS = "55133018"
ODENSE = "35209115"  # the demo data: Bo Berg approved, staff reset it, Clara Christensen approved
RESET_REASON = "Bo Berg er ikke tegningsberettiget for Odense Kommune."


def test_an_auditor_finds_both_approvals_and_the_reset_and_exports_a_bundle_that_verifies(
    page, portal, tmp_path, monkeypatch, capsys
):
    log_in_as(page, "auditor")
    page.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Revision").click()
    assert path_of(page) == "/revision/"
    axe_check(page)

    page.get_by_label("CVR-nummer").fill(ODENSE)
    page.get_by_label("Aftaleversion").select_option(
        label=f"{AGREEMENT_TITLE}, version {AGREEMENT_VERSION}"
    )
    page.get_by_role("button", name="Søg", exact=True).click()
    assert path_of(page).startswith(f"/revision/?cvr={ODENSE}&aftale=")
    results = page.locator("table:has(caption:text-matches('^Hændelser')) tbody tr")
    expect(results).to_have_count(3)
    events = [text.strip() for text in results.locator("xpath=./*[3]/strong").all_inner_texts()]
    assert events == ["Godkendt", "Godkendelse nulstillet", "Godkendt"]  # newest first
    expect(results.nth(0)).to_contain_text("Clara Christensen")
    expect(results.nth(1)).to_contain_text(RESET_REASON)
    expect(results.nth(2)).to_contain_text("Bo Berg")
    for row in results.all():
        expect(row).to_contain_text("Verificeret")
    axe_check(page)

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent bevispakke (zip) med alle 3").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".zip")
    bundle = tmp_path / download.suggested_filename
    download.save_as(bundle)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(portal.data_dir))
    capsys.readouterr()
    assert cli.main(["verify", "--bundle", str(bundle), "--keys", str(portal.verifier_keys)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("subset bundle")
    assert ": 3 entries" in summary
    assert summary.endswith("all holds")

    results.nth(0).get_by_role("link", name=ODENSE).click()
    assert path_of(page) == f"/revision/kunde/{ODENSE}"
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Tidslinje for Odense Kommune (CVR {ODENSE})"
    )
    axe_check(page)


WIDTHS = [1280, 390, 320]
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


def auditor_page(new_context, width: int, path: str = "/revision/"):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    log_in_as(page, "auditor", "/revision/")
    if path != "/revision/":
        page.goto(path)
    return page


def fits(page, width: int) -> None:
    """No sideways scrolling (WCAG 2.1, 1.4.10 Reflow) and axe-core clean."""
    page.wait_for_load_state()  # measured with its style sheet, not while it loads
    assert page.evaluate(PAGE_WIDTH) <= width, path_of(page)
    axe_check(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_one_line_per_event_with_its_details_in_danish_on_demand(new_context, portal, width):
    portal.ledger.record_login_rejected(
        reason="loa-too-low",
        idp="https://idp.example",
        person_uuid=PERSONS_BY_KEY["low"].person_uuid,
        cvr=AARHUS,
    )
    page = auditor_page(new_context, width)
    rows = page.locator("table.results tbody tr")
    expect(rows.first).to_be_visible()
    refusal = rows.filter(has_text="Login afvist").first
    details = refusal.locator("details")
    expect(details.locator("dl")).to_be_hidden()  # folded away until asked for
    details.locator("summary").click()
    expect(details.locator("dl")).to_be_visible()
    expect(details).to_contain_text("Afvisningsårsag")
    expect(details).to_contain_text("Sikringsniveauet var for lavt")
    summary = refusal.locator("td").nth(1).locator(".row-part")
    expect(summary).to_have_text("Sikringsniveauet var for lavt (under Betydelig)")  # in words
    for english in ("assertion_id", "person_uuid", "authn_instant", "{'"):
        assert english not in page.locator("table.results").inner_text()
    approval = rows.filter(has_text="Clara Christensen").first.locator("details")
    approval.locator("summary").click()
    for name in ("Sikringsniveau", "Loginbevisets ID", "Logget ind (dansk tid)", "IP-adresse"):
        expect(approval.locator("dt", has_text=name)).to_have_count(1)
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reset_links_to_the_approval_it_invalidated_and_each_row_to_its_receipt(
    new_context, width
):
    page = auditor_page(new_context, width, f"/revision/?cvr={ODENSE}")
    reset = page.locator("table.results tbody tr", has_text="Godkendelse nulstillet")
    invalidated = reset.get_by_role("link", name=re.compile(r"^Nulstiller godkendelsen nr\. \d+"))
    seq = re.search(r"\d+", invalidated.inner_text()).group()
    bo = page.locator("table.results tbody tr").filter(
        has=page.locator("td:nth-child(5)", has_text="Bo Berg")
    )
    assert bo.locator("th").inner_text().strip() == seq
    fits(page, width)
    bo.get_by_role("link", name=f"Kvittering for nr. {seq}").click()
    assert path_of(page) == f"/kvitteringer/{seq}"
    page.go_back()
    invalidated.click()
    assert path_of(page) == f"/kvitteringer/{seq}"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_timeline_tells_an_approval_its_reset_and_the_approval_again_as_one_story(
    new_context, width
):
    page = auditor_page(new_context, width, f"/revision/kunde/{ODENSE}")
    story = page.locator(
        "section.story", has_text=f"{AGREEMENT_TITLE}, version {AGREEMENT_VERSION}"
    )
    steps = [text.split("\n", 1)[1] for text in story.locator("ol li").all_inner_texts()]
    assert steps[0].startswith("Godkendt af Bo Berg, sikringsniveau Betydelig.")
    assert steps[1].startswith(f"Nulstillet af driften med begrundelsen »{RESET_REASON}«")
    assert steps[2].startswith("Godkendt igen af Clara Christensen, sikringsniveau Høj.")
    expect(story).to_contain_text("Godkendt nu")
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_counts_per_type_sorting_and_page_size(new_context, width):
    page = auditor_page(new_context, width)
    counts = page.locator("ul.type-counts")
    expect(counts).to_contain_text("Godkendt: 3")
    page.get_by_label("Rækkefølge").select_option(label="Ældste først")
    page.get_by_label("Hændelser pr. side").select_option("50")
    page.get_by_role("button", name="Søg", exact=True).click()
    assert "orden=aeldste" in path_of(page)
    first = page.locator("table.results tbody tr th").first
    expect(first).to_have_text("0")  # the log's first event first
    expect(page.get_by_label("Rækkefølge")).to_have_value("aeldste")
    fits(page, width)
    counts.get_by_role("link", name="Godkendt").click()
    events = page.locator("table.results tbody tr td:nth-child(3) strong")
    expect(events).to_have_count(3)
    assert set(events.all_inner_texts()) == {"Godkendt"}
    assert "orden=aeldste" in path_of(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_bad_filter_shows_beside_its_field_and_keeps_the_form(new_context, width):
    page = auditor_page(new_context, width)
    page.get_by_label("CVR-nummer").fill("123")
    page.get_by_label("Fra og med dato").fill("1-12-2026")
    page.get_by_label("Til og med dato").fill("31.11.2026")
    page.get_by_role("button", name="Søg", exact=True).click()
    cvr = page.get_by_label("CVR-nummer")
    expect(cvr).to_have_value("123")
    expect(cvr).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Fra og med dato")).to_have_value("1-12-2026")
    expect(page.get_by_label("Til og med dato")).to_have_value("31.11.2026")
    expect(page.locator("#cvr-fejl")).to_contain_text("Et CVR-nummer består af 8 cifre")
    expect(page.locator("#til-fejl")).to_contain_text("findes ikke")
    expect(page.locator("#fra-fejl")).to_have_count(0)  # 1-12-2026 is a date
    assert page.locator("table.results").count() == 0
    fits(page, width)
    cvr.fill(ODENSE)
    page.get_by_label("Til og med dato").fill("")
    page.get_by_label("Fra og med dato").fill("1.1.2026")
    page.get_by_role("button", name="Søg", exact=True).click()
    expect(page.locator("table.results tbody tr")).to_have_count(4)


def test_the_csv_opens_in_danish_excel_with_a_column_per_fact(page, portal, tmp_path):
    log_in_as(page, "auditor", f"/revision/?cvr={ODENSE}")
    with page.expect_download() as downloading:
        page.get_by_role("link", name=re.compile("som regneark")).click()
    saved = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data[3:].decode(), newline=""), delimiter=";"))
    assert {row["Hændelse"] for row in rows} >= {"Godkendt", "Godkendelse nulstillet"}
    reset = next(row for row in rows if row["Hændelse"] == "Godkendelse nulstillet")
    assert reset["Begrundelse"] == RESET_REASON
