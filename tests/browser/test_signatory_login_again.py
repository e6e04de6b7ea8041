"""Godkend after NemLog-in again: the page a signatory comes back to says that nothing was
approved yet and what to do. Every login in this module's portal is too old for Godkend, so
Godkend always asks for a new one (in the real portal: a login older than 15 minutes)."""

import datetime
import re

import pytest
from playwright.sync_api import expect

from development.demo import AGREEMENT_TITLE
from tests.browser.conftest import axe_check, choose_persona, log_in_as, path_of

PORTAL_CONFIG = {"APPROVAL_MAX_AUTH_AGE": datetime.timedelta(0)}
KOEBENHAVN = "64942212"
STATEMENT = (
    "Jeg er tegningsberettiget for Københavns Kommune og godkender aftalen på kommunens vegne"
)
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


@pytest.mark.parametrize("width", [1280, 390])
def test_after_the_login_godkend_asks_for_the_page_says_nothing_is_approved_yet(
    new_context, portal, width
):
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    log_in_as(page, "koebenhavn", f"/aftaler/{agreement.id}")
    expect(page.locator("#logget-ind-igen")).to_have_count(0)
    # From the keyboard: a click just after scrolling past the agreement's PDF frame can
    # land in that frame in headless Chromium (its hit-test region lags).
    page.get_by_label(STATEMENT).press("Space")
    page.get_by_role("button", name="Godkend").press("Enter")
    page.wait_for_url(re.compile(r"/dev-idp/sso"))
    choose_persona(page, "koebenhavn")
    assert path_of(page) == f"/aftaler/{agreement.id}?logget_ind_igen=1"
    notice = page.get_by_role("status").filter(has_text="logget ind igen")
    expect(notice).to_contain_text("Du er logget ind igen, men aftalen er endnu ikke godkendt.")
    expect(notice).to_contain_text(
        "Intet er registreret endnu. Sæt kryds ved erklæringen nedenfor, og tryk Godkend igen."
    )
    expect(page.get_by_label(STATEMENT)).not_to_be_checked()
    assert portal.ledger.approval(KOEBENHAVN, agreement.id) is None
    assert "Approved" not in portal.event_types(KOEBENHAVN)
    axe_check(page)
    for seen in (width, 320):
        page.set_viewport_size({"width": seen, "height": 900})
        assert page.evaluate(PAGE_WIDTH) <= seen
