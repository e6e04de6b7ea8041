"""Staff's side of the migration with Flask's test client, logged in through the development
IdP as the operator's employee holding the staff role, on SQLite and PostgreSQL: the matrix
and its filters, the tasks staff record (refusals in Danish that keep what was typed), the
switch day's runbook, the approvals without a sign of signing authority, CSRF on every form,
and no 500 for anything a client sends."""

import datetime
import io
import re

import pytest

from development.demo import PERSONS_BY_KEY, demo_pdf, signatory
from ledger import migration
from ledger.danish_time import DANISH_TIME, danish_today
from tests.fixtures import login
from tests.helpers import staff_login, staff_world
from tests.web.test_staff import csrf_token, post
from web.display import day

AARHUS, KOEBENHAVN, ODENSE = "55133018", "64942212", "35209115"
STAFF = PERSONS_BY_KEY["staff"]
UPLOAD = {"content_type": "multipart/form-data"}
TASKS = f"/drift/kunder/{AARHUS}/migrering"
RUNBOOK = f"/drift/kunder/{AARHUS}/skiftedag"


@pytest.fixture
def agreement(app, operator):
    return staff_world(app, operator)


@pytest.fixture
def portal(app, make_portal, agreement):
    client = make_portal(app).test_client()
    staff_login(client)
    return client


def declaration_sent(app, cvr: str, operator) -> None:
    """The customer's declaration handed in, countersigned and sent today."""
    person = signatory({AARHUS: "aarhus", ODENSE: "odense", KOEBENHAVN: "koebenhavn"}[cvr])
    app.hand_in_declaration(
        cvr=cvr, document=demo_pdf("E", cvr), document_name="e.pdf", actor=person
    )
    app.countersign_declaration(
        cvr=cvr, document=demo_pdf("M", cvr), document_name="m.pdf", actor=operator
    )
    app.record_declaration_sent(
        cvr=cvr, sent_on=danish_today(), reference="DIGST-1", actor=operator
    )


def archived(app, cvr: str, operator) -> None:
    app.archive_operating_agreement(
        cvr=cvr,
        document=demo_pdf("Driftsaftale", cvr),
        document_name="driftsaftale.pdf",
        signed_on=danish_today(),
        actor=operator,
    )


def open_gate(app, operator, cvr: str = AARHUS) -> None:
    declaration_sent(app, cvr, operator)
    archived(app, cvr, operator)


def scheduled(app, operator, *, days: int = 10, window: int = 30) -> datetime.date:
    switch_on = danish_today() + datetime.timedelta(days=days)
    app.schedule_switch(
        cvr=AARHUS,
        switch_on=switch_on,
        meeting_at=datetime.datetime.combine(switch_on, datetime.time(10), DANISH_TIME),
        service_window_minutes=window,
        actor=operator,
    )
    return switch_on


def text_of(html: str) -> str:
    """The page's words as a person reads them (tags dropped, spaces joined, without the
    soft hyphens that let a long word break in a narrow column)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("\u00ad", "").split())


def matrix_row(html: str, cvr: str) -> str:
    found = next(row for row in html.split("<tr>") if f"CVR {cvr}" in row)
    return text_of(found.split("</tr>")[0])


def event_types(app, cvr: str) -> list[str]:
    return [entry.event_type for entry in app.history(cvr=cvr)]


# The matrix


def test_the_matrix_shows_each_customers_tasks_and_filters_them(portal, app, operator):
    open_gate(app, operator)
    app.hand_in_declaration(
        cvr=ODENSE, document=demo_pdf("E", "o"), document_name="e.pdf", actor=signatory("odense")
    )
    page = portal.get("/drift/migrering")
    assert page.status_code == 200
    headings = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', page.text, re.DOTALL)
    assert [text_of(h) for h in headings] == [
        "Kunde",
        "Driftsaftale",
        "Godkendelse",
        "Erklæring",
        "Tidligt skift til 15 tegn",
        "Full Service slået til",
        "Mailskabeloner",
        "Kodeordspolitik",
        "Vilkår",
        "Skiftedato aftalt",
        "Skiftedag",
        "Ventetid",
    ]
    today = day(danish_today())
    aarhus = matrix_row(page.text, AARHUS)
    assert aarhus.startswith(f"Aarhus Kommune CVR {AARHUS} ")
    assert f"Driftsaftale Udført {today}" not in aarhus  # cells, not headings
    assert (
        f"Udført {today} Udført {today} Udført {today}" in aarhus
    )  # agreement, approval, declaration
    assert "Afventer Full Service slået til" in aarhus  # the reviews wait for Full Service
    assert "Venter på os" in aarhus  # Full Service, staff's
    assert "Ikke planlagt" in aarhus
    odense = matrix_row(page.text, ODENSE)
    # Odense has not approved: the scheduling waits for the gate's three tasks.
    assert "Afventer Driftsaftale, Godkendelse, Erklæring" in odense
    assert "Viser alle 3 kunder." in page.text
    assert "<strong>0</strong> klar til skift" in page.text
    on_us = portal.get("/drift/migrering?vis=venter-paa-os").text
    assert f"CVR {AARHUS}" in on_us
    assert f"CVR {ODENSE}" in on_us  # Odense's declaration: the countersignature
    on_customer = portal.get("/drift/migrering?vis=venter-paa-kunden").text
    assert f"CVR {KOEBENHAVN}" in on_customer
    assert f"CVR {AARHUS}" not in on_customer  # its own tasks wait for Full Service first
    found = portal.get("/drift/migrering?soeg=odense").text
    assert "Viser 1 af 3 kunder." in found
    assert portal.get("/drift/migrering?vis=nonsense&soeg=" + "x" * 500).status_code == 200


def test_a_customer_ready_for_the_switch_is_told_apart(portal, app, operator):
    open_gate(app, operator)
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    anne = signatory("aarhus")
    app.review_mail_templates(cvr=AARHUS, decision="switched-off", note=None, actor=anne)
    app.review_password_policy(
        cvr=AARHUS, minimum_length=15, ad_matches=True, note=None, actor=anne
    )
    app.review_terms(cvr=AARHUS, outcome="deleted", note=None, actor=anne)
    page = portal.get("/drift/migrering?vis=klar-til-skift")
    assert "<strong>1</strong> klar til skift" in page.text
    assert "Viser 1 af 3 kunder." in page.text
    assert "Klar til skift" in matrix_row(page.text, AARHUS)


# Tasks staff record


def test_staff_archive_the_signed_operating_agreement_and_refusals_keep_the_date(portal, app):
    page = portal.get(TASKS)
    assert page.status_code == 200
    assert (
        "Skiftet kan ikke planlægges, før den opdaterede driftsaftale er underskrevet" in page.text
    )
    signed_on = (danish_today() - datetime.timedelta(days=3)).isoformat()
    refused = post(
        portal,
        f"{TASKS}/driftsaftale",
        {"signed_on": signed_on, "document": (io.BytesIO(b"not a pdf"), "aftale.pdf")},
        page=TASKS,
        **UPLOAD,
    )
    assert refused.status_code == 400
    assert "Filen er ikke en PDF" in refused.text
    assert f'value="{signed_on}"' in refused.text  # what was typed stays
    no_date = post(
        portal,
        f"{TASKS}/driftsaftale",
        {"signed_on": "", "document": (io.BytesIO(demo_pdf("D", "1")), "aftale.pdf")},
        page=TASKS,
        **UPLOAD,
    )
    assert no_date.status_code == 400
    assert "Skriv datoen for underskriften." in no_date.text
    assert "OperatingAgreementArchived" not in event_types(app, AARHUS)
    pdf = demo_pdf("Driftsaftale", "underskrevet")
    done = post(
        portal,
        f"{TASKS}/driftsaftale",
        {"signed_on": signed_on, "document": (io.BytesIO(pdf), "driftsaftale.pdf")},
        page=TASKS,
        **UPLOAD,
    )
    assert done.status_code == 302
    shown = portal.get(done.headers["Location"])
    assert "Den underskrevne driftsaftale er arkiveret for Aarhus Kommune." in shown.text
    [archived_event] = [
        e for e in app.history(cvr=AARHUS) if e.event_type == "OperatingAgreementArchived"
    ]
    assert archived_event.actor.person_uuid == STAFF.person_uuid
    assert archived_event.event.document_sha256 in shown.text
    assert "af Dorte Drift" in text_of(shown.text)
    assert portal.get(f"{TASKS}/driftsaftale.pdf").data == pdf


def test_full_service_needs_the_pupils_answer_and_who_set_it_up(portal, app):
    refused = post(
        portal, f"{TASKS}/full-service", {"pupils": "", "note": "Aftalt med IT"}, page=TASKS
    )
    assert refused.status_code == 400
    assert "Vælg, hvordan elevernes kodeordspolitik er håndteret." in refused.text
    assert "Aftalt med IT" in refused.text  # the note typed stays
    unnamed = post(portal, f"{TASKS}/full-service", {"pupils": "set-up"}, page=TASKS)
    assert unnamed.status_code == 400
    assert 'value="set-up" required checked' in unnamed.text
    assert "FullServiceEnabled" not in event_types(app, AARHUS)
    done = post(
        portal,
        f"{TASKS}/full-service",
        {"pupils": "set-up", "pupils_set_up_by": "Bo Berg", "note": ""},
        page=TASKS,
    )
    assert done.status_code == 302
    shown = text_of(portal.get(done.headers["Location"]).text)
    assert "Full Service er registreret som slået til for Aarhus Kommune." in shown
    assert migration.PUPILS["set-up"] in shown
    assert "Sat op af Bo Berg" in shown
    # The reviews it blocked wait for the municipality now.
    matrix = portal.get("/drift/migrering").text
    assert "Afventer Full Service slået til" not in matrix_row(matrix, AARHUS)


def test_staff_mark_a_municipalitys_task_not_relevant_only_on_its_word(portal, app):
    answer = post(
        portal,
        f"{TASKS}/mail-templates/ikke-relevant",
        {"reason": "Kommunen har ingen egne mailskabeloner."},
        page=TASKS,
    )
    assert answer.status_code == 400
    assert "Opgaven registreres af kommunen. Skriv, hvem hos kommunen" in answer.text
    assert "TaskMarkedNotRelevant" not in event_types(app, AARHUS)
    assert (
        portal.post(
            f"{TASKS}/nonsense/ikke-relevant", data={"csrf_token": csrf_token(portal, TASKS)}
        ).status_code
        == 404
    )


def test_staff_reopen_a_task_with_a_reason(portal, app, operator):
    archived(app, AARHUS, operator)
    short = post(portal, f"{TASKS}/operating-agreement/genaabn", {"reason": "Fejl"}, page=TASKS)
    assert short.status_code == 400
    assert "Fejl" in short.text
    done = post(
        portal,
        f"{TASKS}/operating-agreement/genaabn",
        {"reason": "Den forkerte PDF blev arkiveret."},
        page=TASKS,
    )
    assert done.status_code == 302
    assert "TaskReopened" in event_types(app, AARHUS)
    page = portal.get(TASKS).text
    assert "Genåbnet: Den forkerte PDF blev arkiveret." in page
    assert 'action="/drift/kunder/55133018/migrering/driftsaftale"' in page  # the form again


def test_the_switch_is_scheduled_only_once_the_gate_is_open(portal, app, operator):
    switch_on = (danish_today() + datetime.timedelta(days=14)).isoformat()
    fields = {"switch_on": switch_on, "meeting_at": "10.00", "service_window_minutes": "30"}
    refused = post(portal, f"{TASKS}/skiftedato", fields, page=TASKS)
    assert refused.status_code == 400
    assert migration.GATE_AGREEMENT in refused.text
    assert migration.GATE_DECLARATION in refused.text
    open_gate(app, operator)
    for typed, problem in (
        ({"service_window_minutes": "en halv time"}, "Skriv servicevinduet som et helt antal"),
        ({"meeting_at": "25.00"}, "Klokken 25.00 findes ikke"),
        ({"switch_on": "2026-02-30"}, ""),
        ({"switch_on": "2020-01-01"}, "Skiftedatoen kan ikke ligge før i dag."),
    ):
        answer = post(portal, f"{TASKS}/skiftedato", fields | typed, page=TASKS)
        assert answer.status_code == 400, typed
        assert problem in answer.text
        value = next(iter(typed.values()))
        assert f'value="{value}"' in answer.text  # what was typed stays
    done = post(portal, f"{TASKS}/skiftedato", fields, page=TASKS)
    assert done.status_code == 302
    shown = portal.get(done.headers["Location"]).text
    assert f"Skiftet for Aarhus Kommune er planlagt til {day(switch_on)}." in shown
    status = app.migration_status(AARHUS)
    assert status.switch.switch_on.isoformat() == switch_on
    assert status.switch.meeting_at.astimezone(DANISH_TIME).strftime("%H.%M") == "10.00"
    assert status.switch.service_window_minutes == 30
    matrix = matrix_row(portal.get("/drift/migrering").text, AARHUS)
    assert day(switch_on) in matrix
    # Due the day before the switch date, the plan's tasks before it.
    assert (
        f"senest {day(datetime.date.fromisoformat(switch_on) - datetime.timedelta(days=1))}"
        in matrix
    )


# The switch day's runbook


def test_the_runbook_records_each_step_now_or_as_typed_and_corrects_with_a_reason(
    portal, app, operator
):
    open_gate(app, operator)
    switch_on = scheduled(app, operator, days=0, window=20)
    page = portal.get(RUNBOOK)
    assert page.status_code == 200
    words = text_of(page.text)
    assert f"Skiftedagen er {day(switch_on)}, mødet begynder kl. 10.00." in words
    assert "servicevindue på 20 minutter" in words
    assert 'src="/static/clock.js"' in page.text
    assert re.search(
        r'<time id="clock-time" datetime="[^"]+">\d{2}\.\d{2}\.\d{2}</time>', page.text
    )
    # Out of order: the second step before the first.
    early = post(portal, f"{RUNBOOK}/idp-created", {}, page=RUNBOOK)
    assert early.status_code == 400
    assert "Registrér først trinet »IdP&#39;en er fjernet" in early.text
    now = datetime.datetime.now(DANISH_TIME)
    removed = now - datetime.timedelta(minutes=40)
    typed = f"{removed:%H.%M}"
    if removed.date() != switch_on:  # just after midnight: the date too
        typed = f"{removed:%d-%m-%Y %H.%M}"
    assert (
        post(portal, f"{RUNBOOK}/idp-removed", {"tidspunkt": typed}, page=RUNBOOK).status_code
        == 302
    )
    running = text_of(portal.get(RUNBOOK).text)
    assert (
        "Login er nede: nedetiden er indtil nu 40 minutter af et servicevindue på 20 minutter"
        in running
    )
    future = post(
        portal,
        f"{RUNBOOK}/idp-created",
        {"tidspunkt": f"{now + datetime.timedelta(hours=1):%d-%m-%Y %H.%M}"},
        page=RUNBOOK,
    )
    assert future.status_code == 400
    assert "er ikke kommet endnu" in future.text
    nonsense = post(portal, f"{RUNBOOK}/idp-created", {"tidspunkt": "om lidt"}, page=RUNBOOK)
    assert nonsense.status_code == 400
    assert "Skriv tidspunktet som klokkeslæt, fx 10.07" in nonsense.text
    assert 'value="om lidt"' in nonsense.text
    for step in ("idp-created", "invitation-accepted", "logins-verified"):  # one click each
        answer = post(portal, f"{RUNBOOK}/{step}", {}, page=RUNBOOK)
        assert answer.status_code == 302, answer.text
    done = text_of(portal.get(RUNBOOK).text)
    # From the minute typed to the click now: 40 minutes and the seconds since that minute.
    downtime = app.migration_status(AARHUS).switch.downtime_minutes
    assert downtime in (40, 41)
    assert f"Nedetid: {downtime} minutter" in done
    over = f"Det er {downtime - 20} minutter længere end servicevinduet på 20 minutter."
    assert over in done
    # A correction needs a reason; the first moment stays in the log and on the page.
    corrected_at = removed + datetime.timedelta(minutes=25)
    fields = {"tidspunkt": f"{corrected_at:%d-%m-%Y %H.%M}", "reason": ""}
    no_reason = post(portal, f"{RUNBOOK}/idp-removed", fields, page=RUNBOOK)
    assert no_reason.status_code == 400
    assert f'value="{corrected_at:%d-%m-%Y %H.%M}"' in no_reason.text
    fields["reason"] = "Kommunen fjernede IdP'en senere end først sagt."
    assert post(portal, f"{RUNBOOK}/idp-removed", fields, page=RUNBOOK).status_code == 302
    shown = text_of(portal.get(RUNBOOK).text)
    assert f"Nedetid: {downtime - 25} minutter" in shown
    assert "Det er inden for servicevinduet på 20 minutter." in shown
    assert f"rettet; først registreret kl. {removed:%H.%M}" in shown
    assert event_types(app, AARHUS).count("SwitchStepRecorded") == 5
    assert app.migration_status(AARHUS).switched
    assert "Har skiftet" not in shown
    assert "<strong>1</strong> har skiftet" in portal.get("/drift/migrering").text


def test_the_runbook_without_a_switch_scheduled_says_so_and_records_nothing(portal, app):
    page = portal.get(RUNBOOK)
    assert page.status_code == 200
    assert "Skiftedagen er ikke planlagt endnu." in page.text
    assert "Registrér nu" not in page.text
    refused = post(portal, f"{RUNBOOK}/idp-removed", {}, page=RUNBOOK)
    assert refused.status_code == 400
    assert "SwitchStepRecorded" not in event_types(app, AARHUS)
    assert portal.get(f"/drift/kunder/{AARHUS}/skiftedag/nonsense").status_code == 405
    assert post(portal, f"{RUNBOOK}/nonsense", {}, page=RUNBOOK).status_code == 404
    assert portal.get("/drift/kunder/12345678/skiftedag").status_code == 404


# Approvals without a sign of signing authority


def test_an_approval_without_a_sign_is_listed_until_staff_mark_it_checked(portal, app, agreement):
    path = "/drift/godkendelser/uden-tegningsret"
    page = portal.get(path)
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Aarhus Kommune" in words
    assert "Anne Andersen" in words
    assert "Ikke registreret" in words
    check = f"/drift/godkendelser/{AARHUS}/{agreement.id}/kontrolleret"
    approval = app.approval(AARHUS, agreement.id)
    no_note = post(
        portal, check, {"note": "", "approved_version": str(approval.approved_version)}, page=path
    )
    assert no_note.status_code == 400
    assert "Skriv, hvordan du har kontrolleret tegningsretten." in no_note.text
    stale = post(portal, check, {"note": "Ringet til kommunen", "approved_version": "x"}, page=path)
    assert stale.status_code == 400
    assert "Ringet til kommunen" in stale.text
    note = "Ringet til borgmesterens kontor, Anne Andersen er tegningsberettiget."
    done = post(
        portal, check, {"note": note, "approved_version": str(approval.approved_version)}, page=path
    )
    assert done.status_code == 302
    after = portal.get(done.headers["Location"]).text
    assert "Godkendelsen fra Aarhus Kommune er markeret som kontrolleret." in after
    assert "Alle gældende godkendelser har et tegn på tegningsret eller er kontrolleret." in after
    assert note in after  # the check and its note, under "Kontrolleret af driften"
    assert "SigningAuthorityChecked" in event_types(app, AARHUS)


# Every form: CSRF, and nothing a client sends is a 500

FORMS = {
    f"{TASKS}/driftsaftale": ("signed_on", "document"),
    f"{TASKS}/full-service": ("pupils", "pupils_set_up_by", "note"),
    f"{TASKS}/skiftedato": ("switch_on", "meeting_at", "service_window_minutes"),
    f"{TASKS}/early-password-policy/ikke-relevant": ("reason",),
    f"{TASKS}/operating-agreement/genaabn": ("reason",),
    f"{RUNBOOK}/idp-removed": ("tidspunkt", "reason"),
    f"{RUNBOOK}/logins-verified": ("tidspunkt", "reason"),
}
HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "9" * 400,
    "\x00",
    "a\x00b",
    "\u202egnp.exe",
    "x" * 10_000,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "2026-02-30",
    "9999-12-31",
    "0001-01-01",
    "24.00",
    "99.99",
    "31-12-9999 23.59",
    "1-1-0001 00.00",
    "٣.٠٠",
    "１０.００",
]


def test_every_migration_form_needs_its_csrf_token(portal, app, agreement, operator):
    open_gate(app, operator)
    scheduled(app, operator, days=0)
    before = len(list(app.history()))
    for path in [*FORMS, f"/drift/godkendelser/{AARHUS}/{agreement.id}/kontrolleret"]:
        answer = portal.post(path, data={"reason": "En begrundelse, der er lang nok."})
        assert answer.status_code == 400, path
        assert "sikkerhedsnøgle" in answer.text or "CSRF" not in answer.text
    assert len(list(app.history())) == before


def test_no_hostile_value_in_a_migration_form_is_a_500(portal, app, agreement, operator):
    open_gate(app, operator)
    scheduled(app, operator, days=0)
    token = csrf_token(portal, TASKS)
    forms = FORMS | {
        f"/drift/godkendelser/{AARHUS}/{agreement.id}/kontrolleret": ("note", "approved_version")
    }
    for path, fields in forms.items():
        for name in fields:
            for value in HOSTILE:
                data: dict = {"csrf_token": token, name: value}
                if name == "document":
                    data[name] = (io.BytesIO(value.encode()), value or "x.pdf")
                answer = portal.post(path, data=data, content_type="multipart/form-data")
                assert answer.status_code < 500, (path, name, value, answer.text[:300])
    for path in ("/drift/migrering", TASKS, RUNBOOK, "/drift/godkendelser/uden-tegningsret"):
        assert portal.get(path).status_code == 200


def test_a_reset_ends_the_check_and_a_new_approval_without_a_sign_is_listed_again(
    portal, app, agreement, operator
):
    path = "/drift/godkendelser/uden-tegningsret"
    approval = app.approval(AARHUS, agreement.id)
    app.check_signing_authority(
        cvr=AARHUS,
        version_id=agreement.id,
        approved_version=approval.approved_version,
        actor=operator,
        note="Ringet op.",
    )
    assert "Alle gældende godkendelser har et tegn" in portal.get(path).text
    # The list's reset link leads to the reset, which asks why and records it.
    app.reset_approval(
        cvr=AARHUS,
        version_id=agreement.id,
        reason="Godkendt af en medarbejder uden tegningsret.",
        actor=operator,
    )
    assert "Alle gældende godkendelser har et tegn" in portal.get(path).text  # none in force
    app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory("aarhus"),
        authentication=login(app, "_a2"),
        ip="127.0.0.1",
        user_agent="test",
        signing_basis=["statement"],
    )
    assert app.approval(AARHUS, agreement.id).is_approved
    listed = text_of(portal.get(path).text)
    assert "Aarhus Kommune" in listed
    assert "Bekræftet erklæring om tegningsret" in listed  # the basis it has, no signal
    assert f'href="/drift/godkendelser/{AARHUS}/{agreement.id}/nulstil"' in portal.get(path).text


def test_a_reset_after_the_switch_was_scheduled_reopens_the_gate_on_staffs_pages(
    portal, app, agreement, operator
):
    open_gate(app, operator)
    switch_on = scheduled(app, operator, days=3)
    app.reset_approval(
        cvr=AARHUS,
        version_id=agreement.id,
        reason="Godkendt af en medarbejder uden tegningsret.",
        actor=operator,
    )
    row = matrix_row(portal.get("/drift/migrering").text, AARHUS)
    assert "Forudsætning mangler Godkendelse" in row  # not "Udført": the gate closed again
    assert day(switch_on) in row
    assert row.endswith("Forudsætning mangler 0 dage")  # the switch day's cell, then the wait
    for path in (TASKS, RUNBOOK):
        page = portal.get(path).text
        assert "Skiftet var planlagt, men en forudsætning mangler nu:" in page
        assert migration.GATE_APPROVAL_RESET in page
    assert "Registrér nu" not in portal.get(RUNBOOK).text
