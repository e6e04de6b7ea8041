"""The migration's rules in memory: the aggregate, the gate, the one derivation of task states
(ledger.migration), with aggregates built here and no application or database."""

import datetime
from typing import Any

import pytest

from ledger.danish_time import danish_today
from ledger.domain import (
    AgreementVersion,
    Approval,
    Authentication,
    Customer,
    Declaration,
    DomainError,
    RequestFacts,
    RoleAssignment,
    colleague_grant_statement,
)
from ledger.identity import Actor, NsisLevel
from ledger.migration import (
    BLOCKED,
    DONE,
    GATE_AGREEMENT,
    GATE_APPROVAL,
    GATE_APPROVAL_RESET,
    GATE_DECLARATION,
    MUNICIPALITY,
    NOT_RELEVANT,
    OPERATOR,
    SWITCH_STEPS,
    TASKS,
    WAITING_MUNICIPALITY,
    WAITING_OPERATOR,
    Gate,
    Migration,
    derive,
    fact_of,
    has_signal,
    is_colleague,
    matches_filter,
    party_of,
    signing_basis,
    task,
)
from tests.fixtures import AARHUS, ODENSE, signatory

UTC = datetime.UTC
OPERATOR_ACTOR = Actor.cli_operator()
STAFF = Actor.person(
    person_uuid="00000000-0000-4000-8000-0000000000d1",
    name="Dorte Drift",
    cvr="12345674",
    organisation="Leverandøren",
    loa=NsisLevel.SUBSTANTIAL,
)
TODAY = datetime.date(2026, 12, 1)
OPEN = Gate(True, ())
LOGIN = Authentication("_a1", "2026-12-01T08:00:00Z", "0" * 64)
REQUEST = RequestFacts("192.0.2.1", "test", "a" * 64)


class Log:
    """Aggregates' events collected in the order they happened, as facts."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def take(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self.events.extend(aggregate.collect_events())

    def status(self, cvr: str = AARHUS, today: datetime.date = TODAY) -> Any:
        facts = [f for n, e in enumerate(self.events) if (f := fact_of(e, n)) is not None]
        return derive(cvr, facts, today=today)


@pytest.fixture
def log() -> Log:
    log = Log()
    customer = Customer.register(AARHUS, "Aarhus Kommune", OPERATOR_ACTOR)
    log.take(customer)
    return log


def agreement() -> AgreementVersion:
    return AgreementVersion(
        title="OS2faktor-aftale",
        version_label="2026.1",
        document_sha256="a" * 64,
        document_name="aftale.pdf",
        document_size=10,
        actor=OPERATOR_ACTOR,
    )


def gate_done(log: Log, *, basis: list[str] | None = None) -> tuple[Migration, Approval]:
    """The three tasks of the gate done for Aarhus."""
    version = agreement()
    approval = Approval.approve_first(
        cvr=AARHUS,
        agreement_version_id=version.id,
        actor=signatory(),
        authentication=LOGIN,
        request=REQUEST,
        signing_basis=basis,
    )
    declaration = Declaration.hand_in_first(
        cvr=AARHUS, document_sha256="b" * 64, document_name="e.pdf", actor=signatory()
    )
    declaration.countersign(document_sha256="c" * 64, document_name="m.pdf", actor=STAFF)
    declaration.record_sent(
        sent_on=TODAY, reference="DIGST-1", renewal_due=datetime.date(2027, 12, 1), actor=STAFF
    )
    migration = Migration.archive_operating_agreement(
        None,
        cvr=AARHUS,
        document_sha256="d" * 64,
        document_name="driftsaftale.pdf",
        signed_on=TODAY,
        today=TODAY,
        actor=STAFF,
    )
    log.take(version, approval, declaration, migration)
    return migration, approval


def test_the_tasks_are_the_plans_in_its_order_with_its_split() -> None:
    assert [t.key for t in TASKS] == [
        "operating-agreement",
        "approval",
        "declaration",
        "early-password-policy",
        "full-service",
        "mail-templates",
        "password-policy",
        "terms",
        "switch-scheduled",
        *SWITCH_STEPS,
    ]
    assert [t.phase for t in TASKS].count("now") == 4
    assert task("operating-agreement").recorded_by == {OPERATOR}
    assert task("terms").recorded_by == {MUNICIPALITY}
    assert not task("terms").may_be_not_relevant
    with pytest.raises(DomainError, match="Ukendt opgave"):
        task("nope")


def test_a_new_municipality_waits_for_itself_and_for_us(log: Log) -> None:
    status = log.status()
    assert not status.gate.open
    assert status.gate.refusals == (GATE_APPROVAL, GATE_AGREEMENT, GATE_DECLARATION)
    assert status.task("operating-agreement").state == WAITING_OPERATOR
    assert status.task("approval").state == WAITING_OPERATOR  # no version published yet
    assert status.task("declaration").state == WAITING_MUNICIPALITY
    assert status.task("terms").state == BLOCKED
    assert status.task("terms").blocked_by == ("full-service",)
    assert status.task("switch-scheduled").blocked_by == (
        "operating-agreement",
        "approval",
        "declaration",
    )
    assert status.waiting_municipality
    assert status.waiting_operator
    assert not status.ready_for_switch
    assert status.name == "Aarhus Kommune"


def test_the_gate_opens_with_the_three_tasks_and_a_reset_closes_it_again(log: Log) -> None:
    migration, approval = gate_done(log)
    status = log.status()
    assert status.gate.open
    assert status.gate.refusals == ()
    assert status.task("switch-scheduled").state == WAITING_OPERATOR
    migration = Migration.schedule_switch(
        migration,
        cvr=AARHUS,
        switch_on=datetime.date(2026, 12, 10),
        meeting_at=datetime.datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
        service_window_minutes=30,
        gate=status.gate,
        today=TODAY,
        actor=STAFF,
    )
    approval.reset(reason="Anne Andersen er ikke tegningsberettiget.", actor=STAFF)
    log.take(migration, approval)
    status = log.status()
    assert not status.gate.open
    assert status.gate.refusals == (GATE_APPROVAL_RESET,)
    assert status.gate.reopened
    assert status.gate.message is not None
    assert GATE_APPROVAL_RESET in status.gate.message
    assert status.task("approval").note == (
        "Godkendelsen er nulstillet: Anne Andersen er ikke tegningsberettiget."
    )
    assert status.task("idp-removed").state == BLOCKED
    assert "approval" in status.task("idp-removed").blocked_by
    with pytest.raises(DomainError, match="nulstillet"):
        migration.record_switch_step(
            step="idp-removed",
            at=datetime.datetime(2026, 12, 10, 9, 5, tzinfo=UTC),
            reason=None,
            gate=status.gate,
            now=datetime.datetime(2026, 12, 10, 9, 6, tzinfo=UTC),
            actor=signatory(),
        )


def test_the_switch_cannot_be_scheduled_through_a_closed_gate(log: Log) -> None:
    with pytest.raises(DomainError) as refused:
        Migration.schedule_switch(
            None,
            cvr=AARHUS,
            switch_on=TODAY,
            meeting_at=datetime.datetime(2026, 12, 1, 9, tzinfo=UTC),
            service_window_minutes=30,
            gate=log.status().gate,
            today=TODAY,
            actor=STAFF,
        )
    assert str(refused.value) == " ".join((GATE_APPROVAL, GATE_AGREEMENT, GATE_DECLARATION))


def test_who_records_what_follows_the_plan() -> None:
    with pytest.raises(DomainError, match="registreres af leverandøren"):
        Migration.archive_operating_agreement(
            None,
            cvr=AARHUS,
            document_sha256="d" * 64,
            document_name="d.pdf",
            signed_on=TODAY,
            today=TODAY,
            actor=signatory(),
        )
    with pytest.raises(DomainError, match="registreres af kommunen"):
        Migration.review_terms(None, cvr=AARHUS, outcome="deleted", note=None, actor=STAFF)
    with pytest.raises(DomainError, match="logget ind for CVR 55133018"):
        Migration.review_terms(
            None, cvr=AARHUS, outcome="deleted", note=None, actor=signatory(cvr=ODENSE)
        )
    assert party_of(signatory(), AARHUS) == MUNICIPALITY
    assert party_of(STAFF, AARHUS) == OPERATOR


def test_the_answers_are_checked() -> None:
    # The reviews come after Full Service is switched on (the plan's order).
    on = Migration.enable_full_service(
        None, cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=STAFF
    )
    with pytest.raises(DomainError, match="mindst 15 tegn; 12 er for kort"):
        Migration.review_password_policy(
            on, cvr=AARHUS, minimum_length=12, ad_matches=True, note=None, actor=signatory()
        )
    with pytest.raises(DomainError, match="AD ikke matcher"):
        Migration.review_password_policy(
            on, cvr=AARHUS, minimum_length=15, ad_matches=False, note=" ", actor=signatory()
        )
    with pytest.raises(DomainError, match="hvem der satte"):
        Migration.enable_full_service(
            None, cvr=AARHUS, pupils="set-up", pupils_set_up_by="", note=None, actor=STAFF
        )
    with pytest.raises(DomainError, match="Vælg"):
        Migration.review_mail_templates(
            on, cvr=AARHUS, decision="maybe", note=None, actor=signatory()
        )
    with pytest.raises(DomainError, match="SKAL"):
        Migration.mark_not_relevant(
            None, cvr=AARHUS, task_key="terms", reason="Vi har ingen vilkår.", actor=signatory()
        )
    with pytest.raises(DomainError, match="begrundelse"):
        Migration.mark_not_relevant(
            None, cvr=AARHUS, task_key="mail-templates", reason="kort", actor=signatory()
        )
    with pytest.raises(DomainError, match="fremtiden"):
        Migration.announce_early_password_policy(
            None,
            cvr=AARHUS,
            users_told_on=TODAY + datetime.timedelta(days=1),
            today=TODAY,
            actor=signatory(),
        )


def test_the_whole_plan_to_the_switch_and_its_downtime(log: Log) -> None:
    migration, _ = gate_done(log, basis=["statement", "authorized-to-represent"])
    person = signatory()
    migration = Migration.enable_full_service(
        migration,
        cvr=AARHUS,
        pupils="set-up",
        pupils_set_up_by="Dorte Drift",
        note=None,
        actor=STAFF,
    )
    migration = Migration.review_mail_templates(
        migration, cvr=AARHUS, decision="switched-off", note=None, actor=person
    )
    migration = Migration.review_password_policy(
        migration, cvr=AARHUS, minimum_length=15, ad_matches=True, note=None, actor=person
    )
    log.take(migration)
    status = log.status()
    assert status.task("terms").state == WAITING_MUNICIPALITY
    assert not status.ready_for_switch
    migration = Migration.review_terms(
        migration, cvr=AARHUS, outcome="addendum", note="Kun kommunens tillæg.", actor=person
    )
    migration = Migration.mark_not_relevant(
        migration,
        cvr=AARHUS,
        task_key="early-password-policy",
        reason="Kodeord er allerede mindst 15 tegn.",
        actor=person,
    )
    log.take(migration)
    status = log.status()
    assert status.ready_for_switch
    assert matches_filter(status, "klar-til-skift")
    assert status.task("early-password-policy").state == NOT_RELEVANT
    assert status.task("terms").facts["outcome"] == "addendum"
    switch_on = datetime.date(2026, 12, 10)
    migration = Migration.schedule_switch(
        migration,
        cvr=AARHUS,
        switch_on=switch_on,
        meeting_at=datetime.datetime(2026, 12, 10, 8, 0, tzinfo=UTC),
        service_window_minutes=30,
        gate=status.gate,
        today=TODAY,
        actor=STAFF,
    )
    log.take(migration)
    status = log.status(today=datetime.date(2026, 12, 10))
    assert status.switch.switch_on == switch_on
    assert status.task("idp-removed").due == switch_on
    assert status.task("idp-removed").state == WAITING_MUNICIPALITY
    start = datetime.datetime(2026, 12, 10, 8, 5, tzinfo=UTC)
    now = start + datetime.timedelta(hours=1)
    with pytest.raises(DomainError, match="Registrér først"):
        migration.record_switch_step(
            step="idp-created", at=start, reason=None, gate=OPEN, now=now, actor=STAFF
        )
    for minutes, step, actor in (
        (0, "idp-removed", person),
        (7, "idp-created", STAFF),
        (9, "invitation-accepted", person),
        (22, "logins-verified", STAFF),
    ):
        migration.record_switch_step(
            step=step,
            at=start + datetime.timedelta(minutes=minutes),
            reason=None,
            gate=OPEN,
            now=now,
            actor=actor,
        )
    log.take(migration)
    status = log.status(today=datetime.date(2026, 12, 10))
    assert status.switched
    assert status.switch.downtime_minutes == 22
    assert status.switch.within_window
    assert status.switch.within_plan
    assert all(t.state in (DONE, NOT_RELEVANT) for t in status.tasks)
    assert not status.waiting_municipality
    assert not status.waiting_operator
    # A moment corrected: a reason, and the new moment must fit between its neighbours.
    with pytest.raises(DomainError, match="begrundelse"):
        migration.record_switch_step(
            step="idp-created", at=start, reason=None, gate=OPEN, now=now, actor=STAFF
        )
    with pytest.raises(DomainError, match="efter trinet"):
        migration.record_switch_step(
            step="idp-created",
            at=start + datetime.timedelta(minutes=10),
            reason="Uret på mødet gik forkert.",
            gate=OPEN,
            now=now,
            actor=STAFF,
        )
    migration.record_switch_step(
        step="logins-verified",
        at=start + datetime.timedelta(minutes=41),
        reason="Login virkede først efter 41 minutter.",
        gate=OPEN,
        now=now,
        actor=STAFF,
    )
    log.take(migration)
    status = log.status(today=datetime.date(2026, 12, 10))
    assert status.switch.downtime_minutes == 41
    assert status.switch.within_window is False
    assert status.switch.within_plan is False
    assert len(status.task("logins-verified").seqs) == 2  # the first record stays


def test_an_approval_without_a_signal_waits_for_a_check_and_a_reset_ends_the_check(
    log: Log,
) -> None:
    _, approval = gate_done(log, basis=["statement"])
    status = log.status()
    assert [u.approved_version for u in status.unchecked] == [1]
    approval.check_signing_authority(approved_version=1, note=None, actor=STAFF)
    log.take(approval)
    assert log.status().unchecked == []
    with pytest.raises(DomainError, match="allerede kontrolleret"):
        approval.check_signing_authority(approved_version=1, note=None, actor=STAFF)
    approval.reset(reason="Forkert person godkendte aftalen.", actor=STAFF)
    approval.approve_again(
        actor=signatory(name="Bo Berg"),
        authentication=LOGIN,
        request=REQUEST,
        signing_basis=["statement"],
    )
    log.take(approval)
    assert [u.approved_version for u in log.status().unchecked] == [4]


def test_the_signing_basis_reads_the_login() -> None:
    assert signing_basis(AARHUS, statement_confirmed=True, authorized_to_represent=[AARHUS]) == [
        "statement",
        "authorized-to-represent",
    ]
    assert signing_basis(AARHUS, statement_confirmed=True, authorized_to_represent=[ODENSE]) == [
        "statement"
    ]
    assert has_signal(["statement", "mitid-privilege"])
    assert not has_signal(["statement"])
    assert not has_signal(None)


def test_an_approval_without_a_basis_keeps_the_payload_it_had() -> None:
    approval = Approval.approve_first(
        cvr=AARHUS,
        agreement_version_id=agreement().id,
        actor=signatory(),
        authentication=LOGIN,
        request=REQUEST,
    )
    (event,) = approval.collect_events()
    assert "signing_basis" not in vars(event)
    assert event.signing_basis is None
    with pytest.raises(DomainError, match="Ukendt grundlag"):
        Approval.approve_first(
            cvr=AARHUS,
            agreement_version_id=agreement().id,
            actor=signatory(),
            authentication=LOGIN,
            request=REQUEST,
            signing_basis=["a hunch"],
        )


def test_the_colleague_role_is_for_the_own_cvr_granted_by_its_signatory() -> None:
    colleague = RoleAssignment.grant(
        None,
        person_uuid="2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a06",
        person_name="Ida Iversen",
        role="colleague",
        cvrs=[AARHUS],
        actor=signatory(),
        confirmed_statement=colleague_grant_statement("Aarhus Kommune"),
        signing_basis=["statement"],
    )
    assert is_colleague([colleague], AARHUS)
    assert not is_colleague([colleague], ODENSE)
    with pytest.raises(DomainError, match="kun give rollen Kollega for dit eget"):
        RoleAssignment.grant(
            None,
            person_uuid="2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a07",
            person_name="Ida Iversen",
            role="colleague",
            cvrs=[AARHUS],
            actor=signatory(cvr=ODENSE),
        )
    with pytest.raises(DomainError, match="netop ét CVR-nummer"):
        RoleAssignment.grant(
            None,
            person_uuid="2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a07",
            person_name="Ida Iversen",
            role="colleague",
            cvrs=[],
            actor=signatory(),
        )
    colleague.revoke(actor=signatory(), reason="Ikke længere ansat her.")
    assert not colleague.active


def test_due_dates_and_days_waiting_follow_the_switch_date(log: Log) -> None:
    migration, _ = gate_done(log)
    status = log.status()
    assert status.task("full-service").due is None
    migration = Migration.schedule_switch(
        migration,
        cvr=AARHUS,
        switch_on=datetime.date(2026, 12, 3),
        meeting_at=datetime.datetime(2026, 12, 3, 8, 0, tzinfo=UTC),
        service_window_minutes=20,
        gate=status.gate,
        today=TODAY,
        actor=STAFF,
    )
    log.take(migration)
    # At least three days after the events, which are recorded on the day the test runs.
    later = max(datetime.date(2026, 12, 5), danish_today() + datetime.timedelta(days=3))
    status = log.status(today=later)
    full_service = status.task("full-service")
    assert full_service.due == datetime.date(2026, 12, 2)
    assert full_service.overdue
    assert full_service.days_waiting(later) is not None
    assert full_service.days_waiting(later) >= 3
    assert status.task("terms").state == BLOCKED
    assert status.task("terms").overdue
