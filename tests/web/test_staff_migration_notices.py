"""The migration's reminders by e-mail, end to end: a switch scheduled in the ledger, the
sender's daily scan, a real SMTP server (aiosmtpd) receiving what smtplib sends, and the
NoticeSent events in the log; on SQLite and PostgreSQL. A task due is told to the party that
must do it, the switch in a week to the signatories and to staff; a switch moved is told
again and the reminder of the old date is not sent."""

import datetime
import time

import pytest

from approval_ledger.mailer import SmtpMailer
from development.demo import CUSTOMERS, demo_pdf, signatory
from ledger.config import SmtpSettings
from ledger.danish_time import DANISH_TIME, danish_day, danish_today
from ledger.notices import RENEWAL_SCAN_INTERVAL, NoticeSender, migration_reminders_due
from ledger.storage.notices import MOOT, Outbox
from tests.fixtures import approved_agreement
from tests.smtp import smtp_server
from web.display import notice_sentence

AARHUS = "55133018"
SENDER = "kundeportal@leverandoer.example"
STAFF = "drift@leverandoer.example"
PORTAL = "https://portal.example.dk"
ANNE = "anne.andersen@aarhus.example"


@pytest.fixture
def mail():
    with smtp_server() as server:
        yield server


@pytest.fixture
def outbox(app):
    outbox = Outbox(app.settings.database)
    yield outbox
    outbox.close()


@pytest.fixture
def gate_open(app, operator, outbox):
    """Aarhus approved, its declaration sent and its operating agreement archived."""
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    approved_agreement(app, publisher=operator, approver=signatory("aarhus"))
    anne = signatory("aarhus")
    app.hand_in_declaration(
        cvr=AARHUS, document=demo_pdf("E", "1"), document_name="e.pdf", actor=anne
    )
    app.countersign_declaration(
        cvr=AARHUS, document=demo_pdf("E", "2"), document_name="m.pdf", actor=operator
    )
    app.record_declaration_sent(cvr=AARHUS, sent_on=danish_today(), reference="D-1", actor=operator)
    app.archive_operating_agreement(
        cvr=AARHUS,
        document=demo_pdf("Driftsaftale", "u"),
        document_name="driftsaftale.pdf",
        signed_on=danish_today(),
        actor=operator,
    )
    outbox.remember_contact(
        person_uuid="00000000-0000-4000-8000-000000000001",
        cvr=AARHUS,
        name="Anne Andersen",
        email=ANNE,
    )


def schedule(app, operator, days: int) -> datetime.date:
    switch_on = danish_today() + datetime.timedelta(days=days)
    app.schedule_switch(
        cvr=AARHUS,
        switch_on=switch_on,
        meeting_at=datetime.datetime.combine(switch_on, datetime.time(10), DANISH_TIME),
        service_window_minutes=30,
        actor=operator,
    )
    return switch_on


class Rounds:
    """The sender's rounds, each one a scan of what dates make due (the clock moved on by
    the scan interval each time, as a day of `ledger serve` would)."""

    def __init__(self, sender: NoticeSender) -> None:
        self.sender = sender
        self.clock = time.time()

    def next(self) -> list:
        sent = self.sender.run_once(now=self.clock)
        self.clock += RENEWAL_SCAN_INTERVAL + 1
        return sent


@pytest.fixture
def rounds(app, outbox, mail):
    mailer = SmtpMailer(SmtpSettings("127.0.0.1", mail.port, SmtpSettings.PLAIN, SENDER))
    sender = NoticeSender(app, outbox, mailer, sender=SENDER, staff=(STAFF,), portal_url=PORTAL)
    sender.follow()
    return Rounds(sender)


def kinds_sent(app) -> list[tuple[str, str]]:
    return [
        (e.event.notice_kind, e.event.recipient_role)
        for e in app.history()
        if e.event_type == "NoticeSent"
    ]


def test_tasks_due_are_told_to_the_party_that_must_do_them(app, operator, gate_open, rounds, mail):
    assert rounds.next() == []  # nothing scheduled: nothing is due
    switch_on = schedule(app, operator, days=10)
    due = danish_day(switch_on - datetime.timedelta(days=1))

    assert len(rounds.next()) == 1  # Full Service waits for staff; the reviews wait for it
    (told,) = mail.wait_for(1)
    assert told.rcpt_tos == (STAFF,)
    assert told.subject == f"Driftens opgaver for Aarhus Kommune senest {due}"
    assert (
        f"Aarhus Kommunes skifte til Full Service er planlagt til {danish_day(switch_on)}."
        in told.body
    )
    assert "- Full Service IdP-indstillinger slået til\n" in told.body
    assert f"{PORTAL}/drift/kunder/{AARHUS}/migrering" in told.body
    assert kinds_sent(app) == [("task-due", "staff")]
    assert rounds.next() == []  # told once

    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    assert len(rounds.next()) == 1
    _, to_anne = mail.wait_for(2)
    assert to_anne.rcpt_tos == (ANNE,)
    assert to_anne.subject == f"Opgaver i migreringen til Full Service skal være løst senest {due}"
    body = to_anne.body
    assert body.startswith("Kære Anne Andersen\n\n")
    assert f"Disse opgaver skal kommunen have løst senest {due}:" in body
    for title in ("Mailskabeloner gennemgået", "Kodeordspolitik gennemgået", "Vilkår gennemgået"):
        assert f"- {title}\n" in body
    assert "tidligt skift" not in body  # the optional task is no one's duty
    assert f"{PORTAL}/migrering/" in body
    assert "Full Service IdP-indstillinger" not in body  # staff's, done
    assert kinds_sent(app) == [("task-due", "staff"), ("task-due", "signatory")]
    # The history tells each in Danish.
    sentences = [
        notice_sentence(e.event, "")
        for e in app.history(cvr=AARHUS)
        if e.event_type == "NoticeSent"
    ]
    assert sentences == [
        "E-mail sendt til leverandøren om opgaver i migreringen, der snart skal være løst.",
        f"E-mail sendt til {ANNE} om opgaver i migreringen, der snart skal være løst.",
    ]


def test_the_switch_in_a_week_is_told_and_a_moved_switch_again(
    app, operator, gate_open, rounds, mail, outbox
):
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    anne = signatory("aarhus")
    app.review_mail_templates(cvr=AARHUS, decision="kept", note=None, actor=anne)
    app.review_password_policy(
        cvr=AARHUS, minimum_length=15, ad_matches=True, note=None, actor=anne
    )
    app.review_terms(cvr=AARHUS, outcome="addendum", note=None, actor=anne)
    schedule(app, operator, days=20)
    assert rounds.next() == []  # three weeks away, every task done: nothing yet

    switch_on = schedule(app, operator, days=7)  # moved: a new event, told anew
    assert len(rounds.next()) == 2
    to_anne, to_staff = sorted(mail.wait_for(2), key=lambda m: m.rcpt_tos != (ANNE,))
    day = danish_day(switch_on)
    assert to_anne.subject == f"Skiftedagen er {day}"
    assert (
        f"Aarhus Kommune skifter til Full Service IdP {day}. Mødet med leverandøren begynder "
        "kl. 10.00. Kommunen har meldt et servicevindue på 30 minutter ud" in to_anne.body
    )
    assert "Meld servicevinduet ud til kommunens brugere" in to_anne.body
    assert to_staff.rcpt_tos == (STAFF,)
    assert to_staff.subject == f"Aarhus Kommune skifter til Full Service {day}"
    assert f"{PORTAL}/drift/kunder/{AARHUS}/skiftedag" in to_staff.body
    assert rounds.next() == []

    # Moved again after its reminders were due but before they went out: those are not
    # sent (moot), the reminders of the newest date are.
    later = schedule(app, operator, days=6)
    outbox.add(migration_reminders_due(app, outbox, (STAFF,), danish_today()))
    newest = danish_day(schedule(app, operator, days=5))
    assert len(rounds.next()) == 2
    last = mail.wait_for(4)[2:]
    assert {m.subject for m in last} == {
        f"Skiftedagen er {newest}",
        f"Aarhus Kommune skifter til Full Service {newest}",
    }
    assert all(danish_day(later) not in m.subject for m in last)
    assert outbox.counts() == {"sent": 4, MOOT: 2}


def test_nothing_is_told_once_the_municipality_has_switched(app, operator, gate_open, rounds, mail):
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=operator
    )
    switch_on = schedule(app, operator, days=0)
    now = datetime.datetime.now(DANISH_TIME)
    for step in ("idp-removed", "idp-created", "invitation-accepted", "logins-verified"):
        app.record_switch_step(cvr=AARHUS, step=step, actor=operator, at=now)
    assert app.migration_status(AARHUS).switched
    assert switch_on == danish_today()
    assert rounds.next() == []
    assert mail.messages == []
