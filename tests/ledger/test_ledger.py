"""The ledger's commands, on SQLite and on PostgreSQL, as the business uses them."""

from datetime import date

import pytest

from ledger.domain import DomainError, approval_id, customer_id
from ledger.evidence.verify import verify_database
from ledger.identity import Actor, InvalidCVR, NsisLevel, validate_cvr
from ledger.storage import LogWriteError
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory


@pytest.mark.parametrize("cvr", ["55133018", "64942212", " 35209115 "])
def test_valid_cvr_numbers_pass_the_modulus_11_check(cvr):
    assert validate_cvr(cvr) == cvr.strip()


@pytest.mark.parametrize("cvr", ["55133019", "5513301", "551330180", "5513301x", "", "12345678"])
def test_invalid_cvr_numbers_are_refused_in_danish(cvr):
    with pytest.raises(InvalidCVR, match="CVR"):
        validate_cvr(cvr)


def test_nsis_levels_are_ordered_and_parse_oiosaml_uris():
    assert NsisLevel.parse("https://data.gov.dk/concept/core/nsis/loa/High") is NsisLevel.HIGH
    assert NsisLevel.LOW < NsisLevel.SUBSTANTIAL < NsisLevel.HIGH


def publish(app, operator, version="2026.1"):
    return app.publish_agreement(
        title="Driftsaftale",
        version_label=version,
        document=PDF + version.encode(),
        document_name="driftsaftale.pdf",
        actor=operator,
    )


@pytest.fixture
def agreement(app, operator):
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    return publish(app, operator)


def approve(app, agreement, actor=None, assertion="_a1", cvr=AARHUS):
    return app.approve(
        cvr=cvr,
        version_id=agreement.id,
        actor=actor or signatory(cvr=cvr),
        authentication=login(app, assertion),
        ip="192.0.2.10",
        user_agent="Firefox",
    )


def events_of(app, event_type):
    return [entry for entry in app.signed_log.entries() if entry.event_type == event_type]


def test_registering_a_customer_twice_is_refused(app, operator):
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    with pytest.raises(DomainError, match="allerede registreret"):
        app.register_customer(cvr=AARHUS, name="Aarhus Kommune igen", actor=operator)
    assert [c.name for c in app.customers()] == ["Aarhus Kommune"]


def test_an_invalid_cvr_registers_nothing(app, operator):
    with pytest.raises(InvalidCVR):
        app.register_customer(cvr="12345678", name="Ingen", actor=operator)
    assert app.customers() == []


def test_the_agreement_document_is_stored_by_its_sha256(app, operator):
    agreement = publish(app, operator)
    assert app.documents.get(agreement.document_sha256) == PDF + b"2026.1"
    with pytest.raises(DomainError, match="allerede offentliggjort"):
        publish(app, operator)


def test_approval_records_who_for_which_cvr_at_which_level(app, agreement):
    _, approved_now = approve(app, agreement)
    assert approved_now
    (entry,) = events_of(app, "Approved")
    facts = entry.facts()
    assert facts["cvr"] == AARHUS
    assert facts["actor"]["name"] == "Anne Andersen"
    assert facts["actor"]["loa"] == "Substantial"
    assert facts["authentication"]["assertion_id"] == "_a1"
    assert facts["request"] == {
        "ip": "192.0.2.10",
        "user_agent": "Firefox",
        "document_sha256": agreement.document_sha256,
    }


def test_second_click_returns_the_first_approval_and_adds_no_event(app, agreement):
    first, _ = approve(app, agreement)
    second, approved_now = approve(app, agreement, assertion="_a2")
    assert not approved_now
    assert second.approved_version == first.approved_version == 1
    assert len(events_of(app, "Approved")) == 1


def test_approve_reads_again_only_the_approval_when_given_what_the_request_read(
    app, agreement, operator, monkeypatch
):
    """The portal's request has read the customer and the version to check who may approve
    what; approve uses them, but reads one of another CVR or another version again."""
    aarhus, odense = app.customer(AARHUS), app.customer(ODENSE)
    other = publish(app, operator, "2026.2")
    read = []
    get = app.repository.get
    monkeypatch.setattr(
        app.repository,
        "get",
        lambda aggregate_id, **kw: read.append(aggregate_id) or get(aggregate_id, **kw),
    )

    def approve_given(customer, version, assertion):
        return app.approve(
            cvr=AARHUS,
            version_id=agreement.id,
            actor=signatory(),
            authentication=login(app, assertion),
            ip="192.0.2.10",
            user_agent="Firefox",
            customer=customer,
            agreement=version,
        )

    _, approved_now = approve_given(aarhus, agreement, "_a1")
    assert approved_now
    assert read == [approval_id(AARHUS, agreement.id)]
    read.clear()
    second, approved_now = approve_given(odense, other, "_a2")
    assert not approved_now
    assert second.cvr == AARHUS
    assert second.agreement_version_id == agreement.id
    assert read == [customer_id(AARHUS), agreement.id, approval_id(AARHUS, agreement.id)]


def test_approve_given_a_subject_read_before_another_click_approved_records_nothing(app, agreement):
    """The request read the version and no approval of it; a click in another tab approved
    meanwhile. The stale read fails to save, approve reads the approval again, and the log
    keeps one approval, which both clicks are answered with."""
    subject = app.approval_subject(AARHUS, agreement.id)
    assert subject.agreement.id == agreement.id
    assert subject.approval is None
    first, _ = approve(app, agreement)
    second, approved_now = app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory(),
        authentication=login(app, "_a2"),
        ip="192.0.2.10",
        user_agent="Firefox",
        customer=app.customer(AARHUS),
        subject=subject,
    )
    assert not approved_now
    assert second.approved_version == first.approved_version == 1
    assert len(events_of(app, "Approved")) == 1
    assert app.approval_subject(AARHUS, agreement.id).approval.approved_version == 1


def test_a_subject_of_another_cvr_is_not_taken_for_this_one(app, agreement):
    approve(app, agreement, cvr=ODENSE)
    odense = app.approval_subject(ODENSE, agreement.id)
    assert odense.approval is not None
    _, approved_now = app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory(),
        authentication=login(app, "_a2"),
        ip="192.0.2.10",
        user_agent="Firefox",
        subject=odense,
    )
    assert approved_now
    assert [entry.cvr for entry in events_of(app, "Approved")] == [ODENSE, AARHUS]


def test_the_subject_of_a_version_that_does_not_exist_is_refused(app, agreement):
    with pytest.raises(DomainError, match="findes ikke"):
        app.approval_subject(AARHUS, customer_id(AARHUS))


def test_a_signatory_cannot_approve_for_another_cvr(app, agreement):
    with pytest.raises(DomainError, match="kan ikke godkende for CVR"):
        approve(app, agreement, actor=signatory(cvr=ODENSE), cvr=AARHUS)
    assert events_of(app, "Approved") == []


def test_level_low_cannot_approve(app, agreement):
    with pytest.raises(DomainError, match="sikringsniveau"):
        approve(app, agreement, actor=signatory(level=NsisLevel.LOW))


def test_an_unregistered_customer_cannot_approve(app, operator):
    agreement = publish(app, operator)
    with pytest.raises(DomainError, match="ikke registreret"):
        approve(app, agreement)


def test_a_retired_version_cannot_be_approved(app, agreement, operator):
    app.retire_agreement(agreement.id, actor=operator)
    with pytest.raises(DomainError, match="trukket tilbage"):
        approve(app, agreement)


@pytest.mark.parametrize("reason", ["for kort", "x" * 2001, "          "])
def test_a_reset_needs_a_reason_of_10_to_2000_characters(app, agreement, operator, reason):
    approve(app, agreement)
    with pytest.raises(DomainError, match="begrundelse"):
        app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=reason, actor=operator)


def test_after_a_reset_the_signatory_approves_again_and_history_keeps_all(app, agreement, operator):
    approve(app, agreement, actor=signatory(name="Bo Berg"))
    reason = "Bo Berg er ikke tegningsberettiget."
    reset = app.reset_approval(cvr=AARHUS, version_id=agreement.id, reason=reason, actor=operator)
    assert not reset.is_approved
    assert reset.last_reset_reason == reason
    approval, approved_now = approve(app, agreement, actor=signatory(name="Clara"), assertion="_a3")
    assert approved_now
    assert approval.approved_by.name == "Clara"
    history = [
        (e.event_type, e.facts().get("invalidates_version"))
        for e in app.history(cvr=AARHUS)
        if e.aggregate_type == "Approval"
    ]
    assert history == [("Approved", None), ("ApprovalReset", 1), ("Approved", None)]


def test_resetting_what_is_not_approved_is_refused(app, agreement, operator):
    with pytest.raises(DomainError, match="ikke godkendt"):
        app.reset_approval(
            cvr=AARHUS, version_id=agreement.id, reason="En god grund her", actor=operator
        )


def test_declaration_goes_through_its_steps_and_gets_a_renewal_date(app, agreement, operator):
    app.hand_in_declaration(
        cvr=AARHUS, document=b"%PDF signed", document_name="e.pdf", actor=signatory()
    )
    with pytest.raises(DomainError, match="medunderskrevet"):
        app.record_declaration_sent(
            cvr=AARHUS, sent_on=date(2026, 11, 1), reference="DIGST-1", actor=operator
        )
    app.countersign_declaration(
        cvr=AARHUS, document=b"%PDF both", document_name="e2.pdf", actor=operator
    )
    declaration = app.record_declaration_sent(
        cvr=AARHUS, sent_on=date(2026, 1, 31), reference="DIGST-1", actor=operator
    )
    assert declaration.renewal_due == "2027-01-31"
    types = [e.event_type for e in app.history(cvr=AARHUS) if e.aggregate_type == "Declaration"]
    assert types == ["HandedIn", "Countersigned", "SentToAgency"]
    app.hand_in_declaration(
        cvr=AARHUS, document=b"%PDF next year", document_name="e3.pdf", actor=signatory()
    )
    assert app.declaration(AARHUS).round == 2


def test_a_signatory_hands_in_only_for_their_own_cvr(app, agreement):
    with pytest.raises(DomainError, match="kun aflevere"):
        app.hand_in_declaration(
            cvr=ODENSE, document=b"%PDF", document_name="e.pdf", actor=signatory(cvr=AARHUS)
        )


def test_roles_are_granted_limited_and_revoked(app, operator):
    person = "urn:uuid:00000000-0000-4000-8000-0000000000aa"
    app.grant_role(
        person_uuid=person, person_name="Erik", role="auditor", cvrs=[AARHUS], actor=operator
    )
    (auditor,) = app.roles_of(person)
    assert auditor.cvrs == [AARHUS]
    with pytest.raises(DomainError, match="revisor"):
        app.grant_role(
            person_uuid=person, person_name="Erik", role="staff", cvrs=[AARHUS], actor=operator
        )
    app.revoke_role(person_uuid=person, role="auditor", actor=operator)
    assert app.roles_of(person) == []
    app.grant_role(person_uuid=person, person_name="Erik", role="auditor", cvrs=[], actor=operator)
    assert [r.cvrs for r in app.roles_of(person)] == [[]]
    granted = [e.facts()["actor"]["name"] for e in events_of(app, "RoleGranted")]
    assert granted == ["test-operator", "test-operator"]


def test_the_ledger_refuses_a_staff_member_their_own_staff_role_and_a_colleague_revokes_it(
    app, operator
):
    person = "00000000-0000-4000-8000-0000000000d1"
    app.grant_role(person_uuid=person, person_name="Dorte", role="staff", cvrs=[], actor=operator)
    themselves = signatory(name="Dorte", person_uuid=f"urn:uuid:{person}")
    with pytest.raises(DomainError, match="Du kan ikke fratage dig selv driftsrollen"):
        app.revoke_role(person_uuid=person.upper(), role="staff", actor=themselves)
    assert events_of(app, "RoleRevoked") == []
    colleague = signatory(name="Kollega")
    app.revoke_role(person_uuid=person, role="staff", actor=colleague)
    assert app.roles_of(person) == []


def test_a_refused_login_is_a_security_event(app):
    app.record_login_rejected(
        reason="private-identity", idp="https://idp.example", assertion_id="_x1"
    )
    (entry,) = events_of(app, "LoginRejected")
    assert entry.facts()["reason"] == "private-identity"
    assert entry.facts()["person_uuid"] is None


def test_history_filters_by_cvr_and_time(app, agreement, operator):
    approve(app, agreement)
    approve(app, agreement, cvr=ODENSE)
    aarhus = list(app.history(cvr=AARHUS))
    assert {e.cvr for e in aarhus} == {AARHUS}
    assert [e.event_type for e in aarhus] == ["Registered", "Approved"]
    everything = list(app.history())
    middle = everything[3].recorded_at
    later = list(app.history(since=middle))
    assert [e.seq for e in later] == [e.seq for e in everything[3:]]
    assert [e.seq for e in app.history(until=middle)] == [e.seq for e in everything[:3]]


def test_every_event_has_exactly_one_leaf_and_the_log_verifies(app, agreement, operator):
    approve(app, agreement)
    app.reset_approval(
        cvr=AARHUS, version_id=agreement.id, reason="Forkert underskriver", actor=operator
    )
    entries = list(app.signed_log.entries())
    assert [e.seq for e in entries] == list(range(len(entries)))
    report = verify_database(app.settings.database, app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert report.leaves == report.events == len(entries) == 6


def test_actor_of_the_cli_is_the_operator_login():
    actor = Actor.cli_operator()
    assert actor.kind == Actor.OPERATOR
    assert actor.name


def test_a_write_that_cannot_be_signed_stores_nothing(app, operator):
    from ledger.application import LedgerApp
    from ledger.keyring import KeyRingError

    kid = app.signed_log.signing_kid()
    key_file = app.settings.keys_dir / f"signing-{kid}.pem"
    key_file.rename(key_file.with_suffix(".away"))
    fresh = LedgerApp(app.settings)
    with pytest.raises(KeyRingError, match="missing"):
        fresh.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    fresh.close()
    key_file.with_suffix(".away").rename(key_file)
    assert app.customers() == []
    report = verify_database(app.settings.database, app.keyring.verifier_keys())
    assert report.ok
    assert report.events == report.leaves == 1


def test_a_leaf_the_database_refuses_takes_its_event_with_it(app, operator):
    """The event and its leaf commit together or not at all: a leaf INSERT that fails
    after the event's INSERT rolls the event back too, on both databases."""
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    db = app.settings.database
    connection = db.connect() if not db.is_sqlite else __import__("sqlite3").connect(db.sqlite_path)
    if db.is_sqlite:
        connection.execute(
            "CREATE TRIGGER refuse_leaf BEFORE INSERT ON ledger_leaves WHEN NEW.seq >= 2 "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        connection.commit()
    else:
        connection.execute(
            "ALTER TABLE ledger_leaves ADD CONSTRAINT refuse_leaf CHECK (seq < 2) NOT VALID"
        )
    connection.close()
    with pytest.raises(LogWriteError, match="refuse"):
        app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    assert [c.cvr for c in app.customers()] == [AARHUS]
    report = verify_database(db, app.keyring.verifier_keys())
    assert report.ok, report.problems
    assert report.events == report.leaves == 2
