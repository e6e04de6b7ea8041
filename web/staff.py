"""Operator staff: customers, agreement versions, roles, approval resets, declaration steps.

Every change goes through the ledger with the logged-in person as its actor, and every form
runs it through `carry_out`: a form with a problem comes back with the problem in Danish and
status 400; a change that succeeds redirects (post/redirect/get) with a message, so a reload
never records it twice.
"""

import datetime
import re
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from ledger.application import latest_sending_date
from ledger.cosigning import QuorumLapse, quorum_lapse
from ledger.danish_time import danish_today
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
from ledger.identity import InvalidCVR, InvalidPersonUUID
from ledger.read_models import current_agreements, customer_statuses, receipt_seq
from web.auth import ledger
from web.roles import acting_person, staff_required
from web.signatory import send_document
from web.uploads import read_pdf

blueprint = Blueprint("staff", __name__, url_prefix="/drift")

# What the ledger refuses with a message a person can act on: every form answers it alike.
REFUSED = (DomainError, InvalidCVR, InvalidPersonUUID)
Outcome = TypeVar("Outcome")


def carry_out(
    command: Callable[[], Outcome],
    *,
    done: str | Callable[[Outcome], str],
    then: str,
    refused: Callable[[str], str],
) -> ResponseReturnValue:
    """Run a form's command: done, flash `done` (or what it says of the outcome) and redirect
    to `then`; refused, the form's page again from `refused` with the ledger's reason."""
    try:
        outcome = command()
    except REFUSED as problem:
        return refused_page(refused(str(problem)))
    return succeeded(done(outcome) if callable(done) else done, then)


def succeeded(message: str, then: str) -> ResponseReturnValue:
    """Post/redirect/get with the message: a reload shows the page, it records nothing."""
    flash(message, "success")
    return redirect(then)


def refused_page(page: str) -> ResponseReturnValue:
    """A form's page shown again with what was wrong in it: 400, for nothing was recorded."""
    return page, 400


def _form(*names: str) -> dict[str, str]:
    """The form's fields as typed, trimmed ("" for one not sent, as on a GET)."""
    return {name: request.form.get(name, "").strip() for name in names}


def _customer(cvr: str) -> Customer:
    try:
        return ledger().customer(cvr)
    except REFUSED:
        abort(404)


def _agreement(version_id: UUID) -> AgreementVersion:
    try:
        return ledger().agreement_version(version_id)
    except REFUSED:
        abort(404)


# The overview: what each customer lacks


@blueprint.get("/")
@staff_required
def overview() -> str:
    current = current_agreements(ledger().agreement_versions())
    statuses = customer_statuses(ledger(), current, today=danish_today())
    return render_template(
        "staff/overview.html",
        statuses=statuses,
        agreements=current,
        lacking=sum(1 for status in statuses if not status.complete),
        lapse=_quorum_lapse(),
    )


def _quorum_lapse() -> QuorumLapse | None:
    """The witness quorum's lapse when it has lasted longer than the grace the operator set
    (LEDGER_WITNESS_QUORUM_GRACE): history no quorum vouches for is what witnesses are there
    to prevent, so the operator sees it where they look every day."""
    grace = current_app.extensions["services"].settings.witness_quorum_grace
    return quorum_lapse(ledger().signed_log, grace)


# Customers


@blueprint.route("/kunder", methods=["GET", "POST"])
@staff_required
def customers() -> ResponseReturnValue:
    form = _form("cvr", "name")
    if request.method == "GET":
        return _customers_page(form)
    return carry_out(
        lambda: ledger().register_customer(
            cvr=form["cvr"], name=form["name"], actor=acting_person()
        ),
        done=lambda customer: _(
            "%(name)s (CVR %(cvr)s) er registreret som kunde.",
            name=customer.name,
            cvr=customer.cvr,
        ),
        then=url_for("staff.customers"),
        refused=lambda error: _customers_page(form, error),
    )


def _customers_page(form: dict[str, str], error: str | None = None) -> str:
    registered = sorted(ledger().customers(), key=lambda c: c.name)
    return render_template("staff/customers.html", customers=registered, form=form, error=error)


# Agreement versions


@blueprint.route("/aftaler", methods=["GET", "POST"])
@staff_required
def agreements() -> ResponseReturnValue:
    form = _form("title", "version_label")
    if request.method == "GET":
        return _agreements_page(form)

    def publish() -> AgreementVersion:
        name, content = read_pdf(request.files.get("document"))
        return ledger().publish_agreement(
            title=form["title"],
            version_label=form["version_label"],
            document=content,
            document_name=name,
            actor=acting_person(),
        )

    return carry_out(
        publish,
        done=lambda agreement: _(
            "%(title)s version %(version)s er offentliggjort.",
            title=agreement.title,
            version=agreement.version_label,
        ),
        then=url_for("staff.agreements"),
        refused=lambda error: _agreements_page(form, error),
    )


def _agreements_page(form: dict[str, str], error: str | None = None) -> str:
    versions = sorted(
        ledger().agreement_versions(), key=lambda a: (a.retired, a.title, a.version_label)
    )
    return render_template("staff/agreements.html", agreements=versions, form=form, error=error)


@blueprint.get("/aftaler/<uuid:version_id>/dokument")
@staff_required
def agreement_document(version_id: UUID) -> Response:
    agreement = _agreement(version_id)
    return send_document(agreement.document_sha256, agreement.document_name)


@blueprint.route("/aftaler/<uuid:version_id>/tilbagetraek", methods=["GET", "POST"])
@staff_required
def retire_agreement(version_id: UUID) -> ResponseReturnValue:
    """Retiring asks first: the page says what it does, the button does it."""
    agreement = _agreement(version_id)

    def page(error: str | None = None) -> str:
        return render_template("staff/retire.html", agreement=agreement, error=error)

    if request.method == "GET":
        return page()
    return carry_out(
        lambda: ledger().retire_agreement(agreement.id, actor=acting_person()),
        done=_(
            "%(title)s version %(version)s er trukket tilbage.",
            title=agreement.title,
            version=agreement.version_label,
        ),
        then=url_for("staff.agreements"),
        refused=page,
    )


# Roles

ROLE_NAMES = {"staff": lazy_gettext("Drift"), "auditor": lazy_gettext("Revisor")}
GRANT_FIELDS = ("person_uuid", "person_name", "role", "cvrs")
NO_GRANT = dict.fromkeys(GRANT_FIELDS, "")


@blueprint.route("/roller", methods=["GET", "POST"])
@staff_required
def roles() -> ResponseReturnValue:
    form = _form(*GRANT_FIELDS)
    if request.method == "GET":
        return _roles_page(form=form)
    return carry_out(
        lambda: ledger().grant_role(
            person_uuid=form["person_uuid"],
            person_name=form["person_name"],
            role=form["role"],
            cvrs=[cvr for cvr in re.split(r"[\s,;]+", form["cvrs"]) if cvr],
            actor=acting_person(),
        ),
        done=lambda assignment: _(
            "%(name)s har fået rollen %(role)s.",
            name=assignment.person_name,
            role=ROLE_NAMES[assignment.role],
        ),
        then=url_for("staff.roles"),
        refused=lambda error: _roles_page(form=form, error=error),
    )


def _roles_page(
    *, form: dict[str, str], error: str | None = None, revoke_error: str | None = None
) -> str:
    active = [a for a in ledger().role_assignments() if a.active]
    active.sort(key=lambda a: (a.role, a.person_name))
    return render_template(
        "staff/roles.html",
        assignments=active,
        role_names=ROLE_NAMES,
        form=form,
        error=error,
        revoke_error=revoke_error,
        actor=acting_person(),
    )


@blueprint.post("/roller/fratag")
@staff_required
def revoke_role() -> ResponseReturnValue:
    """The ledger refuses a staff member their own staff role (`RoleAssignment.revocable_by`)."""
    return carry_out(
        lambda: ledger().revoke_role(
            person_uuid=request.form.get("person_uuid", ""),
            role=request.form.get("role", ""),
            actor=acting_person(),
        ),
        done=lambda assignment: _(
            "%(name)s har ikke længere rollen %(role)s.",
            name=assignment.person_name,
            role=ROLE_NAMES[assignment.role],
        ),
        then=url_for("staff.roles"),
        refused=lambda error: _roles_page(form=NO_GRANT, revoke_error=error),
    )


# Resetting an approval


def _reason_problem(reason: str) -> str | None:
    try:
        checked_reset_reason(reason)
    except REFUSED as problem:
        return str(problem)
    return None


@blueprint.route("/godkendelser/<cvr>/<uuid:version_id>/nulstil", methods=["GET", "POST"])
@staff_required
def reset_approval(cvr: str, version_id: UUID) -> ResponseReturnValue:
    """Pick, give a reason, confirm: the first POST shows what will be recorded, the second
    (with `confirmed`) records it."""
    customer = _customer(cvr)
    agreement = _agreement(version_id)
    approval = ledger().approval(customer.cvr, agreement.id)
    if approval is None:
        abort(404)

    def page(*, confirming: bool = False, reason: str = "", error: str | None = None) -> str:
        return render_template(
            "staff/reset.html",
            customer=customer,
            agreement=agreement,
            approval=approval,
            confirming=confirming,
            reason=reason,
            error=error,
            receipt_seq=receipt_seq(ledger().signed_log, approval),
            shortest=RESET_REASON_LENGTH[0],
            longest=RESET_REASON_LENGTH[1],
        )

    if request.method == "GET":
        return page()
    reason = request.form.get("reason", "").strip()
    if request.form.get("edit") == "1":
        return page(reason=reason)
    confirmed = request.form.get("confirmed") == "1"
    done = _(
        "Godkendelsen af %(title)s version %(version)s for %(name)s er nulstillet. "
        "Kunden kan nu godkende igen.",
        title=agreement.title,
        version=agreement.version_label,
        name=customer.name,
    )
    if confirmed and _reset_already(approval, reason):
        # The same confirmation again (a double click): the first one's success.
        return succeeded(done, url_for("staff.overview"))
    if not approval.is_approved:
        return refused_page(page(error=_("Der er ingen gældende godkendelse at nulstille.")))
    problem = _reason_problem(reason)
    if problem:
        return refused_page(page(reason=reason, error=problem))
    # The approval shown is the one reset: not a newer one given while staff read the page.
    if request.form.get("approved_version") != str(approval.approved_version):
        return refused_page(
            page(
                reason=reason,
                error=_("Godkendelsen er ændret, siden du så den. Se den igen, før du nulstiller."),
            )
        )
    if not confirmed:
        return page(confirming=True, reason=reason)

    def reset() -> None:
        try:
            ledger().reset_approval(
                cvr=customer.cvr,
                version_id=agreement.id,
                reason=reason,
                actor=acting_person(),
                approved_version=approval.approved_version,
            )
        except REFUSED:
            # Two clicks at once: the other one's reset may be this very one.
            again = ledger().approval(customer.cvr, agreement.id)
            if again is None or not _reset_already(again, reason):
                raise

    return carry_out(
        reset,
        done=done,
        then=url_for("staff.overview"),
        refused=lambda error: page(reason=reason, error=error),
    )


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


# The joint management declaration


def _declaration_page(
    customer: Customer,
    *,
    countersign_error: str | None = None,
    sent_error: str | None = None,
    form: dict[str, str] | None = None,
) -> str:
    return render_template(
        "staff/declaration.html",
        customer=customer,
        declaration=ledger().declaration(customer.cvr),
        countersign_error=countersign_error,
        sent_error=sent_error,
        form=form or {"sent_on": "", "reference": ""},
        latest=latest_sending_date().isoformat(),
    )


@blueprint.get("/erklaeringer/<cvr>")
@staff_required
def declaration(cvr: str) -> str:
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
def countersign(cvr: str) -> ResponseReturnValue:
    customer = _customer(cvr)

    def countersign_declaration() -> Declaration:
        name, content = read_pdf(request.files.get("document"))
        return ledger().countersign_declaration(
            cvr=customer.cvr, document=content, document_name=name, actor=acting_person()
        )

    return carry_out(
        countersign_declaration,
        done=_("Leverandørens medunderskrift er registreret."),
        then=url_for("staff.declaration", cvr=customer.cvr),
        refused=lambda error: _declaration_page(customer, countersign_error=error),
    )


def _sent_on(text: str) -> datetime.date:
    try:
        return iso_date(text)
    except ValueError as problem:
        raise DomainError(str(problem)) from None


@blueprint.post("/erklaeringer/<cvr>/sendt")
@staff_required
def record_sent(cvr: str) -> ResponseReturnValue:
    customer = _customer(cvr)
    form = _form("sent_on", "reference")
    return carry_out(
        lambda: ledger().record_declaration_sent(
            cvr=customer.cvr,
            sent_on=_sent_on(form["sent_on"]),
            reference=form["reference"],
            actor=acting_person(),
        ),
        done=_("Afsendelsen til Digitaliseringsstyrelsen er registreret."),
        then=url_for("staff.declaration", cvr=customer.cvr),
        refused=lambda error: _declaration_page(customer, sent_error=error, form=form),
    )
