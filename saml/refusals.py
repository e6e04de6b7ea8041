"""Why a login was refused: a reason code for the ledger, and Danish words for the person."""

from dataclasses import dataclass

# Reason codes a person can act on, with what to tell them. Every other reason is a
# technical one, shown with the general message.
_HEADLINE = {
    "loa-too-low": "Dit login har ikke et tilstrækkeligt sikringsniveau",
    "private-identity": "Du skal logge ind med din erhvervsidentitet (MitID Erhverv)",
    "missing-cvr": "Du skal logge ind med din erhvervsidentitet (MitID Erhverv)",
    "unsolicited": "Login-svaret hører ikke til et login fra denne browser",
    "request-reused": "Login-svaret hører ikke til et login fra denne browser",
    "in-response-to-mismatch": "Login-svaret hører ikke til et login fra denne browser",
    "idp-status": "Login blev afbrudt hos NemLog-in",
    "expired": "Login-svaret er udløbet",
    "issued-too-long-ago": "Login-svaret er udløbet",
    "replayed": "Login-svaret er allerede brugt",
    "unusable-identity": "Dit navn eller din organisations navn kan ikke bruges",
}
_EXPLANATION = {
    "loa-too-low": (
        "Godkendelser kræver sikringsniveau Betydelig eller Høj. Log ind igen med MitID "
        "Erhverv med MitID-appen eller en kodeviser, ikke med brugernavn og adgangskode alene."
    ),
    "private-identity": (
        "Du loggede ind med dit private MitID. Log ind igen, og vælg din erhvervsidentitet "
        "for din organisation, når NemLog-in spørger, hvem du vil logge ind som. Har du ikke "
        "en erhvervsidentitet, kan din organisations MitID Erhverv-administrator oprette den."
    ),
    "missing-cvr": (
        "Dit login indeholdt ikke et gyldigt CVR-nummer for din organisation. Log ind igen "
        "med den erhvervsidentitet (MitID Erhverv), der hører til din kommune."
    ),
    "unusable-identity": (
        "NemLog-in sendte et navn eller et organisationsnavn, som mangler, er for langt "
        "eller indeholder tegn, portalen ikke kan gemme. Bed din organisations MitID "
        "Erhverv-administrator rette oplysningerne, og log ind igen."
    ),
    "idp-status": "Start login igen, hvis du stadig vil logge ind.",
    "expired": "Der gik for lang tid, før svaret nåede frem. Start login igen.",
    "issued-too-long-ago": "Der gik for lang tid, før svaret nåede frem. Start login igen.",
}
_GENERAL_HEADLINE = "Login kunne ikke gennemføres"
_GENERAL_EXPLANATION = (
    "Svaret fra NemLog-in kunne ikke godkendes. Start login igen. Sker det igen, så kontakt "
    "os og oplys tidspunktet; fejlen er registreret."
)


# Refusals of an assertion whose signature verified, by the rules of who may log in.
POLICY_REASONS = frozenset(
    {
        "loa-too-low",
        "private-identity",
        "missing-cvr",
        "spec-version",
        "identity-mismatch",
        "unusable-identity",
    }
)
# Refusals of a response that could not be trusted or was not for us: nothing in it is
# recorded but the reason (README.md, "Logging in through NemLog-in", lists them all).
RESPONSE_REASONS = frozenset(
    {
        "oversize",
        "malformed-base64",
        "malformed-xml",
        "dtd-forbidden",
        "not-a-response",
        "unsolicited",
        "in-response-to-mismatch",
        "request-reused",
        "replayed",
        "wrong-destination",
        "wrong-issuer",
        "wrong-audience",
        "wrong-recipient",
        "wrong-subject-confirmation",
        "nameid-format",
        "wrong-sp-name-qualifier",
        "idp-status",
        "unencrypted-assertion",
        "assertion-count",
        "weak-encryption",
        "weak-algorithm",
        "forbidden-transform",
        "decryption-failed",
        "duplicate-id",
        "comment-in-assertion",
        "unsigned-assertion",
        "bad-signature",
        "schema-invalid",
        "expired",
        "not-yet-valid",
        "issued-too-long-ago",
        "assertion-lifetime",
        "invalid-response",
    }
)
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

    reason: str
    detail: str = ""
    assertion_id: str | None = None
    person_uuid: str | None = None
    cvr: str | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason

    @property
    def headline(self) -> str:
        return _HEADLINE.get(self.reason, _GENERAL_HEADLINE)

    @property
    def explanation(self) -> str:
        if self.reason in _EXPLANATION:
            return _EXPLANATION[self.reason]
        if self.reason in _HEADLINE:
            return "Start login igen fra portalen."
        return _GENERAL_EXPLANATION

    @property
    def is_policy(self) -> bool:
        """A verified login refused by our policy, rather than a response we could not trust.

        Each needs a new assertion from the IdP (the replay cache has let it through), so
        these are the refusals the ledger records one by one."""
        return self.reason in POLICY_REASONS
