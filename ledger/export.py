"""Evidence bundles of the ledger: the whole log, one CVR in a time range, or chosen events,
and `history.csv`, the events as rows a person reads in a spreadsheet."""

import csv
import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple
from uuid import UUID

from cryptography.hazmat.primitives import serialization

from ledger.application import LedgerApp
from ledger.danish_time import DANISH_TIME
from ledger.domain import DomainError
from ledger.evidence import merkle
from ledger.evidence.bundle import (
    CHECKPOINT_FILE,
    CONSISTENCY_FILE,
    KEYS_FILE,
    PROOFS_FILE,
    QUORUM_FILE,
    README_FILE,
    TIMESTAMP_FILE,
    TSA_ROOTS_FILE,
    WITNESSES_FILE,
    BundleError,
    BundleWriter,
    consistency_text,
    kept_checkpoint,
)
from ledger.evidence.note import NoteError
from ledger.identity import NsisLevel
from ledger.migration import (
    MAIL_DECISIONS,
    PUPILS,
    SIGNING_BASIS_TITLES,
    TERMS_OUTCOMES,
    TOLD_VIA,
    task,
)
from ledger.signed_log import Entry, as_proved
from ledger.storage.checkpoints import CheckpointStore

HISTORY_CSV = "history.csv"
# The event types in Danish, as every page and export names them.
EVENT_NAMES = {
    "LogStarted": "Loggen startet",
    "KeyRotated": "Signeringsnøgle skiftet",
    "Registered": "Kunde registreret",
    "Renamed": "Kundens navn rettet",
    "Published": "Aftaleversion offentliggjort",
    "Retired": "Aftaleversion trukket tilbage",
    "Approved": "Godkendt",
    "ApprovalReset": "Godkendelse nulstillet",
    "HandedIn": "Erklæring afleveret",
    "Countersigned": "Erklæring medunderskrevet",
    "SentToAgency": "Erklæring sendt til Digitaliseringsstyrelsen",
    "RoleGranted": "Rolle tildelt",
    "RoleRevoked": "Rolle frataget",
    "LoginRejected": "Login afvist",
    "LoginRefusalsCounted": "Afviste login talt",
    "NoticeSent": "E-mail sendt",
    "SigningAuthorityChecked": "Tegningsret kontrolleret",
    "GranterChecked": "Tegningsret bag rollen Kollega kontrolleret",
    "OperatingAgreementArchived": "Driftsaftale arkiveret",
    "EarlyPasswordPolicyAnnounced": "Kodeord på mindst 15 tegn varslet",
    "FullServiceEnabled": "Full Service IdP slået til",
    "MailTemplatesReviewed": "Mailskabeloner gennemgået",
    "PasswordPolicyReviewed": "Kodeordspolitik gennemgået",
    "TermsReviewed": "Vilkår gennemgået",
    "TaskMarkedNotRelevant": "Opgave markeret som ikke relevant",
    "TaskReopened": "Opgave genåbnet",
    "SwitchScheduled": "Skift planlagt",
    "SwitchStepRecorded": "Trin på skiftedagen registreret",
    "EvidenceFormatAdopted": "Bevisformat taget i brug",
    "PersonalDataErased": "Persondata slettet",
    "PersonalDataErasureRefused": "Sletning af persondata afvist",
}
# What an e-mail notice was about (ledger.notices' kinds), and who it went to.
NOTICE_KINDS = {
    "approval-reset": "Godkendelsen blev nulstillet",
    "new-version": "Ny aftaleversion venter på godkendelse",
    "renewal-due": "Ledelseserklæringen skal fornyes",
    "approved": "Kunden godkendte",
    "handed-in": "Kunden afleverede erklæringen",
    "task-due": "Opgaver i migreringen skal snart være løst",
    "switch-soon": "Skiftedagen nærmer sig",
}
RECIPIENT_ROLES = {"signatory": "Kundens tegningsberettigede", "staff": "Leverandørens drift"}
# Why a login was refused (the codes of saml.refusals), as an auditor reads it.
REFUSAL_REASONS = {
    "loa-too-low": "Sikringsniveauet var for lavt (under Betydelig)",
    "private-identity": "Privat MitID i stedet for en erhvervsidentitet",
    "missing-cvr": "Login uden gyldigt CVR-nummer",
    "spec-version": "IdP'en brugte en anden version af OIOSAML end den krævede",
    "identity-mismatch": "Identiteten passede ikke til den, der var logget ind",
    "unusable-identity": "Navnet eller organisationens navn kunne ikke bruges",
    "oversize": "Login-svaret var for stort",
    "malformed-base64": "Login-svaret var ikke gyldig base64",
    "malformed-xml": "Login-svaret var ikke gyldig XML",
    "dtd-forbidden": "Login-svaret indeholdt en DTD, som ikke er tilladt",
    "not-a-response": "Det indsendte var ikke et SAML-svar",
    "unsolicited": "Login-svaret svarede ikke på et login fra portalen",
    "in-response-to-mismatch": "Login-svaret hørte til et andet login",
    "request-reused": "Login-anmodningen var allerede brugt",
    "replayed": "Login-svaret var allerede brugt (genafspillet)",
    "wrong-destination": "Login-svaret var sendt til en anden adresse",
    "wrong-issuer": "Login-svaret kom fra en anden IdP end NemLog-in",
    "wrong-audience": "Login-svaret var til en anden tjeneste",
    "wrong-recipient": "Login-svaret var til en anden modtager",
    "wrong-subject-confirmation": "Login-svarets bekræftelse af personen holdt ikke",
    "nameid-format": "Personens id havde et forkert format",
    "wrong-sp-name-qualifier": "Personens id var til en anden tjeneste",
    "idp-status": "Login blev afbrudt hos NemLog-in",
    "unencrypted-assertion": "Login-svaret var ikke krypteret",
    "assertion-count": "Login-svaret havde ikke præcis ét loginbevis",
    "weak-encryption": "Login-svaret var krypteret med en for svag algoritme",
    "weak-algorithm": "Login-svaret var signeret med en for svag algoritme",
    "forbidden-transform": "Login-svarets signatur brugte en transformation, som ikke er tilladt",
    "decryption-failed": "Login-svaret kunne ikke dekrypteres",
    "duplicate-id": "Login-svaret indeholdt samme id flere gange",
    "comment-in-assertion": "Login-svaret indeholdt en kommentar i loginbeviset",
    "unsigned-assertion": "Loginbeviset var ikke signeret",
    "bad-signature": "Signaturen på login-svaret holdt ikke",
    "schema-invalid": "Login-svaret fulgte ikke SAML-skemaet",
    "expired": "Login-svaret var udløbet",
    "not-yet-valid": "Login-svaret var endnu ikke gyldigt",
    "issued-too-long-ago": "Login-svaret var udstedt for længe siden",
    "assertion-lifetime": "Loginbeviset var gyldigt i for lang tid",
    "invalid-response": "Login-svaret kunne ikke godkendes",
}
ACTOR_KINDS = {"person": "Person", "operator": "Operatøren", "system": "Systemet"}
ROLE_NAMES = {"staff": "Drift", "auditor": "Revisor", "colleague": "Kollega"}
# The facts of a refused login an IdP's signed assertion vouched for, as they are named.
VERIFIED_NAMES = {"assertion_id": "Loginbevisets ID", "person_uuid": "Personens UUID", "cvr": "CVR"}
# What a spreadsheet would start a formula with (OWASP, CSV injection), and their
# full-width forms, which some spreadsheets take as the same.
FORMULA_STARTS = frozenset("=+-@\t\r\n|%＝＋－＠")


def refusal_reason(code: str) -> str:
    """A refused login's reason code in words (the code itself when it is a new one)."""
    return REFUSAL_REASONS.get(code, code)


def neutralized(text: str) -> str:
    """A cell a spreadsheet shows as the text it is, never as a formula: one that begins,
    after any spaces, with a character that starts a formula gets a leading apostrophe,
    which Excel and LibreOffice take as "this is text" (OWASP's advice)."""
    stripped = text.lstrip(" ")
    if stripped and stripped[0] in FORMULA_STARTS:
        return "'" + text
    return text


@dataclass(frozen=True)
class Context:
    """What rows are read with besides the events: agreement versions' names, and where in
    the log an invalidated approval is (found in the log, never guessed)."""

    agreements: Mapping[str, str] = field(default_factory=dict)
    seq_of: Callable[[UUID, int], int | None] = lambda _id, _version: None

    @classmethod
    def of(cls, app: LedgerApp) -> "Context":
        names = {}
        for version in app.agreement_versions():
            name = f"{version.title}, version {version.version_label}"
            names[str(version.id)] = name + (" (trukket tilbage)" if version.retired else "")

        def seq_of(originator_id: UUID, version: int) -> int | None:
            try:
                return app.signed_log.seq_of(originator_id, version)
            except (LookupError, DomainError):
                return None

        return cls(names, seq_of)


def _moment(value: object) -> datetime.datetime | None:
    if not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(DANISH_TIME)


def _day(value: object) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _loa(value: object) -> str:
    try:
        return NsisLevel.parse(str(value)).danish if value else ""
    except ValueError:
        return str(value)


def _counts(counts: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for count in counts:
        network = "de øvrige netværk" if count["network"] == "*" else count["network"]
        parts.append(f"{refusal_reason(count['reason'])} fra {network}: {count['refusals']}")
    return "; ".join(parts)


def _agreement(entry: Entry, facts: Mapping[str, Any], context: Context) -> str:
    version = facts.get("agreement_version_id")
    if version is not None:
        return context.agreements.get(str(version), str(version))
    if entry.event_type in ("Published", "Retired"):
        return context.agreements.get(str(entry.event.originator_id), "")
    return ""


def _invalidated(entry: Entry, facts: Mapping[str, Any], context: Context) -> int | None:
    version = facts.get("invalidates_version")
    if entry.event_type != "ApprovalReset" or version is None:
        return None
    return context.seq_of(entry.event.originator_id, int(version))


def _part(name: str, part: str) -> Callable[[Entry, Mapping[str, Any], Context], Any]:
    def value(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
        whole = facts.get(name)
        return whole.get(part) if isinstance(whole, Mapping) else None

    return value


def _actor(part: str) -> Callable[[Entry, Mapping[str, Any], Context], Any]:
    return lambda entry, facts, context: getattr(entry.actor, part, None)


@dataclass(frozen=True)
class Column:
    """One column of the history: its key (for the pages' links), its Danish heading, the
    facts it reads (left out of "Øvrige oplysninger") and how it reads its value."""

    key: str
    header: str
    value: Callable[[Entry, Mapping[str, Any], Context], Any]
    reads: tuple[str, ...] = ()
    # The one fact a column of `_fact_column` shows: without it the column says nothing.
    fact: str | None = None


def _refusal_code(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    return facts.get("reason") if entry.event_type == "LoginRejected" else None


def _refusal_words(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    code = _refusal_code(entry, facts, context)
    return refusal_reason(code) if code else None


def _reset_reason(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    return None if entry.event_type == "LoginRejected" else facts.get("reason")


def _verified(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    if entry.event_type != "LoginRejected":
        return None
    verified = facts.get("verified")
    if verified is None:
        return "Intet (registreret, før portalen angav det)"
    return ", ".join(VERIFIED_NAMES.get(name, name) for name in verified) or "Intet"


def _fact_column(
    key: str, header: str, name: str | None = None, shown: Callable[[Any], Any] = lambda v: v
) -> Column:
    """The column of the event's fact `name` (default: `key`), as `shown` shows it."""
    name = name or key

    def value(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
        fact = facts.get(name)
        return None if fact in (None, "", []) else shown(fact)

    return Column(key, header, value, (name,), name)


def _actor_kind(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    return ACTOR_KINDS.get(entry.actor.kind, entry.actor.kind) if entry.actor else None


def _actor_loa(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    return _loa(getattr(entry.actor, "loa", None)) or None


def _assertion_id(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    return _part("authentication", "assertion_id")(entry, facts, context) or facts.get(
        "assertion_id"
    )


def _authn_instant(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    return _moment(_part("authentication", "authn_instant")(entry, facts, context))


def _task_title(key: str) -> str:
    try:
        return task(key).title
    except DomainError:
        return key


def _ad_matches(entry: Entry, facts: Mapping[str, Any], context: Context) -> Any:
    matches = facts.get("ad_matches")
    return None if matches is None else ("Ja" if matches else "Nej")


# The history's columns, one fact each, in the order a person reads them. The page shows an
# event's details as these, and both CSV files (the page's and the bundle's) have them.
COLUMNS: tuple[Column, ...] = (
    Column("seq", "Nr.", lambda entry, facts, context: entry.seq),
    Column("time", "Tidspunkt (dansk tid)", lambda e, f, c: _moment(e.recorded_at)),
    Column("time_utc", "Tidspunkt (UTC, som i loggen)", lambda e, f, c: e.recorded_at),
    Column("event", "Hændelse", lambda e, f, c: EVENT_NAMES.get(e.event_type, e.event_type)),
    Column("event_type", "Hændelsestype (kode)", lambda e, f, c: e.event_type),
    Column("cvr", "CVR", lambda e, f, c: e.cvr, ("cvr",)),
    Column("actor", "Udført af", _actor("name"), ("actor",)),
    Column("actor_kind", "Udført af (slags)", _actor_kind),
    Column("actor_organisation", "Udført af (organisation)", _actor("organisation")),
    Column("actor_cvr", "Udført af (CVR)", _actor("cvr")),
    Column("actor_uuid", "Udført af (personens UUID)", _actor("person_uuid")),
    Column("loa", "Sikringsniveau", _actor_loa),
    Column("agreement", "Aftale", _agreement),
    _fact_column("agreement_version_id", "Aftaleversionens id"),
    _fact_column("customer_name", "Kundens navn", "name"),
    _fact_column("previous_name", "Kundens tidligere navn"),
    _fact_column("title", "Titel"),
    _fact_column("version_label", "Version"),
    _fact_column("document_name", "Dokumentets navn"),
    _fact_column("document_sha256", "Dokumentets SHA-256"),
    _fact_column("document_size", "Dokumentets størrelse (byte)"),
    _fact_column("confirmed_statement", "Bekræftet erklæring"),
    Column("assertion_id", "Loginbevisets ID", _assertion_id, ("assertion_id",)),
    Column("authn_instant", "Logget ind (dansk tid)", _authn_instant, ("authentication",)),
    Column(
        "assertion_sha256", "Loginbevisets SHA-256", _part("authentication", "assertion_sha256")
    ),
    Column("ip", "IP-adresse", _part("request", "ip"), ("request",)),
    Column("user_agent", "Browser", _part("request", "user_agent")),
    Column("approved_document", "Godkendt dokuments SHA-256", _part("request", "document_sha256")),
    Column("reason", "Begrundelse", _reset_reason, ("reason",)),
    Column(
        "invalidates", "Nulstiller godkendelsen med nr.", _invalidated, ("invalidates_version",)
    ),
    Column("refusal", "Afvisningsårsag", _refusal_words),
    Column("refusal_code", "Afvisningskode", _refusal_code),
    _fact_column("idp", "IdP"),
    Column("verified", "Verificeret af IdP'ens signatur", _verified, ("verified",)),
    _fact_column("person_uuid", "Personens UUID"),
    _fact_column("person_name", "Personens navn"),
    _fact_column("role", "Rolle", shown=lambda role: ROLE_NAMES.get(role, role)),
    _fact_column("cvrs", "CVR-numre", shown=", ".join),
    _fact_column("sent_on", "Sendt den", shown=_day),
    _fact_column("reference", "Digitaliseringsstyrelsens reference"),
    _fact_column("renewal_due", "Skal fornyes senest", shown=_day),
    _fact_column("interval_start", "Fra (dansk tid)", shown=_moment),
    _fact_column("interval_end", "Til (dansk tid)", shown=_moment),
    _fact_column("refusals", "Afviste login i alt"),
    _fact_column("counts", "Afviste login pr. årsag og netværk", shown=_counts),
    _fact_column("left_out", "Afviste login fra netværk, der ikke er listet", shown=_counts),
    _fact_column("networks_left_out", "Netværk, der ikke er listet", shown=lambda n: n or None),
    _fact_column("notice_kind", "E-mailens emne", shown=lambda k: NOTICE_KINDS.get(k, k)),
    _fact_column("recipient_email", "Sendt til (e-mailadresse)"),
    _fact_column("recipient_role", "Modtager", shown=lambda role: RECIPIENT_ROLES.get(role, role)),
    _fact_column("about_seq", "Om hændelse nr."),
    _fact_column("sent_at", "Modtaget af mailserveren (dansk tid)", shown=_moment),
    _fact_column("message_id", "E-mailens Message-ID"),
    # The migration to Full Service (ledger.migration) and the basis of an approval.
    _fact_column(
        "signing_basis",
        "Grundlag for tegningsret",
        shown=lambda basis: "; ".join(SIGNING_BASIS_TITLES.get(b, b) for b in basis),
    ),
    _fact_column("checked_version", "Kontrollerer godkendelsen med nr."),
    _fact_column("checked_grant_version", "Kontrollerer tildelingen af rollen med nr."),
    _fact_column("on_word_of", "Kommunens person, der oplyste det"),
    _fact_column("told_via", "Kommunen oplyste det", shown=lambda v: TOLD_VIA.get(v, v)),
    _fact_column("task", "Opgave", shown=_task_title),
    _fact_column("step", "Trin på skiftedagen", shown=_task_title),
    _fact_column("at", "Tidspunkt for trinet (dansk tid)", shown=_moment),
    _fact_column("signed_on", "Underskrevet den", shown=_day),
    _fact_column("users_told_on", "Brugerne fik besked den", shown=_day),
    _fact_column("pupils", "Elevernes kodeordspolitik", shown=lambda v: PUPILS.get(v, v)),
    _fact_column("pupils_set_up_by", "Elevernes kodeordspolitik sat op af"),
    _fact_column("decision", "Egne mailskabeloner", shown=lambda v: MAIL_DECISIONS.get(v, v)),
    _fact_column("minimum_length", "Kodeords mindste længde (tegn)"),
    Column("ad_matches", "Kodeordspolitikken i AD matcher", _ad_matches, ("ad_matches",)),
    _fact_column("outcome", "De gamle vilkår", shown=lambda v: TERMS_OUTCOMES.get(v, v)),
    _fact_column("switch_on", "Skiftedato", shown=_day),
    _fact_column("meeting_at", "Mødetidspunkt (dansk tid)", shown=_moment),
    _fact_column("service_window_minutes", "Servicevindue (minutter)"),
    _fact_column("note", "Bemærkning"),
    _fact_column("origin", "Loggens navn"),
    _fact_column("verifier_key", "Verifikationsnøgle"),
    # The evidence format the log writes in (docs/evidence-format.md section 10): named by
    # a log's first event, or by the event that adopted it (`version`).
    _fact_column("evidence_format", "Bevisformat"),
    _fact_column("version", "Bevisformat fra nu af"),
    _fact_column("previous_kid", "Forrige nøgles id"),
    # Erasures of personal data and the refusals of a request (docs/evidence-format.md
    # section 10.4); `reason` is the request's case, in "Begrundelse".
    _fact_column("rule", "Sletningsregel"),
    _fact_column("basis", "Retsgrundlag"),
    _fact_column("fields", "Slettede felter", shown=", ".join),
    _fact_column("event_fields", "Slettede felter pr. hændelsestype", shown=", ".join),
    _fact_column("before", "I hændelser før (dansk tid)", shown=_moment),
    _fact_column("seqs", "Hændelserne nr.", shown=lambda seqs: ", ".join(map(str, seqs))),
    _fact_column("openings", "Slettede værdier"),
    _fact_column("documents", "Slettede dokumenter (SHA-256)", shown=", ".join),
    _fact_column("redacted", "Erstattede hændelser i format 1 (nr. og SHA-256)", shown=", ".join),
)
_READ = frozenset(name for column in COLUMNS for name in column.reads)


def _others(entry: Entry, facts: Mapping[str, Any], context: Context) -> str | None:
    """Facts no column names (an event type newer than the columns), as `name: value`."""
    parts = [
        f"{name}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
        for name, value in facts.items()
        if name not in _READ and value not in (None, "", [])
    ]
    return "; ".join(parts) or None


OTHERS = Column("others", "Øvrige oplysninger", _others)
# What the portal found when it checked each event, beside the facts (empty in a bundle,
# which `ledger verify --bundle` checks instead).
CHECK_COLUMNS = ("Kontrol i portalen", "Med i kontrolpunkt af størrelse")
HISTORY_HEADER = (*(column.header for column in COLUMNS), OTHERS.header, *CHECK_COLUMNS)
_ALL_COLUMNS = (*COLUMNS, OTHERS)


class Cell(NamedTuple):
    """A column's value for one event (a named tuple: a page makes some 500)."""

    column: Column
    value: Any


def history_cells(entry: Entry, context: Context) -> list[Cell]:
    """An event's values in the history's columns (None where a column says nothing)."""
    facts = entry.facts()
    return [Cell(column, column.value(entry, facts, context)) for column in _ALL_COLUMNS]


def shown_cells(
    entry: Entry, context: Context, leaving_out: frozenset[str] = frozenset()
) -> list[Cell]:
    """The cells of `history_cells` that say something (not None or empty), as a page shows
    an event, but for the columns named in `leaving_out` (by key: what the page shows
    otherwise). A column of one fact the event does not have is not asked (most of the
    columns, for any one event type)."""
    facts, cells = entry.facts(), []
    for column in _ALL_COLUMNS:
        fact = column.fact
        if (fact is not None and facts.get(fact) in _EMPTY) or column.key in leaving_out:
            continue
        value = column.value(entry, facts, context)
        if value is not None and value != "":
            cells.append(Cell(column, value))
    return cells


_EMPTY: tuple[Any, ...] = (None, "", [])  # a fact's values that say nothing


def spreadsheet_text(value: Any) -> str:
    """A value as a Danish spreadsheet reads it: moments and days in Danish notation, never
    a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%d-%m-%Y %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.strftime("%d-%m-%Y")
    return neutralized(str(value))


def history_row(entry: Entry, context: Context, check: Sequence[Any] = ("", "")) -> list[str]:
    """An event as a row of `history.csv`, with what the portal's check found (`check`)."""
    cells = [spreadsheet_text(cell.value) for cell in history_cells(entry, context)]
    return [*cells, *(spreadsheet_text(value) for value in check)]


def history_writer(file: IO[str]) -> Any:
    """A CSV writer for `history.csv` rows as Danish Excel opens them (semicolons, UTF-8
    with a byte order mark, CRLF), its header written."""
    file.write("\ufeff")
    table = csv.writer(file, delimiter=";", lineterminator="\r\n")
    table.writerow(HISTORY_HEADER)
    return table


@dataclass(frozen=True)
class Exported:
    path: Path
    size: int
    entries: int
    subset: bool


def write_policy(app: LedgerApp, writer: BundleWriter) -> None:
    """The witness keys, quorum and TSA anchors the log is configured with, for a verifier
    who brings none of their own; the operator writes them, so they are the log's claim."""
    settings = app.settings
    if settings.witnesses:
        writer.write(
            WITNESSES_FILE,
            "# the witnesses the log is configured with (LEDGER_WITNESSES)\n"
            + "".join(f"{witness.key.line()}\n" for witness in settings.witnesses),
        )
        writer.write(QUORUM_FILE, f"{settings.witness_quorum}\n")
    if settings.tsa is not None:
        writer.write(
            TSA_ROOTS_FILE,
            "".join(
                root.public_bytes(serialization.Encoding.PEM).decode("ascii")
                for root in settings.tsa.roots
            ),
        )


def export_bundle(
    app: LedgerApp,
    out: Path,
    *,
    cvr: str | None = None,
    since: str | None = None,
    until: str | None = None,
    entries: Iterable[Entry] | None = None,
    since_bundle: Path | None = None,
) -> Exported:
    """Write a bundle for the newest checkpoint: full, or a subset with inclusion proofs.

    The subset is what concerns `cvr` between `since` and `until`, or exactly `entries`
    (chosen elsewhere, in `seq` order). Events the checkpoint does not cover are left out.
    `since_bundle` is a bundle exported earlier (an auditor's kept one): the new bundle
    carries the consistency proof from its checkpoint, so that the auditor can check
    offline that the log still extends what they kept. The proof is the log's own; whether
    it leads from the kept root is for the verifier to say, not for the exporter.
    """
    if entries is not None and (cvr is not None or since is not None or until is not None):
        raise ValueError("give either the chosen entries or cvr/since/until, not both")
    checkpoint = app.signed_log.checkpoint()
    if checkpoint is None:
        raise DomainError("Loggen er tom; der er intet at eksportere.")
    consistency = None
    if since_bundle is not None:
        try:
            kept = kept_checkpoint(since_bundle, app.keyring.verifier_keys())
        except (BundleError, NoteError) as error:
            raise DomainError(
                f"Den gemte bevispakke {since_bundle} kan ikke bruges: {error.reason}: {error}"
            ) from error
        if kept.size > checkpoint.size:
            raise DomainError(
                f"Den gemte bevispakkes kontrolpunkt dækker {kept.size} hændelser, loggens nyeste "
                f"kun {checkpoint.size}."
            )
        proof = app.signed_log.consistency_proof(kept.size, checkpoint.size)
        consistency = consistency_text(kept, proof)
    subset = entries is not None or cvr is not None or since is not None or until is not None
    chosen = entries if entries is not None else app.history(cvr=cvr, since=since, until=until)
    writer = BundleWriter(out)
    context = Context.of(app)

    def write_entries(tree: CheckpointStore) -> int:
        """Every chosen entry, its proof (one snapshot of the tree) and its readable row."""
        table = history_writer(writer.file(HISTORY_CSV))
        if subset:
            writer.file(PROOFS_FILE)  # a subset bundle has it even when nothing was chosen
        count = 0
        previous = -1
        for entry in chosen:
            if entry.seq <= previous:
                raise ValueError(f"entries must be in seq order: {entry.seq} after {previous}")
            previous = entry.seq
            if entry.seq >= checkpoint.size:
                continue
            proof = (
                merkle.inclusion_proof(entry.seq, checkpoint.size, tree.read_nodes)
                if subset
                else None
            )
            writer.entry(entry.leaf, as_proved(entry.payload), entry.seq, proof)
            for opening in app.personal_data.bundle_openings(entry.seq, entry.payload):
                writer.opening(opening)
            table.writerow(history_row(entry, context, ("", checkpoint.size)))
            count += 1
        return count

    try:
        # With the witnesses' cosignatures kept of it so far: a verifier trusting only the
        # log's keys skips them, one given the witnesses' keys counts them.
        writer.write(CHECKPOINT_FILE, app.signed_log.cosigned_note(checkpoint))
        # The timestamp authority's token of the checkpoint beside it, when it has one.
        token = app.signed_log.timestamp_token(checkpoint.size)
        if token is not None:
            writer.write_bytes(TIMESTAMP_FILE, token)
        if consistency is not None:
            writer.write(CONSISTENCY_FILE, consistency)
        write_policy(app, writer)
        keys = app.keyring.verifier_keys().values()
        writer.write(
            KEYS_FILE, "# verifier keys of the log\n" + "".join(f"{key.line()}\n" for key in keys)
        )
        count = app.signed_log.read_tree(write_entries)
        writer.write(README_FILE, read_me(subset=subset, consistency=consistency is not None))
    finally:
        writer.close()
    return Exported(out, checkpoint.size, count, subset)


def read_me(*, subset: bool, consistency: bool) -> str:
    """The bundle's `LÆS MIG.txt`: what each file is and how to check the bundle, in Danish
    for the person who opens the zip. It is not evidence: a verifier never reads it."""
    kind = (
        "Pakken rummer de hændelser, søgningen valgte, hver med et bevis for, at den er med i "
        "loggen (proofs.jsonl)."
        if subset
        else "Pakken rummer hele loggen op til kontrolpunktet."
    )
    since = (
        "consistency.json    beviset for, at loggen stadig bygger videre på den pakke, du\n"
        "                    gemte sidst (ledger verify --bundle NY --since-bundle GAMMEL)\n"
        if consistency
        else ""
    )
    return f"""LÆS MIG: bevispakke fra godkendelsesloggen

{kind}

Filerne
history.csv         hændelserne som rækker til at læse i et regneark (Excel: dobbeltklik;
                    semikolonsepareret UTF-8). Den er kun til at læse og kontrolleres ikke:
                    det er de signerede filer nedenfor, der er beviset.
entries.jsonl       hændelsernes signerede blade, ét pr. linje
payloads.jsonl      hændelsernes indhold, som bladene har hashen af
personal.jsonl      (når pakken viser persondata) navne, UUID'er, IP-adresser og andre
                    persondata, som indholdet kun har et fingeraftryk af, hver med nøglen,
                    der passer til fingeraftrykket; slettede persondata er ikke med
proofs.jsonl        (kun i en delmængde) beviset for hver hændelses plads i kontrolpunktet
checkpoint          loggens signerede kontrolpunkt (størrelse og rodhash), med vidnernes
                    medsignaturer, når loggen har vidner
checkpoint.tst      (når loggen har det) tidsstemplet fra en tidsstempelmyndighed
keys                loggens verifikationsnøgler, som operatøren skrev dem
witnesses, witness-quorum, tsa-roots.pem
                    (når loggen har dem) vidnerne og tidsstempelmyndigheden, som loggen er
                    sat op med
{since}LÆS MIG.txt         denne fil; den er ikke en del af beviset

Sådan kontrolleres pakken
Kør: ledger verify --bundle DENNE-FIL.zip --keys DINE-NØGLER
hvor DINE-NØGLER er loggens verifikationsnøgler, som du har fået ad en anden vej end denne
pakke (nøglerne i filen keys er operatørens egne udsagn). Tilføj --witnesses og --tsa-roots
med vidnernes nøgler og tidsstempelmyndighedens certifikater, som du selv har fået.
Kommandoen siger »all holds«, når alt holder, og ellers hvad der er galt og hvor.
Formatet er beskrevet i docs/evidence-format.md, afsnit 4 (persondata: afsnit 10); en fuld
pakke kan også kontrolleres uden vores program.
"""
