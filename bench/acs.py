"""SAML responses accepted per second at the ACS: our service provider against python3-saml.

Ours: `ServiceProvider.accept(posted, pending=[request_id])`, the whole ACS path: envelope and
algorithm checks, decryption with python-xmlsec, the assertion's shape, python3-saml's
`is_valid`, our exact comparisons, the replay cache (`UsedOnce`: two transactions, one for
the assertion ID and one for the request ID, on a real SQLite file in a temporary
directory, as the portal runs it) and the identity policy.

Baseline: what a python3-saml user writes, `OneLogin_Saml2_Auth(request_data, settings)
.process_response(request_id=...)` with strict settings that want the assertion signed and
encrypted, followed by reading the attributes, the NameID and the session index. It has no
replay cache and no policy. Its SP key pair is our encryption key pair (python3-saml decrypts
with the one SP key it knows; it signs nothing here), and it trusts the same IdP certificate.

The responses: for every one a real signed AuthnRequest from our SP is read by the
development IdP, which answers it with an assertion for a signatory (`aarhus`), signed with
RSA-SHA256 and encrypted. python3-saml's strict schema check refuses NemLog-in's own
encryption (AES-256-GCM with xmlenc11 RSA-OAEP names its mask function in an `<xenc11:MGF>`
element the schema does not know, python3-saml issue 436), so the compared responses are
encrypted with AES-256-CBC under RSA-OAEP-MGF1P, which both sides accept; the bench checks
that python3-saml does refuse the GCM ones. Our rate on NemLog-in-shaped GCM responses is
reported on its own (no baseline can read them), and so is our rate with an in-memory
one-time-use stand-in instead of the database, which shows what the database writes cost.

Each round a fresh CBC batch and a fresh GCM batch are made before the clock starts. The
sides then take turns response by response (A B A B ..., the order rotating): python3-saml,
ours on SQLite and ours with the in-memory stand-in each process the same CBC response (each
SP consumes each request and assertion ID once; python3-saml keeps no such state), and ours on
SQLite processes a GCM response. A side's rate in a round is its responses over the sum of its
own per-response times. After one warm-up round, figures are medians over the rounds and each
ratio is the median of the per-round ratios, so that drift on a shared machine hits both
sides of every ratio alike. Every result is checked inside the timed part (no errors,
authenticated, the expected person), so no side can be fast by failing.

Both sides make one `xmlsec.KeysManager` per response to decrypt, and its OpenSSL store loads
the CA bundle named by SSL_CERT_FILE / SSL_CERT_DIR when those are set (many milliseconds;
nothing with the xmlsec wheel's own defaults). The measured sides run in the environment as
given, and the output says what one costs; the untimed making of responses runs without them.

    .venv/bin/python bench/acs.py [--quick] [--rounds N]
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead (common is bench.common).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import dataclasses
import datetime
import gc
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import xmlsec
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from bench.common import (
    Series,
    filesystem_of,
    paired_ratio,
    parse_arguments,
    peak_rss_mib,
    summary_line,
    verdict,
)
from development.demo import PERSONS_BY_KEY, DemoPerson
from development.idp import DevelopmentIdP, encode
from ledger.evidence.database import DatabaseURL
from ledger.storage.once import UsedOnce
from saml import vocabulary as v
from saml.credentials import ensure_sp_credentials
from saml.settings import SamlSettings
from saml.sp import IdentityProvider, ServiceProvider

PERSON = "aarhus"
GOALS: dict[str, float | None] = {
    "acs_vs_python3_saml": 0.8,
    "acs_memory_once_vs_python3_saml": None,
    "acs_sqlite_vs_memory_once": None,
}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    responses: int  # per round, for each batch (CBC and GCM)


QUICK = Sizes(rounds=5, responses=40)
FULL = Sizes(rounds=7, responses=200)


class MemoryOnce:
    """BENCH-ONLY stand-in for `UsedOnce`: a dict in this process, no database, no sharing
    between processes. It only shows what the replay cache's database writes cost."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, str], datetime.datetime] = {}

    def first_use(self, kind: str, token: str, expires_at: datetime.datetime) -> bool:
        key = (kind, token)
        if key in self.used and self.used[key] > datetime.datetime.now(datetime.UTC):
            return False
        self.used[key] = expires_at
        return True


# The setup: keys, settings, the development IdP, two SPs and python3-saml's settings


@dataclass
class Setup:
    settings: SamlSettings
    idp: DevelopmentIdP
    sp: ServiceProvider  # replay cache on SQLite
    sp_memory: ServiceProvider  # replay cache in the bench's MemoryOnce
    baseline_settings: OneLogin_Saml2_Settings
    request_data: dict[str, Any]
    database: Path


def make_setup(workdir: Path) -> Setup:
    keys = workdir / "keys"
    env = {
        "LEDGER_DEV_IDP": "1",
        "LEDGER_SAML_SP_SIGNING_KEY": str(keys / "sp-signing.key"),
        "LEDGER_SAML_SP_SIGNING_CERT": str(keys / "sp-signing.crt"),
        "LEDGER_SAML_SP_ENCRYPTION_KEY": str(keys / "sp-encryption.key"),
        "LEDGER_SAML_SP_ENCRYPTION_CERT": str(keys / "sp-encryption.crt"),
    }
    settings = dataclasses.replace(
        SamlSettings.from_env(workdir / "var", env), dev_idp_dir=keys / "dev-idp"
    )
    ensure_sp_credentials(settings)
    idp = DevelopmentIdP.from_settings(settings)
    identity_provider = IdentityProvider.from_metadata(idp.metadata())
    (workdir / "var").mkdir(exist_ok=True)
    database = workdir / "var" / "ledger.sqlite3"
    once = UsedOnce(DatabaseURL.parse(f"sqlite:///{database}"))
    acs = urlsplit(settings.acs_url)
    return Setup(
        settings=settings,
        idp=idp,
        sp=ServiceProvider(settings, identity_provider, once),
        sp_memory=ServiceProvider(settings, identity_provider, MemoryOnce()),
        baseline_settings=baseline_settings(settings, identity_provider),
        request_data={
            "https": "on" if acs.scheme == "https" else "off",
            "http_host": acs.netloc,
            "script_name": acs.path,
            "get_data": {},
        },
        database=database,
    )


def baseline_settings(settings: SamlSettings, idp: IdentityProvider) -> OneLogin_Saml2_Settings:
    """python3-saml strict, wanting a signed and encrypted assertion, with our keys."""
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": settings.sp_entity_id,
                "assertionConsumerService": {"url": settings.acs_url, "binding": v.BINDING_POST},
                "NameIDFormat": v.NAMEID_PERSISTENT,
                "x509cert": settings.encryption_cert.read_text(),
                "privateKey": settings.encryption_key.read_text(),
            },
            "idp": {
                "entityId": idp.entity_id,
                "singleSignOnService": {"url": idp.sso_url, "binding": v.BINDING_REDIRECT},
                "x509certMulti": {"signing": list(idp.signing_certs)},
            },
            "security": {
                "wantAssertionsSigned": True,
                "wantAssertionsEncrypted": True,
                "wantMessagesSigned": False,
                "wantNameId": True,
                "wantAttributeStatement": True,
                "signatureAlgorithm": v.RSA_SHA256,
                "digestAlgorithm": v.SHA256,
                "rejectDeprecatedAlgorithm": True,
            },
        }
    )


# Responses


@dataclass(frozen=True)
class Response:
    posted: str  # base64, as POSTed
    request_id: str


CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")


@contextmanager
def without_ca_bundle() -> Iterator[None]:
    """While making responses (untimed) only: without these variables, the `KeysManager` the
    development IdP makes to encrypt each one does not load the whole CA bundle."""
    saved = {name: os.environ.pop(name) for name in CA_BUNDLE_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def make_batch(setup: Setup, person: DemoPerson, count: int, *, nemlogin: bool) -> list[Response]:
    """`count` responses, each to a real signed AuthnRequest of our SP read by the IdP;
    NemLog-in's encryption (AES-256-GCM, xmlenc11 RSA-OAEP) or AES-256-CBC, RSA-OAEP-MGF1P."""
    with without_ca_bundle():
        return [_response(setup, person, nemlogin) for _ in range(count)]


def _response(setup: Setup, person: DemoPerson, nemlogin: bool) -> Response:
    idp = setup.idp
    outgoing = setup.sp.login_request()
    request_id = idp.read_request(urlsplit(outgoing.url).query).request_id
    assertion = idp.sign(idp.assertion(person, request_id))
    if nemlogin:
        encrypted = idp.encrypt(assertion)
    else:
        encrypted = idp.encrypt(
            assertion, data_algorithm=v.AES256_CBC, key_transport=v.RSA_OAEP_MGF1P
        )
    return Response(encode(idp.envelope(encrypted, request_id)), request_id)


# The measured sides: each accepts one response (or raises) and reads who logged in


def baseline_accept(setup: Setup, person: DemoPerson) -> Callable[[Response], None]:
    settings, request_data = setup.baseline_settings, setup.request_data
    name_id = v.PROFESSIONAL_NAMEID_PREFIX + person.person_uuid

    def accept(response: Response) -> None:
        auth = OneLogin_Saml2_Auth(
            request_data | {"post_data": {"SAMLResponse": response.posted}}, settings
        )
        auth.process_response(request_id=response.request_id)
        if auth.get_errors() or not auth.is_authenticated():
            raise RuntimeError(
                f"python3-saml refused a bench response: {auth.get_errors()} "
                f"{auth.get_last_error_reason()}"
            )
        attributes = auth.get_attributes()
        if auth.get_nameid() != name_id or not auth.get_session_index():
            raise RuntimeError("python3-saml read another subject")
        if attributes[v.CVR] != [person.cvr]:
            raise RuntimeError("python3-saml read other attributes")

    return accept


def ours_accept(sp: ServiceProvider, person: DemoPerson) -> Callable[[Response], None]:
    def accept(response: Response) -> None:
        identity = sp.accept(response.posted, pending=[response.request_id])
        if identity.person_uuid != person.person_uuid or identity.cvr != person.cvr:
            raise RuntimeError("our SP read another person")

    return accept


def interleaved_round(
    sides: dict[str, tuple[Callable[[Response], None], list[Response]]],
    latencies: dict[str, list[float]],
) -> dict[str, float]:
    """Responses per second of each side over its batch, the sides taking turns response by
    response (A B A B ..., the order rotating), so that a busy moment on a shared machine hits
    every side alike; the milliseconds of each response are appended to `latencies`."""
    names = list(sides)
    count = min(len(batch) for _, batch in sides.values())
    seconds = dict.fromkeys(names, 0.0)
    clock = time.perf_counter
    gc.collect()
    for i in range(count):
        for turn in range(len(names)):
            name = names[(i + turn) % len(names)]
            accept, batch = sides[name]
            start = clock()
            accept(batch[i])
            elapsed = clock() - start
            seconds[name] += elapsed
            latencies[name].append(elapsed * 1000)
    return {name: count / seconds[name] for name in names}


def check_baseline_is_strict(setup: Setup, person: DemoPerson) -> str:
    """python3-saml accepts a CBC response, and refuses it for another request and the GCM
    one (so the baseline checks what it should, and GCM cannot be compared)."""
    cbc = make_batch(setup, person, 1, nemlogin=False)[0]
    gcm = make_batch(setup, person, 1, nemlogin=True)[0]

    def errors(posted: str, request_id: str) -> str:
        auth = OneLogin_Saml2_Auth(
            setup.request_data | {"post_data": {"SAMLResponse": posted}}, setup.baseline_settings
        )
        auth.process_response(request_id=request_id)
        return auth.get_last_error_reason() or ""

    if errors(cbc.posted, cbc.request_id):
        raise RuntimeError(f"python3-saml refuses the CBC response: {errors(cbc.posted, '')}")
    if not errors(cbc.posted, gcm.request_id):
        raise RuntimeError("python3-saml accepts a response to another request")
    gcm_reason = errors(gcm.posted, gcm.request_id)
    if not gcm_reason:
        raise RuntimeError("python3-saml accepts the GCM response: compare on it instead")
    return gcm_reason


def keys_manager_ms() -> float:
    """What one `xmlsec.KeysManager()` costs here; both sides make one per response. Its
    OpenSSL store loads the CA bundle named by SSL_CERT_FILE / SSL_CERT_DIR when those are
    set (then many milliseconds), and nothing with the wheel's own defaults."""
    samples = []
    for _ in range(15):
        start = time.perf_counter()
        xmlsec.KeysManager()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def sqlite_synchronous(database: Path) -> str:
    """The `synchronous` level a new connection gets (`UsedOnce` does not set one)."""
    connection = sqlite3.connect(database)
    try:
        level = connection.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        connection.close()
    return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))


# The run


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds is not None:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-acs-"))
    person = PERSONS_BY_KEY[PERSON]
    names = ("baseline", "ours", "ours_memory", "ours_gcm")
    series = {name: Series() for name in names}
    latencies: dict[str, list[float]] = {name: [] for name in names}
    generate_seconds = 0.0
    try:
        setup = make_setup(workdir)
        gcm_refusal = check_baseline_is_strict(setup, person)
        response_bytes = gcm_bytes = 0
        for round_number in range(sizes.rounds + 1):
            made = time.perf_counter()
            batch = make_batch(setup, person, sizes.responses, nemlogin=False)
            gcm_batch = make_batch(setup, person, sizes.responses, nemlogin=True)
            generate_seconds += time.perf_counter() - made
            response_bytes = len(batch[0].posted)
            gcm_bytes = len(gcm_batch[0].posted)
            measured = round_number > 0  # round 0 warms up
            sink: dict[str, list[float]] = latencies if measured else {n: [] for n in names}
            sides = {
                "baseline": (baseline_accept(setup, person), batch),
                "ours": (ours_accept(setup.sp, person), batch),
                "ours_memory": (ours_accept(setup.sp_memory, person), batch),
                "ours_gcm": (ours_accept(setup.sp, person), gcm_batch),
            }
            rates = interleaved_round(sides, sink)
            if measured:
                for name, rate in rates.items():
                    series[name].rates.append(rate)
        database_kib = (
            sum(p.stat().st_size for p in setup.database.parent.glob(setup.database.name + "*"))
            / 1024
        )
        filesystem = filesystem_of(setup.database.parent)
        synchronous = sqlite_synchronous(setup.database)
        manager_ms = keys_manager_ms()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ratios = {
        "acs_vs_python3_saml": paired_ratio(series["ours"], series["baseline"]),
        "acs_memory_once_vs_python3_saml": paired_ratio(series["ours_memory"], series["baseline"]),
        "acs_sqlite_vs_memory_once": paired_ratio(series["ours"], series["ours_memory"]),
    }
    m = {name: s.median for name, s in series.items()}
    ms = {name: statistics.median(values) for name, values in latencies.items()}
    p90 = {name: statistics.quantiles(values, n=10)[-1] for name, values in latencies.items()}
    # What the two replay-cache transactions add to one response, per round then median.
    database_ms = statistics.median(
        1000 / o - 1000 / n
        for o, n in zip(series["ours"].rates, series["ours_memory"].rates, strict=True)
    )
    ca_env = ",".join(name for name in CA_BUNDLE_VARIABLES if os.environ.get(name))
    figures: dict[str, Any] = {
        "responses_per_round": sizes.responses,
        "response_chars": response_bytes,
        "gcm_response_chars": gcm_bytes,
        "python3_saml_responses_per_s": m["baseline"],
        "acs_responses_per_s": m["ours"],
        "acs_memory_once_responses_per_s": m["ours_memory"],
        "acs_gcm_responses_per_s": m["ours_gcm"],
        "python3_saml_ms_median": ms["baseline"],
        "acs_ms_median": ms["ours"],
        "acs_memory_once_ms_median": ms["ours_memory"],
        "acs_gcm_ms_median": ms["ours_gcm"],
        "python3_saml_ms_p90": p90["baseline"],
        "acs_ms_p90": p90["ours"],
        "acs_memory_once_ms_p90": p90["ours_memory"],
        "acs_gcm_ms_p90": p90["ours_gcm"],
        "xmlsec_keys_manager_ms": manager_ms,
        "ca_bundle_env": ca_env,
        "replay_cache_sqlite_ms": database_ms,
        "replay_cache_db_kib": database_kib,
        "peak_rss_mib": peak_rss_mib(),
        "rounds": sizes.rounds,
        "generate_seconds": generate_seconds,
        "seconds": time.perf_counter() - started,
    }

    print(
        f"acs{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, python3-saml {metadata.version('python3-saml')}, libxmlsec1 "
        f"{'.'.join(map(str, xmlsec.get_libxmlsec_version()))}; "
        f"{sizes.rounds} rounds after a warm-up, medians"
    )
    print(
        f"responses: {sizes.responses} per batch, fresh each round, each to its own signed "
        f"AuthnRequest; assertion signed RSA-SHA256 (RSA-3072) and encrypted for the SP; "
        f"{response_bytes:,} base64 chars"
    )
    print(
        "compared on AES-256-CBC + RSA-OAEP-MGF1P (both sides, the same responses): "
        "python3-saml refuses NemLog-in's AES-256-GCM + xmlenc11 RSA-OAEP "
        f"({gcm_refusal[:70]!r}, issue 436)"
    )
    print(
        f"replay cache: SQLite file in {tempfile.gettempdir()} ({filesystem}), WAL, "
        f"synchronous={synchronous}, two transactions per response; 'in-memory' is a "
        f"bench-only dict stand-in"
    )
    print(
        f"xmlsec.KeysManager(), made once per response by both sides: {manager_ms:.2f} ms "
        f"({'loads the CA bundle: ' + ca_env + ' set' if ca_env else 'SSL_CERT_FILE/DIR unset'})"
    )
    print()
    header = (
        f"{'measure':<46}{'resp/s':>8}{'ms p50':>8}{'ms p90':>8}{'ratio':>7}{'goal':>6}  verdict"
    )
    print(header)
    print("-" * len(header))

    def row(label: str, name: str, key: str | None) -> None:
        text = f"{label:<46}{m[name]:>8,.1f}{ms[name]:>8.2f}{p90[name]:>8.2f}"
        if key is not None:
            goal = GOALS[key]
            goal_text = f"{goal:.2f}" if goal is not None else "-"
            text += f"{ratios[key]:>7.2f}{goal_text:>6}  {verdict(ratios[key], goal)}"
        print(text)

    row("python3-saml process_response (baseline)", "baseline", None)
    row("ours: ServiceProvider.accept, SQLite cache", "ours", "acs_vs_python3_saml")
    row("ours, in-memory cache stand-in (bench only)", "ours_memory",
        "acs_memory_once_vs_python3_saml")  # fmt: skip
    row("ours on NemLog-in's GCM responses, SQLite", "ours_gcm", None)
    print("resp/s: median of the per-round rates; ms p50/p90: per response, all rounds")
    print()
    print(
        f"ratios are ours / python3-saml, paired per round; ours on SQLite / ours in memory "
        f"{ratios['acs_sqlite_vs_memory_once']:.2f}: the replay cache's two SQLite "
        f"transactions cost {database_ms:.2f} ms per response"
    )
    print(
        f"peak RSS: {figures['peak_rss_mib']:,.0f} MiB; making the responses took "
        f"{generate_seconds:.0f} s (not timed), the run {figures['seconds']:.0f} s"
    )
    print(summary_line("acs", args.quick, figures, ratios, GOALS))


if __name__ == "__main__":
    main()
