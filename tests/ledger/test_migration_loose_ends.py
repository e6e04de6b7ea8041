"""The migration's loose ends (issue 15), through the application on SQLite and PostgreSQL:
who may grant the colleague role and how staff catch a wrong granter; staff marking a
municipality's task not relevant on its word; a finished task recorded again; the plan's
order before the switch; `ledger role grant --role colleague`."""

import pytest

from approval_ledger.cli import main
from ledger.application import LedgerApp
from ledger.danish_time import danish_today
from ledger.domain import GRANT_NEEDS_STATEMENT, DomainError, colleague_grant_statement
from ledger.identity import Actor, NsisLevel
from ledger.migration import BLOCKED_BY_FULL_SERVICE, DONE, NOT_RELEVANT, describe
from ledger.migration_board import MigrationBoard
from ledger.search import EventIndex
from tests.fixtures import AARHUS, ODENSE, signatory

STAFF = Actor.person(
    person_uuid="00000000-0000-4000-8000-0000000000d1",
    name="Dorte Drift",
    cvr="12345674",
    organisation="Leverandøren",
    loa=NsisLevel.SUBSTANTIAL,
)
IDA = "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a06"
STATEMENT = colleague_grant_statement("Aarhus Kommune")


@pytest.fixture
def aarhus(app: LedgerApp, operator: Actor) -> LedgerApp:
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    return app


def status_of(app: LedgerApp, cvr: str = AARHUS):
    index = EventIndex(app)
    board = MigrationBoard(index)
    try:
        status = board.status(cvr, today=danish_today())
        return status, board.entries(status)
    finally:
        board.close()
        index.close()


# 1. Who may grant the colleague role


def test_a_person_grants_the_colleague_role_only_with_the_statement_and_its_basis_is_kept(
    aarhus: LedgerApp,
) -> None:
    with pytest.raises(DomainError) as refused:
        aarhus.grant_colleague(
            cvr=AARHUS, person_uuid=IDA, person_name="Ida Iversen", actor=signatory()
        )
    assert str(refused.value) == GRANT_NEEDS_STATEMENT
    assert aarhus.colleagues_of(AARHUS) == []
    granted = aarhus.grant_colleague(
        cvr=AARHUS,
        person_uuid=IDA,
        person_name="Ida Iversen",
        actor=signatory(),
        confirmed_statement=STATEMENT,
        signing_basis=["statement"],
    )
    assert granted.signing_basis == ["statement"]
    event = next(e for e in aarhus.history(cvr=None) if e.event_type == "RoleGranted")
    assert event.event.confirmed_statement == STATEMENT
    assert event.event.signing_basis == ["statement"]
    # The colleague can never grant it on, with or without the statement.
    with pytest.raises(DomainError, match="Du har rollen Kollega og kan ikke give"):
        aarhus.grant_colleague(
            cvr=AARHUS,
            person_uuid="2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a07",
            person_name="Ib Iversen",
            actor=signatory(name="Ida Iversen", person_uuid=f"urn:uuid:{IDA}"),
            confirmed_statement=STATEMENT,
            signing_basis=["statement"],
        )


def test_staff_see_a_grant_without_a_signal_check_it_or_revoke_it(
    aarhus: LedgerApp, operator: Actor
) -> None:
    aarhus.grant_colleague(
        cvr=AARHUS,
        person_uuid=IDA,
        person_name="Ida Iversen",
        actor=signatory(),
        confirmed_statement=STATEMENT,
        signing_basis=["statement"],
    )
    signalled = "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a08"
    aarhus.grant_colleague(
        cvr=AARHUS,
        person_uuid=signalled,
        person_name="Jens Jensen",
        actor=signatory(),
        confirmed_statement=STATEMENT,
        signing_basis=["statement", "authorized-to-represent"],
    )
    by_us = "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a09"
    aarhus.grant_colleague(cvr=ODENSE, person_uuid=by_us, person_name="Ole Olsen", actor=operator)
    listed = aarhus.colleague_grants_without_signal()
    assert [(a.person_name, a.granted_by.name) for a in listed] == [
        ("Ida Iversen", "Anne Andersen")
    ]
    # A municipality's person cannot check their own grant.
    with pytest.raises(DomainError, match="Kun leverandørens drift"):
        aarhus.check_colleague_granter(
            person_uuid=IDA, granted_version=listed[0].granted_version, actor=signatory()
        )
    with pytest.raises(DomainError, match="ændret imens"):
        aarhus.check_colleague_granter(person_uuid=IDA, granted_version=7, actor=STAFF)
    aarhus.check_colleague_granter(
        person_uuid=IDA,
        granted_version=listed[0].granted_version,
        actor=STAFF,
        note="Ringet til kommunens jurist",
    )
    assert aarhus.colleague_grants_without_signal() == []
    checked = next(e for e in aarhus.history(cvr=AARHUS) if e.event_type == "GranterChecked")
    assert checked.event.note == "Ringet til kommunens jurist"
    assert describe(checked.event) is not None
    # Granted again (by the same person): a new grant, a new check.
    aarhus.grant_colleague(
        cvr=AARHUS,
        person_uuid=IDA,
        person_name="Ida Iversen",
        actor=signatory(),
        confirmed_statement=STATEMENT,
        signing_basis=["statement"],
    )
    assert [a.person_name for a in aarhus.colleague_grants_without_signal()] == ["Ida Iversen"]
    # Staff revoke the role of a wrong granter's colleague.
    aarhus.revoke_colleague(
        cvr=AARHUS, person_uuid=IDA, actor=STAFF, reason="Givet af en uden tegningsret."
    )
    assert [a.person_name for a in aarhus.colleagues_of(AARHUS)] == ["Jens Jensen"]
    assert aarhus.colleague_grants_without_signal() == []


# 2. Staff mark a municipality's task not relevant on its word


def test_staff_mark_a_municipalitys_task_not_relevant_only_on_its_word(aarhus: LedgerApp) -> None:
    reason = "Kommunen har ingen egne mailskabeloner."
    with pytest.raises(DomainError, match="Skriv, hvem hos kommunen"):
        aarhus.mark_task_not_relevant(cvr=AARHUS, task="mail-templates", reason=reason, actor=STAFF)
    with pytest.raises(DomainError, match=r"i telefonen eller pr\. e-mail"):
        aarhus.mark_task_not_relevant(
            cvr=AARHUS,
            task="mail-templates",
            reason=reason,
            actor=STAFF,
            on_word_of="Anne Andersen",
            told_via="brevdue",
        )
    with pytest.raises(DomainError, match="SKAL"):
        aarhus.mark_task_not_relevant(
            cvr=AARHUS,
            task="terms",
            reason=reason,
            actor=STAFF,
            on_word_of="Anne Andersen",
            told_via="phone",
        )
    aarhus.mark_task_not_relevant(
        cvr=AARHUS,
        task="mail-templates",
        reason=reason,
        actor=STAFF,
        on_word_of="Anne Andersen, IT-chef",
        told_via="phone",
    )
    status, entries = status_of(aarhus)
    task = status.task("mail-templates")
    assert task.state == NOT_RELEVANT
    assert task.facts["told_via"] == "phone"
    assert "on_word_of" not in task.facts  # the board keeps nothing personal
    entry = entries["mail-templates"]
    assert entry.actor.name == "Dorte Drift"
    assert entry.event.on_word_of == "Anne Andersen, IT-chef"
    assert describe(entry.event) == (
        "markerede opgaven »Mailskabeloner gennemgået« som ikke relevant på kommunens ord "
        "(Anne Andersen, IT-chef, i telefonen) med begrundelsen »Kommunen har ingen egne "
        "mailskabeloner.«"
    )
    # The municipality marks its own without saying on whose word (and none is recorded).
    aarhus.mark_task_not_relevant(
        cvr=AARHUS,
        task="early-password-policy",
        reason="Kodeord har længe været mindst 15 tegn.",
        actor=signatory(),
    )
    status, entries = status_of(aarhus)
    assert "told_via" not in status.task("early-password-policy").facts
    assert "on_word_of" not in entries["early-password-policy"].event.__dict__


# 3 and 4. The plan's order, and a finished task recorded again


def test_the_reviews_wait_for_full_service_and_a_review_recorded_again_keeps_the_first(
    aarhus: LedgerApp,
) -> None:
    me = signatory()
    for record in (
        lambda: aarhus.review_mail_templates(cvr=AARHUS, decision="kept", note=None, actor=me),
        lambda: aarhus.review_password_policy(
            cvr=AARHUS, minimum_length=15, ad_matches=True, note=None, actor=me
        ),
        lambda: aarhus.review_terms(cvr=AARHUS, outcome="deleted", note=None, actor=me),
    ):
        with pytest.raises(DomainError) as refused:
            record()
        assert str(refused.value).endswith(
            "kan først registreres, når »Full Service IdP-indstillinger slået til« er udført. "
            + BLOCKED_BY_FULL_SERVICE
        )
    assert aarhus.migration(AARHUS) is None
    # Not relevant is a fact of the municipality's own set-up, known before Full Service.
    aarhus.mark_task_not_relevant(
        cvr=AARHUS, task="mail-templates", reason="Ingen egne mailskabeloner.", actor=me
    )
    aarhus.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=STAFF
    )
    aarhus.review_terms(cvr=AARHUS, outcome="deleted", note=None, actor=me)
    aarhus.review_terms(cvr=AARHUS, outcome="addendum", note="Kommunen ombestemte sig.", actor=me)
    status, entries = status_of(aarhus)
    terms = status.task("terms")
    assert terms.state == DONE
    assert terms.facts["outcome"] == "addendum"
    assert len(terms.seqs) == 2  # both reviews are its receipts
    assert entries["terms"].seq == terms.seq == max(terms.seqs)
    outcomes = [
        e.event.outcome for e in aarhus.history(cvr=AARHUS) if e.event_type == "TermsReviewed"
    ]
    assert outcomes == ["deleted", "addendum"]


# 5. The command line


def test_ledger_role_grant_gives_the_colleague_role_for_a_cvr(
    aarhus: LedgerApp, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LEDGER_DATA_DIR", str(aarhus.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", aarhus.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", aarhus.settings.origin)
    monkeypatch.setenv("LEDGER_OPERATOR_CVR", aarhus.settings.operator_cvr or "")
    grant = ["role", "grant", "--person", IDA, "--name", "Ida Iversen", "--role", "colleague"]
    assert main([*grant]) == 2
    assert "needs one --cvr" in capsys.readouterr().err
    assert main([*grant, "--cvr", "12345678"]) == 1
    assert "12345678" in capsys.readouterr().err
    assert main([*grant, "--cvr", "10000009"]) == 1  # a valid CVR, not a customer
    assert "ikke registreret som kunde" in capsys.readouterr().err
    assert main([*grant, "--cvr", AARHUS, "--cvr", ODENSE]) == 2
    assert "needs one --cvr" in capsys.readouterr().err
    assert aarhus.colleagues_of(AARHUS) == []
    assert main([*grant, "--cvr", AARHUS]) == 0
    assert capsys.readouterr().out == f"granted colleague to Ida Iversen for CVR {AARHUS}\n"
    [granted] = aarhus.colleagues_of(AARHUS)
    assert granted.granted_by is not None
    assert granted.granted_by.kind == Actor.OPERATOR
    event = next(e for e in aarhus.history(cvr=None) if e.event_type == "RoleGranted")
    assert (event.event.role, event.event.cvrs) == ("colleague", [AARHUS])
    # The operator's grant is not on staff's list of grants to check.
    assert aarhus.colleague_grants_without_signal() == []
    assert main(["role", "revoke", "--person", IDA, "--role", "colleague"]) == 0
    assert aarhus.colleagues_of(AARHUS) == []
