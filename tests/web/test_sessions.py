"""Sessions that end on the server, with Flask's test client, on SQLite and PostgreSQL.

A cookie copied before the session ended is replayed from a second client, as a thief
would: after logout, single logout, a new login, the idle timeout, the absolute lifetime or
a revoked role it lets no one in. Time passes by writing the stored times in the database.
"""

import hashlib
import re
from urllib.parse import urlsplit

import pytest

from approval_ledger import cli
from development.demo import AGREEMENT_TITLE, PERSONS_BY_KEY, seed
from ledger.application import LedgerApp
from ledger.config import ConfigError, Settings
from ledger.storage.sessions import TABLE
from tests.web.test_login import log_in

AUDITOR = PERSONS_BY_KEY["auditor"]
STAFF = PERSONS_BY_KEY["staff"]
KOEBENHAVN = "64942212"


@pytest.fixture
def flask_app(app, make_portal):
    """The demo's history (Københavns Kommune has not approved yet) behind a portal."""
    seed(app)
    return make_portal(app)


@pytest.fixture
def portal(flask_app):
    return flask_app.test_client()


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def browser_with(flask_app, cookie: str):
    """Another browser holding a copy of the session cookie."""
    thief = flask_app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def csrf_token(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def agreement_page(app) -> str:
    version = next(a for a in app.agreement_versions() if a.title == AGREEMENT_TITLE)
    return f"/aftaler/{version.id}"


def approvals(app, cvr: str) -> list:
    return [e for e in app.history(cvr=cvr) if e.event_type == "Approved"]


def stored_sessions(settings: Settings) -> list[dict]:
    """The session table as it is in the database, oldest first."""
    connection = settings.database.connect(writable=True)
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT * FROM {TABLE} ORDER BY created_at, person_uuid")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()


def move_back(settings: Settings, column: str, seconds: int) -> None:
    """Let time pass for every stored session: `column` is `seconds` earlier."""
    connection = settings.database.connect(writable=True)
    try:
        connection.execute(f"UPDATE {TABLE} SET {column} = {column} - {int(seconds)}")
    finally:
        connection.close()


def sent_to_login(answer) -> bool:
    return answer.status_code == 302 and answer.headers["Location"].startswith("/saml/login")


def log_out(client) -> None:
    """Log out as the browser would: Log ud, NemLog-in's answer, back at /saml/slo."""
    to_idp = client.post("/saml/logout", data={"csrf_token": csrf_token(client, "/")})
    assert urlsplit(to_idp.headers["Location"]).path == "/dev-idp/slo"
    back = client.get(f"/dev-idp/slo?{urlsplit(to_idp.headers['Location']).query}")
    done = client.get(f"/saml/slo?{urlsplit(back.headers['Location']).query}")
    assert "Du er logget ud" in done.text


def test_a_cookie_copied_before_logout_cannot_approve_after_it(flask_app, portal, app):
    log_in(portal, "koebenhavn")
    page = agreement_page(app)
    token = csrf_token(portal, page)
    copied = cookie_of(portal)
    log_out(portal)

    thief = browser_with(flask_app, copied)
    refused = thief.post(f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": token})
    assert sent_to_login(refused)
    assert refused.headers["Location"] == "/saml/login?next=/"  # no page named: the start
    from_the_page = browser_with(flask_app, copied).post(
        f"{page}/godkend",
        data={"bekraeft": "ja", "csrf_token": token},
        headers={"Referer": f"http://127.0.0.1:5000{page}"},  # the portal's own origin
    )
    assert from_the_page.headers["Location"] == f"/saml/login?next={page}"  # not the POST's
    assert approvals(app, KOEBENHAVN) == []
    assert sent_to_login(browser_with(flask_app, copied).get("/aftaler"))
    [stored] = stored_sessions(app.settings)
    assert stored["person_uuid"] == PERSONS_BY_KEY["koebenhavn"].person_uuid
    assert stored["ended_because"] == "logout"
    assert stored["ended_at"] >= stored["created_at"]


def test_the_same_cookie_approves_while_the_session_is_live(flask_app, portal, app):
    log_in(portal, "koebenhavn")
    page = agreement_page(app)
    token = csrf_token(portal, page)
    other_tab = browser_with(flask_app, cookie_of(portal))
    done = other_tab.post(f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": token})
    assert done.status_code == 302
    assert done.headers["Location"].startswith("/kvitteringer/")
    assert len(approvals(app, KOEBENHAVN)) == 1


def test_a_logout_started_at_nemlogin_ends_the_session_a_copied_cookie_names(
    flask_app, portal, app
):
    log_in(portal, "aarhus")
    copied = cookie_of(portal)
    with portal.session_transaction() as session:
        identity = session["identity"]
    idp = flask_app.extensions["dev_idp"]
    incoming = urlsplit(idp.logout_request_url(identity["name_id"], identity["session_index"]))
    assert portal.get(f"/saml/slo?{incoming.query}").status_code == 302
    assert sent_to_login(browser_with(flask_app, copied).get("/historik"))
    assert [s["ended_because"] for s in stored_sessions(app.settings)] == ["single-logout"]


def test_a_forged_logout_ends_nothing(flask_app, portal, app):
    log_in(portal, "aarhus")
    assert portal.get("/saml/slo?SAMLResponse=AAAA&SigAlg=x&Signature=AAAA").status_code == 400
    assert portal.get("/historik").status_code == 200
    assert [s["ended_at"] for s in stored_sessions(app.settings)] == [None]


def test_a_new_login_in_the_same_browser_ends_the_session_before_it(flask_app, portal, app):
    log_in(portal, "aarhus")
    copied = cookie_of(portal)
    log_in(portal, "odense")
    assert sent_to_login(browser_with(flask_app, copied).get("/historik"))
    assert "Clara Christensen" in portal.get("/").text
    assert [s["ended_because"] for s in stored_sessions(app.settings)] == ["new-login", None]


def test_the_database_keeps_only_a_hash_of_the_session_id(portal, app):
    log_in(portal, "aarhus")
    with portal.session_transaction() as session:
        session_id = session["sid"]
    [stored] = stored_sessions(app.settings)
    assert stored["session_hash"] == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in map(str, stored.values())


def test_the_idle_timeout_is_kept_by_the_server_against_a_replayed_cookie(flask_app, portal, app):
    log_in(portal, "aarhus")
    copied = cookie_of(portal)
    idle = 30 * 60
    move_back(app.settings, "last_seen_at", idle - 120)
    assert portal.get("/historik").status_code == 200  # in use: stays, and is marked used
    [stored] = stored_sessions(app.settings)
    assert stored["last_seen_at"] >= stored["created_at"]
    move_back(app.settings, "last_seen_at", idle + 1)
    proof = browser_with(flask_app, copied).get("/api/v1/proof/consistency?from=1&to=2")
    assert (proof.status_code, proof.get_json()) == (401, {"error": "Du skal være logget ind."})
    assert sent_to_login(browser_with(flask_app, copied).get("/historik"))
    assert sent_to_login(portal.get("/historik"))
    assert [s["ended_because"] for s in stored_sessions(app.settings)] == ["idle"]


def test_a_session_left_right_after_login_ends_after_the_idle_timeout(flask_app, portal, app):
    log_in(portal, "aarhus")
    copied = cookie_of(portal)
    move_back(app.settings, "last_seen_at", 30 * 60 + 1)
    move_back(app.settings, "created_at", 30 * 60 + 1)
    assert sent_to_login(browser_with(flask_app, copied).get("/historik"))


def test_the_absolute_lifetime_ends_a_session_in_use(flask_app, portal, app):
    log_in(portal, "aarhus")
    copied = cookie_of(portal)
    move_back(app.settings, "created_at", 8 * 3600 - 60)
    assert portal.get("/historik").status_code == 200  # used all day, under 8 hours
    move_back(app.settings, "created_at", 61)
    assert sent_to_login(browser_with(flask_app, copied).get("/historik"))
    assert sent_to_login(portal.get("/historik"))
    assert [s["ended_because"] for s in stored_sessions(app.settings)] == ["lifetime"]


def test_staff_revoking_a_role_ends_every_session_of_that_person(flask_app, portal, app):
    auditor_at_work = flask_app.test_client()
    log_in(auditor_at_work, "auditor")
    auditor_at_home = flask_app.test_client()
    log_in(auditor_at_home, "auditor")
    assert auditor_at_work.get("/revision/").status_code == 200
    signatory = flask_app.test_client()
    log_in(signatory, "aarhus")

    log_in(portal, "staff")
    revoked = portal.post(
        "/drift/roller/fratag",
        data={
            "csrf_token": csrf_token(portal, "/drift/roller"),
            "person_uuid": AUDITOR.person_uuid,
            "role": "auditor",
            "reason": "Revisionen er afsluttet.",
        },
    )
    assert revoked.status_code == 302
    assert sent_to_login(auditor_at_work.get("/revision/"))
    assert sent_to_login(auditor_at_home.get("/revision/eksport.csv"))
    assert portal.get("/drift/roller").status_code == 200  # the staff member's own stays
    assert signatory.get("/historik").status_code == 200  # and everyone else's
    ended = {s["person_uuid"]: s["ended_because"] for s in stored_sessions(app.settings)}
    assert ended == {
        AUDITOR.person_uuid: "role-revoked",
        PERSONS_BY_KEY["aarhus"].person_uuid: None,
        STAFF.person_uuid: None,
    }
    # Logged in again, the person has the roles that are left: none.
    log_in(auditor_at_work, "auditor")
    assert auditor_at_work.get("/revision/").status_code == 403


def test_the_cli_revoking_a_staff_role_ends_that_persons_session(
    flask_app, portal, app, monkeypatch, capsys
):
    log_in(portal, "staff")
    copied = cookie_of(portal)
    assert portal.get("/drift/").status_code == 200
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    assert cli.main(["role", "revoke", "--person", STAFF.person_uuid, "--role", "staff"]) == 0
    assert "revoked staff" in capsys.readouterr().out
    assert sent_to_login(portal.get("/drift/"))
    assert sent_to_login(browser_with(flask_app, copied).get("/drift/"))
    assert [s["ended_because"] for s in stored_sessions(app.settings)] == ["role-revoked"]


def test_a_shorter_idle_timeout_is_a_setting(app, make_portal, tmp_path):
    seed(app)
    settings = Settings.from_env(
        {
            "LEDGER_DATA_DIR": str(app.settings.data_dir),
            "LEDGER_DATABASE_URL": app.settings.database.url,
            "LEDGER_ORIGIN": app.settings.origin,
            "LEDGER_OPERATOR_CVR": app.settings.operator_cvr,
            "LEDGER_SESSION_IDLE_MINUTES": "5",
            "LEDGER_SESSION_MAX_HOURS": "1",
        }
    )
    assert (settings.session_idle_minutes, settings.session_max_hours) == (5, 1)
    ledger = LedgerApp(settings)
    try:
        flask_app = make_portal(ledger)
        assert flask_app.permanent_session_lifetime.total_seconds() == 5 * 60
        client = flask_app.test_client()
        log_in(client, "aarhus")
        move_back(settings, "last_seen_at", 5 * 60 - 30)
        assert client.get("/historik").status_code == 200
        move_back(settings, "last_seen_at", 5 * 60 + 1)
        assert sent_to_login(client.get("/historik"))
        log_in(client, "aarhus")
        move_back(settings, "created_at", 3600 + 1)
        assert sent_to_login(client.get("/historik"))
        ended = [s["ended_because"] for s in stored_sessions(settings)]
        assert ended == ["idle", "lifetime"]
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"LEDGER_SESSION_IDLE_MINUTES": "0"}, "LEDGER_SESSION_IDLE_MINUTES"),
        ({"LEDGER_SESSION_IDLE_MINUTES": "30 min"}, "LEDGER_SESSION_IDLE_MINUTES"),
        ({"LEDGER_SESSION_MAX_HOURS": "25"}, "LEDGER_SESSION_MAX_HOURS"),
        ({"LEDGER_SESSION_MAX_HOURS": "-1"}, "LEDGER_SESSION_MAX_HOURS"),
        (
            {"LEDGER_SESSION_IDLE_MINUTES": "90", "LEDGER_SESSION_MAX_HOURS": "1"},
            "LEDGER_SESSION_MAX_HOURS",
        ),
    ],
)
def test_session_limits_out_of_range_stop_the_start_naming_the_variable(tmp_path, variables, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({"LEDGER_DATA_DIR": str(tmp_path), **variables})


def test_the_defaults_are_30_minutes_idle_and_8_hours_at_most(tmp_path):
    settings = Settings.from_env({"LEDGER_DATA_DIR": str(tmp_path)})
    assert (settings.session_idle_minutes, settings.session_max_hours) == (30, 8)


# What browsers and proxies may keep


def test_pages_receipts_exports_and_documents_of_a_logged_in_person_are_not_stored(
    flask_app, portal, app
):
    log_in(portal, "aarhus")
    [approved] = approvals(app, "55133018")
    answers = {
        "page": portal.get("/aftaler"),
        "receipt": portal.get(f"/kvitteringer/{approved.seq}"),
        "receipt-json": portal.get(f"/kvitteringer/{approved.seq}.json"),
        "document": portal.get(f"{agreement_page(app)}/dokument"),
        "history": portal.get("/historik"),
        "start": portal.get("/"),
        "not-found": portal.get("/kvitteringer/999999"),
        "redirect": portal.post("/saml/logout", data={"csrf_token": csrf_token(portal, "/")}),
    }
    auditor = flask_app.test_client()
    log_in(auditor, "auditor")
    answers |= {
        "search": auditor.get("/revision/"),
        "export-csv": auditor.get("/revision/eksport.csv"),
        "export-zip": auditor.get("/revision/eksport.zip"),
        "checkpoint-with-cookie": auditor.get("/api/v1/checkpoint"),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "page": 200,
        "receipt": 200,
        "receipt-json": 200,
        "document": 200,
        "history": 200,
        "start": 200,
        "not-found": 404,
        "redirect": 302,
        "search": 200,
        "export-csv": 200,
        "export-zip": 200,
        "checkpoint-with-cookie": 200,
    }
    kept = {name: answer.headers.get("Cache-Control") for name, answer in answers.items()}
    assert kept == dict.fromkeys(answers, "no-store")


def test_login_pages_and_refusals_are_not_stored(portal):
    assert portal.get("/saml/login").headers["Cache-Control"] == "no-store"
    refused = portal.post("/saml/acs", data={"SAMLResponse": "not base64!"})
    assert refused.status_code == 400
    assert refused.headers["Cache-Control"] == "no-store"


def test_public_assets_and_checkpoints_may_be_cached(flask_app, app):
    anonymous = flask_app.test_client()
    app.signed_log.checkpoint()
    answers = {
        "style": anonymous.get("/static/style.css"),
        "checkpoint": anonymous.get("/api/v1/checkpoint"),
        "keys": anonymous.get("/api/v1/keys"),
    }
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 200)
    for answer in answers.values():
        assert "no-store" not in answer.headers.get("Cache-Control", "")
        assert "Set-Cookie" not in answer.headers


def test_a_logout_on_one_host_ends_the_session_on_every_other(flask_app, portal, app, make_portal):
    """Two portals on one database, as two hosts behind a load balancer: each its own
    ledger, connections and process state; only the database and the secret key shared."""
    other_ledger = LedgerApp(app.settings)
    try:
        other_host = make_portal(other_ledger)
        log_in(portal, "aarhus")
        copied = cookie_of(portal)
        assert browser_with(other_host, copied).get("/historik").status_code == 200
        log_out(portal)
        assert sent_to_login(browser_with(other_host, copied).get("/historik"))
    finally:
        other_ledger.close()


def test_staff_revoking_their_own_auditor_role_are_sent_to_log_in_again(portal, app, operator):
    app.grant_role(
        person_uuid=STAFF.person_uuid,
        person_name=STAFF.name,
        role="auditor",
        cvrs=[],
        actor=operator,
    )
    log_in(portal, "staff")
    assert portal.get("/revision/").status_code == 200
    revoked = portal.post(
        "/drift/roller/fratag",
        data={
            "csrf_token": csrf_token(portal, "/drift/roller"),
            "person_uuid": STAFF.person_uuid,
            "role": "auditor",
            "reason": "Revisionen er afsluttet.",
        },
    )
    assert revoked.status_code == 302
    assert sent_to_login(portal.get("/drift/roller"))
    log_in(portal, "staff")
    assert portal.get("/drift/roller").status_code == 200
    assert portal.get("/revision/").status_code == 403
