"""The municipality's side of its move to the Full Service IdP: its checklist (what is done,
by whom and when, what is next and what it blocks, and whether the switch may be scheduled),
the tasks the plan gives the municipality, recorded here by the municipality itself, and
the colleague role its signatory grants for the technical tasks.

Everyone logged in for a registered customer's CVR sees that CVR's checklist, and only that
one. A colleague (the role `colleague` for the CVR) records tasks as the signatory does, but
does not approve and does not grant the role on. Every rule about what may be recorded when
is the domain's (`ledger.migration`); this module turns forms into its commands and shows
its Danish refusals beside the form, with what was typed kept.
"""

import datetime
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ledger import migration
from ledger.danish_time import danish_today
from ledger.domain import (
    RESET_REASON_LENGTH,
    DomainError,
    RoleAssignment,
    colleague_grant_statement,
)
from ledger.migration import MigrationStatus
from web.audit import danish_date
from web.auth import ledger, migration_board
from web.migration_display import downtime_text, phases, seqs_of, task_views
from web.roles import acting_person, is_colleague_here, signatory_customer, signatory_required
from web.translation import gettext as _

blueprint = Blueprint("municipality", __name__, url_prefix="/migrering")

# The tasks the municipality records here, each with its form's fields.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "early-password-policy": ("users_told_on",),
    "mail-templates": ("decision", "note"),
    "password-policy": ("minimum_length", "ad_matches", "note"),
    "terms": ("outcome", "note"),
}
# The switch-day steps the municipality may record itself, at the moment it presses.
OWN_STEPS = tuple(
    key
    for key in migration.SWITCH_STEPS
    if migration.MUNICIPALITY in migration.task(key).recorded_by
)
REASON_FIELD = "reason"
YES_NO = {"ja": True, "nej": False}


def _cvr() -> str:
    customer = signatory_customer()
    assert customer is not None, "signatory_required admits only a registered customer's"
    return str(customer.cvr)


def _status() -> MigrationStatus:
    return migration_board().status(_cvr(), today=danish_today())


def _checklist(
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> ResponseReturnValue:
    """The checklist; after a refused form, with the refusal beside that task's form and the
    form filled in as it was sent (400: nothing was recorded)."""
    status = _status()
    log = ledger().signed_log
    entries = {entry.seq: entry for entry in log.entries_at(seqs_of(status))}
    views = task_views(status, entries)
    page = render_template(
        "signatory/migration.html",
        customer=signatory_customer(),
        status=status,
        phases=phases(views),
        views={view.key: view for view in views},
        next_tasks=[t for t in status.next_tasks if t.waiting_for == migration.MUNICIPALITY],
        waiting_on_supplier=[t for t in status.next_tasks if t.waiting_for == migration.OPERATOR],
        downtime=downtime_text(status),
        task_fields=TASK_FIELDS,
        own_steps=OWN_STEPS,
        errors=errors or {},
        typed=typed or {},
        colleague=is_colleague_here(),
        reason_length=RESET_REASON_LENGTH,
        pupils=migration.PUPILS,
        mail_decisions=migration.MAIL_DECISIONS,
        terms_outcomes=migration.TERMS_OUTCOMES,
        minimum_length=migration.MINIMUM_PASSWORD_LENGTH,
        task_title=lambda key: migration.task(key).title,
        blocked_by_full_service=migration.BLOCKED_BY_FULL_SERVICE,
    )
    return page, status_code


@blueprint.get("/")
@signatory_required
def checklist() -> ResponseReturnValue:
    return _checklist()


def _typed(names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.form.get(name, "").strip() for name in names}


def _command(key: str, typed: dict[str, str]) -> Callable[[], object]:
    """The ledger command that records task `key` from the form as typed; ValueError (in
    Danish) for a field that cannot be read as what it must be."""
    cvr, actor, app = _cvr(), acting_person(), ledger()
    note = typed.get("note") or None
    if key == "early-password-policy":
        if not typed["users_told_on"]:
            raise ValueError(_("Skriv datoen, brugerne fik besked, fx 1-12-2026."))
        told = _date(typed["users_told_on"], _("Datoen, brugerne fik besked,"))
        return lambda: app.announce_early_password_policy(cvr=cvr, users_told_on=told, actor=actor)
    if key == "mail-templates":
        return lambda: app.review_mail_templates(
            cvr=cvr, decision=typed["decision"], note=note, actor=actor
        )
    if key == "password-policy":
        length = _length(typed["minimum_length"])
        if typed["ad_matches"] not in YES_NO:
            raise ValueError(_("Svar ja eller nej: matcher kodeordspolitikken i AD?"))
        matches = YES_NO[typed["ad_matches"]]
        return lambda: app.review_password_policy(
            cvr=cvr, minimum_length=length, ad_matches=matches, note=note, actor=actor
        )
    return lambda: app.review_terms(cvr=cvr, outcome=typed["outcome"], note=note, actor=actor)


def _date(text: str, label: str) -> datetime.date:
    try:
        return danish_date(text)
    except ValueError:
        raise ValueError(
            _(
                "%(label)s skal være en dato som 1-12-2026, 1.12.2026 eller 2026-12-01.",
                label=label,
            )
        ) from None


def _length(text: str) -> int:
    if not text:
        raise ValueError(_("Skriv kodeordenes mindste længde i tegn, fx 15."))
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        raise ValueError(_("Kodeordenes mindste længde skal være et heltal, fx 15."))
    return int(text)


def _record(key: str, run: Callable[[], object], done: str) -> ResponseReturnValue:
    """Carry out a task's form: done, back to the checklist with what happened (post/
    redirect/get); refused, the checklist again with why beside the task's form and the form
    as it was typed (400: nothing was recorded)."""
    typed = {name: value.strip() for name, value in request.form.items() if name != "csrf_token"}
    try:
        run()
    except (DomainError, ValueError) as problem:
        return _checklist(errors={key: str(problem)}, typed={key: typed}, status_code=400)
    flash(done, "success")
    return redirect(url_for("municipality.checklist") + f"#opgave-{key}")


@blueprint.post("/opgaver/<key>")
@signatory_required
def record_task(key: str) -> ResponseReturnValue:
    """A task of the plan the municipality records, with its answers."""
    if key not in TASK_FIELDS:
        abort(404)
    typed = _typed(TASK_FIELDS[key])
    return _record(
        key,
        lambda: _command(key, typed)(),
        _("Opgaven »%(title)s« er registreret.", title=migration.task(key).title),
    )


@blueprint.post("/opgaver/<key>/ikke-relevant")
@signatory_required
def not_relevant(key: str) -> ResponseReturnValue:
    """A task marked not relevant, with the reason why (the domain says which tasks may be)."""
    if key not in TASK_FIELDS:
        abort(404)
    reason = request.form.get(REASON_FIELD, "").strip()
    cvr, actor = _cvr(), acting_person()
    return _record(
        key,
        lambda: ledger().mark_task_not_relevant(cvr=cvr, task=key, reason=reason, actor=actor),
        _("Opgaven »%(title)s« er markeret som ikke relevant.", title=migration.task(key).title),
    )


@blueprint.post("/skiftedag/<step>")
@signatory_required
def record_step(step: str) -> ResponseReturnValue:
    """A switch-day step the municipality did itself, recorded at the moment it says so."""
    if step not in OWN_STEPS:
        abort(404)
    cvr, actor = _cvr(), acting_person()
    return _record(
        step,
        lambda: ledger().record_switch_step(cvr=cvr, step=step, actor=actor),
        _("Trinet »%(title)s« er registreret nu.", title=migration.task(step).title),
    )


# Colleagues


def _signatory_only() -> None:
    """The colleague role is granted and revoked by the municipality's signatory, never by a
    colleague (who would otherwise hand the role on)."""
    if is_colleague_here():
        abort(403, _("Kun kommunens tegningsberettigede kan give og fratage rollen Kollega."))


# The grant form's checkbox: ticked, the person confirms the statement that they may sign.
CONFIRMATION_FIELD = "bekraeft"


def _statement() -> str:
    return colleague_grant_statement(_customer_name())


def _login_signing_basis() -> list[str]:
    """The basis of the person's signing authority as their login said it (the statement
    ticked, NemLog-in's authorizedToRepresent naming the CVR, the MitID Erhverv privilege
    named by LEDGER_SIGNING_PRIVILEGE), as Godkend records it."""
    identity = session.get("identity", {})
    wanted = ledger().settings.signing_privilege
    return migration.signing_basis(
        _cvr(),
        statement_confirmed=True,
        authorized_to_represent=identity.get("authorized_to_represent", ()),
        privileges=[p for p in identity.get("privileges", ()) if p == wanted],
    )


def _colleagues_page(
    *, form: dict[str, str] | None = None, error: str | None = None, status_code: int = 200
) -> ResponseReturnValue:
    colleagues = sorted(ledger().colleagues_of(_cvr()), key=lambda a: a.person_name)
    page = render_template(
        "signatory/colleagues.html",
        customer=signatory_customer(),
        colleagues=colleagues,
        form=form or {"person_uuid": "", "person_name": ""},
        error=error,
        colleague=is_colleague_here(),
        statement=_statement(),
        confirmation_field=CONFIRMATION_FIELD,
    )
    return page, status_code


@blueprint.route("/kolleger", methods=["GET", "POST"])
@signatory_required
def colleagues() -> ResponseReturnValue:
    if request.method == "GET":
        return _colleagues_page()
    _signatory_only()
    form = _typed(("person_uuid", "person_name"))
    confirmed = request.form.get(CONFIRMATION_FIELD) == "ja"
    try:
        granted = ledger().grant_colleague(
            cvr=_cvr(),
            person_uuid=form["person_uuid"],
            person_name=form["person_name"],
            actor=acting_person(),
            confirmed_statement=_statement() if confirmed else None,
            signing_basis=_login_signing_basis() if confirmed else None,
        )
    except DomainError as problem:
        return _colleagues_page(form=form, error=str(problem), status_code=400)
    flash(
        _(
            "%(name)s har fået rollen Kollega for %(org)s og kan nu registrere kommunens "
            "opgaver til skiftet. Godkendelsen af aftalen er stadig din.",
            name=granted.person_name,
            org=_customer_name(),
        ),
        "success",
    )
    return redirect(url_for("municipality.colleagues"))


def _customer_name() -> str:
    customer = signatory_customer()
    return str(customer.name) if customer is not None else ""


def _colleague(person_uuid: str) -> RoleAssignment | None:
    wanted = person_uuid.strip().lower().removeprefix("urn:uuid:")
    return next(
        (a for a in ledger().colleagues_of(_cvr()) if a.person_uuid == wanted),
        None,
    )


@blueprint.route("/kolleger/fratag", methods=["GET", "POST"])
@signatory_required
def revoke_colleague() -> ResponseReturnValue:
    """Revoking asks first, naming the person, and asks why; the reason is recorded."""
    _signatory_only()
    source = request.args if request.method == "GET" else request.form
    person_uuid = source.get("person_uuid", "").strip()
    found = _colleague(person_uuid)
    if found is None:
        abort(404)
    reason = request.form.get(REASON_FIELD, "").strip()

    def page(error: str | None = None, status_code: int = 200) -> ResponseReturnValue:
        return render_template(
            "signatory/revoke_colleague.html",
            assignment=found,
            reason=reason,
            error=error,
            shortest=RESET_REASON_LENGTH[0],
            longest=RESET_REASON_LENGTH[1],
        ), status_code

    if request.method == "GET":
        return page()
    try:
        ledger().revoke_colleague(
            cvr=_cvr(), person_uuid=found.person_uuid, actor=acting_person(), reason=reason
        )
    except DomainError as problem:
        return page(str(problem), 400)
    flash(
        _("%(name)s har ikke længere rollen Kollega.", name=found.person_name),
        "success",
    )
    return redirect(url_for("municipality.colleagues"))


@blueprint.app_context_processor
def _migration_menu() -> dict[str, Any]:
    """Whether the person is a colleague of the CVR they are logged in for (the agreement page
    then says that Godkend is the signatory's)."""
    return {"is_colleague_here": is_colleague_here}
