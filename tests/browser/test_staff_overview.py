"""Staff at the real size: all 98 municipalities in the overview's matrix, a customer's own
page, a name corrected, destructive actions that ask first, and a refused login looked up
by the time the person gives; at 1280 px and on a phone (390 and 320 px)."""

import datetime
import re

import pytest
from playwright.sync_api import expect

from development.demo import AGREEMENT_TITLE, PERSONS_BY_KEY, demo_pdf
from development.municipalities import MUNICIPALITIES, seed_municipalities
from ledger.danish_time import DANISH_TIME, MONTHS
from ledger.identity import Actor
from ledger.search import EventIndex
from tests.browser.conftest import axe_check, choose_persona, log_in_as, path_of

WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 900}
AARHUS = "55133018"
PAGE_WIDTH = "() => document.documentElement.scrollWidth"
# The widest box inside the page beyond its own width: a table scrolling inside its region
# is sideways scrolling too, only in a smaller window.
SCROLLS_SIDEWAYS = """() => Array.from(document.querySelectorAll(".table-scroll"))
    .filter(box => box.scrollWidth > box.clientWidth + 1).length"""
RED = "rgb(176, 0, 32)"


SECOND_TITLE = "Databehandleraftale for OS2faktor"


@pytest.fixture(scope="module")
def portal(portal):
    """The demo's portal with every municipality registered, in varied states, and a second
    current agreement version, which none has approved yet."""
    seed_municipalities(portal.ledger)
    portal.ledger.publish_agreement(
        title=SECOND_TITLE,
        version_label="2026.1",
        document=demo_pdf(SECOND_TITLE, "2026.1"),
        document_name="databehandleraftale.pdf",
        actor=Actor.cli_operator(),
    )
    return portal


def rows(page):
    return page.locator("table.matrix tbody tr")


def customer_names(page) -> list[str]:
    page.wait_for_load_state()  # the list asked for, not the page being left (a loaded machine)
    return [name.strip() for name in rows(page).locator("th a").all_inner_texts()]


def staff_page(new_context, viewport=WIDE, path="/drift/"):
    page = new_context(viewport=viewport).new_page()
    log_in_as(page, "staff", path)
    return page


def test_the_overview_lists_all_98_municipalities_in_danish_alphabetical_order(new_context):
    page = staff_page(new_context)
    expect(page.locator("#listed")).to_have_text("Viser alle 98 kunder.")
    names = customer_names(page)
    assert len(names) == 98
    assert set(names) == set(MUNICIPALITIES)
    # Æ, Ø and Å after Z; "Aa" is Å, so Aarhus comes last and Faaborg after Furesø.
    assert names[-4:] == ["Ærø Kommune", "Aabenraa Kommune", "Aalborg Kommune", "Aarhus Kommune"]
    assert names.index("Faaborg-Midtfyn Kommune") == names.index("Furesø Kommune") + 1
    assert names.index("Tønder Kommune") < names.index("Tårnby Kommune")
    # The matrix fits the window: no column cut off or scrolled, and the rows stay compact.
    assert page.evaluate(PAGE_WIDTH) <= WIDE["width"]
    assert page.evaluate(SCROLLS_SIDEWAYS) == 0
    heights = rows(page).evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) < 110, max(heights)
    headers = [  # without the soft hyphen that breaks the long word in its narrow column
        text.replace("\u00ad", "")
        for text in page.locator("table.matrix thead th").all_inner_texts()
    ]
    assert headers == [
        "Kunde",
        f"{SECOND_TITLE}, version 2026.1",
        f"{AGREEMENT_TITLE}, version 2026.1",
        "Erklæring afleveret",
        "Medunderskrevet",
        "Sendt til Digitaliseringsstyrelsen",
        "Ventetid",
    ]
    axe_check(page)


def test_waiting_for_us_and_for_the_customer_are_apart_and_filtered(new_context):
    page = staff_page(new_context)
    on_us = page.locator(".tally.on-us")
    count = int(on_us.locator("strong").inner_text())
    assert count > 0
    on_us.get_by_role("link").click()
    assert path_of(page) == "/drift/?vis=os&sorter=ventetid"
    expect(rows(page)).to_have_count(count)
    for row in rows(page).all():
        expect(row).to_contain_text("Venter på os")
    on_customer = page.locator(".tally.on-customer")
    waiting = int(on_customer.locator("strong").inner_text())
    on_customer.get_by_role("link").click()
    expect(rows(page)).to_have_count(waiting)
    for row in rows(page).all()[:10]:
        expect(row).to_contain_text("Venter på kunden")
    days = [int(d.split()[0]) for d in rows(page).locator("td.days").all_inner_texts()]
    assert days == sorted(days, reverse=True)
    axe_check(page)


def test_staff_find_a_customer_by_name_or_cvr_and_sort_by_cvr(new_context):
    page = staff_page(new_context)
    page.get_by_label("Navn eller CVR-nummer").fill("frederiks")
    page.get_by_role("button", name="Vis kunderne").click()
    assert customer_names(page) == [
        "Frederiksberg Kommune",
        "Frederikshavn Kommune",
        "Frederikssund Kommune",
    ]
    expect(page.locator("#listed")).to_have_text("Viser 3 af 98 kunder.")
    page.get_by_label("Navn eller CVR-nummer").fill("århus")  # "Aa" is "Å"
    page.get_by_role("button", name="Vis kunderne").click()
    assert customer_names(page) == ["Aarhus Kommune"]
    page.get_by_label("Navn eller CVR-nummer").fill(AARHUS)
    page.get_by_role("button", name="Vis kunderne").click()
    assert customer_names(page) == ["Aarhus Kommune"]
    page.get_by_label("Navn eller CVR-nummer").fill("")
    page.get_by_label("Sortér efter").select_option(label="CVR-nummer")
    page.get_by_role("button", name="Vis kunderne").click()
    cvrs = [re.sub(r"\D", "", t) for t in rows(page).locator("th .hint").all_inner_texts()]
    assert len(cvrs) == 98
    assert cvrs == sorted(cvrs)
    axe_check(page)


@pytest.mark.parametrize("viewport", [PHONE, NARROW], ids=["390px", "320px"])
def test_the_overview_and_a_customer_page_reflow_on_a_phone(new_context, viewport):
    page = staff_page(new_context, viewport)
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    assert page.evaluate(SCROLLS_SIDEWAYS) == 0  # the matrix stacks; its box does not scroll
    aarhus = rows(page).filter(has_text=f"CVR {AARHUS}")
    # Each cell stands under its column's name.
    expect(aarhus.locator("td").nth(1)).to_have_attribute(
        "data-label", f"{AGREEMENT_TITLE}, version 2026.1"
    )
    axe_check(page)
    aarhus.get_by_role("link", name="Aarhus Kommune").click()
    assert path_of(page) == f"/drift/kunder/{AARHUS}"
    page.wait_for_load_state()  # measured with its style sheet, not while it loads
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    assert page.evaluate(SCROLLS_SIDEWAYS) == 0
    axe_check(page)
    page.goto("/drift/afviste-login?tidspunkt=1-12-2026+09.07")
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)


def test_a_customer_page_shows_its_approvals_declaration_and_history(new_context):
    page = staff_page(new_context)
    rows(page).get_by_role("link", name="Aarhus Kommune").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aarhus Kommune")
    approvals = page.get_by_role("table", name="Godkendelser af aftaleversionerne")
    expect(approvals).to_contain_text("Godkendt af Anne Andersen")
    expect(approvals.get_by_role("link", name="Kvitteringen")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("Afleveret")
    history = page.locator("ol.history")
    expect(history).to_contain_text(f"Aarhus Kommune blev registreret som kunde med CVR {AARHUS}.")
    expect(history).to_contain_text(
        f"Anne Andersen (Aarhus Kommune) godkendte {AGREEMENT_TITLE} version 2026.1"
    )
    expect(history).to_contain_text("afleverede den fælles ledelseserklæring")
    expect(
        history.get_by_role("link", name=re.compile("Kvittering for hændelse nr."))
    ).to_have_count(3)
    axe_check(page)


def test_staff_correct_a_customers_name_and_the_old_name_stays_in_the_history(new_context, portal):
    cvr = next(c.cvr for c in portal.ledger.customers() if c.name == "Lyngby-Taarbæk Kommune")
    page = staff_page(new_context, path=f"/drift/kunder/{cvr}")
    page.get_by_label("Kundens navn").fill("Kongens Lyngby-Taarbæk Kommune")
    page.get_by_role("button", name="Ret navnet").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Kundens navn er rettet fra Lyngby-Taarbæk Kommune til Kongens Lyngby-Taarbæk Kommune."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Kongens Lyngby-Taarbæk Kommune")
    expect(page.get_by_role("main")).to_contain_text("Tidligere navn: Lyngby-Taarbæk Kommune")
    expect(page.locator("ol.history")).to_contain_text(
        "Kundens navn blev rettet fra Lyngby-Taarbæk Kommune til Kongens Lyngby-Taarbæk Kommune."
    )
    axe_check(page)
    [*_, renamed] = portal.ledger.history(cvr=cvr)
    assert (renamed.event_type, renamed.event.previous_name) == (
        "Renamed",
        "Lyngby-Taarbæk Kommune",
    )
    # The customers' read model follows the event, also after the projection is rebuilt
    # from the log (`ledger reindex`).
    assert EventIndex(portal.ledger).rebuild() > 0
    page.goto("/drift/")
    names = customer_names(page)
    assert "Kongens Lyngby-Taarbæk Kommune" in names
    assert "Lyngby-Taarbæk Kommune" not in names
    assert names.index("Kongens Lyngby-Taarbæk Kommune") < names.index("Køge Kommune")
    # The same name again is refused, in Danish, beside the form.
    page.goto(f"/drift/kunder/{cvr}")
    page.get_by_role("button", name="Ret navnet").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Kunden hedder allerede Kongens Lyngby-Taarbæk Kommune."
    )
    axe_check(page)


def test_revoking_a_role_looks_destructive_asks_why_and_records_the_reason(new_context, portal):
    auditor = PERSONS_BY_KEY["auditor"]
    page = staff_page(new_context, path="/drift/roller")
    # The grant form chooses no role for staff: never the most powerful one.
    expect(page.get_by_label("Rolle", exact=True)).to_have_value("")
    link = page.get_by_role("link", name="Fratag Erik Revisor rollen Revisor")
    assert link.evaluate("a => getComputedStyle(a).color") == RED
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fratag Erik Revisor rollen Revisor")
    button = page.get_by_role("button", name="Fratag rollen")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == RED
    axe_check(page)
    button.click()  # without a reason: the browser asks for one, nothing is recorded
    assert page.get_by_label("Hvorfor fratages rollen?").evaluate("t => !t.validity.valid")
    assert portal.ledger.roles_of(auditor.person_uuid) != []
    page.get_by_label("Hvorfor fratages rollen?").fill("Revisionen af 2026 er afsluttet.")
    button.click()
    assert path_of(page) == "/drift/roller"
    expect(page.get_by_role("status").first).to_contain_text(
        "Erik Revisor har ikke længere rollen Revisor."
    )
    assert portal.ledger.roles_of(auditor.person_uuid) == []
    [revoked] = [e for e in portal.ledger.history() if e.event_type == "RoleRevoked"]
    assert revoked.event.reason == "Revisionen af 2026 er afsluttet."
    portal.ledger.grant_role(
        person_uuid=auditor.person_uuid,
        person_name=auditor.name,
        role="auditor",
        cvrs=[],
        actor=revoked.actor,
    )


def test_the_resets_confirm_button_is_unlike_the_one_that_edits_the_reason(new_context, portal):
    cvr = next(c.cvr for c in portal.ledger.customers() if c.name == "Albertslund Kommune")
    page = staff_page(new_context, path=f"/drift/kunder/{cvr}")
    page.get_by_role("link", name=re.compile("Nulstil godkendelsen")).click()
    page.get_by_label("Hvorfor skal godkendelsen nulstilles?").fill(
        "Godkendt af en medarbejder uden tegningsret."
    )
    page.get_by_role("button", name="Videre til bekræftelse").click()
    confirm = page.get_by_role("button", name="Bekræft nulstilling")
    edit = page.get_by_role("button", name="Ret begrundelsen")
    assert confirm.evaluate("b => getComputedStyle(b).backgroundColor") == RED
    assert edit.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(255, 255, 255)"
    axe_check(page)


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1280px", "320px"])
def test_support_finds_a_refused_login_by_the_time_the_person_gives(new_context, viewport):
    person = new_context().new_page()
    choose_persona(person, "private")
    expect(person.get_by_role("heading", level=1)).to_contain_text("erhvervsidentitet")
    # The refusal page gives the time to tell support, in Danish time, to the minute.
    said = re.search(
        r"Login blev afvist den (\d+)\. (\w+) (\d{4}) kl\. (\d{2})\.(\d{2})\. Kontakter du os",
        person.get_by_role("main").inner_text(),
    )
    assert said is not None
    day, month, year, hour, minute = said.groups()
    now = datetime.datetime.now(DANISH_TIME)
    assert (int(day), MONTHS.index(month) + 1, int(year)) == (now.day, now.month, now.year)
    page = staff_page(new_context, viewport)
    page.get_by_role("navigation", name="Drift").get_by_role("link", name="Afviste login").click()
    axe_check(page)
    # As the person says it on the phone: 1-12-2026 09.07.
    page.get_by_label(re.compile("Tidspunkt")).fill(
        f"{day}-{MONTHS.index(month) + 1}-{year} {hour}.{minute}"
    )
    page.get_by_role("button", name="Find afviste login").click()
    found = page.get_by_role("table", name=re.compile("Login, som NemLog-in bekræftede"))
    expect(found).to_contain_text("Personen loggede ind med sit private MitID")
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)
    an_hour_before = now - datetime.timedelta(hours=1)
    page.get_by_label(re.compile("Tidspunkt")).fill(f"{an_hour_before:%d.%m.%Y kl. %H:%M}")
    page.get_by_role("button", name="Find afviste login").click()
    expect(page.get_by_role("main")).to_contain_text(
        "Ingen login med en bekræftet identitet blev afvist i det tidsrum."
    )
    page.get_by_label(re.compile("Tidspunkt")).fill("i går ved nitiden")
    with page.expect_response(lambda answer: "afviste-login" in answer.url) as answered:
        page.get_by_role("button", name="Find afviste login").click()
    assert answered.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("fx 1-12-2026 09.07")
    axe_check(page)


# Each matrix cell whose text runs past its own box on paper (into the next column).
CELLS_RUNNING_OVER = """() => Array.from(document.querySelectorAll(
        "table.matrix th, table.matrix td, table.matrix td *, table.matrix th *"))
    .filter(cell => cell.scrollWidth > cell.clientWidth + 1)
    .map(cell => cell.textContent.trim().slice(0, 40))"""
# An A4 page's printable width in CSS px (210 mm less Chromium's default margins).
A4_WIDTH = 718


def test_the_matrix_prints_on_a4_without_cells_running_into_each_other(new_context, tmp_path):
    """Printed, the matrix's narrow columns hold their words: each cell's text wraps inside
    it (a date is no longer kept on one line) rather than running over its neighbour."""
    page = staff_page(new_context)
    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_WIDTH, "height": 1000})
    expect(rows(page)).to_have_count(len(MUNICIPALITIES))
    assert page.evaluate(CELLS_RUNNING_OVER) == []
    assert page.evaluate(PAGE_WIDTH) <= A4_WIDTH
    printed = tmp_path / "overblik.pdf"
    page.pdf(path=str(printed), format="A4")
    assert printed.read_bytes().startswith(b"%PDF-")
