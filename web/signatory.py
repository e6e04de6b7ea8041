"""The signatory's pages: the agreements for its CVR, Godkend, receipts, the declaration and
its own history."""

import datetime
import io
from typing import Any
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
    send_file,
    session,
    url_for,
)
from flask_login import current_user, login_required

from ledger.application import DocumentUnavailable, NotACustomer
from ledger.danish_time import DANISH_TIME
from ledger.documents import DocumentAltered, DocumentNotFound
from ledger.domain import (
    AgreementVersion,
    Approval,
    Authentication,
    Customer,
    Declaration,
    DomainError,
    approval_statement,
)
from ledger.evidence.bundle import Receipt
from ledger.evidence.cosignature import CosignatureError, cosignatures_of
from ledger.evidence.documents import named_documents
from ledger.evidence.merkle import leaf_hash
from ledger.evidence.note import NoteError
from ledger.evidence.timestamp import TimestampError, read_token
from ledger.migration import signing_basis
from ledger.read_models import AgreementState, agreement_states, receipt_seq
from ledger.search import MAX_PAGE, Query
from ledger.signed_log import Entry
from web.arguments import number_arg
from web.audit import agreement_names
from web.auth import authenticated_within, event_index, ledger
from web.display import day, describe
from web.roles import (
    acting_person,
    may_read_entry,
    remember_signatory_customer,
    signatory_customer,
    signatory_required,
)
from web.translation import gettext as _
from web.uploads import read_pdf, safe_name

blueprint = Blueprint("signatory", __name__)

HISTORY_PAGE = 50
# The Godkend form's checkbox: ticked, the signatory confirms the approval statement.
CONFIRMATION_FIELD = "bekraeft"
# The query parameter of the agreement page after the re-login Godkend asked for.
RELOGGED = "logget_ind_igen"


def _customer() -> Customer:
    """The municipality of the logged-in signatory, as `signatory_required` read it."""
    customer = signatory_customer()
    assert customer is not None, "signatory_required admits only a registered customer's"
    return customer


def _agreement(version_id: UUID) -> AgreementVersion:
    try:
        return ledger().agreement_version(version_id)
    except DomainError:
        abort(404)


@blueprint.get("/aftaler")
@signatory_required
def agreements() -> str:
    customer = _customer()
    states = agreement_states(ledger(), customer.cvr)
    return render_template("signatory/agreements.html", customer=customer, states=states)


@blueprint.get("/aftaler/<uuid:version_id>")
@signatory_required
def agreement(version_id: UUID) -> str:
    return _agreement_page(_agreement(version_id))


def _agreement_page(
    version: AgreementVersion,
    document_problem: str | None = None,
    confirmation_missing: bool = False,
) -> str:
    """The agreement with Godkend, unless its stored document no longer has its hash; the
    other current versions of the same agreement, so it is clear which one this is."""
    if document_problem is None:
        document_problem = ledger().agreement_document_problem(version)
    approval = ledger().approval(current_user.cvr, version.id)
    return render_template(
        "signatory/agreement.html",
        state=AgreementState(version, approval),
        receipt_seq=receipt_seq(ledger().signed_log, approval),
        document_problem=document_problem,
        max_age_minutes=int(current_app.config["APPROVAL_MAX_AUTH_AGE"].total_seconds() // 60),
        statement=approval_statement(_customer().name),
        confirmation_missing=confirmation_missing,
        relogged=request.args.get(RELOGGED) == "1",
        siblings=_siblings(version),
    )


def _siblings(version: AgreementVersion) -> list[AgreementState]:
    """The other current versions with the same title, oldest first: each is approved on its
    own, and a newer one does not replace an older one until staff retire the older."""
    return [
        state
        for state in agreement_states(ledger(), current_user.cvr)
        if state.agreement.title == version.title
        and state.agreement.id != version.id
        and not state.agreement.retired
    ]


@blueprint.get("/aftaler/<uuid:version_id>/dokument")
@signatory_required
def agreement_document(version_id: UUID) -> Response:
    """The agreement's PDF: a download, or with `?visning=side` shown inside the agreement
    page (inline, and only a page of our own origin may frame it)."""
    version = _agreement(version_id)
    inline = request.args.get("visning") == "side"
    return send_document(version.document_sha256, version.document_name, inline=inline)


@blueprint.post("/aftaler/<uuid:version_id>/godkend")
@login_required
def approve(version_id: UUID) -> Any:
    """Godkend: with a recent enough NemLog-in authentication, or through NemLog-in again.

    The signatory check (`signatory_required`'s) and what Godkend rests on are one read
    (`approval_subject`): the customer, the version, the CVR's approval of it and the
    person's colleague role. Someone logged in for a CVR that is no customer gets 403, as
    from `signatory_required`, before anything is said of the version (404)."""
    try:
        subject = ledger().approval_subject(
            current_user.cvr, version_id, current_user.person_uuid, with_customer=True
        )
    except NotACustomer:
        remember_signatory_customer(None)
        abort(403)
    except DomainError:
        abort(404)
    remember_signatory_customer(subject.customer)
    version = subject.agreement
    if request.form.get(CONFIRMATION_FIELD) != "ja":
        return _unconfirmed(version, subject.approval)
    if not authenticated_within(current_app.config["APPROVAL_MAX_AUTH_AGE"]):
        page = url_for("signatory.agreement", version_id=version.id) + f"?{RELOGGED}=1"
        return redirect(url_for("auth.login", next=page, fresh="1"))
    identity = session["identity"]
    statement = approval_statement(_customer().name)
    try:
        approval, approved_now = ledger().approve(
            cvr=current_user.cvr,
            version_id=version.id,
            actor=acting_person(),
            authentication=Authentication(
                assertion_id=identity["assertion_id"],
                authn_instant=identity["authn_instant"],
                assertion_sha256=identity["assertion_sha256"],
            ),
            ip=request.remote_addr or "",
            user_agent=request.headers.get("User-Agent", "")[:500],
            customer=subject.customer,  # read with the subject, not read again
            subject=subject,
            confirmed_statement=statement,
            signing_basis=signing_basis(
                current_user.cvr,
                statement_confirmed=True,
                authorized_to_represent=identity.get("authorized_to_represent", ()),
                privileges=[
                    p
                    for p in identity.get("privileges", ())
                    if p == ledger().settings.signing_privilege
                ],
            ),
        )
    except DocumentUnavailable as error:
        return _agreement_page(version, str(error)), 409
    except DomainError as error:
        abort(400, str(error))
    assert approval.approved_version is not None, "approve returns the approval in force"
    seq = ledger().signed_log.seq_of(approval.id, approval.approved_version)
    if approved_now:
        flash(
            _(
                "Aftalen er godkendt for %(org)s, og godkendelsen er registreret i loggen. "
                "Du skal ikke gøre mere. Gem gerne kvitteringen: den viser, hvem der "
                "godkendte hvad og hvornår. Nulstiller leverandøren godkendelsen, står aftalen "
                "igen som »Afventer godkendelse« under Aftaler.",
                org=_customer().name,
            ),
            "next",
        )
    # Post/redirect/get: a reload, a second click or a second tab shows the same receipt.
    return redirect(url_for("signatory.receipt", seq=seq))


def _unconfirmed(version: AgreementVersion, approval: Approval | None) -> Any:
    """Godkend without the statement ticked: the page again, saying what is missing, and
    nothing recorded; an agreement already approved shows its receipt (a second tab)."""
    seq = receipt_seq(ledger().signed_log, approval)
    if seq is not None:
        return redirect(url_for("signatory.receipt", seq=seq))
    return _agreement_page(version, confirmation_missing=True), 400


# Receipts


def _readable_entry(seq: int) -> Entry:
    """The event at `seq`, if the person may read it (404 rather than 403: no probing)."""
    entry = ledger().signed_log.entry(seq)
    if entry is None or not may_read_entry(entry):
        abort(404)
    return entry


@blueprint.get("/kvitteringer/<int:seq>")
@login_required
def receipt(seq: int) -> str:
    return render_template("signatory/receipt.html", external=False, **_receipt_facts(seq))


@blueprint.get("/kvitteringer/<int:seq>.pdf")
@login_required
def receipt_pdf(seq: int) -> Response:
    """The receipt as PDF/A-3 with the JSON receipt embedded, to keep and to print: the page's
    words and the current state as of now, and the evidence `ledger verify` checks."""
    # WeasyPrint loads Pango and its fonts: only when a PDF is asked for, not in every worker.
    from web.receipt_pdf import pdf_receipt

    facts = _receipt_facts(seq)
    proof: Receipt = facts["proof"]
    document = _signed_document(proof, facts["document"])
    printed_at = datetime.datetime.now(datetime.UTC)
    # Its links are absolute: a saved PDF is read away from the portal.
    page = render_template(
        "signatory/receipt_pdf.html",
        printed_at=printed_at,
        external=True,
        embedded=None if document is None else document[0],
        **facts,
    )
    pdf = pdf_receipt(
        page,
        base_url=request.url_root,
        receipt_json=proof.to_json(),
        receipt_name=f"kvittering-{seq}.json",
        made_at=printed_at,
        document=document,
    )
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="kvittering-{seq}.pdf"'},
    )


def _signed_document(proof: Receipt, named: tuple[str, str] | None) -> tuple[str, bytes] | None:
    """The (name, bytes) of the document the PDF receipt embeds beside its JSON receipt: the
    one the signed event names by its `document_sha256` (an approval's agreement, a handed-in
    declaration), so `ledger verify --receipt` can check it against the signed hash. None for
    an event that names none by hash (a reset names the approval it ends), and for a stored
    copy that is missing or altered, which the receipt page already says cannot be had."""
    if named is None or proof.payload is None:
        return None
    sha256, name = named
    if ("document_sha256", sha256) not in named_documents(proof.payload):
        return None
    try:
        content = ledger().documents.get(sha256)
    except (DocumentAltered, DocumentNotFound):
        return None
    name = safe_name(name, default="dokument.pdf")
    # Never a second .json attachment, which a verifier would take for a second receipt.
    return (name if name.lower().endswith(".pdf") else f"{name}.pdf"), content


@blueprint.get("/kvitteringer/<int:seq>/dokument")
@login_required
def receipt_document(seq: int) -> Response:
    """The document the event names (the approved agreement's PDF, a handed-in declaration)
    for whoever may read the receipt: the document its hash is the fingerprint of."""
    entry = _readable_entry(seq)
    named = _named_document(entry, _receipt_agreement(entry))
    if named is None:
        abort(404)
    return send_document(*named)


def _receipt_facts(seq: int) -> dict[str, Any]:
    """What the receipt page and the PDF receipt show of event `seq`: the signed facts, the
    proof, and what has happened to an approval since (the current state, never signed)."""
    entry = _readable_entry(seq)
    proof = _receipt(seq)
    agreement = _receipt_agreement(entry)
    return {
        "entry": entry,
        "proof": proof,
        "agreement": agreement,
        "customer_name": _customer_name(entry),
        "document": _named_document(entry, agreement),
        "since": _since(entry),
        "leaf_hash": leaf_hash(entry.leaf).hex(),
        "checkpoint": proof.checkpoint,
        "timestamp": _timestamp(proof),
        "cosigners": _cosigners(proof),
        "size": _asked_size(),
        "at": _at_minute,
    }


def _receipt_agreement(entry: Entry) -> AgreementVersion | None:
    agreement_id = getattr(entry.event, "agreement_version_id", None)
    if agreement_id is None:
        return None
    return ledger().agreement_version(agreement_id)


def _customer_name(entry: Entry) -> str | None:
    """The customer's name as registered, for the receipt's sentence about it."""
    cvr = getattr(entry.event, "cvr", None)
    if cvr is None:
        return None
    try:
        return str(ledger().customer(cvr).name)
    except DomainError:
        return None


def _named_document(entry: Entry, agreement: AgreementVersion | None) -> tuple[str, str] | None:
    """The (SHA-256, name) of the document the event is about, if it is about one."""
    if agreement is not None:
        return agreement.document_sha256, agreement.document_name
    sha256 = getattr(entry.event, "document_sha256", None)
    if sha256 is None:
        return None
    return sha256, getattr(entry.event, "document_name", None) or "dokument.pdf"


def _since(entry: Entry) -> dict[str, Entry | None] | None:
    """For an approval, what has happened to it since: the reset that invalidated it and the
    approval now in force, if any; None for an event that is no approval.

    An approval's next event is the reset that ends it (nothing else follows an approval in
    force), and a reset names the version it invalidates, which is checked here."""
    if entry.event_type != "Approved":
        return None
    event: Any = entry.event
    log = ledger().signed_log
    approval = ledger().approval(event.cvr, event.agreement_version_id)
    if approval is None or approval.version <= event.originator_version:
        return {"reset": None, "in_force": entry}
    reset = log.entry(log.seq_of(approval.id, event.originator_version + 1))
    if (
        reset is None
        or reset.event_type != "ApprovalReset"
        or getattr(reset.event, "invalidates_version", None) != event.originator_version
    ):
        return {"reset": None, "in_force": entry}
    now = receipt_seq(log, approval)
    return {"reset": reset, "in_force": None if now is None else log.entry(now)}


def _at_minute(value: object) -> str:
    """A moment in a sentence, in Danish local time to the minute: 1. december 2026 kl. 09.07
    (the facts below the sentence keep the seconds)."""
    moment = datetime.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    moment = moment.astimezone(DANISH_TIME)
    return f"{day(moment.date())} kl. {moment:%H.%M}"


def _cosigners(proof: Receipt) -> list[dict[str, object]]:
    """The configured witnesses whose cosignature the receipt's checkpoint carries, each
    verified with the witness's key (a line that does not verify is no one's word), by name,
    with the time in its cosignature."""
    witnesses = ledger().signed_log.witnesses
    try:
        found = cosignatures_of(proof.checkpoint, [witness.key for witness in witnesses])
    except (CosignatureError, NoteError):
        return []
    return [
        {"witness": c.witness, "time": datetime.datetime.fromtimestamp(c.timestamp, datetime.UTC)}
        for c in sorted(found, key=lambda cosignature: cosignature.witness)
    ]


def _timestamp(proof: Receipt) -> dict[str, object] | None:
    """Who vouches for the time of the receipt's checkpoint, and when: the TSA named by its
    certificate's subject and the token's time, when the checkpoint has a token (the log
    checked it before keeping it; `ledger verify --tsa-roots` checks it again)."""
    if proof.timestamp is None:
        return None
    try:
        time, tsa = read_token(proof.timestamp)
    except TimestampError:
        return None
    return {"time": time, "tsa": tsa or _("en tidsstempelmyndighed")}


@blueprint.get("/kvitteringer/<int:seq>.json")
@login_required
def receipt_json(seq: int) -> Response:
    _readable_entry(seq)
    proof = _receipt(seq)
    return Response(
        proof.to_json(),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="kvittering-{seq}.json"'},
    )


def _receipt(seq: int) -> Receipt:
    """The event's receipt: in the first checkpoint that covers it, the same on every
    download, or in the later stored checkpoint `?size=N` names (404 when there is none)."""
    size = _asked_size()
    try:
        return ledger().signed_log.receipt(seq, size)
    except DomainError as error:
        abort(404 if size is not None else 503, str(error))


def _asked_size() -> int | None:
    """The size of the stored checkpoint a receipt is asked for in (`?size=N`), if any."""
    if request.args.get("size") is None:
        return None
    return number_arg("size", "Størrelsen", lowest=1)


# The joint management declaration


@blueprint.route("/erklaering", methods=["GET", "POST"])
@signatory_required
def declaration() -> Any:
    cvr = current_user.cvr
    error = None
    if request.method == "POST":
        try:
            name, content = read_pdf(request.files.get("document"))
            handed_in = ledger().hand_in_declaration(
                cvr=cvr, document=content, document_name=name, actor=acting_person()
            )
        except DomainError as problem:
            error = str(problem)
        else:
            seq = ledger().signed_log.seq_of(handed_in.id, handed_in.version)
            flash(
                _(
                    "Erklæringen er afleveret. Nu underskriver leverandøren den, og derefter "
                    "sender leverandøren den til Digitaliseringsstyrelsen. Du skal ikke gøre "
                    "mere nu; du kan følge erklæringen og hente den under Ledelseserklæring."
                ),
                "next",
            )
            return redirect(url_for("signatory.receipt", seq=seq))
    declaration = ledger().declaration(cvr)
    return render_template(
        "signatory/declaration.html",
        declaration=declaration,
        earlier_rounds=_rounds(declaration)[:-1][::-1],
        error=error,
    ), (400 if error else 200)


@blueprint.get("/erklaering/afleveret.pdf")
@signatory_required
def handed_in_declaration() -> Response:
    """The declaration as the municipality handed it in (the current round's)."""
    return _declaration_copy("handed_in_sha256", "afleveret")


@blueprint.get("/erklaering/medunderskrevet.pdf")
@signatory_required
def countersigned_declaration() -> Response:
    """The declaration as the operator countersigned it (the current round's)."""
    return _declaration_copy("countersigned_sha256", "medunderskrevet")


@blueprint.get("/erklaering/runder/<int:number>/<any(afleveret, medunderskrevet):step>.pdf")
@signatory_required
def declaration_of_round(number: int, step: str) -> Response:
    """A copy from any round of the signatory's own declaration (its own CVR's only), as the
    declaration page's list of earlier rounds links to it."""
    rounds = _rounds(ledger().declaration(current_user.cvr))
    if not 1 <= number <= len(rounds):
        abort(404)
    entry = rounds[number - 1].get("HandedIn" if step == "afleveret" else "Countersigned")
    if entry is None:
        abort(404)
    event: Any = entry.event
    return send_document(
        event.document_sha256, f"erklaering-{current_user.cvr}-runde-{number}-{step}.pdf"
    )


def _rounds(declaration: Declaration | None) -> list[dict[str, Entry]]:
    """The declaration's rounds, oldest first: each round's events by type (HandedIn,
    Countersigned, SentToAgency), read from the log, for the aggregate keeps only the
    current round. A declaration has a few events a year, so all are read."""
    if declaration is None:
        return []
    log = ledger().signed_log
    seqs = [log.seq_of(declaration.id, version) for version in range(1, declaration.version + 1)]
    rounds: list[dict[str, Entry]] = []
    for entry in log.entries_at(seqs):
        if entry.event_type == "HandedIn":
            rounds.append({})
        if rounds:
            rounds[-1][entry.event_type] = entry
    return rounds


def _declaration_copy(sha256_field: str, step: str) -> Response:
    """One of the signatory's own declaration copies by the field naming its document, or
    404 when the current round has none."""
    found = ledger().declaration(current_user.cvr)
    sha256 = None if found is None else getattr(found, sha256_field)
    if found is None or sha256 is None:
        abort(404)
    return send_document(sha256, f"erklaering-{found.cvr}-{step}.pdf")


# History


@blueprint.get("/historik")
@signatory_required
def history() -> str:
    """Its own CVR's history, newest first, a page at a time (from the search index)."""
    page = number_arg("side", "Sidetallet", default=1, lowest=1, highest=MAX_PAGE)
    found = event_index().search(Query(cvr=current_user.cvr), page=page, page_size=HISTORY_PAGE)
    agreements = agreement_names()
    return render_template(
        "signatory/history.html",
        customer=_customer(),
        events=[
            (entry, describe(entry, agreements, current_user.person_uuid))
            for entry in found.entries
        ],
        page=found.page,
        more=found.has_more,
    )


def send_document(sha256: str, name: str, *, inline: bool = False) -> Response:
    """A stored document as a download, under its (cleaned) uploaded name; a Danish page
    when it is missing or no longer has the hash the log names. `inline`: to be shown in a
    frame of one of our own pages, which only our origin may frame (CSP frame-ancestors)."""
    try:
        content = ledger().documents.get(sha256)
    except DocumentAltered:
        return _document_unavailable(
            "Det gemte dokument svarer ikke længere til den SHA-256-værdi, som loggen "
            "angiver, og udleveres derfor ikke. Kontakt operatøren.",
            409,
        )
    except DocumentNotFound:
        return _document_unavailable(
            "Dokumentet findes ikke hos operatøren. Kontakt operatøren.", 404
        )
    response = send_file(
        io.BytesIO(content),
        mimetype="application/pdf",
        as_attachment=not inline,
        download_name=safe_name(name, default="dokument.pdf"),
    )
    if inline:
        # Set before the portal's own headers, which are only defaults (DENY, 'none'); no
        # other directive, for the browser's PDF viewer runs under the document's policy.
        response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _document_unavailable(text: str, status: int) -> Response:
    page = render_template("error.html", headline="Dokumentet kan ikke hentes", text=text)
    return Response(page, status=status, mimetype="text/html")
