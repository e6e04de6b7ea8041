"""The municipality's side of the migration with Flask's test client, logged in through the
development IdP: its checklist, the tasks it records itself, the gate as it reads it, and
the colleague role its signatory grants (SQLite and PostgreSQL)."""

import datetime
import re
from html import unescape

import pytest

from development.demo import CUSTOMERS, PERSONS_BY_KEY, demo_pdf, signatory
from ledger import migration
from ledger.danish_time import DANISH_TIME, danish_day, danish_today
from ledger.domain import GRANT_NEEDS_STATEMENT, colleague_grant_statement
from ledger.identity import Actor
from tests.fixtures import login
from tests.web.test_login import log_in
from web.display import at_minute

KOEBENHAVN = "64942212"
AARHUS = "55133018"
FREDERIK = PERSONS_BY_KEY["koebenhavn"]
IDA = PERSONS_BY_KEY["koebenhavn-it"]


@pytest.fixture
def agreement(app, operator):
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    for key, role in (("staff", "staff"), ("auditor", "auditor")):
        person = PERSONS_BY_KEY[key]
        app.grant_role(
            person_uuid=person.person_uuid,
            person_name=person.name,
            role=role,
            cvrs=[],
            actor=operator,
        )
    return app.publish_agreement(
        title="Driftsaftale",
        version_label="2026.1",
        document=demo_pdf("Driftsaftale", "2026.1"),
        document_name="driftsaftale.pdf",
        actor=operator,
    )


@pytest.fixture
def portal(app, make_portal, agreement):
    return make_portal(app).test_client()


def text_of(page) -> str:
    """The page's words, without tags, with its entities read, spaces as one."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page.text)))


def csrf_token(client, path: str = "/migrering/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def post(client, path: str, data: dict[str, str], *, page: str = "/migrering/"):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


def event_types(app, cvr: str) -> list[str]:
    return [e.event_type for e in app.signed_log.entries() if e.cvr == cvr]


def gate_open(app, agreement, operator, cvr: str = KOEBENHAVN, approver: str = "koebenhavn"):
    """The three things the gate asks for: the agreement archived, approved, the declaration
    sent to the Agency."""
    app.archive_operating_agreement(
        cvr=cvr,
        document=demo_pdf("Driftsaftale underskrevet", "2026"),
        document_name="driftsaftale-underskrevet.pdf",
        signed_on=danish_today(),
        actor=operator,
    )
    app.approve(
        cvr=cvr,
        version_id=agreement.id,
        actor=signatory(approver),
        authentication=login(app, f"_approve-{cvr}"),
        ip="127.0.0.1",
        user_agent="test",
        signing_basis=[migration.STATEMENT],
    )
    actor = signatory(approver)
    app.hand_in_declaration(
        cvr=cvr, document=demo_pdf("Erklaering", "1"), document_name="e.pdf", actor=actor
    )
    app.countersign_declaration(
        cvr=cvr, document=demo_pdf("Erklaering", "2"), document_name="e2.pdf", actor=operator
    )
    app.record_declaration_sent(
        cvr=cvr, sent_on=danish_today(), reference="DIGST-1", actor=operator
    )


def schedule(app, operator, cvr: str = KOEBENHAVN) -> None:
    today = danish_today()
    meeting = datetime.datetime.combine(today, datetime.time(23, 30), DANISH_TIME)
    app.schedule_switch(
        cvr=cvr, switch_on=today, meeting_at=meeting, service_window_minutes=30, actor=operator
    )


def test_the_checklist_shows_every_task_and_why_the_switch_cannot_be_scheduled_yet(portal):
    log_in(portal, "koebenhavn")
    page = portal.get("/migrering/")
    assert page.status_code == 200, page.text
    words = text_of(page)
    assert "Skiftet til Full Service IdP for Københavns Kommune" in words
    for task in migration.TASKS:
        assert task.title in words, task.key
    for title in ("Kan udføres nu", "Kort før skiftedatoen", "På skiftedatoen"):
        assert title in words
    for refusal in (migration.GATE_APPROVAL, migration.GATE_AGREEMENT, migration.GATE_DECLARATION):
        assert refusal in words
    # What is next for the municipality, with links to the tasks.
    next_part = words.split("Det næste")[1].split("Kan udføres nu")[0]
    assert "Digital godkendelse af OS2faktor-aftalen" in next_part
    assert 'href="#opgave-approval"' in page.text
    assert "Gå til Aftaler og godkend aftalen" in words
    # Tasks that wait for others say what they wait for, and what they block.
    mail = section(page, "mail-templates")
    assert "Afventer andre opgaver" in mail
    assert "Full Service IdP-indstillinger slået til" in mail


def section(page, key: str) -> str:
    """The words of one task's section of the checklist."""
    found = re.search(
        rf'<section class="task" id="opgave-{re.escape(key)}".*?</section>', page.text, re.S
    )
    assert found, key
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", found.group(0))))


def test_the_municipality_records_its_tasks_and_the_checklist_says_who_when_and_the_receipt(
    portal, app, operator
):
    app.enable_full_service(
        cvr=KOEBENHAVN, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    log_in(portal, "koebenhavn")
    answers = {
        "mail-templates": {"decision": "switched-off", "note": "Vores to skabeloner er slået fra."},
        "password-policy": {"minimum_length": "16", "ad_matches": "ja", "note": ""},
        "terms": {"outcome": "addendum", "note": ""},
        "early-password-policy": {"users_told_on": "1-11-2026"},
    }
    for key, data in answers.items():
        done = post(portal, f"/migrering/opgaver/{key}", data)
        assert done.status_code == 302, (key, done.text)
        assert done.headers["Location"].endswith(f"/migrering/#opgave-{key}")
    entries = {e.event_type: e for e in app.signed_log.entries() if e.cvr == KOEBENHAVN}
    for event_type in (
        "MailTemplatesReviewed",
        "PasswordPolicyReviewed",
        "TermsReviewed",
        "EarlyPasswordPolicyAnnounced",
    ):
        assert entries[event_type].actor.person_uuid == FREDERIK.person_uuid
        assert entries[event_type].actor.cvr == KOEBENHAVN
    assert entries["PasswordPolicyReviewed"].event.minimum_length == 16
    assert entries["PasswordPolicyReviewed"].event.ad_matches is True
    assert entries["EarlyPasswordPolicyAnnounced"].event.users_told_on == "2026-11-01"
    page = portal.get("/migrering/")
    assert "er registreret" in page.text  # the flashed message of the last one
    mail = section(page, "mail-templates")
    recorded = entries["MailTemplatesReviewed"]
    assert "Udført" in mail
    assert f"Udført af Frederik Friis den {at_minute(recorded.recorded_at)}" in mail
    assert migration.MAIL_DECISIONS["switched-off"] in mail
    assert "Vores to skabeloner er slået fra." in mail
    assert f'href="/kvitteringer/{recorded.seq}"' in page.text
    assert "Mindste længde på kodeord 16 tegn" in section(page, "password-policy")
    assert "Kodeordspolitikken i AD svarer til OS2faktor Ja" in section(page, "password-policy")
    assert "Brugerne fik besked den 1. november 2026" in section(page, "early-password-policy")
    assert migration.TERMS_OUTCOMES["addendum"] in section(page, "terms")
    # The receipt is the municipality's own to read.
    assert portal.get(f"/kvitteringer/{recorded.seq}").status_code == 200
    # Done, a task's form is offered only folded away, to record a new review.
    assert '<details class="again">' in page.text
    assert "Registrér opgaven igen" in section(page, "terms")


@pytest.mark.parametrize(
    ("key", "data", "message"),
    [
        (
            "password-policy",
            {"minimum_length": "12", "ad_matches": "ja", "note": "Vi bruger 12 i dag."},
            "Med Full Service skal kodeord være mindst 15 tegn; 12 er for kort.",
        ),
        (
            "password-policy",
            {"minimum_length": "femten", "ad_matches": "ja", "note": "Skrevet med bogstaver."},
            "Kodeordenes mindste længde skal være et heltal, fx 15.",
        ),
        (
            "password-policy",
            {"minimum_length": "15", "ad_matches": "nej", "note": ""},
            "Skriv en bemærkning, når kodeordspolitikken i AD ikke matcher.",
        ),
        (
            "password-policy",
            {"minimum_length": "15", "note": "Intet svar om AD."},
            "Svar ja eller nej: matcher kodeordspolitikken i AD?",
        ),
        (
            "mail-templates",
            {"decision": "maybe", "note": "En bemærkning, der skal stå der endnu."},
            "Vælg hvad der er besluttet om egne mailskabeloner",
        ),
        (
            "early-password-policy",
            {"users_told_on": "31-2-2026"},
            "skal være en dato som 1-12-2026",
        ),
        ("early-password-policy", {"users_told_on": ""}, "Skriv datoen, brugerne fik besked"),
    ],
)
def test_a_refused_form_says_why_in_danish_beside_it_and_keeps_what_was_typed(
    portal, app, operator, key, data, message
):
    app.enable_full_service(
        cvr=KOEBENHAVN, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    log_in(portal, "koebenhavn")
    before = len(list(app.signed_log.entries()))
    refused = post(portal, f"/migrering/opgaver/{key}", data)
    assert refused.status_code == 400
    assert len(list(app.signed_log.entries())) == before  # nothing recorded
    part = re.search(
        rf'<section class="task" id="opgave-{key}".*?</section>', refused.text, re.S
    ).group(0)
    assert f'id="{key}-fejl"' in part
    assert 'role="alert"' in part
    assert message in unescape(part)
    for name, value in data.items():
        if not value:
            continue
        if name == "note":
            assert f">{value}</textarea>" in unescape(part), name
        elif name in ("decision", "ad_matches", "outcome"):
            if value in ("ja", "nej", "switched-off", "kept"):
                assert re.search(rf'value="{value}" checked', part), name
        else:
            assert f'value="{value}"' in part, name
    assert refused.text.count('role="alert"') == 1  # only beside that task's form


def test_a_task_is_not_relevant_only_with_a_reason_and_terms_never_are(portal, app, operator):
    app.enable_full_service(
        cvr=KOEBENHAVN, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    log_in(portal, "koebenhavn")
    refused = post(portal, "/migrering/opgaver/mail-templates/ikke-relevant", {"reason": ""})
    assert refused.status_code == 400
    part = unescape(
        re.search(
            r'<section class="task" id="opgave-mail-templates".*?</section>', refused.text, re.S
        ).group(0)
    )
    assert "kræver en begrundelse" in part
    assert "<details open>" in part  # the form with the error is shown, not folded away
    never = post(
        portal, "/migrering/opgaver/terms/ikke-relevant", {"reason": "Vi har ingen vilkår."}
    )
    assert never.status_code == 400
    assert "Vilkårene skal gennemgås" in unescape(never.text)
    reason = "Kommunen har aldrig haft egne mailskabeloner."
    done = post(portal, "/migrering/opgaver/mail-templates/ikke-relevant", {"reason": reason})
    assert done.status_code == 302
    page = portal.get("/migrering/")
    mail = section(page, "mail-templates")
    assert "Ikke relevant" in mail
    assert reason in mail
    assert "Markeret som ikke relevant af Frederik Friis" in mail
    marked = [e for e in app.signed_log.entries() if e.event_type == "TaskMarkedNotRelevant"]
    assert [(e.event.task, e.event.reason, e.cvr) for e in marked] == [
        ("mail-templates", reason, KOEBENHAVN)
    ]


def test_what_a_client_sends_is_never_a_500_and_every_form_needs_its_csrf_token(portal, app):
    log_in(portal, "koebenhavn")
    hostile = ["", "\x00", "x" * 10_000, "<script>", "9" * 400, "１５", "٣", "../../etc"]
    for key in ("mail-templates", "password-policy", "terms", "early-password-policy"):
        for value in hostile:
            data = dict.fromkeys(
                ("decision", "note", "minimum_length", "ad_matches", "outcome", "users_told_on"),
                value,
            )
            for path in (f"/migrering/opgaver/{key}", f"/migrering/opgaver/{key}/ikke-relevant"):
                answer = post(portal, path, {**data, "reason": value})
                assert answer.status_code < 500, (path, value, answer.text[:200])
    for path in (
        "/migrering/opgaver/approval",
        "/migrering/opgaver/x",
        "/migrering/skiftedag/idp-created",
    ):
        assert post(portal, path, {}).status_code == 404, path
    for value in hostile:
        answer = post(portal, "/migrering/kolleger", {"person_uuid": value, "person_name": value})
        assert answer.status_code < 500, value
        answer = portal.get("/migrering/kolleger/fratag", query_string={"person_uuid": value})
        assert answer.status_code == 404, value
    without = portal.post("/migrering/opgaver/terms", data={"outcome": "deleted"})
    assert without.status_code == 400
    assert "sikkerhedsnøgle" in without.text
    assert "TermsReviewed" not in event_types(app, KOEBENHAVN)


def test_a_person_sees_and_records_only_for_their_own_cvr(portal, app, operator):
    app.enable_full_service(
        cvr=KOEBENHAVN, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    log_in(portal, "aarhus")
    page = portal.get("/migrering/")
    assert "Skiftet til Full Service IdP for Aarhus Kommune" in text_of(page)
    assert "Københavns Kommune" not in text_of(page)
    post(portal, "/migrering/opgaver/terms", {"outcome": "deleted", "cvr": KOEBENHAVN})
    assert "TermsReviewed" in event_types(app, AARHUS)
    assert "TermsReviewed" not in event_types(app, KOEBENHAVN)
    # Staff and auditors are not a municipality: the checklist is not theirs.
    for persona in ("staff", "auditor"):
        log_in(portal, persona)
        assert portal.get("/migrering/").status_code == 403, persona


def test_a_reset_approval_reopens_the_gate_and_the_checklist_says_so(
    portal, app, operator, agreement
):
    gate_open(app, agreement, operator)
    log_in(portal, "koebenhavn")
    words = text_of(portal.get("/migrering/"))
    assert "Kan skiftet planlægges? Ja." in words
    schedule(app, operator)
    words = text_of(portal.get("/migrering/"))
    today = danish_day(danish_today())
    assert f"Skiftet er planlagt til {today}." in words
    assert "servicevindue på 30 minutter" in words
    app.reset_approval(
        cvr=KOEBENHAVN,
        version_id=agreement.id,
        actor=operator,
        reason="Frederik Friis er ikke tegningsberettiget.",
    )
    page = portal.get("/migrering/")
    words = text_of(page)
    assert migration.GATE_REOPENED + migration.GATE_APPROVAL_RESET in words
    approval = section(page, "approval")
    assert "Venter på kommunen" in approval
    assert "Frederik Friis er ikke tegningsberettiget." in approval


def test_the_municipality_records_its_own_switch_day_steps_at_the_moment_it_presses(
    portal, app, operator, agreement
):
    gate_open(app, agreement, operator)
    schedule(app, operator)
    log_in(portal, "koebenhavn")
    page = portal.get("/migrering/")
    assert 'action="/migrering/skiftedag/idp-removed"' in page.text
    assert 'action="/migrering/skiftedag/invitation-accepted"' not in page.text  # not yet
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    done = post(portal, "/migrering/skiftedag/idp-removed", {})
    assert done.status_code == 302, done.text
    step = next(e for e in app.signed_log.entries() if e.event_type == "SwitchStepRecorded")
    assert step.event.step == "idp-removed"
    assert step.actor.person_uuid == FREDERIK.person_uuid
    assert datetime.datetime.fromisoformat(step.event.at) >= before
    # Again is refused with the domain's words (a correction is staff's, with a reason).
    again = post(portal, "/migrering/skiftedag/idp-removed", {})
    assert again.status_code == 400
    assert "kræver en begrundelse" in section(again, "idp-removed")
    assert len([e for e in app.signed_log.entries() if e.event_type == "SwitchStepRecorded"]) == 1
    removed = section(portal.get("/migrering/"), "idp-removed")
    assert f"Sket den {at_minute(step.event.at)}, registreret af Frederik Friis." in removed


def test_the_signatory_grants_and_revokes_the_colleague_role_who_records_but_cannot_approve(
    app, make_portal, agreement, operator
):
    app.enable_full_service(
        cvr=KOEBENHAVN, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    flask_app = make_portal(app)
    frederik, ida = flask_app.test_client(), flask_app.test_client()
    log_in(frederik, "koebenhavn")
    page = frederik.get("/migrering/kolleger")
    assert "Ingen har rollen Kollega for kommunen." in text_of(page)
    missing = post(
        frederik,
        "/migrering/kolleger",
        {"person_uuid": IDA.person_uuid, "person_name": ""},
        page="/migrering/kolleger",
    )
    assert missing.status_code == 400
    assert f'value="{IDA.person_uuid}"' in missing.text  # kept
    unconfirmed = post(
        frederik,
        "/migrering/kolleger",
        {"person_uuid": IDA.person_uuid, "person_name": IDA.name},
        page="/migrering/kolleger",
    )
    assert unconfirmed.status_code == 400
    assert GRANT_NEEDS_STATEMENT in text_of(unconfirmed)
    assert app.colleagues_of(KOEBENHAVN) == []
    granted = post(
        frederik,
        "/migrering/kolleger",
        {"person_uuid": IDA.person_uuid, "person_name": IDA.name, "bekraeft": "ja"},
        page="/migrering/kolleger",
    )
    assert granted.status_code == 302, granted.text
    grant = next(
        e
        for e in app.signed_log.entries()
        if e.event_type == "RoleGranted" and e.event.role == "colleague"
    )
    assert grant.event.cvrs == [KOEBENHAVN]
    assert grant.actor.person_uuid == FREDERIK.person_uuid
    # Recorded as an approval records it: the statement ticked and what the login said
    # (the development IdP sends Frederik no authorizedToRepresent).
    assert grant.event.confirmed_statement == colleague_grant_statement("Københavns Kommune")
    assert grant.event.signing_basis == ["statement"]
    assert "Ida Iversen" in text_of(frederik.get("/migrering/kolleger"))

    log_in(ida, "koebenhavn-it")
    words = text_of(ida.get("/migrering/"))
    assert "Du har rollen Kollega for Københavns Kommune" in words
    assert "Giv en kollega adgang" not in words
    assert post(ida, "/migrering/opgaver/terms", {"outcome": "deleted"}).status_code == 302
    terms = next(e for e in app.signed_log.entries() if e.event_type == "TermsReviewed")
    assert terms.actor.person_uuid == IDA.person_uuid
    # A colleague does not hand the role on, nor take it away.
    handed_on = post(
        ida,
        "/migrering/kolleger",
        {"person_uuid": PERSONS_BY_KEY["low"].person_uuid, "person_name": "Gitte Gram"},
        page="/migrering/kolleger",
    )
    assert handed_on.status_code == 403
    assert (
        ida.get(
            "/migrering/kolleger/fratag", query_string={"person_uuid": IDA.person_uuid}
        ).status_code
        == 403
    )

    ask = frederik.get("/migrering/kolleger/fratag", query_string={"person_uuid": IDA.person_uuid})
    assert ask.status_code == 200
    assert "Fratag Ida Iversen rollen Kollega" in text_of(ask)
    no_reason = post(
        frederik,
        "/migrering/kolleger/fratag",
        {"person_uuid": IDA.person_uuid, "reason": ""},
        page="/migrering/kolleger",
    )
    assert no_reason.status_code == 400
    revoked = post(
        frederik,
        "/migrering/kolleger/fratag",
        {"person_uuid": IDA.person_uuid, "reason": "Ida Iversen har fået andre opgaver."},
        page="/migrering/kolleger",
    )
    assert revoked.status_code == 302, revoked.text
    revocation = next(e for e in app.signed_log.entries() if e.event_type == "RoleRevoked")
    assert revocation.event.reason == "Ida Iversen har fået andre opgaver."
    assert revocation.actor.person_uuid == FREDERIK.person_uuid
    assert app.colleagues_of(KOEBENHAVN) == []
    # Her session ended with the role (every session of hers, as a revoked role does).
    assert ida.get("/migrering/").status_code == 302


def test_staff_recorded_tasks_show_the_supplier_and_their_evidence(portal, app, operator):
    staff = Actor.person(
        person_uuid=PERSONS_BY_KEY["staff"].person_uuid,
        name="Dorte Drift",
        cvr="12345674",
        organisation="Digital Identity ApS",
        loa=PERSONS_BY_KEY["staff"].loa,
    )
    app.archive_operating_agreement(
        cvr=KOEBENHAVN,
        document=demo_pdf("Driftsaftale underskrevet", "2026"),
        document_name="driftsaftale-underskrevet.pdf",
        signed_on=datetime.date(2026, 11, 20),
        actor=staff,
    )
    log_in(portal, "koebenhavn")
    page = portal.get("/migrering/")
    archived = section(page, "operating-agreement")
    assert "Udført af Dorte Drift" in archived
    assert "Underskrevet den 20. november 2026" in archived
    assert "driftsaftale-underskrevet.pdf" in archived
    entry = next(
        e for e in app.signed_log.entries() if e.event_type == "OperatingAgreementArchived"
    )
    assert entry.event.document_sha256 in archived
    document = portal.get(f"/kvitteringer/{entry.seq}/dokument")
    assert document.status_code == 200
    assert document.data == demo_pdf("Driftsaftale underskrevet", "2026")
    assert migration.GATE_AGREEMENT not in text_of(page)


def test_godkend_stays_the_signatorys_a_colleague_sees_no_button_and_records_no_approval(
    app, make_portal, agreement
):
    app.grant_colleague(
        cvr=KOEBENHAVN,
        person_uuid=IDA.person_uuid,
        person_name=IDA.name,
        actor=signatory("koebenhavn"),
        confirmed_statement=colleague_grant_statement(CUSTOMERS[KOEBENHAVN]),
        signing_basis=["statement"],
    )
    ida = make_portal(app).test_client()
    log_in(ida, "koebenhavn-it")
    agreement_page = ida.get(f"/aftaler/{agreement.id}")
    assert ">Godkend</button>" not in agreement_page.text
    assert "kan derfor ikke godkende aftalen" in text_of(agreement_page)
    godkend = ida.post(
        f"/aftaler/{agreement.id}/godkend",
        data={"bekraeft": "ja", "csrf_token": csrf_token(ida, f"/aftaler/{agreement.id}")},
    )
    assert godkend.status_code < 500
    assert "Approved" not in event_types(app, KOEBENHAVN), godkend.status_code
