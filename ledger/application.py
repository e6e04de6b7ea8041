"""The ledger application: commands in the business's words; the only place that saves."""

import calendar
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Protocol
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Recording,
)
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper, Transcoding
from eventsourcing.utils import Environment, EnvType, get_topic

from ledger.config import Settings
from ledger.danish_time import danish_today
from ledger.documents import DocumentAltered, DocumentNotFound, DocumentStore
from ledger.domain import (
    COLLEAGUE,
    USER_AGENT_MAX,
    AgreementVersion,
    Approval,
    Authentication,
    Customer,
    Declaration,
    DomainError,
    LoginRefusals,
    LoginRejection,
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
from ledger.identity import Actor, InvalidCVR, InvalidPersonUUID, validate_cvr
from ledger.identity import person_uuid as person_uuid_of
from ledger.keyring import KeyRing, KeyRingError
from ledger.migration import (
    Fact,
    Migration,
    MigrationStatus,
    check_colleague_grantor,
    derive,
    fact_of,
    has_signal,
    is_colleague,
    migration_id,
)
from ledger.personal_data import CommitmentTranscoding, PersonalDataMapper, PersonalDataStore
from ledger.signed_log import Entry, SignedLog
from ledger.storage.cosignatures import CosignatureStore
from ledger.storage.login_counters import RefusalCounts
from ledger.storage.recorder import SignedLogRecorder
from ledger.storage.sessions import ROLE_REVOKED, SessionLimits, Sessions
from ledger.storage.timestamps import TimestampStore

_APPROVE_ATTEMPTS = 5


# Field types whose values the JSON encoder writes as they are: nothing in them to copy.
_FLAT_FIELD_TYPES = frozenset({str, int, bool, str | None, int | None})


def _dataclass_transcoding(cls: type, name: str) -> Transcoding:
    """Store a value type as a JSON object of its fields, in their order.

    The fields are read one by one rather than with `asdict`, which deep-copies every value
    on the way (about a fifth of an import's time per event); these value types hold only
    text, numbers and None, for which the two give the same object, and so the same bytes.
    """
    members = tuple(field.name for field in fields(cls))
    nested = [field.name for field in fields(cls) if field.type not in _FLAT_FIELD_TYPES]
    if nested:
        raise TypeError(f"{cls.__name__}.{nested[0]} is not text, a number or None")

    class DataclassAsDict(Transcoding):
        type = cls

        def encode(self, obj: Any) -> dict[str, Any]:
            return {member: getattr(obj, member) for member in members}

        def decode(self, data: dict[str, Any]) -> Any:
            return cls(**data)

    DataclassAsDict.name = name
    return DataclassAsDict()


def _project(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its check, event by event, that each
    event has `mutate`: every event of ours is one of the library's aggregate events, which
    do, and typing's runtime protocol check costs about as much as the mutation itself."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


@dataclass(frozen=True)
class ApprovalSubject:
    """What a Godkend rests on, read together in one statement: an agreement version and a
    CVR's approval of it (None while there is none)."""

    cvr: str
    agreement: AgreementVersion
    approval: Approval | None
    # Whether the person asking holds the role Kollega for the CVR (read in the same
    # statement when `approval_subject` is given the person): a colleague does not approve.
    colleague: bool = False
    # The customer of the CVR, when `approval_subject` was asked to read it too.
    customer: Customer | None = None


class NotACustomer(DomainError):
    """The CVR a subject was asked for is no registered customer (checked before whether
    the agreement version exists)."""


class DocumentUnavailable(DomainError):
    """A document a command rests on is missing, or no longer has the hash the log names."""


class Projection(Protocol):
    """Which aggregates of a kind exist, from a projection of the log kept beside it
    (`ledger.search.EventIndex`), so that listing them does not read the log by topic."""

    def ids_of(self, aggregate: type) -> list[UUID]: ...


# How many aggregates of a listed kind one statement reads (far below SQLite's limit of
# bound parameters).
LISTED_TOGETHER = 500


def normalized_person_uuid(value: str) -> str:
    try:
        return person_uuid_of(value)
    except InvalidPersonUUID as error:
        raise DomainError(str(error)) from None


class LedgerApp(Application[UUID]):
    """The approval ledger's business commands. Every save writes signed leaves in the same
    transaction and makes no checkpoint, so that a write waits for nothing but its commit;
    `signed_log` checkpoints (on demand, and `ledger.checkpointer` at a cadence under
    `ledger serve`), proves and reads them."""

    name = "ledger"
    env: ClassVar[dict[str, str]] = {}
    # Set by the search index made for this application; without one (`ledger init`, a
    # test of the domain) the lists are read from the log by topic.
    projection: Projection | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keyring = KeyRing.from_env(settings.keys_dir, settings.token_env())
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
        self.cosignatures = CosignatureStore(settings.database)
        self.timestamps = TimestampStore(settings.database)
        super().__init__(env=settings.eventsourcing_env())
        if not isinstance(self.recorder, SignedLogRecorder):
            raise TypeError(
                f"{type(self.recorder).__name__} writes no signed leaves: the persistence "
                "module must be ledger.storage.sqlite or ledger.storage.postgres"
            )
        self.signed_recorder: SignedLogRecorder = self.recorder
        self.signed_log = SignedLog(
            recorder=self.recorder,
            mapper=self.mapper,
            repository=self.repository,
            save=self.save,
            keyring=self.keyring,
            origin=settings.origin,
            cosignatures=self.cosignatures,
            witnesses=settings.witnesses,
            witness_quorum=settings.witness_quorum,
            timestamps=self.timestamps,
            tsa=settings.tsa,
        )
        # Personal fields are committed, not hashed, once the log has adopted format 2.
        self.personal_mapper.adopted = self.signed_log.evidence_format() >= 2

    def construct_mapper(self) -> Mapper[UUID]:
        """The library's mapper that commits personal fields (`ledger.personal_data`)."""
        self.personal_data = PersonalDataStore(self.settings.database)
        self.personal_mapper = PersonalDataMapper(self.construct_transcoder(), self.personal_data)
        return self.personal_mapper

    def close(self) -> None:
        self.personal_data.close()
        self.cosignatures.close()
        self.timestamps.close()
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

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_dataclass_transcoding(Actor, "actor"))
        transcoder.register(_dataclass_transcoding(Authentication, "authentication"))
        transcoder.register(_dataclass_transcoding(RequestFacts, "request_facts"))
        transcoder.register(_dataclass_transcoding(RefusalCount, "refusal_count"))
        transcoder.register(CommitmentTranscoding())

    def _get(self, aggregate_id: UUID, missing: str) -> Any:
        try:
            return self.repository.get(aggregate_id, projector_func=_project)
        except AggregateNotFoundError:
            raise DomainError(missing) from None

    def _find(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id, projector_func=_project)
        except AggregateNotFoundError:
            return None

    def _find_together(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """The aggregates with these ids that exist, read in one statement rather than one
        each (on PostgreSQL, one round trip), and made from their events as the repository
        makes them; through the repository one by one when it keeps snapshots or a cache."""
        if self.repository.snapshot_store is not None or self.repository.cache is not None:
            found = ((oid, self._find(oid)) for oid in aggregate_ids)
            return {oid: aggregate for oid, aggregate in found if aggregate is not None}
        aggregates: dict[UUID, Any] = {}
        stored = self.signed_recorder.select_events_of(aggregate_ids)
        # One read of the openings for all the events' personal values, not one an event.
        for event in self.personal_mapper.to_domain_events(stored):
            oid = event.originator_id
            aggregates[oid] = _project(aggregates.get(oid), (event,))
        return aggregates

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save`, but for how it collects: the pending events of an aggregate
        of ours (the library's `Aggregate`) are taken at once, where the library asks of
        every object typing's runtime protocols DomainEventProtocol and then
        CollectEventsProtocol, each isinstance walking the protocol's members (7.6 us a
        call); so is a bare event of the library's `DomainEvent` (ledger.bulk's). Anything
        else is collected as the library collects it, in the same order."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif isinstance(obj, DomainEvent):  # a bare event of ours (ledger.bulk's)
                processing_event.events.append(obj)
            elif obj is not None:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, as it calls it
        return recordings

    def _save_new(self, aggregate: Any, exists: str) -> None:
        try:
            self.save(aggregate)
        except IntegrityError:
            raise DomainError(exists) from None

    # Customers and agreements

    def register_customer(self, *, cvr: str, name: str, actor: Actor) -> Customer:
        customer = Customer.register(cvr, name, actor)
        self._save_new(customer, f"CVR {customer.cvr} er allerede registreret som kunde.")
        return customer

    def customer(self, cvr: str) -> Customer:
        cvr = validate_cvr(cvr)
        return self._get(customer_id(cvr), f"CVR {cvr} er ikke registreret som kunde.")

    def customers(self) -> list[Customer]:
        return self._listed(Customer, Customer.Registered)

    def rename_customer(self, *, cvr: str, name: str, actor: Actor) -> Customer:
        """Correct a customer's name: a `Renamed` event that keeps the former name."""
        customer = self.customer(cvr)
        customer.rename(name, actor)
        self._save_new(customer, "Kunden blev ændret imens; prøv igen.")
        return customer

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
        return self._listed(AgreementVersion, AgreementVersion.Published)

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
        already = "Den version af aftalen er allerede trukket tilbage."
        if agreement.retired:
            raise DomainError(already)
        agreement.retire(actor=actor)
        try:
            self.save(agreement)
        except IntegrityError:  # retired (or changed) by someone else since it was read
            raise DomainError(already) from None
        return agreement

    # Approvals

    def approval(self, cvr: str, version_id: UUID) -> Approval | None:
        return self._find(approval_id(validate_cvr(cvr), version_id))

    def approval_subject(
        self,
        cvr: str,
        version_id: UUID,
        person_uuid: str | None = None,
        *,
        with_customer: bool = False,
    ) -> ApprovalSubject:
        """The agreement version and the CVR's approval of it, in one read (DomainError
        when the version does not exist): what Godkend checks and hands to `approve`. With
        `person_uuid`, the person's colleague role is read in the same statement; with
        `with_customer`, the CVR's customer too, and NotACustomer when it is none, before
        anything is said of the version."""
        try:
            cvr = validate_cvr(cvr)
        except DomainError as error:
            if with_customer:
                raise NotACustomer(str(error)) from None
            raise
        approval_key = approval_id(cvr, version_id)
        ids = [version_id, approval_key]
        customer_key = customer_id(cvr)
        if with_customer:
            ids.append(customer_key)
        role_key, person_problem = None, None
        if person_uuid is not None:
            try:
                role_key = role_assignment_id(normalized_person_uuid(person_uuid), COLLEAGUE)
            except DomainError as error:
                person_problem = error  # said after the customer check
            else:
                ids.append(role_key)
        found = self._find_together(ids)
        customer = found.get(customer_key) if with_customer else None
        if with_customer and not isinstance(customer, Customer):
            raise NotACustomer(f"CVR {cvr} er ikke registreret som kunde.")
        if person_problem is not None:
            raise person_problem
        agreement, approval = found.get(version_id), found.get(approval_key)
        if not isinstance(agreement, AgreementVersion):
            raise DomainError("Den version af aftalen findes ikke.")
        role = found.get(role_key) if role_key is not None else None
        colleague = isinstance(role, RoleAssignment) and is_colleague([role], cvr)
        return ApprovalSubject(
            cvr,
            agreement,
            approval if isinstance(approval, Approval) else None,
            colleague,
            customer if isinstance(customer, Customer) else None,
        )

    def approve(
        self,
        *,
        cvr: str,
        version_id: UUID,
        actor: Actor,
        authentication: Authentication,
        ip: str,
        user_agent: str,
        customer: Customer | None = None,
        agreement: AgreementVersion | None = None,
        subject: ApprovalSubject | None = None,
        confirmed_statement: str | None = None,
        signing_basis: list[str] | None = None,
        colleague: bool = False,
    ) -> tuple[Approval, bool]:
        """Approve an agreement version for a CVR: (the approval, whether this call approved).

        Approving what is already approved records nothing and returns the approval as it
        is, so a double click or a second tab is not an error. Concurrent approvals race
        on the aggregate's next version; the loser reads the winner's approval. An agreement
        whose stored document no longer has its published hash is never approved
        (DocumentUnavailable).

        A caller that has just read the customer or the agreement version (the portal's
        request, to check who may approve what) passes them, so they are not read a second
        time; one that is not this CVR's or this version is read here instead. Only the
        approval is read again before each save: it is what concurrent approvals race on.
        A `subject` (`approval_subject`) gives the agreement version and the approval as
        the request read them together; the approval read there stands for the first
        attempt's (a stale one fails to save, and the next attempt reads it again).
        `confirmed_statement` is the statement the signatory ticked, recorded word for word;
        `signing_basis` what it rests on (`ledger.migration.signing_basis`). A person who
        holds the role Kollega for the CVR (`colleague`) does not approve.
        """
        if colleague or (subject is not None and subject.colleague and subject.cvr == cvr):
            raise DomainError(
                "Du har rollen Kollega og kan ikke godkende aftalen; det gør en "
                "tegningsberettiget for kommunen."
            )
        if customer is None and subject is not None and subject.customer is not None:
            customer = subject.customer
        if customer is None or customer.cvr != validate_cvr(cvr):
            customer = self.customer(cvr)
        if (
            subject is not None
            and subject.cvr == customer.cvr
            and subject.agreement.id == version_id
        ):
            agreement = subject.agreement
        else:
            subject = None
        if agreement is None or agreement.id != version_id:
            agreement = self.agreement_version(version_id)
        agreement.check_approvable()
        problem = self.agreement_document_problem(agreement)
        if problem is not None:
            raise DocumentUnavailable(problem)
        request = RequestFacts(
            ip=ip,
            user_agent=printable(user_agent, USER_AGENT_MAX),
            document_sha256=agreement.document_sha256,
        )
        for attempt in range(_APPROVE_ATTEMPTS):
            if attempt == 0 and subject is not None:
                approval = subject.approval
            else:
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
                    confirmed_statement=confirmed_statement,
                    signing_basis=signing_basis,
                )
            else:
                approval.approve_again(
                    actor=actor,
                    authentication=authentication,
                    request=request,
                    confirmed_statement=confirmed_statement,
                    signing_basis=signing_basis,
                )
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
        assignment = RoleAssignment.grant(
            self._find(role_assignment_id(person_uuid, role)),
            person_uuid=person_uuid,
            person_name=person_name,
            role=role,
            cvrs=cvrs,
            actor=actor,
        )
        self._save_new(assignment, "Rollen blev ændret imens; prøv igen.")
        return assignment

    def revoke_role(
        self, *, person_uuid: str, role: str, actor: Actor, reason: str | None = None
    ) -> RoleAssignment:
        """Revoke a role and end every portal session of the person, on every host: what
        they may do is then decided at their next login, with the roles they have left."""
        person_uuid = normalized_person_uuid(person_uuid)
        assignment = self._get(role_assignment_id(person_uuid, role), "Rollen er ikke tildelt.")
        assignment.revoke(actor=actor, reason=reason)
        self._save_new(assignment, "Rollen blev ændret imens; prøv igen.")
        self.sessions.end_every_session_of(person_uuid, ROLE_REVOKED)
        return assignment

    def role_assignments(self) -> list[RoleAssignment]:
        """Every person's role assignment, active or revoked, in the order first granted."""
        return self._listed(RoleAssignment, RoleAssignment.RoleGranted)

    def roles_of(self, person_uuid: str) -> list[RoleAssignment]:
        return self.roles_and_customer(person_uuid, None)[0]

    def roles_and_customer(
        self, person_uuid: str, cvr: str | None
    ) -> tuple[list[RoleAssignment], Customer | None]:
        """A person's active roles and the customer the CVR they are logged in for is (None
        when it is none), in one read: the portal's menu asks both on every page."""
        try:
            person = person_uuid_of(person_uuid)
        except InvalidPersonUUID:
            ids = []
        else:
            ids = [role_assignment_id(person, role) for role in ("staff", "auditor", COLLEAGUE)]
        try:
            customer_key = customer_id(validate_cvr(cvr)) if cvr is not None else None
        except InvalidCVR:
            customer_key = None  # no customer has it
        wanted = [*ids, customer_key] if customer_key else ids
        found = self._find_together(wanted) if wanted else {}
        assignments = (found.get(oid) for oid in ids)
        roles = [a for a in assignments if isinstance(a, RoleAssignment) and a.active]
        customer = found.get(customer_key) if customer_key else None
        return roles, customer if isinstance(customer, Customer) else None

    # The migration to Full Service (ledger.migration): one aggregate per municipality

    def migration(self, cvr: str) -> Migration | None:
        return self._find(migration_id(validate_cvr(cvr)))

    def migration_facts(self, cvr: str) -> list[Fact]:
        """The facts of one municipality's migration, from its aggregates' events read in
        one statement (the customer, its migration, its declaration, every agreement
        version and the CVR's approval of each), in the order they happened."""
        cvr = validate_cvr(cvr)
        versions = self._ids_of(AgreementVersion, AgreementVersion.Published)
        ids = [
            customer_id(cvr),
            migration_id(cvr),
            declaration_id(cvr),
            *versions,
            *(approval_id(cvr, version) for version in versions),
        ]
        stored = self.signed_recorder.select_events_of(ids)
        events = self.personal_mapper.to_domain_events(stored)  # one read of the openings
        found = [fact for event in events if (fact := fact_of(event)) is not None]
        return sorted(found, key=lambda fact: fact.at)

    def migration_status(self, cvr: str, *, today: date | None = None) -> MigrationStatus:
        """Where one municipality's migration stands, as the gate sees it."""
        return derive(validate_cvr(cvr), self.migration_facts(cvr), today=today or danish_today())

    def _record_migration(self, cvr: str, record: Any) -> Migration:
        """`record(current)` made the migration's next event; saved, or DomainError."""
        cvr = self.customer(cvr).cvr
        for _attempt in range(_APPROVE_ATTEMPTS):
            migration = record(self.migration(cvr))
            try:
                self.save(migration)
            except IntegrityError:
                continue
            return migration
        raise DomainError("Migreringen blev ændret imens; prøv igen.")

    def archive_operating_agreement(
        self, *, cvr: str, document: bytes, document_name: str, signed_on: date, actor: Actor
    ) -> Migration:
        """The updated operating agreement, signed: its PDF stored, its hash recorded."""
        if not document:
            raise DomainError("Driftsaftalens dokument er tomt.")
        document_name = checked_document_name(document_name)
        with self.documents.storing(document) as sha256:  # nothing stays if refused
            return self._record_migration(
                cvr,
                lambda current: Migration.archive_operating_agreement(
                    current,
                    cvr=cvr,
                    document_sha256=sha256,
                    document_name=document_name,
                    signed_on=signed_on,
                    today=danish_today(),
                    actor=actor,
                ),
            )

    def announce_early_password_policy(
        self, *, cvr: str, users_told_on: date, actor: Actor
    ) -> Migration:
        return self._record_migration(
            cvr,
            lambda current: Migration.announce_early_password_policy(
                current, cvr=cvr, users_told_on=users_told_on, today=danish_today(), actor=actor
            ),
        )

    def enable_full_service(
        self,
        *,
        cvr: str,
        pupils: str,
        pupils_set_up_by: str | None,
        note: str | None,
        actor: Actor,
    ) -> Migration:
        return self._record_migration(
            cvr,
            lambda current: Migration.enable_full_service(
                current,
                cvr=cvr,
                pupils=pupils,
                pupils_set_up_by=pupils_set_up_by,
                note=note,
                actor=actor,
            ),
        )

    def review_mail_templates(
        self, *, cvr: str, decision: str, note: str | None, actor: Actor
    ) -> Migration:
        return self._record_migration(
            cvr,
            lambda current: Migration.review_mail_templates(
                current, cvr=cvr, decision=decision, note=note, actor=actor
            ),
        )

    def review_password_policy(
        self, *, cvr: str, minimum_length: int, ad_matches: bool, note: str | None, actor: Actor
    ) -> Migration:
        return self._record_migration(
            cvr,
            lambda current: Migration.review_password_policy(
                current,
                cvr=cvr,
                minimum_length=minimum_length,
                ad_matches=ad_matches,
                note=note,
                actor=actor,
            ),
        )

    def review_terms(self, *, cvr: str, outcome: str, note: str | None, actor: Actor) -> Migration:
        return self._record_migration(
            cvr,
            lambda current: Migration.review_terms(
                current, cvr=cvr, outcome=outcome, note=note, actor=actor
            ),
        )

    def mark_task_not_relevant(
        self,
        *,
        cvr: str,
        task: str,
        reason: str,
        actor: Actor,
        on_word_of: str | None = None,
        told_via: str | None = None,
    ) -> Migration:
        """A task marked not relevant, with why; staff mark a municipality's task so only
        on its word (`on_word_of`: who said so, `told_via`: migration.TOLD_VIA)."""
        return self._record_migration(
            cvr,
            lambda current: Migration.mark_not_relevant(
                current,
                cvr=cvr,
                task_key=task,
                reason=reason,
                actor=actor,
                on_word_of=on_word_of,
                told_via=told_via,
            ),
        )

    def reopen_task(self, *, cvr: str, task: str, reason: str, actor: Actor) -> Migration:
        def record(current: Migration | None) -> Migration:
            if current is None:
                raise DomainError("Opgaven er ikke registreret, så der er intet at genåbne.")
            current.reopen(task_key=task, reason=reason, actor=actor)
            return current

        return self._record_migration(cvr, record)

    def schedule_switch(
        self,
        *,
        cvr: str,
        switch_on: date,
        meeting_at: datetime,
        service_window_minutes: int,
        actor: Actor,
    ) -> Migration:
        """The switch date and meeting, refused while the gate is closed (`ledger.migration`)."""

        def record(current: Migration | None) -> Migration:
            return Migration.schedule_switch(
                current,
                cvr=cvr,
                switch_on=switch_on,
                meeting_at=meeting_at,
                service_window_minutes=service_window_minutes,
                gate=self.migration_status(cvr).gate,
                today=danish_today(),
                actor=actor,
            )

        return self._record_migration(cvr, record)

    def record_switch_step(
        self,
        *,
        cvr: str,
        step: str,
        actor: Actor,
        at: datetime | None = None,
        reason: str | None = None,
    ) -> Migration:
        """A step of the switch day at the moment it happened (now by default); a step
        recorded again corrects its moment, with a reason, and the first record stays."""
        now = datetime.now(UTC)

        def record(current: Migration | None) -> Migration:
            if current is None:
                raise DomainError("Skiftet er ikke planlagt endnu.")
            current.record_switch_step(
                step=step,
                at=at or now,
                reason=reason,
                gate=self.migration_status(cvr).gate,
                now=now,
                actor=actor,
            )
            return current

        return self._record_migration(cvr, record)

    def grant_colleague(
        self,
        *,
        cvr: str,
        person_uuid: str,
        person_name: str,
        actor: Actor,
        confirmed_statement: str | None = None,
        signing_basis: list[str] | None = None,
    ) -> RoleAssignment:
        """The role Kollega for the municipality's own CVR, granted by its signatory (with
        the statement ticked and the basis of their signing authority, as an approval
        records it) or by the operator at the command line."""
        customer = self.customer(cvr)
        self._check_colleague_grantor(actor, customer.cvr)
        person_uuid = normalized_person_uuid(person_uuid)
        assignment = RoleAssignment.grant(
            self._find(role_assignment_id(person_uuid, COLLEAGUE)),
            person_uuid=person_uuid,
            person_name=person_name,
            role=COLLEAGUE,
            cvrs=[customer.cvr],
            actor=actor,
            confirmed_statement=confirmed_statement,
            signing_basis=signing_basis,
        )
        self._save_new(assignment, "Rollen blev ændret imens; prøv igen.")
        return assignment

    def colleague_grants_without_signal(self) -> list[RoleAssignment]:
        """The colleague roles in force granted by a person of the municipality whose login
        gave no sign of signing authority (only the statement), not checked by staff yet:
        where staff catch a wrong granter, as they catch a wrong approver."""
        return [
            a
            for a in self.role_assignments()
            if a.granted_by_municipality
            and not has_signal(a.signing_basis)
            and a.granter_checked_by is None
        ]

    def check_colleague_granter(
        self, *, person_uuid: str, granted_version: int, actor: Actor, note: str | None = None
    ) -> RoleAssignment:
        """Staff's mark that the person who granted this colleague role may sign for the
        municipality (the grant in force they saw, `granted_version`)."""
        person_uuid = normalized_person_uuid(person_uuid)
        assignment = self._get(
            role_assignment_id(person_uuid, COLLEAGUE), "Personen har ikke rollen Kollega."
        )
        assignment.check_granter(granted_version=granted_version, note=note, actor=actor)
        self._save_new(
            assignment, "Tildelingen blev ændret imens; se den igen, før du kontrollerer."
        )
        return assignment

    def revoke_colleague(
        self, *, cvr: str, person_uuid: str, actor: Actor, reason: str
    ) -> RoleAssignment:
        cvr = validate_cvr(cvr)
        self._check_colleague_grantor(actor, cvr)
        found = self._find(role_assignment_id(normalized_person_uuid(person_uuid), COLLEAGUE))
        if found is None or not found.active or cvr not in found.cvrs:
            raise DomainError("Personen har ikke rollen Kollega for kommunen.")
        return self.revoke_role(person_uuid=person_uuid, role=COLLEAGUE, actor=actor, reason=reason)

    def _check_colleague_grantor(self, actor: Actor, cvr: str) -> None:
        if actor.kind == Actor.PERSON and actor.person_uuid:
            check_colleague_grantor(actor, self.roles_of(actor.person_uuid), cvr)

    def colleagues_of(self, cvr: str) -> list[RoleAssignment]:
        """The active colleague roles of one municipality, in the order first granted."""
        cvr = validate_cvr(cvr)
        return [
            a for a in self.role_assignments() if a.role == COLLEAGUE and a.active and cvr in a.cvrs
        ]

    def check_signing_authority(
        self,
        *,
        cvr: str,
        version_id: UUID,
        approved_version: int,
        actor: Actor,
        note: str | None = None,
    ) -> Approval:
        """Staff's mark that the approval in force they saw was made by someone who may sign."""
        approval = self.approval(cvr, version_id)
        if approval is None:
            raise DomainError("Aftalen er ikke godkendt for den kunde.")
        approval.check_signing_authority(approved_version=approved_version, note=note, actor=actor)
        self._save_new(
            approval, "Godkendelsen blev ændret imens; se den igen, før du kontrollerer."
        )
        return approval

    def _ids_of(self, kind: type, created: type) -> list[UUID]:
        if self.projection is None:
            return self._originators(created)
        return self.projection.ids_of(kind)

    # Personal data

    def start_log(self, actor: Actor, *, evidence_format: int = 2) -> bool:
        """Start a new log, in evidence format 2 from its first event on (docs/evidence-
        format.md section 10; 1 only for a log as they were before 2 existed); False when
        the log is already started (its format stays)."""
        started = self.signed_log.start(actor, evidence_format=evidence_format) is not None
        self.personal_mapper.adopted = self.signed_log.evidence_format() >= 2
        return started

    def adopt_evidence_format_2(self, actor: Actor) -> bool:
        """Commit the personal fields of every event stored from now on (docs/evidence-
        format.md section 10); False when the log already does."""
        adopted = self.signed_log.adopt_format(2, actor)
        self.personal_mapper.adopted = True
        return adopted

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

    # Reading the history

    def history(
        self,
        *,
        cvr: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Iterator[Entry]:
        if cvr is not None:
            cvr = validate_cvr(cvr)
        for entry in self.signed_log.entries(since=since, until=until):
            if cvr is None or entry.cvr == cvr:
                yield entry

    def _listed(self, kind: type, created: type) -> list[Any]:
        """Every aggregate of a kind, in the order first recorded.

        The ids come from the projection when there is one, and the aggregates are read
        together (a statement for each LISTED_TOGETHER of them); an id it names that is no
        aggregate of the kind (a tampered row, which `ledger verify` reports) is left out."""
        if self.projection is None:
            return [self.repository.get(oid) for oid in self._originators(created)]
        ids = self.projection.ids_of(kind)
        found: dict[UUID, Any] = {}
        for start in range(0, len(ids), LISTED_TOGETHER):
            found.update(self._find_together(ids[start : start + LISTED_TOGETHER]))
        return [found[oid] for oid in ids if isinstance(found.get(oid), kind)]

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
    """The latest date a declaration can have been sent on: today in Denmark."""
    return danish_today()


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )
