"""Logging in and out through NemLog-in, and who is logged in.

A login starts at `/saml/login`, which remembers the AuthnRequest's ID in a short-lived
signed cookie of its own (the response arrives by a cross-site POST, which a SameSite=Lax
session cookie does not accompany), and ends at `/saml/acs`, which gives the browser a new
session holding the verified identity. Roles come from the ledger's role events on each
request. A login our policy refuses (its assertion verified) is recorded in the ledger as
`LoginRejected`; every other refusal is only counted, per reason and client network, and
summarized per interval (`LoginRefusalsCounted`). Both endpoints are rate limited per client
network for every process and host (`ledger.storage.login_counters`).

The session cookie is Flask's signed one, but whether it still lets anyone in is decided by
the server: it carries a random session ID whose record (`ledger.storage.sessions`, in the
database every process and host shares) every request with an identity checks, and which
logout, single logout, the idle timeout, the absolute lifetime and a revoked role end.
"""

import datetime
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as AnyResponse

from ledger.application import LedgerApp
from ledger.domain import Customer, RoleAssignment
from ledger.migration_board import MigrationBoard
from ledger.search import EventIndex
from ledger.storage.login_counters import LoginRateLimit, client_network
from ledger.storage.sessions import LOGOUT, NEW_LOGIN, SINGLE_LOGOUT
from saml.policy import Identity
from saml.refusals import LoginRefused, Refusal
from saml.sp import ServiceProvider
from web.notices import remember_address

login_manager = LoginManager()
blueprint = Blueprint("auth", __name__, url_prefix="/saml")

PENDING_COOKIE = "saml_pending"
PENDING_MAX_AGE = 15 * 60  # seconds a person has at NemLog-in before the request expires
PENDING_LIMIT = 5  # logins started in other tabs that are still honoured
REFUSED_COOKIE = "saml_refused"
REFUSALS = {refusal.value: refusal for refusal in Refusal}


@dataclass(frozen=True)
class PortalUser(UserMixin):
    """The person logged in, loaded on each request from the session's identity.

    Their roles come from the ledger's role events, and the customer they are logged in
    for from its events, read together when the request first asks about either (a menu,
    a staff, auditor or signatory page), so a grant or a revocation counts from the next
    request on; a request that asks about neither, such as Godkend answering with its
    redirect, does not read them.
    """

    person_uuid: str
    name: str
    cvr: str
    organisation: str
    loa: str
    authn_instant: str = ""
    roles_and_customer: Callable[[], tuple[Sequence[RoleAssignment], Customer | None]] = field(
        default=lambda: ((), None), repr=False, compare=False
    )

    @cached_property
    def _read(self) -> tuple[tuple[RoleAssignment, ...], Customer | None]:
        assignments, customer = self.roles_and_customer()
        return tuple(assignments), customer

    @property
    def assignments(self) -> tuple[RoleAssignment, ...]:
        """The person's active role assignments."""
        return self._read[0]

    @property
    def customer(self) -> Customer | None:
        """The registered customer the person is logged in for, or None."""
        return self._read[1]

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(a.role for a in self.assignments)

    @property
    def auditor_cvrs(self) -> tuple[str, ...]:
        return next((tuple(a.cvrs) for a in self.assignments if a.role == "auditor"), ())

    def get_id(self) -> str:
        return self.person_uuid

    @property
    def is_auditor(self) -> bool:
        return "auditor" in self.roles

    def may_read_cvr(self, cvr: str | None) -> bool:
        """Auditors read what is in their scope; a signatory reads its own CVR's events."""
        if self.is_auditor and (not self.auditor_cvrs or cvr in self.auditor_cvrs):
            return True
        return cvr is not None and cvr == self.cvr


def ledger() -> LedgerApp:
    return current_app.extensions["ledger"]


def event_index() -> EventIndex:
    return current_app.extensions["event_index"]


def migration_board() -> MigrationBoard:
    """The migration's projection (`Services.migration_board`), this process's own."""
    board: MigrationBoard = current_app.extensions["services"].migration_board
    return board


def service_provider() -> ServiceProvider:
    return current_app.extensions["saml_sp"]


@login_manager.user_loader
def load_user(user_id: str) -> PortalUser | None:
    identity = session.get("identity")
    if not isinstance(identity, dict) or identity.get("person_uuid") != user_id:
        return None
    app = ledger()
    return PortalUser(
        person_uuid=user_id,
        name=identity.get("name", ""),
        cvr=identity.get("cvr", ""),
        organisation=identity.get("organisation", ""),
        loa=identity.get("loa", ""),
        authn_instant=identity.get("authn_instant", ""),
        roles_and_customer=lambda: app.roles_and_customer(user_id, identity.get("cvr", "")),
    )


@login_manager.unauthorized_handler
def unauthorized() -> Any:
    if request.path.startswith("/api/"):
        return jsonify(error="Du skal være logget ind."), 401
    return redirect(url_for("auth.login", next=_back_after_login()))


def _back_after_login() -> str:
    """Where a person sent to log in comes back to: the page asked for; for a form sent
    after the session ended, the page the form was on (a form is never sent again). Only
    a path of ours is followed (`login` checks), and a POST came from our own origin."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if not referrer.path:
        return "/"
    return referrer.path + (f"?{referrer.query}" if referrer.query else "")


# Sessions


class _PlainValuesFirst(TaggedJSONSerializer):
    """Flask's session serializer, with the values its tags leave as they are (text,
    numbers, plain objects and lists: nearly all of a session) passed without asking each
    of its eight tags in turn; any other value is tagged by Flask's own rules. The same
    JSON either way, so the same cookie (tests/web/test_sessions.py holds it to Flask's)."""

    def tag(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is dict and (len(value) != 1 or next(iter(value)) not in self.tags):
            return {key: self.tag(item) for key, item in value.items()}
        if kind is list:
            return [self.tag(item) for item in value]
        return super().tag(value)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, made and read exactly as Flask does, with the
    serializer above and one signing serializer per secret key instead of a new one for
    every cookie read and every cookie written."""

    serializer = _PlainValuesFirst()

    def __init__(self) -> None:
        self._signing: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        signing = self._signing
        if signing is None or signing[0] != keys:
            signing = self._signing = (keys, super().get_signing_serializer(app))
        return signing[1]


def check_session() -> None:
    """Before each request with an identity: its session must be live in the server's
    record (not ended, used within the idle timeout, younger than the lifetime), whatever
    the browser keeps; else the browser's session is emptied and the person is logged out."""
    if request.endpoint == "static" or "identity" not in session:
        return
    identity = session["identity"]
    person_uuid = identity.get("person_uuid") if isinstance(identity, dict) else None
    if ledger().sessions.check(session.get("sid"), person_uuid) is not None:
        session.clear()


# Logging in


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site, else the start page: no open redirects."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 for ch in target)
    ):
        return "/"
    return target


class PendingLogins:
    """The AuthnRequests this browser has sent and not used: ID -> where to go after."""

    def __init__(self) -> None:
        self._serializer = URLSafeTimedSerializer(
            current_app.config["SECRET_KEY"], salt="saml-pending"
        )

    def read(self) -> dict[str, str]:
        value = request.cookies.get(PENDING_COOKIE)
        if not value:
            return {}
        try:
            pending = self._serializer.loads(value, max_age=PENDING_MAX_AGE)
        except BadSignature:
            return {}
        return pending if isinstance(pending, dict) else {}

    def write(self, response: AnyResponse, pending: dict[str, str]) -> None:
        if not pending:
            response.delete_cookie(PENDING_COOKIE, path="/saml/")
            return
        _set_saml_cookie(response, PENDING_COOKIE, self._serializer.dumps(pending))


@blueprint.get("/metadata")
def metadata() -> Response:
    return Response(service_provider().metadata(), mimetype="application/samlmetadata+xml")


def login_rate_limit() -> LoginRateLimit:
    return current_app.extensions["login_rate_limit"]


@blueprint.before_request
def limit_login_rate() -> tuple[str, int, dict[str, str]] | None:
    """Before /saml/login and /saml/acs: a client network that has used up its requests this
    minute gets 429 and a Danish page; nothing is recorded but the counter."""
    if request.endpoint not in {"auth.login", "auth.acs"}:
        return None
    wait = login_rate_limit().admit(client_network(request.remote_addr))
    if wait is None:
        return None
    return _too_many_logins_page(), 429, {"Retry-After": str(wait)}


def _too_many_logins_page() -> str:
    """The 429 page, rendered once for visitors without a session: a flood from one network
    is answered at the cost of a read."""
    if "identity" in session:
        return render_template("too_many_logins.html")
    page = current_app.extensions.get("too_many_logins_page")
    if page is None:
        page = current_app.extensions["too_many_logins_page"] = render_template(
            "too_many_logins.html"
        )
    return page


@blueprint.get("/login")
def login() -> AnyResponse:
    """Send the browser to NemLog-in; `fresh=1` asks for a new authentication (ForceAuthn)."""
    target = local_path(request.args.get("next"))
    outgoing = service_provider().login_request(force_authn=request.args.get("fresh") == "1")
    pending_logins = PendingLogins()
    pending = pending_logins.read()
    pending[outgoing.request_id] = target
    pending = dict(list(pending.items())[-PENDING_LIMIT:])
    response = redirect(outgoing.url)
    pending_logins.write(response, pending)
    return response


@blueprint.post("/acs")
def acs() -> AnyResponse | tuple[str, int]:
    """The POSTed SAMLResponse: a new session for a verified identity, or a Danish refusal."""
    posted = request.form.get("SAMLResponse", "")
    told = RefusalsTold()
    if (again := told.of(posted)) is not None:
        return again
    pending_logins = PendingLogins()
    pending = pending_logins.read()
    try:
        identity = service_provider().accept(posted, pending=pending.keys())
    except LoginRefused as refused:
        # The time shown is the one support looks the refusal up by (/drift/afviste-login).
        refused_at = datetime.datetime.now(datetime.UTC)
        page = make_response(_refuse(refused, refused_at))
        if refused.is_policy:
            told.remember(page, posted, refused, refused_at)
        return page
    target = pending.pop(identity.in_response_to, "/")
    _start_session(identity)
    response = redirect(target)
    pending_logins.write(response, pending)
    return response


def _start_session(identity: Identity) -> None:
    """A new session for this identity: nothing from before the login survives."""
    # Kept as evidence of the login, erased with the person or when no approval names it.
    sha256 = ledger().personal_data.keep_login_assertion(
        ledger().documents,
        identity.assertion_xml,
        person_uuid=identity.person_uuid,
        assertion_id=identity.assertion_id,
    )
    ledger().sessions.end(session.get("sid"), NEW_LOGIN)
    session.clear()
    session["sid"] = ledger().sessions.start(identity.person_uuid)
    session["identity"] = {
        "person_uuid": identity.person_uuid,
        "name": identity.name,
        "cvr": identity.cvr,
        "organisation": identity.organisation,
        "loa": identity.loa.label,
        "authn_instant": identity.authn_instant,
        "assertion_id": identity.assertion_id,
        "assertion_sha256": sha256,
        "name_id": identity.name_id,
        "session_index": identity.session_index,
        "idp": identity.idp,
        # NemLog-in's authorizedToRepresent (CVRs): part of the basis an approval records.
        "authorized_to_represent": list(identity.authorized_to_represent),
        "privileges": list(identity.privileges),
    }
    session.permanent = True
    login_user(load_user(identity.person_uuid), fresh=True)
    remember_address(identity)  # for the e-mail notices, while e-mail is on


class RefusalsTold:
    """The verified login our policy last refused in this browser, by a hash of its SAML
    response, in a signed cookie beside the pending logins' (it too must come with the IdP's
    cross-site POST). The same response posted again, by a reload or by going back, is
    answered with the same page, its words and its time, and nothing more is recorded or
    counted: it would otherwise be refused anew as a replay, with words that no longer help.
    A response that did not verify is refused and counted each time it comes."""

    def __init__(self) -> None:
        self._serializer = URLSafeTimedSerializer(
            current_app.config["SECRET_KEY"], salt="saml-refused"
        )

    def of(self, posted: str) -> tuple[str, int] | None:
        """The page told before for this very response, if it was refused in this browser."""
        try:
            told = self._serializer.loads(
                request.cookies.get(REFUSED_COOKIE, ""), max_age=PENDING_MAX_AGE
            )
            if told["response"] != _fingerprint(posted):
                return None
            refused = LoginRefused(REFUSALS[told["reason"]])
            refused_at = datetime.datetime.fromisoformat(told["at"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        return _refusal_page(refused, refused_at)

    def remember(
        self,
        response: AnyResponse,
        posted: str,
        refused: LoginRefused,
        refused_at: datetime.datetime,
    ) -> None:
        told = {
            "response": _fingerprint(posted),
            "reason": refused.reason.value,
            "at": refused_at.isoformat(),
        }
        _set_saml_cookie(response, REFUSED_COOKIE, self._serializer.dumps(told))


def _set_saml_cookie(response: AnyResponse, name: str, value: str) -> None:
    """A short-lived cookie for the login's own paths (/saml/), which the IdP's cross-site
    POST must carry: only a Secure cookie may be SameSite=None, so plain HTTP gets Lax."""
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    response.set_cookie(
        name,
        value,
        max_age=PENDING_MAX_AGE,
        path="/saml/",
        httponly=True,
        secure=secure,
        samesite="None" if secure else "Lax",
    )


def _fingerprint(posted: str) -> str:
    return hashlib.sha256(posted.encode()).hexdigest()


def _refuse(refused: LoginRefused, refused_at: datetime.datetime) -> tuple[str, int]:
    """Our policy's refusal of a verified identity is recorded by itself; any other refusal
    (nothing in it verified) is counted for its reason and the client's network."""
    if refused.is_policy:
        ledger().record_login_rejected(
            reason=refused.reason,
            idp=service_provider().idp.entity_id,
            assertion_id=refused.assertion_id,
            person_uuid=refused.person_uuid,
            cvr=refused.cvr,
        )
    else:
        ledger().count_login_refusal(
            reason=refused.reason, network=client_network(request.remote_addr)
        )
    # A refusal for a failure inside the SAML libraries names the failure's type (a class
    # name, nothing the client sent and nothing personal), so that an operator can tell a
    # broken response from a fault of ours.
    failure = refused.__cause__
    if failure is None:
        current_app.logger.warning("login refused: %s", refused.reason)
    else:
        current_app.logger.warning("login refused: %s (%s)", refused.reason, type(failure).__name__)
    return _refusal_page(refused, refused_at)


def _refusal_page(refused: LoginRefused, refused_at: datetime.datetime) -> tuple[str, int]:
    status = 403 if refused.is_policy else 400
    return render_template("login_refused.html", refused=refused, refused_at=refused_at), status


def authenticated_within(limit: datetime.timedelta) -> bool:
    """Whether the current person's NemLog-in authentication is younger than `limit`."""
    identity = session.get("identity") or {}
    try:
        instant = datetime.datetime.fromisoformat(identity.get("authn_instant", ""))
    except ValueError:
        return False
    return datetime.datetime.now(datetime.UTC) - instant < limit


# Logging out


@blueprint.post("/logout")
def logout() -> AnyResponse:
    """End our session, then NemLog-in's, with a signed LogoutRequest."""
    identity = session.get("identity") or {}
    name_id = identity.get("name_id")
    ledger().sessions.end(session.get("sid"), LOGOUT)
    logout_user()
    session.clear()
    if not name_id:
        return redirect(url_for("portal.index"))
    outgoing = service_provider().logout_request(
        name_id=name_id, session_index=identity.get("session_index")
    )
    session["logout_request"] = outgoing.request_id
    return redirect(outgoing.url)


@blueprint.get("/slo")
def single_logout() -> AnyResponse | str | tuple[str, int]:
    """NemLog-in's signed answer to our LogoutRequest, or its own LogoutRequest."""
    if "SAMLResponse" not in request.args and "SAMLRequest" not in request.args:
        abort(400)
    pending = session.pop("logout_request", None)
    try:
        result = service_provider().single_logout(
            request.args.to_dict(),
            request.query_string.decode("ascii", "replace"),
            pending=pending,
        )
    except LoginRefused as refused:
        current_app.logger.warning("single logout refused: %s", refused.detail)
        return render_template("logged_out.html", failed=True), 400
    ledger().sessions.end(session.get("sid"), SINGLE_LOGOUT)
    logout_user()
    session.clear()
    if result.redirect_url:
        return redirect(result.redirect_url)
    return render_template("logged_out.html", failed=False)
