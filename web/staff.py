"""Operator staff: customers, agreement versions, roles, approval resets, declaration steps.

Every change goes through the ledger with the logged-in person as its actor. A form with a
problem comes back with the problem in Danish and status 400; a change that succeeds
redirects (post/redirect/get) with a message, so a reload never records it twice.
"""

import datetime
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user

from ledger.application import latest_sending_date, normalized_person_uuid
from ledger.domain import (
    RESET_REASON_LENGTH,
    AgreementVersion,
    Approval,
    Customer,
    Declaration,
    DomainError,
    checked_reset_reason,
    iso_date,
)
from ledger.identity import InvalidCVR
from web.auth import ledger
from web.roles import acting_person, staff_required
from web.signatory import send_document
from web.uploads import read_pdf

blueprint = Blueprint("staff", __name__, url_prefix="/drift")

# What the ledger refuses with a message a person can act on.
REFUSED = (DomainError, InvalidCVR)


def _customer(cvr: str) -> Customer:
    try:
        return ledger().customer(cvr)
    except REFUSED:
        abort(404)


def _agreement(version_id: UUID) -> AgreementVersion:
    try:
        return ledger().agreement_version(version_id)
    except DomainError:
        abort(404)


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


# The overview: what each customer lacks


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
        declaration = self.declaration
        return (
            declaration is not None
            and declaration.status == Declaration.SENT
            and declaration.renewal_due is not None
            and datetime.date.fromisoformat(declaration.renewal_due) < self.today
        )

    @property
    def complete(self) -> bool:
        return (
            not self.unapproved
            and self.declaration is not None
            and self.declaration.status == Declaration.SENT
            and not self.renewal_overdue
        )


def current_agreements() -> list[AgreementVersion]:
    current = [a for a in ledger().agreement_versions() if not a.retired]
    return sorted(current, key=lambda a: (a.title, a.version_label))


def customer_statuses(current: list[AgreementVersion]) -> list[CustomerStatus]:
    today = _today()
    statuses = [
        CustomerStatus(
            customer=customer,
            approvals=[(a, ledger().approval(customer.cvr, a.id)) for a in current],
            declaration=ledger().declaration(customer.cvr),
            today=today,
        )
        for customer in ledger().customers()
    ]
    return sorted(statuses, key=lambda s: s.customer.name)


@blueprint.get("/")
@staff_required
def overview() -> str:
    current = current_agreements()
    statuses = customer_statuses(current)
    return render_template(
        "staff/overview.html",
        statuses=statuses,
        agreements=current,
        lacking=sum(1 for status in statuses if not status.complete),
    )


# Customers


@blueprint.route("/kunder", methods=["GET", "POST"])
@staff_required
def customers() -> Any:
    error = None
    form = {"cvr": "", "name": ""}
    if request.method == "POST":
        form = {key: request.form.get(key, "").strip() for key in form}
        try:
            customer = ledger().register_customer(
                cvr=form["cvr"], name=form["name"], actor=acting_person()
            )
        except REFUSED as problem:
            error = str(problem)
        else:
            flash(
                _(
                    "%(name)s (CVR %(cvr)s) er registreret som kunde.",
                    name=customer.name,
                    cvr=customer.cvr,
                ),
                "success",
            )
            return redirect(url_for("staff.customers"))
    registered = sorted(ledger().customers(), key=lambda c: c.name)
    return render_template("staff/customers.html", customers=registered, form=form, error=error), (
        400 if error else 200
    )


# Agreement versions


@blueprint.route("/aftaler", methods=["GET", "POST"])
@staff_required
def agreements() -> Any:
    error = None
    form = {"title": "", "version_label": ""}
    if request.method == "POST":
        form = {key: request.form.get(key, "").strip() for key in form}
        try:
            name, content = read_pdf(request.files.get("document"))
            agreement = ledger().publish_agreement(
                title=form["title"],
                version_label=form["version_label"],
                document=content,
                document_name=name,
                actor=acting_person(),
            )
        except DomainError as problem:
            error = str(problem)
        else:
            flash(
                _(
                    "%(title)s version %(version)s er offentliggjort.",
                    title=agreement.title,
                    version=agreement.version_label,
                ),
                "success",
            )
            return redirect(url_for("staff.agreements"))
    versions = sorted(
        ledger().agreement_versions(), key=lambda a: (a.retired, a.title, a.version_label)
    )
    return render_template(
        "staff/agreements.html",
        agreements=versions,
        form=form,
        error=error,
    ), (400 if error else 200)


@blueprint.get("/aftaler/<uuid:version_id>/dokument")
@staff_required
def agreement_document(version_id: UUID) -> Response:
    agreement = _agreement(version_id)
    return send_document(agreement.document_sha256, agreement.document_name)


@blueprint.route("/aftaler/<uuid:version_id>/tilbagetraek", methods=["GET", "POST"])
@staff_required
def retire_agreement(version_id: UUID) -> Any:
    """Retiring asks first: the page says what it does, the button does it."""
    agreement = _agreement(version_id)
    error = None
    if request.method == "POST":
        try:
            ledger().retire_agreement(agreement.id, actor=acting_person())
        except DomainError as problem:
            error = str(problem)
        else:
            flash(
                _(
                    "%(title)s version %(version)s er trukket tilbage.",
                    title=agreement.title,
                    version=agreement.version_label,
                ),
                "success",
            )
            return redirect(url_for("staff.agreements"))
    return render_template("staff/retire.html", agreement=agreement, error=error), (
        400 if error else 200
    )


# Roles

ROLE_NAMES = {"staff": lazy_gettext("Drift"), "auditor": lazy_gettext("Revisor")}
NO_GRANT = {"person_uuid": "", "person_name": "", "role": "", "cvrs": ""}


@blueprint.route("/roller", methods=["GET", "POST"])
@staff_required
def roles() -> Any:
    error = None
    form = NO_GRANT
    if request.method == "POST":
        form = {key: request.form.get(key, "").strip() for key in NO_GRANT}
        try:
            assignment = ledger().grant_role(
                person_uuid=form["person_uuid"],
                person_name=form["person_name"],
                role=form["role"],
                cvrs=[cvr for cvr in re.split(r"[\s,;]+", form["cvrs"]) if cvr],
                actor=acting_person(),
            )
        except REFUSED as problem:
            error = str(problem)
        else:
            flash(
                _(
                    "%(name)s har fået rollen %(role)s.",
                    name=assignment.person_name,
                    role=ROLE_NAMES[assignment.role],
                ),
                "success",
            )
            return redirect(url_for("staff.roles"))
    return _roles_page(form=form, error=error)


def _roles_page(
    *, form: dict[str, str], error: str | None = None, revoke_error: str | None = None
) -> Any:
    active = [a for a in ledger().role_assignments() if a.active]
    active.sort(key=lambda a: (a.role, a.person_name))
    return render_template(
        "staff/roles.html",
        assignments=active,
        role_names=ROLE_NAMES,
        form=form,
        error=error,
        revoke_error=revoke_error,
    ), (400 if error or revoke_error else 200)


@blueprint.post("/roller/fratag")
@staff_required
def revoke_role() -> Any:
    role = request.form.get("role", "")
    try:
        person_uuid = normalized_person_uuid(request.form.get("person_uuid", ""))
        if role == "staff" and person_uuid == current_user.person_uuid:
            raise DomainError(
                _("Du kan ikke fratage dig selv driftsrollen; bed en kollega om det.")
            )
        assignment = ledger().revoke_role(person_uuid=person_uuid, role=role, actor=acting_person())
    except DomainError as problem:
        return _roles_page(form=NO_GRANT, revoke_error=str(problem))
    flash(
        _(
            "%(name)s har ikke længere rollen %(role)s.",
            name=assignment.person_name,
            role=ROLE_NAMES[assignment.role],
        ),
        "success",
    )
    return redirect(url_for("staff.roles"))


# Resetting an approval


def _reason_problem(reason: str) -> str | None:
    try:
        checked_reset_reason(reason)
    except DomainError as problem:
        return str(problem)
    return None


@blueprint.route("/godkendelser/<cvr>/<uuid:version_id>/nulstil", methods=["GET", "POST"])
@staff_required
def reset_approval(cvr: str, version_id: UUID) -> Any:
    """Pick, give a reason, confirm: the first POST shows what will be recorded, the second
    (with `confirmed`) records it."""
    customer = _customer(cvr)
    agreement = _agreement(version_id)
    approval = ledger().approval(customer.cvr, agreement.id)
    if approval is None:
        abort(404)

    def page(*, confirming: bool = False, reason: str = "", error: str | None = None) -> Any:
        return render_template(
            "staff/reset.html",
            customer=customer,
            agreement=agreement,
            approval=approval,
            confirming=confirming,
            reason=reason,
            error=error,
            receipt_seq=(
                ledger().signed_log.seq_of(approval.id, approval.approved_version)
                if approval.approved_version is not None
                else None
            ),
            shortest=RESET_REASON_LENGTH[0],
            longest=RESET_REASON_LENGTH[1],
        ), (400 if error else 200)

    if request.method == "GET":
        return page()
    reason = request.form.get("reason", "").strip()
    if request.form.get("edit") == "1":
        return page(reason=reason)
    if request.form.get("confirmed") == "1" and _reset_already(approval, reason):
        return _reset_done(agreement, customer)  # the same confirmation again: a double click
    if not approval.is_approved:
        return page(error=_("Der er ingen gældende godkendelse at nulstille."))
    problem = _reason_problem(reason)
    if problem:
        return page(reason=reason, error=problem)
    # The approval shown is the one reset: not a newer one given while staff read the page.
    if request.form.get("approved_version") != str(approval.approved_version):
        return page(
            reason=reason,
            error=_("Godkendelsen er ændret, siden du så den. Se den igen, før du nulstiller."),
        )
    if request.form.get("confirmed") != "1":
        return page(confirming=True, reason=reason)
    try:
        ledger().reset_approval(
            cvr=customer.cvr,
            version_id=agreement.id,
            reason=reason,
            actor=acting_person(),
            approved_version=approval.approved_version,
        )
    except DomainError as refused:
        # Two clicks at once: the other one's reset may be this very one.
        again = ledger().approval(customer.cvr, agreement.id)
        if again is not None and _reset_already(again, reason):
            return _reset_done(agreement, customer)
        return page(reason=reason, error=str(refused))
    return _reset_done(agreement, customer)


def _reset_already(approval: Approval, reason: str) -> bool:
    """Whether the confirmation posted is the reset that happened last (by this person, of
    the approval version the form names, with its reason)."""
    try:
        invalidated = int(request.form.get("approved_version", ""))
    except ValueError:
        return False
    return approval.was_just_reset(
        invalidated_version=invalidated, reason=reason, actor=acting_person()
    )


def _reset_done(agreement: AgreementVersion, customer: Customer) -> Response:
    flash(
        _(
            "Godkendelsen af %(title)s version %(version)s for %(name)s er nulstillet. "
            "Kunden kan nu godkende igen.",
            title=agreement.title,
            version=agreement.version_label,
            name=customer.name,
        ),
        "success",
    )
    return redirect(url_for("staff.overview"))


# The joint management declaration


def _declaration_page(
    customer: Customer,
    *,
    countersign_error: str | None = None,
    sent_error: str | None = None,
    form: dict[str, str] | None = None,
) -> Any:
    return render_template(
        "staff/declaration.html",
        customer=customer,
        declaration=ledger().declaration(customer.cvr),
        countersign_error=countersign_error,
        sent_error=sent_error,
        form=form or {"sent_on": "", "reference": ""},
        latest=latest_sending_date().isoformat(),
    ), (400 if countersign_error or sent_error else 200)


@blueprint.get("/erklaeringer/<cvr>")
@staff_required
def declaration(cvr: str) -> Any:
    return _declaration_page(_customer(cvr))


@blueprint.get("/erklaeringer/<cvr>/afleveret.pdf")
@staff_required
def handed_in_document(cvr: str) -> Response:
    customer = _customer(cvr)
    found = ledger().declaration(customer.cvr)
    if found is None or found.handed_in_sha256 is None:
        abort(404)
    return send_document(found.handed_in_sha256, f"erklaering-{customer.cvr}.pdf")


@blueprint.get("/erklaeringer/<cvr>/medunderskrevet.pdf")
@staff_required
def countersigned_document(cvr: str) -> Response:
    customer = _customer(cvr)
    found = ledger().declaration(customer.cvr)
    if found is None or found.countersigned_sha256 is None:
        abort(404)
    return send_document(
        found.countersigned_sha256, f"erklaering-{customer.cvr}-medunderskrevet.pdf"
    )


@blueprint.post("/erklaeringer/<cvr>/medunderskriv")
@staff_required
def countersign(cvr: str) -> Any:
    customer = _customer(cvr)
    try:
        name, content = read_pdf(request.files.get("document"))
        ledger().countersign_declaration(
            cvr=customer.cvr, document=content, document_name=name, actor=acting_person()
        )
    except DomainError as problem:
        return _declaration_page(customer, countersign_error=str(problem))
    flash(_("Leverandørens medunderskrift er registreret."), "success")
    return redirect(url_for("staff.declaration", cvr=customer.cvr))


def _sent_on(text: str) -> datetime.date:
    try:
        return iso_date(text)
    except ValueError as problem:
        raise DomainError(str(problem)) from None


@blueprint.post("/erklaeringer/<cvr>/sendt")
@staff_required
def record_sent(cvr: str) -> Any:
    customer = _customer(cvr)
    form = {key: request.form.get(key, "").strip() for key in ("sent_on", "reference")}
    try:
        ledger().record_declaration_sent(
            cvr=customer.cvr,
            sent_on=_sent_on(form["sent_on"]),
            reference=form["reference"],
            actor=acting_person(),
        )
    except DomainError as problem:
        return _declaration_page(customer, sent_error=str(problem), form=form)
    flash(_("Afsendelsen til Digitaliseringsstyrelsen er registreret."), "success")
    return redirect(url_for("staff.declaration", cvr=customer.cvr))
