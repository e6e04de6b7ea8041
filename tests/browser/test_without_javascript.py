"""The core flow with JavaScript off: log in (the IdP's Fortsæt button), Godkend, the
receipt, log out. The portal's pages use no script; only the IdP's page posts itself on."""

import re

import pytest
from playwright.sync_api import expect

from development.demo import AGREEMENT_TITLE, PERSONS_BY_KEY
from tests.browser.conftest import axe_check, path_of

KOEBENHAVN = "64942212"


@pytest.fixture
def page(new_context):
    return new_context(java_script_enabled=False).new_page()


def test_a_signatory_logs_in_approves_and_logs_out_without_javascript(page, portal):
    page.goto("/")
    page.get_by_role("link", name="Log ind med MitID Erhverv").click()
    page.get_by_role("link", name=PERSONS_BY_KEY["koebenhavn"].name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Logger ind som Frederik Friis")
    assert path_of(page).startswith("/dev-idp/sso?")  # nothing posted it on
    axe_check(page)
    page.get_by_role("button", name="Fortsæt").click()
    assert path_of(page) == "/"
    expect(page.locator("header")).to_contain_text("Frederik Friis, Københavns Kommune")

    page.get_by_role("link", name="Se og godkend din organisations aftaler").click()
    page.get_by_role("link", name=AGREEMENT_TITLE).click()
    # From the keyboard: a click just after scrolling past the agreement's PDF frame
    # can land in that frame in headless Chromium (its hit-test region lags).
    page.get_by_label(re.compile("Jeg er tegningsberettiget")).press("Space")
    page.get_by_role("button", name="Godkend").press("Enter")
    assert re.fullmatch(r"/kvitteringer/\d+", path_of(page))
    expect(page.get_by_role("heading", level=1)).to_have_text("Kvittering")
    seq = int(path_of(page).rsplit("/", 1)[1])
    assert portal.ledger.signed_log.entry(seq).event_type == "Approved"
    assert portal.event_types(KOEBENHAVN).count("Approved") == 1
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Hent kvittering (JSON)").click()
    assert downloading.value.suggested_filename == f"kvittering-{seq}.json"

    page.get_by_role("button", name="Log ud").click()  # through the IdP's single logout
    expect(page.get_by_role("heading", level=1)).to_have_text("Du er logget ud")
    axe_check(page)
    page.goto("/")
    expect(page.get_by_role("link", name="Log ind med MitID Erhverv")).to_be_visible()
