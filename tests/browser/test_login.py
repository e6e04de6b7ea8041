"""Logging in through the development IdP in the browser: who is let in and who is refused."""

import pytest
from playwright.sync_api import expect

from development.demo import PERSONS_BY_KEY
from tests.browser.conftest import axe_check, choose_persona, path_of

PROFESSIONAL_IDENTITY_NEEDED = "Du skal logge ind med din erhvervsidentitet (MitID Erhverv)"


@pytest.mark.parametrize(
    ("persona", "headline", "reason"),
    [
        ("private", PROFESSIONAL_IDENTITY_NEEDED, "private-identity"),
        ("low", "Dit login har ikke et tilstrækkeligt sikringsniveau", "loa-too-low"),
    ],
    ids=["private-mitid", "level-low"],
)
def test_a_private_mitid_and_level_low_are_refused_in_danish(
    page, portal, persona, headline, reason
):
    def rejections():
        return [
            e.event for e in portal.ledger.signed_log.entries() if e.event_type == "LoginRejected"
        ]

    before = len(rejections())
    with page.expect_response(lambda answer: answer.url.endswith("/saml/acs")) as acs:
        choose_persona(page, persona, "/aftaler", check=persona == "private")
    assert acs.value.status == 403
    assert path_of(page) == "/saml/acs"
    expect(page.locator("html")).to_have_attribute("lang", "da")
    expect(page.get_by_role("heading", level=1)).to_have_text(headline)
    expect(page.get_by_role("link", name="Log ind igen")).to_be_visible()
    axe_check(page)

    [*_, recorded] = rejections()
    assert len(rejections()) == before + 1
    assert recorded.reason == reason
    if persona == "low":
        assert recorded.person_uuid == PERSONS_BY_KEY["low"].person_uuid

    page.goto("/aftaler")  # still not logged in: sent to log in again
    assert path_of(page).startswith("/dev-idp/sso?")
    page.goto("/")
    expect(page.get_by_role("link", name="Log ind med MitID Erhverv")).to_be_visible()
    expect(page.locator("header form.logout")).to_have_count(0)


@pytest.mark.parametrize(
    ("persona", "headline"),
    [
        ("private", PROFESSIONAL_IDENTITY_NEEDED),
        ("low", "Dit login har ikke et tilstrækkeligt sikringsniveau"),
    ],
    ids=["private-mitid", "level-low"],
)
def test_reloading_a_refusal_records_nothing_more_and_keeps_its_words(
    page, portal, persona, headline
):
    """A reload posts the same SAML response again, as does a person who goes back and
    sends it once more: the refusal already told stays the one told (its words and its
    time), and neither a second refusal nor a counted replay is recorded."""

    def recorded() -> tuple[int, int]:
        rejected = sum(1 for e in portal.ledger.signed_log.entries() if "Login" in e.event_type)
        return rejected, portal.ledger.refusal_counts.pending()

    with page.expect_request(lambda asked: asked.url.endswith("/saml/acs")) as acs:
        choose_persona(page, persona, "/aftaler")
    posted = acs.value.post_data_json
    told = page.locator("main").inner_text()
    assert headline in told
    before = recorded()

    with page.expect_response(lambda answer: answer.url.endswith("/saml/acs")) as again:
        page.reload()
    assert again.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(headline)
    assert page.locator("main").inner_text() == told
    axe_check(page)

    resent = page.context.request.post(f"{portal.url}/saml/acs", form=posted)
    assert resent.status == 403
    assert headline in resent.text()
    assert told.splitlines()[-2] in resent.text()  # the same time, to the minute
    assert recorded() == before
