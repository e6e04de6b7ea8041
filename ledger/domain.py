"""The ledger's aggregates: what the business records, as past-tense facts.

Aggregates that a person may open again after it was closed (an approval after a reset, a
role after a revocation, the next round of a declaration) use an event that opens the
aggregate the first time and continues it after that, so that every approval is an
`Approved` fact whether or not it is the first.
"""

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from ledger.identity import (
    APPROVAL_MINIMUM_LEVEL,
    EMAIL_ADDRESS_MAX,
    Actor,
    InvalidPersonUUID,
    validate_cvr,
)
from ledger.identity import person_uuid as bare_person_uuid

NAMESPACE = uuid5(NAMESPACE_URL, "urn:approval-ledger")
ROLES = ("staff", "auditor", "colleague")
# The role a municipality's signatory grants a colleague doing the migration's technical
# tasks (ledger.migration), for the municipality's own CVR only.
COLLEAGUE = "colleague"
# An assertion ID recorded as it is: an xsd:ID (NCName) of at most 64 ASCII characters.
_SHORT_ASSERTION_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")

# The longest text the ledger records, in characters, for each kind of text a person gives.
CUSTOMER_NAME_MAX = 200
PERSON_NAME_MAX = 200
ORGANISATION_NAME_MAX = 200
AGREEMENT_TITLE_MAX = 200
VERSION_LABEL_MAX = 50
DOCUMENT_NAME_MAX = 120
AGENCY_REFERENCE_MAX = 100
RESET_REASON_LENGTH = (10, 2000)
USER_AGENT_MAX = 500
AUDITOR_CVRS_MAX = 200  # CVRs one auditor may be limited to (Denmark has 98 municipalities)
# The earliest date a declaration can have been sent to the Agency for Digital Government.
EARLIEST_SENDING_DATE = date(2000, 1, 1)
# The largest whole number a client may name (a seq, a tree size, a page): SQLite's and
# PostgreSQL's BIGINT.
LARGEST_NUMBER = 2**63 - 1
NUMBER_DIGITS_MAX = len(str(LARGEST_NUMBER))

# Line breaks and tabs are text only where several lines make sense (a reason).
_MULTILINE_WHITESPACE = frozenset("\n\r\t")
# Characters that reorder how text is shown (as in "Trojan Source"): refused everywhere.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control characters, surrogates and line/paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class DomainError(ValueError):
    """A command the ledger refuses; the message tells a person what is wrong."""


class DocumentRefused(DomainError):
    """A document that is not what the ledger records: not a PDF, or too large."""


def refused_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character the ledger does not record in a text, if there is one."""
    # `str.isprintable` is False for every refused character (for the categories C* and Z* but
    # the ASCII space, from the same Unicode database; the bidi controls are Cf): a printable
    # text, Danish letters and all, has none of them, and skips the lookups.
    if text.isprintable():
        return None
    for ch in text:
        if multiline and ch in _MULTILINE_WHITESPACE:
            continue
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return ch
    return None


def checked_text(
    text: str, *, label: str, longest: int, shortest: int = 1, multiline: bool = False
) -> str:
    """`text` trimmed, or DomainError (in Danish, starting with `label`) when it is too short
    or too long or holds a control character."""
    if not isinstance(text, str):
        raise DomainError(f"{label} skal være tekst.")
    text = text.strip()
    if not text and shortest:
        raise DomainError(f"{label} mangler.")
    if len(text) > longest:
        raise DomainError(f"{label} må højst være {longest} tegn; den er {len(text)}.")
    if len(text) < shortest:
        raise DomainError(f"{label} skal være mindst {shortest} tegn.")
    ch = refused_character(text, multiline=multiline)
    if ch is not None:
        raise DomainError(
            f"{label} indeholder et tegn, der ikke kan bruges (U+{ord(ch):04X}); "
            "skriv teksten uden kontroltegn."
        )
    return text


def printable(text: str, longest: int) -> str:
    """A fact the portal observed (a browser's User-Agent) as the ledger records it: without
    the characters it refuses, cut to `longest`."""
    if refused_character(text) is None:  # nearly always: no character looked at one by one
        return text.strip()[:longest]
    kept = "".join(ch for ch in text if refused_character(ch) is None)
    return kept.strip()[:longest]


def whole_number(text: str, *, lowest: int = 0, highest: int = LARGEST_NUMBER) -> int:
    """A number a client sent (ASCII digits only), or ValueError (in Danish)."""
    if not isinstance(text, str) or not text or not text.isascii() or not text.isdigit():
        raise ValueError("skal være et heltal skrevet med cifrene 0-9")
    # Too many digits for a BIGINT is too large, not unreadable: never int() of all of them.
    if len(text) > NUMBER_DIGITS_MAX or not lowest <= (number := int(text)) <= highest:
        raise ValueError(f"skal være et heltal fra {lowest} til {highest}")
    return number


def iso_date(text: str) -> date:
    """A date a person or client wrote as `åååå-mm-dd` (ASCII digits), or ValueError."""
    if (
        not isinstance(text, str)
        or len(text) != 10
        or not text.isascii()
        or not (text[:4] + text[5:7] + text[8:]).isdigit()
        or text[4] + text[7] != "--"
    ):
        raise ValueError("Angiv datoen som åååå-mm-dd, fx 2026-11-29.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "Angiv datoen som åååå-mm-dd, fx 2026-11-29; den dato findes ikke."
        ) from None


class TextBound(NamedTuple):
    """How long one text field of an event may be, and what it is called in Danish."""

    label: str
    longest: int
    multiline: bool = False


# Every text field of every event this module defines (and those of the value types inside
# them, named `actor.name` and so on), bounded. A field not named here cannot be recorded.
EVENT_TEXT_BOUNDS: dict[str, TextBound] = {
    "cvr": TextBound("CVR-nummeret", 8),
    "cvrs": TextBound("CVR-nummeret", 8),
    "name": TextBound("Kundens navn", CUSTOMER_NAME_MAX),
    "previous_name": TextBound("Kundens tidligere navn", CUSTOMER_NAME_MAX),
    "title": TextBound("Aftalens titel", AGREEMENT_TITLE_MAX),
    "version_label": TextBound("Versionsbetegnelsen", VERSION_LABEL_MAX),
    "document_sha256": TextBound("Dokumentets SHA-256", 64),
    "document_name": TextBound("Dokumentets navn", DOCUMENT_NAME_MAX),
    "reason": TextBound("Begrundelsen", RESET_REASON_LENGTH[1], multiline=True),
    "confirmed_statement": TextBound("Den bekræftede erklæring", CUSTOMER_NAME_MAX + 100),
    "reference": TextBound("Digitaliseringsstyrelsens reference", AGENCY_REFERENCE_MAX),
    "sent_on": TextBound("Afsendelsesdatoen", 10),
    "renewal_due": TextBound("Fornyelsesdatoen", 10),
    "person_uuid": TextBound("Personens UUID", 36),
    "person_name": TextBound("Personens navn", PERSON_NAME_MAX),
    "role": TextBound("Rollen", 20),
    "origin": TextBound("Loggens navn", 200),
    "verifier_key": TextBound("Verifikationsnøglen", 500),
    "previous_kid": TextBound("Den forrige nøgles id", 200),
    "actor.kind": TextBound("Slags aktør", 20),
    "actor.name": TextBound("Navnet på den, der handler,", PERSON_NAME_MAX),
    "actor.person_uuid": TextBound("UUID for den, der handler,", 45),  # urn:uuid:<uuid>
    "actor.cvr": TextBound("CVR-nummeret for den, der handler,", 8),
    "actor.organisation": TextBound("Organisationen for den, der handler,", ORGANISATION_NAME_MAX),
    "actor.loa": TextBound("Sikringsniveauet", 20),
    "authentication.assertion_id": TextBound("Loginnets ID", 256),
    "authentication.authn_instant": TextBound("Tidspunktet for login", 64),
    "authentication.assertion_sha256": TextBound("Loginnets SHA-256", 64),
    "request.ip": TextBound("IP-adressen", 64),
    "request.user_agent": TextBound("Browserens navn", USER_AGENT_MAX),
    "request.document_sha256": TextBound("Dokumentets SHA-256", 64),
    # Erasures of personal data (PersonalData): the rule, its basis, what was erased.
    "rule": TextBound("Sletningsreglen", 20),
    "basis": TextBound("Retsgrundlaget", 300),
    "fields": TextBound("Feltet", 64),
    "before": TextBound("Tidspunktet", 40),
    "documents": TextBound("Dokumentets SHA-256", 64),
    "redacted": TextBound("Den erstattede hændelse", 100),
    "event_fields": TextBound("Hændelsestypen og feltet", 130),
    # Refused logins: our reason codes, the configured IdP, verified or hashed IDs.
    "idp": TextBound("IdP'ens entity ID", 500),
    "assertion_id": TextBound("Assertionens ID", len("sha256:") + 64),
    "verified": TextBound("Verificeret oplysning", 20),
    "interval_start": TextBound("Intervallets start", 40),
    "interval_end": TextBound("Intervallets slutning", 40),
    "counts.reason": TextBound("Afvisningens årsag", 64),
    "counts.network": TextBound("Klientnetværket", 64),
    "left_out.reason": TextBound("Afvisningens årsag", 64),
    "left_out.network": TextBound("Klientnetværket", 64),
    # E-mail notices (Notice.NoticeSent).
    "notice_kind": TextBound("Slags e-mail", 40),
    "recipient_role": TextBound("Modtagerens rolle", 20),
    "recipient_email": TextBound("Modtagerens e-mailadresse", EMAIL_ADDRESS_MAX),
    "sent_at": TextBound("Tidspunktet for afsendelsen", 40),
    "message_id": TextBound("E-mailens Message-ID", 200),
    # The migration to Full Service (ledger.migration) and the basis of an approval.
    "signing_basis": TextBound("Grundlaget for tegningsret", 40),
    "signed_on": TextBound("Datoen for underskriften", 10),
    "users_told_on": TextBound("Datoen, brugerne fik besked", 10),
    "pupils": TextBound("Elevernes kodeordspolitik", 20),
    "pupils_set_up_by": TextBound("Navnet", PERSON_NAME_MAX),
    "note": TextBound("Bemærkningen", 2000, multiline=True),
    "decision": TextBound("Beslutningen", 20),
    "outcome": TextBound("Resultatet", 20),
    "task": TextBound("Opgaven", 40),
    "step": TextBound("Trinet", 40),
    "switch_on": TextBound("Skiftedatoen", 10),
    "meeting_at": TextBound("Mødetidspunktet", 40),
    "at": TextBound("Tidspunktet", 40),
    "on_word_of": TextBound("Navnet", PERSON_NAME_MAX),
    "told_via": TextBound("Hvordan kommunen sagde det", 20),
}
# Set by the library on every event, never from what a person gives.
_LIBRARY_FIELDS = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp"}
)


def check_event_texts(fields: dict[str, Any]) -> None:
    """DomainError unless every text in an event's fields is within EVENT_TEXT_BOUNDS."""
    for name, value in fields.items():
        if name not in _LIBRARY_FIELDS:
            _check_value(name, value)


def _check_value(path: str, value: Any) -> None:
    if isinstance(value, str):  # the most common value first
        bound = EVENT_TEXT_BOUNDS.get(path)
        if bound is None:
            raise TypeError(f"the event field {path!r} has no length limit in EVENT_TEXT_BOUNDS")
        if len(value) > bound.longest:
            raise DomainError(f"{bound.label} må højst være {bound.longest} tegn.")
        if value.isprintable():  # refused_character's own first test
            return
        if refused_character(value, multiline=bound.multiline) is not None:
            raise DomainError(f"{bound.label} indeholder et kontroltegn, der ikke kan bruges.")
        return
    if value is None or isinstance(value, (bool, int, UUID, date)):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(path, item)
        return
    kind = type(value)
    members = _MEMBERS.get((kind, path))
    if members is None:
        if not dataclasses.is_dataclass(kind):
            raise TypeError(f"the event field {path!r} holds a {kind.__name__}")
        members = tuple((field.name, f"{path}.{field.name}") for field in dataclasses.fields(kind))
        _MEMBERS[kind, path] = members
    for name, member_path in members:
        member = getattr(value, name)
        if member is not None:  # nothing to check, and most of an operator's Actor
            _check_value(member_path, member)


# A value type's fields with their paths, by (type, path): remembered, as every event asks
# again for the same few (Actor above all), and `dataclasses.fields` is slow.
_MEMBERS: dict[tuple[type, str], tuple[tuple[str, str], ...]] = {}


class Bounded(Aggregate):
    """An aggregate whose events are checked against EVENT_TEXT_BOUNDS before they happen."""

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        check_event_texts(kwargs)
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        check_event_texts(kwargs)
        super().trigger_event(event_class, **kwargs)


def customer_id(cvr: str) -> UUID:
    return uuid5(NAMESPACE, f"customer/{cvr}")


def agreement_version_id(title: str, version: str) -> UUID:
    return uuid5(NAMESPACE, f"agreement/{title}/{version}")


def approval_id(cvr: str, agreement_version: UUID) -> UUID:
    return uuid5(NAMESPACE, f"approval/{cvr}/{agreement_version}")


def declaration_id(cvr: str) -> UUID:
    return uuid5(NAMESPACE, f"declaration/{cvr}")


def role_assignment_id(person_uuid: str, role: str) -> UUID:
    return uuid5(NAMESPACE, f"role/{person_uuid}/{role}")


LOG_KEYS_ID = uuid5(NAMESPACE, "log-keys")


@dataclass(frozen=True)
class Authentication:
    """The NemLog-in login behind an approval, kept as evidence."""

    assertion_id: str
    authn_instant: str
    assertion_sha256: str


@dataclass(frozen=True)
class RequestFacts:
    """What the portal saw of the request that approved."""

    ip: str
    user_agent: str
    document_sha256: str


class OpensOrContinues(Aggregate.Created):
    """An event that opens its aggregate the first time and continues it afterwards."""

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            return super().mutate(None)
        return Aggregate.Event.mutate(self, aggregate)


class Recurring(Bounded):
    """An aggregate opened by an `OpensOrContinues` event."""

    def _continue(self, event_class: type[OpensOrContinues], **kwargs: Any) -> None:
        self.trigger_event(event_class, originator_topic=get_topic(type(self)), **kwargs)


class Customer(Bounded):
    """A municipality that buys the service, known by its CVR number."""

    Registered: ClassVar[type[Aggregate.Created]]  # made by @event below, named for mypy
    Renamed: ClassVar[type[Aggregate.Event]]

    @staticmethod
    def create_id(cvr: str) -> UUID:
        return customer_id(cvr)

    @event("Registered")
    def __init__(self, cvr: str, name: str, actor: Actor) -> None:
        self.cvr = cvr
        self.name = name
        self.former_names: list[str] = []

    @classmethod
    def register(cls, cvr: str, name: str, actor: Actor) -> "Customer":
        name = checked_text(name, label="Kundens navn", longest=CUSTOMER_NAME_MAX)
        return cls(cvr=validate_cvr(cvr), name=name, actor=actor)

    def rename(self, name: str, actor: Actor) -> None:
        """Correct the customer's name. The event names the name it replaces, so the
        history says what the customer was called before without reading further back."""
        name = checked_text(name, label="Kundens navn", longest=CUSTOMER_NAME_MAX)
        if name == self.name:
            raise DomainError(f"Kunden hedder allerede {name}.")
        self._renamed(cvr=self.cvr, name=name, previous_name=self.name, actor=actor)

    @event("Renamed")
    def _renamed(self, cvr: str, name: str, previous_name: str, actor: Actor) -> None:
        self.former_names.append(previous_name)
        self.name = name


class AgreementVersion(Bounded):
    """One published version of an agreement; its document is kept by its SHA-256."""

    Published: ClassVar[type[Aggregate.Created]]  # made by @event below, named for mypy

    @staticmethod
    def create_id(title: str, version_label: str) -> UUID:
        return agreement_version_id(title, version_label)

    @event("Published")
    def __init__(
        self,
        title: str,
        version_label: str,
        document_sha256: str,
        document_name: str,
        document_size: int,
        actor: Actor,
    ) -> None:
        self.title = title
        self.version_label = version_label
        self.document_sha256 = document_sha256
        self.document_name = document_name
        self.document_size = document_size
        self.retired = False

    @event("Retired")
    def retire(self, actor: Actor) -> None:
        self.retired = True

    def check_approvable(self) -> None:
        """DomainError when customers may no longer approve this version: it is retired."""
        if self.retired:
            raise DomainError("Denne version af aftalen er trukket tilbage og kan ikke godkendes.")

    @staticmethod
    def checked_title(title: str, version_label: str) -> tuple[str, str]:
        """The title and version label, trimmed and within bounds, or DomainError."""
        if not title.strip() or not version_label.strip():
            raise DomainError("En aftale skal have en titel og en versionsbetegnelse.")
        return (
            checked_text(title, label="Aftalens titel", longest=AGREEMENT_TITLE_MAX),
            checked_text(version_label, label="Versionsbetegnelsen", longest=VERSION_LABEL_MAX),
        )


def checked_document_name(name: str) -> str:
    """An uploaded document's name as the ledger records it, or DomainError."""
    return checked_text(name, label="Dokumentets navn", longest=DOCUMENT_NAME_MAX)


def checked_reset_reason(reason: str) -> str:
    """The reason for resetting an approval, trimmed, or DomainError saying what it needs."""
    shortest, longest = RESET_REASON_LENGTH
    if not shortest <= len(reason.strip()) <= longest:
        raise DomainError(f"En nulstilling kræver en begrundelse på {shortest} til {longest} tegn.")
    return checked_text(
        reason, label="Begrundelsen", shortest=shortest, longest=longest, multiline=True
    )


def approval_statement(customer_name: str) -> str:
    """What a signatory confirms before Godkend, for its municipality by its registered
    name: the words shown beside the checkbox are the words the Approved event records."""
    return f"Jeg er tegningsberettiget for {customer_name} og godkender aftalen på kommunens vegne"


# The words an approval's basis of signing authority is recorded in (ledger.migration
# gives them their Danish titles): the statement confirmed, NemLog-in's
# authorizedToRepresent naming the CVR, a MitID Erhverv privilege assigned by the municipality.
SIGNING_BASES = ("statement", "authorized-to-represent", "mitid-privilege")


def _basis(signing_basis: list[str] | None) -> dict[str, list[str]]:
    """The Approved event's `signing_basis` argument, only when there is one: an approval
    without it keeps the payload it had before the basis was kept."""
    if signing_basis is None:
        return {}
    unknown = [b for b in signing_basis if b not in SIGNING_BASES]
    if unknown:
        raise DomainError(f"Ukendt grundlag for tegningsret {unknown[0]!r}.")
    return {"signing_basis": [b for b in SIGNING_BASES if b in signing_basis]}


class Approval(Recurring):
    """The approval of one agreement version by one customer (CVR)."""

    class Approved(OpensOrContinues):
        cvr: str
        agreement_version_id: UUID
        actor: Actor
        authentication: Authentication
        request: RequestFacts
        # The statement the signatory ticked before Godkend, word for word; None in the
        # events recorded before the portal asked for it (their payloads lack the key).
        confirmed_statement: str | None = None
        # On what basis the person acted (ledger.migration.SIGNING_BASES); None in events
        # recorded before it was kept, and then not in the payload at all (__post_init__).
        signing_basis: list[str] | None = None

        def __post_init__(self) -> None:
            if self.signing_basis is None:  # no new key in a payload that has no basis
                del self.__dict__["signing_basis"]

        def apply(self, aggregate: "Approval") -> None:
            aggregate.approved_version = self.originator_version
            aggregate.approved_by = self.actor
            aggregate.approved_at = self.timestamp
            aggregate.confirmed_statement = self.confirmed_statement
            aggregate.signing_basis = self.signing_basis
            aggregate.checked_by = None

    class SigningAuthorityChecked(Aggregate.Event):
        """Staff checked that the person who approved may sign for the municipality."""

        cvr: str
        agreement_version_id: UUID
        checked_version: int
        note: str | None
        actor: Actor

        def apply(self, aggregate: "Approval") -> None:
            aggregate.checked_by = self.actor

    class ApprovalReset(Aggregate.Event):
        cvr: str
        agreement_version_id: UUID
        reason: str
        invalidates_version: int
        actor: Actor

        def apply(self, aggregate: "Approval") -> None:
            aggregate.approved_version = None
            aggregate.approved_by = None
            aggregate.approved_at = None
            aggregate.confirmed_statement = None
            aggregate.signing_basis = None
            aggregate.checked_by = None
            aggregate.last_reset_reason = self.reason
            aggregate.last_reset_invalidates = self.invalidates_version
            aggregate.last_reset_by = self.actor

    def __init__(self, cvr: str, agreement_version_id: UUID) -> None:
        self.cvr = cvr
        self.agreement_version_id = agreement_version_id
        self.approved_version: int | None = None
        self.approved_by: Actor | None = None
        self.approved_at: Any = None
        self.confirmed_statement: str | None = None
        self.signing_basis: list[str] | None = None
        self.checked_by: Actor | None = None
        self.last_reset_reason: str | None = None
        self.last_reset_invalidates: int | None = None
        self.last_reset_by: Actor | None = None

    @property
    def is_approved(self) -> bool:
        return self.approved_version is not None

    def was_just_reset(self, *, invalidated_version: int, reason: str, actor: Actor) -> bool:
        """Whether the last thing that happened is this reset by this person: a confirmation
        sent twice (a double click) is the same reset, not a second one."""
        return (
            not self.is_approved
            and self.last_reset_invalidates == invalidated_version
            and self.last_reset_reason == reason
            and self.last_reset_by is not None
            and self.last_reset_by.person_uuid == actor.person_uuid
        )

    @staticmethod
    def check_approver(cvr: str, actor: Actor) -> None:
        if actor.kind != Actor.PERSON:
            raise DomainError("Kun en person logget ind med MitID Erhverv kan godkende.")
        if actor.cvr != cvr:
            raise DomainError(
                f"Du er logget ind for CVR {actor.cvr} og kan ikke godkende for CVR {cvr}."
            )
        level = actor.level
        if level is None or level < APPROVAL_MINIMUM_LEVEL:
            raise DomainError("Dit login har ikke et tilstrækkeligt sikringsniveau.")

    @classmethod
    def approve_first(
        cls,
        *,
        cvr: str,
        agreement_version_id: UUID,
        actor: Actor,
        authentication: Authentication,
        request: RequestFacts,
        confirmed_statement: str | None = None,
        signing_basis: list[str] | None = None,
    ) -> "Approval":
        cls.check_approver(cvr, actor)
        return cls._create(
            cls.Approved,
            id=approval_id(cvr, agreement_version_id),
            cvr=cvr,
            agreement_version_id=agreement_version_id,
            actor=actor,
            authentication=authentication,
            request=request,
            confirmed_statement=confirmed_statement,
            **_basis(signing_basis),
        )

    def approve_again(
        self,
        *,
        actor: Actor,
        authentication: Authentication,
        request: RequestFacts,
        confirmed_statement: str | None = None,
        signing_basis: list[str] | None = None,
    ) -> None:
        self.check_approver(self.cvr, actor)
        if self.is_approved:
            raise DomainError("Aftalen er allerede godkendt.")
        self._continue(
            self.Approved,
            cvr=self.cvr,
            agreement_version_id=self.agreement_version_id,
            actor=actor,
            authentication=authentication,
            request=request,
            confirmed_statement=confirmed_statement,
            **_basis(signing_basis),
        )

    def check_signing_authority(
        self, *, approved_version: int, note: str | None, actor: Actor
    ) -> None:
        """Staff's mark that the person who approved may sign for the municipality: for the
        approval in force that staff saw (`approved_version`), once."""
        if self.approved_version is None:
            raise DomainError("Der er ingen gældende godkendelse at kontrollere.")
        if self.approved_version != approved_version:
            raise DomainError("Godkendelsen blev ændret imens; se den igen, før du kontrollerer.")
        if self.checked_by is not None:
            raise DomainError("Godkendelsen er allerede kontrolleret.")
        if note is not None and not note.strip():
            note = None
        if note is not None:
            note = checked_text(note, label="Bemærkningen", longest=2000, multiline=True)
        self.trigger_event(
            self.SigningAuthorityChecked,
            cvr=self.cvr,
            agreement_version_id=self.agreement_version_id,
            checked_version=approved_version,
            note=note,
            actor=actor,
        )

    def reset(self, *, reason: str, actor: Actor) -> None:
        reason = checked_reset_reason(reason)
        if self.approved_version is None:
            raise DomainError("Der er ingen gældende godkendelse at nulstille.")
        self.trigger_event(
            self.ApprovalReset,
            cvr=self.cvr,
            agreement_version_id=self.agreement_version_id,
            reason=reason,
            invalidates_version=self.approved_version,
            actor=actor,
        )


class Declaration(Recurring):
    """The joint management declaration of one customer, round by round.

    A round is handed in by the municipality, countersigned by the operator and sent to
    the Agency for Digital Government; it is then valid until its renewal is due.
    """

    HANDED_IN = "handed-in"
    COUNTERSIGNED = "countersigned"
    SENT = "sent"

    class HandedIn(OpensOrContinues):
        cvr: str
        document_sha256: str
        document_name: str
        actor: Actor

        def apply(self, aggregate: "Declaration") -> None:
            aggregate.round += 1
            aggregate.status = Declaration.HANDED_IN
            aggregate.handed_in_sha256 = self.document_sha256
            aggregate.handed_in_at = self.timestamp
            aggregate.countersigned_sha256 = None
            aggregate.sent_on = None
            aggregate.reference = None
            aggregate.renewal_due = None

    def __init__(self, cvr: str) -> None:
        self.cvr = cvr
        self.round = 0
        self.status: str | None = None
        self.handed_in_sha256: str | None = None
        self.handed_in_at: Any = None
        self.countersigned_sha256: str | None = None
        self.sent_on: str | None = None
        self.reference: str | None = None
        self.renewal_due: str | None = None

    @classmethod
    def hand_in_first(
        cls, *, cvr: str, document_sha256: str, document_name: str, actor: Actor
    ) -> "Declaration":
        return cls._create(
            cls.HandedIn,
            id=declaration_id(cvr),
            cvr=cvr,
            document_sha256=document_sha256,
            document_name=checked_document_name(document_name),
            actor=actor,
        )

    def hand_in(self, *, document_sha256: str, document_name: str, actor: Actor) -> None:
        if self.status in (self.HANDED_IN, self.COUNTERSIGNED):
            raise DomainError(
                "Der er allerede en erklæring undervejs; den skal sendes til "
                "Digitaliseringsstyrelsen, før en ny kan afleveres."
            )
        self._continue(
            self.HandedIn,
            cvr=self.cvr,
            document_sha256=document_sha256,
            document_name=checked_document_name(document_name),
            actor=actor,
        )

    def countersign(self, *, document_sha256: str, document_name: str, actor: Actor) -> None:
        if self.status != self.HANDED_IN:
            raise DomainError("Der er ingen afleveret erklæring, der venter på medunderskrift.")
        self._countersigned(
            cvr=self.cvr,
            document_sha256=document_sha256,
            document_name=checked_document_name(document_name),
            actor=actor,
        )

    @event("Countersigned")
    def _countersigned(
        self, cvr: str, document_sha256: str, document_name: str, actor: Actor
    ) -> None:
        self.status = self.COUNTERSIGNED
        self.countersigned_sha256 = document_sha256

    def record_sent(
        self, *, sent_on: date, reference: str, renewal_due: date, actor: Actor
    ) -> None:
        if self.status != self.COUNTERSIGNED:
            raise DomainError(
                "Erklæringen skal være medunderskrevet, før den sendes til "
                "Digitaliseringsstyrelsen."
            )
        if sent_on < EARLIEST_SENDING_DATE:
            raise DomainError(
                f"Datoen for afsendelsen kan ikke ligge før {EARLIEST_SENDING_DATE.isoformat()}."
            )
        if not reference.strip():
            raise DomainError("Angiv Digitaliseringsstyrelsens reference.")
        reference = checked_text(
            reference,
            label="Digitaliseringsstyrelsens reference",
            longest=AGENCY_REFERENCE_MAX,
        )
        self._sent_to_agency(
            cvr=self.cvr,
            sent_on=sent_on.isoformat(),
            reference=reference,
            renewal_due=renewal_due.isoformat(),
            actor=actor,
        )

    @event("SentToAgency")
    def _sent_to_agency(
        self, cvr: str, sent_on: str, reference: str, renewal_due: str, actor: Actor
    ) -> None:
        self.status = self.SENT
        self.sent_on = sent_on
        self.reference = reference
        self.renewal_due = renewal_due


def checked_person_name(name: str) -> str:
    return checked_text(name, label="Personens navn", longest=PERSON_NAME_MAX)


def colleague_grant_statement(customer_name: str) -> str:
    """The statement a person ticks before granting the colleague role for the customer of
    this name: the words shown beside the checkbox are the words the RoleGranted records."""
    return (
        f"Jeg er tegningsberettiget for {customer_name} og giver rollen Kollega på kommunens vegne"
    )


class RoleAssignment(Recurring):
    """One person's staff, auditor or colleague role; an auditor may be limited to some
    CVRs, a colleague has exactly one (the municipality's own)."""

    class RoleGranted(OpensOrContinues):
        person_uuid: str
        person_name: str
        role: str
        cvrs: list[str]
        actor: Actor
        # The colleague role granted by a person in the portal: the statement they ticked,
        # word for word, and the basis of their signing authority as the login said it
        # (SIGNING_BASES, as an approval records it). Absent from the payload otherwise,
        # so every earlier RoleGranted keeps its bytes (__post_init__).
        confirmed_statement: str | None = None
        signing_basis: list[str] | None = None

        def __post_init__(self) -> None:
            for key in ("confirmed_statement", "signing_basis"):
                if self.__dict__.get(key) is None:
                    self.__dict__.pop(key, None)

        def apply(self, aggregate: "RoleAssignment") -> None:
            aggregate.active = True
            aggregate.person_name = self.person_name
            aggregate.cvrs = list(self.cvrs)
            aggregate.granted_by = self.actor
            aggregate.granted_at = self.timestamp
            aggregate.granted_version = self.originator_version
            aggregate.signing_basis = self.signing_basis
            aggregate.granter_checked_by = None

    class GranterChecked(Aggregate.Event):
        """Staff checked that the person who granted the colleague role may sign for the
        municipality (the grant in force, `checked_grant_version`)."""

        person_uuid: str
        role: str
        cvr: str
        checked_grant_version: int
        note: str | None
        actor: Actor

        def apply(self, aggregate: "RoleAssignment") -> None:
            aggregate.granter_checked_by = self.actor

    def __init__(self, person_uuid: str, role: str) -> None:
        self.person_uuid = person_uuid
        self.role = role
        self.person_name = ""
        self.active = False
        self.last_revocation_reason: str | None = None
        self.cvrs: list[str] = []
        self.granted_by: Actor | None = None
        self.granted_at: Any = None
        self.granted_version: int | None = None
        self.signing_basis: list[str] | None = None
        self.granter_checked_by: Actor | None = None

    @property
    def granted_by_municipality(self) -> bool:
        """Whether a person logged in for the CVR granted the role in force (a colleague
        role granted in the portal; the operator's grants at the command line are not)."""
        by = self.granted_by
        return (
            self.role == COLLEAGUE
            and self.active
            and by is not None
            and by.kind == Actor.PERSON
            and by.cvr in self.cvrs
        )

    @staticmethod
    def _checked(role: str, cvrs: list[str]) -> list[str]:
        if role not in ROLES:
            raise DomainError(f"Ukendt rolle {role!r}; rollerne er {', '.join(ROLES)}.")
        if role == COLLEAGUE:
            if len(cvrs) != 1:
                raise DomainError("Rollen Kollega gælder for netop ét CVR-nummer: kommunens eget.")
            return [validate_cvr(cvrs[0])]
        if cvrs and role != "auditor":
            raise DomainError("Kun en revisor kan begrænses til bestemte CVR-numre.")
        if len(cvrs) > AUDITOR_CVRS_MAX:
            raise DomainError(f"En revisor kan højst begrænses til {AUDITOR_CVRS_MAX} CVR-numre.")
        return sorted({validate_cvr(cvr) for cvr in cvrs})

    @classmethod
    def grant_first(
        cls,
        *,
        person_uuid: str,
        person_name: str,
        role: str,
        cvrs: list[str],
        actor: Actor,
        confirmed_statement: str | None = None,
        signing_basis: list[str] | None = None,
    ) -> "RoleAssignment":
        cvrs = cls._checked(role, cvrs)
        basis = _check_grantor(role, cvrs, actor, confirmed_statement, signing_basis)
        return cls._create(
            cls.RoleGranted,
            id=role_assignment_id(person_uuid, role),
            person_uuid=person_uuid,
            person_name=checked_person_name(person_name),
            role=role,
            cvrs=cvrs,
            actor=actor,
            **basis,
        )

    @classmethod
    def grant(
        cls,
        current: "RoleAssignment | None",
        *,
        person_uuid: str,
        person_name: str,
        role: str,
        cvrs: list[str],
        actor: Actor,
        confirmed_statement: str | None = None,
        signing_basis: list[str] | None = None,
    ) -> "RoleAssignment":
        """The role granted: a first assignment, or `current` (the person's assignment of
        this role so far) granted again, with the name and CVRs given now. A person grants
        the colleague role only with the statement ticked (`colleague_grant_statement`),
        and the grant records it and the basis of their signing authority."""
        if not person_name.strip():
            raise DomainError("Angiv personens UUID og navn.")
        if current is None:
            return cls.grant_first(
                person_uuid=person_uuid,
                person_name=person_name.strip(),
                role=role,
                cvrs=cvrs,
                actor=actor,
                confirmed_statement=confirmed_statement,
                signing_basis=signing_basis,
            )
        current.grant_again(
            person_name=person_name.strip(),
            cvrs=cvrs,
            actor=actor,
            confirmed_statement=confirmed_statement,
            signing_basis=signing_basis,
        )
        return current

    def grant_again(
        self,
        *,
        person_name: str,
        cvrs: list[str],
        actor: Actor,
        confirmed_statement: str | None = None,
        signing_basis: list[str] | None = None,
    ) -> None:
        cvrs = self._checked(self.role, cvrs)
        basis = _check_grantor(self.role, cvrs, actor, confirmed_statement, signing_basis)
        self._continue(
            self.RoleGranted,
            person_uuid=self.person_uuid,
            person_name=checked_person_name(person_name),
            role=self.role,
            cvrs=cvrs,
            actor=actor,
            **basis,
        )

    def check_granter(self, *, granted_version: int, note: str | None, actor: Actor) -> None:
        """Staff's mark that the person who granted this colleague role may sign for the
        municipality: for the grant in force that staff saw (`granted_version`), once."""
        if not self.granted_by_municipality:
            raise DomainError("Der er ingen gældende tildeling af rollen Kollega at kontrollere.")
        if actor.kind == Actor.PERSON and actor.cvr in self.cvrs:
            raise DomainError("Kun leverandørens drift kan kontrollere, hvem der gav rollen.")
        if self.granted_version != granted_version:
            raise DomainError("Tildelingen blev ændret imens; se den igen, før du kontrollerer.")
        if self.granter_checked_by is not None:
            raise DomainError("Tildelingen er allerede kontrolleret.")
        if note is not None and not note.strip():
            note = None
        if note is not None:
            note = checked_text(note, label="Bemærkningen", longest=2000, multiline=True)
        self.trigger_event(
            self.GranterChecked,
            person_uuid=self.person_uuid,
            role=self.role,
            cvr=self.cvrs[0],
            checked_grant_version=granted_version,
            note=note,
            actor=actor,
        )

    def revocable_by(self, actor: Actor) -> bool:
        """Whether `actor` may take this role away. No one takes away their own staff role,
        so that no one shuts themselves out of the staff pages with one click; a colleague
        (or the operator at the command line) does it. A colleague role is taken away by
        its municipality's signatory, or by staff who caught a wrong granter (the
        application refuses a colleague first)."""
        if self.role == COLLEAGUE:
            return True
        return not (self.role == "staff" and _same_person(actor, self.person_uuid))

    def revoke(self, *, actor: Actor, reason: str | None = None) -> None:
        """Take the role away. The portal asks staff why and records it; `ledger role
        revoke` and an import record no reason (None, as in revocations recorded before
        the portal asked)."""
        if not self.active:
            raise DomainError("Rollen er ikke tildelt.")
        if not self.revocable_by(actor):
            raise DomainError("Du kan ikke fratage dig selv driftsrollen; bed en kollega om det.")
        if reason is not None:
            reason = checked_revocation_reason(reason)
        # A colleague role's municipality, as the grant names it: the revocation is about
        # that CVR, whoever takes the role away (staff's actor names the operator's CVR).
        cvr = self.cvrs[0] if self.role == COLLEAGUE else None
        self._revoked(
            person_uuid=self.person_uuid, role=self.role, actor=actor, reason=reason, cvr=cvr
        )

    @event("RoleRevoked")
    def _revoked(
        self,
        person_uuid: str,
        role: str,
        actor: Actor,
        reason: str | None = None,
        cvr: str | None = None,  # none in revocations recorded before 2026-12-02
    ) -> None:
        self.active = False
        self.last_revocation_reason = reason


GRANT_NEEDS_STATEMENT = (
    "Bekræft, at du er tegningsberettiget for kommunen, før du giver rollen Kollega."
)


def _check_grantor(
    role: str,
    cvrs: list[str],
    actor: Actor,
    confirmed_statement: str | None,
    signing_basis: list[str] | None,
) -> dict[str, Any]:
    """The colleague role of a CVR is granted by a person logged in for that CVR (its
    signatory, in the portal: with the statement ticked, as for Godkend) or by the operator
    at the command line. The fields the RoleGranted records of it (none for the operator
    and for the other roles)."""
    if role != COLLEAGUE or actor.kind != Actor.PERSON:
        return {}
    if actor.cvr not in cvrs:
        raise DomainError(
            f"Du er logget ind for CVR {actor.cvr} og kan kun give rollen Kollega for dit eget "
            "CVR-nummer."
        )
    if not confirmed_statement or "statement" not in (signing_basis or ()):
        raise DomainError(GRANT_NEEDS_STATEMENT)
    statement = checked_text(confirmed_statement, label="Erklæringen", longest=500)
    return {"confirmed_statement": statement} | _basis(signing_basis)


def checked_revocation_reason(reason: str) -> str:
    """Why a role is taken away, trimmed, or DomainError saying what it needs."""
    shortest, longest = RESET_REASON_LENGTH
    if not shortest <= len(reason.strip()) <= longest:
        raise DomainError(
            f"Skriv hvorfor rollen fratages: en begrundelse på {shortest} til {longest} tegn."
        )
    return checked_text(
        reason, label="Begrundelsen", shortest=shortest, longest=longest, multiline=True
    )


def _same_person(actor: Actor, person: str) -> bool:
    """Whether `actor` is the person with this (bare, lower-case) UUID, whichever way the
    actor's UUID was written."""
    if actor.person_uuid is None:
        return False
    try:
        return bare_person_uuid(actor.person_uuid) == person
    except InvalidPersonUUID:
        return False


def recorded_assertion_id(value: str) -> str:
    """An assertion ID as the log keeps it: as it is when it is a short xsd:ID of ASCII
    letters, digits and `_.-` (what IdPs send), else `sha256:` and the SHA-256 of its UTF-8,
    so that no text of any length or character reaches the log, yet the ID can be matched."""
    if _SHORT_ASSERTION_ID.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest}"


class LoginRejection(Bounded):
    """A login our policy refused (a private MitID, too low a level, no CVR, ...), although
    the IdP's signature on the assertion verified: kept one by one, as a security event.

    Every fact named in `verified` was read from that signed assertion; the person's UUID
    and CVR are there only when the identity was a professional one. Refusals of responses
    that did not verify are not recorded one by one: see `LoginRefusals`.
    """

    @classmethod
    def record(
        cls,
        *,
        reason: str,
        idp: str,
        assertion_id: str | None,
        person_uuid: str | None,
        cvr: str | None,
        actor: Actor,
    ) -> "LoginRejection":
        facts = {"assertion_id": assertion_id, "person_uuid": person_uuid, "cvr": cvr}
        return cls(
            reason=reason,
            idp=idp,
            assertion_id=recorded_assertion_id(assertion_id) if assertion_id else None,
            person_uuid=person_uuid or None,
            cvr=validate_cvr(cvr) if cvr else None,
            actor=actor,
            verified=[name for name, value in facts.items() if value],
        )

    @event("LoginRejected")
    def __init__(
        self,
        reason: str,
        idp: str,
        assertion_id: str | None,
        person_uuid: str | None,
        cvr: str | None,
        actor: Actor,
        verified: list[str] | None = None,  # None in events recorded before it was kept
    ) -> None:
        self.reason = reason


@dataclass(frozen=True)
class RefusalCount:
    """How many logins were refused for one reason from one client network (`*`: from the
    networks a summary leaves out)."""

    reason: str
    network: str
    refusals: int


def login_refusals_id(interval_start: str) -> UUID:
    return uuid5(NAMESPACE, f"login-refusals/{interval_start}")


class LoginRefusals(Bounded):
    """The refused logins of one interval that carried no verified identity (a bad signature,
    an unsolicited or malformed response, ...), counted per reason and client network.

    Nothing a client sent is kept: only our reason codes, the client networks the portal saw
    (/24 for IPv4, /48 for IPv6) and the counts. The busiest `LISTED_MAX` networks are listed;
    the rest are summed per reason in `left_out`, so that the event stays small however
    many networks take part.
    """

    LISTED_MAX = 100

    @staticmethod
    def create_id(interval_start: str) -> UUID:
        return login_refusals_id(interval_start)

    @classmethod
    def summarize(
        cls,
        *,
        interval_start: datetime,
        interval_end: datetime,
        counts: Iterable[tuple[str, str, int]],
        actor: Actor,
    ) -> "LoginRefusals":
        rows = sorted(counts, key=lambda row: (-row[2], row[0], row[1]))
        left_out: dict[str, int] = {}
        for reason, _network, refusals in rows[cls.LISTED_MAX :]:
            left_out[reason] = left_out.get(reason, 0) + refusals
        return cls(
            interval_start=interval_start.isoformat(),
            interval_end=interval_end.isoformat(),
            counts=[RefusalCount(*row) for row in rows[: cls.LISTED_MAX]],
            left_out=[RefusalCount(reason, "*", n) for reason, n in sorted(left_out.items())],
            networks_left_out=len({row[1] for row in rows[cls.LISTED_MAX :]}),
            refusals=sum(row[2] for row in rows),
            actor=actor,
        )

    @event("LoginRefusalsCounted")
    def __init__(
        self,
        interval_start: str,
        interval_end: str,
        counts: list[RefusalCount],
        left_out: list[RefusalCount],
        networks_left_out: int,
        refusals: int,
        actor: Actor,
    ) -> None:
        self.refusals = refusals


class PersonalData(Bounded):
    """One erasure of personal data, or one refused request for it: what was erased, under
    which rule and on whose word, never the data itself nor whom it was about
    (docs/evidence-format.md section 10.4). Each is an aggregate of its own, so that a
    retention run and a person's request never race on one aggregate's next version."""

    RULES = ("network", "assertion", "identity", "refusal", "request")

    class PersonalDataErased(Aggregate.Created):
        rule: str
        basis: str
        reason: str | None
        fields: list[str]
        seqs: list[int] | None
        before: str | None
        documents: list[str]
        openings: int
        actor: Actor
        # The format 1 payloads it replaced by redacted ones: "<seq> <SHA-256 of the redacted
        # payload>" each (docs/evidence-format.md section 10.4); none in erasures before.
        redacted: list[str] | None = None
        # With `before`: what it erased, "<event type> <field>" each, the event type the last
        # part of its topic (docs/evidence-format.md section 10.4), as a field's name may be
        # of another kind in another event type; none in erasures before, whose `fields`
        # reached every event type.
        event_fields: list[str] | None = None

    class PersonalDataErasureRefused(Aggregate.Created):
        rule: str
        basis: str
        reason: str
        seqs: list[int]
        actor: Actor

    def __init__(self, rule: str, basis: str, actor: Actor) -> None:
        self.rule = rule
        self.basis = basis

    @classmethod
    def erased(
        cls,
        *,
        rule: str,
        basis: str,
        reason: str | None,
        fields: Iterable[str],
        seqs: Iterable[int] | None,
        before: str | None,
        documents: Iterable[str],
        openings: int,
        actor: Actor,
        redacted: Iterable[str] = (),
        event_fields: Iterable[str] | None = None,
    ) -> "PersonalData":
        if rule not in cls.RULES:
            raise DomainError(f"Ukendt sletningsregel {rule!r}.")
        if rule == "request":
            cls._check_request(reason)
        if (seqs is None) == (before is None):
            raise DomainError("En sletning nævner enten hændelserne eller et tidspunkt.")
        return cls._create(
            cls.PersonalDataErased,
            rule=rule,
            basis=basis,
            reason=reason,
            fields=sorted(set(fields)),
            seqs=None if seqs is None else sorted(set(seqs)),
            before=before,
            documents=sorted(set(documents)),
            openings=openings,
            actor=actor,
            redacted=sorted(redacted, key=lambda item: int(item.split(" ", 1)[0])),
            event_fields=None if event_fields is None else sorted(set(event_fields)),
        )

    @staticmethod
    def _check_request(reason: str | None) -> None:
        """A request is recorded with what the operator wrote of it: its case."""
        if reason is None or not reason.strip():
            raise DomainError(
                "Skriv anmodningens sagsnummer eller begrundelse (--reason), aldrig personens "
                "egne oplysninger."
            )

    @classmethod
    def refused(
        cls, *, basis: str, reason: str, seqs: Iterable[int], actor: Actor
    ) -> "PersonalData":
        cls._check_request(reason)
        return cls._create(
            cls.PersonalDataErasureRefused,
            rule="request",
            basis=basis,
            reason=reason,
            seqs=sorted(set(seqs)),
            actor=actor,
        )


class LogKeys(Bounded):
    """The keys that sign the log: the first one, and each rotation, signed by the old key."""

    @staticmethod
    def create_id() -> UUID:
        return LOG_KEYS_ID

    @event("LogStarted")
    def __init__(
        self, origin: str, verifier_key: str, actor: Actor, evidence_format: int = 1
    ) -> None:
        """`evidence_format`: the format the log writes from its first event on (2 for a log
        `ledger init` starts; a log started before format 2 existed has none, and is 1)."""
        self.origin = origin
        self.verifier_keys = [verifier_key]
        self.evidence_format = evidence_format

    @event("EvidenceFormatAdopted")
    def adopt_format(self, version: int, actor: Actor) -> None:
        """From this event on, the log writes events in `version` of the evidence format
        (docs/evidence-format.md section 10: personal fields committed, not hashed)."""
        self.evidence_format = version

    @event("KeyRotated")
    def rotate(self, previous_kid: str, verifier_key: str, actor: Actor) -> None:
        self.verifier_keys.append(verifier_key)


class Notice(Bounded):
    """An e-mail the portal sent: one event per message and recipient, recorded once the
    recipient's mail server accepted it, so that the log says who was told what and when.

    `about_seq` is the event the message is about (a reset, an approval, a new agreement
    version, the sending of a declaration whose renewal is due). `recipient_email` is the
    one field that holds the recipient's address, a personal fact; every other field is
    about the notice, not the person. The id is the outbox's own random one, not derived
    from the address, so the leaf names nothing about the recipient.
    """

    SIGNATORY = "signatory"
    STAFF = "staff"

    NoticeSent: ClassVar[type[Aggregate.Created]]  # made by @event below, named for mypy

    @classmethod
    def sent(cls, notice_id: UUID, **facts: Any) -> "Notice":
        """The NoticeSent event of the outbox's notice `notice_id`, with that id: a second
        process recording the same notice then finds it recorded (IntegrityError)."""
        notice: Notice = cls._create(cls.NoticeSent, id=notice_id, **facts)
        return notice

    @event("NoticeSent")
    def __init__(
        self,
        notice_kind: str,
        about_seq: int,
        cvr: str,
        agreement_version_id: UUID | None,
        recipient_role: str,
        recipient_email: str,
        sent_at: str,
        message_id: str,
        actor: Actor,
    ) -> None:
        self.notice_kind = notice_kind
        self.about_seq = about_seq
        self.recipient_role = recipient_role
