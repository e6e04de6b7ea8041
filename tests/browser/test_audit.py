"""An auditor finds two approvals and the reset between them, and exports a bundle that
`ledger verify --bundle` accepts offline."""

from playwright.sync_api import expect

from approval_ledger import cli
from development.demo import AGREEMENT_TITLE, AGREEMENT_VERSION
from tests.browser.conftest import axe_check, log_in_as, path_of

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
    events = [text.strip() for text in results.locator("xpath=./*[3]").all_inner_texts()]
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
