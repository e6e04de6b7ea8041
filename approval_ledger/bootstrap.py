"""The composition root: the one place that reads the environment, and where the services
that the portal and the `ledger` command are given are built.

`read_configuration` reads `LEDGER_*` once, at start; everything after that is handed what
it needs. Reading is light on purpose (the ledger's and the SAML settings only): `ledger
verify --bundle` runs on an auditor's machine, and only `build_services` and `build_app`
import the event store, Flask and the SAML stack, when they are called.
"""

import os
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ledger.config import Settings
from saml.settings import SamlSettings

if TYPE_CHECKING:
    from flask import Flask

    from development.idp import DevelopmentIdP
    from ledger.application import LedgerApp
    from saml.sp import IdentityProvider
    from web.services import Services


@dataclass(frozen=True)
class Configuration:
    """The environment as it was read at start, and the ledger's settings from it."""

    settings: Settings
    # A copy, so that nothing reads os.environ later; it may hold a database password.
    environ: Mapping[str, str] = field(repr=False)

    def saml(self, *, require_idp: bool = True) -> SamlSettings:
        """The SAML settings, from the same reading. Only the commands that serve the portal
        or make its keys (`require_idp=False`) ask for them, so that a SAML setting stops no
        other command."""
        return SamlSettings.from_env(self.settings.data_dir, self.environ, require_idp=require_idp)


def read_configuration(environ: Mapping[str, str] | None = None) -> Configuration:
    """The one read of the environment (`os.environ` unless `environ` is given), checked:
    a setting that cannot be used raises `ConfigError` naming it."""
    copied = MappingProxyType(dict(os.environ if environ is None else environ))
    return Configuration(Settings.from_env(copied), copied)


def identity_provider(saml: SamlSettings) -> "tuple[IdentityProvider, DevelopmentIdP | None]":
    """The IdP the portal trusts: the one its metadata file describes (NemLog-in), or,
    without one (LEDGER_DEV_IDP=1, which `SamlSettings` allows only on loopback), the
    development IdP, whose pages the portal then serves too."""
    from development.idp import DevelopmentIdP
    from saml.sp import IdentityProvider, parse_metadata_file

    if saml.idp_metadata is not None:
        return parse_metadata_file(saml.idp_metadata), None
    dev_idp = DevelopmentIdP.from_settings(saml)
    return IdentityProvider.from_metadata(dev_idp.metadata()), dev_idp


def build_services(
    settings: Settings,
    saml: SamlSettings,
    idp: "IdentityProvider",
    *,
    ledger: "LedgerApp | None" = None,
) -> "Services":
    """The portal's services for this process, with database connections of their own.

    `ledger` is one the caller opened (a test that wrote to it first), else one is opened
    here; either way it is the services' own then, and `Services.close` closes it. If one
    cannot be built, those built before it are closed.
    """
    from ledger.application import LedgerApp
    from ledger.migration_board import MigrationBoard
    from ledger.search import EventIndex
    from ledger.storage.login_counters import LoginRateLimit
    from ledger.storage.notices import Outbox
    from ledger.storage.once import UsedOnce
    from saml.sp import ServiceProvider
    from web.services import Services

    settings.require_operator_cvr()  # before anything is opened, as the portal needs it
    with ExitStack() as opened:
        if ledger is None:
            ledger = LedgerApp(settings)
        opened.callback(ledger.close)
        event_index = EventIndex(ledger)
        opened.callback(event_index.close)
        used_once = UsedOnce(settings.database)
        opened.callback(used_once.close)
        service_provider = ServiceProvider(saml, idp, used_once)
        login_rate_limit = LoginRateLimit(settings.database, settings.login_rate_per_minute)
        opened.callback(login_rate_limit.close)
        outbox = Outbox(settings.database)
        opened.callback(outbox.close)
        migration_board = MigrationBoard(event_index)
        opened.pop_all()
    return Services(
        settings=settings,
        saml=saml,
        ledger=ledger,
        event_index=event_index,
        service_provider=service_provider,
        used_once=used_once,
        login_rate_limit=login_rate_limit,
        outbox=outbox,
        migration_board=migration_board,
    )


def build_app(
    settings: Settings,
    saml: SamlSettings,
    *,
    ledger: "LedgerApp | None" = None,
    config: Mapping[str, Any] | None = None,
) -> "Flask":
    """The portal: its services built, the app over them, and the development IdP's pages
    when that is its IdP. Whoever calls this closes `app.extensions["services"]` when done
    with the app (see `web.create_app`); if the app cannot be made, they are closed here."""
    from development import idp_pages
    from web import create_app

    idp, dev_idp = identity_provider(saml)
    services = build_services(settings, saml, idp, ledger=ledger)
    try:
        app = create_app(services, config=config)
    except BaseException:
        services.close()
        raise
    if dev_idp is not None:
        idp_pages.register(app, dev_idp)
    return app
