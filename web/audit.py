"""Auditors: history search, a timeline per customer, and exports of what is shown.

A search is a GET form (it works without JavaScript); the same filters choose the CSV and
the evidence bundle, so an export holds exactly what the pages show. An auditor limited to
some CVRs sees only their events; events without a CVR (refused logins without a verified
identity, role changes made at the command line, the log's keys) only unlimited auditors see.
"""

import datetime
import io
import shutil
import tempfile
from collections.abc import Iterable, Iterator
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
)
from flask_login import current_user

from ledger.danish_time import start_of_danish_day
from ledger.domain import DomainError
from ledger.evidence.reasons import Reason
from ledger.export import Context, export_bundle, history_row, history_writer
from ledger.identity import InvalidCVR, validate_cvr
from ledger.search import MAX_PAGE, CheckedEntry, Query, check_entries
from ledger.signed_log import Entry
from web.arguments import date_arg, number_arg
from web.auth import event_index, ledger
from web.display import EVENT_NAMES
from web.roles import auditor_required

blueprint = Blueprint("audit", __name__, url_prefix="/revision")

PAGE_SIZE = 25
CHECK_BATCH = 500
# The form's fields, as they appear in the address.
FILTERS = ("cvr", "aftale", "person", "type", "fra", "til")
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
    Reason.BAD_INCLUSION_PROOF: "Beviset for optagelse i checkpointet holder ikke",
}
CHECKPOINT_PROBLEMS: dict[str, str] = {
    Reason.BAD_SIGNATURE: "Det nyeste checkpoint har en signatur, der ikke passer",
    Reason.UNKNOWN_KEY: "Det nyeste checkpoint er ikke signeret med en kendt nøgle",
    Reason.WRONG_ORIGIN: "Det nyeste checkpoint er fra en anden log",
}


def status_text(checked: CheckedEntry) -> str:
    """The verification status of one shown event, in Danish."""
    if checked.verified:
        return "Verificeret"
    return "; ".join(PROBLEMS.get(reason, reason) for reason in checked.problems)


def coverage_text(checked: CheckedEntry) -> str:
    if checked.covered_by is None:
        return "Endnu ikke bevist i et checkpoint"
    return f"Med i checkpoint af størrelse {checked.covered_by}"


# Reading the form


def _scope() -> tuple[str, ...] | None:
    """The CVRs the auditor is limited to; None when they may read everything."""
    return tuple(current_user.auditor_cvrs) or None


def _filters() -> dict[str, str]:
    """The filters as given, for links to other pages and to the exports."""
    return {name: value for name in FILTERS if (value := request.args.get(name, "").strip())}


def _query(**fixed: str) -> Query:
    """The auditor's search, checked: 400 with a Danish message for what cannot be used."""
    args = {name: request.args.get(name, "").strip() for name in FILTERS} | fixed
    since, last = date_arg("fra", "Fra-datoen"), date_arg("til", "Til-datoen")
    if since and last and last < since:
        abort(400, "Til-datoen ligger før fra-datoen.")
    try:
        until = start_of_danish_day(last + datetime.timedelta(days=1)) if last else None
    except OverflowError:
        abort(400, "Til-datoen ligger for langt ude i fremtiden.")
    if args["type"] and args["type"] not in EVENT_NAMES:
        abort(400, f"Hændelsestypen {args['type']!r} findes ikke.")
    try:
        query = Query.checked(
            cvr=args["cvr"],
            agreement=args["aftale"],
            person=args["person"],
            event_type=args["type"],
            since=start_of_danish_day(since) if since else None,
            until=until,
            scope=_scope(),
        )
    except ValueError as error:
        abort(400, str(error))
    if query.cvr is not None and not current_user.may_read_cvr(query.cvr):
        abort(403, f"Du har ikke adgang til hændelser for CVR {query.cvr}.")
    return query


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


def _results(query: Query, page: int) -> dict[str, Any]:
    found = event_index().search(query, page=page, page_size=PAGE_SIZE, **_anchors())
    checked = check_entries(ledger(), found.entries)
    return {
        "found": found,
        "checked": checked,
        "checkpoint_problem": CHECKPOINT_PROBLEMS.get(
            checked.checkpoint_problem or "", checked.checkpoint_problem
        ),
        "agreements": agreement_names(),
        "status_text": status_text,
        "coverage_text": coverage_text,
    }


@blueprint.before_request
def summarize_refusals_first() -> None:
    """An auditor reads the log with the refused logins of every closed interval in it."""
    if current_user.is_authenticated and current_user.is_auditor:
        ledger().summarize_login_refusals()


@blueprint.get("/")
@auditor_required
def search() -> str:
    query, page = _query(), _page()
    return render_template(
        "audit/search.html",
        filters=_filters(),
        event_names=EVENT_NAMES,
        scope=_scope(),
        **_results(query, page),
    )


@blueprint.get("/kunde/<cvr>")
@auditor_required
def timeline(cvr: str) -> str:
    """One customer's history, newest first."""
    try:
        cvr = validate_cvr(cvr)
    except InvalidCVR as error:
        abort(400, str(error))
    query, page = _query(cvr=cvr), _page()
    try:
        name: str | None = ledger().customer(cvr).name
    except DomainError:
        name = None
    return render_template(
        "audit/timeline.html",
        cvr=cvr,
        name=name,
        filters=_filters() | {"cvr": cvr},
        **_results(query, page),
    )


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
    query = _query()
    app = ledger()
    entries = event_index().matching(query, newest_first=True)

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
