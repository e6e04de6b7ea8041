"""The `ledger` command: set-up, administration, history and verification."""

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from approval_ledger.bootstrap import Configuration, read_configuration
from approval_ledger.privacy import add_commands as add_privacy_commands
from ledger.config import ConfigError, Settings
from ledger.evidence.database import DatabaseUnavailable
from ledger.evidence.keys import KeyFormatError, parse_verifier_keys
from ledger.evidence.verify import verify_database
from ledger.identity import Actor, InvalidCVR, parse_uuid

if TYPE_CHECKING:
    # For the annotation alone: importing the signed log loads eventsourcing, which
    # `ledger verify --bundle/--receipt` must not need.
    from ledger.signed_log import Entry, SignedLog

EXIT_OK, EXIT_PROBLEM, EXIT_CANNOT_RUN = 0, 1, 2


class CommandError(Exception):
    """Something the operator can fix; printed without a traceback."""


def _app(settings: Settings) -> Any:
    from ledger.application import LedgerApp
    from ledger.keyring import KeyRingError

    try:
        return LedgerApp(settings)
    except KeyRingError as error:
        raise CommandError(str(error)) from error


def _whole_number(text: str) -> int:
    """A number on the command line as the portal reads one: ASCII digits within a BIGINT."""
    from ledger.domain import whole_number

    try:
        return whole_number(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} {error}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, (UUID, datetime, date)):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


# An RFC 3339 time with its offset (`Z`, `-00:00` or `±hh:mm`), in ASCII digits.
_RFC3339_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _time_bound(text: str | None, option: str) -> str | None:
    """A `--since`/`--until` value as a leaf's time string: a bare date `åååå-mm-dd` is a
    Danish day (`--until` includes the whole day), a full RFC 3339 time with its offset is
    that moment; anything else is refused, in Danish, naming the option."""
    if text is None:
        return None
    from ledger.danish_time import end_of_danish_day, start_of_danish_day
    from ledger.domain import DomainError, iso_date
    from ledger.evidence.leaf import rfc3339
    from ledger.messages import quoted

    shown = quoted(text, 40)
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            day = iso_date(text)
        except ValueError as error:
            raise DomainError(f"{option}: {error}") from None
        return end_of_danish_day(day) if option == "--until" else start_of_danish_day(day)
    if not _RFC3339_TIME.fullmatch(text):
        raise DomainError(
            f"{option} skal være en dansk dag som 2026-11-29 (åååå-mm-dd) eller et tidspunkt "
            f"med tidszone som 2026-11-29T08:15:00+01:00; {shown} er ingen af delene."
        )
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise DomainError(
            f"{option}: {shown} findes ikke som tidspunkt (åååå-mm-ddTtt:mm:ss+tt:mm)."
        ) from None
    try:
        return rfc3339(moment)
    except (OverflowError, ValueError):
        raise DomainError(
            f"{option}: {shown} ligger uden for år 1 til 9999 i UTC, loggens tid."
        ) from None


def cmd_init(configuration: Configuration, args: argparse.Namespace) -> int:
    from approval_ledger.initialize import initialize

    settings = configuration.settings
    if args.existing_key and not settings.signing_key:
        raise CommandError("--existing-key takes a key in the token LEDGER_SIGNING_KEY names")
    result = initialize(settings, Actor.cli_operator(), existing_key=args.existing_key)
    key = result.app.keyring.verifier_keys()
    token = result.app.keyring.token
    where = settings.keys_dir if token is None else f"the token {token.uri.token!r}"
    print(f"data directory: {settings.data_dir}")
    print(
        f"database:       {settings.database.url if settings.database.is_sqlite else 'PostgreSQL'}"
    )
    print(f"signing key:    {'created' if result.created_key else 'exists'} in {where}")
    print(f"log:            {'started' if result.started_log else 'already started'}")
    print("verifier keys (give these to auditors):")
    for verifier in key.values():
        print(f"  {verifier.line()}")
    _init_saml(configuration)
    return EXIT_OK


def _init_saml(configuration: Configuration) -> None:
    """The SAML service provider's keys (and the development IdP's, when it is enabled).

    The CLI is an entry point, so it may reach into `saml/`; the ledger itself never does.
    """
    from saml.credentials import ensure_sp_credentials

    saml = configuration.saml(require_idp=False)
    created = ensure_sp_credentials(saml)
    print(f"SAML keys:      {'created' if created else 'exist'} ({saml.signing_key.parent})")
    print(f"SP metadata:    {saml.sp_entity_id} (upload it to NemLog-in)")


def cmd_customer_add(settings: Settings, args: argparse.Namespace) -> int:
    customer = _app(settings).register_customer(
        cvr=args.cvr, name=args.name, actor=Actor.cli_operator()
    )
    print(f"registered {customer.name} (CVR {customer.cvr})")
    return EXIT_OK


def _listing(settings: Settings, lists: Any) -> Any:
    """`lists(app)` with the search index made for the application, so that its lists of
    customers and agreement versions come from the projection, not a scan of the log."""
    from ledger.search import EventIndex

    app = _app(settings)
    index = EventIndex(app)
    try:
        return lists(app)
    finally:
        index.close()


def cmd_customer_list(settings: Settings, args: argparse.Namespace) -> int:
    for customer in _listing(settings, lambda app: app.customers()):
        print(f"{customer.cvr}  {customer.name}")
    return EXIT_OK


def _read_document(name: str, settings: Settings) -> tuple[str, bytes]:
    """The document's safe name and bytes, if it is a PDF within the portal's upload limit
    (the same check as the portal's: a refusal exits 1)."""
    from ledger.uploads import read_pdf

    path = Path(name)
    try:
        with path.open("rb") as file:
            return read_pdf(file, path.name, limit=settings.max_upload_bytes)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from error


def cmd_agreement_publish(settings: Settings, args: argparse.Namespace) -> int:
    document_name, document = _read_document(args.file, settings)
    agreement = _app(settings).publish_agreement(
        title=args.title,
        version_label=args.version,
        document=document,
        document_name=document_name,
        actor=Actor.cli_operator(),
    )
    print(f"published {agreement.title} version {agreement.version_label}")
    print(f"  id:      {agreement.id}")
    print(f"  sha256:  {agreement.document_sha256}")
    return EXIT_OK


def cmd_agreement_list(settings: Settings, args: argparse.Namespace) -> int:
    for agreement in _listing(settings, lambda app: app.agreement_versions()):
        state = "retired" if agreement.retired else "current"
        print(
            f"{agreement.id}  {agreement.title} {agreement.version_label}  {state}  "
            f"sha256 {agreement.document_sha256}"
        )
    return EXIT_OK


def _agreement_id(text: str) -> UUID:
    try:
        return parse_uuid(text)
    except ValueError:
        raise CommandError(
            f"{text!r} is not an agreement id (see `ledger agreement list`)"
        ) from None


def cmd_agreement_retire(settings: Settings, args: argparse.Namespace) -> int:
    agreement = _app(settings).retire_agreement(_agreement_id(args.id), actor=Actor.cli_operator())
    print(f"retired {agreement.title} version {agreement.version_label}")
    return EXIT_OK


def cmd_approval_reset(settings: Settings, args: argparse.Namespace) -> int:
    _app(settings).reset_approval(
        cvr=args.cvr,
        version_id=_agreement_id(args.agreement),
        reason=args.reason,
        actor=Actor.cli_operator(),
    )
    print(f"reset the approval of CVR {args.cvr}; the signatory can approve again")
    return EXIT_OK


def cmd_declaration_countersign(settings: Settings, args: argparse.Namespace) -> int:
    document_name, document = _read_document(args.file, settings)
    _app(settings).countersign_declaration(
        cvr=args.cvr, document=document, document_name=document_name, actor=Actor.cli_operator()
    )
    print(f"recorded the countersignature of CVR {args.cvr}'s declaration")
    return EXIT_OK


def cmd_declaration_sent(settings: Settings, args: argparse.Namespace) -> int:
    try:
        sent_on = date.fromisoformat(args.date)
    except ValueError:
        raise CommandError(f"{args.date!r} is not a date (2026-11-29)") from None
    declaration = _app(settings).record_declaration_sent(
        cvr=args.cvr, sent_on=sent_on, reference=args.reference, actor=Actor.cli_operator()
    )
    print(f"recorded; renewal due {declaration.renewal_due}")
    return EXIT_OK


# The roles `ledger role` grants: staff and auditors, and a municipality's colleague (the
# role its signatory grants in the portal, ledger.domain.COLLEAGUE) for one CVR.
COLLEAGUE = "colleague"
ROLE_CHOICES = ["staff", "auditor", COLLEAGUE]


def cmd_role_grant(settings: Settings, args: argparse.Namespace) -> int:
    if args.role == COLLEAGUE and len(args.cvr or []) != 1:
        raise CommandError("--role colleague needs one --cvr CVR: the municipality's own")
    if args.role == COLLEAGUE:  # for a registered customer, as its signatory grants it
        assignment = _app(settings).grant_colleague(
            cvr=args.cvr[0],
            person_uuid=args.person,
            person_name=args.name,
            actor=Actor.cli_operator(),
        )
    else:
        assignment = _app(settings).grant_role(
            person_uuid=args.person,
            person_name=args.name,
            role=args.role,
            cvrs=args.cvr or [],
            actor=Actor.cli_operator(),
        )
    scope = f" for CVR {', '.join(assignment.cvrs)}" if assignment.cvrs else ""
    print(f"granted {assignment.role} to {assignment.person_name}{scope}")
    return EXIT_OK


def cmd_role_revoke(settings: Settings, args: argparse.Namespace) -> int:
    _app(settings).revoke_role(person_uuid=args.person, role=args.role, actor=Actor.cli_operator())
    print(f"revoked {args.role} from {args.person}")
    return EXIT_OK


def _describe(facts: dict[str, Any]) -> str:
    shown = []
    for name, value in facts.items():
        if name == "actor" or value in (None, "", []):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, ""))
        shown.append(f"{name}={value}")
    return "; ".join(shown)


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    since, until = _time_bound(args.since, "--since"), _time_bound(args.until, "--until")
    app = _app(settings)
    if args.cvr is None and since is None and until is None:
        print_history(app.history(), as_json=args.json)
        return EXIT_OK
    # Chosen through the search index, so that only the chosen events are read from the log
    # (the same events, in the same order, as a scan of it would choose).
    from ledger.search import EventIndex, Query

    index = EventIndex(app)
    try:
        query = Query.checked(cvr=args.cvr, since=since, until=until)
        print_history(index.matching(query, newest_first=False), as_json=args.json)
    finally:
        index.close()
    return EXIT_OK


def print_history(entries: Iterable["Entry"], *, as_json: bool) -> None:
    """The history's lines, oldest first: readable, or one JSON object per event."""
    for entry in entries:
        if as_json:
            record = {
                "seq": entry.seq,
                "recorded_at": entry.recorded_at,
                "type": entry.event_type,
                "aggregate": entry.aggregate_type,
                "originator_id": str(entry.event.originator_id),
                "originator_version": entry.event.originator_version,
                "cvr": entry.cvr,
                **entry.facts(),
            }
            print(json.dumps(record, ensure_ascii=False, default=_json_default))
        else:
            actor = entry.actor.describe() if entry.actor else "-"
            print(
                f"{entry.seq:>6}  {entry.recorded_at}  {entry.event_type:<14} "
                f"{entry.cvr or '-':<8}  {actor}\n        {_describe(entry.facts())}"
            )


def _trusted_keys(path: Path) -> dict[str, Any]:
    try:
        keys = parse_verifier_keys(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"cannot read verifier keys from {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise CommandError(f"{path}: the verifier keys are not UTF-8: {error}") from error
    except KeyFormatError as error:
        raise CommandError(f"{path}: {error}") from error
    if not keys:
        raise CommandError(f"{path} holds no verifier key")
    return keys


def _witness_policy(args: argparse.Namespace) -> Any:
    """The witnesses the auditor trusts (`--witnesses`, one witness key a line) and how
    many must have cosigned (`--quorum`, all of them by default); None without them."""
    from ledger.evidence.cosignature import WitnessPolicy, parse_witness_keys

    if args.witnesses is None:
        if args.quorum is not None:
            raise CommandError("--quorum needs --witnesses, the witness keys you trust")
        return None
    path = Path(args.witnesses)
    try:
        keys = parse_witness_keys(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"cannot read witness keys from {path}: {error.strerror}") from error
    except (UnicodeDecodeError, KeyFormatError) as error:
        raise CommandError(f"{path}: {error}") from error
    if not keys:
        raise CommandError(f"{path} holds no witness key")
    try:
        return WitnessPolicy(keys, len(keys) if args.quorum is None else args.quorum)
    except ValueError as error:
        raise CommandError(f"--quorum: {error}") from error


def _tsa_roots(args: argparse.Namespace) -> Any:
    """The TSA trust anchors the auditor holds (`--tsa-roots`, a PEM file of certificates);
    None without them, and a timestamp is then reported as present but not checked."""
    from ledger.evidence.timestamp import load_roots

    if args.tsa_roots is None:
        return None
    path = Path(args.tsa_roots)
    try:
        return load_roots(path.read_bytes())
    except OSError as error:
        raise CommandError(f"cannot read TSA roots from {path}: {error.strerror}") from error
    except ValueError as error:
        raise CommandError(f"{path}: {error}") from error


def _print_report(report: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        for problem in report.problems:
            print(problem)
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_PROBLEM


def _verify_offline(args: argparse.Namespace) -> int:
    """A bundle or receipt that cannot be read at all (not a zip, not JSON, a file missing)
    fails with its reason like any other problem of the evidence (exit 1); only evidence
    that is not there, or the auditor's own keys file, stops the command (exit 2)."""
    from ledger.evidence.bundle import (
        BundleError,
        BundleReport,
        Receipt,
        verify_bundle,
        verify_receipt,
    )

    trusted = _trusted_keys(Path(args.keys)) if args.keys else None
    if trusted is None:
        print(
            "note: trusting the verifier keys inside the evidence; pin your own with --keys",
            file=sys.stderr,
        )
    witnesses = _witness_policy(args)
    tsa_roots = _tsa_roots(args)
    path = Path(args.bundle or args.receipt)
    if not path.exists():
        raise CommandError(f"cannot read {path}: no such file or directory")
    try:
        if args.bundle:
            since = Path(args.since_bundle) if args.since_bundle else None
            if since is not None and not since.exists():
                raise CommandError(f"cannot read {since}: no such file or directory")
            # The bundle's own witness policy and TSA anchors where the auditor gives none:
            # the report says whose each was.
            report = verify_bundle(
                path,
                trusted,
                witnesses=witnesses,
                tsa_roots=tsa_roots,
                since=since,
                own_policy=True,
            )
        else:
            try:
                data = path.read_bytes()
            except OSError as error:
                raise CommandError(f"cannot read {path}: {error.strerror}") from error
            documents: list[tuple[str, bytes]] = []
            if data.startswith(b"%PDF-"):
                # The PDF receipt's embedded JSON receipt, and the document embedded beside
                # it; the PDF reader only for a PDF.
                from ledger.evidence.receipt_pdf import documents_in_pdf, receipt_in_pdf

                data, documents = receipt_in_pdf(data), documents_in_pdf(data)
            receipt = Receipt.from_json(data)
            report = verify_receipt(receipt, trusted, witnesses=witnesses, tsa_roots=tsa_roots)
            if documents:
                _check_embedded_documents(receipt, documents, report)
    except BundleError as error:
        report = BundleReport(subset=not args.bundle)
        report.add(error.reason, "bundle" if args.bundle else "receipt", str(error))
    for what, option in (("witnesses", "--witnesses"), ("tsa-roots", "--tsa-roots")):
        if report.sources.get(what) == "bundle":
            print(
                f"note: checked with the bundle's own {what} (the operator's); "
                f"pin your own with {option}",
                file=sys.stderr,
            )
    return _print_report(report, args.json)


def _check_embedded_documents(
    receipt: Any, documents: list[tuple[str, bytes]], report: Any
) -> None:
    """A PDF receipt's embedded document (the approved agreement) must be the one its signed
    event names by SHA-256; each that is is said on stderr, each that is not is a problem."""
    from ledger.evidence.documents import document_sha256
    from ledger.evidence.receipt_pdf import embedded_document_problems

    problems = embedded_document_problems(receipt, documents)
    for reason, where, detail in problems:
        report.add(reason, where, detail)
    wrong = {where for _, where, _ in problems}
    for name, content in documents:
        if f"embedded {name}" not in wrong:
            print(
                f"note: the embedded {name} is the document the signed event names "
                f"(SHA-256 {document_sha256(content)})",
                file=sys.stderr,
            )


def _kept_evidence(path: Path, keys: dict[str, Any]) -> Any:
    """The checkpoint (and a bundle's leaves) an auditor kept, checked with their keys."""
    from ledger.evidence.bundle import ENTRIES_FILE, BundleError, kept_checkpoint, open_bundle
    from ledger.evidence.note import NoteError, open_checkpoint
    from ledger.evidence.verify import KeptEvidence

    try:
        if path.is_dir() or path.suffix == ".zip":
            checkpoint = kept_checkpoint(path, keys)
            return KeptEvidence(checkpoint, open_bundle(path).lines(ENTRIES_FILE))
        return KeptEvidence(open_checkpoint(path.read_bytes(), keys))
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from error
    except (NoteError, BundleError) as error:
        raise CommandError(f"{path}: {error.reason}: {error}") from error


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    if args.since_bundle is not None and not args.bundle:
        raise CommandError("--since-bundle checks a --bundle against a bundle you kept")
    if args.bundle or args.receipt:
        return _verify_offline(args)
    witnesses, tsa_roots = _stored_policy(settings, args)
    keys = _trusted_keys(Path(args.keys) if args.keys else settings.keys_dir / "verifier-keys")
    if args.jobs < 1:
        raise CommandError("--jobs must be at least 1")
    against = _kept_evidence(Path(args.against), keys) if args.against else None
    bar = None
    on_total = None
    progress = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm

        def on_total(total: int) -> None:
            nonlocal bar
            bar = tqdm(total=total, unit="leaf", file=sys.stderr, leave=False)

        def progress(done: int) -> None:
            if bar is not None:
                bar.update(done)

    try:
        report = verify_database(
            settings.database,
            keys,
            jobs=args.jobs,
            progress=progress,
            on_total=on_total,
            against=against,
            documents=settings.documents_dir,
        )
    except DatabaseUnavailable:
        raise
    except Exception as error:
        raise CommandError(f"cannot read the log: {error}") from error
    finally:
        if bar is not None:
            bar.close()
    report.problems.extend(_witnessing_problems(settings, witnesses, tsa_roots))
    report.problems.extend(_index_problems(settings))
    return _print_report(report, args.json)


def _stored_policy(settings: Settings, args: argparse.Namespace) -> tuple[Any, Any]:
    """The witness policy and TSA anchors the stored cosignatures and tokens are checked
    with: the auditor's own (--witnesses, --quorum, --tsa-roots) where given, else the
    log's configured ones (LEDGER_WITNESSES, LEDGER_WITNESS_QUORUM, LEDGER_TSA_ROOTS)."""
    from ledger.evidence.cosignature import WitnessPolicy

    witnesses = _witness_policy(args)
    if witnesses is None and settings.witnesses:
        keys = tuple(entry.key for entry in settings.witnesses)
        witnesses = WitnessPolicy(keys, settings.witness_quorum or len(keys))
    tsa_roots = _tsa_roots(args)
    if tsa_roots is None and settings.tsa is not None:
        tsa_roots = list(settings.tsa.roots)
    return witnesses, tsa_roots


def _witnessing_problems(settings: Settings, witnesses: Any, tsa_roots: Any) -> list[Any]:
    """The kept cosignatures and timestamp tokens checked as a bundle's are; what was and
    was not checked is said on stderr."""
    from ledger.evidence.stored_witnessing import check_stored_witnessing

    checked = check_stored_witnessing(
        settings.database, witnesses, tsa_roots, grace=settings.witness_quorum_grace
    )
    if witnesses is not None:
        print(
            f"witnesses: {checked.cosignatures} kept cosignatures checked; the quorum of "
            f"{witnesses.quorum} of {len(witnesses.keys)} vouches for the history up to size "
            f"{checked.vouched_size} of {checked.newest_size}",
            file=sys.stderr,
        )
    if checked.untrusted_cosignatures:
        print(
            f"witnesses: {checked.untrusted_cosignatures} kept cosignatures of witnesses "
            "not trusted here were not checked",
            file=sys.stderr,
        )
    if checked.timestamps:
        print(
            f"timestamps: {checked.timestamps} kept tokens checked against the TSA anchors",
            file=sys.stderr,
        )
    if checked.unchecked_timestamps:
        print(
            f"timestamps: {checked.unchecked_timestamps} kept tokens present but not checked "
            "(no TSA anchors: --tsa-roots or LEDGER_TSA_ROOTS)",
            file=sys.stderr,
        )
    return checked.problems


def _index_problems(settings: Settings) -> list[Any]:
    """How the search index differs from the log (it must not hide an event), as problems
    of the report; a note on stderr when the index cannot be checked."""
    from ledger.evidence.verify import Problem
    from ledger.search import EventIndex

    # Reading the index needs the ledger application (to read events as the index does);
    # without it (no keys directory, a login that cannot open it) or with a log that no
    # longer reads as events (reported above) the index is left unchecked, which is said,
    # not a failure of the check of the log.
    try:
        app = _app(settings)
    except Exception as error:
        print(f"note: the search index was not checked: {error}", file=sys.stderr)
        return []
    from ledger.migration_board import MigrationBoard

    index = EventIndex(app)
    board = MigrationBoard(index)
    try:
        found = [*index.check(), *board.check()]
    except Exception as error:
        print(f"note: the search index was not checked: {error}", file=sys.stderr)
        return []
    finally:
        board.close()
        index.close()
        app.close()
    return [Problem(p.reason, p.seq, None, None, p.detail) for p in found]


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy of the serving ledger; on SQLite verified before it is called done."""
    from ledger.backup import DOCUMENTS_DIR, KEYS_DIR, BackupError, backup
    from ledger.keyring import VERIFIER_KEYS_FILE

    try:
        made = backup(settings, Path(args.out))
    except BackupError as error:
        raise CommandError(str(error)) from error
    print(f"backup:         {made.directory}")
    print(f"documents:      {made.documents} copied")
    print("signing keys:   not copied; keep keys/signing-*.pem apart (see README.md, Backup)")
    if not made.is_sqlite:
        print(f"database:       pg_dump --format=custom in {made.database}")
        print("restore it into a new database with pg_restore and run `ledger verify` on it")
        return EXIT_OK
    checkpoint = made.checkpoint_size
    print(
        f"database:       {made.database}, {made.leaves} leaves"
        + (f" (newest checkpoint: size {checkpoint})" if checkpoint is not None else "")
    )
    report = verify_database(
        made.database_url(),
        _trusted_keys(made.directory / KEYS_DIR / VERIFIER_KEYS_FILE),
        documents=made.directory / DOCUMENTS_DIR,
    )
    for problem in report.problems:
        print(problem)
    print(f"verify of the copy: {report.summary()}")
    return EXIT_OK if report.ok else EXIT_PROBLEM


def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    """Rebuild the search index and the aggregate projection from the log (they are derived
    data; the log is the evidence)."""
    from ledger.migration_board import MigrationBoard
    from ledger.search import EventIndex

    index = EventIndex(_app(settings))
    print(f"indexed {index.rebuild()} events")
    board = MigrationBoard(index)
    print(f"migration board: {board.rebuild()} rows")
    board.close()
    index.close()
    return EXIT_OK


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Append a file of domain commands (JSON lines, see README.md) in batches, each batch in
    one transaction; a refused line stops the import with nothing of its batch written."""
    from ledger.bulk import Imported, import_events
    from ledger.search import EventIndex

    path = Path(args.file)
    if args.batch < 1:
        raise CommandError("--batch must be at least 1")
    app = _app(settings)

    def progress(done: Imported) -> None:
        print(f"through line {done.last_line}: {done.events} events in {done.batches} batches")

    try:
        with path.open(encoding="utf-8", newline="") as lines:
            imported = import_events(
                app,
                lines,
                actor=Actor.cli_operator(),
                batch_size=args.batch,
                from_line=args.from_line,
                on_batch=progress if args.progress else None,
            )
        print(f"imported {imported.events} events from {imported.lines} lines of {path}")
        index = EventIndex(app)
        try:
            print(f"search index caught up over {index.refresh()} events")
        finally:
            index.close()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise CommandError(
            f"{path} is not UTF-8; nothing of the batch that reached it was written, the "
            "batches before it stay (--progress shows them)"
        ) from error
    finally:
        app.close()
    return EXIT_OK


def cmd_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    """The newest checkpoint with the witnesses' cosignatures kept of it so far; with
    witnesses configured, who cosigned it goes to stderr (stdout stays the note), and with
    a timestamp authority, whether it has timestamped it."""
    signed_log = _app(settings).signed_log
    checkpoint = signed_log.checkpoint()
    if checkpoint is None:
        raise CommandError("the log is empty; run `ledger init`")
    sys.stdout.write(signed_log.cosigned_note(checkpoint))
    if signed_log.witnesses:
        cosigned = signed_log.cosigned_by(checkpoint)
        names = ", ".join(sorted(cosigned)) or "none yet"
        verdict = "reached" if len(cosigned) >= signed_log.witness_quorum else "not reached"
        print(
            f"cosigned by {len(cosigned)} of {len(signed_log.witnesses)} witnesses ({names}); "
            f"quorum {signed_log.witness_quorum} {verdict}",
            file=sys.stderr,
        )
        _say_quorum_lapse(signed_log, settings.witness_quorum_grace)
    if signed_log.tsa is not None and signed_log.timestamps is not None:
        stamped = signed_log.timestamps.stamped(checkpoint.size)
        if stamped is not None:
            print(
                f"timestamped by {stamped[1]} at {stamped[0]:%Y-%m-%dT%H:%M:%SZ}", file=sys.stderr
            )
        else:
            newest = signed_log.timestamps.newest()
            last = f"; the newest timestamped is size {newest[0]}" if newest else ""
            print(f"not timestamped yet{last}", file=sys.stderr)
    return EXIT_OK


def _say_quorum_lapse(signed_log: "SignedLog", grace: float) -> None:
    """On stderr, when the quorum has lacked the newest checkpoints for longer than `grace`:
    since when, and which witnesses have not cosigned since when. The exit code stays 0: the
    checkpoint was made and printed; the witnesses' lapse is the operator's to look into."""
    from ledger.cosigning import quorum_lapse

    lapse = quorum_lapse(signed_log, grace)
    if lapse is None:
        return
    print(
        f"warning: the witness quorum has not cosigned checkpoint {lapse.size} or later since "
        f"{lapse.since:%Y-%m-%dT%H:%M:%SZ} (more than {grace:g} s)",
        file=sys.stderr,
    )
    for behind in lapse.behind:
        if behind.last_cosigned_at is None:
            last = "has never cosigned"
        else:
            last = f"last cosigned at {behind.last_cosigned_at:%Y-%m-%dT%H:%M:%SZ}"
        print(f"  witness {behind.witness} {last}", file=sys.stderr)


def cmd_witness_init(settings: Settings, args: argparse.Namespace) -> int:
    """A new witness: its own directory and key; prints the witness key to give to logs."""
    from ledger.witness import LOGS_FILE, WitnessSetupError, initialize

    directory = Path(args.dir).absolute()
    try:
        cosigner = initialize(directory, args.name)
    except WitnessSetupError as error:
        raise CommandError(str(error)) from error
    print(f"witness directory: {directory}")
    print(f"add each log to witness to {directory / LOGS_FILE}: <origin> <log verifier key>")
    print("the witness key, for the logs' LEDGER_WITNESSES (<name> <URL> <key>):")
    print(cosigner.key.line())
    return EXIT_OK


def cmd_witness_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Answer `POST /add-checkpoint` (C2SP tlog-witness) under gunicorn."""
    from approval_ledger.witness import serve_witness
    from ledger.witness import WitnessSetupError

    try:
        return serve_witness(Path(args.dir).absolute(), bind=args.bind, workers=args.workers)
    except WitnessSetupError as error:
        raise CommandError(str(error)) from error


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from ledger.export import export_bundle

    since, until = _time_bound(args.since, "--since"), _time_bound(args.until, "--until")
    out = Path(args.out)
    if out.exists():
        raise CommandError(f"{out} exists already; choose a new path")
    app = _app(settings)
    since_bundle = Path(args.since_bundle) if args.since_bundle else None
    if since_bundle is not None and not since_bundle.exists():
        raise CommandError(f"cannot read {since_bundle}: no such file or directory")
    if args.cvr is None and since is None and until is None:
        exported = export_bundle(app, out, since_bundle=since_bundle)
    else:
        # Chosen through the search index, so that only the chosen events are read from
        # the log (the same events, in the same order, as a scan of it would choose).
        from ledger.search import EventIndex, Query

        index = EventIndex(app)
        try:
            query = Query.checked(cvr=args.cvr, since=since, until=until)
            exported = export_bundle(
                app,
                out,
                entries=index.matching(query, newest_first=False),
                since_bundle=since_bundle,
            )
        finally:
            index.close()
    kind = "subset" if exported.subset else "full"
    print(
        f"wrote a {kind} bundle of {exported.entries} entries for checkpoint size "
        f"{exported.size} to {exported.path}"
    )
    return EXIT_OK


def cmd_receipt(settings: Settings, args: argparse.Namespace) -> int:
    receipt = _app(settings).signed_log.receipt(args.seq, args.size)
    text = receipt.to_json()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote the receipt of seq {args.seq} to {args.out}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_key_rotate(settings: Settings, args: argparse.Namespace) -> int:
    if args.existing_key and not settings.signing_key:
        raise CommandError("--existing-key takes a key in the token LEDGER_SIGNING_KEY names")
    kid = _app(settings).signed_log.rotate_signing_key(
        Actor.cli_operator(), existing_key=args.existing_key
    )
    print(f"the log now signs with key {kid}; the rotation is recorded, signed by the old key")
    print("new verifier keys file:", settings.keys_dir / "verifier-keys")
    return EXIT_OK


def cmd_demo(configuration: Configuration, args: argparse.Namespace) -> int:
    from approval_ledger.initialize import initialize
    from development.demo import OPERATOR_CVR, seed, seed_migrations

    settings = configuration.settings
    if settings.operator_cvr is None:
        settings = replace(settings, operator_cvr=OPERATOR_CVR)
        configuration = replace(configuration, settings=settings)
    if not configuration.environ.get("LEDGER_SAML_BASE_URL"):
        # The development IdP sends the browser back to the portal's base URL: without one
        # named, that is the address the demo serves, so a login returns to the same port.
        served_at = {**configuration.environ, "LEDGER_SAML_BASE_URL": f"http://{args.bind}"}
        configuration = replace(configuration, environ=served_at)
    app = initialize(settings, Actor.cli_operator()).app
    _init_saml(configuration)
    seeded = seed(app)
    migrations = seed_migrations(app)  # also into demo data seeded before the migration's
    app.close()
    print("seeded the demo data" if seeded else "the demo data was already there")
    if migrations:
        print("seeded the migrations of Aarhus, Odense and København (issue 15)")
    print()
    status = cmd_history(settings, argparse.Namespace(cvr=None, since=None, until=None, json=False))
    print()
    status = status or cmd_verify(
        settings,
        argparse.Namespace(
            keys=None,
            json=False,
            jobs=1,
            bundle=None,
            receipt=None,
            against=None,
            witnesses=None,
            quorum=None,
            tsa_roots=None,
            since_bundle=None,
        ),
    )
    if status or not args.serve:
        return status
    return cmd_serve(configuration, args)


def cmd_serve(configuration: Configuration, args: argparse.Namespace) -> int:
    """The portal under gunicorn; the configuration is checked before any worker starts."""
    from approval_ledger.serve import serve

    return serve(configuration, bind=args.bind, workers=args.workers)


SINCE_HELP = "from this Danish day (YYYY-MM-DD) or RFC 3339 time with offset, inclusive"
UNTIL_HELP = "to and including this Danish day (YYYY-MM-DD), or before this RFC 3339 time"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger",
        description="The signed, hash-chained approval ledger. Configured by LEDGER_* "
        "environment variables (see README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        parent: Any, name: str, handler: Any, help_text: str, *, with_saml: bool = False
    ) -> argparse.ArgumentParser:
        """`with_saml`: the handler is given the whole `Configuration`, not only `Settings`."""
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler, with_saml=with_saml)
        return sub

    init = command(
        commands,
        "init",
        cmd_init,
        "create the data directory, signing key and log",
        with_saml=True,
    )
    demo = command(
        commands,
        "demo",
        cmd_demo,
        "initialize, seed demo data, verify, serve the portal",
        with_saml=True,
    )
    demo.add_argument(
        "--no-serve", dest="serve", action="store_false", help="stop after seeding and verifying"
    )
    serve = command(commands, "serve", cmd_serve, "serve the portal with gunicorn", with_saml=True)
    for parser_ in (demo, serve):
        parser_.add_argument("--bind", default="127.0.0.1:5000", help="address:port to listen on")
        parser_.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")

    customer = commands.add_parser("customer", help="register and list customers")
    customer_commands = customer.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = command(customer_commands, "add", cmd_customer_add, "register a municipality")
    add.add_argument("--cvr", required=True)
    add.add_argument("--name", required=True)
    command(customer_commands, "list", cmd_customer_list, "list registered customers")

    agreement = commands.add_parser("agreement", help="publish, list and retire agreements")
    agreement_commands = agreement.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = command(
        agreement_commands, "publish", cmd_agreement_publish, "publish a version of an agreement"
    )
    publish.add_argument("--title", required=True)
    publish.add_argument("--version", required=True)
    publish.add_argument("--file", required=True, help="the agreement document (PDF)")
    command(agreement_commands, "list", cmd_agreement_list, "list agreement versions")
    retire = command(
        agreement_commands, "retire", cmd_agreement_retire, "retire an agreement version"
    )
    retire.add_argument("--id", required=True)

    approval = commands.add_parser("approval", help="reset approvals")
    approval_commands = approval.add_subparsers(dest="action", required=True, metavar="ACTION")
    reset = command(
        approval_commands,
        "reset",
        cmd_approval_reset,
        "invalidate an approval so the customer can approve again",
    )
    reset.add_argument("--cvr", required=True)
    reset.add_argument("--agreement", required=True, help="the agreement version id")
    reset.add_argument("--reason", required=True, help="10 to 2000 characters")

    declaration = commands.add_parser("declaration", help="record declaration steps")
    declaration_commands = declaration.add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    countersign = command(
        declaration_commands,
        "countersign",
        cmd_declaration_countersign,
        "record the operator's countersignature",
    )
    countersign.add_argument("--cvr", required=True)
    countersign.add_argument("--file", required=True)
    sent = command(
        declaration_commands,
        "sent",
        cmd_declaration_sent,
        "record that the declaration was sent to the Agency for Digital Government",
    )
    sent.add_argument("--cvr", required=True)
    sent.add_argument("--date", required=True)
    sent.add_argument("--reference", required=True)

    role = commands.add_parser(
        "role", help="grant and revoke staff, auditor and (a municipality's) colleague roles"
    )
    role_commands = role.add_subparsers(dest="action", required=True, metavar="ACTION")
    grant = command(role_commands, "grant", cmd_role_grant, "grant a role to a person")
    grant.add_argument("--person", required=True, help="the person's NemLog-in UUID")
    grant.add_argument("--name", required=True)
    grant.add_argument("--role", required=True, choices=ROLE_CHOICES)
    grant.add_argument(
        "--cvr",
        action="append",
        help="limit an auditor to this CVR (repeat); for a colleague, the municipality's CVR",
    )
    revoke = command(role_commands, "revoke", cmd_role_revoke, "revoke a role")
    revoke.add_argument("--person", required=True)
    revoke.add_argument("--role", required=True, choices=ROLE_CHOICES)

    history = command(commands, "history", cmd_history, "print the history, oldest first")
    history.add_argument("--cvr")
    history.add_argument("--since", help=SINCE_HELP)
    history.add_argument("--until", help=UNTIL_HELP)
    history.add_argument("--json", action="store_true", help="one JSON object per line")

    verify = command(
        commands,
        "verify",
        cmd_verify,
        "check the stored log, or offline a bundle or a receipt; exit 0 all holds, "
        "1 problems, 2 could not run",
    )
    verify.add_argument(
        "--keys",
        help="the verifier keys to trust (default: the data "
        "directory's keys/verifier-keys; for --bundle/--receipt the ones inside)",
    )
    verify.add_argument(
        "--witnesses",
        help="the witness keys you trust, one a line: a --bundle's or --receipt's checkpoint "
        "must be cosigned by --quorum of them; of the stored log, the kept cosignatures are "
        "checked with them (default: LEDGER_WITNESSES)",
    )
    verify.add_argument(
        "--quorum", type=int, help="how many of --witnesses must have cosigned (default: all)"
    )
    verify.add_argument(
        "--tsa-roots",
        help="a PEM file of the timestamp authorities' certificates you trust; the "
        "checkpoint's timestamp token (of the stored log: every kept token) must chain to "
        "one of them (default for the stored log: LEDGER_TSA_ROOTS)",
    )
    verify.add_argument("--json", action="store_true")
    verify.add_argument("--jobs", type=int, default=1, help="processes to use")
    offline = verify.add_mutually_exclusive_group()
    offline.add_argument("--bundle", help="check an evidence bundle (directory or .zip) offline")
    offline.add_argument(
        "--receipt", help="check a receipt offline: its JSON, or the PDF receipt that carries it"
    )
    offline.add_argument(
        "--against", help="a checkpoint file or bundle kept earlier: the log must still extend it"
    )
    verify.add_argument(
        "--since-bundle",
        help="with --bundle: a bundle you kept earlier; the bundle's checkpoint must extend "
        "its checkpoint, by the consistency proof in the bundle",
    )

    import_ = command(
        commands,
        "import",
        cmd_import,
        "append a file of domain commands (JSON lines) in batches, for migrations",
    )
    import_.add_argument("file", help="one JSON command per line (see README.md)")
    import_.add_argument(
        "--batch", type=_whole_number, default=1000, help="events per transaction (1000)"
    )
    import_.add_argument(
        "--from-line", type=_whole_number, default=1, help="skip the lines before this one"
    )
    import_.add_argument("--progress", action="store_true", help="a line after each batch")
    command(commands, "checkpoint", cmd_checkpoint, "print the newest signed checkpoint")
    witness = commands.add_parser("witness", help="run a witness that cosigns logs' checkpoints")
    witness_commands = witness.add_subparsers(dest="action", required=True, metavar="ACTION")
    witness_init = command(
        witness_commands, "init", cmd_witness_init, "create a witness's directory and key"
    )
    witness_init.add_argument(
        "--name", required=True, help="the witness's name, e.g. witness.kommune.dk/w1"
    )
    witness_serve = command(
        witness_commands, "serve", cmd_witness_serve, "serve POST /add-checkpoint"
    )
    witness_serve.add_argument("--bind", default="127.0.0.1:7380", help="address:port")
    witness_serve.add_argument("--workers", type=int, default=1, help="gunicorn worker processes")
    for parser_ in (witness_init, witness_serve):
        parser_.add_argument("--dir", default="./witness", help="the witness's data directory")
    command(
        commands,
        "reindex",
        cmd_reindex,
        "rebuild the auditors' search index, the aggregate projection and the migration board "
        "from the log",
    )
    backup = command(
        commands,
        "backup",
        cmd_backup,
        "copy the serving ledger (database, documents, verifier keys) into a new directory; "
        "an SQLite copy is verified",
    )
    backup.add_argument("--out", required=True, help="a new directory")
    export = command(
        commands,
        "export",
        cmd_export,
        "write an evidence bundle (full, or a subset with inclusion proofs)",
    )
    export.add_argument("--out", required=True, help="a new directory, or FILE.zip")
    export.add_argument("--cvr")
    export.add_argument("--since", help=SINCE_HELP)
    export.add_argument("--until", help=UNTIL_HELP)
    export.add_argument(
        "--since-bundle",
        help="a bundle exported earlier: the new one carries the consistency proof from its "
        "checkpoint (ledger verify --bundle NEW --since-bundle OLD checks it)",
    )
    receipt = command(commands, "receipt", cmd_receipt, "print the receipt of one event")
    receipt.add_argument("--seq", type=_whole_number, required=True)
    receipt.add_argument(
        "--size",
        type=_whole_number,
        help="in the stored checkpoint of this size (default: the first that covers the event, "
        "the same every time)",
    )
    receipt.add_argument("--out", help="write it to this file")

    add_privacy_commands(commands, command, _app)

    key = commands.add_parser("key", help="signing keys")
    key_commands = key.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = command(key_commands, "rotate", cmd_key_rotate, "sign from now on with a new key")
    for parser_ in (init, rotate):
        parser_.add_argument(
            "--existing-key",
            action="store_true",
            help="sign with the one key pair under LEDGER_SIGNING_KEY's label that the token's "
            "officer made beforehand, instead of making one in the token (a key under the "
            "label is otherwise refused)",
        )
    return parser


def _refusals() -> tuple[type[Exception], ...]:
    """What the ledger refuses (exit 1). An `except` evaluates this only when something was
    raised: `ledger.domain` loads the event store, which `verify --bundle` does without."""
    from ledger.domain import DomainError

    return (DomainError, InvalidCVR)


def main(argv: Sequence[str] | None = None) -> int:
    from ledger.keyring import KeyRingError

    args = build_parser().parse_args(argv)
    try:
        configuration = read_configuration()  # the one read of the environment
        return args.handler(configuration if args.with_saml else configuration.settings, args)
    except _refusals() as error:
        print(f"ledger: refused: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    except (CommandError, ConfigError, KeyRingError) as error:
        print(f"ledger: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except DatabaseUnavailable as error:
        print(f"ledger: LEDGER_DATABASE_URL {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except BrokenPipeError:
        return EXIT_OK
