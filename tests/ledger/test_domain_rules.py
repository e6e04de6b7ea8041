"""The business rules of the ledger's aggregates and read models, in memory: no application,
no database, no server; each test builds the aggregates it needs and asks them."""

import datetime

import pytest

from ledger.domain import (
    AgreementVersion,
    Approval,
    Authentication,
    Customer,
    Declaration,
    DomainError,
    RequestFacts,
    RoleAssignment,
)
from ledger.identity import Actor, NsisLevel
from ledger.read_models import (
    AgreementState,
    CustomerStatus,
    agreement_states,
    current_agreements,
    danish_contains,
    danish_sort_key,
    day_in_denmark,
    declaration_steps,
    receipt_seq,
)
from tests.fixtures import AARHUS, ODENSE, signatory

OPERATOR = Actor.cli_operator()
STAFF_UUID = "00000000-0000-4000-8000-0000000000d1"
COLLEAGUE_UUID = "00000000-0000-4000-8000-0000000000d2"
TODAY = datetime.date(2026, 12, 1)
LOGIN = Authentication(
    assertion_id="_a1", authn_instant="2026-12-01T08:00:00Z", assertion_sha256="0" * 64
)
REASON = "Anne Andersen er ikke tegningsberettiget."


def agreement(title: str = "Driftsaftale", version: str = "2026.1") -> AgreementVersion:
    return AgreementVersion(
        title=title,
        version_label=version,
        document_sha256="a" * 64,
        document_name="aftale.pdf",
        document_size=1000,
        actor=OPERATOR,
    )


def approved(version: AgreementVersion, cvr: str = AARHUS) -> Approval:
    return Approval.approve_first(
        cvr=cvr,
        agreement_version_id=version.id,
        actor=signatory(cvr=cvr),
        authentication=LOGIN,
        request=RequestFacts(ip="192.0.2.1", user_agent="test", document_sha256="a" * 64),
    )


def staff_member(person_uuid: str = STAFF_UUID) -> Actor:
    return Actor.person(
        person_uuid=f"urn:uuid:{person_uuid}",
        name="Dorte Drift",
        cvr="12345674",
        organisation="Leverandøren",
        loa=NsisLevel.SUBSTANTIAL,
    )


def sent_declaration(cvr: str, renewal_due: datetime.date) -> Declaration:
    declaration = Declaration.hand_in_first(
        cvr=cvr, document_sha256="b" * 64, document_name="e.pdf", actor=signatory(cvr=cvr)
    )
    declaration.countersign(document_sha256="c" * 64, document_name="m.pdf", actor=OPERATOR)
    declaration.record_sent(
        sent_on=renewal_due - datetime.timedelta(days=365),
        reference="DIGST-1",
        renewal_due=renewal_due,
        actor=OPERATOR,
    )
    return declaration


# Approvals


@pytest.mark.parametrize("level", [NsisLevel.SUBSTANTIAL, NsisLevel.HIGH])
def test_an_approval_needs_substantial_or_high(level):
    version = agreement()
    approval = Approval.approve_first(
        cvr=AARHUS,
        agreement_version_id=version.id,
        actor=signatory(level=level),
        authentication=LOGIN,
        request=RequestFacts(ip="192.0.2.1", user_agent="test", document_sha256="a" * 64),
    )
    assert approval.is_approved
    assert approval.approved_by.loa == level.label


def test_an_approval_with_low_assurance_is_refused():
    with pytest.raises(DomainError, match="sikringsniveau"):
        Approval.approve_first(
            cvr=AARHUS,
            agreement_version_id=agreement().id,
            actor=signatory(level=NsisLevel.LOW),
            authentication=LOGIN,
            request=RequestFacts(ip="192.0.2.1", user_agent="test", document_sha256="a" * 64),
        )


def test_only_a_signatory_of_the_customer_approves_for_it():
    with pytest.raises(DomainError, match=f"kan ikke godkende for CVR {ODENSE}"):
        approved(agreement(), cvr=ODENSE).approve_again(
            actor=signatory(cvr=AARHUS),
            authentication=LOGIN,
            request=RequestFacts(ip="192.0.2.1", user_agent="test", document_sha256="a" * 64),
        )
    with pytest.raises(DomainError, match="Kun en person"):
        Approval.check_approver(AARHUS, OPERATOR)


def test_a_retired_agreement_version_cannot_be_approved():
    version = agreement()
    version.check_approvable()
    version.retire(actor=OPERATOR)
    with pytest.raises(DomainError, match="trukket tilbage og kan ikke godkendes"):
        version.check_approvable()


@pytest.mark.parametrize("reason", ["", "   ", "for kort", "x" * 2001])
def test_a_reset_needs_a_reason_of_10_to_2000_characters(reason):
    approval = approved(agreement())
    with pytest.raises(DomainError, match="kræver en begrundelse på 10 til 2000 tegn"):
        approval.reset(reason=reason, actor=OPERATOR)
    assert approval.is_approved


def test_a_reset_invalidates_the_approval_and_a_second_one_is_refused():
    approval = approved(agreement())
    approval.reset(reason=REASON, actor=OPERATOR)
    assert not approval.is_approved
    assert approval.last_reset_reason == REASON
    assert approval.last_reset_invalidates == 1
    with pytest.raises(DomainError, match="ingen gældende godkendelse"):
        approval.reset(reason=REASON, actor=OPERATOR)


def test_after_a_reset_the_customer_approves_again_but_not_twice():
    approval = approved(agreement())
    approval.reset(reason=REASON, actor=OPERATOR)
    facts = RequestFacts(ip="192.0.2.1", user_agent="test", document_sha256="a" * 64)
    approval.approve_again(actor=signatory(), authentication=LOGIN, request=facts)
    assert approval.approved_version == 3
    with pytest.raises(DomainError, match="allerede godkendt"):
        approval.approve_again(actor=signatory(), authentication=LOGIN, request=facts)


def test_a_confirmation_sent_twice_is_the_reset_that_just_happened():
    approval = approved(agreement())
    staff = staff_member()
    approval.reset(reason=REASON, actor=staff)
    assert approval.was_just_reset(invalidated_version=1, reason=REASON, actor=staff)
    assert not approval.was_just_reset(invalidated_version=1, reason=REASON + "!", actor=staff)
    colleague = staff_member(COLLEAGUE_UUID)
    assert not approval.was_just_reset(invalidated_version=1, reason=REASON, actor=colleague)


# The joint management declaration


def test_a_declarations_steps_go_in_order():
    declaration = Declaration.hand_in_first(
        cvr=AARHUS, document_sha256="b" * 64, document_name="e.pdf", actor=signatory()
    )
    assert (declaration.round, declaration.status) == (1, Declaration.HANDED_IN)
    with pytest.raises(DomainError, match="skal være medunderskrevet"):
        declaration.record_sent(
            sent_on=TODAY, reference="DIGST-1", renewal_due=TODAY, actor=OPERATOR
        )
    with pytest.raises(DomainError, match="allerede en erklæring undervejs"):
        declaration.hand_in(document_sha256="b" * 64, document_name="e.pdf", actor=signatory())
    declaration.countersign(document_sha256="c" * 64, document_name="m.pdf", actor=OPERATOR)
    with pytest.raises(DomainError, match="ingen afleveret erklæring"):
        declaration.countersign(document_sha256="c" * 64, document_name="m.pdf", actor=OPERATOR)
    declaration.record_sent(
        sent_on=TODAY, reference="DIGST-1", renewal_due=TODAY.replace(year=2027), actor=OPERATOR
    )
    assert declaration.status == Declaration.SENT
    assert declaration.renewal_due == "2027-12-01"
    declaration.hand_in(document_sha256="d" * 64, document_name="e2.pdf", actor=signatory())
    assert (declaration.round, declaration.status) == (2, Declaration.HANDED_IN)
    assert declaration.countersigned_sha256 is None
    assert declaration.renewal_due is None


def test_a_declaration_is_sent_with_a_reference_and_not_before_2000():
    declaration = Declaration.hand_in_first(
        cvr=AARHUS, document_sha256="b" * 64, document_name="e.pdf", actor=signatory()
    )
    declaration.countersign(document_sha256="c" * 64, document_name="m.pdf", actor=OPERATOR)
    with pytest.raises(DomainError, match="reference"):
        declaration.record_sent(sent_on=TODAY, reference=" ", renewal_due=TODAY, actor=OPERATOR)
    with pytest.raises(DomainError, match="før 2000-01-01"):
        declaration.record_sent(
            sent_on=datetime.date(1999, 12, 31),
            reference="DIGST-1",
            renewal_due=TODAY,
            actor=OPERATOR,
        )
    assert declaration.status == Declaration.COUNTERSIGNED


# Roles


def staff_role(person_uuid: str = STAFF_UUID) -> RoleAssignment:
    return RoleAssignment.grant_first(
        person_uuid=person_uuid, person_name="Dorte Drift", role="staff", cvrs=[], actor=OPERATOR
    )


def test_staff_cannot_revoke_their_own_staff_role():
    role = staff_role()
    assert not role.revocable_by(staff_member())
    with pytest.raises(DomainError, match="Du kan ikke fratage dig selv driftsrollen"):
        role.revoke(actor=staff_member())
    assert role.active


def test_a_colleague_or_the_operator_at_the_command_line_revokes_a_staff_role():
    for actor in (staff_member(COLLEAGUE_UUID), OPERATOR):
        role = staff_role()
        assert role.revocable_by(actor)
        role.revoke(actor=actor)
        assert not role.active


def test_staff_may_give_up_their_own_auditor_role():
    role = RoleAssignment.grant_first(
        person_uuid=STAFF_UUID, person_name="Dorte Drift", role="auditor", cvrs=[], actor=OPERATOR
    )
    role.revoke(actor=staff_member())
    assert not role.active


def test_only_an_auditor_is_limited_to_cvrs():
    with pytest.raises(DomainError, match="Kun en revisor"):
        RoleAssignment.grant_first(
            person_uuid=STAFF_UUID, person_name="D", role="staff", cvrs=[AARHUS], actor=OPERATOR
        )
    auditor = RoleAssignment.grant_first(
        person_uuid=STAFF_UUID,
        person_name="Erik",
        role="auditor",
        cvrs=[ODENSE, AARHUS, ODENSE],
        actor=OPERATOR,
    )
    assert auditor.cvrs == sorted([AARHUS, ODENSE])


# Read models: what staff and signatories follow up


def test_a_customer_with_every_current_version_approved_and_a_valid_declaration_lacks_nothing():
    version = agreement()
    status = CustomerStatus(
        customer=Customer.register(AARHUS, "Aarhus Kommune", OPERATOR),
        approvals=[(version, approved(version))],
        declaration=sent_declaration(AARHUS, renewal_due=TODAY),
        today=TODAY,  # due today is not overdue yet
    )
    assert status.unapproved == []
    assert not status.renewal_overdue
    assert status.complete


def test_a_customer_lacks_what_is_not_approved_and_a_declaration_not_yet_sent():
    approved_version, reset_version, untouched = agreement(), agreement("Tillæg"), agreement("B")
    reset = approved(reset_version)
    reset.reset(reason=REASON, actor=OPERATOR)
    declaration = Declaration.hand_in_first(
        cvr=AARHUS, document_sha256="b" * 64, document_name="e.pdf", actor=signatory()
    )
    status = CustomerStatus(
        customer=Customer.register(AARHUS, "Aarhus Kommune", OPERATOR),
        approvals=[
            (approved_version, approved(approved_version)),
            (reset_version, reset),
            (untouched, None),
        ],
        declaration=declaration,
        today=TODAY,
    )
    assert status.unapproved == [reset_version, untouched]
    assert not status.complete
    everything_approved = CustomerStatus(
        customer=status.customer, approvals=status.approvals[:1], declaration=None, today=TODAY
    )
    assert not everything_approved.complete  # no declaration at all


def test_a_declaration_past_its_renewal_date_is_overdue_and_the_customer_lacks_it():
    version = agreement()
    status = CustomerStatus(
        customer=Customer.register(AARHUS, "Aarhus Kommune", OPERATOR),
        approvals=[(version, approved(version))],
        declaration=sent_declaration(AARHUS, renewal_due=TODAY - datetime.timedelta(days=1)),
        today=TODAY,
    )
    assert status.renewal_overdue
    assert not status.complete


def test_a_retired_version_concerns_a_customer_only_if_it_approved_it():
    version = agreement()
    version.retire(actor=OPERATOR)
    assert not AgreementState(version, None).concerns_the_customer
    approval = approved(version)
    approval.reset(reason=REASON, actor=OPERATOR)
    state = AgreementState(version, approval)
    assert state.concerns_the_customer
    assert not state.approved
    assert state.reset_reason == REASON
    assert AgreementState(agreement(), None).concerns_the_customer


class InMemoryLedger:
    """The ledger's queries over aggregates held in dicts (`ledger.read_models.LedgerReads`)."""

    def __init__(self, *aggregates):
        self.by_id = {aggregate.id: aggregate for aggregate in aggregates}

    def of(self, kind):
        return [a for a in self.by_id.values() if isinstance(a, kind)]

    def customers(self):
        return self.of(Customer)

    def agreement_versions(self):
        return self.of(AgreementVersion)

    def approval(self, cvr, version_id):
        found = [
            a for a in self.of(Approval) if (a.cvr, a.agreement_version_id) == (cvr, version_id)
        ]
        return found[0] if found else None

    def declaration(self, cvr):
        return next((d for d in self.of(Declaration) if d.cvr == cvr), None)


def test_the_overview_asks_every_customer_for_the_current_versions():
    current, retired, newer = agreement(), agreement(version="2025.1"), agreement("Aftale")
    retired.retire(actor=OPERATOR)
    ledger = InMemoryLedger(
        Customer.register(ODENSE, "Odense Kommune", OPERATOR),
        Customer.register(AARHUS, "Aarhus Kommune", OPERATOR),
        current,
        retired,
        newer,
        approved(current),
        approved(retired, cvr=ODENSE),
        sent_declaration(ODENSE, renewal_due=TODAY),
    )
    versions = current_agreements(ledger.agreement_versions())
    assert versions == [newer, current]  # by title, without the retired one
    # (The overview reads them from the migration board, by name in Danish order:
    # tests/ledger/test_migration_board_overview.py.)
    odense, aarhus = (
        CustomerStatus(
            customer=customer,
            approvals=[(v, ledger.approval(customer.cvr, v.id)) for v in versions],
            declaration=ledger.declaration(customer.cvr),
            today=TODAY,
        )
        for customer in ledger.customers()
    )
    assert (aarhus.customer.cvr, odense.customer.cvr) == (AARHUS, ODENSE)
    assert aarhus.unapproved == [newer]
    assert aarhus.declaration is None
    assert odense.unapproved == [newer, current]
    assert odense.declaration.status == Declaration.SENT
    states = agreement_states(ledger, ODENSE)
    assert [state.agreement for state in states] == [newer, current, retired]
    assert [state.approved for state in states] == [False, False, True]
    assert [s.agreement for s in agreement_states(ledger, AARHUS)] == [newer, current]


class Places:
    """Where events are in the log (`ledger.read_models.EventPlaces`), from a dict."""

    def __init__(self, seqs):
        self.seqs = seqs

    def seq_of(self, originator_id, version):
        return self.seqs[originator_id, version]


def test_the_receipt_of_an_approval_is_where_the_approval_in_force_was_recorded():
    approval = approved(agreement())
    log = Places({(approval.id, 1): 7, (approval.id, 3): 9})
    assert receipt_seq(log, approval) == 7
    approval.reset(reason=REASON, actor=OPERATOR)
    assert receipt_seq(log, approval) is None
    facts = RequestFacts(ip="192.0.2.1", user_agent="test", document_sha256="a" * 64)
    approval.approve_again(actor=signatory(), authentication=LOGIN, request=facts)
    assert receipt_seq(log, approval) == 9
    assert receipt_seq(log, None) is None


def test_names_sort_in_danish_alphabetical_order():
    names = ["Aarhus", "Ærø", "Aabenraa", "Tårnby", "Tønder", "Faaborg-Midtfyn", "Furesø"]
    names += ["Odense", "Vordingborg", "Zealand", "aalborg", "Ølstykke", "Åbyhøj"]
    assert sorted(names, key=danish_sort_key) == [
        "Furesø",
        "Faaborg-Midtfyn",  # Faa is Få, after every other F
        "Odense",
        "Tønder",
        "Tårnby",  # Ø before Å
        "Vordingborg",
        "Zealand",
        "Ærø",  # Æ, Ø, Å after Z
        "Ølstykke",
        "Aabenraa",  # Aa is Å: Åbe, Åby, Ål, År
        "Åbyhøj",
        "aalborg",
        "Aarhus",
    ]


def test_each_step_says_who_it_waits_for_and_since_when():
    customer = Customer.register(AARHUS, "Aarhus Kommune", OPERATOR)
    # The day in Denmark, as the steps give it (between 23 and 24 UTC it is already tomorrow).
    registered = day_in_denmark(customer.created_on)
    handed_in, countersigned, sent = declaration_steps(customer, None, TODAY)
    assert (handed_in.state, handed_in.waiting_for, handed_in.on) == (
        "awaiting",
        "customer",
        registered,
    )
    assert (countersigned.state, sent.state) == ("later", "later")
    assert countersigned.waiting_for is None

    declaration = Declaration.hand_in_first(
        cvr=AARHUS, document_sha256="b" * 64, document_name="e.pdf", actor=signatory()
    )
    handed_in, countersigned, sent = declaration_steps(customer, declaration, TODAY)
    assert handed_in.state == "done"
    assert (countersigned.state, countersigned.waiting_for) == ("awaiting", "operator")
    assert countersigned.on == day_in_denmark(declaration.handed_in_at)
    declaration.countersign(document_sha256="c" * 64, document_name="m.pdf", actor=OPERATOR)
    assert [step.waiting_for for step in declaration_steps(customer, declaration, TODAY)] == [
        None,
        None,
        "operator",
    ]
    overdue = sent_declaration(AARHUS, renewal_due=TODAY - datetime.timedelta(days=30))
    *_, sent = declaration_steps(customer, overdue, TODAY)
    assert (sent.state, sent.waiting_for, sent.days_waiting(TODAY)) == ("overdue", "customer", 30)


def test_a_customer_waits_as_long_as_its_oldest_open_step():
    version = agreement()
    reset = approved(version)
    reset.reset(reason=REASON, actor=OPERATOR)
    customer = Customer.register(AARHUS, "Aarhus Kommune", OPERATOR)
    overdue = sent_declaration(AARHUS, renewal_due=TODAY - datetime.timedelta(days=12))
    status = CustomerStatus(
        customer=customer, approvals=[(version, reset)], declaration=overdue, today=TODAY
    )
    [approval] = status.approval_steps
    assert (approval.state, approval.waiting_for) == ("reset", "customer")
    assert status.waiting_for("operator") == []
    assert len(status.waiting_for("customer")) == 2
    assert status.days_waiting == 12
    done = CustomerStatus(
        customer=customer,
        approvals=[(version, approved(version))],
        declaration=sent_declaration(AARHUS, renewal_due=TODAY),
        today=TODAY,
    )
    assert done.complete
    assert done.days_waiting is None


def test_a_customers_name_is_corrected_and_the_former_name_kept():
    customer = Customer.register(AARHUS, "Århus Kommune", OPERATOR)
    customer.collect_events()
    customer.rename("Aarhus Kommune", OPERATOR)
    [renamed] = customer.collect_events()
    assert (renamed.previous_name, renamed.name) == ("Århus Kommune", "Aarhus Kommune")
    assert customer.name == "Aarhus Kommune"
    assert customer.former_names == ["Århus Kommune"]
    with pytest.raises(DomainError, match="hedder allerede"):
        customer.rename(" Aarhus Kommune ", OPERATOR)
    with pytest.raises(DomainError, match="mangler"):
        customer.rename("  ", OPERATOR)


def test_a_revocation_records_its_reason_and_refuses_a_short_one():
    role = RoleAssignment.grant(
        None, person_uuid=COLLEAGUE_UUID, person_name="Kim", role="auditor", cvrs=[], actor=OPERATOR
    )
    with pytest.raises(DomainError, match="Skriv hvorfor"):
        role.revoke(actor=staff_member(), reason="Nej")
    assert role.active
    role.revoke(actor=staff_member(), reason="Revisionen er afsluttet.")
    assert not role.active
    assert role.last_revocation_reason == "Revisionen er afsluttet."


def test_a_name_is_searched_letter_for_letter_as_danish_reads_letters():
    assert danish_contains("Aarhus Kommune", "århus")
    assert danish_contains("Århus Kommune", "AARHUS")
    assert danish_contains("Lyngby-Taarbæk Kommune", "taarbæk")
    assert danish_contains("Køge Kommune", "KØGE")
    assert not danish_contains("Køge Kommune", "koge")  # Ø is a letter of its own
    assert not danish_contains("Odense Kommune", "aarhus")
    assert danish_contains("Odense Kommune", "")
