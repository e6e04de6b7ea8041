"""The auditor's migration report of one municipality: each task of the plan with its
evidence and the receipts that prove it, the gate and the switch day, as a page, as a PDF
to keep, and as an evidence bundle of exactly the events the report rests on, which
`ledger verify --bundle` checks without the portal (the PDF carries that bundle too).

An auditor limited to some CVRs gets the reports of those only."""

import datetime
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, send_file
from flask_login import current_user

from ledger import migration
from ledger.danish_time import danish_today
from ledger.domain import DomainError
from ledger.evidence.merkle import leaf_hash
from ledger.export import export_bundle
from ledger.identity import InvalidCVR, validate_cvr
from ledger.search import Query, check_entries
from ledger.signed_log import Entry
from web.audit import coverage_text, status_text
from web.auth import event_index, ledger, migration_board
from web.migration_display import downtime_text, phases, task_views
from web.roles import auditor_required
from web.translation import gettext as _

blueprint = Blueprint("audit_migration", __name__, url_prefix="/revision")

# The events a migration report rests on, besides the Migration aggregate's own: the
# customer, its approvals (and resets and checks of signing authority), its declaration, and
# the colleague roles its signatory granted and revoked.
# The events of the path to the approval in force: each approval, reset and check.
APPROVAL_PATH = frozenset({"Approved", "ApprovalReset", "SigningAuthorityChecked"})
REPORTED_TYPES = frozenset(migration.FACT_EVENT_TYPES) | {"RoleGranted", "RoleRevoked"}


def _cvr(cvr: str) -> str:
    try:
        cvr = validate_cvr(cvr)
    except InvalidCVR as error:
        abort(400, str(error))
    if not current_user.may_read_cvr(cvr):
        abort(403, _("Du har ikke adgang til hændelser for CVR %(cvr)s.", cvr=cvr))
    return cvr


def _reported(entry: Entry) -> bool:
    if entry.event_type not in REPORTED_TYPES:
        return False
    if entry.event_type in ("RoleGranted", "RoleRevoked"):
        return getattr(entry.event, "role", None) == migration.COLLEAGUE_ROLE
    return True


def report_entries(cvr: str) -> list[Entry]:
    """Every event of the municipality the report rests on, in the log's order."""
    found: Iterator[Entry] = event_index().matching(Query(cvr=cvr), newest_first=False)
    return [entry for entry in found if _reported(entry)]


def _report(cvr: str) -> dict[str, Any]:
    """What the page and the PDF show: the status, each task with its evidence and receipts,
    and every event of the report as the portal checked it."""
    try:
        name: str | None = ledger().customer(cvr).name
    except DomainError:
        name = None
    status = migration_board().status(cvr, today=danish_today())
    entries = report_entries(cvr)
    by_seq = {entry.seq: entry for entry in entries}
    missing = [seq for view in status.tasks for seq in (*view.seqs, view.seq) if seq is not None]
    if any(seq not in by_seq for seq in missing):
        # A task's evidence the index has not (an event without the CVR): read from the log.
        extra = ledger().signed_log.entries_at(seq for seq in missing if seq not in by_seq)
        by_seq |= {entry.seq: entry for entry in extra}
        entries = sorted(by_seq.values(), key=lambda entry: entry.seq)
    checked = check_entries(ledger(), entries)
    views = task_views(status, by_seq)
    return {
        "cvr": cvr,
        "name": name,
        "status": status,
        "phases": phases(views),
        "downtime": downtime_text(status),
        "checked": checked,
        "checked_by_seq": {item.entry.seq: item for item in checked.entries},
        "checks": [e for e in entries if e.event_type == "SigningAuthorityChecked"],
        "approval_path": [e for e in entries if e.event_type in APPROVAL_PATH],
        "basis_titles": migration.SIGNING_BASIS_TITLES,
        "entries": entries,
        "status_text": status_text,
        "coverage_text": coverage_text,
        "leaf_hash": lambda entry: leaf_hash(entry.leaf).hex(),
        "task_title": lambda key: migration.task(key).title,
        "bundle_name": bundle_name(cvr),
    }


def bundle_name(cvr: str) -> str:
    return f"bevispakke-migrering-{cvr}.zip"


@blueprint.get("/kunde/<cvr>/migrering")
@auditor_required
def report(cvr: str) -> str:
    return render_template("audit/migration.html", **_report(_cvr(cvr)))


def _bundle(cvr: str, entries: list[Entry], directory: Path) -> Path:
    out = directory / bundle_name(cvr)
    export_bundle(ledger(), out, entries=entries)
    return out


@blueprint.get("/kunde/<cvr>/migrering/bevispakke.zip")
@auditor_required
def report_bundle(cvr: str) -> Response:
    """The evidence bundle of exactly the report's events (a subset with inclusion proofs)."""
    cvr = _cvr(cvr)
    directory = Path(tempfile.mkdtemp(prefix="bevispakke-migrering-"))
    try:
        bundle = _bundle(cvr, _report(cvr)["entries"], directory).open("rb")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    response = send_file(
        bundle, mimetype="application/zip", as_attachment=True, download_name=bundle_name(cvr)
    )
    response.call_on_close(lambda: shutil.rmtree(directory, ignore_errors=True))
    return response


@blueprint.get("/kunde/<cvr>/migrering.pdf")
@auditor_required
def report_pdf(cvr: str) -> Response:
    """The report as PDF/A-3 to keep, with the report's evidence bundle attached: whoever
    keeps the PDF keeps what `ledger verify --bundle` checks."""
    # WeasyPrint loads Pango and its fonts: only when a PDF is asked for.
    from weasyprint import Attachment

    from web.receipt_pdf import pdf_document

    cvr = _cvr(cvr)
    facts = _report(cvr)
    printed_at = datetime.datetime.now(datetime.UTC)
    directory = Path(tempfile.mkdtemp(prefix="migreringsrapport-"))
    try:
        bundle = _bundle(cvr, facts["entries"], directory).read_bytes()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    page = render_template("audit/migration_pdf.html", printed_at=printed_at, **facts)
    attachment = Attachment(
        file_obj=io.BytesIO(bundle),
        name=bundle_name(cvr),
        description="Bevispakken med rapportens hændelser, som ledger verify --bundle kontrollerer",
        created=printed_at,
        modified=printed_at,
        relationship="Source",
    )
    pdf = pdf_document(page, base_url=request.url_root, attachments=[attachment])
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="migreringsrapport-{cvr}.pdf"'},
    )
