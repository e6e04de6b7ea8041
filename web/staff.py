"""Operator staff: customers, agreement versions, roles, approval resets, declaration steps.

Every change goes through the ledger with the logged-in person as its actor, and every form
runs it through `carry_out`: a form with a problem comes back with the problem in Danish and
status 400; a change that succeeds redirects (post/redirect/get) with a message, so a reload
never records it twice.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar
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
from markupsafe import Markup

from ledger.application import latest_sending_date
from ledger.cosigning import QuorumLapse, quorum_lapse
from ledger.danish_time import DANISH_TIME, danish_today
from ledger.domain import (
    RESET_REASON_LENGTH,
    AgreementVersion,
    Approval,
    Customer,
    Declaration,
    DomainError,
    RoleAssignment,
    checked_reset_reason,
    iso_date,
)
from ledger.evidence.leaf import rfc3339
from ledger.identity import InvalidCVR, InvalidPersonUUID
from ledger.read_models import (
    CUSTOMER,
    OPERATOR,
    CustomerStatus,
    agreement_states,
    current_agreements,
    danish_contains,
    declaration_steps,
    receipt_seq,
)
from ledger.search import MAX_PAGE, Query
from ledger.signed_log import Entry
from web.arguments import number_arg
from web.auth import event_index, ledger, migration_board
from web.display import describe
from web.notices import mail_status, told_by_mail
from web.roles import acting_person, staff_required
from web.signatory import send_document
from web.translation import gettext as _
from web.translation import lazy_gettext
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


# The overview: a matrix of customers and their steps, filtered and sorted

# What the overview shows (`vis`) and how it sorts (`sorter`), as the address names them.
SHOWN = {
    "alle": lazy_gettext("Alle kunder"),
    "os": lazy_gettext("Venter på os"),
    "kunden": lazy_gettext("Venter på kunden"),
    "intet": lazy_gettext("Intet udestående"),
}
SORTS = {
    "navn": lazy_gettext("Navn (alfabetisk)"),
    "ventetid": lazy_gettext("Længst ventetid først"),
    "cvr": lazy_gettext("CVR-nummer"),
}


def _choice(name: str, choices: dict[str, Any]) -> str:
    """A query parameter that names one of `choices`; the first one when it names none."""
    value = request.args.get(name, "")
    return value if value in choices else next(iter(choices))


def shown(statuses: list[CustomerStatus], *, show: str, text: str) -> list[CustomerStatus]:
    """The customers the overview lists: those waiting for `show`'s party (or with nothing
    outstanding), whose CVR number starts with `text` or whose name holds it as Danish
    reads letters ("århus" finds Aarhus; case does not matter)."""
    chosen = []
    for status in statuses:
        name, cvr = status.customer.name, status.customer.cvr
        if text and not cvr.startswith(text) and not danish_contains(name, text):
            continue
        if show == "os" and not status.waiting_for(OPERATOR):
            continue
        if show == "kunden" and not status.waiting_for(CUSTOMER):
            continue
        if show == "intet" and not status.complete:
            continue
        chosen.append(status)
    return chosen


def sorted_by(statuses: list[CustomerStatus], sort: str) -> list[CustomerStatus]:
    """By name in Danish alphabetical order, by CVR number, or the longest wait first
    (then by name); `statuses` come by name already."""
    if sort == "cvr":
        return sorted(statuses, key=lambda s: s.customer.cvr)
    if sort == "ventetid":
        return sorted(statuses, key=lambda s: -1 if s.days_waiting is None else -s.days_waiting)
    return statuses


class Rows(Generic[Outcome]):
    """A matrix's rows (their HTML, or what else a row takes work to find), each made once
    for each state of its customer and kept until that changes: the migration board hands
    back the same status object while a customer's facts and the day stay the same
    (`MigrationBoard.customer_statuses`, `matrix`), so a page of 98 customers writes only the
    rows whose customer changed, not some thousand cells. Kept per portal process
    (`rows_of`), derived only from the board's statuses."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[object, str, Outcome]] = {}

    def row(self, key: str, state: object, made_for: str, make: Callable[[], Outcome]) -> Outcome:
        """The row of `key` in `state` (the same object, `is`), as made for the request's
        addresses (`made_for`); made by `make` when it is not known yet."""
        known = self._rows.get(key)
        if known is not None and known[0] is state and known[1] == made_for:
            return known[2]
        made = make()
        self._rows[key] = (state, made_for, made)
        return made


def rows_of(page: str) -> Rows[Any]:
    """The portal process's rows of one page's matrix (or of what else the page keeps)."""
    kept: dict[str, Rows[Any]] = current_app.extensions.setdefault("staff_rows", {})
    return kept.setdefault(page, Rows())


def row_macro(template: str) -> Callable[..., Markup]:
    """The `row` macro of a row template (written with the request's url_for and words)."""
    macro: Callable[..., Markup] = current_app.jinja_env.get_template(template).module.row  # type: ignore[attr-defined]
    return macro


@blueprint.get("/")
@staff_required
def overview() -> str:
    today = danish_today()
    current = current_agreements(ledger().agreement_versions())
    statuses = migration_board().customer_statuses(current, today=today)
    show, sort = _choice("vis", SHOWN), _choice("sorter", SORTS)
    text = request.args.get("soeg", "").strip()[:100]
    listed = sorted_by(shown(statuses, show=show, text=text), sort)
    rows, write = rows_of("overview"), row_macro("staff/_overview_row.html")
    return render_template(
        "staff/overview.html",
        statuses=statuses,
        listed=listed,
        rows={
            status.customer.cvr: rows.row(
                status.customer.cvr,
                status,
                request.script_root,
                partial(write, status, current),
            )
            for status in listed
        },
        agreements=current,
        lacking=sum(1 for status in statuses if not status.complete),
        waiting_for_us=sum(1 for status in statuses if status.waiting_for(OPERATOR)),
        waiting_for_customer=sum(1 for status in statuses if status.waiting_for(CUSTOMER)),
        show=show,
        sort=sort,
        text=text,
        shown_choices=SHOWN,
        sort_choices=SORTS,
        today=today,
        lapse=_quorum_lapse(),
        mail=mail_status(),
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
    registered = migration_board().customers()
    return render_template("staff/customers.html", customers=registered, form=form, error=error)


CUSTOMER_HISTORY_PAGE = 50


@blueprint.get("/kunder/<cvr>")
@staff_required
def customer(cvr: str) -> str:
    return _customer_page(_customer(cvr))


def _customer_page(customer: Customer, *, name: str | None = None, error: str | None = None) -> str:
    """One customer: its approvals, its declaration's steps, its name and its history
    (newest first, a page at a time, from the search index)."""
    page = number_arg("side", "Sidetallet", default=1, lowest=1, highest=MAX_PAGE)
    found = event_index().search(
        Query(cvr=customer.cvr), page=page, page_size=CUSTOMER_HISTORY_PAGE
    )
    declaration = ledger().declaration(customer.cvr)
    states = agreement_states(ledger(), customer.cvr)
    names = {
        str(a.id): _("%(title)s version %(version)s", title=a.title, version=a.version_label)
        for a in ledger().agreement_versions()
    }
    return render_template(
        "staff/customer.html",
        customer=customer,
        states=states,
        receipts={
            state.agreement.id: receipt_seq(ledger().signed_log, state.approval) for state in states
        },
        declaration=declaration,
        steps=declaration_steps(customer, declaration, danish_today()),
        entries=[(entry, describe(entry, names, None)) for entry in found.entries],
        page=found.page,
        more=found.has_more,
        name=customer.name if name is None else name,
        error=error,
    )


@blueprint.post("/kunder/<cvr>/navn")
@staff_required
def rename_customer(cvr: str) -> ResponseReturnValue:
    """Correct a customer's name: a new event; the history keeps the name it replaces."""
    found = _customer(cvr)
    name = _form("name")["name"]
    return carry_out(
        lambda: ledger().rename_customer(cvr=found.cvr, name=name, actor=acting_person()),
        done=lambda renamed: _(
            "Kundens navn er rettet fra %(old)s til %(new)s.",
            old=renamed.former_names[-1],
            new=renamed.name,
        ),
        then=url_for("staff.customer", cvr=found.cvr),
        refused=lambda error: _customer_page(found, name=name, error=error),
    )


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


@blueprint.route("/roller", methods=["GET", "POST"])
@staff_required
def roles() -> ResponseReturnValue:
    form = _form(*GRANT_FIELDS)
    if request.method == "GET":
        return _roles_page(form=form)

    def grant() -> RoleAssignment:
        _checked_role(form)
        return ledger().grant_role(
            person_uuid=form["person_uuid"],
            person_name=form["person_name"],
            role=form["role"],
            cvrs=[cvr for cvr in re.split(r"[\s,;]+", form["cvrs"]) if cvr],
            actor=acting_person(),
        )

    return carry_out(
        grant,
        done=lambda assignment: _(
            "%(name)s har fået rollen %(role)s.",
            name=assignment.person_name,
            role=ROLE_NAMES[assignment.role],
        ),
        then=url_for("staff.roles"),
        refused=lambda error: _roles_page(form=form, error=error),
    )


def _checked_role(form: dict[str, str]) -> None:
    """The role chosen must be one of the portal's; the form preselects none, so that no
    one grants the staff role (which may do everything here) by not choosing."""
    if form["role"] not in ROLE_NAMES:
        raise DomainError(_("Vælg rollen Drift eller Revisor."))


def _roles_page(*, form: dict[str, str], error: str | None = None) -> str:
    # The roles staff grant; a municipality's colleagues are its signatory's (ledger.migration).
    active = [a for a in ledger().role_assignments() if a.active and a.role in ROLE_NAMES]
    active.sort(key=lambda a: (a.role, a.person_name))
    return render_template(
        "staff/roles.html",
        assignments=active,
        role_names=ROLE_NAMES,
        form=form,
        error=error,
        actor=acting_person(),
    )


def _assignment(person_uuid: str, role: str) -> RoleAssignment | None:
    """The active assignment of `role` to the person, as the roles page lists it."""
    return next(
        (
            a
            for a in ledger().role_assignments()
            if a.active
            and a.role == role
            and role in ROLE_NAMES
            and a.person_uuid == person_uuid.strip().lower()
        ),
        None,
    )


@blueprint.route("/roller/fratag", methods=["GET", "POST"])
@staff_required
def revoke_role() -> ResponseReturnValue:
    """Revoking asks first: the page names the person and the role and asks why; the
    reason is recorded in the event. The ledger refuses a staff member their own staff
    role (`RoleAssignment.revocable_by`)."""
    source = request.args if request.method == "GET" else request.form
    person_uuid, role = source.get("person_uuid", ""), source.get("role", "")
    reason = request.form.get("reason", "").strip()

    def page(error: str | None = None) -> str:
        return render_template(
            "staff/revoke.html",
            assignment=_assignment(person_uuid, role),
            person_uuid=person_uuid,
            role=role,
            role_names=ROLE_NAMES,
            reason=reason,
            error=error,
            actor=acting_person(),
            shortest=RESET_REASON_LENGTH[0],
            longest=RESET_REASON_LENGTH[1],
        )

    if request.method == "GET":
        if _assignment(person_uuid, role) is None:
            abort(404)
        return page()
    return carry_out(
        lambda: ledger().revoke_role(
            person_uuid=person_uuid, role=role, actor=acting_person(), reason=reason
        ),
        done=lambda assignment: _(
            "%(name)s har ikke længere rollen %(role)s.",
            name=assignment.person_name,
            role=ROLE_NAMES[assignment.role],
        ),
        then=url_for("staff.roles"),
        refused=page,
    )


# Refused logins, looked up by support

# What each refusal code means, for staff who look a refused login up (support): the
# person saw the words of `saml.refusals.Refusal`; staff read what went wrong, in Danish.
REFUSAL_WORDS = {
    "loa-too-low": "Sikringsniveauet var for lavt (Lav; godkendelser kræver Betydelig eller Høj)",
    "private-identity": "Personen loggede ind med sit private MitID, ikke en erhvervsidentitet",
    "missing-cvr": "Loginnet indeholdt ikke et gyldigt CVR-nummer for organisationen",
    "spec-version": "Loginnet fulgte ikke den version af OIOSAML, portalen kræver",
    "identity-mismatch": "Identiteten i loginnet hang ikke sammen (fx to forskellige personer)",
    "unusable-identity": "Personens eller organisationens navn manglede, var for langt eller "
    "havde tegn, portalen ikke kan gemme",
    "oversize": "Svaret fra NemLog-in var for stort",
    "malformed-base64": "Svaret fra NemLog-in kunne ikke afkodes",
    "malformed-xml": "Svaret fra NemLog-in var ikke gyldig XML",
    "dtd-forbidden": "Svaret indeholdt en DTD, som ikke er tilladt",
    "not-a-response": "Det indsendte var ikke et login-svar",
    "unsolicited": "Login-svaret hørte ikke til et login startet fra denne browser",
    "in-response-to-mismatch": "Login-svaret hørte til et andet login end det, browseren startede",
    "request-reused": "Login-svaret hørte til et login, der allerede var brugt",
    "replayed": "Login-svaret var allerede brugt én gang",
    "wrong-destination": "Login-svaret var sendt til en anden adresse end portalens",
    "wrong-issuer": "Login-svaret kom ikke fra den IdP, portalen stoler på",
    "wrong-audience": "Login-svaret var ikke til denne portal",
    "wrong-recipient": "Login-svaret var til en anden modtager end portalen",
    "wrong-subject-confirmation": "Login-svarets bekræftelse af personen kunne ikke bruges",
    "nameid-format": "Login-svaret navngav personen i et format, portalen ikke bruger",
    "wrong-sp-name-qualifier": "Login-svaret navngav personen for en anden tjeneste",
    "idp-status": "Login blev afbrudt eller afvist hos NemLog-in",
    "unencrypted-assertion": "Loginnet var ikke krypteret",
    "assertion-count": "Login-svaret havde ikke præcis ét login",
    "weak-encryption": "Loginnet var krypteret med en algoritme, portalen ikke godtager",
    "weak-algorithm": "Loginnet var signeret med en algoritme, portalen ikke godtager",
    "forbidden-transform": "Signaturen brugte en transformation, som ikke er tilladt",
    "decryption-failed": "Loginnet kunne ikke dekrypteres",
    "duplicate-id": "Login-svaret havde to elementer med samme ID",
    "comment-in-assertion": "Loginnet indeholdt en XML-kommentar, som ikke er tilladt",
    "unsigned-assertion": "Loginnet var ikke signeret",
    "bad-signature": "Signaturen på loginnet kunne ikke verificeres",
    "schema-invalid": "Login-svaret fulgte ikke SAML-skemaet",
    "expired": "Login-svaret var udløbet, da det nåede frem",
    "not-yet-valid": "Login-svaret var endnu ikke gyldigt (et ur går måske forkert)",
    "issued-too-long-ago": "Loginnet var udstedt for længe siden",
    "assertion-lifetime": "Loginnet var gyldigt i længere tid, end portalen tillader",
    "invalid-response": "Login-svaret kunne ikke godkendes",
}


def refusal_words(code: str) -> str:
    """A refusal's reason in Danish words (an unknown code as it is, in quotes)."""
    return REFUSAL_WORDS.get(code) or _("ukendt årsag »%(code)s«", code=code)


# Support looks a refused login up by the time the person gives, within this many minutes
# either side: people read the time off their own clock and round it.
LOOKUP_MINUTES = 5
# A refusal without a verified identity is counted per interval, and the interval's summary
# is logged once it has closed (at the next refusal, or when `ledger serve` summarizes):
# summaries logged up to this long after the time asked for are read.
SUMMARY_DELAY = datetime.timedelta(hours=2)
MAX_LISTED = 200  # refusals shown for one window; a burst beyond it is an attack, not support
_DANISH_MOMENT = re.compile(
    r"(?:(?P<d>\d{1,2})[-./](?P<m>\d{1,2})[-./](?P<y>\d{4})|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2}))"
    r"(?:\s+|\s*,\s*|T)(?:kl\.?\s*)?(?P<h>\d{1,2})[.:](?P<min>\d{2})(?:[.:](?P<s>\d{2}))?",
    re.IGNORECASE,
)


def danish_moment(text: str) -> datetime.datetime:
    """A moment as a Dane writes it ("1-12-2026 09.07", "1.12.2026 kl. 9:07", or
    "2026-12-01 09:07"), in Danish local time; ValueError in Danish for anything else."""
    found = _DANISH_MOMENT.fullmatch(text.strip())
    if found is None:
        raise ValueError(_("Skriv tidspunktet som dato og klokkeslæt, fx 1-12-2026 09.07."))
    parts = found.groupdict()
    year, month, day = (
        (parts["y"], parts["m"], parts["d"])
        if parts["y"]
        else (parts["iy"], parts["im"], parts["id"])
    )
    try:
        return datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(parts["h"]),
            int(parts["min"]),
            int(parts["s"] or 0),
            tzinfo=DANISH_TIME,
        )
    except ValueError:
        raise ValueError(
            _("Tidspunktet %(text)s findes ikke; skriv fx 1-12-2026 09.07.", text=text.strip())
        ) from None


@dataclass(frozen=True)
class RefusalLookup:
    """The refused logins around a moment: those refused one by one (a verified identity
    our policy refused) and the counted intervals that overlap the window."""

    moment: datetime.datetime
    start: datetime.datetime
    end: datetime.datetime
    rejected: list[Entry]
    counted: list[Entry]


def look_up_refusals(moment: datetime.datetime) -> RefusalLookup:
    """The refusals within LOOKUP_MINUTES of `moment`, read through the search index by
    time, so the lookup reads only the window's events however long the log is."""
    start = moment - datetime.timedelta(minutes=LOOKUP_MINUTES)
    end = moment + datetime.timedelta(minutes=LOOKUP_MINUTES)
    since, until = rfc3339(start.astimezone(datetime.UTC)), rfc3339(end.astimezone(datetime.UTC))
    rejected = event_index().search(
        Query(event_type="LoginRejected", since=since, until=until), page_size=MAX_LISTED
    )
    later = rfc3339((end + SUMMARY_DELAY).astimezone(datetime.UTC))
    summaries = event_index().search(
        Query(event_type="LoginRefusalsCounted", since=since, until=later),
        page_size=MAX_LISTED,
    )
    counted = [entry for entry in summaries.entries if _overlaps(entry.event, start, end)]
    return RefusalLookup(
        moment, start, end, sorted(rejected.entries, key=lambda e: e.seq), counted[::-1]
    )


def _overlaps(summary: Any, start: datetime.datetime, end: datetime.datetime) -> bool:
    """Whether a `LoginRefusalsCounted` event's interval overlaps [start, end)."""
    return _moment(summary.interval_start) < end and _moment(summary.interval_end) > start


def _moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


@blueprint.get("/afviste-login")
@staff_required
def refused_logins() -> ResponseReturnValue:
    """Support's lookup: the person says when their login was refused; staff see what was
    refused around then, and why, in words."""
    text = request.args.get("tidspunkt", "").strip()[:40]
    lookup, error = None, None
    if text:
        try:
            lookup = look_up_refusals(danish_moment(text))
        except ValueError as problem:
            error = str(problem)
    page = render_template(
        "staff/refusals.html",
        text=text,
        lookup=lookup,
        error=error,
        minutes=LOOKUP_MINUTES,
        interval=ledger().settings.login_refusal_interval_seconds,
        customers={c.cvr: c.name for c in migration_board().customers()},
        refusal_words=refusal_words,
    )
    return (page, 400) if error else page


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
    told = told_by_mail(customer.cvr)
    if told:
        done = f"{done} {told}"
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
