"""E-mail notices end to end below the portal: events in the ledger, the sender, a real SMTP
server (aiosmtpd) receiving what smtplib sends, and the NoticeSent events in the log."""

import datetime
import ssl
import threading

import pytest
from aiosmtpd.smtp import AuthResult

from approval_ledger.mailer import SmtpMailer
from ledger.application import LedgerApp, add_months
from ledger.config import SmtpSettings
from ledger.danish_time import danish_minute, danish_today
from ledger.identity import Actor
from ledger.notices import NoticeSender
from ledger.storage.notices import FAILED, MOOT, UNCERTAIN, Outbox
from tests.browser.conftest import self_signed_certificate
from tests.fixtures import AARHUS, ODENSE, PDF, approved_agreement, login, signatory
from tests.smtp import SmtpServer, smtp_server

SENDER = "kundeportal@leverandoer.example"
STAFF = "drift@leverandoer.example"
PORTAL = "https://portal.example.dk"
ANNE = "anne.andersen@aarhus.example"
CLARA = "clara@odense.example"
APPROVER = signatory(AARHUS)
ANNE_UUID = "00000000-0000-4000-8000-000000000001"
REASON = "Godkendt af en medarbejder uden tegningsret.\nGodkend venligst igen."


@pytest.fixture
def mail() -> SmtpServer:
    with smtp_server() as server:
        yield server


@pytest.fixture
def outbox(app: LedgerApp) -> Outbox:
    outbox = Outbox(app.settings.database)
    yield outbox
    outbox.close()


@pytest.fixture
def customers(app: LedgerApp, operator: Actor, outbox: Outbox) -> None:
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    outbox.remember_contact(person_uuid=ANNE_UUID, cvr=AARHUS, name="Anne Andersen", email=ANNE)
    outbox.remember_contact(
        person_uuid="00000000-0000-4000-8000-000000000003",
        cvr=ODENSE,
        name="Clara Christensen",
        email=CLARA,
    )


def sender(app: LedgerApp, outbox: Outbox, port: int, **options) -> NoticeSender:
    """A sender following the log from now on, as `ledger serve` starts one."""
    mailer = SmtpMailer(SmtpSettings("127.0.0.1", port, SmtpSettings.PLAIN, SENDER))
    notices = NoticeSender(
        app, outbox, mailer, sender=SENDER, staff=(STAFF,), portal_url=PORTAL, **options
    )
    notices.follow()
    return notices


def notices_sent(app: LedgerApp) -> list:
    return [entry for entry in app.history() if entry.event_type == "NoticeSent"]


def test_a_reset_mails_the_signatory_in_danish_with_the_reason(
    app, operator, customers, outbox, mail, verify_cli
):
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    notices = sender(app, outbox, mail.port)

    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    sent = notices.run_once()

    assert len(sent) == 1
    (received,) = mail.wait_for(1)
    reset = next(e for e in app.history() if e.event_type == "ApprovalReset")
    assert received.rcpt_tos == (ANNE,)
    assert received.mail_from == SENDER
    assert received.subject == "Godkendelsen af Driftsaftale, version 2026.1, er nulstillet"
    body = received.body
    assert body.startswith("Kære Anne Andersen\n\n")
    moment = danish_minute(datetime.datetime.fromisoformat(reset.recorded_at))
    assert (
        f"Den {moment} nulstillede leverandøren Aarhus Kommunes godkendelse af "
        "Driftsaftale, version 2026.1." in body
    )
    assert " kl. " in moment
    assert moment.split(" kl. ")[1].count(".") == 1
    assert "    Godkendt af en medarbejder uden tegningsret.\n    Godkend venligst igen." in body
    assert f"{PORTAL}/aftaler/{agreement.id}" in body
    assert f"{PORTAL}/historik" in body
    assert "Hvad sker der nu?" in body
    # Nothing the signatory could not read in the portal: no address, assertion or UUID.
    for private in ("127.0.0.1", "_a1", ANNE_UUID, "test-operator"):
        assert private not in body
    assert received.message["Auto-Submitted"] == "auto-generated"
    assert received.message["Content-Language"] == "da"
    assert received.message["Content-Type"].params["charset"] == "utf-8"

    (recorded,) = notices_sent(app)
    facts = recorded.facts()
    assert facts["notice_kind"] == "approval-reset"
    assert facts["about_seq"] == reset.seq
    assert facts["recipient_role"] == "signatory"
    assert facts["recipient_email"] == ANNE
    assert facts["cvr"] == AARHUS
    assert facts["agreement_version_id"] == agreement.id
    assert facts["message_id"] == str(received.message["Message-ID"])
    assert recorded.actor == Actor.system("notices")
    code, problems, _ = verify_cli()
    assert (code, problems) == (0, [])
    assert notices.run_once() == []  # sent once
    assert len(mail.messages) == 1


def test_an_approval_and_a_hand_in_mail_staff_naming_the_approver(
    app, operator, customers, outbox, mail
):
    notices = sender(app, outbox, mail.port)
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    app.hand_in_declaration(
        cvr=AARHUS, document=PDF, document_name="erklaering.pdf", actor=APPROVER
    )

    assert len(notices.run_once()) == 3  # and the new version, to Odense's signatory
    mail.wait_for(3)
    approved, handed_in = mail.to(STAFF)
    assert approved.rcpt_tos == handed_in.rcpt_tos == (STAFF,)
    assert approved.subject == "Aarhus Kommune har godkendt Driftsaftale, version 2026.1"
    assert (
        "Aarhus Kommune (CVR 55133018) godkendte Driftsaftale, version 2026.1, den "
        in approved.body
    )
    assert (
        "Godkendt af Anne Andersen med MitID Erhverv på sikringsniveau Betydelig." in approved.body
    )
    seq = next(e.seq for e in app.history() if e.event_type == "Approved")
    assert f"{PORTAL}/kvitteringer/{seq}" in approved.body
    assert f"{PORTAL}/drift/kunder/{AARHUS}" in approved.body
    assert "127.0.0.1" not in approved.body
    assert "_a1" not in approved.body
    assert handed_in.subject == "Aarhus Kommune har afleveret ledelseserklæringen"
    assert "Afleveret af Anne Andersen." in handed_in.body
    assert f"{PORTAL}/drift/erklaeringer/{AARHUS}" in handed_in.body
    to_staff = [e.facts() for e in notices_sent(app) if e.facts()["recipient_role"] == "staff"]
    assert [facts["notice_kind"] for facts in to_staff] == ["approved", "handed-in"]
    assert [facts["recipient_email"] for facts in to_staff] == [STAFF, STAFF]
    assert to_staff[0]["agreement_version_id"] == agreement.id


def test_a_new_agreement_version_mails_every_customers_signatories(
    app, operator, customers, outbox, mail
):
    notices = sender(app, outbox, mail.port)
    version = app.publish_agreement(
        title="Driftsaftale",
        version_label="2027.1",
        document=PDF,
        document_name="driftsaftale.pdf",
        actor=operator,
    )

    assert len(notices.run_once()) == 2
    mail.wait_for(2)
    (anne,), (clara,) = mail.to(ANNE), mail.to(CLARA)
    assert anne.subject == "Ny aftale til godkendelse: Driftsaftale, version 2027.1"
    assert "Den skal godkendes af en tegningsberettiget for Aarhus Kommune." in anne.body
    assert "Kære Clara Christensen" in clara.body
    assert "tegningsberettiget for Odense Kommune" in clara.body
    assert f"{PORTAL}/aftaler/{version.id}" in clara.body
    assert {e.facts()["cvr"] for e in notices_sent(app)} == {AARHUS, ODENSE}


def test_a_declaration_whose_renewal_is_due_mails_the_signatories(
    app, operator, customers, outbox, mail
):
    months = app.settings.declaration_validity_months
    sent_on = add_months(danish_today(), -months) + datetime.timedelta(days=10)
    app.hand_in_declaration(cvr=AARHUS, document=PDF, document_name="e.pdf", actor=APPROVER)
    app.countersign_declaration(cvr=AARHUS, document=PDF, document_name="m.pdf", actor=operator)
    app.record_declaration_sent(cvr=AARHUS, sent_on=sent_on, reference="DIGST-1", actor=operator)
    notices = sender(app, outbox, mail.port)

    assert len(notices.run_once()) == 1
    (received,) = mail.wait_for(1)
    renewal = add_months(sent_on, months)
    day = f"{renewal.day}. "
    assert received.rcpt_tos == (ANNE,)
    assert received.subject.startswith(f"Ledelseserklæringen skal fornyes senest {day}")
    assert "Aarhus Kommunes fælles ledelseserklæring blev sendt til Digitaliseringsstyrelsen" in (
        received.body
    )
    assert f"{PORTAL}/erklaering" in received.body
    (recorded,) = notices_sent(app)
    sent_event = next(e for e in app.history() if e.event_type == "SentToAgency")
    assert recorded.facts()["about_seq"] == sent_event.seq
    assert notices.run_once(now=notices_clock(days=1)) == []  # told once per round


def notices_clock(*, days: int) -> float:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)).timestamp()


def test_the_reset_commits_while_smtp_is_down_and_the_mail_goes_once_it_is_back(
    app, operator, customers, outbox
):
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    down = SmtpServer()  # a port nothing listens on yet
    notices = sender(app, outbox, down.port, retry_base=60.0)

    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    assert not app.approval(AARHUS, agreement.id).is_approved  # committed without mail
    assert notices.run_once() == []
    assert notices_sent(app) == []
    assert outbox.counts() == {"due": 1}

    down.start()
    try:
        assert notices.run_once() == []  # not yet: it is tried again after a minute
        later = datetime.datetime.now(datetime.UTC).timestamp() + 61
        assert len(notices.run_once(now=later)) == 1
        (received,) = down.wait_for(1)
        assert "nulstillet" in received.subject
        assert notices.run_once(now=later + 3600) == []
        assert len(down.messages) == 1
    finally:
        down.stop()
    assert len(notices_sent(app)) == 1
    assert outbox.counts() == {"sent": 1}


def test_two_workers_send_each_notice_once(app, operator, customers, outbox, mail):
    other_app = LedgerApp(app.settings)  # a second process's ledger and outbox
    other_outbox = Outbox(app.settings.database)
    try:
        for cvr, email in ((AARHUS, "a2@aarhus.example"), (ODENSE, "c2@odense.example")):
            outbox.remember_contact(person_uuid=email, cvr=cvr, name="", email=email)
        workers = [
            sender(app, outbox, mail.port),
            sender(other_app, other_outbox, mail.port),
        ]
        for label in ("2027.1", "2027.2"):
            app.publish_agreement(
                title="Driftsaftale",
                version_label=label,
                document=PDF + label.encode(),
                document_name="d.pdf",
                actor=operator,
            )
        start = threading.Barrier(2)

        def run(worker: NoticeSender) -> None:
            start.wait()
            for _ in range(3):
                worker.run_once()

        threads = [threading.Thread(target=run, args=(worker,)) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other_outbox.close()
        other_app.close()

    expected = 2 * 4  # two versions, four signatories
    mail.wait_for(expected)
    keys = [(r.rcpt_tos, r.subject) for r in mail.messages]
    assert len(keys) == len(set(keys)) == expected
    assert len(notices_sent(app)) == expected
    assert outbox.counts() == {"sent": expected}


def test_a_notice_lost_while_being_handed_over_is_never_sent_again(
    app, operator, customers, outbox, mail
):
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    notices = sender(app, outbox, mail.port)
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    notices.follow()
    # A process claims the notice, starts handing it over and is gone.
    lost = Outbox(app.settings.database, lease=1.0)
    try:
        (row,) = lost.claim()
        assert lost.handing_over(row.key)
    finally:
        lost.close()

    assert notices.run_once(now=notices_clock(days=0) + 5) == []
    assert outbox.counts() == {UNCERTAIN: 1}
    assert mail.messages == []
    assert notices_sent(app) == []


def test_a_notice_accepted_but_not_recorded_is_recorded_later_and_not_sent_again(
    app, operator, customers, outbox, mail
):
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    notices = sender(app, outbox, mail.port)
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    notices.follow()
    gone = Outbox(app.settings.database, lease=1.0)
    try:
        (row,) = gone.claim()
        assert gone.handing_over(row.key)
        assert gone.accepted(row.key, 1_790_000_000_000)  # then the process stopped
    finally:
        gone.close()

    assert notices.run_once(now=notices_clock(days=0) + 5) == [row.notice_id]
    (recorded,) = notices_sent(app)
    assert recorded.facts()["sent_at"] == "2026-09-21T14:13:20Z"
    assert mail.messages == []  # recorded, not sent a second time
    assert outbox.counts() == {"sent": 1}


def test_a_recipient_the_server_refuses_is_given_up_at_once(app, operator, customers, outbox, mail):
    mail.refused.add(ANNE)
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    notices = sender(app, outbox, mail.port)
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)

    assert notices.run_once() == []
    assert outbox.counts() == {FAILED: 1}
    assert notices.run_once(now=notices_clock(days=1)) == []
    assert mail.messages == []
    assert notices_sent(app) == []


def test_a_reset_approved_again_before_its_turn_is_not_mailed(
    app, operator, customers, outbox, mail
):
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    notices = sender(app, outbox, mail.port)
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=APPROVER,
        authentication=login(app, "_a2"),
        ip="127.0.0.1",
        user_agent="test",
    )

    notices.run_once()
    assert [r.rcpt_tos for r in mail.wait_for(1)] == [(STAFF,)]  # the approval again
    assert outbox.counts() == {MOOT: 1, "sent": 1}


def test_what_happened_before_e_mail_was_turned_on_is_not_mailed(
    app, operator, customers, outbox, mail
):
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)

    assert sender(app, outbox, mail.port).run_once() == []
    assert mail.messages == []


def test_the_outbox_forgets_the_address_once_the_notice_is_recorded(
    app, operator, customers, outbox, mail
):
    agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
    notices = sender(app, outbox, mail.port)
    app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
    notices.run_once()

    rows = outbox.tables.rows("SELECT recipient_email, recipient_name, state FROM ledger_outbox")
    assert rows == [(None, None, "sent")]


def tls_contexts(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The test server's TLS context (a certificate for 127.0.0.1) and a client's that
    trusts that certificate alone."""
    certificate, key = self_signed_certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certificate, key)
    client = ssl.create_default_context(cafile=str(certificate))
    return server, client


def logins_of(seen: list[tuple[str, str]]):
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    return authenticate


# The server of the TLS case does not require STARTTLS for AUTH, as it is TLS throughout.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", [SmtpSettings.STARTTLS, SmtpSettings.TLS])
def test_the_mailer_logs_in_over_tls_and_checks_the_servers_certificate(
    app, operator, customers, outbox, tmp_path, security
):
    server_context, client_context = tls_contexts(tmp_path)
    seen: list[tuple[str, str]] = []
    if security == SmtpSettings.STARTTLS:
        tls = {"tls_context": server_context, "require_starttls": True}
    else:
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS throughout.
        tls = {"ssl_context": server_context, "auth_require_tls": False}
    with smtp_server(authenticator=logins_of(seen), auth_required=True, **tls) as server:
        smtp = SmtpSettings(
            "127.0.0.1", server.port, security, SENDER, user="portal", password="hemmelig"
        )
        agreement = approved_agreement(app, publisher=operator, approver=APPROVER)
        untrusting = NoticeSender(
            app,
            outbox,
            SmtpMailer(smtp),  # the system's authorities, which know no test certificate
            sender=SENDER,
            staff=(),
            portal_url=PORTAL,
        )
        untrusting.follow()
        app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=REASON, actor=operator)
        assert untrusting.run_once() == []
        assert outbox.counts() == {"due": 1}
        assert seen == []  # no password went to a server whose certificate did not hold

        trusting = NoticeSender(
            app,
            outbox,
            SmtpMailer(smtp, tls_context=client_context),
            sender=SENDER,
            staff=(),
            portal_url=PORTAL,
        )
        assert len(trusting.run_once(now=notices_clock(days=1))) == 1
        (received,) = server.wait_for(1)
    assert seen == [("portal", "hemmelig")]
    assert received.rcpt_tos == (ANNE,)
