"""`ledger serve`: the portal under gunicorn.

The environment was read once, before (`approval_ledger.bootstrap`). The app is built once
in the master process so that a configuration error (a missing key, an expired IdP
certificate, the development IdP on a public address) stops the start with a clear
message; each worker then builds its own app from the same settings, with its own
database connections, and closes them as it exits.
"""

import ipaddress
import sys
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from approval_ledger.bootstrap import Configuration, build_app
from development.demo import PERSONS
from ledger.config import ConfigError, Settings


class Gunicorn(BaseApplication):
    """gunicorn running the WSGI app that `load` builds, once in each worker."""

    def __init__(self, load: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load = load
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load()


# Threads per worker process. A client that sends half a request holds one thread until it
# finishes or goes (nginx in front buffers whole requests, so there none reach gunicorn);
# fewer than the library's 15 pooled database connections, so no thread waits for one.
THREADS = 12

# The longest request line and header line gunicorn takes (its maximum). nginx in front
# refuses anything longer than its own `large_client_header_buffers` (4k, deploy/nginx) with
# a Danish page first, and its request lines to the portal are no longer than the client's
# plus a few bytes (HTTP/2's pseudo-headers made into one), so none reaches this limit and
# gunicorn's English "Request Line is too large".
REQUEST_LINE_LIMIT = 8190
HEADER_LINE_LIMIT = 8190

# The Unix socket is rw for the service's user and group (0660): deploy/ puts nginx's
# www-data in the group; anyone else on the host, who could pose as the trusted proxy,
# cannot connect.
SOCKET_UMASK = 0o117


def gunicorn_options(*, bind: str, workers: int) -> dict[str, Any]:
    """The options `ledger serve` runs with (the benchmark's baseline server uses them too)."""
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": THREADS,
        "timeout": 30,  # a worker whose main loop stops for this long is restarted
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": REQUEST_LINE_LIMIT,
        "limit_request_field_size": HEADER_LINE_LIMIT,
        "umask": SOCKET_UMASK,
        "accesslog": "-",
        # The access log holds no query strings: SAMLRequest and next= stay out of it.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
        # Forwarded headers count only through ProxyFix, as LEDGER_TRUSTED_PROXIES says
        # (web/create_app); gunicorn itself trusts them from no one, not even a Unix socket.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "forwarder_headers": "",
        # gunicorn's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl) that
        # a second instance on the host would take over; the portal needs none.
        "control_socket_disable": True,
    }


def is_loopback(bind: str) -> bool:
    """Whether gunicorn's `bind` ("HOST:PORT", "[V6]:PORT", "HOST") is a loopback address,
    which only this host reaches. A host name other than localhost is not known to be."""
    host = bind.rsplit("]", 1)[0].lstrip("[") if bind.startswith("[") else bind.split(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_checkpointer(worker: Any) -> None:
    """gunicorn's `post_worker_init` hook, in the worker process once its app is built: the
    worker's checkpointer starts, over the worker's own ledger (why one in every worker and
    none in the master: `ledger.checkpointer`), and so does its e-mail notice sender when
    e-mail is on (`approval_ledger.mailer`), and the daily run of the retention rules
    (`ledger.erasure.RetentionJob`, one process a day)."""
    from approval_ledger.mailer import start_notice_sender
    from ledger.checkpointer import Checkpointer
    from ledger.erasure import RetentionJob

    services = worker.wsgi.extensions["services"]
    worker.checkpointer = Checkpointer.for_log(
        services.signed_log, services.settings.checkpoint_interval
    ).start()
    worker.notice_sender = start_notice_sender(services)
    worker.retention = RetentionJob(services.ledger).start()


def close_services(server: Any, worker: Any) -> None:
    """gunicorn's `worker_exit` hook, in the worker process: the worker stops its
    checkpointer (after the checkpoint it is making, if any), then closes the services its
    app was given. (gunicorn calls it in the master too, for a worker that had gone, whose
    app was never loaded there.)"""
    checkpointer = getattr(worker, "checkpointer", None)
    if checkpointer is not None:
        checkpointer.stop()
    notice_sender = getattr(worker, "notice_sender", None)
    if notice_sender is not None:
        notice_sender.stop()
    retention = getattr(worker, "retention", None)
    if retention is not None:
        retention.stop()
    app = getattr(worker, "wsgi", None)
    if app is not None:
        app.extensions["services"].close()


def mail_summary(settings: Settings) -> str:
    """What `ledger serve` says at start about the e-mail notices."""
    smtp = settings.smtp
    if smtp is None:
        return "off (no LEDGER_SMTP_URL): no notices are sent"
    staff = len(settings.staff_emails)
    return (
        f"notices from {smtp.sender} through {smtp.host}:{smtp.port} ({smtp.security}); "
        f"{staff} staff address{'es' if staff != 1 else ''}"
    )


def serve(configuration: Configuration, *, bind: str, workers: int) -> int:
    """Check the address and the configuration, then serve until stopped. The SAML settings
    are read here, after the address checks, from the configuration read at start; the
    workers are built from the same settings and read no environment."""
    settings = configuration.settings
    if bind.startswith("unix:") and not settings.trusted_proxies:
        raise ConfigError(
            "LEDGER_TRUSTED_PROXIES must be the number of proxies in front of the portal (1 for "
            "the nginx of deploy/): only a proxy reaches a Unix socket, and without trusting it "
            "no approval would record the client's address"
        )
    if settings.trusted_proxies and not bind.startswith("unix:") and not is_loopback(bind):
        raise ConfigError(
            f"LEDGER_TRUSTED_PROXIES={settings.trusted_proxies} with --bind {bind}: anyone who "
            "reaches that address would be trusted as the proxy and could choose the client "
            "address an approval records; the proxy must reach the portal on a Unix socket or "
            "a loopback address (a proxy on another host is not supported)"
        )
    saml = configuration.saml()
    build_app(settings, saml).extensions["services"].close()
    print(f"portal:         {saml.base_url}/ (listening on {bind})")
    print(f"e-mail:         {mail_summary(settings)}")
    if saml.dev_idp:
        print("development IdP: log in as one of these personas (not NemLog-in):")
        for person in PERSONS:
            print(f"  {person.key:<13} {person.name}: {person.description}")
    sys.stdout.flush()
    options = gunicorn_options(bind=bind, workers=workers) | {
        "post_worker_init": start_checkpointer,
        "worker_exit": close_services,
    }
    Gunicorn(lambda: build_app(settings, saml), options).run()
    return 0
