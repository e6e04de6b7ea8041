"""Configuration from `LEDGER_*` environment variables, validated once at start."""

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography import x509

from ledger.evidence.cosignature import CosignatureError, WitnessEntry, parse_witness_list
from ledger.evidence.database import DatabaseURL, DatabaseURLError
from ledger.evidence.timestamp import load_roots
from ledger.identity import InvalidCVR, checked_email_address, validate_cvr
from ledger.token_keys import DEFAULT_MODULE, TokenError, TokenURI

DEFAULT_ORIGIN = "localhost/approval-ledger"

# The setting of `eventsourcing_env` that tells the recorder (ledger/storage) where the
# signing keys are. Its home is here, beside the settings: importing the storage layer for it
# would load the event store into every command, `ledger verify --bundle` too.
KEYS_DIR_SETTING = "LEDGER_KEYS_DIR"

# Every LEDGER_* variable anything here reads. Any other stops the start with its name: a
# misspelt setting would otherwise be ignored without a word. Add a new setting here.
KNOWN_VARIABLES = frozenset(
    {
        # ledger/config.py (Settings)
        "LEDGER_DATA_DIR",
        "LEDGER_DATABASE_URL",
        "LEDGER_KEYS_DIR",
        "LEDGER_SIGNING_KEY",
        "LEDGER_PKCS11_MODULE",
        "LEDGER_PKCS11_PIN_ENV",
        "LEDGER_ORIGIN",
        "LEDGER_DECLARATION_VALIDITY_MONTHS",
        "LEDGER_OPERATOR_CVR",
        "LEDGER_SIGNING_PRIVILEGE",
        "LEDGER_APPROVAL_MAX_AUTH_AGE_MINUTES",
        "LEDGER_MAX_UPLOAD_BYTES",
        "LEDGER_TRUSTED_PROXIES",
        "LEDGER_SESSION_IDLE_MINUTES",
        "LEDGER_SESSION_MAX_HOURS",
        "LEDGER_LOGIN_RATE_PER_MINUTE",
        "LEDGER_LOGIN_REFUSAL_INTERVAL_SECONDS",
        "LEDGER_CHECKPOINT_INTERVAL",
        "LEDGER_WITNESSES",
        "LEDGER_WITNESS_QUORUM",
        "LEDGER_WITNESS_QUORUM_GRACE",
        "LEDGER_TSA_URL",
        "LEDGER_TSA_ROOTS",
        "LEDGER_TSA_INTERVAL",
        "LEDGER_TSA_POLICY",
        "LEDGER_SMTP_URL",
        "LEDGER_SMTP_PASSWORD_ENV",
        "LEDGER_MAIL_FROM",
        "LEDGER_STAFF_EMAIL",
        "LEDGER_RETENTION_NETWORK_MONTHS",
        "LEDGER_RETENTION_REFUSAL_MONTHS",
        "LEDGER_RETENTION_ASSERTION_YEARS",
        "LEDGER_RETENTION_IDENTITY_YEARS",
        # saml/settings.py (SamlSettings)
        "LEDGER_SAML_BASE_URL",
        "LEDGER_SAML_IDP_METADATA",
        "LEDGER_SAML_SP_ENTITY_ID",
        "LEDGER_SAML_SP_SIGNING_KEY",
        "LEDGER_SAML_SP_SIGNING_CERT",
        "LEDGER_SAML_SP_ENCRYPTION_KEY",
        "LEDGER_SAML_SP_ENCRYPTION_CERT",
        "LEDGER_SAML_CLOCK_SKEW_SECONDS",
        "LEDGER_SAML_MAX_RESPONSE_BYTES",
        "LEDGER_SAML_CONTACT_NAME",
        "LEDGER_SAML_CONTACT_EMAIL",
        "LEDGER_DEV_IDP",
        # Read only by tests/conftest.py: a shell set up for the tests may run `ledger` too.
        "LEDGER_TEST_POSTGRES_URL",
    }
)


@dataclass(frozen=True)
class TsaSettings:
    """The timestamp authority: its URL, the certificates its tokens must chain to, at most
    how often it is asked (seconds; 0 asks for every checkpoint) and its policy, if fixed."""

    url: str
    roots: tuple[x509.Certificate, ...]
    interval: float = 0.0
    policy: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server the portal's e-mail notices go through (LEDGER_SMTP_URL), how it is
    reached (`plain`, `starttls` or `tls`), the login if it asks for one, and the From
    address (LEDGER_MAIL_FROM). The password is never part of the URL: it is read from the
    variable LEDGER_SMTP_PASSWORD_ENV names, so that it shows in no process list, log line
    or error message that quotes the URL."""

    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    PLAIN = "plain"
    STARTTLS = "starttls"
    TLS = "tls"


# LEDGER_SMTP_URL's schemes: how each reaches the server, and its usual port.
SMTP_SCHEMES = {
    "smtp": (SmtpSettings.PLAIN, 25),
    "smtp+starttls": (SmtpSettings.STARTTLS, 587),
    "smtps": (SmtpSettings.TLS, 465),
}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable and what it needs."""


@dataclass(frozen=True)
class RetentionSettings:
    """How long each kind of personal data is kept (docs/evidence-format.md section 10.5;
    README, Personal data, says why these defaults)."""

    network_months: int = 6
    refusal_months: int = 6
    assertion_years: int = 3
    identity_years: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "RetentionSettings":
        return cls(
            _whole(env, "LEDGER_RETENTION_NETWORK_MONTHS", 6, 1, 120),
            _whole(env, "LEDGER_RETENTION_REFUSAL_MONTHS", 6, 1, 120),
            _whole(env, "LEDGER_RETENTION_ASSERTION_YEARS", 3, 0, 30),
            _whole(env, "LEDGER_RETENTION_IDENTITY_YEARS", 3, 0, 30),
        )


def _signing_privilege(env: Mapping[str, str]) -> str | None:
    value = (env.get("LEDGER_SIGNING_PRIVILEGE") or "").strip()
    if not value:
        return None
    if len(value) > 500 or not value.isascii() or not value.isprintable() or " " in value:
        raise ConfigError("LEDGER_SIGNING_PRIVILEGE must be a privilege's URI (ASCII, no spaces)")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database: DatabaseURL
    keys_dir: Path
    origin: str
    declaration_validity_months: int = 12
    operator_cvr: str | None = None
    # The MitID Erhverv privilege (its URI, as privilegesIntermediate names it) a municipality
    # assigns to those who may sign for it: an approval with it records `mitid-privilege`.
    signing_privilege: str | None = None
    approval_max_auth_age_minutes: int = 15
    max_upload_bytes: int = 10 * 1024 * 1024
    # How many reverse proxies in front of the portal set X-Forwarded-*; 0 trusts none.
    trusted_proxies: int = 0
    session_idle_minutes: int = 30
    session_max_hours: int = 8
    # Requests to /saml/login and /saml/acs per client network and minute, on every host.
    login_rate_per_minute: int = 60
    # How long refused logins without a verified identity are counted before their summary.
    login_refusal_interval_seconds: int = 60
    # Within how many seconds `ledger serve` covers a committed leaf by a signed checkpoint.
    checkpoint_interval: float = 1.0
    # The witnesses asked to cosign each checkpoint (LEDGER_WITNESSES, a file), and how
    # many of them a checkpoint needs (LEDGER_WITNESS_QUORUM; all of them by default).
    witnesses: tuple[WitnessEntry, ...] = ()
    witness_quorum: int = 0
    # For how many seconds the quorum may lack the newest checkpoints before the staff pages
    # and `ledger checkpoint` say so (LEDGER_WITNESS_QUORUM_GRACE; README, Witnesses).
    witness_quorum_grace: float = 300.0
    # The RFC 3161 timestamp authority asked to timestamp the checkpoints (LEDGER_TSA_*).
    tsa: TsaSettings | None = None
    # The private keys in a PKCS#11 token instead of keys_dir (LEDGER_SIGNING_KEY, a pkcs11:
    # URI; README, Custody of the signing key), the token's library, and the variable with
    # its PIN when the URI has no pin-source.
    signing_key: str | None = None
    pkcs11_module: str = DEFAULT_MODULE
    pkcs11_pin_env: str | None = None
    # The mail server of the e-mail notices (LEDGER_SMTP_*; none: no e-mail is sent) and
    # the staff's addresses they go to (LEDGER_STAFF_EMAIL; README, E-mail).
    smtp: SmtpSettings | None = None
    staff_emails: tuple[str, ...] = ()
    # How long personal data is kept before `ledger retention run` erases it
    # (LEDGER_RETENTION_*; README, Personal data).
    retention: RetentionSettings = RetentionSettings()

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def secret_key_file(self) -> Path:
        """The portal's session-signing secret, made by `ledger init` (mode 0600)."""
        return self.data_dir / "secret-key"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        refuse_unknown_variables(env)
        data_dir = Path(env.get("LEDGER_DATA_DIR") or "./var").absolute()
        url = env.get("LEDGER_DATABASE_URL") or f"sqlite:///{data_dir / 'ledger.sqlite3'}"
        try:
            database = DatabaseURL.parse(url)
        except DatabaseURLError as error:
            raise ConfigError(f"LEDGER_DATABASE_URL: {error}") from error
        origin = env.get("LEDGER_ORIGIN") or DEFAULT_ORIGIN
        if any(ch.isspace() for ch in origin) or "+" in origin:
            raise ConfigError(f"LEDGER_ORIGIN {origin!r} names the log's key: no spaces and no '+'")
        months_text = env.get("LEDGER_DECLARATION_VALIDITY_MONTHS") or "12"
        if not months_text.isdigit() or not 1 <= int(months_text) <= 120:
            raise ConfigError(
                "LEDGER_DECLARATION_VALIDITY_MONTHS must be a whole number of months, 1 to 120"
            )
        keys_dir = Path(env.get("LEDGER_KEYS_DIR") or data_dir / "keys").absolute()
        operator_cvr = env.get("LEDGER_OPERATOR_CVR") or None
        witnesses, quorum = _witnesses(env)
        signing_key, pkcs11_module, pkcs11_pin_env = _token(env)
        if operator_cvr is not None:
            try:
                operator_cvr = validate_cvr(operator_cvr)
            except InvalidCVR as error:
                raise ConfigError(f"LEDGER_OPERATOR_CVR: {error}") from error
        return cls(
            data_dir,
            database,
            keys_dir,
            origin,
            int(months_text),
            operator_cvr=operator_cvr,
            signing_privilege=_signing_privilege(env),
            approval_max_auth_age_minutes=_whole(
                env, "LEDGER_APPROVAL_MAX_AUTH_AGE_MINUTES", 15, 1, 24 * 60
            ),
            max_upload_bytes=_whole(
                env, "LEDGER_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, 1024, 100 * 1024 * 1024
            ),
            trusted_proxies=_whole(env, "LEDGER_TRUSTED_PROXIES", 0, 0, 5),
            **_session_limits(env),
            login_rate_per_minute=_whole(env, "LEDGER_LOGIN_RATE_PER_MINUTE", 60, 1, 100_000),
            login_refusal_interval_seconds=_whole(
                env, "LEDGER_LOGIN_REFUSAL_INTERVAL_SECONDS", 60, 1, 3600
            ),
            checkpoint_interval=_seconds(env, "LEDGER_CHECKPOINT_INTERVAL", 1.0, 0.1, 60.0),
            witnesses=witnesses,
            witness_quorum=quorum,
            witness_quorum_grace=_quorum_grace(env, witnesses),
            tsa=_tsa(env),
            signing_key=signing_key,
            pkcs11_module=pkcs11_module,
            pkcs11_pin_env=pkcs11_pin_env,
            smtp=_smtp(env),
            staff_emails=_staff_emails(env),
            retention=RetentionSettings.from_env(env),
        )

    def require_operator_cvr(self) -> str:
        """The operator's CVR; staff must log in with it. The portal cannot run without it."""
        if self.operator_cvr is None:
            raise ConfigError(
                "LEDGER_OPERATOR_CVR must be the operator's CVR number: staff pages are only "
                "for people logged in with it"
            )
        return self.operator_cvr

    def token_env(self) -> dict[str, str]:
        """The token settings `KeyRing.from_env` reads (empty for keys in files)."""
        if self.signing_key is None:
            return {}
        env = {"LEDGER_SIGNING_KEY": self.signing_key, "LEDGER_PKCS11_MODULE": self.pkcs11_module}
        if self.pkcs11_pin_env is not None:
            env["LEDGER_PKCS11_PIN_ENV"] = self.pkcs11_pin_env
        return env

    def eventsourcing_env(self) -> dict[str, str]:
        """The settings the `eventsourcing` library reads, derived from ours."""
        env = {KEYS_DIR_SETTING: str(self.keys_dir), **self.token_env()}
        db = self.database
        if db.is_sqlite:
            assert db.sqlite_path is not None
            env |= {
                "PERSISTENCE_MODULE": "ledger.storage.sqlite",
                "SQLITE_DBNAME": str(db.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        else:
            env |= {
                "PERSISTENCE_MODULE": "ledger.storage.postgres",
                "POSTGRES_DBNAME": db.dbname,
                "POSTGRES_HOST": db.host,
                "POSTGRES_PORT": str(db.port),
                "POSTGRES_USER": db.user,
                "POSTGRES_PASSWORD": db.password,
                "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
                "POSTGRES_LOCK_TIMEOUT": "30",
                # How long a request waits for a connection from the pool: while the database
                # is down, that long before the portal answers 503.
                "POSTGRES_CONNECT_TIMEOUT": "5",
            }
        return env


def refuse_unknown_variables(env: Mapping[str, str]) -> None:
    """Stop at a `LEDGER_*` variable nothing reads (the `eventsourcing` library reads none:
    the application is built from `Settings.eventsourcing_env` alone)."""
    unknown = sorted(
        name for name in env if name.startswith("LEDGER_") and name not in KNOWN_VARIABLES
    )
    if unknown:
        raise ConfigError(
            f"{', '.join(unknown)}: not a setting of the ledger (misspelt, or meant for the "
            "eventsourcing library, which takes nothing from the environment here); remove it "
            "or see README.md, Configuration"
        )


def _token(env: Mapping[str, str]) -> tuple[str | None, str, str | None]:
    """LEDGER_SIGNING_KEY and its companions, checked without opening the token."""
    uri = env.get("LEDGER_SIGNING_KEY") or None
    module = env.get("LEDGER_PKCS11_MODULE") or DEFAULT_MODULE
    pin_env = env.get("LEDGER_PKCS11_PIN_ENV") or None
    if uri is None:
        for name in ("LEDGER_PKCS11_MODULE", "LEDGER_PKCS11_PIN_ENV"):
            if env.get(name):
                raise ConfigError(f"{name} is set, but LEDGER_SIGNING_KEY names no pkcs11: key")
        return None, DEFAULT_MODULE, None
    try:
        parsed = TokenURI.parse(uri)
    except TokenError as error:
        # The message names the part that is wrong; the URI itself may hold a path to the PIN.
        raise ConfigError(f"LEDGER_SIGNING_KEY: {error}") from None
    if parsed.pin_file is None and pin_env is None:
        raise ConfigError(
            "LEDGER_SIGNING_KEY: the token needs a PIN: add pin-source=file:<path> to the URI "
            "or set LEDGER_PKCS11_PIN_ENV to the name of a variable holding it"
        )
    if pin_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pin_env):
        raise ConfigError("LEDGER_PKCS11_PIN_ENV must be the name of an environment variable")
    if not Path(module).is_file():
        raise ConfigError(
            f"LEDGER_PKCS11_MODULE: {module} is not a file; name the token's PKCS#11 library "
            "(Debian's softhsm2: /usr/lib/softhsm/libsofthsm2.so)"
        )
    return uri, module, pin_env


def _session_limits(env: Mapping[str, str]) -> dict[str, int]:
    idle = _whole(env, "LEDGER_SESSION_IDLE_MINUTES", 30, 1, 24 * 60)
    most = _whole(env, "LEDGER_SESSION_MAX_HOURS", 8, 1, 24)
    if idle > most * 60:
        raise ConfigError(
            "LEDGER_SESSION_IDLE_MINUTES cannot be longer than LEDGER_SESSION_MAX_HOURS"
        )
    return {"session_idle_minutes": idle, "session_max_hours": most}


def _witnesses(env: Mapping[str, str]) -> tuple[tuple[WitnessEntry, ...], int]:
    """The witness list of the file LEDGER_WITNESSES names, and the quorum of it."""
    path_text = env.get("LEDGER_WITNESSES") or ""
    witnesses: tuple[WitnessEntry, ...] = ()
    if path_text:
        try:
            witnesses = parse_witness_list(Path(path_text).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"LEDGER_WITNESSES: cannot read {path_text}: {error}") from error
        except CosignatureError as error:
            raise ConfigError(f"LEDGER_WITNESSES {path_text}, {error}") from error
    if not witnesses:
        if env.get("LEDGER_WITNESS_QUORUM"):
            raise ConfigError("LEDGER_WITNESS_QUORUM needs witnesses in LEDGER_WITNESSES")
        return (), 0
    return witnesses, _whole(env, "LEDGER_WITNESS_QUORUM", len(witnesses), 1, len(witnesses))


def _quorum_grace(env: Mapping[str, str], witnesses: tuple[WitnessEntry, ...]) -> float:
    """How long the quorum may lack the newest checkpoints before it is shown (seconds)."""
    if env.get("LEDGER_WITNESS_QUORUM_GRACE") and not witnesses:
        raise ConfigError("LEDGER_WITNESS_QUORUM_GRACE needs witnesses in LEDGER_WITNESSES")
    return _seconds(env, "LEDGER_WITNESS_QUORUM_GRACE", 300.0, 1.0, 7 * 86400.0)


def _tsa(env: Mapping[str, str]) -> TsaSettings | None:
    """The timestamp authority of LEDGER_TSA_URL, the anchors its tokens must chain to
    (LEDGER_TSA_ROOTS, a PEM file), how often at most it is asked (LEDGER_TSA_INTERVAL
    seconds, 0: every checkpoint) and the policy its tokens must be of (LEDGER_TSA_POLICY)."""
    url = env.get("LEDGER_TSA_URL") or ""
    if not url:
        others = [name for name in sorted(_TSA_ONLY) if env.get(name)]
        if others:
            raise ConfigError(f"{', '.join(others)} needs LEDGER_TSA_URL, the TSA to ask")
        return None
    address = urlsplit(url)
    if address.scheme not in ("http", "https") or not address.hostname:
        raise ConfigError(f"LEDGER_TSA_URL {url!r} must be an http:// or https:// URL")
    roots_text = env.get("LEDGER_TSA_ROOTS") or ""
    if not roots_text:
        raise ConfigError(
            "LEDGER_TSA_ROOTS must name a PEM file of the certificates the TSA's tokens "
            "chain to: a token is checked before it is kept"
        )
    try:
        roots = load_roots(Path(roots_text).read_bytes())
    except OSError as error:
        raise ConfigError(f"LEDGER_TSA_ROOTS: cannot read {roots_text}: {error}") from error
    except ValueError as error:
        raise ConfigError(f"LEDGER_TSA_ROOTS {roots_text}: {error}") from error
    policy = env.get("LEDGER_TSA_POLICY") or None
    if policy is not None and not re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", policy):
        raise ConfigError(f"LEDGER_TSA_POLICY {policy!r} must be an OID in dotted form")
    interval = _seconds(env, "LEDGER_TSA_INTERVAL", 0.0, 0.0, 86400.0)
    return TsaSettings(url=url, roots=tuple(roots), interval=interval, policy=policy)


_TSA_ONLY = frozenset({"LEDGER_TSA_ROOTS", "LEDGER_TSA_INTERVAL", "LEDGER_TSA_POLICY"})
_SMTP_ONLY = frozenset({"LEDGER_SMTP_PASSWORD_ENV", "LEDGER_MAIL_FROM", "LEDGER_STAFF_EMAIL"})


def _smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    """The mail server of LEDGER_SMTP_URL (`smtp://`, `smtp+starttls://` or `smtps://`,
    with a user name but no password), the password from the variable
    LEDGER_SMTP_PASSWORD_ENV names, and the From address LEDGER_MAIL_FROM."""
    url = env.get("LEDGER_SMTP_URL") or ""
    if not url:
        others = [name for name in sorted(_SMTP_ONLY) if env.get(name)]
        if others:
            raise ConfigError(f"{', '.join(others)} needs LEDGER_SMTP_URL, the mail server")
        return None
    address = urlsplit(url)
    try:
        port = address.port
    except ValueError:
        port = -1
    if address.scheme not in SMTP_SCHEMES or not address.hostname or port == -1:
        raise ConfigError(
            "LEDGER_SMTP_URL must be smtp://HOST[:PORT], smtp+starttls://HOST[:PORT] or "
            "smtps://HOST[:PORT], with USER@ before the host if the server wants a login"
        )
    if address.password is not None:
        raise ConfigError(
            "LEDGER_SMTP_URL must not hold the password: set LEDGER_SMTP_PASSWORD_ENV to the "
            "name of a variable that holds it"
        )
    if address.path not in ("", "/") or address.query or address.fragment:
        raise ConfigError("LEDGER_SMTP_URL names only the server: no path, query or fragment")
    security, usual_port = SMTP_SCHEMES[address.scheme]
    host = address.hostname
    user = unquote(address.username) if address.username else None
    if user is not None and security == SmtpSettings.PLAIN and not _is_loopback(host):
        raise ConfigError(
            f"LEDGER_SMTP_URL logs in to {host} without TLS, so the password would cross the "
            "network readable: use smtp+starttls:// or smtps://"
        )
    password = None
    pin_env = env.get("LEDGER_SMTP_PASSWORD_ENV") or None
    if pin_env is not None:
        if user is None:
            raise ConfigError("LEDGER_SMTP_PASSWORD_ENV needs a user name in LEDGER_SMTP_URL")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pin_env):
            raise ConfigError(
                "LEDGER_SMTP_PASSWORD_ENV must be the name of an environment variable"
            )
        password = env.get(pin_env)
        if not password:
            raise ConfigError(f"LEDGER_SMTP_PASSWORD_ENV names {pin_env}, which is not set")
    elif user is not None:
        raise ConfigError(
            "LEDGER_SMTP_URL names a user: set LEDGER_SMTP_PASSWORD_ENV to the name of the "
            "variable that holds the password"
        )
    sender = env.get("LEDGER_MAIL_FROM") or ""
    if checked_email_address(sender) is None:
        raise ConfigError(
            "LEDGER_MAIL_FROM must be the address the notices are sent from, such as "
            "kundeportal@leverandoer.dk"
        )
    return SmtpSettings(
        host=host,
        port=port or usual_port,
        security=security,
        sender=sender.strip(),
        user=user,
        password=password,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _staff_emails(env: Mapping[str, str]) -> tuple[str, ...]:
    """The staff addresses of LEDGER_STAFF_EMAIL, comma-separated (a shared mailbox, or a
    few people's), each checked."""
    text = env.get("LEDGER_STAFF_EMAIL") or ""
    addresses = []
    for part in text.split(","):
        if not part.strip():
            continue
        address = checked_email_address(part)
        if address is None:
            raise ConfigError(
                f"LEDGER_STAFF_EMAIL: {part.strip()[:80]!r} is not an e-mail address the "
                "notices can be sent to (ASCII, name@domain, separated by commas)"
            )
        addresses.append(address)
    return tuple(dict.fromkeys(addresses))


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A number of seconds, whole or decimal (`0.5`), from `low` to `high`."""
    text = env.get(name) or str(default)
    try:
        value = float(text) if text.isascii() and text.replace(".", "", 1).isdigit() else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be a number of seconds from {low:g} to {high:g}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}")
    return int(text)
