"""The migration's loose ends (issue 15) in the portal, with Flask's test client logged in
through the development IdP, on SQLite and PostgreSQL: staff mark a municipality's task not
relevant on its word and every page says so; a municipality records a finished task again;
staff catch a colleague role granted without a sign of signing authority, check it or take
the role away."""

import re
from html import unescape

import pytest

from development.demo import PERSONS_BY_KEY
from ledger.domain import colleague_grant_statement
from ledger.migration import BLOCKED_BY_FULL_SERVICE
from tests.helpers import staff_login, staff_world
from tests.web.test_login import log_in
from tests.web.test_staff import csrf_token, post

AARHUS, KOEBENHAVN = "55133018", "64942212"
TASKS = f"/drift/kunder/{AARHUS}/migrering"
GRANTS = "/drift/kolleger/uden-tegningsret"
IDA = PERSONS_BY_KEY["koebenhavn-it"]
REASON = "Kommunen har ingen egne mailskabeloner."


@pytest.fixture
def agreement(app, operator):
    version = staff_world(app, operator)
    auditor = PERSONS_BY_KEY["auditor"]
    app.grant_role(
        person_uuid=auditor.person_uuid,
        person_name=auditor.name,
        role="auditor",
        cvrs=[],
        actor=operator,
    )
    return version


@pytest.fixture
def portal(app, make_portal, agreement):
    client = make_portal(app).test_client()
    staff_login(client)
    return client


def text_of(page) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page.text)))


def section(page, key: str) -> str:
    found = re.search(rf'<section class="task" id="opgave-{key}".*?</section>', page.text, re.S)
    assert found, key
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", found.group(0))))


def event_types(app, cvr: str) -> list[str]:
    return [e.event_type for e in app.signed_log.entries() if e.cvr == cvr]


def test_staff_mark_a_municipalitys_task_not_relevant_on_its_word_and_every_page_says_so(
    portal, app, make_portal
):
    form = f"{TASKS}/mail-templates/ikke-relevant"
    tasks = portal.get(TASKS)
    assert "Markér som ikke relevant på kommunens ord" in tasks.text
    # The terms can never be marked not relevant: no form for them.
    assert f"{TASKS}/terms/ikke-relevant" not in tasks.text
    missing = post(portal, form, {"reason": REASON}, page=TASKS)
    assert missing.status_code == 400
    assert "Skriv, hvem hos kommunen der har sagt" in text_of(missing)
    assert REASON in missing.text  # kept
    assert "TaskMarkedNotRelevant" not in event_types(app, AARHUS)
    done = post(
        portal,
        form,
        {"reason": REASON, "on_word_of": "Anne Andersen, IT-chef", "told_via": "email"},
        page=TASKS,
    )
    assert done.status_code == 302, done.text
    [entry] = [e for e in app.signed_log.entries() if e.event_type == "TaskMarkedNotRelevant"]
    assert entry.actor.name == PERSONS_BY_KEY["staff"].name
    assert (entry.event.on_word_of, entry.event.told_via) == ("Anne Andersen, IT-chef", "email")
    # Staff's page, the matrix, the municipality's checklist and the auditor's report.
    staff_page = text_of(portal.get(TASKS))
    assert "Oplyst af (kommunen) Anne Andersen, IT-chef" in staff_page
    assert "Oplyst Pr. e-mail" in staff_page
    matrix = portal.get("/drift/migrering").text
    row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{AARHUS}(?:(?!</tr>).)*</tr>", matrix, re.S)
    assert row is not None
    assert "oplyst af kommunen" in row.group(0)
    municipality = make_portal(app).test_client()
    log_in(municipality, "aarhus")
    checklist = section(municipality.get("/migrering/"), "mail-templates")
    assert "Markeret som ikke relevant af leverandøren" in checklist
    assert "på kommunens ord" in checklist
    assert "Anne Andersen, IT-chef" in checklist
    assert REASON in checklist
    auditor = make_portal(app).test_client()
    log_in(auditor, "auditor")
    report = text_of(auditor.get(f"/revision/kunde/{AARHUS}/migrering"))
    assert "Oplyst af (kommunen) Anne Andersen, IT-chef" in report
    assert "Oplyst Pr. e-mail" in report


def test_a_finished_task_is_recorded_again_from_the_checklist_and_both_stay(
    app, make_portal, agreement, operator
):
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    client = make_portal(app).test_client()
    log_in(client, "aarhus")
    first = post(client, "/migrering/opgaver/terms", {"outcome": "deleted"}, page="/migrering/")
    assert first.status_code == 302
    done = section(client.get("/migrering/"), "terms")
    assert "Registrér opgaven igen" in done
    assert "De gamle vilkår er slettet" in done
    again = post(
        client,
        "/migrering/opgaver/terms",
        {"outcome": "addendum", "note": "Kommunen beholder et kort tillæg."},
        page="/migrering/",
    )
    assert again.status_code == 302
    terms = section(client.get("/migrering/"), "terms")
    assert "De gamle vilkår er renset til et kommunalt tillæg" in terms
    assert "Kommunen beholder et kort tillæg." in terms
    assert terms.count("Vilkår gennemgået (nr.") == 2  # both receipts
    assert event_types(app, AARHUS).count("TermsReviewed") == 2
    # A refused new review keeps the first and says why beside the form, which stays open.
    refused = post(client, "/migrering/opgaver/terms", {"outcome": "maybe"}, page="/migrering/")
    assert refused.status_code == 400
    assert 'class="again" open' in refused.text
    assert event_types(app, AARHUS).count("TermsReviewed") == 2


def test_a_review_before_full_service_is_not_offered_and_is_refused(app, make_portal, agreement):
    client = make_portal(app).test_client()
    log_in(client, "aarhus")
    terms = section(client.get("/migrering/"), "terms")
    assert "Afventer: Full Service IdP-indstillinger slået til" in terms
    assert BLOCKED_BY_FULL_SERVICE in terms  # why, in the plan's words
    assert 'action="/migrering/opgaver/terms"' not in client.get("/migrering/").text
    refused = post(client, "/migrering/opgaver/terms", {"outcome": "deleted"}, page="/migrering/")
    assert refused.status_code == 400
    assert "kan først registreres, når »Full Service IdP-indstillinger slået til« er udført" in (
        text_of(refused)
    )
    assert "TermsReviewed" not in event_types(app, AARHUS)


def test_staff_catch_a_colleague_role_granted_without_a_signal_check_it_or_revoke_it(
    portal, app, make_portal
):
    frederik = make_portal(app).test_client()
    log_in(frederik, "koebenhavn")
    granted = post(
        frederik,
        "/migrering/kolleger",
        {"person_uuid": IDA.person_uuid, "person_name": IDA.name, "bekraeft": "ja"},
        page="/migrering/kolleger",
    )
    assert granted.status_code == 302, granted.text
    listed = text_of(portal.get(GRANTS))
    assert "Københavns Kommune" in listed
    assert "Ida Iversen" in listed
    assert "Frederik Friis" in listed
    assert "Bekræftet erklæring om tegningsret" in listed
    assert GRANTS in portal.get("/drift/godkendelser/uden-tegningsret").text
    check = f"/drift/kolleger/{KOEBENHAVN}/{IDA.person_uuid}/kontrolleret"
    no_note = post(portal, check, {"granted_version": "1", "note": ""}, page=GRANTS)
    assert no_note.status_code == 400
    assert "Skriv, hvordan du har kontrolleret tegningsretten." in text_of(no_note)
    stale = post(portal, check, {"granted_version": "9", "note": "Ringet op"}, page=GRANTS)
    assert stale.status_code == 400
    assert "ændret imens" in text_of(stale)
    checked = post(
        portal, check, {"granted_version": "1", "note": "Ringet til borgmesterens kontor"}, GRANTS
    )
    assert checked.status_code == 302, checked.text
    assert "Alle gældende roller som Kollega er givet af en med tegn" in text_of(portal.get(GRANTS))
    assert "GranterChecked" in event_types(app, KOEBENHAVN)

    # Bo Berg, a clerk of Odense, ticks the statement and grants the role: staff take it away.
    bo = make_portal(app).test_client()
    log_in(bo, "odense-clerk")
    other = "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a0b"
    assert (
        post(
            bo,
            "/migrering/kolleger",
            {"person_uuid": other, "person_name": "Lis Lund", "bekraeft": "ja"},
            page="/migrering/kolleger",
        ).status_code
        == 302
    )
    odense = PERSONS_BY_KEY["odense-clerk"].cvr
    assert "Lis Lund" in text_of(portal.get(GRANTS))
    revoke = f"/drift/kolleger/{odense}/{other}/fratag"
    short = post(portal, revoke, {"reason": "Nej"}, page=GRANTS)
    assert short.status_code == 400
    assert "begrundelse" in text_of(short)
    gone = post(
        portal, revoke, {"reason": "Bo Berg er ikke tegningsberettiget for Odense."}, GRANTS
    )
    assert gone.status_code == 302, gone.text
    assert app.colleagues_of(odense) == []
    revoked = next(e for e in app.signed_log.entries() if e.event_type == "RoleRevoked")
    assert revoked.actor.name == PERSONS_BY_KEY["staff"].name
    # Filed under the municipality whose role it was, not under the operator's CVR (staff's):
    # its timeline and the search by its CVR show it, and its signatory may read it.
    assert revoked.cvr == revoked.about_cvr == odense
    auditor = make_portal(app).test_client()
    log_in(auditor, "auditor")
    timeline = text_of(auditor.get(f"/revision/kunde/{odense}"))
    assert "Rolle frataget" in timeline
    assert "Bo Berg er ikke tegningsberettiget for Odense." in timeline
    after = text_of(portal.get(GRANTS))
    assert "Lis Lund har ikke længere rollen Kollega for Odense Kommune." in after  # the flash
    assert "Alle gældende roller som Kollega er givet af en med tegn" in after
    # Nothing a client sends makes a 500.
    for path in (
        f"/drift/kolleger/{KOEBENHAVN}/not-a-uuid/kontrolleret",
        f"/drift/kolleger/12345678/{IDA.person_uuid}/fratag",
        f"/drift/kolleger/{KOEBENHAVN}/not-a-uuid/fratag",
    ):
        answer = portal.post(path, data={"csrf_token": csrf_token(portal, GRANTS), "note": "x"})
        assert answer.status_code in (400, 404), path
    # The municipality cannot reach staff's page, and a grant without the tick is refused.
    assert frederik.get(GRANTS).status_code == 403
    assert (
        colleague_grant_statement("Københavns Kommune") in frederik.get("/migrering/kolleger").text
    )
