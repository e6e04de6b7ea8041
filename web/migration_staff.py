"""Staff's side of the migration to Full Service: the matrix of customers and the plan's
tasks, each municipality's tasks with the forms for those staff record, the switch day's
runbook filled in live during the meeting, and the approvals without a sign of signing
authority that staff check before the switch.

What the pages show is read from the migration board (`ledger.migration_board`), the
projection of the migration's events, never by reading the log; what staff record goes
through the ledger's commands (`LedgerApp`), which hold every rule and its Danish message.
Every form runs through `web.staff.carry_out`: refused, the page again with the reason and
what was typed (400); done, post/redirect/get with a message.
"""

import datetime
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from ledger import migration
from ledger.danish_time import DANISH_TIME, danish_today
from ledger.domain import DomainError, iso_date, whole_number
from ledger.migration import MigrationStatus, TaskStatus
from ledger.search import Query
from ledger.signed_log import Entry
from web.auth import event_index, ledger
from web.auth import migration_board as board
from web.clock_times import clock, clock_minute, minutes_text, typed_moment
from web.display import day
from web.migration_display import evidence
from web.roles import acting_person, staff_required
from web.signatory import send_document
from web.staff import REFUSED, _customer, _form, carry_out, row_macro, rows_of
from web.translation import gettext as _
from web.uploads import read_pdf

blueprint = Blueprint("migration_staff", __name__, url_prefix="/drift")
blueprint.add_app_template_filter(clock, "clock")
blueprint.add_app_template_filter(clock_minute, "clock_minute")

# The matrix's column headings: a word or two for each task of the plan (the full title is
# in the heading's abbr and in each cell's label on a phone), with a soft hyphen where a
# long word may break in its narrow column.
SHORT_TITLES = {
    "operating-agreement": "Drifts\u00adaftale",
    "approval": "God\u00adkendelse",
    "declaration": "Erklæring",
    "early-password-policy": "Tidligt skift til 15 tegn",
    "full-service": "Full Service slået til",
    "mail-templates": "Mail\u00adskabeloner",
    "password-policy": "Kodeords\u00adpolitik",
    "terms": "Vilkår",
    "switch-scheduled": "Skifte\u00addato aftalt",
}
# What the matrix shows (`vis`), as the address names them: the domain's filters.
SHOWN = {
    "alle": "Alle kunder",
    "klar-til-skift": "Klar til skift",
    "venter-paa-kunden": "Venter på kunden",
    "venter-paa-os": "Venter på os",
}
# Who records a task, as staff read it.
RECORDED_BY = {
    frozenset({migration.MUNICIPALITY}): "Kommunen registrerer opgaven",
    frozenset({migration.OPERATOR}): "Driften registrerer opgaven",
    frozenset({migration.MUNICIPALITY, migration.OPERATOR}): "Kommunen og driften",
}
# Who does each step of the switch day, as the plan says (staff record them all in the meeting).
STEP_DONE_BY = {
    "idp-removed": "Kommunen fjerner OS2faktor som IdP i sin MitID Erhverv-portal. Der kan "
    "gå 5-10 minutter, før den forsvinder som loginmulighed.",
    "idp-created": "Driften opretter OS2faktor som IdP i leverandørens MitID Erhverv-portal, "
    "med kommunens CVR-nummer som juridisk organisation.",
    "invitation-accepted": "Kommunen godkender invitationen i sin MitID Erhverv-portal.",
    "logins-verified": "Efter 5-10 minutter tester kommunen, at brugerne kan logge ind igen. "
    "Mødet slutter her.",
}
# The facts of a task's event shown beside the board's own (which keeps nothing personal).
EVENT_FACTS = frozenset({"pupils_set_up_by", "on_word_of"})
SCHEDULE_FIELDS = ("switch_on", "meeting_at", "service_window_minutes")
FULL_SERVICE_FIELDS = ("pupils", "pupils_set_up_by", "note")
AGREEMENT_FIELDS = ("signed_on",)
CHECK_NOTE_MAX = 500


def _settled_by(status: MigrationStatus) -> dict[str, Entry]:
    """The log's event that settles each task, by task key (who recorded it, and its facts
    the board does not keep, such as the name of who set the pupils' policy up)."""
    found: dict[str, Entry] = board().entries(status)
    return found


def _with_event_facts(task: TaskStatus, entry: Entry | None) -> TaskStatus:
    """The task with the facts of its event that the board leaves out (personal ones)."""
    if entry is None:
        return task
    facts = {k: v for k, v in entry.facts().items() if k in EVENT_FACTS}
    return replace(task, facts=facts | dict(task.facts or {}))


def _now() -> datetime.datetime:
    return datetime.datetime.now(DANISH_TIME)


# The matrix


class Words:
    """The matrix's words, looked up in the translations once a page rather than in each of
    its thousand cells (each lookup asks Flask-Babel for the request's locale), and its days
    written once each."""

    def __init__(self) -> None:
        self.done = _("Udført")
        self.not_relevant = _("Ikke relevant")
        self.on_their_word = _("oplyst af kommunen")  # marked by staff on its word
        self.waiting = _("Afventer")
        self.on_us = _("Venter på os")
        self.on_customer = _("Venter på kunden")
        self.switched = _("Skiftet")
        self.not_planned = _("Ikke planlagt")
        self.optional = _("Frivillig")
        self.reopened = _("Forudsæt\u00adning mangler")  # soft hyphen: a narrow column
        self.today = _("i dag")
        self.tomorrow = _("i morgen")
        self._days: dict[datetime.date, str] = {}
        self._written: dict[tuple[str, int], str] = {}

    def day(self, value: datetime.date) -> str:
        if value not in self._days:
            self._days[value] = day(value)
        return self._days[value]

    def due(self, value: datetime.date, *, overdue: bool) -> str:
        written = self.day(value)
        return (
            _("fristen var %(day)s", day=written) if overdue else _("senest %(day)s", day=written)
        )

    def in_days(self, days: int) -> str:
        if days == 0:
            return self.today
        if days == 1:
            return self.tomorrow
        return self._once(("in", days), lambda: _("om %(days)s dage", days=days))

    def waited(self, days: int) -> str:
        return self._once(
            ("waited", days), lambda: _("1 dag") if days == 1 else _("%(days)s dage", days=days)
        )

    def downtime(self, minutes: int) -> str:
        return self._once(
            ("down", minutes), lambda: _("nedetid %(text)s", text=minutes_text(minutes))
        )

    def _once(self, key: tuple[str, int], write: Any) -> str:
        if key not in self._written:
            self._written[key] = write()
        return self._written[key]


@dataclass(frozen=True)
class Cell:
    """One task of one municipality as the matrix (and the municipality's page) shows it:
    its state in a word with the word's colour (`css`), and under it its day, due date or
    blockers (`detail`)."""

    state: str
    css: str
    word: str
    detail: str = ""
    late: bool = False  # the detail is a due date that has passed
    detail_css: str = "step-day"  # a day stays on one line; a list of blockers wraps


def _day(moment: datetime.datetime | None) -> datetime.date | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(DANISH_TIME).date()


def cell(task: TaskStatus, status: MigrationStatus, words: Words) -> Cell:
    """The cell of one task: done on a day (the switch date for the scheduling), not
    relevant, waiting for a party (with its due date), or waiting for other tasks."""
    if task.key == "switch-scheduled" and status.gate.reopened:
        # Scheduled, but the gate has closed again (a reset approval): say so, not "done".
        missing = (SHORT_TITLES[k] for k in migration.GATE_TASKS if not status.task(k).settled)
        return Cell("open", "reopened", words.reopened, ", ".join(missing), detail_css="step-wait")
    if task.state == migration.DONE:
        on = _day(task.done_at)
        if task.task.key == "switch-scheduled" and status.switch.switch_on is not None:
            on = status.switch.switch_on
        return Cell("done", "done", words.done, words.day(on) if on else "")
    if task.state == migration.NOT_RELEVANT:
        on_word = words.on_their_word if task.facts.get("told_via") else ""
        return Cell("not-relevant", "later", words.not_relevant, on_word)
    if task.state == migration.BLOCKED:
        titles = (SHORT_TITLES.get(key) or migration.task(key).title for key in task.blocked_by)
        return Cell("blocked", "later", words.waiting, ", ".join(titles), detail_css="step-wait")
    if task.task.optional:  # no one's duty: it waits for no one
        return Cell("open", "later", words.optional)
    due = words.due(task.due, overdue=task.overdue) if task.due else ""
    if task.state == migration.WAITING_OPERATOR:
        return Cell("open", "on-us", words.on_us, due, task.overdue)
    return Cell("open", "on-customer", words.on_customer, due, task.overdue)


@dataclass(frozen=True)
class Row:
    """One municipality in the matrix, its words written."""

    cvr: str
    name: str
    cells: list[tuple[Markup, Cell]]  # each with its task's title, its label on a phone
    ready: bool
    switch: Cell  # the switch day: switched, under way, its date, or not planned
    runbook: bool  # whether the switch day's cell links to the runbook
    waited: str | None  # how long its oldest open task has waited; None: nothing open


MATRIX_TASKS = tuple(t for t in migration.TASKS if t.key not in migration.SWITCH_STEPS)
MATRIX_KEYS = frozenset(t.key for t in MATRIX_TASKS)
LABELS = {t.key: escape(t.title) for t in MATRIX_TASKS}  # escaped once, not in each cell


def _switch_cell(status: MigrationStatus, today: datetime.date, words: Words) -> Cell:
    switch = status.switch
    if status.switched:
        verified = _day(switch.steps.get("logins-verified"))
        downtime = switch.downtime_minutes
        detail = words.day(verified) if verified else ""
        if downtime is not None:
            detail += ", " + words.downtime(downtime)
        return Cell("done", "done", words.switched, detail)
    done = sum(1 for step in migration.SWITCH_STEPS if switch.steps.get(step) is not None)
    if done:
        return Cell("open", "on-us", _("I gang: %(done)s af 4 trin", done=done))
    if switch.switch_on is not None and status.gate.reopened:
        return Cell("open", "reopened", words.day(switch.switch_on), words.reopened)
    if switch.switch_on is not None:
        days = (switch.switch_on - today).days
        soon = words.in_days(days) if 0 <= days <= 7 else ""
        return Cell("open", "on-us", words.day(switch.switch_on), soon)
    return Cell("blocked", "later", words.not_planned)


def row(status: MigrationStatus, today: datetime.date, words: Words) -> Row:
    waited = status.days_waiting
    switch = _switch_cell(status, today, words)
    return Row(
        cvr=status.cvr,
        name=status.name,
        cells=[
            (LABELS[t.key], cell(t, status, words)) for t in status.tasks if t.key in MATRIX_KEYS
        ],
        ready=status.ready_for_switch and not status.switched,
        switch=switch,
        runbook=switch.state == "open",
        waited=None if waited is None else words.waited(waited),
    )


FILTERS = ("klar-til-skift", "venter-paa-kunden", "venter-paa-os")


def kept_by(status: MigrationStatus) -> frozenset[str]:
    """The filters that keep a municipality, each asked once, and "switched" once it has."""
    kept = {name for name in FILTERS if migration.matches_filter(status, name)}
    return frozenset(kept | {"switched"} if status.switched else kept)


def listed(
    statuses: list[MigrationStatus], *, show: str, text: str
) -> tuple[list[MigrationStatus], dict[str, int]]:
    """The municipalities the matrix lists (those the filter `show` keeps, whose CVR number
    starts with `text` or whose name holds it as Danish reads letters), and how many of all
    each filter keeps; the filters asked once for each state of a municipality."""
    from ledger.read_models import danish_contains

    chosen = []
    counts = dict.fromkeys((*FILTERS, "switched"), 0)
    filters = rows_of("matrix-filters")
    for status in statuses:
        kept = filters.row(status.cvr, status, "", partial(kept_by, status))
        for name in kept:
            counts[name] += 1
        if text and not status.cvr.startswith(text) and not danish_contains(status.name, text):
            continue
        if show != "alle" and show not in kept:  # "alle" or a filter (SHOWN)
            continue
        chosen.append(status)
    return chosen, counts


@blueprint.get("/migrering")
@staff_required
def matrix() -> str:
    today = danish_today()
    statuses = board().matrix(today=today)
    show = request.args.get("vis", "")
    show = show if show in SHOWN else "alle"
    text = request.args.get("soeg", "").strip()[:100]
    chosen, counts = listed(statuses, show=show, text=text)
    tasks_path = url_for("migration_staff.tasks", cvr="CVR").removesuffix("/CVR/migrering")
    rows, write = rows_of("matrix"), row_macro("staff/_matrix_row.html")
    words: list[Words] = []  # the words of a row to write, looked up once when one is

    def written(status: MigrationStatus) -> Markup:
        words[:] = words or [Words()]
        return write(row(status, today, words[0]), tasks_path)

    return render_template(
        "staff/migration.html",
        tasks=[
            {"key": t.key, "title": t.title, "short": SHORT_TITLES[t.key]} for t in MATRIX_TASKS
        ],
        rows=statuses,
        listed=[
            rows.row(status.cvr, status, tasks_path, partial(written, status)) for status in chosen
        ],
        counts={
            "ready": counts["klar-til-skift"],
            "customer": counts["venter-paa-kunden"],
            "operator": counts["venter-paa-os"],
            "switched": counts["switched"],
        },
        show=show,
        text=text,
        shown_choices=SHOWN,
        now=_now(),
    )


# A municipality's tasks


@dataclass
class Forms:
    """What staff typed in the forms of a municipality's page, and what was wrong (by form)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _tasks_page(cvr: str, forms: Forms | None = None) -> str:
    customer = _customer(cvr)
    status = board().status(customer.cvr, today=danish_today())
    entries = _settled_by(status)
    recorders = {key: entry.actor for key, entry in entries.items() if entry.actor is not None}
    status = replace(status, tasks=[_with_event_facts(t, entries.get(t.key)) for t in status.tasks])
    forms = forms or Forms()
    phases = [
        (title, [t for t in status.tasks if t.task.phase == phase])
        for phase, title in migration.PHASES
    ]
    switch = status.switch
    values = {
        "switch_on": switch.switch_on.isoformat() if switch.switch_on else "",
        "meeting_at": clock_minute(switch.meeting_at) if switch.meeting_at else "",
        "service_window_minutes": (
            str(switch.service_window_minutes) if switch.service_window_minutes else ""
        ),
    } | forms.values
    return render_template(
        "staff/migration_tasks.html",
        customer=customer,
        status=status,
        phases=phases,
        cells={t.task.key: cell(t, status, Words()) for t in status.tasks},
        recorders=recorders,
        evidence={t.task.key: evidence(t) for t in status.tasks},
        recorded_by=RECORDED_BY,
        operator=migration.OPERATOR,
        switch_steps=migration.SWITCH_STEPS,
        pupils=migration.PUPILS,
        told_via=migration.TOLD_VIA,
        may_mark_not_relevant=lambda t: migration.may_mark_not_relevant(t, migration.OPERATOR),
        values=values,
        errors=forms.errors,
        today=danish_today(),
    )


@blueprint.get("/kunder/<cvr>/migrering")
@staff_required
def tasks(cvr: str) -> str:
    return _tasks_page(cvr)


def _refused(cvr: str, form: str, values: dict[str, str]) -> Any:
    return lambda error: _tasks_page(cvr, Forms(values, {form: error}))


def _then(cvr: str, task: str) -> str:
    return url_for("migration_staff.tasks", cvr=cvr) + f"#opgave-{task}"


def _date(text: str, label: str) -> datetime.date:
    if not text:
        raise DomainError(_("Skriv %(label)s.", label=label))
    try:
        return iso_date(text)
    except ValueError as problem:
        raise DomainError(str(problem)) from None


@blueprint.post("/kunder/<cvr>/migrering/driftsaftale")
@staff_required
def archive_agreement(cvr: str) -> ResponseReturnValue:
    customer = _customer(cvr)
    form = _form(*AGREEMENT_FIELDS)

    def archive() -> Any:
        signed_on = _date(form["signed_on"], _("datoen for underskriften"))
        name, content = read_pdf(request.files.get("document"))
        return ledger().archive_operating_agreement(
            cvr=customer.cvr,
            document=content,
            document_name=name,
            signed_on=signed_on,
            actor=acting_person(),
        )

    return carry_out(
        archive,
        done=_("Den underskrevne driftsaftale er arkiveret for %(name)s.", name=customer.name),
        then=_then(customer.cvr, "operating-agreement"),
        refused=_refused(customer.cvr, "operating-agreement", form),
    )


@blueprint.get("/kunder/<cvr>/migrering/driftsaftale.pdf")
@staff_required
def agreement_document(cvr: str) -> Response:
    customer = _customer(cvr)
    status = board().status(customer.cvr, today=danish_today())
    facts = status.task("operating-agreement").facts or {}
    if status.task("operating-agreement").state != migration.DONE or not facts.get(
        "document_sha256"
    ):
        abort(404)
    return send_document(str(facts["document_sha256"]), f"driftsaftale-{customer.cvr}.pdf")


@blueprint.post("/kunder/<cvr>/migrering/full-service")
@staff_required
def enable_full_service(cvr: str) -> ResponseReturnValue:
    customer = _customer(cvr)
    form = _form(*FULL_SERVICE_FIELDS)

    def enable() -> Any:
        if form["pupils"] not in migration.PUPILS:
            raise DomainError(_("Vælg, hvordan elevernes kodeordspolitik er håndteret."))
        return ledger().enable_full_service(
            cvr=customer.cvr,
            pupils=form["pupils"],
            pupils_set_up_by=form["pupils_set_up_by"] or None,
            note=form["note"] or None,
            actor=acting_person(),
        )

    return carry_out(
        enable,
        done=_("Full Service er registreret som slået til for %(name)s.", name=customer.name),
        then=_then(customer.cvr, "full-service"),
        refused=_refused(customer.cvr, "full-service", form),
    )


def _minutes(text: str) -> int:
    try:
        return whole_number(text, lowest=1, highest=24 * 60)
    except ValueError:
        raise DomainError(
            _("Skriv servicevinduet som et helt antal minutter, fx 30 (højst 1440).")
        ) from None


@blueprint.post("/kunder/<cvr>/migrering/skiftedato")
@staff_required
def schedule(cvr: str) -> ResponseReturnValue:
    customer = _customer(cvr)
    form = _form(*SCHEDULE_FIELDS)

    def schedule_switch() -> Any:
        switch_on = _date(form["switch_on"], _("skiftedatoen"))
        if not form["meeting_at"]:
            raise DomainError(_("Skriv, hvornår mødet begynder, fx 10.00."))
        try:
            meeting = typed_moment(form["meeting_at"], day=switch_on)
        except ValueError as problem:
            raise DomainError(str(problem)) from None
        return ledger().schedule_switch(
            cvr=customer.cvr,
            switch_on=switch_on,
            meeting_at=meeting.astimezone(datetime.UTC),
            service_window_minutes=_minutes(form["service_window_minutes"]),
            actor=acting_person(),
        )

    return carry_out(
        schedule_switch,
        done=lambda _migration: _(
            "Skiftet for %(name)s er planlagt til %(day)s.",
            name=customer.name,
            day=day(form["switch_on"]),
        ),
        then=_then(customer.cvr, "switch-scheduled"),
        refused=_refused(customer.cvr, "switch-scheduled", form),
    )


@blueprint.post("/kunder/<cvr>/migrering/<key>/ikke-relevant")
@staff_required
def not_relevant(cvr: str, key: str) -> ResponseReturnValue:
    """A task marked not relevant; one the municipality records, only on its word (who
    said so and how: the domain asks for both)."""
    customer = _customer(cvr)
    found = _task(key)
    form = _form("reason", "on_word_of", "told_via")
    return carry_out(
        lambda: ledger().mark_task_not_relevant(
            cvr=customer.cvr,
            task=found.key,
            reason=form["reason"],
            actor=acting_person(),
            on_word_of=form["on_word_of"] or None,
            told_via=form["told_via"] or None,
        ),
        done=_("»%(task)s« er markeret som ikke relevant.", task=found.title),
        then=_then(customer.cvr, found.key),
        refused=_refused(
            customer.cvr,
            f"not-relevant-{found.key}",
            {f"{name}-{found.key}": value for name, value in form.items()},
        ),
    )


@blueprint.post("/kunder/<cvr>/migrering/<key>/genaabn")
@staff_required
def reopen(cvr: str, key: str) -> ResponseReturnValue:
    customer = _customer(cvr)
    found = _task(key)
    reason = _form("reason")["reason"]
    return carry_out(
        lambda: ledger().reopen_task(
            cvr=customer.cvr, task=found.key, reason=reason, actor=acting_person()
        ),
        done=_("»%(task)s« er åbnet igen.", task=found.title),
        then=_then(customer.cvr, found.key),
        refused=_refused(customer.cvr, f"reopen-{found.key}", {f"reopen-{found.key}": reason}),
    )


def _task(key: str) -> migration.Task:
    try:
        return migration.task(key)
    except (KeyError, ValueError, DomainError):
        abort(404)


# The switch day's runbook


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    who: str
    at: datetime.datetime | None
    by: str
    earlier: list[datetime.datetime]
    may_record: bool
    typed: str
    reason: str
    error: str | None


@dataclass(frozen=True)
class Downtime:
    minutes: int | None
    text: str
    start: datetime.datetime | None
    end: datetime.datetime | None
    running_since: datetime.datetime | None
    so_far_text: str
    running_over: bool
    over_window: bool
    over_text: str


def _downtime(status: MigrationStatus, now: datetime.datetime) -> Downtime:
    switch = status.switch
    removed = switch.steps.get("idp-removed")
    verified = switch.steps.get("logins-verified")
    window = switch.service_window_minutes
    minutes = switch.downtime_minutes
    over = minutes is not None and window is not None and minutes > window
    so_far = 0
    if removed is not None and verified is None:
        so_far = max(0, int((now - removed).total_seconds() // 60))
    return Downtime(
        minutes=minutes,
        text=minutes_text(minutes) if minutes is not None else "",
        start=removed,
        end=verified,
        running_since=removed if verified is None else None,
        so_far_text=minutes_text(so_far),
        running_over=window is not None and so_far > window,
        over_window=over,
        over_text=minutes_text(minutes - window) if over and minutes and window else "",
    )


def _earlier_moments(status: MigrationStatus, step: str) -> list[datetime.datetime]:
    """The moments a corrected step was recorded with before its last correction."""
    task = status.task(step)
    moments = []
    for seq in task.seqs[:-1]:
        entry = ledger().signed_log.entry(seq)
        at = getattr(entry.event, "at", None) if entry is not None else None
        if at:
            moments.append(datetime.datetime.fromisoformat(str(at).replace("Z", "+00:00")))
    return moments


def _runbook_page(
    cvr: str,
    *,
    failed: str | None = None,
    error: str | None = None,
    typed: str = "",
    reason: str = "",
) -> str:
    customer = _customer(cvr)
    status = board().status(customer.cvr, today=danish_today())
    entries = _settled_by(status)
    recorders = {key: entry.actor for key, entry in entries.items() if entry.actor is not None}
    now = _now()
    steps = []
    before_done = status.switch.switch_on is not None and status.gate.open
    for key in migration.SWITCH_STEPS:
        at = status.switch.steps.get(key)
        actor = recorders.get(key)
        steps.append(
            Step(
                key=key,
                title=migration.task(key).title,
                who=STEP_DONE_BY[key],
                at=at,
                by=actor.name if actor is not None else "",
                earlier=_earlier_moments(status, key) if at is not None else [],
                may_record=before_done or at is not None,
                typed=typed if key == failed else "",
                reason=reason if key == failed else "",
                error=error if key == failed else None,
            )
        )
        before_done = at is not None
    return render_template(
        "staff/runbook.html",
        customer=customer,
        status=status,
        plan=status.switch,
        steps=steps,
        downtime=_downtime(status, now),
        plan_downtime=migration.PLAN_DOWNTIME,
        now=now,
    )


@blueprint.get("/kunder/<cvr>/skiftedag")
@staff_required
def runbook(cvr: str) -> str:
    return _runbook_page(cvr)


@blueprint.post("/kunder/<cvr>/skiftedag/<step>")
@staff_required
def record_step(cvr: str, step: str) -> ResponseReturnValue:
    """One click records the step now (the server's clock); a typed time records it then,
    or corrects a moment recorded before (with a reason; the first moment stays in the log)."""
    customer = _customer(cvr)
    if step not in migration.SWITCH_STEPS:
        abort(404)
    form = _form("tidspunkt", "reason")
    title = migration.task(step).title

    def record() -> Any:
        at = None
        if form["tidspunkt"]:
            status = board().status(customer.cvr, today=danish_today())
            day = status.switch.switch_on or danish_today()
            try:
                at = typed_moment(form["tidspunkt"], day=day, now=_now())
            except ValueError as problem:
                raise DomainError(str(problem)) from None
        return ledger().record_switch_step(
            cvr=customer.cvr,
            step=step,
            actor=acting_person(),
            at=None if at is None else at.astimezone(datetime.UTC),
            reason=form["reason"] or None,
        )

    return carry_out(
        record,
        done=_("»%(step)s« er registreret.", step=title),
        then=url_for("migration_staff.runbook", cvr=customer.cvr) + f"#trin-{step}",
        refused=lambda error: _runbook_page(
            customer.cvr, failed=step, error=error, typed=form["tidspunkt"], reason=form["reason"]
        ),
    )


# Approvals without a sign of signing authority


@dataclass(frozen=True)
class Unchecked:
    key: str
    cvr: str
    customer_name: str
    version_id: UUID
    approved_version: int
    agreement: str
    approver: str
    approved_at: datetime.datetime
    receipt: int | None
    basis: str


def _unchecked() -> list[Unchecked]:
    """The approvals in force without a sign of signing authority, not checked yet, each
    with its approver (read from its own entry in the log: a few, by seq)."""
    found = []
    for item in board().unchecked_approvals(today=danish_today()):
        entry = ledger().signed_log.entry(item.seq) if item.seq is not None else None
        version = ledger().agreement_version(item.agreement_version_id)
        basis = item.signing_basis
        found.append(
            Unchecked(
                key=f"{item.cvr}/{item.agreement_version_id}",
                cvr=item.cvr,
                customer_name=item.name,
                version_id=item.agreement_version_id,
                approved_version=item.approved_version,
                agreement=_(
                    "%(title)s version %(version)s",
                    title=version.title,
                    version=version.version_label,
                ),
                approver=entry.actor.name if entry is not None and entry.actor is not None else "",
                approved_at=item.approved_at,
                receipt=item.seq,
                basis=(
                    "; ".join(migration.SIGNING_BASIS_TITLES.get(b, b) for b in basis)
                    if basis
                    else _("Ikke registreret (godkendt, før portalen registrerede grundlaget)")
                ),
            )
        )
    return found


def _checked() -> list[dict[str, str]]:
    """The checks staff made most recently, newest first (from the search index)."""
    found = event_index().search(Query(event_type="SigningAuthorityChecked"), page_size=20)
    names = {c.cvr: c.name for c in board().customers()}
    checked = []
    for entry in found.entries:
        event: Any = entry.event
        try:
            version = ledger().agreement_version(event.agreement_version_id)
            agreement = f"{version.title} version {version.version_label}"
        except REFUSED:
            agreement = ""
        checked.append(
            {
                "customer_name": names.get(event.cvr, event.cvr),
                "agreement": agreement,
                "by": entry.actor.name if entry.actor is not None else "",
                "at": entry.recorded_at,
                "note": event.note or "",
            }
        )
    return checked


def checked_note(note: str) -> str:
    """Staff's note of how they checked a person's signing authority (an approval's or a
    colleague grant's), or DomainError saying what is missing."""
    if not note:
        raise DomainError(_("Skriv, hvordan du har kontrolleret tegningsretten."))
    if len(note) > CHECK_NOTE_MAX:
        raise DomainError(_("Skriv højst %(longest)s tegn om kontrollen.", longest=CHECK_NOTE_MAX))
    return note


def _unchecked_page(*, error: str | None = None, failed: str = "", note: str = "") -> str:
    return render_template(
        "staff/unchecked.html",
        unchecked=_unchecked(),
        checked=_checked(),
        error=error,
        failed=failed,
        notes={failed: note} if failed else {},
        longest=CHECK_NOTE_MAX,
    )


@blueprint.get("/godkendelser/uden-tegningsret")
@staff_required
def unchecked() -> str:
    return _unchecked_page()


@blueprint.post("/godkendelser/<cvr>/<uuid:version_id>/kontrolleret")
@staff_required
def mark_checked(cvr: str, version_id: UUID) -> ResponseReturnValue:
    customer = _customer(cvr)
    form = _form("note", "approved_version")

    def check() -> Any:
        checked_note(form["note"])
        try:
            approved_version = whole_number(form["approved_version"], lowest=1)
        except ValueError:
            raise DomainError(
                _("Godkendelsen er ændret, siden du så den. Se listen igen.")
            ) from None
        return ledger().check_signing_authority(
            cvr=customer.cvr,
            version_id=version_id,
            approved_version=approved_version,
            actor=acting_person(),
            note=form["note"],
        )

    return carry_out(
        check,
        done=_("Godkendelsen fra %(name)s er markeret som kontrolleret.", name=customer.name),
        then=url_for("migration_staff.unchecked"),
        refused=lambda error: _unchecked_page(
            error=error, failed=f"{customer.cvr}/{version_id}", note=form["note"]
        ),
    )
