"""Auditors: history search, a timeline per customer, and exports of what is shown.

A search is a GET form (it works without JavaScript); the same filters choose the CSV and
the evidence bundle, so an export holds exactly what the pages show. An auditor limited to
some CVRs sees only their events; events without a CVR (refused logins without a verified
identity, role changes made at the command line, the log's keys) only unlimited auditors see.
"""

import datetime
import io
import itertools
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from markupsafe import Markup, escape

from ledger.danish_time import start_of_danish_day
from ledger.domain import DomainError, iso_date
from ledger.evidence.reasons import Reason
from ledger.export import Cell, Context, export_bundle, history_row, history_writer, shown_cells
from ledger.identity import InvalidCVR, validate_cvr
from ledger.personal_data import is_erased
from ledger.search import MAX_PAGE, CheckedEntry, Query, check_entries
from ledger.signed_log import Entry
from web.arguments import number_arg
from web.auth import event_index, ledger
from web.display import EVENT_NAMES, at_minute, day, number, when
from web.roles import auditor_required
from web.translation import gettext as _

blueprint = Blueprint("audit", __name__, url_prefix="/revision")

PAGE_SIZE = 25
CHECK_BATCH = 500
# The form's fields, as they appear in the address.
FILTERS = ("cvr", "aftale", "person", "type", "fra", "til")
# How the results are listed: the order and the page size.
LISTING = ("orden", "antal")
ORDERS = {"nyeste": "Nyeste først", "aeldste": "Ældste først"}
PAGE_SIZES = ("25", "50", "100", "200")
# 1-12-2026, 1.12.2026, 01/12/2026: day, month, four-digit year, as Danes write a date.
DANISH_DATE = re.compile(r"([0-9]{1,2})[-./]([0-9]{1,2})[-./]([0-9]{4})")
PROBLEMS = {
    Reason.BAD_SIGNATURE: "Signaturen passer ikke til bladet",
    Reason.UNKNOWN_KEY: "Bladet er signeret med en ukendt nøgle",
    Reason.MALFORMED_LEAF: "Bladet kan ikke læses",
    Reason.NON_CANONICAL_LEAF: "Bladet er ikke i kanonisk form",
    Reason.UNKNOWN_VERSION: "Bladet har en ukendt formatversion",
    Reason.SEQ_MISMATCH: "Bladet angiver en anden plads i loggen",
    Reason.LEAF_MISMATCH: "Bladet hører til en anden hændelse",
    Reason.PAYLOAD_MISMATCH: "Hændelsens indhold passer ikke til bladets hash",
    Reason.TOPIC_MISMATCH: "Hændelsestypen passer ikke til bladet",
    Reason.RECORDED_AT_MISMATCH: "Tidspunktet passer ikke til bladet",
    Reason.BAD_INCLUSION_PROOF: "Beviset for optagelse i kontrolpunktet holder ikke",
}
CHECKPOINT_PROBLEMS: dict[str, str] = {
    Reason.BAD_SIGNATURE: "Det nyeste kontrolpunkt har en signatur, der ikke passer",
    Reason.UNKNOWN_KEY: "Det nyeste kontrolpunkt er ikke signeret med en kendt nøgle",
    Reason.WRONG_ORIGIN: "Det nyeste kontrolpunkt er fra en anden log",
}


def status_text(checked: CheckedEntry) -> str:
    """The verification status of one shown event, in Danish."""
    if checked.verified:
        return "Verificeret"
    return "; ".join(PROBLEMS.get(reason, reason) for reason in checked.problems)


def coverage_text(checked: CheckedEntry) -> str:
    if checked.covered_by is None:
        return "Endnu ikke bevist i et kontrolpunkt"
    return f"Med i kontrolpunkt af størrelse {checked.covered_by}"


# Reading the form


def _scope() -> tuple[str, ...] | None:
    """The CVRs the auditor is limited to; None when they may read everything."""
    return tuple(current_user.auditor_cvrs) or None


def _filters() -> dict[str, str]:
    """The filters as given, for links to other pages and to the exports."""
    return {name: value for name in FILTERS if (value := request.args.get(name, "").strip())}


def _listing() -> dict[str, str]:
    """How the results are listed (order, page size) as given, for the page links."""
    return {name: value for name in LISTING if (value := request.args.get(name, "").strip())}


def danish_date(text: str) -> datetime.date:
    """A date as Danes write it (1-12-2026, 1.12.2026, 01/12/2026) or as 2026-12-01; a
    ValueError in Danish otherwise."""
    match = DANISH_DATE.fullmatch(text)
    if match is None:
        return iso_date(text)
    day, month, year = (int(part) for part in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise ValueError(f"Datoen {_in_quotes(text, 40)} findes ikke.") from None


class Form:
    """The search form as the auditor filled it in: the query it makes, or beside each field
    that cannot be used what is wrong with it, so that the page shows the form again as it
    was, with the errors where they belong."""

    def __init__(self, **fixed: str) -> None:
        self.values = {name: request.args.get(name, "").strip() for name in FILTERS} | fixed
        self.values |= {name: request.args.get(name, "").strip() for name in LISTING}
        self.errors: dict[str, str] = {}
        self.query = self._query()

    def _check(self, field: str, make: Callable[[str], Any]) -> Any:
        value = self.values[field]
        if not value:
            return None
        try:
            return make(value)
        except ValueError as error:
            self.errors[field] = str(error)
            return None

    def _query(self) -> Query | None:
        values = self._check
        cvr = values("cvr", lambda v: Query.checked(cvr=v).cvr)
        agreement = values("aftale", lambda v: Query.checked(agreement=v).agreement)
        person = values("person", lambda v: Query.checked(person=v).person)
        if self.values["type"] and self.values["type"] not in EVENT_NAMES:
            self.errors["type"] = (
                f"Hændelsestypen {_in_quotes(self.values['type'], 40)} findes ikke."
            )
        since = values("fra", lambda v: start_of_danish_day(_date(v, "Fra-datoen")))
        last = values("til", lambda v: _date(v, "Til-datoen"))
        until = None
        if last is not None:
            if since is not None and start_of_danish_day(last) < since:
                self.errors["til"] = "Til-datoen ligger før fra-datoen."
            try:
                until = start_of_danish_day(last + datetime.timedelta(days=1))
            except OverflowError:
                self.errors["til"] = "Til-datoen ligger for langt ude i fremtiden."
        if self.values["antal"] and self.values["antal"] not in PAGE_SIZES:
            self.errors["antal"] = "Vælg 25, 50, 100 eller 200 hændelser pr. side."
        if self.values["orden"] and self.values["orden"] not in ORDERS:
            self.errors["orden"] = "Vælg nyeste eller ældste først."
        if self.errors:
            return None
        if cvr is not None and not current_user.may_read_cvr(cvr):
            abort(403, f"Du har ikke adgang til hændelser for CVR {cvr}.")
        return Query(
            cvr=cvr,
            agreement=agreement,
            person=person,
            event_type=self.values["type"] or None,
            since=since,
            until=until,
            scope=frozenset(scope) if (scope := _scope()) is not None else None,
        )

    @property
    def page_size(self) -> int:
        return int(self.values["antal"] or PAGE_SIZE)

    @property
    def oldest_first(self) -> bool:
        return self.values["orden"] == "aeldste"

    def checked(self) -> Query:
        """The query, or 400 naming the first field that cannot be used (the exports, which
        have no form to show the errors in)."""
        if self.query is None:
            abort(400, next(iter(self.errors.values())))
        return self.query


def _in_quotes(text: str, limit: int) -> str:
    """What the auditor wrote, in Danish quotation marks as a message shows it: cut after
    `limit` characters, a character that cannot be shown as a replacement mark."""
    shown = "".join(ch if ch.isprintable() else "\ufffd" for ch in text[:limit])
    return f"»{shown}{'…' if len(text) > limit else ''}«"


def _date(text: str, label: str) -> datetime.date:
    try:
        return danish_date(text)
    except ValueError as error:
        if "findes ikke" in str(error):  # written as a date, but there is no such day
            raise ValueError(f"{label} {_in_quotes(text, 40)} findes ikke i kalenderen.") from None
        raise ValueError(
            f"{label} skal være en dato som 1-12-2026, 1.12.2026 eller 2026-12-01; "
            f"{_in_quotes(text, 40)} er ikke."
        ) from None


def _query(**fixed: str) -> Query:
    """The auditor's search, checked: 400 with a Danish message for what cannot be used."""
    return Form(**fixed).checked()


def _page() -> int:
    return number_arg("side", "Sidetallet", default=1, lowest=1, highest=MAX_PAGE)


def _anchors() -> dict[str, int | None]:
    """The event the page links continue from: the page after the one shown last (`efter`)
    or before the one shown first (`foer`), so a deep page is read from there and shows
    what followed the page it came from, even when events were logged meanwhile."""
    return {
        key: number_arg(name, "Hændelsesnummeret") if name in request.args else None
        for name, key in (("efter", "after"), ("foer", "before"))
    }


# Pages


def agreement_names() -> dict[str, str]:
    """Every agreement version's id and how people name it."""
    return dict(Context.of(ledger()).agreements)


# What a row shows of its event beside its time, type, CVR and actor: the first facts of these
# columns it has (the rest are in its details).
SUMMARY = {
    "Approved": ("agreement",),
    "ApprovalReset": ("agreement", "reason"),
    "LoginRejected": ("refusal",),
    "RoleGranted": ("person_name", "role"),
    "RoleRevoked": ("person_name", "role", "reason"),
    "LoginRefusalsCounted": ("refusals",),
    "NoticeSent": ("recipient_email", "notice_kind", "agreement"),
    # The migration's events (issue 15): the answer each records.
    "OperatingAgreementArchived": ("document_name",),
    "EarlyPasswordPolicyAnnounced": ("users_told_on",),
    "FullServiceEnabled": ("pupils",),
    "MailTemplatesReviewed": ("decision",),
    "TermsReviewed": ("outcome",),
    "TaskMarkedNotRelevant": ("task", "reason"),
    "TaskReopened": ("task", "reason"),
    "SwitchScheduled": ("switch_on",),
    "SwitchStepRecorded": ("step", "at"),
    "SigningAuthorityChecked": ("agreement",),
    "GranterChecked": ("note",),
    # Erasures of personal data: the rule (or request) and its case, what it took.
    "PersonalDataErased": ("rule", "reason", "fields"),
    "PersonalDataErasureRefused": ("reason",),
    "EvidenceFormatAdopted": ("version",),
}
SUMMARY_OTHERWISE = ("agreement", "customer_name", "document_name", "reference", "origin")
# Shown in the row itself, so not again in its details.
IN_THE_ROW = frozenset({"seq", "time", "event", "cvr", "actor"})


@dataclass(frozen=True)
class Row:
    """One event as a row of the results: what the check found, a short summary, the
    details (the CSV's columns that say something) and, for a reset, where the approval
    it invalidated is in the log.

    The summary's parts and the details' values are made here as HTML, not by a template
    macro per value: a page of 25 events shows some 200 values, and a macro call each was
    most of what rendering the page cost. They are HTML text, each value escaped as it is
    put in (a Markup each, and Markup's own formatting, cost more than the rest of a row)."""

    checked: CheckedEntry
    summary: list[str]  # HTML
    # (the column's header, whether the IdP's signature vouched for the fact (None: the
    # event does not say), the value as HTML)
    details: list[tuple[str, bool | None, str]]
    invalidates: int | None
    # A refused login that says nothing was verified (or was recorded before it said).
    nothing_verified: bool

    @classmethod
    def of(cls, checked: CheckedEntry, context: Context, links: "Links") -> "Row":
        entry = checked.entry
        cells = shown_cells(entry, context, IN_THE_ROW)
        by_key = {cell.column.key: cell for cell in cells}
        keys = SUMMARY.get(entry.event_type, SUMMARY_OTHERWISE)
        summary = [by_key[key] for key in keys if key in by_key]
        if entry.event_type not in SUMMARY:
            summary = summary[:1]
        invalidates = by_key.get("invalidates")
        refusal = entry.event_type == "LoginRejected"
        verified = (entry.facts().get("verified") or []) if refusal else None
        agreements = context.agreements
        return cls(
            checked,
            [
                f"»{escape(cell.value)}«"
                if cell.column.key == "reason"
                else fact_html(cell, agreements, links)
                for cell in summary
            ],
            [_detail(cell, agreements, links, verified) for cell in cells],
            invalidates.value if invalidates is not None else None,
            refusal and not verified,
        )


# Facts shown in the hash font (beside every column whose key ends in sha256).
HASH_FONT = frozenset({"assertion_id", "verifier_key", "time_utc"})
# Facts shown as a Danish number (10.000).
NUMBERS = frozenset({"seq", "document_size", "refusals"})
# A refused login's facts that the IdP's signature may have vouched for.
VOUCHED = ("assertion_id", "person_uuid")
# How much of an assertion ID the IdP's signature did not vouch for is shown.
UNVERIFIED_ID_SHOWN = 64


def fact_html(cell: Cell, agreements: Mapping[str, str], links: "Links") -> str:
    """A fact as the results show it, as HTML: a moment or a day in Danish, an agreement
    version, a person, a CVR or a reset approval as a link to where the auditor reads on, a
    hash in the hash font, a count in Danish digits."""
    key, value = cell.column.key, cell.value
    if isinstance(value, datetime.date):
        return escape(when(value) if isinstance(value, datetime.datetime) else day(value))
    if key == "agreement_version_id":
        link = escape(links("audit.search", "aftale", str(value)))
        return f'<a href="{link}">{escape(agreements.get(str(value), value))}</a>'
    if key in ("person_uuid", "actor_uuid") and not is_erased(value):  # erased: no person
        link = escape(links("audit.search", "person", value))
        return f'<a class="hash" href="{link}">{escape(value)}</a>'
    if key == "invalidates":
        link = escape(links("signatory.receipt", "seq", value))
        return f'<a href="{link}">{escape(_("nr. %(seq)s", seq=value))}</a>'
    if key in ("cvr", "actor_cvr"):
        return f'<a href="{escape(links("audit.timeline", "cvr", value))}">{escape(value)}</a>'
    if key.endswith("sha256") or key in HASH_FONT:
        return f'<span class="hash">{escape(value)}</span>'
    if key in NUMBERS:
        return escape(number(value))
    return escape(value)


# A value that stands in for the one a link is made with, where `Links` asks url_for.
_STAND_IN = 918_273_645_546_372_819
# Values url_for puts in a path or a query as they are (werkzeug quotes none of these).
_AS_IS = re.compile(r"[0-9A-Za-z_.-]+")


class Links:
    """The results' links to a search, a timeline or a receipt by one value (an agreement
    version, a person, a CVR, a seq), each endpoint's asked of url_for once per page: a page
    of 25 rows links some 75 of them, and url_for was most of what a row's links cost.

    The address is url_for's for a stand-in value, with the value put in its place: the
    same text url_for writes for a value it leaves as it is (digits, letters, - . _). Any
    other value is url_for's own."""

    def __init__(self) -> None:
        self._shapes: dict[tuple[str, str], list[str]] = {}

    def __call__(self, endpoint: str, name: str, value: Any) -> str:
        text = str(value)
        if _AS_IS.fullmatch(text) is not None:
            shape = self._shapes.get((endpoint, name))
            if shape is None:
                stand_in: dict[str, Any] = {name: _STAND_IN}
                made = url_for(endpoint, **stand_in)
                shape = self._shapes[(endpoint, name)] = made.split(str(_STAND_IN))
            if len(shape) == 2:
                return f"{shape[0]}{text}{shape[1]}"
        return url_for(endpoint, **{name: value})


def _detail(
    cell: Cell, agreements: Mapping[str, str], links: Links, verified: list[str] | None
) -> tuple[str, bool | None, str]:
    """A fact of a row's details; `verified` names what the IdP's signature vouched for of
    a refused login (None for any other event). An assertion ID it did not vouch for is cut,
    as it is whatever the sender wrote."""
    key = cell.column.key
    vouched = None if verified is None or key not in VOUCHED else key in verified
    if vouched is False and key == "assertion_id":
        shown: str = escape(_cut(str(cell.value), UNVERIFIED_ID_SHOWN))
    else:
        shown = fact_html(cell, agreements, links)
    return cell.column.header, vouched, shown


def _cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis, as the template filter `truncate`
    cuts words (a few characters over the limit are left whole)."""
    return text if len(text) <= limit + 5 else text[: limit - 1] + "…"


class RowWriter:
    """The results' rows as the table's HTML (audit/_results.html calls it once per row).

    Written here rather than by the template: a page of 25 rows was some 1,200 escaped
    outputs and 50 links built by the template engine, most of what rendering it cost. The
    words every row repeats are translated once per page."""

    def __init__(self, links: Links) -> None:
        words = {
            "time": _("Tidspunkt"),
            "event": _("Hændelse"),
            "cvr": _("CVR"),
            "by": _("Udført af"),
            "check": _("Kontrol"),
            "details": _("Detaljer"),
            "what": _("Hvad er verificeret"),
            "nothing_else": _("Intet ud over årsagen."),
            "counted": _(
                "Intet: afvisninger uden verificeret identitet, talt pr. årsag og "
                "klientnetværk, som portalen så dem. Intet fra svarene er gemt."
            ),
            "none": _("ingen"),
            "operator": _("Driften"),
            "portal": _("Portalen"),
            "receipt": _("Kvittering"),
            "verified": _("verificeret"),
            "not_verified": _("ikke verificeret"),
        }
        self.words = {key: escape(text) for key, text in words.items()}
        self.about, self.receipt_for = _("om nr. %(seq)s"), _("for nr. %(seq)s")
        self.links = links

    def __call__(self, row: Row) -> Markup:
        words, item, links = self.words, row.checked, self.links
        entry, seq = item.entry, item.entry.seq
        name = EVENT_NAMES.get(entry.event_type, entry.event_type)
        html = [
            f'\n    <tr id="nr-{seq}">\n      <th scope="row">{seq}</th>\n'
            f'      <td data-label="{words["time"]}">{escape(at_minute(entry.recorded_at))}</td>\n'
            f'      <td data-label="{words["event"]}"><strong>{escape(name)}</strong>'
        ]
        html += [f'<span class="row-part">{part}</span>' for part in row.summary]
        if row.invalidates is not None:
            link = escape(links("signatory.receipt", "seq", row.invalidates))
            text = escape(_("Nulstiller godkendelsen nr. %(seq)s", seq=row.invalidates))
            html.append(f'<span class="row-part"><a href="{link}">{text}</a></span>')
        about = escape(self.about % {"seq": seq})
        html.append(
            f"\n        <details>\n          <summary>{words['details']}<span "
            f'class="visually-hidden"> {about}</span></summary>\n          <dl class="facts">'
            "\n          "
        )
        for header, vouched, value in row.details:
            note = ""
            if vouched is not None:
                word = words["verified" if vouched else "not_verified"]
                note = f' <span class="hint">({word})</span>'
            html.append(f"<dt>{escape(header)}{note}</dt>\n          <dd>{value}</dd>\n          ")
        if row.nothing_verified:
            html.append(f"<dt>{words['what']}</dt><dd>{words['nothing_else']}</dd>")
        if entry.event_type == "LoginRefusalsCounted":
            html.append(f"<dt>{words['what']}</dt><dd>{words['counted']}</dd>")
        if entry.cvr:
            link = escape(links("audit.timeline", "cvr", entry.cvr))
            cvr = f'<a href="{link}">{escape(entry.cvr)}</a>'
        else:
            cvr = f'<span class="hint">{words["none"]}</span>'
        actor, by = entry.actor, ""
        if actor and actor.kind == "person":
            by = str(escape(actor.name))
            if actor.organisation:
                by += f'<span class="row-part hint">{escape(actor.organisation)}</span>'
        elif actor and actor.kind == "operator":
            by = f'{words["operator"]}<span class="row-part hint">{escape(actor.name)}</span>'
        elif actor:
            by = words["portal"]
        said = escape(status_text(item))
        if item.verified:
            status = f'<span class="state-approved">{said}</span>'
        else:
            status = f'<strong class="error-text">{said}</strong>'
        receipt = escape(links("signatory.receipt", "seq", seq))
        receipt_for = escape(self.receipt_for % {"seq": seq})
        html.append(
            "\n          </dl>\n        </details>\n      </td>\n"
            f'      <td data-label="{words["cvr"]}">{cvr}</td>\n'
            f'      <td data-label="{words["by"]}">{by}</td>\n'
            f'      <td data-label="{words["check"]}">{status}\n'
            f'        <span class="row-part hint">{escape(coverage_text(item))}</span>\n'
            f'        <a class="row-part" href="{receipt}">{words["receipt"]}<span '
            f'class="visually-hidden"> {receipt_for}</span></a></td>\n    </tr>\n  '
        )
        # Every value above is escaped as it is put in (or is already HTML: the summary's
        # and the details' values, the words); f-strings rather than Markup's own
        # formatting, which escapes through a helper object per value and cost more than
        # the template did.
        return Markup("".join(html))  # noqa: S704


def _results(form: Form, page: int) -> dict[str, Any]:
    query = form.query
    if query is None:
        return {"found": None, "agreements": agreement_names()}
    index = event_index()
    found = index.search(
        query, page=page, page_size=form.page_size, oldest_first=form.oldest_first, **_anchors()
    )
    checked = check_entries(ledger(), found.entries)
    context, links = Context.of(ledger()), Links()
    return {
        "found": found,
        "checked": checked,
        "rows": [Row.of(item, context, links) for item in checked.entries],
        "type_counts": index.count_by_type(
            query, EVENT_NAMES, matches=found.total if found.exact else None
        ),
        "checkpoint_problem": CHECKPOINT_PROBLEMS.get(
            checked.checkpoint_problem or "", checked.checkpoint_problem
        ),
        "agreements": dict(context.agreements),
        "status_text": status_text,
        "coverage_text": coverage_text,
        "row_html": RowWriter(links),
    }


# The most events of each kind a customer's approval stories are told from.
STORY_EVENTS = 500


@dataclass(frozen=True)
class Story:
    """One approval of one agreement version by one customer, told from its first Godkend
    through each reset and approval again: its events oldest first."""

    agreement: str
    steps: list[Entry]

    @property
    def approved(self) -> bool:
        """Whether the approval stands now (its last step is an approval)."""
        return self.steps[-1].event_type == "Approved"


def approval_stories(cvr: str, agreements: dict[str, str]) -> list[Story]:
    """The customer's approvals, each with its resets and approvals again, the most recently
    changed first; read through the index (the customer's approvals and resets only)."""
    index = event_index()
    steps: list[Entry] = []
    for event_type in ("Approved", "ApprovalReset"):
        chosen = index.matching(Query(cvr=cvr, event_type=event_type), newest_first=True)
        steps.extend(itertools.islice(chosen, STORY_EVENTS))
    by_approval: dict[Any, list[Entry]] = {}
    for entry in sorted(steps, key=lambda entry: entry.seq):
        by_approval.setdefault(entry.event.originator_id, []).append(entry)
    stories = [
        Story(agreements.get(_agreement_of(told[0]), "en aftale"), told)
        for told in by_approval.values()
    ]
    return sorted(stories, key=lambda story: story.steps[-1].seq, reverse=True)


def _agreement_of(step: Entry) -> str:
    """The agreement version an approval's or a reset's event names, as its id text."""
    event: Any = step.event  # Approved and ApprovalReset both carry agreement_version_id
    return str(event.agreement_version_id)


@blueprint.before_request
def summarize_refusals_first() -> None:
    """An auditor reads the log with the refused logins of every closed interval in it."""
    if current_user.is_authenticated and current_user.is_auditor:
        ledger().summarize_login_refusals()


@blueprint.get("/")
@auditor_required
def search() -> tuple[str, int]:
    form, page = Form(), _page()
    page_text = render_template(
        "audit/search.html",
        form=form,
        filters=_filters(),
        listing=_listing(),
        address=_filters() | _listing(),
        event_names=EVENT_NAMES,
        orders=ORDERS,
        page_sizes=PAGE_SIZES,
        scope=_scope(),
        **_results(form, page),
    )
    return page_text, 400 if form.errors else 200


@blueprint.get("/kunde/<cvr>")
@auditor_required
def timeline(cvr: str) -> tuple[str, int]:
    """One customer's history, newest first, with the story of each of its approvals."""
    try:
        cvr = validate_cvr(cvr)
    except InvalidCVR as error:
        abort(400, str(error))
    form, page = Form(cvr=cvr), _page()
    try:
        name: str | None = ledger().customer(cvr).name
    except DomainError:
        name = None
    results = _results(form, page)
    page_text = render_template(
        "audit/timeline.html",
        cvr=cvr,
        name=name,
        form=form,
        filters=_filters() | {"cvr": cvr},
        listing=_listing(),
        address=_filters() | {"cvr": cvr} | _listing(),
        stories=approval_stories(cvr, results["agreements"]) if form.query else [],
        **results,
    )
    return page_text, 400 if form.errors else 200


# Exports of what is shown


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _batches(entries: Iterable[Entry], size: int) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@blueprint.get("/eksport.csv")
@auditor_required
def export_csv() -> Response:
    """Every event the search matches (all its pages), newest first, as the pages show them."""
    form = Form()
    query, app = form.checked(), ledger()
    entries = event_index().matching(query, newest_first=not form.oldest_first)

    context = Context.of(app)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        table = history_writer(buffer)
        for batch in _batches(entries, CHECK_BATCH):
            for checked in check_entries(app, batch).entries:
                check = (status_text(checked), checked.covered_by)
                table.writerow(history_row(checked.entry, context, check))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return Response(
        stream_with_context(rows()),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="revision-{_stamp()}.csv"'},
    )


@blueprint.get("/eksport.zip")
@auditor_required
def export_zip() -> Response:
    """An evidence bundle (docs/evidence-format.md section 4) of exactly the matched events: a
    subset with inclusion proofs, or the full log when nothing is filtered out."""
    query = _query()
    directory = Path(tempfile.mkdtemp(prefix="bevispakke-"))
    try:
        out = directory / "bevispakke.zip"
        if query.is_everything:
            export_bundle(ledger(), out)
        else:
            chosen = event_index().matching(query, newest_first=False)
            export_bundle(ledger(), out, entries=chosen)
        bundle = out.open("rb")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    response = send_file(
        bundle,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"bevispakke-{_stamp()}.zip",
    )
    response.call_on_close(lambda: shutil.rmtree(directory, ignore_errors=True))
    return response
