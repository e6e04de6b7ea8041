"""Who acts in the ledger, and the checks on the facts that identify them."""

import getpass
import re
from dataclasses import dataclass
from enum import IntEnum
from uuid import UUID

from ledger.messages import quoted

_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)


class InvalidCVR(ValueError):
    """A CVR number that is not 8 digits passing the modulus-11 check."""


def validate_cvr(value: str) -> str:
    """The CVR number as 8 digits, or InvalidCVR with a message a person can act on."""
    cvr = value.strip()
    if not re.fullmatch(r"[0-9]{8}", cvr):
        raise InvalidCVR(f"Et CVR-nummer består af 8 cifre; {quoted(value, 20)} gør ikke.")
    if cvr.startswith("0"):
        # The CVR register numbers from 10000000; 00000000 passes modulus 11 but names no one.
        raise InvalidCVR(f"CVR-nummeret {cvr} er ikke gyldigt: et CVR-nummer begynder ikke med 0.")
    if sum(int(digit) * weight for digit, weight in zip(cvr, _CVR_WEIGHTS, strict=True)) % 11:
        raise InvalidCVR(f"CVR-nummeret {cvr} er ikke gyldigt: kontrolcifferet passer ikke.")
    return cvr


EMAIL_ADDRESS_MAX = 254  # RFC 5321's longest forward path, less its angle brackets
# An address as the ledger mails it: one local part and one domain, nothing a mail header
# could take as a second address or a new header line (no spaces, commas, angle brackets).
_ADDRESS_CHARACTER = r"[^@\s<>()\[\],;:\"\\]"
_DOMAIN_LABEL = r"[^@\s<>()\[\],;:\"\\.]+"
_EMAIL_ADDRESS = re.compile(rf"{_ADDRESS_CHARACTER}+@{_DOMAIN_LABEL}(\.{_DOMAIN_LABEL})+")


def checked_email_address(text: str) -> str | None:
    """An e-mail address the ledger may send to (trimmed), or None when it is not one.

    The address comes from NemLog-in's e-mail attribute or from the operator's settings;
    one that could smuggle a second recipient or a header line into a message is no
    address here, and the person is then not mailed rather than mailed wrongly. ASCII
    only: an address with æ, ø or å needs SMTPUTF8, which many mail servers lack."""
    if not isinstance(text, str):
        return None
    address = text.strip()
    if len(address) > EMAIL_ADDRESS_MAX or not address.isascii():
        return None
    return address if _EMAIL_ADDRESS.fullmatch(address) else None


class InvalidPersonUUID(ValueError):
    """A person identifier that is not a UUID."""


def parse_uuid(text: str) -> UUID:
    """A UUID a person or client wrote, in ASCII hex digits only (Python's UUID() also reads
    other scripts' digits), or ValueError."""
    if not text.isascii():
        raise ValueError(f"{text[:60]!r} er ikke et UUID")
    return UUID(text)


def person_uuid(value: str) -> str:
    """A NemLog-in person UUID as the ledger keeps it: bare and lower case.

    NemLog-in sends it both bare and as `urn:uuid:<uuid>`; both name the same person.
    """
    text = value.strip().lower().removeprefix("urn:uuid:")
    try:
        return str(parse_uuid(text))
    except ValueError:
        raise InvalidPersonUUID(f"{quoted(value, 60)} er ikke et UUID for en person.") from None


class NsisLevel(IntEnum):
    """NSIS levels of assurance, ordered so that a higher level satisfies a lower one."""

    LOW = 1
    SUBSTANTIAL = 2
    HIGH = 3

    @classmethod
    def parse(cls, value: str) -> "NsisLevel":
        """`Substantial`, or the OIOSAML URI ending in it, as a level."""
        name = value.rstrip("/").rsplit("/", 1)[-1].upper()
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown NSIS level {value!r}") from None

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def danish(self) -> str:
        """The level as NSIS names it in Danish, for what people read."""
        return {NsisLevel.LOW: "Lav", NsisLevel.SUBSTANTIAL: "Betydelig", NsisLevel.HIGH: "Høj"}[
            self
        ]


APPROVAL_MINIMUM_LEVEL = NsisLevel.SUBSTANTIAL


@dataclass(frozen=True)
class Actor:
    """Who did something: a person logged in through NemLog-in, an operator at the CLI, or
    the system itself (for facts it observes, such as a refused login)."""

    kind: str
    name: str
    person_uuid: str | None = None
    cvr: str | None = None
    organisation: str | None = None
    loa: str | None = None

    PERSON = "person"
    OPERATOR = "operator"
    SYSTEM = "system"

    @classmethod
    def person(
        cls, *, person_uuid: str, name: str, cvr: str, organisation: str, loa: NsisLevel
    ) -> "Actor":
        return cls(cls.PERSON, name, person_uuid, validate_cvr(cvr), organisation, loa.label)

    @classmethod
    def cli_operator(cls) -> "Actor":
        """The operator at the command line, named by their login on the host."""
        return cls(cls.OPERATOR, getpass.getuser())

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(cls.SYSTEM, name)

    @property
    def level(self) -> NsisLevel | None:
        return NsisLevel.parse(self.loa) if self.loa else None

    def describe(self) -> str:
        if self.kind == self.PERSON:
            return f"{self.name} ({self.organisation}, CVR {self.cvr}, {self.loa})"
        return f"{self.name} ({self.kind})"
