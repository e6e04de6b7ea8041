"""Fixtures: a fresh ledger on a real SQLite file and on a real PostgreSQL database.

PostgreSQL tests use `LEDGER_TEST_POSTGRES_URL` (a login that may create databases); each
test gets a database of its own, dropped afterwards. Outside CI they are skipped when the
variable is unset; in CI (CI=true) a missing server is a failure, not a skip.
"""

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from approval_ledger.bootstrap import build_app
from approval_ledger.cli import main
from approval_ledger.initialize import initialize
from development.demo import OPERATOR_CVR
from development.idp import DevelopmentIdP
from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.evidence.database import DatabaseURL
from ledger.identity import Actor
from ledger.storage.once import UsedOnce
from saml.credentials import ensure_sp_credentials
from saml.settings import SamlSettings
from saml.sp import IdentityProvider, ServiceProvider
from web.services import Services

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "")

# Shared CI machines are noisy: judge property tests by their outcome, never by their speed.
hypothesis_settings.register_profile(
    "ledger", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("ledger")


def _require_postgres() -> DatabaseURL:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("LEDGER_TEST_POSTGRES_URL is not set; .ci/run starts PostgreSQL")
        pytest.skip("LEDGER_TEST_POSTGRES_URL is not set")
    return DatabaseURL.parse(POSTGRES_URL)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    with new_postgres_database() as url:
        yield url


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database while the block runs (for fixtures of any scope)."""
    admin = _require_postgres()
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    parts = admin.url.rsplit("/", 1)[0]
    try:
        yield f"{parts}/{name}"
    finally:
        with psycopg.connect(admin.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_in(data_dir: Path, database_url: str | None = None) -> Settings:
    env = {
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_ORIGIN": "test.example/ledger",
        "LEDGER_OPERATOR_CVR": OPERATOR_CVR,
    }
    if database_url:
        env["LEDGER_DATABASE_URL"] = database_url
    return Settings.from_env(env)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a new ledger, once on SQLite and once on PostgreSQL."""
    if request.param == "postgres":
        return settings_in(tmp_path / "var", request.getfixturevalue("postgres_url"))
    return settings_in(tmp_path / "var")


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path / "var")


@pytest.fixture
def postgres_settings(tmp_path: Path, postgres_url: str) -> Settings:
    return settings_in(tmp_path / "var", postgres_url)


@pytest.fixture
def operator() -> Actor:
    return Actor(Actor.OPERATOR, "test-operator")


@pytest.fixture
def app(settings: Settings, operator: Actor) -> Iterator[LedgerApp]:
    """An initialized ledger (key created, log started) on each database."""
    ledger = initialize(settings, operator).app
    yield ledger
    ledger.close()


def with_database(settings: Settings, url: str) -> Settings:
    return replace(settings, database=DatabaseURL.parse(url))


# The SAML login: keys are made once per test session (RSA-3072 takes a while), and each
# test gets settings, a development IdP and a service provider of its own.


@pytest.fixture(scope="session")
def saml_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keys = tmp_path_factory.mktemp("saml-keys")
    ensure_sp_credentials(saml_settings_in(keys, keys))
    return keys


def saml_settings_in(data_dir: Path, keys: Path, **extra: str) -> SamlSettings:
    """Development-IdP settings for a portal on 127.0.0.1:5000 using the shared keys."""
    env = {
        "LEDGER_DEV_IDP": "1",
        "LEDGER_SAML_SP_SIGNING_KEY": str(keys / "sp-signing.key"),
        "LEDGER_SAML_SP_SIGNING_CERT": str(keys / "sp-signing.crt"),
        "LEDGER_SAML_SP_ENCRYPTION_KEY": str(keys / "sp-encryption.key"),
        "LEDGER_SAML_SP_ENCRYPTION_CERT": str(keys / "sp-encryption.crt"),
    } | extra
    return replace(SamlSettings.from_env(data_dir, env), dev_idp_dir=keys / "dev-idp")


@pytest.fixture
def saml_settings(tmp_path: Path, saml_keys: Path) -> SamlSettings:
    return saml_settings_in(tmp_path / "var", saml_keys)


@pytest.fixture
def dev_idp(saml_settings: SamlSettings) -> DevelopmentIdP:
    return DevelopmentIdP.from_settings(saml_settings)


@pytest.fixture
def used_once(tmp_path: Path) -> UsedOnce:
    (tmp_path / "var").mkdir(exist_ok=True)
    return UsedOnce(DatabaseURL.parse(f"sqlite:///{tmp_path / 'var' / 'ledger.sqlite3'}"))


@pytest.fixture
def sp(
    saml_settings: SamlSettings, dev_idp: DevelopmentIdP, used_once: UsedOnce
) -> ServiceProvider:
    return ServiceProvider(
        saml_settings, IdentityProvider.from_metadata(dev_idp.metadata()), used_once
    )


@pytest.fixture
def make_portal(saml_settings: SamlSettings) -> Iterator[Callable[..., Flask]]:
    """`make_portal(ledger)`: the portal as the composition root builds it, around a ledger
    the test opened and wrote to, on the test's SAML settings unless `saml` is given and on
    the ledger's settings unless `settings` is; `config` goes to `create_app`. What it
    built is closed after the test (the ledger again by its own fixture, which is harmless).
    """
    built: list[Services] = []

    def make(
        ledger: LedgerApp,
        *,
        settings: Settings | None = None,
        saml: SamlSettings | None = None,
        config: dict[str, object] | None = None,
    ) -> Flask:
        portal = build_app(
            settings or ledger.settings, saml or saml_settings, ledger=ledger, config=config
        )
        built.append(portal.extensions["services"])
        return portal

    yield make
    for services in built:
        services.close()


def start_login(sp: ServiceProvider, dev_idp: DevelopmentIdP, *, force_authn: bool = False) -> str:
    """Send a real signed AuthnRequest to the development IdP; the request ID it read."""
    request = sp.login_request(force_authn=force_authn)
    return dev_idp.read_request(urlsplit(request.url).query).request_id


@pytest.fixture
def verify_cli(app, monkeypatch, capsys):
    """`ledger verify --json [ARGS]` on the test's ledger: (exit code, [(reason, seq)], report)."""
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    monkeypatch.setenv("LEDGER_OPERATOR_CVR", app.settings.operator_cvr or "")

    def run(*args: str):
        capsys.readouterr()
        code = main(["verify", "--json", *args])
        report = json.loads(capsys.readouterr().out)
        return code, [(p["reason"], p["seq"]) for p in report["problems"]], report

    return run
