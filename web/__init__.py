"""The Flask app: the only package that imports Flask; it wires `saml/` and `ledger/` together."""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from ledger.application import LedgerApp
from ledger.config import ConfigError, Settings
from web import api
from web.auth import login_manager


def create_app(
    settings: Settings | None = None,
    *,
    ledger: LedgerApp | None = None,
    config: Mapping[str, Any] | None = None,
) -> Flask:
    """An app for these settings; nothing happens at import time."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=True,
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
    )
    if config:
        app.config.update(config)
    app.extensions["ledger"] = ledger or LedgerApp(settings)
    login_manager.init_app(app)
    app.register_blueprint(api.blueprint)
    return app


def _secret_key(settings: Settings) -> bytes:
    path = settings.secret_key_file
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; run `ledger init`") from None
