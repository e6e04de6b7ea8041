"""What staff and signatories follow up, read from the ledger's aggregates.

Plain data over `ledger.domain`: the portal shows it, and the rules in it (what a customer
lacks, when a declaration's renewal is overdue, which agreement versions concern a customer)
are tested with aggregates in memory, without a framework or a database.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from ledger.domain import AgreementVersion, Approval, Customer, Declaration


class LedgerReads(Protocol):
    """The ledger's queries the read models are made from (`LedgerApp` answers them)."""

    def customers(self) -> list[Customer]: ...

    def agreement_versions(self) -> list[AgreementVersion]: ...

    def approval(self, cvr: str, version_id: UUID) -> Approval | None: ...

    def declaration(self, cvr: str) -> Declaration | None: ...


class EventPlaces(Protocol):
    """Where an aggregate's events are in the signed log (`SignedLog` answers it)."""

    def seq_of(self, originator_id: UUID, version: int) -> int: ...


def receipt_seq(log: EventPlaces, approval: Approval | None) -> int | None:
    """Where the approval in force was recorded in the log, which is its receipt; None when
    the agreement version is not approved."""
    if approval is None or approval.approved_version is None:
        return None
    return log.seq_of(approval.id, approval.approved_version)


def renewal_overdue(declaration: Declaration | None, today: datetime.date) -> bool:
    """Whether a declaration sent to the Agency for Digital Government should have been
    renewed before `today`."""
    return (
        declaration is not None
        and declaration.status == Declaration.SENT
        and declaration.renewal_due is not None
        and datetime.date.fromisoformat(declaration.renewal_due) < today
    )


@dataclass(frozen=True)
class CustomerStatus:
    """One customer as staff follow it up: its approvals of the current agreement versions
    and where its joint management declaration stands."""

    customer: Customer
    approvals: list[tuple[AgreementVersion, Approval | None]]
    declaration: Declaration | None
    today: datetime.date

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


def customer_statuses(
    ledger: LedgerReads, current: list[AgreementVersion], *, today: datetime.date
) -> list[CustomerStatus]:
    """Every customer's status against the `current` agreement versions, by name."""
    statuses = [
        CustomerStatus(
            customer=customer,
            approvals=[(a, ledger.approval(customer.cvr, a.id)) for a in current],
            declaration=ledger.declaration(customer.cvr),
            today=today,
        )
        for customer in ledger.customers()
    ]
    return sorted(statuses, key=lambda s: s.customer.name)


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
