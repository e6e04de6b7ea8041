"""Why a login was refused: a reason code for the ledger, and Danish words for the person.

Every code is a member of `Refusal`, with its kind and what the person is told. The values
are stored (in `LoginRejected` events and the refusal counters) and listed in the README,
so a value never changes once released.
"""

from dataclasses import dataclass
from enum import Enum, StrEnum


class Kind(Enum):
    """Which step refused, and so what the ledger keeps of it."""

    POLICY = "policy"  # a verified assertion refused by who may log in: recorded one by one
    RESPONSE = "response"  # a response not to be trusted or not for us: only counted
    LOGOUT = "logout"  # a refused single logout: answered, never recorded


# What a person is told: a technical refusal gets the general words; the ones a person
# can act on say what to do.
_GENERAL_HEADLINE = "Login kunne ikke gennemføres"
_GENERAL_EXPLANATION = (
    "Svaret fra NemLog-in kunne ikke godkendes. Start login igen. Sker det igen, så kontakt "
    "os og oplys tidspunktet; fejlen er registreret."
)
_START_AGAIN = "Start login igen fra portalen."
_PROFESSIONAL_IDENTITY = "Du skal logge ind med din erhvervsidentitet (MitID Erhverv)"
_OTHER_BROWSER = "Login-svaret hører ikke til et login fra denne browser"
_EXPIRED = "Login-svaret er udløbet"
_TOO_SLOW = "Der gik for lang tid, før svaret nåede frem. Start login igen."


class Refusal(StrEnum):
    """Why a login (or a single logout) was refused, with the Danish `headline` and
    `explanation` the person sees."""

    kind: Kind
    headline: str
    explanation: str

    def __new__(
        cls,
        code: str,
        kind: Kind,
        headline: str = _GENERAL_HEADLINE,
        explanation: str = _GENERAL_EXPLANATION,
    ) -> "Refusal":
        member = str.__new__(cls, code)
        member._value_ = code
        member.kind = kind
        member.headline = headline
        member.explanation = explanation
        return member

    # Refused by the rules of who may log in, after the assertion's signature verified.
    LOA_TOO_LOW = (
        "loa-too-low",
        Kind.POLICY,
        "Dit login har ikke et tilstrækkeligt sikringsniveau",
        "Godkendelser kræver sikringsniveau Betydelig eller Høj. Log ind igen med MitID "
        "Erhverv med MitID-appen eller en kodeviser, ikke med brugernavn og adgangskode alene.",
    )
    PRIVATE_IDENTITY = (
        "private-identity",
        Kind.POLICY,
        _PROFESSIONAL_IDENTITY,
        "Du loggede ind med dit private MitID. Log ind igen, og vælg din erhvervsidentitet "
        "for din organisation, når NemLog-in spørger, hvem du vil logge ind som. Har du ikke "
        "en erhvervsidentitet, kan din organisations MitID Erhverv-administrator oprette den.",
    )
    MISSING_CVR = (
        "missing-cvr",
        Kind.POLICY,
        _PROFESSIONAL_IDENTITY,
        "Dit login indeholdt ikke et gyldigt CVR-nummer for din organisation. Log ind igen "
        "med den erhvervsidentitet (MitID Erhverv), der hører til din kommune.",
    )
    SPEC_VERSION = "spec-version", Kind.POLICY
    IDENTITY_MISMATCH = "identity-mismatch", Kind.POLICY
    UNUSABLE_IDENTITY = (
        "unusable-identity",
        Kind.POLICY,
        "Dit navn eller din organisations navn kan ikke bruges",
        "NemLog-in sendte et navn eller et organisationsnavn, som mangler, er for langt "
        "eller indeholder tegn, portalen ikke kan gemme. Bed din organisations MitID "
        "Erhverv-administrator rette oplysningerne, og log ind igen.",
    )
    # Refused before anything in the response could be trusted, or as not meant for us.
    OVERSIZE = "oversize", Kind.RESPONSE
    MALFORMED_BASE64 = "malformed-base64", Kind.RESPONSE
    MALFORMED_XML = "malformed-xml", Kind.RESPONSE
    DTD_FORBIDDEN = "dtd-forbidden", Kind.RESPONSE
    NOT_A_RESPONSE = "not-a-response", Kind.RESPONSE
    UNSOLICITED = "unsolicited", Kind.RESPONSE, _OTHER_BROWSER, _START_AGAIN
    IN_RESPONSE_TO_MISMATCH = (
        "in-response-to-mismatch",
        Kind.RESPONSE,
        _OTHER_BROWSER,
        _START_AGAIN,
    )
    REQUEST_REUSED = "request-reused", Kind.RESPONSE, _OTHER_BROWSER, _START_AGAIN
    REPLAYED = "replayed", Kind.RESPONSE, "Login-svaret er allerede brugt", _START_AGAIN
    WRONG_DESTINATION = "wrong-destination", Kind.RESPONSE
    WRONG_ISSUER = "wrong-issuer", Kind.RESPONSE
    WRONG_AUDIENCE = "wrong-audience", Kind.RESPONSE
    WRONG_RECIPIENT = "wrong-recipient", Kind.RESPONSE
    WRONG_SUBJECT_CONFIRMATION = "wrong-subject-confirmation", Kind.RESPONSE
    NAMEID_FORMAT = "nameid-format", Kind.RESPONSE
    WRONG_SP_NAME_QUALIFIER = "wrong-sp-name-qualifier", Kind.RESPONSE
    IDP_STATUS = (
        "idp-status",
        Kind.RESPONSE,
        "Login blev afbrudt hos NemLog-in",
        "Start login igen, hvis du stadig vil logge ind.",
    )
    UNENCRYPTED_ASSERTION = "unencrypted-assertion", Kind.RESPONSE
    ASSERTION_COUNT = "assertion-count", Kind.RESPONSE
    WEAK_ENCRYPTION = "weak-encryption", Kind.RESPONSE
    WEAK_ALGORITHM = "weak-algorithm", Kind.RESPONSE
    FORBIDDEN_TRANSFORM = "forbidden-transform", Kind.RESPONSE
    DECRYPTION_FAILED = "decryption-failed", Kind.RESPONSE
    DUPLICATE_ID = "duplicate-id", Kind.RESPONSE
    COMMENT_IN_ASSERTION = "comment-in-assertion", Kind.RESPONSE
    UNSIGNED_ASSERTION = "unsigned-assertion", Kind.RESPONSE
    BAD_SIGNATURE = "bad-signature", Kind.RESPONSE
    SCHEMA_INVALID = "schema-invalid", Kind.RESPONSE
    EXPIRED = "expired", Kind.RESPONSE, _EXPIRED, _TOO_SLOW
    NOT_YET_VALID = "not-yet-valid", Kind.RESPONSE
    ISSUED_TOO_LONG_AGO = "issued-too-long-ago", Kind.RESPONSE, _EXPIRED, _TOO_SLOW
    ASSERTION_LIFETIME = "assertion-lifetime", Kind.RESPONSE
    INVALID_RESPONSE = "invalid-response", Kind.RESPONSE
    # A single logout that could not be trusted.
    INVALID_LOGOUT = "invalid-logout", Kind.LOGOUT


# The refusals of a login, as the README lists them (a refused logout is not one).
POLICY_REASONS = frozenset(r for r in Refusal if r.kind is Kind.POLICY)
RESPONSE_REASONS = frozenset(r for r in Refusal if r.kind is Kind.RESPONSE)
REASONS = POLICY_REASONS | RESPONSE_REASONS


@dataclass
class LoginRefused(Exception):
    """A login the service provider will not accept.

    `assertion_id`, `person_uuid` and `cvr` are facts of an assertion whose IdP signature
    verified, filled in only for the refusals our policy makes of such an assertion
    (`is_policy`); `person_uuid` and `cvr` only when the identity was a professional one.
    Nothing a client merely sent is carried: nothing is kept about a private person, and
    nothing from a response that did not verify.
    """

    reason: Refusal
    detail: str = ""
    assertion_id: str | None = None
    person_uuid: str | None = None
    cvr: str | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else str(self.reason)

    @property
    def headline(self) -> str:
        return self.reason.headline

    @property
    def explanation(self) -> str:
        return self.reason.explanation

    @property
    def is_policy(self) -> bool:
        """A verified login refused by our policy, rather than a response we could not trust.

        Each needs a new assertion from the IdP (the replay cache has let it through), so
        these are the refusals the ledger records one by one."""
        return self.reason.kind is Kind.POLICY
