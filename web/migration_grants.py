"""Staff's check of who granted a municipality's colleague role (issue 15).

The colleague role is granted in the portal by a person logged in for the municipality's
CVR, with the statement that they may sign ticked; the grant records that and what the
login said of their signing authority, as an approval does. Like an approval without a sign
of signing authority, a grant without one is listed here until staff have checked the
granter (or taken the role away), so a wrong granter is caught before the switch. The
product records the basis; it does not pretend to know more.
"""

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template, url_for
from flask.typing import ResponseReturnValue

from ledger import migration
from ledger.domain import RESET_REASON_LENGTH, DomainError, RoleAssignment, whole_number
from web.auth import ledger
from web.migration_staff import CHECK_NOTE_MAX, checked_note
from web.roles import acting_person, staff_required
from web.staff import _customer, _form, carry_out
from web.translation import gettext as _

blueprint = Blueprint("colleague_grants", __name__, url_prefix="/drift")


@dataclass(frozen=True)
class Grant:
    key: str
    cvr: str
    customer_name: str
    person_uuid: str
    person_name: str
    granted_version: int
    granter: str
    granted_at: Any
    receipt: int | None
    basis: str


def _grants() -> list[Grant]:
    names = {c.cvr: c.name for c in ledger().customers()}
    found = []
    for assignment in ledger().colleague_grants_without_signal():
        found.append(_grant(assignment, names))
    return sorted(found, key=lambda g: (g.customer_name, g.person_name))


def _grant(assignment: RoleAssignment, names: dict[str, str]) -> Grant:
    cvr = assignment.cvrs[0]
    version = assignment.granted_version or 0
    basis = assignment.signing_basis or []
    by = assignment.granted_by
    return Grant(
        key=f"{cvr}/{assignment.person_uuid}",
        cvr=cvr,
        customer_name=names.get(cvr, cvr),
        person_uuid=assignment.person_uuid,
        person_name=assignment.person_name,
        granted_version=version,
        granter=by.name if by is not None else "",
        granted_at=assignment.granted_at,
        receipt=ledger().signed_log.seq_of(assignment.id, version),
        basis="; ".join(migration.SIGNING_BASIS_TITLES.get(b, b) for b in basis),
    )


def _page(
    *, error: str | None = None, failed: str = "", typed: dict[str, str] | None = None
) -> str:
    return render_template(
        "staff/grants.html",
        grants=_grants(),
        error=error,
        failed=failed,
        typed=typed or {},
        longest=CHECK_NOTE_MAX,
        reason_length=RESET_REASON_LENGTH,
    )


@blueprint.get("/kolleger/uden-tegningsret")
@staff_required
def grants() -> str:
    return _page()


@blueprint.post("/kolleger/<cvr>/<person_uuid>/kontrolleret")
@staff_required
def mark_checked(cvr: str, person_uuid: str) -> ResponseReturnValue:
    customer = _customer(cvr)
    form = _form("note", "granted_version")

    def check() -> Any:
        checked_note(form["note"])
        try:
            granted_version = whole_number(form["granted_version"], lowest=1)
        except ValueError:
            raise DomainError(
                _("Tildelingen er ændret, siden du så den. Se listen igen.")
            ) from None
        return ledger().check_colleague_granter(
            person_uuid=person_uuid,
            granted_version=granted_version,
            actor=acting_person(),
            note=form["note"],
        )

    return carry_out(
        check,
        done=_(
            "Tildelingen af rollen Kollega hos %(name)s er markeret som kontrolleret.",
            name=customer.name,
        ),
        then=url_for("colleague_grants.grants"),
        refused=lambda error: _page(
            error=error, failed=f"{customer.cvr}/{person_uuid}", typed={"note": form["note"]}
        ),
    )


@blueprint.post("/kolleger/<cvr>/<person_uuid>/fratag")
@staff_required
def revoke(cvr: str, person_uuid: str) -> ResponseReturnValue:
    """Staff take away a colleague role a wrong granter gave; the reason is recorded, and
    the colleague's sessions end (as with every revoked role)."""
    customer = _customer(cvr)
    form = _form("reason")
    return carry_out(
        lambda: ledger().revoke_colleague(
            cvr=customer.cvr, person_uuid=person_uuid, actor=acting_person(), reason=form["reason"]
        ),
        done=lambda assignment: _(
            "%(person)s har ikke længere rollen Kollega for %(name)s.",
            person=assignment.person_name,
            name=customer.name,
        ),
        then=url_for("colleague_grants.grants"),
        refused=lambda error: _page(
            error=error,
            failed=f"{customer.cvr}/{person_uuid}",
            typed={"reason": form["reason"]},
        ),
    )
