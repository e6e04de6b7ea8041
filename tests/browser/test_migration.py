"""Issue 15 end to end: the whole Full Service migration of one municipality (Københavns
Kommune, which has not approved anything in the demo data) in Chromium, through `ledger serve`
(a process of its own, as production runs it), once on SQLite and once on PostgreSQL.

Staff record their tasks; the signatory approves (Godkend) and grants a colleague the role;
the colleague records the municipality's technical tasks; the declaration's three steps; the
gate refuses to schedule the switch before approval, operating agreement and declaration, and
again after a reset; the switch day's runbook with its times and downtime; the auditor reads
the migration report and downloads its bundle, which `ledger verify --bundle` accepts.

Every page on the way is looked at in a 1280 and a 320 px window (a screenshot of each, in
`LEDGER_TEST_SHOTS` or the temporary directory, for a person to look at; at neither is
anything but a data table wider than the window) and checked with axe-core.
"""

import datetime
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pypdf
import pytest
from playwright.sync_api import Page, expect

from approval_ledger.initialize import initialize
from development.demo import AGREEMENT_TITLE, CUSTOMERS, PERSONS_BY_KEY, demo_pdf, seed
from ledger import migration
from ledger.danish_time import DANISH_TIME, danish_today
from ledger.identity import Actor
from tests.browser.conftest import Portal, axe_check, log_in_as, path_of
from tests.browser.test_every_page import PROSE
from tests.conftest import new_postgres_database, settings_in
from tests.served import free_port, ledger_serve, portal_environment
from tests.wording import wording_problems

KOEBENHAVN = "64942212"
NAME = CUSTOMERS[KOEBENHAVN]
SIGNATORY, COLLEAGUE = "koebenhavn", "koebenhavn-it"
STATEMENT = f"Jeg er tegningsberettiget for {NAME} og godkender aftalen på kommunens vegne"
RESET_REASON = "Frederik Friis er ikke udpeget af kommunalbestyrelsen til at skrive under."
CHECK_NOTE = "Ringet til kommunens sekretariat: Frederik Friis er udpeget til at skrive under."
AD_NOTE = "AD kræver 12 tegn endnu; det ændres, før kommunen skifter."
CORRECTION = "Klikket kom for sent; IdP'en blev oprettet to minutter senere, ifølge MitID Erhverv."
SIGNED_PDF = demo_pdf("Driftsaftale, underskrevet af Københavns Kommune", "2026")
DECLARATION_PDF = demo_pdf("Faelles ledelseserklaering, Koebenhavns Kommune", "2026")
NOW_BUTTON = re.compile("^Registrér nu")
TASKS = f"/drift/kunder/{KOEBENHAVN}/migrering"
RUNBOOK = f"/drift/kunder/{KOEBENHAVN}/skiftedag"
SHOTS = Path(os.environ.get("LEDGER_TEST_SHOTS", tempfile.gettempdir())) / "migration-shots"
WIDTHS = (1280, 320)
WINDOW = {"width": WIDTHS[0], "height": 900}
# Elements wider than the window, data tables aside (WCAG 2.1, 1.4.10 Reflow lets a table
# scroll sideways inside its own box); an element's content counts as well as its box. Text
# only for screen readers (.visually-hidden, clipped to nothing) is not seen, so not counted.
STICKING_OUT = """() => Array.from(document.querySelectorAll("body *"))
    .filter(e => !e.closest("table") && !e.querySelector("table"))
    .filter(e => !e.closest(".visually-hidden"))
    .filter(e => {
        const box = e.getBoundingClientRect();
        return box.left + Math.max(box.width, e.scrollWidth) > innerWidth + 0.5;
    })
    .map(e => e.tagName + (e.className ? "." + e.className : ""))"""
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def portal(
    request: pytest.FixtureRequest,
    browser,
    tmp_path_factory: pytest.TempPathFactory,
    saml_keys: Path,
) -> Iterator[Portal]:
    """The demo data served by `ledger serve` on a free loopback port, on each database."""
    directory = tmp_path_factory.mktemp(f"migration-{request.param}")
    with ExitStack() as stack:
        database_url = None
        if request.param == "postgres":
            database_url = stack.enter_context(new_postgres_database())
        settings = settings_in(directory / "var", database_url)
        ledger = initialize(settings, Actor.cli_operator()).app
        stack.callback(ledger.close)
        assert seed(ledger)
        bind = f"127.0.0.1:{free_port()}"
        env = portal_environment(settings, saml_keys, LEDGER_SAML_BASE_URL=f"http://{bind}")
        stack.enter_context(ledger_serve(env, bind, directory / "serve.log"))
        yield Portal(f"http://{bind}", settings, ledger)


def look_at(page: Page, name: str) -> None:
    """axe-core clean, the words the glossary's (docs/ordliste.md; a municipality's page is
    a customer's); a screenshot at 1280 and at 320 px, at neither anything but a data table
    wider than the window."""
    axe_check(page)
    customer = name.startswith("municipality")
    assert wording_problems(page.evaluate(PROSE), customer_page=customer) == [], name
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
        assert page.evaluate(STICKING_OUT) == [], f"{name} at {width} px"
        assert page.evaluate(PAGE_WIDTH) <= width, f"{name} at {width} px"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def task(page: Page, title: str):
    """The form (a group named by its task's Danish title) of one task on a page."""
    return page.get_by_role("group", name=title)


def posted(page: Page, click) -> int:
    """Click, and the status of the POST it made."""
    with page.expect_response(lambda answer: answer.request.method == "POST") as answer:
        click()
    return answer.value.status


def danish_typed(moment: datetime.datetime) -> str:
    """A moment as staff type it in the runbook: the day in Denmark and the time."""
    local = moment.astimezone(DANISH_TIME)
    return f"{local.day}-{local.month}-{local.year} {local:%H.%M}"


def gate(page: Page):
    """The box that says whether the switch can be scheduled (both sides have one)."""
    return page.locator(".gate, #skiftet").first


def test_the_whole_plan_for_one_municipality_in_the_browser(new_context, portal, tmp_path):
    [agreement] = [a for a in portal.ledger.agreement_versions() if a.title == AGREEMENT_TITLE]
    assert portal.ledger.approval(KOEBENHAVN, agreement.id) is None  # not approved in the seed
    assert portal.ledger.migration(KOEBENHAVN) is None
    today = danish_today()

    # Staff: the matrix, then the municipality's page; the gate is shut for three reasons.
    staff = new_context(viewport=WINDOW, locale="da-DK").new_page()
    log_in_as(staff, "staff", "/drift/")
    staff.get_by_role("navigation", name="Drift").get_by_role("link", name="Migrering").click()
    assert path_of(staff) == "/drift/migrering"
    row = staff.get_by_role("row").filter(has_text=f"CVR {KOEBENHAVN}")
    expect(row).to_contain_text("Venter på os")  # the operating agreement is ours
    look_at(staff, "staff-matrix-before")
    row.get_by_role("link", name=NAME).click()
    assert path_of(staff) == TASKS
    for refusal in (migration.GATE_APPROVAL, migration.GATE_AGREEMENT, migration.GATE_DECLARATION):
        expect(gate(staff)).to_contain_text(refusal)
    expect(staff.get_by_role("button", name="Planlæg skiftet")).to_have_count(0)
    look_at(staff, "staff-tasks-before")

    # Staff record the signed operating agreement and the Full Service settings.
    agreement_task = staff.locator("#opgave-operating-agreement")
    agreement_task.get_by_label("Dato for kommunens underskrift").fill(today.isoformat())
    agreement_task.get_by_label(re.compile("Den underskrevne driftsaftale")).set_input_files(
        {"name": "driftsaftale-kk.pdf", "mimeType": "application/pdf", "buffer": SIGNED_PDF}
    )
    assert (
        posted(staff, agreement_task.get_by_role("button", name="Arkivér driftsaftalen").click)
        < 400
    )
    expect(staff.locator("#opgave-operating-agreement")).to_contain_text("Udført")
    expect(staff.locator("#opgave-operating-agreement")).to_contain_text(
        hashlib.sha256(SIGNED_PDF).hexdigest()
    )
    expect(gate(staff)).not_to_contain_text(migration.GATE_AGREEMENT)
    full_service = staff.locator("#opgave-full-service")
    full_service.get_by_label(migration.PUPILS["set-up"]).check()
    full_service.get_by_label(re.compile("Hvem satte elevernes kodeordspolitik op")).fill(
        "Dorte Drift"
    )
    full_service.get_by_role("button", name="Registrér, at Full Service er slået til").click()
    expect(staff.locator("#opgave-full-service")).to_contain_text("Udført")

    # The signatory: the checklist says what is missing; Godkend; a colleague gets the role;
    # the declaration is handed in.
    signatory = new_context(viewport=WINDOW, locale="da-DK").new_page()
    log_in_as(signatory, SIGNATORY, "/aftaler")
    signatory.get_by_role("navigation", name="Hovedmenu").get_by_role(
        "link", name="Skiftet"
    ).click()
    assert path_of(signatory) == "/migrering/"
    expect(gate(signatory)).to_contain_text(migration.GATE_APPROVAL)
    expect(gate(signatory)).to_contain_text(migration.GATE_DECLARATION)
    look_at(signatory, "municipality-checklist-before")
    approve(signatory, agreement.id)
    [approved] = [e for e in portal.ledger.history(cvr=KOEBENHAVN) if e.event_type == "Approved"]
    assert approved.actor.name == PERSONS_BY_KEY[SIGNATORY].name
    assert approved.event.signing_basis == [migration.STATEMENT]  # no authorizedToRepresent

    signatory.goto("/migrering/")
    signatory.get_by_role("link", name=re.compile("Giv en kollega adgang")).click()
    colleague_person = PERSONS_BY_KEY[COLLEAGUE]
    signatory.get_by_label("Personens UUID fra MitID Erhverv").fill(colleague_person.person_uuid)
    signatory.get_by_label("Personens navn").fill(colleague_person.name)
    signatory.get_by_role("button", name="Giv rollen Kollega").click()  # without the tick
    expect(signatory.get_by_role("alert")).to_contain_text("Bekræft, at du er tegningsberettiget")
    signatory.get_by_label(re.compile("Jeg er tegningsberettiget for Københavns Kommune")).check()
    signatory.get_by_role("button", name="Giv rollen Kollega").click()
    expect(signatory.get_by_role("row").filter(has_text=colleague_person.name)).to_be_visible()
    look_at(signatory, "municipality-colleagues")
    [granted] = [e for e in portal.ledger.history(cvr=KOEBENHAVN) if e.event_type == "RoleGranted"]
    assert granted.actor.name == PERSONS_BY_KEY[SIGNATORY].name
    assert granted.event.role == migration.COLLEAGUE_ROLE
    assert list(granted.event.cvrs) == [KOEBENHAVN]
    assert granted.event.signing_basis == [migration.STATEMENT]  # as the approval's

    signatory.get_by_role("navigation", name="Hovedmenu").get_by_role(
        "link", name="Ledelseserklæring"
    ).click()
    signatory.get_by_label(re.compile("Den underskrevne erklæring")).set_input_files(
        {"name": "erklaering-kk.pdf", "mimeType": "application/pdf", "buffer": DECLARATION_PDF}
    )
    signatory.get_by_role("button", name="Aflever erklæringen").click()
    expect(signatory.get_by_role("main")).to_contain_text("afleveret")

    # The colleague records the municipality's technical tasks; Godkend is not theirs.
    colleague = new_context(viewport=WINDOW, locale="da-DK").new_page()
    log_in_as(colleague, COLLEAGUE, "/migrering/")
    expect(colleague.get_by_role("main")).to_contain_text("Du har rollen Kollega")
    early = colleague.locator("#opgave-early-password-policy")
    told_on = today - datetime.timedelta(days=1)
    early.get_by_label(re.compile("Den dato, brugerne fik besked")).fill(
        f"{told_on.day}-{told_on.month}-{told_on.year}"
    )
    early.get_by_role("button", name=re.compile("^Registrér opgaven")).click()
    expect(colleague.locator("#opgave-early-password-policy")).to_contain_text("Udført")

    mail = colleague.locator("#opgave-mail-templates")
    mail.get_by_text("Opgaven er ikke relevant for kommunen").click()  # not without a reason
    mail.get_by_label(re.compile("Hvorfor er opgaven ikke relevant")).fill("Nej")
    not_relevant = mail.get_by_role("button", name=re.compile("^Markér som ikke relevant"))
    assert posted(colleague, not_relevant.click) == 400
    expect(colleague.locator("#opgave-mail-templates").get_by_role("alert")).to_be_visible()
    assert "TaskMarkedNotRelevant" not in portal.event_types(KOEBENHAVN)
    mail = colleague.locator("#opgave-mail-templates")
    mail.get_by_label(migration.MAIL_DECISIONS["switched-off"]).check()
    mail.get_by_role("button", name=re.compile("^Registrér opgaven")).click()
    expect(colleague.locator("#opgave-mail-templates")).to_contain_text("Udført")

    policy = colleague.locator("#opgave-password-policy")
    policy.get_by_label(re.compile("Kodeordenes mindste længde")).fill("12")
    policy.get_by_label("Ja", exact=True).check()
    status = posted(colleague, policy.get_by_role("button", name=re.compile("^Registrér")).click)
    assert status == 400
    expect(colleague.locator("#opgave-password-policy").get_by_role("alert")).to_contain_text(
        "12 er for kort"
    )
    look_at(colleague, "municipality-refused-password-policy")
    policy = colleague.locator("#opgave-password-policy")
    policy.get_by_label(re.compile("Kodeordenes mindste længde")).fill("15")
    policy.get_by_label("Nej", exact=True).check()
    policy.get_by_label(re.compile("Bemærkning")).fill(AD_NOTE)
    policy.get_by_role("button", name=re.compile("^Registrér opgaven")).click()
    expect(colleague.locator("#opgave-password-policy")).to_contain_text("Udført")

    terms = colleague.locator("#opgave-terms")
    terms.get_by_label(migration.TERMS_OUTCOMES["addendum"]).check()
    terms.get_by_role("button", name=re.compile("^Registrér opgaven")).click()
    expect(colleague.locator("#opgave-terms")).to_contain_text("Udført")
    look_at(colleague, "municipality-checklist-colleague")
    by_colleague = {
        e.event_type
        for e in portal.ledger.history(cvr=KOEBENHAVN)
        if e.actor is not None and e.actor.name == colleague_person.name
    }
    assert by_colleague == {
        "EarlyPasswordPolicyAnnounced",
        "MailTemplatesReviewed",
        "PasswordPolicyReviewed",
        "TermsReviewed",
    }

    # Staff: the approval has no signal of signing authority, so it is on their list to check;
    # the declaration is countersigned and sent; the gate opens.
    staff.goto(TASKS)
    expect(gate(staff)).to_contain_text(migration.GATE_DECLARATION)
    check_the_approval(staff)
    staff.goto(TASKS)
    staff.get_by_role("link", name=f"Erklæringen for {NAME}").click()
    staff.get_by_label(re.compile("Den medunderskrevne erklæring")).set_input_files(
        {"name": "medunderskrevet.pdf", "mimeType": "application/pdf", "buffer": DECLARATION_PDF}
    )
    staff.get_by_role("button", name="Registrér medunderskriften").click()
    staff.get_by_label("Dato for afsendelsen").fill(today.isoformat())
    staff.get_by_label("Digitaliseringsstyrelsens reference").fill("DIGST-2026-0042")
    staff.get_by_role("button", name="Registrér afsendelsen").click()
    staff.goto(TASKS)
    expect(gate(staff)).to_contain_text("Klar til skift")

    # Staff schedule the switch for today; the matrix has København ready to switch.
    now = datetime.datetime.now(DANISH_TIME)
    meeting = max(now - datetime.timedelta(minutes=30), now.replace(hour=0, minute=0))
    staff.get_by_label("Skiftedato").fill(today.isoformat())
    staff.get_by_label(re.compile("Mødet begynder kl")).fill(f"{meeting:%H.%M}")
    staff.get_by_label(re.compile("Servicevindue")).fill("30")
    assert posted(staff, staff.get_by_role("button", name="Planlæg skiftet").click) < 400
    expect(staff.locator("#opgave-switch-scheduled")).to_contain_text("Udført")
    staff.get_by_role("navigation", name="Drift").get_by_role("link", name="Migrering").click()
    staff.get_by_role("link", name=re.compile("klar til skift")).click()
    expect(staff.get_by_label("Vis")).to_have_value("klar-til-skift")
    listed = staff.get_by_role("region", name=re.compile("Kunderne")).get_by_role("row")
    expect(listed.filter(has_text="CVR ")).to_have_count(1)  # the others have not begun
    expect(listed.filter(has_text=f"CVR {KOEBENHAVN}")).to_contain_text("Klar til skift")
    look_at(staff, "staff-matrix-ready")

    # A reset reopens the gate: a page opened before it cannot move the switch or start the
    # switch day, and both sides say why.
    staff.goto(TASKS)
    runbook = staff.context.new_page()
    runbook.goto(RUNBOOK)
    reset_the_approval(staff.context.new_page())
    status = posted(staff, staff.get_by_role("button", name="Flyt skiftet").click)
    assert status in {400, 409}
    expect(staff.get_by_role("alert").first).to_contain_text(migration.GATE_APPROVAL_RESET)
    step = runbook.locator("#trin-idp-removed")
    status = posted(runbook, step.get_by_role("button", name=re.compile("^Registrér nu")).click)
    assert status in {400, 409}
    expect(runbook.get_by_role("alert").first).to_contain_text(migration.GATE_APPROVAL_RESET)
    assert "SwitchStepRecorded" not in portal.event_types(KOEBENHAVN)
    staff.goto(TASKS)
    expect(gate(staff)).to_contain_text(migration.GATE_REOPENED.strip())
    look_at(staff, "staff-tasks-reopened")
    signatory.goto("/migrering/")
    expect(gate(signatory)).to_contain_text(migration.GATE_REOPENED.strip())
    expect(gate(signatory)).to_contain_text(migration.GATE_APPROVAL_RESET)
    expect(signatory.locator("#opgave-approval")).to_contain_text(RESET_REASON)
    look_at(signatory, "municipality-checklist-reopened")
    colleague.goto(f"/aftaler/{agreement.id}")  # to be approved again, but not by them
    expect(colleague.get_by_role("button", name="Godkend")).to_have_count(0)
    expect(colleague.get_by_role("main")).to_contain_text("kan derfor ikke godkende aftalen")

    # The signatory approves again; the new approval needs a new check; the gate is open.
    approve(signatory, agreement.id)
    check_the_approval(staff)
    staff.goto(TASKS)
    expect(gate(staff)).to_contain_text("Klar til skift")

    # Switch day: the runbook, filled in live; two moments typed, two clicked, one corrected.
    staff.goto(TASKS)
    staff.get_by_role("link", name=f"Skiftedagens drejebog for {NAME}").click()
    assert path_of(staff) == RUNBOOK
    look_at(staff, "runbook-before")
    removed_at = (datetime.datetime.now(DANISH_TIME) - datetime.timedelta(minutes=20)).replace(
        second=0, microsecond=0
    )
    created_at = removed_at + datetime.timedelta(minutes=3)
    type_step(staff, "idp-removed", removed_at)
    expect(staff.locator(".downtime")).to_contain_text("Login er nede")
    type_step(staff, "idp-created", created_at)
    # The municipality accepts the invitation in its own MitID Erhverv portal and says so on
    # its checklist; staff see it in the runbook and verify the logins.
    colleague.goto("/migrering/")
    accepted = colleague.locator("#opgave-invitation-accepted")
    accepted.get_by_role("button", name=NOW_BUTTON).click()
    expect(colleague.locator("#opgave-invitation-accepted")).to_contain_text(
        f"registreret af {colleague_person.name}"
    )
    staff.reload()
    expect(staff.locator("#trin-invitation-accepted")).to_contain_text(
        f"registreret af {colleague_person.name}"
    )
    staff.locator("#trin-logins-verified").get_by_role("button", name=NOW_BUTTON).click()
    expect(staff.locator("#trin-logins-verified")).to_contain_text("registreret af Dorte Drift")
    corrected_at = created_at + datetime.timedelta(minutes=2)
    created = staff.locator("#trin-idp-created")
    created.get_by_text("Ret tidspunktet").click()  # the correction folds out
    created.get_by_label(re.compile("Det rigtige tidspunkt")).fill(danish_typed(corrected_at))
    created.get_by_label(re.compile("Hvorfor rettes tidspunktet")).fill(CORRECTION)
    created.get_by_role("button", name=re.compile("^Ret")).click()
    expect(staff.locator("#trin-idp-created")).to_contain_text(f"Kl. {corrected_at:%H.%M}")
    expect(staff.locator("#trin-idp-created")).to_contain_text(
        f"først registreret kl. {created_at:%H.%M}"
    )

    recorded = {
        e.event.step: e.actor.name
        for e in portal.ledger.history(cvr=KOEBENHAVN)
        if e.event_type == "SwitchStepRecorded" and e.actor is not None
    }
    assert recorded == {
        "idp-removed": "Dorte Drift",
        "idp-created": "Dorte Drift",
        "invitation-accepted": colleague_person.name,
        "logins-verified": "Dorte Drift",
    }
    switched = portal.ledger.migration_status(KOEBENHAVN)
    assert switched.switched
    steps = switched.switch.steps
    assert steps["idp-removed"] == removed_at.astimezone(datetime.UTC)
    assert steps["idp-created"] == corrected_at.astimezone(datetime.UTC)
    minutes = switched.switch.downtime_minutes
    assert minutes == round((steps["logins-verified"] - steps["idp-removed"]).total_seconds() / 60)
    assert 20 <= minutes <= 22  # typed 20 minutes ago, clicked since
    expect(staff.locator(".downtime")).to_contain_text(f"Nedetid: {minutes} minutter")
    expect(staff.locator(".downtime")).to_contain_text("inden for servicevinduet på 30 minutter")
    look_at(staff, "runbook-switched")
    expect(staff.locator("summary", has_text="Ret tidspunktet")).to_have_count(4)
    staff.emulate_media(media="print")  # printed, the runbook keeps its times, not its forms
    expect(staff.get_by_role("button")).to_have_count(0)
    expect(staff.locator(".downtime")).to_contain_text(f"Nedetid: {minutes} minutter")
    expect(staff.locator("#trin-logins-verified")).to_contain_text("registreret af Dorte Drift")
    staff.screenshot(path=SHOTS / "runbook-printed.png", full_page=True)
    staff.emulate_media(media="screen")

    signatory.goto("/migrering/")
    expect(gate(signatory)).to_contain_text("Skiftet er gennemført.")
    look_at(signatory, "municipality-checklist-switched")

    # The auditor: the migration report, its PDF, and its bundle, which verifies.
    auditor = new_context(viewport=WINDOW, locale="da-DK").new_page()
    log_in_as(auditor, "auditor", f"/revision/kunde/{KOEBENHAVN}")
    auditor.get_by_role("link", name=re.compile("Se migreringsrapporten")).click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text(
        f"Migreringsrapport for {NAME} (CVR {KOEBENHAVN})"
    )
    report = auditor.get_by_role("main")
    for item in migration.TASKS:
        expect(report).to_contain_text(item.title)
    expect(report).to_contain_text(hashlib.sha256(SIGNED_PDF).hexdigest())
    expect(report).to_contain_text(AD_NOTE)
    expect(report).to_contain_text(CORRECTION)
    expect(report).to_contain_text(f"{minutes} minutter")
    look_at(auditor, "auditor-report")
    with auditor.expect_download() as downloading:
        auditor.get_by_role("link", name="Hent rapporten (PDF)").click()
    pdf = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    [(attached_name, [attached])] = pypdf.PdfReader(pdf).attachments.items()
    assert attached_name == f"bevispakke-migrering-{KOEBENHAVN}.zip"
    with auditor.expect_download() as downloading:
        auditor.get_by_role("link", name="Hent bevispakken (zip)").click()
    bundle = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as opened:
        everything = b"".join(opened.read(name) for name in opened.namelist())
    for event_type in ("OperatingAgreementArchived", "SwitchStepRecorded", "ApprovalReset"):
        assert event_type.encode() in everything
    assert_verifies(bundle, portal)
    # The PDF carries the bundle too, for an auditor who was given only the report.
    from_pdf = tmp_path / "from-the-pdf" / attached_name  # the download has the same name
    from_pdf.parent.mkdir()
    from_pdf.write_bytes(attached)
    assert_verifies(from_pdf, portal)
    with zipfile.ZipFile(from_pdf) as opened, zipfile.ZipFile(bundle) as downloaded:
        assert sorted(opened.namelist()) == sorted(downloaded.namelist())


def assert_verifies(bundle: Path, portal: Portal) -> None:
    """`ledger verify --bundle` as an auditor runs it, on their own machine: a process with
    none of the portal's settings, given the bundle and the verifier keys."""
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "approval_ledger",
            "verify",
            "--bundle",
            str(bundle),
            "--keys",
            str(portal.verifier_keys),
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip().endswith("all holds")


def approve(page: Page, version_id) -> None:
    """Godkend, as the signatory does it: the statement ticked, from the keyboard (a click
    just after scrolling past the PDF frame can land in the frame in headless Chromium)."""
    page.goto(f"/aftaler/{version_id}")
    page.get_by_label(STATEMENT).press("Space")
    page.get_by_role("button", name="Godkend").press("Enter")
    page.wait_for_url(re.compile(r"/kvitteringer/\d+$"))


def check_the_approval(staff: Page) -> None:
    """Staff's list of approvals without a signal: København's is there; they mark it."""
    staff.goto("/drift/")
    staff.get_by_role("navigation", name="Drift").get_by_role("link", name="Tegningsret").click()
    row = staff.get_by_role("row").filter(has_text=f"CVR {KOEBENHAVN}")
    expect(row).to_contain_text(migration.SIGNING_BASIS_TITLES[migration.STATEMENT])
    row.get_by_label("Hvordan er det kontrolleret?").fill(CHECK_NOTE)
    row.get_by_role("button", name=re.compile("^Markér som kontrolleret")).click()
    expect(staff.get_by_role("row").filter(has_text=f"CVR {KOEBENHAVN}")).to_have_count(0)
    expect(staff.get_by_role("main")).to_contain_text(CHECK_NOTE)


def reset_the_approval(page: Page) -> None:
    """Staff reset København's approval, with a reason, confirmed in a second step."""
    page.goto(f"/drift/kunder/{KOEBENHAVN}")
    page.get_by_role("link", name=re.compile("Nulstil godkendelsen")).click()
    page.get_by_label("Hvorfor skal godkendelsen nulstilles?").fill(RESET_REASON)
    page.get_by_role("button", name="Videre til bekræftelse").click()
    page.get_by_role("button", name="Bekræft nulstilling").click()
    expect(page.get_by_role("status")).to_contain_text("er nulstillet")
    page.close()


def type_step(staff: Page, key: str, at: datetime.datetime) -> None:
    """A runbook step recorded with the moment typed (as staff do when they click late)."""
    step = staff.locator(f"#trin-{key}")
    step.get_by_label(re.compile("Eller skriv tidspunktet")).fill(danish_typed(at))
    step.get_by_role("button", name=re.compile("^Registrér(?! nu)")).click()
    expect(staff.locator(f"#trin-{key}")).to_contain_text(f"Kl. {at:%H.%M}")
