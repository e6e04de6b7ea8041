"""The portal's part in the e-mail notices, with Flask's test client: a signatory's address
kept from its NemLog-in login while e-mail is on, the staff overview saying whether e-mail
is on, and a sent notice told in Danish in the history and on the auditor's page."""

from dataclasses import replace

import pytest

from approval_ledger.mailer import SmtpMailer
from development.demo import CUSTOMERS, PERSONS_BY_KEY, signatory
from ledger.config import SmtpSettings
from ledger.notices import NoticeSender
from ledger.storage.notices import Contact, Outbox
from tests.fixtures import approved_agreement
from tests.helpers import grant_staff, staff_login
from tests.smtp import smtp_server
from tests.web.test_login import log_in
from tests.web.test_staff import post

AARHUS = "55133018"
SENDER = "kundeportal@leverandoer.example"
ANNE = PERSONS_BY_KEY["aarhus"]


@pytest.fixture
def mail():
    with smtp_server() as server:
        yield server


@pytest.fixture
def customers(app, operator):
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    grant_staff(app, operator)


def with_mail(app, port: int):
    smtp = SmtpSettings("127.0.0.1", port, SmtpSettings.PLAIN, SENDER)
    return replace(app.settings, smtp=smtp, staff_emails=("drift@leverandoer.example",))


def contacts(app) -> list[Contact]:
    outbox = Outbox(app.settings.database)
    try:
        return outbox.contacts_of(AARHUS)
    finally:
        outbox.close()


def test_a_signatorys_login_keeps_its_address_while_e_mail_is_on(app, customers, make_portal, mail):
    client = make_portal(app, settings=with_mail(app, mail.port)).test_client()
    assert log_in(client, "aarhus").status_code in (302, 303)

    assert contacts(app) == [Contact(ANNE.person_uuid, ANNE.name, ANNE.email)]


def test_no_address_is_kept_while_e_mail_is_off(app, customers, make_portal):
    client = make_portal(app).test_client()
    assert log_in(client, "aarhus").status_code in (302, 303)

    assert contacts(app) == []


def test_the_staff_overview_says_when_e_mail_is_off(app, customers, make_portal, mail):
    off = make_portal(app).test_client()
    staff_login(off)
    assert "E-mail er slået fra" in off.get("/drift/").text

    on = make_portal(app, settings=with_mail(app, mail.port)).test_client()
    staff_login(on)
    assert "E-mail er slået fra" not in on.get("/drift/").text


def test_a_sent_notice_is_told_in_danish_in_the_history_and_to_the_auditor(
    app, operator, customers, make_portal, mail
):
    settings = with_mail(app, mail.port)
    client = make_portal(app, settings=settings).test_client()
    log_in(client, "aarhus")  # the address is known from the login
    agreement = approved_agreement(app, publisher=operator, approver=signatory("aarhus"))
    outbox = Outbox(app.settings.database)
    try:
        notices = NoticeSender(
            app,
            outbox,
            SmtpMailer(settings.smtp),
            sender=SENDER,
            staff=(),
            portal_url="http://127.0.0.1:5000",
        )
        notices.follow()
        app.reset_approval(
            cvr=AARHUS, version_id=agreement.id, reason="Forkert underskriver.", actor=operator
        )
        assert len(notices.run_once()) == 1
    finally:
        outbox.close()
    mail.wait_for(1)

    history = client.get("/historik").text
    assert (
        f"E-mail sendt til {ANNE.email} om nulstillingen af godkendelsen af Driftsaftale, "
        "version 2026.1." in history
    )
    (sent,) = [e for e in app.history() if e.event_type == "NoticeSent"]
    receipt = client.get(f"/kvitteringer/{sent.seq}").text
    assert f"E-mail sendt til {ANNE.email} om nulstillingen af godkendelsen af" in receipt
    assert "Mailserveren tog imod e-mailen den " in receipt
    reset = next(e for e in app.history() if e.event_type == "ApprovalReset")
    assert f'href="/kvitteringer/{reset.seq}"' in receipt
    pdf = client.get(f"/kvitteringer/{sent.seq}.pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF-")
    auditor = PERSONS_BY_KEY["auditor"]
    app.grant_role(
        person_uuid=auditor.person_uuid,
        person_name=auditor.name,
        role="auditor",
        cvrs=[],
        actor=operator,
    )
    reading = make_portal(app, settings=settings).test_client()
    log_in(reading, "auditor")
    page = reading.get("/revision/?type=NoticeSent").text
    assert "E-mail sendt" in page
    assert ANNE.email in page
    assert "Godkendelsen blev nulstillet" in page
    assert "Kundens tegningsberettigede" in page


@pytest.mark.parametrize("known", [True, False])
def test_after_a_reset_staff_are_told_whether_the_signatories_get_a_mail(
    app, operator, customers, make_portal, mail, known
):
    agreement = approved_agreement(app, publisher=operator, approver=signatory("aarhus"))
    settings = with_mail(app, mail.port)
    if known:
        log_in(make_portal(app, settings=settings).test_client(), "aarhus")
    staff = make_portal(app, settings=settings).test_client()
    staff_login(staff)
    form = {
        "reason": "Anne Andersen er ikke tegningsberettiget.",
        "approved_version": "1",
        "confirmed": "1",
    }
    done = post(staff, f"/drift/godkendelser/{AARHUS}/{agreement.id}/nulstil", form)

    told = staff.get(done.headers["Location"]).text
    assert "er nulstillet" in told
    if known:
        assert "Kommunens tegningsberettigede får en e-mail om det med begrundelsen." in told
    else:
        assert "Portalen kender ingen e-mailadresse på kommunens tegningsberettigede" in told


def test_the_staff_overview_counts_the_notices_the_server_refused(
    app, operator, customers, make_portal, mail
):
    settings = with_mail(app, mail.port)
    log_in(make_portal(app, settings=settings).test_client(), "aarhus")
    mail.refused.add(ANNE.email)
    agreement = approved_agreement(app, publisher=operator, approver=signatory("aarhus"))
    outbox = Outbox(app.settings.database)
    try:
        notices = NoticeSender(
            app, outbox, SmtpMailer(settings.smtp), sender=SENDER, staff=(), portal_url=""
        )
        notices.follow()
        app.reset_approval(
            cvr=AARHUS, version_id=agreement.id, reason="Forkert underskriver.", actor=operator
        )
        assert notices.run_once() == []
    finally:
        outbox.close()
    staff = make_portal(app, settings=settings).test_client()
    staff_login(staff)

    assert "1 e-mail kunne ikke sendes: mailserveren afviste den." in staff.get("/drift/").text
