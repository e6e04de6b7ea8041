"""The Flask app: the only package that imports Flask; it wires `saml/` and `ledger/` together."""

import datetime
from collections.abc import Callable, Mapping
from inspect import CO_COROUTINE
from types import FunctionType
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask_babel import Babel
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from ledger.config import ConfigError, Settings
from saml.sp import IdentityProvider
from web import (
    api,
    audit,
    auth,
    caching,
    display,
    errors,
    migration_audit,
    migration_grants,
    migration_municipality,
    migration_staff,
    portal,
    signatory,
    staff,
    translation,
)
from web.arguments import WholeNumberConverter
from web.auth import SessionCookies, check_session, login_manager
from web.roles import is_auditor, is_signatory, is_staff
from web.services import Services
from web.uploads import size_text

csrf = CSRFProtect()
babel = Babel()
# An upload may be LEDGER_MAX_UPLOAD_BYTES; the form around it gets this much more. nginx's
# client_max_body_size (deploy/nginx/approval-ledger.conf) is the sum.
FORM_MARGIN_BYTES = 64 * 1024


def create_app(services: Services, *, config: Mapping[str, Any] | None = None) -> Flask:
    """The portal over these services; nothing happens at import time.

    It reads no environment and opens nothing: the composition root
    (`approval_ledger.bootstrap`) read the settings and built the services, and adds the
    development IdP's pages when that is the IdP. Flask has no moment at which an app
    ends, so the app does not close the services either: whoever built them closes them
    when the app is done (`ledger serve`'s workers as they exit, a test after it), with
    `services.close()`; the app keeps them as `app.extensions["services"]`.
    """
    settings, saml = services.settings, services.saml
    operator_cvr = settings.require_operator_cvr()
    app = Portal(__name__)
    app.session_interface = SessionCookies()
    app.url_map.converters["int"] = WholeNumberConverter  # strict, before any route
    secure = urlsplit(saml.base_url).scheme == "https"
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SESSION_COOKIE_NAME="__Host-session" if secure else "session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        # The browser forgets the cookie when the idle timeout has passed; the server's
        # session record decides either way (web/auth.py: check_session).
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(minutes=settings.session_idle_minutes),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + FORM_MARGIN_BYTES,
        OPERATOR_CVR=operator_cvr,
        MAX_UPLOAD_BYTES=settings.max_upload_bytes,
        APPROVAL_MAX_AUTH_AGE=datetime.timedelta(minutes=settings.approval_max_auth_age_minutes),
        BABEL_DEFAULT_LOCALE="da",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        # `_protect_forms` checks the token, then that the POST came from our own pages.
        # Flask-WTF's own HTTPS check needs a Referer, which Referrer-Policy may withhold.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_SSL_STRICT=False,
    )
    if config:
        app.config.update(config)
    app.extensions["services"] = services
    app.extensions["ledger"] = services.ledger
    app.extensions["event_index"] = services.event_index
    app.extensions["saml_sp"] = services.service_provider
    app.extensions["login_rate_limit"] = services.login_rate_limit
    login_manager.init_app(app)
    csrf.init_app(app)
    app.before_request(_protect_forms(_origin(saml.base_url), origin_required=secure))
    babel.init_app(app, locale_selector=lambda: "da")
    translation.register(app)
    errors.register(app)
    app.context_processor(_navigation)
    csrf.exempt(auth.acs)  # a cross-site POST from the IdP, bound to the browser by InResponseTo
    for blueprint in (
        portal.blueprint,
        auth.blueprint,
        signatory.blueprint,
        staff.blueprint,
        migration_staff.blueprint,
        migration_grants.blueprint,
        migration_municipality.blueprint,
        audit.blueprint,
        migration_audit.blueprint,
        api.blueprint,
    ):
        app.register_blueprint(blueprint)
    display.register(app)
    app.before_request(check_session)
    caching.register(app)
    app.after_request(_security_headers(services.service_provider.idp, development=not secure))
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n
        )
    return app


class Portal(Flask):
    """Flask, telling a plain function (each of our views and hooks) from a coroutine
    function by its code's flags at once, as `inspect.iscoroutinefunction` ends up doing
    after its checks for methods and partials; Flask asks for every view and hook it runs,
    about eight times a request. Anything else is Flask's to judge."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if type(func) is FunctionType and not func.__code__.co_flags & CO_COROUTINE:
            return func
        return super().ensure_sync(func)


def _navigation() -> dict[str, Any]:
    """Which parts of the portal the person may use, for the menu; the upload limit."""
    return {
        "shows_signatory": is_signatory(),
        "shows_staff": is_staff(),
        "shows_audit": is_auditor(),
        "upload_limit": size_text(current_app.config["MAX_UPLOAD_BYTES"]),
    }


def _security_headers(idp: IdentityProvider, *, development: bool) -> Any:
    idp_origins = " ".join(sorted({_origin(idp.sso_url), _origin(idp.slo_url)}))
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"form-action 'self' {idp_origins}; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    )

    def add(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Our own pages send our own URLs as Referer (the CSRF check's fallback when a
        # browser sends no Origin); another site learns nothing from a link.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not development:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    return add


def _protect_forms(origin: str, *, origin_required: bool) -> Callable[[], None]:
    """Before each request: a POST (except the ACS) needs its CSRF token, and must come
    from our own origin: `Origin` when the browser sends it, else the `Referer`; on https
    one of the two must be there, as every browser sends for a form on our own pages."""

    def protect() -> None:
        if not current_app.config["WTF_CSRF_ENABLED"]:
            return
        csrf.protect(apply_exemptions=True)
        if not g.get("csrf_valid"):  # not a POST, or the ACS
            return
        sent = request.headers.get("Origin")
        if sent is None:
            sent = request.headers.get("Referer")
        if sent is None:
            if origin_required:
                raise CSRFError("The request names no origin (neither Origin nor Referer).")
            return
        if _origin(sent) != origin:
            raise CSRFError("The request comes from another origin.")

    return protect


def _origin(url: str) -> str:
    """`scheme://host[:port]` as a browser writes an Origin header; "" if `url` has none."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname
    if parts.scheme not in {"http", "https"} or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def _secret_key(settings: Settings) -> bytes:
    path = settings.secret_key_file
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; run `ledger init`") from None
