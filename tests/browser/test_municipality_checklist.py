"""The municipality's checklist in Chromium at 1280 and 320 CSS px: København, whose approval
was reset after its switch was scheduled (the demo's migrations), reads that the gate is
closed again and why, records a task through its form (a refusal first, its input kept), and
the page is never wider than the window and passes axe. Screenshots of each width are kept
under the test's tmp directory (M3_SHOTS names another place to keep them)."""

import os
from pathlib import Path

import pytest

from development.demo import seed_migrations
from ledger import migration
from tests.browser.conftest import axe_check, log_in_as

WIDTHS = {"wide": {"width": 1280, "height": 900}, "narrow": {"width": 320, "height": 900}}
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


@pytest.fixture(scope="module")
def migrations(portal):
    assert seed_migrations(portal.ledger)
    return portal


def shots(tmp_path: Path) -> Path:
    place = Path(os.environ.get("M3_SHOTS", tmp_path))
    place.mkdir(parents=True, exist_ok=True)
    return place


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_checklist_reads_at_1280_and_320_px_and_a_task_is_recorded_through_its_form(
    new_context, migrations, width, tmp_path
):
    from playwright.sync_api import expect

    viewport = WIDTHS[width]
    page = new_context(viewport=viewport).new_page()
    log_in_as(page, "koebenhavn", "/migrering/")
    gate = page.locator("#skiftet")
    expect(gate).to_contain_text(migration.GATE_REOPENED.strip())
    expect(gate).to_contain_text(migration.GATE_APPROVAL_RESET)
    expect(page.locator("#naeste")).to_contain_text("Digital godkendelse af OS2faktor-aftalen")
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)
    page.screenshot(path=shots(tmp_path) / f"checklist-{width}.png", full_page=True)

    task = page.locator("#opgave-password-policy")
    if task.get_by_role("button", name="Registrér opgaven").count():
        task.get_by_label("Kodeordenes mindste længde").fill("12")
        task.get_by_label("Ja").check()
        task.get_by_role("button", name="Registrér opgaven").click()
        task = page.locator("#opgave-password-policy")
        expect(task.get_by_role("alert")).to_contain_text("12 er for kort")
        expect(task.get_by_label("Kodeordenes mindste længde")).to_have_value("12")
        assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
        page.screenshot(path=shots(tmp_path) / f"checklist-{width}-refused.png", full_page=True)
        task.get_by_label("Kodeordenes mindste længde").fill("15")
        task.get_by_role("button", name="Registrér opgaven").click()
        expect(page.locator("#opgave-password-policy")).to_contain_text("Udført af Frederik Friis")
    page.goto("/migrering/kolleger")
    expect(page.get_by_role("table")).to_contain_text("Ida Iversen")
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)
    page.screenshot(path=shots(tmp_path) / f"colleagues-{width}.png", full_page=True)


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_auditors_migration_report_reads_at_1280_and_320_px(
    new_context, migrations, width, tmp_path
):
    from playwright.sync_api import expect

    viewport = WIDTHS[width]
    page = new_context(viewport=viewport).new_page()
    log_in_as(page, "auditor", "/revision/kunde/55133018")
    page.get_by_role("link", name="Se migreringsrapporten").click()
    expect(page.locator("h1")).to_have_text("Migreringsrapport for Aarhus Kommune (CVR 55133018)")
    expect(page.locator("#status-titel + p")).to_contain_text("Skiftet er gennemført.")
    expect(page.get_by_role("link", name="Hent rapporten (PDF)")).to_be_visible()
    assert page.evaluate(PAGE_WIDTH) <= viewport["width"]
    axe_check(page)
    page.screenshot(path=shots(tmp_path) / f"report-{width}.png", full_page=True)
