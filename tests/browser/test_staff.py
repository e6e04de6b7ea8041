"""Staff reset an approval with a reason, and the signatory approves again."""

import re

from playwright.sync_api import expect

from development.demo import AGREEMENT_TITLE, CUSTOMERS
from tests.browser.conftest import axe_check, log_in_as, path_of

AARHUS = "55133018"
REASON = "Anne Andersen var ikke tegningsberettiget, da hun godkendte."


def test_staff_reset_an_approval_with_a_reason_and_the_signatory_approves_again(
    new_context, portal
):
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    assert portal.ledger.approval(AARHUS, agreement.id).is_approved  # seeded
    staff = new_context().new_page()
    log_in_as(staff, "staff")
    staff.get_by_role("navigation", name="Hovedmenu").get_by_role("link", name="Drift").click()
    assert path_of(staff) == "/drift/"
    aarhus_row = staff.get_by_role("row").filter(has_text=f"CVR {AARHUS}")
    expect(aarhus_row).to_contain_text("Godkendt")
    axe_check(staff)

    aarhus_row.get_by_role("link", name=CUSTOMERS[AARHUS]).click()
    assert path_of(staff) == f"/drift/kunder/{AARHUS}"
    staff.get_by_role("link", name=re.compile("Nulstil godkendelsen")).click()
    assert path_of(staff) == f"/drift/godkendelser/{AARHUS}/{agreement.id}/nulstil"
    expect(staff.get_by_role("heading", level=1)).to_contain_text(CUSTOMERS[AARHUS])
    axe_check(staff)
    staff.get_by_label("Hvorfor skal godkendelsen nulstilles?").fill(REASON)
    staff.get_by_role("button", name="Videre til bekræftelse").click()
    expect(staff.get_by_role("heading", name="Bekræft nulstillingen")).to_be_visible()
    expect(staff.get_by_role("main")).to_contain_text(REASON)
    axe_check(staff)
    assert portal.ledger.approval(AARHUS, agreement.id).is_approved  # not yet
    staff.get_by_role("button", name="Bekræft nulstilling").click()
    assert path_of(staff) == "/drift/"
    expect(staff.get_by_role("status")).to_contain_text("er nulstillet")
    axe_check(staff)  # the overview with its message
    approval = portal.ledger.approval(AARHUS, agreement.id)
    assert not approval.is_approved
    assert approval.last_reset_reason == REASON
    [*_, reset] = [e for e in portal.ledger.history(cvr=AARHUS) if e.event_type == "ApprovalReset"]
    assert reset.actor.name == "Dorte Drift"

    signatory = new_context().new_page()
    log_in_as(signatory, "aarhus", "/aftaler")
    row = signatory.get_by_role("row", name=re.compile(AGREEMENT_TITLE))
    expect(row).to_contain_text("Afventer godkendelse")
    expect(row).to_contain_text(REASON)
    row.get_by_role("link", name=AGREEMENT_TITLE).click()
    expect(signatory.get_by_role("main")).to_contain_text(REASON)
    # From the keyboard: a click just after scrolling past the agreement's PDF frame
    # can land in that frame in headless Chromium (its hit-test region lags).
    signatory.get_by_label(re.compile("Jeg er tegningsberettiget")).press("Space")
    signatory.get_by_role("button", name="Godkend").press("Enter")
    signatory.wait_for_url(re.compile(r"/kvitteringer/\d+$"))
    seq = int(signatory.url.rsplit("/", 1)[1])
    assert portal.ledger.signed_log.entry(seq).event_type == "Approved"
    assert portal.ledger.signed_log.entry(seq).actor.name == "Anne Andersen"
    assert portal.ledger.approval(AARHUS, agreement.id).is_approved
    assert portal.event_types(AARHUS).count("Approved") == 2
    assert portal.event_types(AARHUS).count("ApprovalReset") == 1


def test_the_other_staff_pages_pass_axe_also_with_a_form_refused(page, portal):
    log_in_as(page, "staff", "/drift/")
    menu = page.get_by_role("navigation", name="Drift")
    for link in ("Kunder", "Aftaleversioner", "Roller"):
        menu.get_by_role("link", name=link).click()
        expect(menu.get_by_role("link", name=link)).to_have_attribute("aria-current", "page")
        axe_check(page)

    menu.get_by_role("link", name="Kunder").click()
    page.get_by_role("link", name=f"Erklæringen for {CUSTOMERS[AARHUS]}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(CUSTOMERS[AARHUS])
    axe_check(page)  # handed in: the countersignature form

    menu.get_by_role("link", name="Kunder").click()
    before = len(portal.event_types())
    page.get_by_label("CVR-nummer (8 cifre)").fill("12345678")  # fails the modulus-11 check
    page.get_by_label("Kundens navn").fill("Testkommune")
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.get_by_role("button", name="Registrér kunden").click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_be_visible()
    axe_check(page)
    assert len(portal.event_types()) == before
