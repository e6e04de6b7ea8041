"""What staff and signatories follow up, read from the ledger's aggregates.

Plain data over `ledger.domain`: the portal shows it, and the rules in it (what a customer
lacks, when a declaration's renewal is overdue, which agreement versions concern a customer)
are tested with aggregates in memory, without a framework or a database.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol
from uuid import UUID

import icu  # type: ignore[import-untyped]  # PyICU ships no types

from ledger.danish_time import DANISH_TIME
from ledger.domain import AgreementVersion, Approval, Customer, Declaration

# Danish alphabetical order as CLDR defines it and ICU implements it: Æ, Ø and Å after Z,
# "Aa" as Å (Aabenraa after Ærø), Ä and Ö with Æ and Ø, Ü with Y; case and accents only
# break ties. Made once: a collator is costly to make, cheap to use.
_DANISH = icu.Collator.createInstance(icu.Locale("da_DK"))


# The same order at its first strength only: letters, not case or accents, so a search for
# "århus" finds "Aarhus Kommune" and "AARHUS" does too.
_DANISH_LETTERS = icu.Collator.createInstance(icu.Locale("da_DK"))
_DANISH_LETTERS.setStrength(icu.Collator.PRIMARY)


def danish_sort_key(text: str) -> bytes:
    """The key that sorts names as a Danish reader looks them up."""
    key: bytes = _DANISH.getSortKey(text)
    return key


def danish_contains(text: str, wanted: str) -> bool:
    """Whether `text` holds `wanted` letter for letter as Danish reads letters ("Aa" is "Å";
    case and accents do not matter)."""
    if not wanted:
        return True
    found: int = icu.StringSearch(wanted, text, _DANISH_LETTERS).first()
    return found != -1


class LedgerReads(Protocol):
    """The ledger's queries the read models are made from (`LedgerApp` answers them)."""

    def customers(self) -> list[Customer]: ...

    def agreement_versions(self) -> list[AgreementVersion]: ...

    def approval(self, cvr: str, version_id: UUID) -> Approval | None: ...

    def declaration(self, cvr: str) -> Declaration | None: ...


class CustomerFacts(Protocol):
    """What the follow-up reads of a customer: a `Customer`, or the migration board's view
    of one (`ledger.migration_board`), which reads no aggregate."""

    @property
    def cvr(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def created_on(self) -> datetime.datetime: ...


class ApprovalFacts(Protocol):
    """What the follow-up reads of an approval: an `Approval`, or the board's view of one."""

    @property
    def is_approved(self) -> bool: ...

    @property
    def approved_at(self) -> Any: ...

    @property
    def modified_on(self) -> datetime.datetime: ...


class DeclarationFacts(Protocol):
    """What the follow-up reads of a declaration: a `Declaration`, or the board's view."""

    @property
    def status(self) -> str | None: ...

    @property
    def handed_in_at(self) -> Any: ...

    @property
    def modified_on(self) -> datetime.datetime: ...

    @property
    def sent_on(self) -> str | None: ...

    @property
    def renewal_due(self) -> str | None: ...


class EventPlaces(Protocol):
    """Where an aggregate's events are in the signed log (`SignedLog` answers it)."""

    def seq_of(self, originator_id: UUID, version: int) -> int: ...


def receipt_seq(log: EventPlaces, approval: Approval | None) -> int | None:
    """Where the approval in force was recorded in the log, which is its receipt; None when
    the agreement version is not approved."""
    if approval is None or approval.approved_version is None:
        return None
    return log.seq_of(approval.id, approval.approved_version)


def renewal_overdue(declaration: DeclarationFacts | None, today: datetime.date) -> bool:
    """Whether a declaration sent to the Agency for Digital Government should have been
    renewed before `today`."""
    return (
        declaration is not None
        and declaration.status == Declaration.SENT
        and declaration.renewal_due is not None
        and datetime.date.fromisoformat(declaration.renewal_due) < today
    )


# Who a step waits for: the customer (to approve, to hand in) or the operator (to
# countersign, to send to the Agency); a step that is done or not yet due waits for no one.
CUSTOMER = "customer"
OPERATOR = "operator"


def day_in_denmark(moment: Any) -> datetime.date | None:
    """The calendar day in Denmark of a moment the log recorded (UTC), or of a date."""
    if moment is None:
        return None
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.astimezone(DANISH_TIME).date()
    if isinstance(moment, datetime.date):
        return moment
    return datetime.date.fromisoformat(str(moment))


@dataclass(frozen=True)
class Step:
    """One cell of the staff overview: where one step of one customer stands.

    `state` is one of the states below; `on` is the day the cell shows (when the step was
    done, or since when it has waited); `waiting_for` is CUSTOMER, OPERATOR or None."""

    APPROVED = "approved"
    AWAITING = "awaiting"
    RESET = "reset"  # awaiting again: staff reset the approval
    DONE = "done"
    OVERDUE = "overdue"  # the declaration's renewal is past due
    LATER = "later"  # an earlier step must be done first

    state: str
    on: datetime.date | None = None
    waiting_for: str | None = None
    due: datetime.date | None = None  # the declaration's next renewal, once sent

    def days_waiting(self, today: datetime.date) -> int | None:
        """Whole days the step has waited by `today`; None when it waits for no one."""
        if self.waiting_for is None or self.on is None:
            return None
        return max(0, (today - self.on).days)


def approval_step(
    customer: CustomerFacts, agreement: AgreementVersion, approval: ApprovalFacts | None
) -> Step:
    """An agreement version's approval by the customer: approved on a day, or awaited
    since the version was published (or the customer registered, if later), or since
    staff reset it."""
    if approval is not None and approval.is_approved:
        return Step(Step.APPROVED, day_in_denmark(approval.approved_at))
    if approval is not None:  # reset: what it last did was the reset
        return Step(Step.RESET, day_in_denmark(approval.modified_on), CUSTOMER)
    since = max(agreement.created_on, customer.created_on)
    return Step(Step.AWAITING, day_in_denmark(since), CUSTOMER)


def declaration_steps(
    customer: CustomerFacts, declaration: DeclarationFacts | None, today: datetime.date
) -> tuple[Step, Step, Step]:
    """The declaration's three steps: handed in by the customer, countersigned by the
    operator, sent to the Agency by the operator. A round that has been sent is done until
    its renewal is due; past that, the customer owes the next round."""
    status = declaration.status if declaration is not None else None
    if declaration is None or status is None:
        awaited = Step(Step.AWAITING, day_in_denmark(customer.created_on), CUSTOMER)
        return awaited, Step(Step.LATER), Step(Step.LATER)
    handed_in = Step(Step.DONE, day_in_denmark(declaration.handed_in_at))
    if status == Declaration.HANDED_IN:
        waiting = Step(Step.AWAITING, handed_in.on, OPERATOR)
        return handed_in, waiting, Step(Step.LATER)
    if status == Declaration.COUNTERSIGNED:
        countersigned = Step(Step.DONE, day_in_denmark(declaration.modified_on))
        return handed_in, countersigned, Step(Step.AWAITING, countersigned.on, OPERATOR)
    due = day_in_denmark(declaration.renewal_due)
    sent = Step(Step.DONE, day_in_denmark(declaration.sent_on), due=due)
    if renewal_overdue(declaration, today):
        sent = Step(Step.OVERDUE, due, CUSTOMER, due=due)
    return handed_in, Step(Step.DONE), sent


@dataclass(frozen=True)
class CustomerStatus:
    """One customer as staff follow it up: its approvals of the current agreement versions
    and where its joint management declaration stands. Its steps are worked out once (the
    overview asks for them for every count, filter and sort)."""

    customer: CustomerFacts
    approvals: list[tuple[AgreementVersion, ApprovalFacts | None]]
    declaration: DeclarationFacts | None
    today: datetime.date

    @cached_property
    def approval_steps(self) -> list[Step]:
        """One step per current agreement version, in the order of `approvals`."""
        return [approval_step(self.customer, a, approval) for a, approval in self.approvals]

    @cached_property
    def declaration_steps(self) -> tuple[Step, Step, Step]:
        return declaration_steps(self.customer, self.declaration, self.today)

    @cached_property
    def steps(self) -> list[Step]:
        return [*self.approval_steps, *self.declaration_steps]

    def waiting_for(self, party: str) -> list[Step]:
        return [step for step in self.steps if step.waiting_for == party]

    @cached_property
    def days_waiting(self) -> int | None:
        """How long the oldest open step has waited, in days; None when nothing waits."""
        waits = [d for step in self.steps if (d := step.days_waiting(self.today)) is not None]
        return max(waits, default=None)

    @property
    def unapproved(self) -> list[AgreementVersion]:
        return [
            agreement
            for agreement, approval in self.approvals
            if approval is None or not approval.is_approved
        ]

    @property
    def renewal_overdue(self) -> bool:
        return renewal_overdue(self.declaration, self.today)

    @property
    def complete(self) -> bool:
        """Nothing lacks: every current version approved, the declaration sent and valid."""
        return (
            not self.unapproved
            and self.declaration is not None
            and self.declaration.status == Declaration.SENT
            and not self.renewal_overdue
        )


def current_agreements(versions: Iterable[AgreementVersion]) -> list[AgreementVersion]:
    """The versions customers are asked to approve now (not retired), by title and version."""
    current = [version for version in versions if not version.retired]
    return sorted(current, key=lambda a: (a.title, a.version_label))


@dataclass(frozen=True)
class AgreementState:
    """An agreement version as one customer sees it."""

    agreement: AgreementVersion
    approval: Approval | None

    @property
    def approved(self) -> bool:
        return self.approval is not None and self.approval.is_approved

    @property
    def reset_reason(self) -> str | None:
        """Why staff reset the customer's approval, while it is not approved again."""
        if self.approval is None or self.approved:
            return None
        return self.approval.last_reset_reason

    @property
    def concerns_the_customer(self) -> bool:
        """Every current version does; a retired one only if the customer approved it once
        (its approval, even reset since, is part of the customer's record)."""
        return not self.agreement.retired or self.approval is not None


def agreement_states(ledger: LedgerReads, cvr: str) -> list[AgreementState]:
    """The agreement versions that concern a customer, current ones first, by title."""
    states = (
        AgreementState(agreement, ledger.approval(cvr, agreement.id))
        for agreement in ledger.agreement_versions()
    )
    concerning = [state for state in states if state.concerns_the_customer]
    return sorted(concerning, key=lambda s: (s.agreement.retired, s.agreement.title))
