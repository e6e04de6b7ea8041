"""Who may do what in the portal: signatories, staff and auditors.

A signatory is a person logged in for a CVR that is a registered customer. Staff hold the
staff role *and* are logged in for the operator's CVR (`LEDGER_OPERATOR_CVR`). Auditors hold
the auditor role, perhaps limited to some CVRs. Roles come from the ledger's role events.
"""

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort, current_app, g
from flask_login import current_user, login_required

from ledger.domain import Customer
from ledger.identity import Actor, NsisLevel
from ledger.migration import is_colleague
from ledger.signed_log import Entry

P = ParamSpec("P")
R = TypeVar("R")


def is_signatory() -> bool:
    """Whether the person is logged in for a registered customer (looked up once a request)."""
    return signatory_customer() is not None


def signatory_customer() -> Customer | None:
    """The registered customer the person is logged in for, or None; read once a request
    (with the person's roles), and kept for the request's own use (Godkend hands it to
    `LedgerApp.approve`)."""
    if not current_user.is_authenticated:
        return None
    if "signatory_customer" not in g:
        g.signatory_customer = current_user.customer
    customer: Customer | None = g.signatory_customer
    return customer


def remember_signatory_customer(customer: Customer | None) -> None:
    """The customer the request read itself, in the statement that read what else it needed
    (Godkend's `approval_subject`): `signatory_customer` answers with it, reading nothing."""
    g.signatory_customer = customer


def is_colleague_here() -> bool:
    """Whether the person holds the colleague role for the CVR they are logged in for: they
    do the municipality's technical tasks of the migration, but Godkend is the signatory's
    (read with the person's roles, once a request)."""
    if not current_user.is_authenticated:
        return False
    return is_colleague(current_user.assignments, current_user.cvr)


def is_staff() -> bool:
    return (
        current_user.is_authenticated
        and "staff" in current_user.roles
        and current_user.cvr == current_app.config["OPERATOR_CVR"]
    )


def is_auditor() -> bool:
    return current_user.is_authenticated and current_user.is_auditor


def _requires(check: Callable[[], bool]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        @login_required
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if not check():
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorator


signatory_required = _requires(is_signatory)
staff_required = _requires(is_staff)
auditor_required = _requires(is_auditor)


def may_read_entry(entry: Entry) -> bool:
    """Whether the logged-in person may read one event of the log (its receipt, its proof).

    Staff read every event, an auditor the events in their scope. Anyone else reads only
    the events about their own CVR: the CVR the event itself names, never the actor's, for
    an event made by staff names the operator's CVR as its actor's, and an employee of the
    operator without a role must not read those.
    """
    if not current_user.is_authenticated:
        return False
    if is_staff():
        return True
    if is_auditor() and (not current_user.auditor_cvrs or entry.cvr in current_user.auditor_cvrs):
        return True
    about = entry.about_cvr
    return about is not None and about == current_user.cvr


def acting_person() -> Actor:
    """The logged-in person as the actor of what they do."""
    return Actor.person(
        person_uuid=current_user.person_uuid,
        name=current_user.name,
        cvr=current_user.cvr,
        organisation=current_user.organisation,
        loa=NsisLevel.parse(current_user.loa),
    )
