"""Staff's migration pages in Chromium at the real size: the matrix of all 98 municipalities
and the plan's tasks (filters, reflow at 1280 and 320 px, printed on A4), and the switch
day's runbook filled in live (the clock running, each step with one click or a typed time,
a correction with its reason, the downtime against the service window), with and without
JavaScript, and printed. Screenshots go to the test's tmp directory."""

import datetime
import re

import pytest
from playwright.sync_api import expect

from development.demo import PERSONS_BY_KEY, seed_migrations
from development.migration_stages import ready_for_switch
from development.municipalities import MUNICIPALITIES, seed_municipalities
from ledger.danish_time import DANISH_TIME
from ledger.identity import Actor
from tests.browser.conftest import axe_check, log_in_as, path_of

WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 320, "height": 900}
VIEWPORTS = [pytest.param(WIDE, id="1280px"), pytest.param(NARROW, id="320px")]
PAGE_WIDTH = "() => document.documentElement.scrollWidth"
SCROLLS_SIDEWAYS = """() => Array.from(document.querySelectorAll(".table-scroll"))
    .filter(box => box.scrollWidth > box.clientWidth + 1).length"""
CELLS_RUNNING_OVER = """() => Array.from(document.querySelectorAll(
        "table.matrix th, table.matrix td, table.matrix td *, table.matrix th *"))
    .filter(cell => !cell.closest(".visually-hidden"))
    .filter(cell => cell.scrollWidth > cell.clientWidth + 1)
    .map(cell => cell.textContent.trim().slice(0, 40))"""
# A4 across in CSS px (297 mm) less the 1 cm margins the style sheet gives the matrix's pages.
A4_ACROSS = 1047
# Who switches in each viewport's runbook test: made ready for the switch by the test.
SWITCHING = {1280: "Vejle Kommune", 320: "Viborg Kommune"}


@pytest.fixture(scope="module")
def portal(portal):
    """The demo's portal with every municipality registered and the demo's three migrations
    at their stages (switched, ready, gate closed again), and two more made ready."""
    cvrs = seed_municipalities(portal.ledger)
    seed_migrations(portal.ledger)
    for name in SWITCHING.values():
        ready_for_switch(portal.ledger, cvrs[name])
    portal.cvrs = cvrs
    return portal


def staff_page(new_context, viewport, path="/drift/migrering", **options):
    page = new_context(viewport=viewport, **options).new_page()
    log_in_as(page, "staff", path)
    return page


def rows(page):
    return page.locator("table.migration-matrix tbody tr")


def shot(page, tmp_path, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=full_page)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_matrix_shows_all_98_municipalities_and_filters_them(
    new_context, portal, viewport, tmp_path
):
    page = staff_page(new_context, viewport)
    expect(page.locator("#listed")).to_have_text(re.compile(r"^Viser alle 98 kunder\."))
    expect(rows(page)).to_have_count(len(MUNICIPALITIES))
    expect(page.get_by_role("button", name="Udskriv overblikket")).to_be_visible()
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    assert page.evaluate(SCROLLS_SIDEWAYS) == 0  # wide: it fits; narrow: each row a card
    aarhus = rows(page).filter(has_text="Aarhus Kommune")
    expect(aarhus).to_contain_text("Skiftet")
    # The demo's 21 minutes, fewer when it was seeded just after midnight in Denmark.
    downtime = portal.ledger.migration_status(portal.cvrs["Aarhus Kommune"]).switch.downtime_minutes
    expect(aarhus).to_contain_text(f"nedetid {downtime} minutter")
    koebenhavn = rows(page).filter(has_text="Københavns Kommune")
    expect(koebenhavn).to_contain_text("Venter på kunden")
    if viewport is WIDE:
        heights = rows(page).evaluate_all("rs => rs.map(r => r.getBoundingClientRect().height)")
        assert max(heights) < 130, max(heights)
    else:  # each cell under its task's name
        expect(koebenhavn.locator("td").nth(1)).to_have_attribute(
            "data-label", "Digital godkendelse af OS2faktor-aftalen"
        )
    shot(page, tmp_path, f"matrix-{viewport['width']}")
    aarhus.screenshot(path=str(tmp_path / f"matrix-aarhus-{viewport['width']}.png"))
    axe_check(page)

    ready = int(page.locator(".tally.ready strong").inner_text())
    assert ready >= 3  # Odense and the two made ready
    page.locator(".tally.ready").get_by_role("link").click()
    assert path_of(page) == "/drift/migrering?vis=klar-til-skift"
    expect(rows(page)).to_have_count(ready)
    for row in rows(page).all():
        expect(row.locator("th")).to_contain_text("Klar til skift")
    on_us = int(page.locator(".tally.on-us strong").inner_text())
    page.locator(".tally.on-us").get_by_role("link").click()
    expect(rows(page)).to_have_count(on_us)
    for row in rows(page).all()[:10]:
        expect(row).to_contain_text("Venter på os")
    page.get_by_label("Vis", exact=True).select_option(label="Venter på kunden")
    page.get_by_label("Navn eller CVR-nummer").fill("københavn")
    page.get_by_role("button", name="Vis kunderne").click()
    expect(rows(page)).to_have_count(1)
    expect(page.locator("#listed")).to_contain_text("Viser 1 af 98 kunder.")
    axe_check(page)


def test_the_matrix_prints_on_a4_across(new_context, portal, tmp_path):
    page = staff_page(new_context, WIDE)
    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_ACROSS, "height": 740})
    expect(rows(page)).to_have_count(len(MUNICIPALITIES))
    assert page.evaluate(CELLS_RUNNING_OVER) == []
    assert page.evaluate(PAGE_WIDTH) <= A4_ACROSS
    expect(page.locator("form.filters")).to_be_hidden()
    expect(page.get_by_role("button", name="Udskriv overblikket")).to_be_hidden()  # on paper
    shot(page, tmp_path, "matrix-print")
    printed = tmp_path / "migrering.pdf"
    page.pdf(path=str(printed), prefer_css_page_size=True)
    assert printed.read_bytes().startswith(b"%PDF-")
    from pypdf import PdfReader

    sheets = PdfReader(str(printed)).pages
    assert 2 <= len(sheets) <= 12, len(sheets)
    width, height = float(sheets[0].mediabox.width), float(sheets[0].mediabox.height)
    assert (round(width), round(height)) == (842, 595)  # A4 across, in points


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_staff_schedule_the_switch_and_fill_in_the_runbook_live(
    new_context, portal, viewport, tmp_path
):
    name = SWITCHING[viewport["width"]]
    cvr = portal.cvrs[name]
    page = staff_page(new_context, viewport)
    page.get_by_label("Navn eller CVR-nummer").fill(name)
    page.get_by_role("button", name="Vis kunderne").click()
    rows(page).get_by_role("link", name=name).click()
    assert path_of(page) == f"/drift/kunder/{cvr}/migrering"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Migreringen for {name}")
    expect(page.locator(".gate")).to_contain_text("Klar til skift")
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)

    # The meeting began a little while ago today (in Danish time).
    now = datetime.datetime.now(DANISH_TIME)
    meeting = max(now - datetime.timedelta(minutes=45), now.replace(hour=0, minute=0))
    page.get_by_label("Skiftedato", exact=True).fill(now.date().isoformat())
    page.get_by_label(re.compile("Mødet begynder")).fill(f"{meeting:%H.%M}")
    page.get_by_label(re.compile("Servicevindue")).fill("abc")
    page.get_by_role("button", name="Planlæg skiftet").click()
    expect(page.get_by_role("alert")).to_contain_text("Skriv servicevinduet som et helt antal")
    expect(page.get_by_label(re.compile("Mødet begynder"))).to_have_value(f"{meeting:%H.%M}")
    page.get_by_label(re.compile("Servicevindue")).fill("20")
    page.get_by_role("button", name="Planlæg skiftet").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Skiftet for {name} er planlagt")
    page.get_by_role("link", name=f"Skiftedagens drejebog for {name}").click()
    assert path_of(page) == f"/drift/kunder/{cvr}/skiftedag"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Drejebog for skiftedagen: {name}")

    # The clock runs: its seconds change without a reload.
    clock = page.locator("#clock-time")
    first = clock.inner_text()
    page.wait_for_function(
        "first => document.getElementById('clock-time').textContent !== first", arg=first
    )
    expect(page.locator(".no-clock")).to_be_hidden()
    expect(page.get_by_role("button", name="Udskriv drejebogen")).to_be_visible()
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)

    # The IdP removed a few minutes ago, typed; the rest with one click each, in order.
    removed = max(now - datetime.timedelta(minutes=30), meeting)
    step = page.locator("#trin-idp-removed")
    step.get_by_label(re.compile("Eller skriv tidspunktet")).fill(f"{removed:%H.%M}")
    step.get_by_role("button", name=re.compile("^Registrér")).last.click()
    expect(page.locator("#trin-idp-removed")).to_contain_text(f"Kl. {removed:%H.%M}")
    expect(page.locator(".downtime.running")).to_contain_text("Login er nede")
    shot(page, tmp_path, f"runbook-running-{viewport['width']}", full_page=True)
    for key in ("idp-created", "invitation-accepted", "logins-verified"):
        page.locator(f"#trin-{key}").get_by_role("button", name=re.compile("^Registrér nu")).click()
        expect(page.locator(f"#trin-{key}")).to_contain_text("registreret af Dorte Drift")
    status = portal.ledger.migration_status(cvr)
    assert status.switched
    downtime = status.switch.downtime_minutes
    expect(page.locator(".downtime.done")).to_contain_text(f"Nedetid: {downtime} minutter")
    if downtime > 20:
        expect(page.locator(".over-window")).to_contain_text("længere end servicevinduet")

    # A correction asks why; the first moment stays, on the page and in the log.
    corrected = removed + datetime.timedelta(minutes=5)
    step = page.locator("#trin-idp-removed")
    step.get_by_text("Ret tidspunktet").click()  # folded away until wanted
    step.get_by_label("Det rigtige tidspunkt").fill(f"{corrected:%H.%M}")
    step.get_by_role("button", name=re.compile("^Ret")).click()  # the browser asks for the reason
    assert step.get_by_label("Hvorfor rettes tidspunktet?").evaluate("i => !i.validity.valid")
    step.get_by_label("Hvorfor rettes tidspunktet?").fill("Kommunen fjernede IdP'en senere.")
    step.get_by_role("button", name=re.compile("^Ret")).click()
    step = page.locator("#trin-idp-removed")
    expect(step).to_contain_text(f"Kl. {corrected:%H.%M}")
    expect(step).to_contain_text(f"rettet; først registreret kl. {removed:%H.%M}")
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)
    shot(page, tmp_path, f"runbook-done-{viewport['width']}", full_page=True)

    # Printed: the times and the downtime, not the forms.
    page.emulate_media(media="print")
    expect(page.locator("ol.runbook form").first).to_be_hidden()
    expect(page.locator(".print-only")).to_be_visible()
    shot(page, tmp_path, f"runbook-print-{viewport['width']}")
    printed = tmp_path / f"drejebog-{viewport['width']}.pdf"
    page.pdf(path=str(printed), format="A4")
    assert printed.read_bytes().startswith(b"%PDF-")


def test_the_runbook_works_without_javascript_and_shows_the_time_it_was_fetched(
    new_context, portal
):
    name = "Vesthimmerlands Kommune"
    cvr = portal.cvrs[name]
    ready_for_switch(portal.ledger, cvr)
    now = datetime.datetime.now(DANISH_TIME)
    portal.ledger.schedule_switch(
        cvr=cvr,
        switch_on=now.date(),
        meeting_at=now,
        service_window_minutes=30,
        actor=Actor.cli_operator(),
    )
    page = new_context(viewport=WIDE, java_script_enabled=False).new_page()
    page.goto(f"/saml/login?next=/drift/kunder/{cvr}/skiftedag")
    page.get_by_role("link", name=PERSONS_BY_KEY["staff"].name, exact=True).click()
    page.get_by_role("button", name="Fortsæt").click()  # nothing posts it on without a script
    assert path_of(page) == f"/drift/kunder/{cvr}/skiftedag"
    expect(page.locator(".no-clock")).to_be_visible()
    expect(page.locator(".no-clock")).to_contain_text("da siden blev hentet")
    expect(page.locator("button.print")).to_be_hidden()  # the browser's own print, without JS
    expect(page.locator("#clock-time")).to_have_text(re.compile(r"^\d{2}\.\d{2}\.\d{2}$"))
    page.locator("#trin-idp-removed").get_by_role(
        "button", name=re.compile("^Registrér nu")
    ).click()
    expect(page.locator("#trin-idp-removed")).to_contain_text("registreret af Dorte Drift")
    expect(page.locator(".downtime.running")).to_contain_text("nedetiden er indtil nu 0 minutter")
    assert portal.ledger.migration_status(cvr).switch.steps["idp-removed"] is not None
    page.goto(f"/drift/kunder/{cvr}/skiftedag")  # axe checks a copy by its address, no #trin
    axe_check(page)
