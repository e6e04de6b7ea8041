"""E-mail notices: who is told what and when, in Danish, and the sender that delivers them.

People are told where they expect it:

- a customer's signatories when staff reset its approval (with the reason), when a new
  agreement version awaits their approval, and when their joint management declaration's
  renewal is due (`RENEWAL_NOTICE_DAYS` before the date, and after it while it is overdue);
- staff (LEDGER_STAFF_EMAIL) when a customer approves or hands in its declaration;
- a customer's signatories and staff, once a municipality's switch to Full Service is
  scheduled: when tasks of the migration are due within `TASK_NOTICE_DAYS` (each party about
  the tasks it must do), and when the switch day is `SWITCH_NOTICE_DAYS` away or nearer.

A customer's signatories are the people who logged in for its CVR with an e-mail address in
their NemLog-in assertion, as the portal knows them (`Outbox.contacts_of`). Each message
holds only what its recipient may already read in the portal: a signatory reads its own
municipality's agreements and history (so the reset's reason), staff read everything (so
the approver's name and level). No IP address, assertion or person UUID is ever in one.

Sending is never on the write path. What is due is derived from the log's events after
they are committed, by following the log with a cursor (`ledger.storage.notices`), so an
approval or a reset commits whether or not the mail server answers; e-mail covers what
happens from when it was turned on. `NoticeSender` runs in every `ledger serve` worker, as
the checkpointer does; the outbox's claims let one of them send each notice, at most once,
and each sent notice is recorded in the log as a signed `Notice.NoticeSent` event.
"""

import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ledger.application import LedgerApp
from ledger.danish_time import DANISH_TIME, danish_day, danish_minute, danish_today
from ledger.domain import Declaration, DomainError, Notice
from ledger.identity import Actor, NsisLevel
from ledger.migration import (
    MUNICIPALITY,
    OPERATOR,
    SWITCH,
    MigrationStatus,
    TaskStatus,
    migration_id,
)
from ledger.signed_log import Entry
from ledger.storage.notices import (
    FAILED,
    MOOT,
    UNCERTAIN,
    DueNotice,
    Outbox,
    OutboxRow,
)

logger = logging.getLogger(__name__)

APPROVAL_RESET = "approval-reset"
NEW_VERSION = "new-version"
RENEWAL_DUE = "renewal-due"
APPROVED = "approved"
HANDED_IN = "handed-in"
TASK_DUE = "task-due"
SWITCH_SOON = "switch-soon"
# How many days before a declaration's renewal date its signatories are told.
RENEWAL_NOTICE_DAYS = 30
# How many days before their due date the migration's open tasks are told, and before the
# switch day the switch is (the plan's tasks are due the day before the switch date).
TASK_NOTICE_DAYS = 14
SWITCH_NOTICE_DAYS = 7
# How often one process looks for declarations whose renewal has become due, and for
# migration tasks and switch days coming near (seconds): a date, not an event, makes them
# due, so the log cannot be followed for them.
RENEWAL_SCAN_INTERVAL = 600.0
# The portal's pages the messages link to (web's routes), under its base URL.
SIGNATORY_AGREEMENT = "/aftaler/{version_id}"
SIGNATORY_HISTORY = "/historik"
SIGNATORY_DECLARATION = "/erklaering"
STAFF_CUSTOMER = "/drift/kunder/{cvr}"
STAFF_DECLARATION = "/drift/erklaeringer/{cvr}"
SIGNATORY_MIGRATION = "/migrering/"
STAFF_MIGRATION = "/drift/kunder/{cvr}/migrering"
STAFF_RUNBOOK = "/drift/kunder/{cvr}/skiftedag"
RECEIPT = "/kvitteringer/{seq}"
SIGNATURE = "Venlig hilsen\nKundeportalen"
AUTOMATIC = (
    "Denne e-mail er sendt automatisk fra kundeportalen og kan ikke besvares. Den står "
    "også i loggen over, hvad der er sket."
)


class NotHandedOver(Exception):
    """The message did not reach the server's DATA (it could not be reached, or refused
    the sender or the recipient), or the server refused it: it was not sent. `permanent`
    for a 5xx refusal, which no retry changes."""

    def __init__(self, problem: str, *, permanent: bool = False) -> None:
        super().__init__(problem)
        self.permanent = permanent


class HandOverUnknown(Exception):
    """The connection was lost while the message was being handed over: the server may or
    may not have accepted it."""


class Mailer(Protocol):
    """Hands one message to the mail server: returns once it accepted it, raises
    NotHandedOver when it surely did not, HandOverUnknown when that cannot be known.
    `before_data` is called just before the message itself is sent; when it returns False
    the message is not sent (NotHandedOver)."""

    def deliver(self, message: EmailMessage, *, before_data: Callable[[], bool]) -> None: ...


# What is due


def notices_for(
    entry: Entry, app: LedgerApp, outbox: Outbox, staff: tuple[str, ...]
) -> list[DueNotice]:
    """The notices one event of the log makes due, to the recipients known now."""
    event: Any = entry.event
    kind = entry.event_type
    if kind == "ApprovalReset":
        return _to_signatories(APPROVAL_RESET, entry.seq, event.cvr, outbox)
    if kind == "Published":
        due: list[DueNotice] = []
        for customer in app.customers():
            due += _to_signatories(NEW_VERSION, entry.seq, customer.cvr, outbox)
        return due
    by_a_person = entry.actor is not None and entry.actor.kind == Actor.PERSON
    if kind in ("Approved", "HandedIn") and by_a_person:
        notice_kind = APPROVED if kind == "Approved" else HANDED_IN
        return [DueNotice(notice_kind, entry.seq, event.cvr, Notice.STAFF, to) for to in staff]
    return []


def renewals_due(app: LedgerApp, outbox: Outbox, today: datetime.date) -> list[DueNotice]:
    """The notices of declarations whose renewal is due within RENEWAL_NOTICE_DAYS of
    `today` (or overdue), about the event that sent them to the Agency, to each customer's
    signatories known now. A declaration handed in again is no longer due."""
    due: list[DueNotice] = []
    soon = today + datetime.timedelta(days=RENEWAL_NOTICE_DAYS)
    for customer in app.customers():
        declaration = app.declaration(customer.cvr)
        if declaration is None or declaration.status != Declaration.SENT:
            continue
        if (
            declaration.renewal_due is None
            or datetime.date.fromisoformat(declaration.renewal_due) > soon
        ):
            continue
        seq = app.signed_log.seq_of(declaration.id, declaration.version)
        due += _to_signatories(RENEWAL_DUE, seq, customer.cvr, outbox)
    return due


def migration_reminders_due(
    app: LedgerApp, outbox: Outbox, staff: tuple[str, ...], today: datetime.date
) -> list[DueNotice]:
    """The reminders of scheduled switches, about the event that scheduled each (a switch
    moved is a new event, so it is told again): the tasks due within TASK_NOTICE_DAYS (or
    overdue), to the party that must do them; the switch day within SWITCH_NOTICE_DAYS, to
    the customer's signatories and to staff. Nothing once the municipality has switched."""
    due: list[DueNotice] = []
    for customer in app.customers():
        status = app.migration_status(customer.cvr, today=today)
        switch_on = status.switch.switch_on
        if switch_on is None or status.switched:
            continue
        seq = scheduled_seq(app, customer.cvr)
        if seq is None:
            continue
        cvr = customer.cvr
        if _due_tasks(status, MUNICIPALITY, today):
            due += _to_signatories(TASK_DUE, seq, cvr, outbox)
        if _due_tasks(status, OPERATOR, today):
            due += [DueNotice(TASK_DUE, seq, cvr, Notice.STAFF, to) for to in staff]
        if 0 <= (switch_on - today).days <= SWITCH_NOTICE_DAYS:
            due += _to_signatories(SWITCH_SOON, seq, cvr, outbox)
            due += [DueNotice(SWITCH_SOON, seq, cvr, Notice.STAFF, to) for to in staff]
    return due


def scheduled_seq(app: LedgerApp, cvr: str) -> int | None:
    """Where the event that scheduled the municipality's switch (its latest date) is in the
    log; None when none has."""
    found = None
    for event in app.repository.event_store.get(migration_id(cvr)):
        if type(event).__name__ == "SwitchScheduled":
            found = event
    if found is None:
        return None
    return app.signed_log.seq_of(found.originator_id, found.originator_version)


def _due_tasks(status: MigrationStatus, party: str, today: datetime.date) -> list[TaskStatus]:
    """The tasks before the switch day that wait for `party` and are due within
    TASK_NOTICE_DAYS of `today` (or overdue)."""
    soon = today + datetime.timedelta(days=TASK_NOTICE_DAYS)
    return [
        task
        for task in status.waiting_for(party)
        if task.task.phase != SWITCH and task.due is not None and task.due <= soon
    ]


def _to_signatories(kind: str, seq: int, cvr: str, outbox: Outbox) -> list[DueNotice]:
    return [
        DueNotice(kind, seq, cvr, Notice.SIGNATORY, contact.email, contact.name)
        for contact in outbox.contacts_of(cvr)
    ]


# What the messages say


@dataclass(frozen=True)
class Text:
    """A message's subject and plain-text body."""

    subject: str
    body: str


def compose(notice: DueNotice, about: Entry, app: LedgerApp, portal_url: str) -> Text | None:
    """The message of a notice about the event `about`, or None when it is no longer true
    (the approval was made again, the agreement retired or approved, the declaration
    handed in again): then nothing is sent."""
    event: Any = about.event
    customer = app.customer(notice.cvr).name
    link = portal_url.rstrip("/")
    at = danish_minute(datetime.datetime.fromisoformat(about.recorded_at))
    greeting = f"Kære {notice.recipient_name}" if notice.recipient_name else "Goddag"
    if notice.notice_kind == APPROVAL_RESET:
        approval = app.approval(notice.cvr, event.agreement_version_id)
        if approval is not None and approval.is_approved:
            return None
        agreement = _agreement(app, event.agreement_version_id)
        reason = "\n".join(f"    {line}" for line in event.reason.splitlines())
        return Text(
            f"Godkendelsen af {agreement}, er nulstillet",
            _lines(
                greeting,
                f"Den {at} nulstillede leverandøren {_genitive(customer)} godkendelse af "
                f"{agreement}.",
                f"Begrundelsen er:\n\n{reason}",
                "Hvad sker der nu?\nAftalen skal godkendes igen af en tegningsberettiget for "
                f"{customer}. Log ind med MitID Erhverv, og godkend den her:\n"
                + link
                + SIGNATORY_AGREEMENT.format(version_id=event.agreement_version_id),
                "Både godkendelsen og nulstillingen står i kommunens historik:\n"
                + link
                + SIGNATORY_HISTORY,
            ),
        )
    if notice.notice_kind == NEW_VERSION:
        version = app.agreement_version(about.event.originator_id)
        approval = app.approval(notice.cvr, version.id)
        if version.retired or (approval is not None and approval.is_approved):
            return None
        agreement = f"{version.title}, version {version.version_label}"
        return Text(
            f"Ny aftale til godkendelse: {agreement}",
            _lines(
                greeting,
                f"Den {at} offentliggjorde leverandøren {agreement}. Den skal godkendes af "
                f"en tegningsberettiget for {customer}.",
                "Hvad skal du gøre?\nLæs aftalen, og godkend den, når du har logget ind med "
                "MitID Erhverv:\n" + link + SIGNATORY_AGREEMENT.format(version_id=version.id),
                "Er du ikke tegningsberettiget for kommunen, så giv gerne beskeden videre til "
                "den, der er.",
            ),
        )
    if notice.notice_kind == RENEWAL_DUE:
        declaration = app.declaration(notice.cvr)
        if (
            declaration is None
            or declaration.status != Declaration.SENT
            or app.signed_log.seq_of(declaration.id, declaration.version) != about.seq
        ):
            return None
        renewal = datetime.date.fromisoformat(event.renewal_due)
        sent_on = danish_day(datetime.date.fromisoformat(event.sent_on))
        due = f"senest {danish_day(renewal)}"
        when = (
            f"Den skulle have været fornyet {due}."
            if renewal < danish_today()
            else f"Den skal fornyes {due}."
        )
        return Text(
            f"Ledelseserklæringen skal fornyes {due}",
            _lines(
                greeting,
                f"{_genitive(customer)} fælles ledelseserklæring blev sendt til "
                f"Digitaliseringsstyrelsen den {sent_on}. {when}",
                "Hvad skal du gøre?\nAflever en ny erklæring, underskrevet af kommunen, i "
                "portalen, når du har logget ind med MitID Erhverv:\n"
                + link
                + SIGNATORY_DECLARATION,
            ),
        )
    if notice.notice_kind in (TASK_DUE, SWITCH_SOON):
        return _migration_text(notice, about, app, link, greeting, customer)
    actor = about.actor
    name = actor.name if actor is not None else "en medarbejder"
    if notice.notice_kind == APPROVED:
        agreement = _agreement(app, event.agreement_version_id)
        level = ""
        if actor is not None and actor.loa:
            level = f" med MitID Erhverv på sikringsniveau {NsisLevel.parse(actor.loa).danish}"
        return Text(
            f"{customer} har godkendt {agreement}",
            _lines(
                f"{customer} (CVR {notice.cvr}) godkendte {agreement}, den {at}. Godkendt af "
                f"{name}{level}.",
                "Kvitteringen:\n" + link + RECEIPT.format(seq=about.seq),
                "Kunden:\n" + link + STAFF_CUSTOMER.format(cvr=notice.cvr),
            ),
        )
    if notice.notice_kind == HANDED_IN:
        return Text(
            f"{customer} har afleveret ledelseserklæringen",
            _lines(
                f"{customer} (CVR {notice.cvr}) afleverede den fælles ledelseserklæring den "
                f"{at}. Afleveret af {name}.",
                "Hvad sker der nu?\nErklæringen venter på jeres medunderskrift:\n"
                + link
                + STAFF_DECLARATION.format(cvr=notice.cvr),
            ),
        )
    raise ValueError(f"unknown kind of notice {notice.notice_kind!r}")


def _migration_text(
    notice: DueNotice, about: Entry, app: LedgerApp, link: str, greeting: str, customer: str
) -> Text | None:
    """A reminder of a scheduled switch; None once the switch was moved (a newer event
    scheduled it), carried out, or (for tasks due) the tasks are done."""
    today = danish_today()
    status = app.migration_status(notice.cvr, today=today)
    switch = status.switch
    if (
        switch.switch_on is None
        or switch.meeting_at is None
        or status.switched
        or scheduled_seq(app, notice.cvr) != about.seq
    ):
        return None
    to_staff = notice.recipient_role == Notice.STAFF
    party = OPERATOR if to_staff else MUNICIPALITY
    switch_day = danish_day(switch.switch_on)
    meeting = danish_minute(switch.meeting_at).split(" kl. ")[1]
    tasks = _due_tasks(status, party, today)
    listed = "\n".join(f"- {task.task.title}" for task in tasks)
    page = link + STAFF_MIGRATION.format(cvr=notice.cvr) if to_staff else link + SIGNATORY_MIGRATION
    if notice.notice_kind == TASK_DUE:
        if not tasks:
            return None
        by = min(task.due for task in tasks if task.due is not None)
        by_day = danish_day(by)
        late = by < today
        if to_staff:
            return Text(
                f"Driftens opgaver for {customer} senest {by_day}",
                _lines(
                    f"{_genitive(customer)} skifte til Full Service er planlagt til "
                    f"{switch_day}. Disse opgaver skal driften have løst "
                    + (f"og skulle have været løst {by_day}:" if late else f"senest {by_day}:"),
                    listed,
                    "Kommunens opgaver i migreringen:\n" + page,
                ),
            )
        return Text(
            f"Opgaver i migreringen til Full Service skal være løst senest {by_day}",
            _lines(
                greeting,
                f"{_genitive(customer)} skifte til Full Service IdP er planlagt til "
                f"{switch_day}. "
                + (
                    f"Disse opgaver skulle have været løst {by_day}:"
                    if late
                    else f"Disse opgaver skal kommunen have løst senest {by_day}:"
                ),
                listed,
                "Hvad skal du gøre?\nLøs opgaverne, og registrér dem i portalen, når du har "
                "logget ind med MitID Erhverv:\n" + page,
            ),
        )
    window = switch.service_window_minutes
    said = (
        f" Kommunen har meldt et servicevindue på {window} minutter ud; så længe kan "
        "brugerne ikke logge ind med MitID Erhverv."
        if window
        else ""
    )
    left = f"Disse opgaver mangler stadig:\n{listed}" if tasks else ""
    if to_staff:
        return Text(
            f"{customer} skifter til Full Service {switch_day}",
            _lines(
                *filter(
                    None,
                    (
                        f"{customer} (CVR {notice.cvr}) skifter til Full Service IdP "
                        f"{switch_day}. Mødet begynder kl. {meeting}.{said}",
                        left,
                        "Skiftedagens drejebog:\n" + link + STAFF_RUNBOOK.format(cvr=notice.cvr),
                    ),
                )
            ),
        )
    return Text(
        f"Skiftedagen er {switch_day}",
        _lines(
            *filter(
                None,
                (
                    greeting,
                    f"{customer} skifter til Full Service IdP {switch_day}. Mødet med "
                    f"leverandøren begynder kl. {meeting}.{said}",
                    "Hvad skal du gøre?\nMeld servicevinduet ud til kommunens brugere, og "
                    "sørg for, at den, der kan fjerne IdP'en og godkende invitationen i "
                    "kommunens MitID Erhverv-portal, er med på mødet.",
                    left,
                    "Migreringen i portalen:\n" + page,
                ),
            )
        ),
    )


def _lines(*paragraphs: str) -> str:
    return "\n\n".join((*paragraphs, SIGNATURE, AUTOMATIC)) + "\n"


def _agreement(app: LedgerApp, version_id: UUID) -> str:
    version = app.agreement_version(version_id)
    return f"{version.title}, version {version.version_label}"


def _genitive(name: str) -> str:
    """A name in the Danish genitive: Aarhus Kommunes, Hans'."""
    return f"{name}'" if name[-1:].lower() in ("s", "x", "z") else f"{name}s"


def email_message(
    text: Text, notice: DueNotice, notice_id: UUID, sender: str, now: datetime.datetime
) -> EmailMessage:
    """The message as it is sent: plain text in UTF-8, a Message-ID made from the notice's
    id (so a copy could be recognised as the same message) and marked as sent
    automatically (RFC 3834), so that out-of-office replies stay away."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr(("Kundeportalen", sender))
    message["To"] = formataddr((notice.recipient_name, notice.recipient_email))
    message["Subject"] = text.subject
    message["Date"] = format_datetime(now.astimezone(DANISH_TIME))
    message["Message-ID"] = message_id(notice_id, sender)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text.body)
    message["Content-Language"] = "da"  # after the content, which replaces Content-* headers
    return message


def message_id(notice_id: UUID, sender: str) -> str:
    return f"<{notice_id}@{sender.rsplit('@', 1)[1]}>"


# Sending


class NoticeSender:
    """Derives what is due from the log and delivers it, in a daemon thread that wakes
    every `interval` seconds (and `run_once` for one round, as tests and a stop call it).

    A notice the server could not take now is tried again after `retry_base` seconds,
    twice as long each time up to `retry_max`, and given up (`failed`) after
    `attempts_max` attempts; a 5xx refusal is given up at once."""

    def __init__(
        self,
        app: LedgerApp,
        outbox: Outbox,
        mailer: Mailer,
        *,
        sender: str,
        staff: tuple[str, ...],
        portal_url: str,
        interval: float = 5.0,
        retry_base: float = 30.0,
        retry_max: float = 900.0,
        attempts_max: int = 50,
        name: str = "ledger-notices",
    ) -> None:
        self.app = app
        self.outbox = outbox
        self.mailer = mailer
        self.sender = sender
        self.staff = staff
        self.portal_url = portal_url
        self.interval = interval
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.attempts_max = attempts_max
        self._renewals_scanned_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "NoticeSender":
        try:
            self.follow()  # where e-mail starts: nothing committed before this is mailed
        except Exception as error:  # the database away: the first round follows instead
            logger.warning("e-mail notices: not started yet (%s)", type(error).__name__)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as error:  # the database away: the next round tries again
                logger.warning(
                    "e-mail notices: this round stopped (%s); trying again in %.0f s",
                    type(error).__name__,
                    self.interval,
                )

    def run_once(self, now: float | None = None) -> list[UUID]:
        """One round: derive what is due, then deliver what this process claims; the ids
        of the notices sent (and recorded) in it. `now` (seconds since the epoch) is the
        clock, for a test that lets time pass."""
        now = time.time() if now is None else now
        now_ms = int(now * 1000)
        self.follow()
        if self._renewals_scanned_at is None or now - self._renewals_scanned_at >= (
            RENEWAL_SCAN_INTERVAL
        ):
            today = danish_today()
            self.outbox.add(renewals_due(self.app, self.outbox, today))
            self.outbox.add(migration_reminders_due(self.app, self.outbox, self.staff, today))
            self._renewals_scanned_at = now
        lost = self.outbox.lapse(now_ms)
        if lost:
            logger.warning("e-mail notices: %d may or may not have been sent (lost process)", lost)
        sent = [row.notice_id for row in self.outbox.unrecorded(now_ms) if self._record(row)]
        for row in self.outbox.claim(now_ms):
            if self._deliver(row, now):
                sent.append(row.notice_id)
        return sent

    def follow(self) -> None:
        """Derive the notices of the events committed since the cursor, a page at a time."""
        last = self.app.signed_log.last_leaf()
        end = -1 if last is None else last.seq
        after = self.outbox.cursor(start_at=end)
        while after < end:
            due: list[DueNotice] = []
            seen = after
            for entry in self.app.signed_log.entries(after=after, page_size=200):
                due += notices_for(entry, self.app, self.outbox, self.staff)
                seen = entry.seq
                if seen - after >= 200:
                    break
            if seen == after:
                return
            self.outbox.add(due, through=seen)
            after = seen

    def _deliver(self, row: OutboxRow, now: float) -> bool:
        notice = row.notice
        about = self.app.signed_log.entry(notice.about_seq)
        try:
            text = None if about is None else compose(notice, about, self.app, self.portal_url)
        except DomainError as error:  # what it names is gone (no such customer): never sent
            self.outbox.give_up(row.key, FAILED, f"{type(error).__name__}: cannot be written")
            logger.warning("e-mail notice given up: its message cannot be written")
            return False
        if text is None:
            self.outbox.give_up(row.key, MOOT, "no longer true when its turn came")
            return False
        sent_at = datetime.datetime.fromtimestamp(now, datetime.UTC)
        message = email_message(text, notice, row.notice_id, self.sender, sent_at)
        try:
            self.mailer.deliver(message, before_data=lambda: self.outbox.handing_over(row.key))
        except NotHandedOver as refused:
            attempts = row.attempts + 1
            if refused.permanent or attempts >= self.attempts_max:
                self.outbox.give_up(row.key, FAILED, str(refused))
                logger.warning("e-mail notice given up after %d attempts: %s", attempts, refused)
                return False
            wait = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
            self.outbox.retry(row.key, str(refused), int((now + wait) * 1000))
            logger.warning("e-mail notice not sent (%s); trying again in %.0f s", refused, wait)
            return False
        except HandOverUnknown as lost:
            self.outbox.give_up(row.key, UNCERTAIN, str(lost))
            logger.warning("e-mail notice may or may not have been sent (%s)", lost)
            return False
        accepted_ms = int(time.time() * 1000)
        if not self.outbox.accepted(row.key, accepted_ms):
            return False  # the claim was lost meanwhile: the row is uncertain, never resent
        accepted = OutboxRow(row.key, row.notice_id, notice, row.attempts, accepted_ms)
        return self._record(accepted)

    def _record(self, row: OutboxRow) -> bool:
        """The NoticeSent event of an accepted notice, then the row forgets the address;
        if the log cannot be written now, a later round records it."""
        notice = row.notice
        about = self.app.signed_log.entry(notice.about_seq)
        assert row.accepted_ms is not None
        event = Notice.sent(
            row.notice_id,
            notice_kind=notice.notice_kind,
            about_seq=notice.about_seq,
            cvr=notice.cvr,
            agreement_version_id=_agreement_version_of(about),
            recipient_role=notice.recipient_role,
            recipient_email=notice.recipient_email,
            sent_at=datetime.datetime.fromtimestamp(row.accepted_ms / 1000, datetime.UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            message_id=message_id(row.notice_id, self.sender),
            actor=Actor.system("notices"),
        )
        try:
            self.app.save(event)
        except IntegrityError:
            pass  # recorded already, by this process before a failure or by another
        except Exception as error:
            logger.warning(
                "e-mail notice sent but not yet recorded (%s); recorded at a later round",
                type(error).__name__,
            )
            return False
        self.outbox.sent(row.key)
        return True


def _agreement_version_of(about: Entry | None) -> UUID | None:
    """The agreement version a notice is about, when it is about one (so the history and
    the auditor's page can name it)."""
    if about is None:
        return None
    if about.event_type == "Published":
        return UUID(str(about.event.originator_id))
    found = getattr(about.event, "agreement_version_id", None)
    return None if found is None else UUID(str(found))
