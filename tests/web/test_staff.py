"""The staff pages under /drift with Flask's test client, logged in through the development
IdP as the operator's employee (persona "staff") holding the staff role."""

import datetime
import io
import re
import time

import pytest

from development.demo import CUSTOMERS, PERSONS_BY_KEY, demo_pdf, signatory
from ledger.danish_time import DANISH_TIME, danish_today
from saml.refusals import REASONS
from tests.helpers import staff_login, staff_world
from tests.web.test_login import log_in
from tests.web.test_signatory import approve
from web.display import day
from web.staff import REFUSAL_WORDS, danish_moment

AARHUS, KOEBENHAVN, ODENSE = "55133018", "64942212", "35209115"
AUDITOR = PERSONS_BY_KEY["auditor"]


@pytest.fixture
def agreement(app, operator):
    return staff_world(app, operator)


@pytest.fixture
def portal(app, make_portal, agreement):
    client = make_portal(app).test_client()
    staff_login(client)
    return client


def csrf_token(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def post(client, path: str, data: dict, page: str | None = None, **kwargs):
    """POST `data` with the CSRF token of the form on `page` (default: `path`)."""
    token = csrf_token(client, page or path)
    return client.post(path, data={"csrf_token": token, **data}, **kwargs)


def event_types(app, cvr: str | None = None) -> list[str]:
    return [entry.event_type for entry in app.history(cvr=cvr)]


def reset_path(version) -> str:
    return f"/drift/godkendelser/{AARHUS}/{version.id}/nulstil"


def test_the_overview_shows_what_each_customer_lacks(portal, app, agreement):
    app.hand_in_declaration(
        cvr=ODENSE, document=demo_pdf("E", "1"), document_name="e.pdf", actor=signatory("odense")
    )
    koebenhavn = signatory("koebenhavn")
    app.hand_in_declaration(
        cvr=KOEBENHAVN, document=demo_pdf("E", "2"), document_name="e.pdf", actor=koebenhavn
    )
    app.countersign_declaration(
        cvr=KOEBENHAVN, document=demo_pdf("E", "3"), document_name="e.pdf", actor=koebenhavn
    )
    app.record_declaration_sent(
        cvr=KOEBENHAVN, sent_on=datetime.date(2020, 1, 15), reference="DIGST-1", actor=koebenhavn
    )
    page = portal.get("/drift/")
    assert page.status_code == 200
    rows = {cvr: _row(page.text, cvr) for cvr in CUSTOMERS}
    today = danish_today()
    assert _cells(rows[AARHUS]) == [
        f"Godkendt {day(today)}",
        f"Venter på kunden siden {day(today)}",
        "Ikke endnu",
        "Ikke endnu",
        "0 dage",
    ]
    assert _cells(rows[ODENSE]) == [
        f"Venter på kunden siden {day(today)}",
        f"Afleveret {day(today)}",
        f"Venter på os siden {day(today)}",
        "Ikke endnu",
        "0 dage",
    ]
    assert _cells(rows[KOEBENHAVN])[3:] == [
        "Fornyelse forfalden fristen var 15. januar 2021",
        f"{(today - datetime.date(2021, 1, 15)).days} dage",
    ]
    assert "3 af 3 kunder mangler noget." in page.text
    assert "<strong>1</strong> venter på os" in page.text
    assert "<strong>3</strong> venter på kunden" in page.text
    waiting_for_us = portal.get("/drift/?vis=os").text
    assert f"CVR {ODENSE}" in waiting_for_us
    assert f"CVR {AARHUS}" not in waiting_for_us
    assert "Viser 1 af 3 kunder." in waiting_for_us
    longest_first = portal.get("/drift/?sorter=ventetid").text
    assert longest_first.index(f"CVR {KOEBENHAVN}") < longest_first.index(f"CVR {AARHUS}")
    found = portal.get("/drift/?soeg=odense").text
    assert "Viser 1 af 3 kunder." in found
    assert f"CVR {ODENSE}" in found
    assert "Viser 1 af 3 kunder." in portal.get(f"/drift/?soeg={AARHUS[:4]}").text


def _cells(row: str) -> list[str]:
    """A matrix row's data cells as a person reads them (tags dropped, spaces joined)."""
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def _row(html: str, cvr: str) -> str:
    return next(row for row in html.split("<tr>") if f"CVR {cvr}" in row)


def test_staff_register_a_customer_and_an_invalid_cvr_is_refused_in_danish(portal, app):
    refused = post(portal, "/drift/kunder", {"cvr": "12345678", "name": "Vejle Kommune"})
    assert refused.status_code == 400
    assert "kontrolcifferet passer ikke" in refused.text
    assert 'aria-describedby="kunde-fejl"' in refused.text
    assert len(app.customers()) == 3
    done = post(portal, "/drift/kunder", {"cvr": "29189706", "name": "Vejle Kommune"})
    assert done.status_code == 302
    listed = portal.get(done.headers["Location"]).text
    assert "Vejle Kommune (CVR 29189706) er registreret som kunde." in listed
    assert "29189706" in listed
    [registered] = [e for e in app.history(cvr="29189706") if e.event_type == "Registered"]
    assert registered.actor.person_uuid == PERSONS_BY_KEY["staff"].person_uuid
    again = post(portal, "/drift/kunder", {"cvr": "29189706", "name": "Vejle Kommune"})
    assert again.status_code == 400
    assert "er allerede registreret" in again.text


def test_staff_publish_an_agreement_version_refuse_a_non_pdf_and_retire_with_confirmation(
    portal, app
):
    fields = {"title": "Driftsaftale", "version_label": "2027.1"}
    upload = {"content_type": "multipart/form-data"}
    refused = post(
        portal,
        "/drift/aftaler",
        fields | {"document": (io.BytesIO(b"not a pdf"), "aftale.pdf")},
        **upload,
    )
    assert refused.status_code == 400
    assert "Filen er ikke en PDF" in refused.text
    assert len(app.agreement_versions()) == 1
    pdf = demo_pdf("Driftsaftale", "2027.1")
    done = post(
        portal, "/drift/aftaler", fields | {"document": (io.BytesIO(pdf), "aftale.pdf")}, **upload
    )
    assert done.status_code == 302
    [new] = [a for a in app.agreement_versions() if a.version_label == "2027.1"]
    listed = portal.get("/drift/aftaler").text
    assert new.document_sha256 in listed
    assert portal.get(f"/drift/aftaler/{new.id}/dokument").data == pdf
    confirm_page = portal.get(f"/drift/aftaler/{new.id}/tilbagetraek")
    assert "Bekræft tilbagetrækning" in confirm_page.text
    assert not app.agreement_version(new.id).retired  # asking is not doing
    retired = post(portal, f"/drift/aftaler/{new.id}/tilbagetraek", {})
    assert retired.status_code == 302
    assert app.agreement_version(new.id).retired
    assert "Trukket tilbage" in portal.get("/drift/aftaler").text


def test_staff_grant_an_auditor_limited_to_a_cvr_and_revoke_it(portal, app):
    refused = post(
        portal,
        "/drift/roller",
        {"person_uuid": "nobody", "person_name": "X", "role": "auditor", "cvrs": ""},
    )
    assert refused.status_code == 400
    assert "er ikke et UUID for en person" in refused.text
    bad_cvr = post(
        portal,
        "/drift/roller",
        {
            "person_uuid": AUDITOR.person_uuid,
            "person_name": AUDITOR.name,
            "role": "auditor",
            "cvrs": "1234",
        },
    )
    assert bad_cvr.status_code == 400
    assert "Et CVR-nummer består af 8 cifre" in bad_cvr.text
    granted = post(
        portal,
        "/drift/roller",
        {
            "person_uuid": AUDITOR.person_uuid.upper(),
            "person_name": AUDITOR.name,
            "role": "auditor",
            "cvrs": f"{AARHUS}, {ODENSE}",
        },
    )
    assert granted.status_code == 302
    [assignment] = app.roles_of(AUDITOR.person_uuid)
    assert assignment.cvrs == sorted([AARHUS, ODENSE])
    roles_page = portal.get("/drift/roller").text
    assert f"{ODENSE}, {AARHUS}" in roles_page
    # The form preselects no role: never the staff role, which may do everything here.
    assert '<option value="" selected>Vælg en rolle</option>' in roles_page
    assert re.search(r'<option value="(staff|auditor)" selected', roles_page) is None
    asking = f"/drift/roller/fratag?person_uuid={AUDITOR.person_uuid}&role=auditor"
    assert f'href="{asking.replace("&", "&amp;")}"' in portal.get("/drift/roller").text
    confirmation = portal.get(asking)
    assert "Fratag Erik Revisor rollen Revisor" in confirmation.text
    assert "Hvorfor fratages rollen?" in confirmation.text
    without_reason = post(
        portal,
        "/drift/roller/fratag",
        {"person_uuid": AUDITOR.person_uuid, "role": "auditor", "reason": ""},
        page=asking,
    )
    assert without_reason.status_code == 400
    assert "Skriv hvorfor rollen fratages" in without_reason.text
    assert app.roles_of(AUDITOR.person_uuid) != []
    reason = "Revisionen af regnskabsåret 2026 er afsluttet."
    revoked = post(
        portal,
        "/drift/roller/fratag",
        {"person_uuid": AUDITOR.person_uuid, "role": "auditor", "reason": reason},
        page=asking,
    )
    assert revoked.status_code == 302
    assert app.roles_of(AUDITOR.person_uuid) == []
    [*_, revocation] = app.history()
    assert (revocation.event_type, revocation.event.reason) == ("RoleRevoked", reason)
    listed = portal.get("/drift/roller").text
    assert "Erik Revisor har ikke længere rollen Revisor." in listed
    assert AUDITOR.person_uuid not in listed
    assert [a.person_name for a in app.role_assignments()] == ["Dorte Drift", AUDITOR.name]


def test_staff_cannot_revoke_their_own_staff_role(portal, app):
    assert "Din egen rolle" in portal.get("/drift/roller").text
    refused = post(
        portal,
        "/drift/roller/fratag",
        {
            "person_uuid": PERSONS_BY_KEY["staff"].person_uuid,
            "role": "staff",
            "reason": "Jeg holder op i driften.",
        },
        page="/drift/roller",
    )
    assert refused.status_code == 400
    assert "Du kan ikke fratage dig selv driftsrollen" in refused.text
    assert "RoleRevoked" not in event_types(app)


def test_a_reset_with_a_reason_and_confirmation_lets_the_signatory_approve_again(
    portal, app, agreement
):
    reason = "Anne Andersen er ikke tegningsberettiget for kommunen."
    shown = portal.get(reset_path(agreement))
    assert "Anne Andersen" in shown.text
    assert 'aria-describedby="reason-help"' in shown.text
    confirm = post(portal, reset_path(agreement), {"reason": reason, "approved_version": "1"})
    assert confirm.status_code == 200
    assert "Bekræft nulstilling" in confirm.text
    assert f'name="reason" value="{reason}"' in confirm.text
    assert "ApprovalReset" not in event_types(app, AARHUS)  # nothing before the confirmation
    edit = post(
        portal, reset_path(agreement), {"reason": reason, "approved_version": "1", "edit": "1"}
    )
    assert f">{reason}</textarea>" in edit.text
    done = post(
        portal,
        reset_path(agreement),
        {"reason": reason, "approved_version": "1", "confirmed": "1"},
    )
    assert done.status_code == 302
    assert "er nulstillet" in portal.get(done.headers["Location"]).text
    [reset] = [e for e in app.history(cvr=AARHUS) if e.event_type == "ApprovalReset"]
    assert reset.event.reason == reason
    assert reset.actor.name == "Dorte Drift"
    assert not app.approval(AARHUS, agreement.id).is_approved

    log_in(portal, "aarhus")
    agreements = portal.get("/aftaler").text
    assert "Afventer godkendelse" in agreements
    assert reason in agreements
    assert approve(portal, agreement).status_code == 302
    assert app.approval(AARHUS, agreement.id).is_approved


def test_a_confirmed_reset_sent_twice_shows_its_success_and_records_one_reset(
    portal, app, agreement
):
    """A double click on Bekræft nulstilling: the browser shows the second answer, which must
    be the first one's success, not "no approval to reset"."""
    reason = "Anne Andersen er ikke tegningsberettiget for kommunen."
    form = {"reason": reason, "approved_version": "1", "confirmed": "1"}
    first = post(portal, reset_path(agreement), form)
    second = post(portal, reset_path(agreement), form)
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert "er nulstillet" in portal.get(second.headers["Location"]).text
    assert event_types(app, AARHUS).count("ApprovalReset") == 1
    other = post(portal, reset_path(agreement), form | {"reason": reason + " Igen."})
    assert other.status_code == 400  # another reason is not the same click
    assert "Der er ingen gældende godkendelse at nulstille" in other.text
    assert event_types(app, AARHUS).count("ApprovalReset") == 1


def test_an_empty_or_short_reason_is_refused_and_nothing_is_recorded(portal, app, agreement):
    for reason in ("", "   ", "for kort"):
        for confirmed in ("", "1"):
            refused = post(
                portal,
                reset_path(agreement),
                {"reason": reason, "approved_version": "1", "confirmed": confirmed},
            )
            assert refused.status_code == 400
            assert "kræver en begrundelse på 10 til 2000 tegn" in refused.text
            assert 'aria-describedby="reason-help fejl"' in refused.text
    assert "ApprovalReset" not in event_types(app, AARHUS)


def test_a_reset_confirmed_for_an_approval_that_changed_meanwhile_is_refused(
    portal, app, agreement
):
    reason = "Den forkerte person godkendte aftalen."
    refused = post(
        portal,
        reset_path(agreement),
        {"reason": reason, "approved_version": "0", "confirmed": "1"},
    )
    assert refused.status_code == 400
    assert "Godkendelsen er ændret, siden du så den" in refused.text
    assert "ApprovalReset" not in event_types(app, AARHUS)


@pytest.mark.parametrize("persona", ["aarhus", "odense", "auditor"])
def test_only_staff_logged_in_for_the_operators_cvr_may_use_the_staff_pages(
    app, make_portal, agreement, operator, persona
):
    """A signatory, an auditor and a staff-role holder logged in for a municipality's CVR
    (here Aarhus's signatory) are all refused."""
    person = PERSONS_BY_KEY[persona]
    if persona == "aarhus":
        app.grant_role(
            person_uuid=person.person_uuid,
            person_name=person.name,
            role="staff",
            cvrs=[],
            actor=operator,
        )
    client = make_portal(app).test_client()
    log_in(client, persona)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    for path in ("/drift/", "/drift/kunder", "/drift/roller", reset_path(agreement)):
        assert client.get(path).status_code == 403, path
    refused = client.post(
        reset_path(agreement),
        data={
            "csrf_token": token,
            "reason": "Et forsøg udefra på at nulstille.",
            "approved_version": "1",
            "confirmed": "1",
        },
    )
    assert refused.status_code == 403
    assert (
        client.post(
            "/drift/kunder", data={"csrf_token": token, "cvr": "29189706", "name": "Vejle"}
        ).status_code
        == 403
    )
    assert "ApprovalReset" not in event_types(app)
    assert len(app.customers()) == 3


def test_the_staff_pages_ask_a_visitor_to_log_in(app, make_portal, agreement):
    client = make_portal(app).test_client()
    answer = client.get("/drift/kunder")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/saml/login?next=/drift/kunder")


def test_a_post_without_csrf_token_is_refused_and_records_nothing(portal, app, agreement):
    refused = portal.post(
        reset_path(agreement),
        data={"reason": "Ingen sikkerhedsnøgle her.", "approved_version": "1", "confirmed": "1"},
    )
    assert refused.status_code == 400
    assert "sikkerhedsnøgle" in refused.text
    assert portal.post("/drift/kunder", data={"cvr": "29189706", "name": "V"}).status_code == 400
    assert "ApprovalReset" not in event_types(app)
    assert len(app.customers()) == 3


def test_the_declaration_is_countersigned_and_its_sending_recorded_and_shown(portal, app):
    handed_in = demo_pdf("Erklaering", "Aarhus")
    app.hand_in_declaration(
        cvr=AARHUS, document=handed_in, document_name="e.pdf", actor=signatory("aarhus")
    )
    page = f"/drift/erklaeringer/{AARHUS}"
    assert "venter på leverandørens medunderskrift" in portal.get(page).text
    assert portal.get(f"{page}/afleveret.pdf").data == handed_in
    assert portal.get(f"{page}/medunderskrevet.pdf").status_code == 404
    upload = {"content_type": "multipart/form-data"}
    refused = post(
        portal,
        f"{page}/medunderskriv",
        {"document": (io.BytesIO(b"GIF89a"), "m.pdf")},
        page=page,
        **upload,
    )
    assert refused.status_code == 400
    assert "Filen er ikke en PDF" in refused.text
    countersigned = demo_pdf("Erklaering", "medunderskrevet")
    done = post(
        portal,
        f"{page}/medunderskriv",
        {"document": (io.BytesIO(countersigned), "m.pdf")},
        page=page,
        **upload,
    )
    assert done.status_code == 302
    shown = portal.get(page).text
    assert "Leverandørens medunderskrift er registreret." in shown
    assert "venter på at blive sendt til Digitaliseringsstyrelsen" in shown
    assert portal.get(f"{page}/medunderskrevet.pdf").data == countersigned

    for sent_on in ("29-11-2026", "", "9999-12-31"):
        refused = post(
            portal, f"{page}/sendt", {"sent_on": sent_on, "reference": "DIGST-7"}, page=page
        )
        assert refused.status_code == 400
        assert "Angiv datoen som" in refused.text or "i fremtiden" in refused.text
        assert 'aria-describedby="afsendelse-fejl"' in refused.text
    no_reference = post(
        portal, f"{page}/sendt", {"sent_on": "2026-03-02", "reference": " "}, page=page
    )
    assert no_reference.status_code == 400
    assert "Angiv Digitaliseringsstyrelsens reference" in no_reference.text
    done = post(
        portal, f"{page}/sendt", {"sent_on": "2026-03-02", "reference": "DIGST-7"}, page=page
    )
    assert done.status_code == 302
    shown = portal.get(page).text
    assert "sendt til Digitaliseringsstyrelsen den 2. marts 2026 (reference DIGST-7)" in shown
    assert "fornyes senest 2. marts 2027" in shown
    steps = [
        e for e in app.history(cvr=AARHUS) if e.event_type in ("Countersigned", "SentToAgency")
    ]
    assert [e.event_type for e in steps] == ["Countersigned", "SentToAgency"]
    assert {e.actor.name for e in steps} == {"Dorte Drift"}


def test_what_does_not_exist_is_404(portal, agreement):
    unknown = "29189706"  # a valid CVR, not a customer
    assert portal.get(f"/drift/erklaeringer/{unknown}").status_code == 404
    assert portal.get("/drift/erklaeringer/not-a-cvr").status_code == 404
    assert portal.get(f"/drift/erklaeringer/{AARHUS}/afleveret.pdf").status_code == 404
    assert portal.get(f"/drift/godkendelser/{ODENSE}/{agreement.id}/nulstil").status_code == 404
    other = "00000000-0000-4000-8000-000000000000"
    assert portal.get(f"/drift/godkendelser/{AARHUS}/{other}/nulstil").status_code == 404
    assert portal.get(f"/drift/aftaler/{other}/tilbagetraek").status_code == 404
    assert portal.get(f"/drift/aftaler/{other}/dokument").status_code == 404


def test_every_staff_form_answers_a_refusal_alike(portal, app, agreement, operator):
    """One helper runs each form's command: whichever form and whichever refusal of the
    ledger (a DomainError, a CVR or a person UUID that is not one), the answer is the form's
    own page with the reason in Danish, status 400, and nothing is recorded."""
    app.retire_agreement(agreement.id, actor=operator)
    declaration = f"/drift/erklaeringer/{ODENSE}"
    grant = {"person_uuid": AUDITOR.person_uuid, "person_name": AUDITOR.name, "cvrs": ""}

    def pdf() -> dict:
        return {"document": (io.BytesIO(demo_pdf("Driftsaftale", "2026.1")), "aftale.pdf")}

    cases = [
        ("/drift/kunder", {"cvr": AARHUS, "name": "Aarhus"}, None, "er allerede registreret"),
        ("/drift/kunder", {"cvr": "00000000", "name": "Ingen"}, None, "begynder ikke med 0"),
        (
            "/drift/aftaler",
            {"title": "Driftsaftale", "version_label": "2026.1", **pdf()},
            None,
            "er allerede offentliggjort",
        ),
        (f"/drift/aftaler/{agreement.id}/tilbagetraek", {}, None, "allerede trukket tilbage"),
        ("/drift/roller", grant | {"role": "chef"}, None, "Vælg rollen Drift eller Revisor."),
        ("/drift/roller", grant | {"role": ""}, None, "Vælg rollen Drift eller Revisor."),
        ("/drift/roller", grant | {"role": "auditor", "cvrs": "0"}, None, "består af 8 cifre"),
        (
            "/drift/roller/fratag",
            {"person_uuid": AUDITOR.person_uuid, "role": "auditor"},
            "/drift/roller",
            "Rollen er ikke tildelt",
        ),
        (
            "/drift/roller/fratag",
            {"person_uuid": "nobody", "role": "auditor"},
            "/drift/roller",
            "er ikke et UUID for en person",
        ),
        (
            f"{declaration}/sendt",
            {"sent_on": "2026-03-02", "reference": "DIGST-7"},
            declaration,
            "har ikke afleveret en erklæring",
        ),
        (f"{declaration}/medunderskriv", pdf(), declaration, "har ikke afleveret en erklæring"),
    ]
    recorded = len(event_types(app))
    for path, data, page, reason in cases:
        refused = post(portal, path, data, page=page, content_type="multipart/form-data")
        assert refused.status_code == 400, path
        assert reason in refused.text, path
        assert 'class="notice error" role="alert"' in refused.text, path
    assert len(event_types(app)) == recorded


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("1-12-2026 09.07", "2026-12-01T08:07:00+00:00"),
        ("1.12.2026 kl. 9:07", "2026-12-01T08:07:00+00:00"),
        ("01/12/2026 09.07.30", "2026-12-01T08:07:30+00:00"),
        ("2026-12-01 09:07", "2026-12-01T08:07:00+00:00"),
        ("1-7-2026 12.00", "2026-07-01T10:00:00+00:00"),  # summer time
    ],
)
def test_a_time_is_read_as_a_dane_writes_it_in_danish_time(text, utc):
    assert danish_moment(text).astimezone(datetime.UTC).isoformat() == utc


@pytest.mark.parametrize("text", ["i går ved nitiden", "31-11-2026 09.07", "1-12-2026", "9.07"])
def test_a_time_that_is_not_one_is_refused_in_danish(text):
    with pytest.raises(ValueError, match=re.escape("1-12-2026 09.07")):
        danish_moment(text)


def test_every_refusal_reason_has_words_for_support():
    assert set(REASONS) <= set(REFUSAL_WORDS)


def test_support_finds_a_refused_login_by_its_time_and_not_at_another(portal, app):
    app.record_login_rejected(
        reason="loa-too-low", idp="https://idp.example", person_uuid="x", cvr=AARHUS
    )
    now = datetime.datetime.now(DANISH_TIME)
    found = portal.get(f"/drift/afviste-login?tidspunkt={now:%d-%m-%Y %H.%M}")
    assert found.status_code == 200
    assert "Sikringsniveauet var for lavt" in found.text
    assert "Aarhus Kommune (CVR 55133018)" in found.text
    earlier = now - datetime.timedelta(minutes=20)
    elsewhere = portal.get(f"/drift/afviste-login?tidspunkt={earlier:%d-%m-%Y %H.%M}")
    assert "Sikringsniveauet var for lavt" not in elsewhere.text
    assert "Ingen login med en bekræftet identitet blev afvist" in elsewhere.text
    refused = portal.get("/drift/afviste-login?tidspunkt=snart")
    assert refused.status_code == 400
    assert 'class="notice error" role="alert"' in refused.text


def test_support_sees_the_counted_refusals_of_the_minutes_around_a_time(portal, app):
    """Refusals without a verified identity are counted per interval; the lookup shows the
    intervals that overlap its window, each reason in words, with the client network."""
    app.count_login_refusal(reason="bad-signature", network="192.0.2.0/24")
    app.count_login_refusal(reason="bad-signature", network="192.0.2.0/24")
    [summary] = app.summarize_login_refusals(now=time.time() + 3600)
    assert summary.refusals == 2
    now = datetime.datetime.now(DANISH_TIME)
    found = portal.get(f"/drift/afviste-login?tidspunkt={now:%d-%m-%Y %H.%M}").text
    assert "Signaturen på loginnet kunne ikke verificeres: 2 gange fra netværket 192.0.2.0/24" in (
        " ".join(found.split())
    )
