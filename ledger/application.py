"""The ledger application: commands in the business's words; the only place that saves."""

import calendar
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Transcoder, Transcoding
from eventsourcing.utils import Environment, EnvType, get_topic

from ledger.config import Settings
from ledger.documents import DocumentAltered, DocumentNotFound, DocumentStore
from ledger.domain import (
    LOG_KEYS_ID,
    USER_AGENT_MAX,
    AgreementVersion,
    Approval,
    Authentication,
    Customer,
    Declaration,
    DomainError,
    LoginRefusals,
    LoginRejection,
    LogKeys,
    RefusalCount,
    RequestFacts,
    RoleAssignment,
    approval_id,
    checked_document_name,
    customer_id,
    declaration_id,
    printable,
    role_assignment_id,
)
from ledger.evidence import merkle
from ledger.evidence.bundle import Receipt
from ledger.identity import Actor, InvalidPersonUUID, validate_cvr
from ledger.identity import person_uuid as person_uuid_of
from ledger.keyring import KeyRing, KeyRingError
from ledger.storage import LogRecord
from ledger.storage.checkpoints import CheckpointStore, StoredCheckpoint
from ledger.storage.login_counters import RefusalCounts
from ledger.storage.sessions import ROLE_REVOKED, SessionLimits, Sessions

_APPROVE_ATTEMPTS = 5
_READ_AT_ONCE = 500  # seq numbers read in one query
logger = logging.getLogger(__name__)


def _dataclass_transcoding(cls: type, name: str) -> Transcoding:
    """Store a value type as a JSON object of its fields."""

    class DataclassAsDict(Transcoding):
        type = cls

        def encode(self, obj: Any) -> dict[str, Any]:
            return asdict(obj)

        def decode(self, data: dict[str, Any]) -> Any:
            return cls(**data)

    DataclassAsDict.name = name
    return DataclassAsDict()


@dataclass(frozen=True)
class Entry:
    """One event in the history, with its place in the signed log."""

    seq: int
    recorded_at: str
    event: DomainEventProtocol[UUID]
    leaf: bytes
    payload: bytes

    @property
    def event_type(self) -> str:
        return type(self.event).__qualname__.rsplit(".", 1)[-1]

    @property
    def aggregate_type(self) -> str:
        return type(self.event).__qualname__.split(".", 1)[0]

    @property
    def cvr(self) -> str | None:
        return getattr(self.event, "cvr", None) or getattr(self.actor, "cvr", None)

    @property
    def actor(self) -> Actor | None:
        return getattr(self.event, "actor", None)

    def facts(self) -> dict[str, Any]:
        """The event's own attributes, as JSON-ready values."""
        facts = {}
        for name, value in vars(self.event).items():
            if name in (
                "originator_id",
                "originator_version",
                "timestamp",
                "originator_topic",
            ):
                continue
            facts[name] = _plain(value)
        return facts


class DocumentUnavailable(DomainError):
    """A document a command rests on is missing, or no longer has the hash the log names."""


def _plain(value: Any) -> Any:
    """A value of an event as JSON-ready data: value objects (also in lists) as dicts."""
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def normalized_person_uuid(value: str) -> str:
    try:
        return person_uuid_of(value)
    except InvalidPersonUUID as error:
        raise DomainError(str(error)) from None


class LedgerApp(Application[UUID]):
    """The approval ledger. Every save writes signed leaves in the same transaction."""

    name = "ledger"
    env: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keyring = KeyRing(settings.keys_dir)
        try:
            self.keyring.verifier_keys()
        except KeyRingError as error:
            raise KeyRingError(f"the ledger is not initialized: {error}") from error
        self.documents = DocumentStore(settings.documents_dir)
        if not settings.database.is_sqlite:
            # One connection first: a wrong password or a host that does not answer stops
            # here within seconds, with libpq's reason, before any pool starts retrying.
            settings.database.connect().close()
        self.sessions = Sessions(
            settings.database,
            SessionLimits(
                idle=timedelta(minutes=settings.session_idle_minutes),
                lifetime=timedelta(hours=settings.session_max_hours),
            ),
        )
        self.refusal_counts = RefusalCounts(
            settings.database, settings.login_refusal_interval_seconds
        )
        super().__init__(env=settings.eventsourcing_env())

    def close(self) -> None:
        self.refusal_counts.close()
        self.sessions.close()
        super().close()

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The library's settings from `Settings.eventsourcing_env` alone, never os.environ.

        The library would merge os.environ in and, the application being named `ledger`,
        prefer `LEDGER_SQLITE_DBNAME`, `LEDGER_POSTGRES_SCHEMA` and the like over ours: writes
        could then go where `ledger verify` does not look.
        """
        return Environment(name, dict(env or {}))

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_dataclass_transcoding(Actor, "actor"))
        transcoder.register(_dataclass_transcoding(Authentication, "authentication"))
        transcoder.register(_dataclass_transcoding(RequestFacts, "request_facts"))
        transcoder.register(_dataclass_transcoding(RefusalCount, "refusal_count"))

    def _get(self, aggregate_id: UUID, missing: str) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise DomainError(missing) from None

    def _find(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _save_new(self, aggregate: Any, exists: str) -> None:
        try:
            self.save(aggregate)
        except IntegrityError:
            raise DomainError(exists) from None

    # The log and its keys

    def start_log(self, actor: Actor) -> LogKeys | None:
        """Record the first key as the log's first event; nothing when already started."""
        if self._find(LOG_KEYS_ID) is not None:
            return None
        key = self.keyring.first_signing_key()
        log_keys = LogKeys(origin=key.name, verifier_key=key.verifier_key.line(), actor=actor)
        try:
            self.save(log_keys)
        except IntegrityError:
            return None
        return log_keys

    def signing_kid(self) -> str:
        last = self.recorder.last_leaf()  # type: ignore[attr-defined]
        return last.next_kid if last else self.keyring.first_signing_key().kid

    def rotate_signing_key(self, actor: Actor) -> str:
        """A new signing key; the rotation is recorded in a leaf signed by the old key."""
        log_keys: LogKeys = self._get(LOG_KEYS_ID, "Loggen er ikke startet; kør `ledger init`.")
        previous_kid = self.signing_kid()
        new_key = self.keyring.create(self.settings.origin)
        log_keys.rotate(
            previous_kid=previous_kid,
            verifier_key=new_key.verifier_key.line(),
            actor=actor,
        )
        try:
            self.save(log_keys, rotate_to=new_key.kid)
        except BaseException:
            self.keyring.retire(new_key.kid)
            raise
        self.keyring.retire(previous_kid)
        return new_key.kid

    # Checkpoints and proofs

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save, then make a checkpoint covering what was saved.

        The write has committed when the checkpoint is made; if the checkpoint fails it is
        logged, and the next write or `ledger checkpoint` covers these leaves too.
        """
        recordings = super().save(*objs, **kwargs)
        try:
            self.recorder.advance_checkpoint()  # type: ignore[attr-defined]
        except Exception:
            logger.exception("no checkpoint after a committed write; the next one covers it")
        return recordings

    def checkpoint(self) -> StoredCheckpoint | None:
        """The newest checkpoint, made first when leaves are not yet covered."""
        self.recorder.advance_checkpoint()  # type: ignore[attr-defined]
        return self.read_tree(lambda tree: tree.latest())

    def read_tree(self, work: Callable[[CheckpointStore], Any]) -> Any:
        return self.recorder.read_tree(work)  # type: ignore[attr-defined]

    def stored_checkpoint(self, size: int) -> StoredCheckpoint | None:
        return self.read_tree(lambda tree: tree.at(size))

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf `seq` in the checkpointed tree of `size`."""

        def prove(tree: CheckpointStore) -> list[bytes]:
            if tree.at(size) is None:
                raise DomainError(f"Der er ingen checkpoint med størrelse {size}.")
            if not 0 <= seq < size:
                raise DomainError(f"Hændelse {seq} er ikke i et træ med størrelse {size}.")
            return merkle.inclusion_proof(seq, size, tree.read_nodes)

        return self.read_tree(prove)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 proof that checkpoint `new_size` extends checkpoint `old_size`."""

        def prove(tree: CheckpointStore) -> list[bytes]:
            # The old checkpoint is the one the asker kept; the new one must be stored,
            # which means every complete subtree within it is.
            if tree.at(new_size) is None:
                raise DomainError(f"Der er ingen checkpoint med størrelse {new_size}.")
            if not 0 <= old_size <= new_size:
                raise DomainError("Den gamle størrelse skal være mindre end den nye.")
            return merkle.consistency_proof(old_size, new_size, tree.read_nodes)

        return self.read_tree(prove)

    def seq_of(self, originator_id: UUID, version: int) -> int:
        """The place in the log of an aggregate's event."""
        return self.recorder.seq_of(originator_id, version)  # type: ignore[attr-defined]

    def receipt(self, seq: int) -> Receipt:
        """Everything that proves event `seq` on its own (EVIDENCE-FORMAT.md section 5)."""
        self.recorder.advance_checkpoint()  # type: ignore[attr-defined]
        records = self.recorder.select_log(after=seq - 1, limit=1)  # type: ignore[attr-defined]
        if seq < 0 or not records or records[0].seq != seq:
            raise DomainError(f"Hændelse {seq} findes ikke.")
        record = records[0]

        def prove(tree: CheckpointStore) -> Receipt:
            checkpoint = tree.latest()
            if checkpoint is None or checkpoint.size <= seq:
                raise DomainError("Hændelsen er endnu ikke dækket af en checkpoint; prøv igen.")
            return Receipt(
                leaf=record.leaf,
                payload=record.stored_event.state,
                checkpoint=checkpoint.note,
                inclusion=merkle.inclusion_proof(seq, checkpoint.size, tree.read_nodes),
                keys=[key.line() for key in self.keyring.verifier_keys().values()],
            )

        return self.read_tree(prove)

    # Customers and agreements

    def register_customer(self, *, cvr: str, name: str, actor: Actor) -> Customer:
        customer = Customer.register(cvr, name, actor)
        self._save_new(customer, f"CVR {customer.cvr} er allerede registreret som kunde.")
        return customer

    def customer(self, cvr: str) -> Customer:
        cvr = validate_cvr(cvr)
        return self._get(customer_id(cvr), f"CVR {cvr} er ikke registreret som kunde.")

    def customers(self) -> list[Customer]:
        return [self.repository.get(oid) for oid in self._originators(Customer.Registered)]

    def publish_agreement(
        self,
        *,
        title: str,
        version_label: str,
        document: bytes,
        document_name: str,
        actor: Actor,
    ) -> AgreementVersion:
        title, version_label = AgreementVersion.checked_title(title, version_label)
        document_name = checked_document_name(document_name)
        if not document:
            raise DomainError("Aftalens dokument er tomt.")
        with self.documents.storing(document) as sha256:  # nothing stays if refused
            agreement = AgreementVersion(
                title=title,
                version_label=version_label,
                document_sha256=sha256,
                document_name=document_name,
                document_size=len(document),
                actor=actor,
            )
            self._save_new(
                agreement, f"{title} version {version_label} er allerede offentliggjort."
            )
        return agreement

    def agreement_version(self, version_id: UUID) -> AgreementVersion:
        return self._get(version_id, "Den version af aftalen findes ikke.")

    def agreement_versions(self) -> list[AgreementVersion]:
        return [self.repository.get(oid) for oid in self._originators(AgreementVersion.Published)]

    def agreement_document_problem(self, agreement: AgreementVersion) -> str | None:
        """Why the agreement cannot be approved as its document stands (in Danish), or None
        when the stored document has the hash that was published."""
        try:
            self.documents.check(agreement.document_sha256)
        except DocumentAltered:
            return (
                "Aftalens dokument svarer ikke længere til den SHA-256-værdi, der blev "
                "offentliggjort, og aftalen kan derfor ikke godkendes. Kontakt operatøren."
            )
        except DocumentNotFound:
            return (
                "Aftalens dokument findes ikke længere hos operatøren, og aftalen kan derfor "
                "ikke godkendes. Kontakt operatøren."
            )
        return None

    def retire_agreement(self, version_id: UUID, *, actor: Actor) -> AgreementVersion:
        agreement = self.agreement_version(version_id)
        if agreement.retired:
            raise DomainError("Den version af aftalen er allerede trukket tilbage.")
        agreement.retire(actor=actor)
        self.save(agreement)
        return agreement

    # Approvals

    def approval(self, cvr: str, version_id: UUID) -> Approval | None:
        return self._find(approval_id(validate_cvr(cvr), version_id))

    def approve(
        self,
        *,
        cvr: str,
        version_id: UUID,
        actor: Actor,
        authentication: Authentication,
        ip: str,
        user_agent: str,
    ) -> tuple[Approval, bool]:
        """Approve an agreement version for a CVR: (the approval, whether this call approved).

        Approving what is already approved records nothing and returns the approval as it
        is, so a double click or a second tab is not an error. Concurrent approvals race
        on the aggregate's next version; the loser reads the winner's approval. An agreement
        whose stored document no longer has its published hash is never approved
        (DocumentUnavailable).
        """
        customer = self.customer(cvr)
        agreement = self.agreement_version(version_id)
        if agreement.retired:
            raise DomainError("Denne version af aftalen er trukket tilbage og kan ikke godkendes.")
        problem = self.agreement_document_problem(agreement)
        if problem is not None:
            raise DocumentUnavailable(problem)
        request = RequestFacts(
            ip=ip,
            user_agent=printable(user_agent, USER_AGENT_MAX),
            document_sha256=agreement.document_sha256,
        )
        for _ in range(_APPROVE_ATTEMPTS):
            approval = self.approval(customer.cvr, version_id)
            if approval is not None and approval.is_approved:
                return approval, False
            if approval is None:
                approval = Approval.approve_first(
                    cvr=customer.cvr,
                    agreement_version_id=version_id,
                    actor=actor,
                    authentication=authentication,
                    request=request,
                )
            else:
                approval.approve_again(actor=actor, authentication=authentication, request=request)
            try:
                self.save(approval)
            except IntegrityError:
                continue
            return approval, True
        raise DomainError("Godkendelsen kunne ikke gemmes; prøv igen.")

    def reset_approval(
        self,
        *,
        cvr: str,
        version_id: UUID,
        reason: str,
        actor: Actor,
        approved_version: int | None = None,
    ) -> Approval:
        """Invalidate an approval; with `approved_version`, only the approval staff saw."""
        approval = self.approval(cvr, version_id)
        if approval is None:
            raise DomainError("Aftalen er ikke godkendt for den kunde.")
        if approved_version is not None and approval.approved_version != approved_version:
            raise DomainError("Godkendelsen blev ændret imens; se den igen, før du nulstiller.")
        approval.reset(reason=reason, actor=actor)
        try:
            self.save(approval)
        except IntegrityError:
            raise DomainError(
                "Godkendelsen blev ændret imens; se den igen, før du nulstiller."
            ) from None
        return approval

    # The joint management declaration

    def declaration(self, cvr: str) -> Declaration | None:
        return self._find(declaration_id(validate_cvr(cvr)))

    def hand_in_declaration(
        self, *, cvr: str, document: bytes, document_name: str, actor: Actor
    ) -> Declaration:
        customer = self.customer(cvr)
        if actor.kind == Actor.PERSON and actor.cvr != customer.cvr:
            raise DomainError(f"Du kan kun aflevere erklæringen for CVR {actor.cvr}.")
        if not document:
            raise DomainError("Erklæringens dokument er tomt.")
        with self.documents.storing(document) as sha256:  # nothing stays if refused
            declaration = self.declaration(customer.cvr)
            if declaration is None:
                declaration = Declaration.hand_in_first(
                    cvr=customer.cvr,
                    document_sha256=sha256,
                    document_name=document_name,
                    actor=actor,
                )
            else:
                declaration.hand_in(
                    document_sha256=sha256, document_name=document_name, actor=actor
                )
            self._save_new(declaration, "Erklæringen blev ændret imens; prøv igen.")
        return declaration

    def _declaration(self, cvr: str) -> Declaration:
        declaration = self.declaration(cvr)
        if declaration is None:
            raise DomainError(f"CVR {cvr} har ikke afleveret en erklæring.")
        return declaration

    def countersign_declaration(
        self, *, cvr: str, document: bytes, document_name: str, actor: Actor
    ) -> Declaration:
        declaration = self._declaration(cvr)
        if not document:
            raise DomainError("Det medunderskrevne dokument er tomt.")
        with self.documents.storing(document) as sha256:  # nothing stays if refused
            declaration.countersign(
                document_sha256=sha256, document_name=document_name, actor=actor
            )
            self._save_new(declaration, "Erklæringen blev ændret imens; prøv igen.")
        return declaration

    def record_declaration_sent(
        self, *, cvr: str, sent_on: date, reference: str, actor: Actor
    ) -> Declaration:
        if sent_on > latest_sending_date():
            raise DomainError("Datoen for afsendelsen kan ikke ligge i fremtiden.")
        declaration = self._declaration(cvr)
        declaration.record_sent(
            sent_on=sent_on,
            reference=reference,
            renewal_due=add_months(sent_on, self.settings.declaration_validity_months),
            actor=actor,
        )
        self._save_new(declaration, "Erklæringen blev ændret imens; prøv igen.")
        return declaration

    # Roles

    def grant_role(
        self,
        *,
        person_uuid: str,
        person_name: str,
        role: str,
        cvrs: list[str],
        actor: Actor,
    ) -> RoleAssignment:
        person_uuid = normalized_person_uuid(person_uuid)
        if not person_name.strip():
            raise DomainError("Angiv personens UUID og navn.")
        assignment = self._find(role_assignment_id(person_uuid, role))
        if assignment is None:
            assignment = RoleAssignment.grant_first(
                person_uuid=person_uuid,
                person_name=person_name.strip(),
                role=role,
                cvrs=cvrs,
                actor=actor,
            )
        else:
            assignment.grant_again(person_name=person_name.strip(), cvrs=cvrs, actor=actor)
        self._save_new(assignment, "Rollen blev ændret imens; prøv igen.")
        return assignment

    def revoke_role(self, *, person_uuid: str, role: str, actor: Actor) -> RoleAssignment:
        """Revoke a role and end every portal session of the person, on every host: what
        they may do is then decided at their next login, with the roles they have left."""
        person_uuid = normalized_person_uuid(person_uuid)
        assignment = self._get(role_assignment_id(person_uuid, role), "Rollen er ikke tildelt.")
        assignment.revoke(actor=actor)
        self._save_new(assignment, "Rollen blev ændret imens; prøv igen.")
        self.sessions.end_every_session_of(person_uuid, ROLE_REVOKED)
        return assignment

    def role_assignments(self) -> list[RoleAssignment]:
        """Every person's role assignment, active or revoked, in the order first granted."""
        return [self.repository.get(oid) for oid in self._originators(RoleAssignment.RoleGranted)]

    def roles_of(self, person_uuid: str) -> list[RoleAssignment]:
        try:
            person = person_uuid_of(person_uuid)
        except InvalidPersonUUID:
            return []
        found = (self._find(role_assignment_id(person, role)) for role in ("staff", "auditor"))
        return [assignment for assignment in found if assignment and assignment.active]

    # Security events

    def record_login_rejected(
        self,
        *,
        reason: str,
        idp: str,
        assertion_id: str | None = None,
        person_uuid: str | None = None,
        cvr: str | None = None,
    ) -> LoginRejection:
        """A login our policy refused after the assertion's signature verified: one event,
        with the facts of that assertion (see `LoginRejection`)."""
        rejection = LoginRejection.record(
            reason=reason,
            idp=idp,
            assertion_id=assertion_id,
            person_uuid=person_uuid,
            cvr=cvr,
            actor=Actor.system("login"),
        )
        self.save(rejection)
        return rejection

    def count_login_refusal(self, *, reason: str, network: str) -> list[LoginRefusals]:
        """A refused login without a verified identity: counted, not recorded by itself.
        The summaries of intervals that have closed meanwhile are written (and returned)."""
        if self.refusal_counts.count(reason, network):
            return self.summarize_login_refusals()
        return []

    def summarize_login_refusals(self, *, now: float | None = None) -> list[LoginRefusals]:
        """One `LoginRefusalsCounted` event for every counting interval that has closed
        (by `now`, seconds since the epoch; the clock by default).

        Each is sealed first, so its counts are final; its event's ID is the interval's, so a
        second process writing the same summary (or this one after a crash) writes nothing."""
        written = []
        for interval in self.refusal_counts.seal_closed(now=now):
            summary = LoginRefusals.summarize(
                interval_start=interval.started_at,
                interval_end=interval.ended_at,
                counts=interval.counts,
                actor=Actor.system("login"),
            )
            try:
                self.save(summary)
            except IntegrityError:
                pass  # another process wrote this interval's summary
            else:
                written.append(summary)
            self.refusal_counts.forget(interval)
        return written

    # Reading the log

    def log(
        self,
        *,
        after: int = -1,
        since: str | None = None,
        until: str | None = None,
        page_size: int = 500,
    ) -> Iterator[Entry]:
        """Every event with its `seq`, oldest first, read a page at a time."""
        while True:
            records: list[LogRecord] = self.recorder.select_log(  # type: ignore[attr-defined]
                after=after, limit=page_size, since=since, until=until
            )
            yield from map(self._entry, records)
            if len(records) < page_size:
                return
            after = records[-1].seq

    def entry(self, seq: int) -> Entry | None:
        """The event at `seq` in the log, if there is one."""
        if seq < 0:
            return None
        return next((e for e in self.log(after=seq - 1, page_size=1) if e.seq == seq), None)

    def entries_at(self, seqs: Iterable[int]) -> list[Entry]:
        """The events at these `seq` numbers, oldest first; a `seq` not in the log is left out."""
        wanted = sorted(set(seqs))
        entries: list[Entry] = []
        for start in range(0, len(wanted), _READ_AT_ONCE):
            chunk = wanted[start : start + _READ_AT_ONCE]
            records = self.recorder.select_log_at(chunk)  # type: ignore[attr-defined]
            entries.extend(map(self._entry, records))
        return entries

    def _entry(self, record: LogRecord) -> Entry:
        return Entry(
            record.seq,
            record.recorded_at,
            self.mapper.to_domain_event(record.stored_event),
            record.leaf,
            record.stored_event.state,
        )

    def history(
        self,
        *,
        cvr: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[Entry]:
        if cvr is not None:
            cvr = validate_cvr(cvr)
        for entry in self.log(since=since, until=until):
            if cvr is None or entry.cvr == cvr:
                yield entry

    def _originators(self, created: type) -> list[UUID]:
        topic = get_topic(created)
        ids: list[UUID] = []
        start: int | None = None
        while True:
            page = self.recorder.select_notifications(
                start=start, limit=500, topics=[topic], inclusive_of_start=False
            )
            ids.extend(UUID(str(n.originator_id)) for n in page if n.originator_version == 1)
            if len(page) < 500:
                return ids
            start = page[-1].id


def latest_sending_date() -> date:
    """The latest date a declaration can have been sent on: today in Denmark, which is at
    most a day past UTC's today."""
    return datetime.now(UTC).date() + timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )
