"""The database goes away and comes back: PostgreSQL ends the portal's connections, a write's
commit answer is lost on the way, the server does not answer, the password is wrong.

Faults are real: backends ended with pg_terminate_backend, and a TCP proxy on loopback between
the ledger and PostgreSQL that cuts a connection at a chosen moment of the protocol.
"""

import contextlib
import datetime
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from approval_ledger.initialize import initialize
from development.demo import AGREEMENT_TITLE, OPERATOR_CVR, demo_pdf, seed
from ledger.config import Settings
from ledger.evidence.database import DatabaseUnavailable, DatabaseURL
from ledger.evidence.verify import verify_database
from ledger.identity import Actor
from ledger.keyring import KeyRing
from ledger.storage.once import UsedOnce
from tests.conftest import POSTGRES_URL
from tests.web.test_login import log_in, rejections, saml_response_for

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]
AARHUS = "55133018"
EVENTS_INSERT = re.compile(rb'INSERT INTO "[^"]+"\."stored_events"')


class PostgresProxy:
    """Forwards loopback TCP connections to PostgreSQL; can cut one at a chosen moment.

    `cut_after_commit()`: the next transaction that inserts events reaches the server with
    its COMMIT, the server's answer is read and dropped, and the connection is cut: the write
    committed, the client never hears so. `cut_before_commit()`: the connection is cut instead
    of sending the events' INSERT, so the transaction never commits. `down()`: every
    connection is cut and new ones are refused until `up()`.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._mode: str | None = None
        self._down = False
        self._guard = threading.Lock()
        self._open: list[socket.socket] = []
        self.cuts = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after_commit(self) -> None:
        self._mode = "after-commit"

    def cut_before_commit(self) -> None:
        self._mode = "before-commit"

    def down(self) -> None:
        with self._guard:
            self._down = True
            sockets, self._open = self._open, []
        for sock in sockets:
            _close(sock)

    def up(self) -> None:
        self._down = False

    def close(self) -> None:
        self._stop = True
        self.down()
        _close(self.listener)

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._down:
                _close(client)
                continue
            link = _Link(client, socket.create_connection(("127.0.0.1", self.target_port)))
            with self._guard:
                self._open += [link.client, link.server]
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _upstream(self, link: "_Link") -> None:
        inserting = False
        try:
            while chunk := link.client.recv(65536):
                if EVENTS_INSERT.search(chunk):
                    inserting = True
                    if self._take("before-commit"):
                        break
                if inserting and b"COMMIT\x00" in chunk:
                    inserting = False
                    if self._take("after-commit"):
                        link.muted = True  # the server's answers go nowhere from here
                link.server.sendall(chunk)
        except OSError:
            pass
        link.close()

    def _take(self, mode: str) -> bool:
        with self._guard:
            if self._mode != mode:
                return False
            self._mode = None
            self.cuts += 1
            return True

    @staticmethod
    def _downstream(link: "_Link") -> None:
        try:
            while chunk := link.server.recv(65536):
                if link.muted:
                    break  # the server has answered the COMMIT: it committed
                link.client.sendall(chunk)
        except OSError:
            pass
        link.close()


@dataclass
class _Link:
    """One proxied connection: the client's socket and the server's."""

    client: socket.socket
    server: socket.socket
    muted: bool = False

    def close(self) -> None:
        _close(self.client)
        _close(self.server)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _through(url: str, proxy: PostgresProxy) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{proxy.port}")).geturl()


def terminate_backends(database_url: str) -> int:
    """End every client's connection to the test database (the login may: pg_signal_backend;
    an autovacuum worker on the database is the server's own, which only a superuser ends)."""
    dbname = DatabaseURL.parse(database_url).dbname
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchall()
    return sum(1 for (ended,) in rows if ended)


def portal_settings(data_dir: Path, database_url: str) -> Settings:
    return Settings.from_env(
        {
            "LEDGER_DATA_DIR": str(data_dir),
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_ORIGIN": "test.example/ledger",
            "LEDGER_OPERATOR_CVR": OPERATOR_CVR,
            "LEDGER_LOGIN_RATE_PER_MINUTE": "100000",
        }
    )


@pytest.fixture
def proxy(postgres_url) -> Iterator[PostgresProxy]:
    proxy = PostgresProxy(urlsplit(postgres_url).port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture
def ledger(tmp_path, postgres_url, proxy, operator):
    """A seeded ledger whose every connection goes through the proxy."""
    settings = portal_settings(tmp_path / "var", _through(postgres_url, proxy))
    app = initialize(settings, operator).app
    seed(app)
    yield app
    app.close()


@pytest.fixture
def flask_app(ledger, make_portal):
    return make_portal(ledger)


def _verified(app) -> None:
    report = verify_database(app.settings.database, KeyRing(app.settings.keys_dir).verifier_keys())
    assert report.ok, report.problems


def _agreement(app):
    return next(a for a in app.agreement_versions() if a.title == AGREEMENT_TITLE)


def _csrf(client, path: str) -> str:
    """The form's CSRF token from the page, read again while the database is unavailable
    (503), as a person reloads the page."""
    for _ in range(TRIES):
        page = client.get(path)
        if page.status_code != 503:
            break
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.status_code
    return found.group(1)


def _approve(client, version_id):
    page = f"/aftaler/{version_id}"
    return client.post(
        f"{page}/godkend", data={"bekraeft": "ja", "csrf_token": _csrf(client, page)}
    )


# A write whose answer is lost, or that never committed


def test_a_write_whose_commit_answer_was_lost_is_reported_as_committed_once(ledger, proxy):
    before = sum(1 for _ in ledger.signed_log.entries())
    proxy.cut_after_commit()
    customer = ledger.register_customer(
        cvr="29189846", name="Vejle Kommune", actor=Actor.cli_operator()
    )
    assert proxy.cuts == 1
    assert customer.cvr == "29189846"
    added = [entry.event_type for entry in ledger.signed_log.entries()][before:]
    assert added == ["Registered"]
    _verified(ledger)


def test_godkend_whose_commit_answer_was_lost_shows_the_receipt_of_that_approval(
    flask_app, ledger, proxy
):
    client = flask_app.test_client()
    log_in(client, "koebenhavn")
    version = _agreement(ledger)
    proxy.cut_after_commit()
    done = _approve(client, version.id)
    assert proxy.cuts == 1
    assert done.status_code == 302, done.text
    seq = int(done.headers["Location"].rsplit("/", 1)[1])
    entry = ledger.signed_log.entry(seq)
    assert (entry.event_type, entry.cvr) == ("Approved", "64942212")
    approvals = [e for e in ledger.history(cvr="64942212") if e.event_type == "Approved"]
    assert [e.seq for e in approvals] == [seq]
    assert client.get(done.headers["Location"]).status_code == 200
    _verified(ledger)


def test_a_write_cut_off_before_its_commit_is_written_again(ledger, proxy):
    before = sum(1 for _ in ledger.signed_log.entries())
    proxy.cut_before_commit()
    ledger.register_customer(cvr="29189846", name="Vejle Kommune", actor=Actor.cli_operator())
    assert proxy.cuts == 1
    assert [entry.event_type for entry in ledger.signed_log.entries()][before:] == ["Registered"]
    _verified(ledger)


# Connections ended by the server


def test_after_the_server_ends_every_connection_the_next_requests_succeed(
    flask_app, ledger, postgres_url
):
    signatory, auditor = flask_app.test_client(), flask_app.test_client()
    assert log_in(signatory, "koebenhavn").status_code == 302
    assert log_in(auditor, "auditor").status_code == 302
    assert signatory.get("/api/v1/checkpoint").status_code == 200
    assert auditor.get("/revision/").status_code == 200
    assert terminate_backends(postgres_url) > 0

    assert signatory.get("/api/v1/checkpoint").status_code == 200
    assert terminate_backends(postgres_url) > 0
    assert auditor.get("/revision/").status_code == 200
    assert terminate_backends(postgres_url) > 0
    again = flask_app.test_client()
    assert log_in(again, "aarhus").status_code == 302  # the replay cache's connection had ended
    assert terminate_backends(postgres_url) > 0
    assert _approve(signatory, _agreement(ledger).id).status_code == 302
    assert rejections(ledger) == []
    _verified(ledger)


def test_the_replay_cache_reconnects_after_its_connection_was_ended(postgres_url):
    once = UsedOnce(DatabaseURL.parse(postgres_url))
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    try:
        assert once.first_use("saml-assertion", "_a1", expires)
        assert terminate_backends(postgres_url) > 0
        assert once.first_use("saml-assertion", "_a2", expires)
        assert not once.first_use("saml-assertion", "_a1", expires)
    finally:
        once.close()


# The database is down


def test_while_the_database_is_down_the_portal_answers_503_and_records_no_refusal(
    flask_app, ledger, proxy
):
    client = flask_app.test_client()
    log_in(client, "koebenhavn")
    posted = saml_response_for(client, "aarhus")
    proxy.down()
    try:
        page = client.get("/aftaler")
        assert page.status_code == 503
        assert "Portalen kan ikke nå sin database lige nu" in page.text
        assert page.headers["Retry-After"] == "10"
        api = client.get("/api/v1/checkpoint")
        assert api.status_code == 503
        assert "database" in api.json["error"]
        login = client.post("/saml/acs", data={"SAMLResponse": posted})
        assert login.status_code == 503
        assert "Log ind igen om et øjeblik" in login.text  # not about approvals or uploads
        assert "godkendt" not in login.text
        assert 'href="/saml/login"' in login.text
    finally:
        proxy.up()
    assert client.get("/api/v1/checkpoint").status_code == 200
    assert client.get("/aftaler").status_code == 200
    assert rejections(ledger) == []


# Under load


@dataclass
class Load:
    statuses: Counter = field(default_factory=Counter)
    approved: list[int] = field(default_factory=list)
    done: int = 0
    failures: list[str] = field(default_factory=list)
    finished: bool = False
    guard: threading.Condition = field(default_factory=threading.Condition)

    def count(self, response) -> int:
        with self.guard:
            self.statuses[response.status_code] += 1
            self.done += 1
            self.guard.notify_all()
        return response.status_code


TRIES = 10  # a request answered 503 is sent again, as a person would, this often at most


def test_approvals_and_logins_while_the_server_keeps_ending_connections(
    flask_app, ledger, postgres_url
):
    """Three signatories log in again and again and approve ten agreement versions each,
    while every few requests the server ends every connection of the portal. No request
    fails with anything but 503 (and most succeed at once), every Godkend acknowledged is
    in the log once, no login is refused, and the log verifies."""
    versions = [
        ledger.publish_agreement(
            title="Tillæg",
            version_label=f"2026.{n}",
            document=demo_pdf("Tillæg", f"2026.{n}"),
            document_name=f"tillaeg-{n}.pdf",
            actor=Actor.cli_operator(),
        ).id
        for n in range(1, 11)
    ]
    load = Load()

    def until_answered(send, wanted: int):
        for _ in range(TRIES):
            response = send()
            if load.count(response) != 503:
                assert response.status_code == wanted, response.status_code
                return response
        raise AssertionError(f"{TRIES} times 503")

    def signatory(persona: str) -> None:
        client = flask_app.test_client()
        try:
            for version_id in versions:
                until_answered(lambda: _log_in_once(client, persona), 302)
                done = until_answered(lambda v=version_id: _approve(client, v), 302)
                with load.guard:
                    load.approved.append(int(done.headers["Location"].rsplit("/", 1)[1]))
                until_answered(lambda: client.get("/api/v1/checkpoint"), 200)
        except Exception as error:  # a failed assertion in a thread must fail the test
            load.failures.append(f"{persona}: {error!r}")

    ended = []

    def terminator() -> None:
        while True:
            with load.guard:
                mark = load.done
                load.guard.wait_for(lambda mark=mark: load.finished or load.done >= mark + 5)
                if load.finished:
                    return
            ended.append(terminate_backends(postgres_url))

    threads = [
        threading.Thread(target=signatory, args=(p,)) for p in ("aarhus", "odense", "koebenhavn")
    ]
    killer = threading.Thread(target=terminator)
    killer.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with load.guard:
        load.finished = True
        load.guard.notify_all()
    killer.join()

    print(f"statuses {dict(load.statuses)}, {len(ended)} rounds ended {sum(ended)} connections")
    assert load.failures == []
    assert len(ended) >= 10
    assert sum(ended) > 0
    assert set(load.statuses) <= {200, 302, 503}, load.statuses
    assert load.statuses[503] * 10 < load.done, load.statuses
    assert len(load.approved) == 30
    assert len(set(load.approved)) == 30
    approvals = {e.seq for e in ledger.signed_log.entries() if e.event_type == "Approved"}
    assert set(load.approved) <= approvals
    assert rejections(ledger) == []
    _verified(ledger)


def _log_in_once(client, persona: str):
    """A login through the development IdP; a 503 anywhere on the way is the answer."""
    started = client.get("/saml/login?next=/")
    if started.status_code != 302:
        return started
    location = urlsplit(started.headers["Location"])
    page = client.get(f"/dev-idp/sso?{location.query}&persona={persona}")
    if page.status_code != 200:
        return page
    posted = re.search(r'name="SAMLResponse" value="([^"]+)"', page.text).group(1)
    return client.post("/saml/acs", data={"SAMLResponse": posted})


# A real restart, of a PostgreSQL server of the test's own


@dataclass
class OwnServer:
    """A PostgreSQL cluster made for one test (initdb), which the test may restart."""

    directory: Path
    binaries: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://ledger@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, check: bool = True) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        data, log = str(self.directory / "data"), str(self.directory / "log")
        pg_ctl = [*_as_postgres(), str(self.binaries / "pg_ctl"), "-D", data, "-l", log]
        subprocess.run([*pg_ctl, "-o", options, "-w", *args], check=check, capture_output=True)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, its commands run as the postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture
def own_server() -> Iterator[OwnServer]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server binaries to make a cluster of the test's own")
    # Not under pytest's tmp_path: the postgres user must be able to reach it.
    directory = Path(tempfile.mkdtemp(prefix="ledger-postgres-"))
    try:
        if os.geteuid() == 0:
            os.chown(directory, *_postgres_ids())
        binaries = found[-1].parent
        initdb = [*_as_postgres(), str(binaries / "initdb"), "-D", str(directory / "data")]
        options = ["-A", "trust", "-U", "ledger", "--no-sync", "-E", "UTF8"]
        subprocess.run([*initdb, *options], check=True, capture_output=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = OwnServer(directory, binaries, port)
        server.start()
        try:
            yield server
        finally:
            server._ctl("-m", "immediate", "stop", check=False)  # whatever state the test left
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def test_after_a_restart_of_postgresql_the_portal_recovers_on_the_next_request(
    tmp_path, own_server, operator, make_portal
):
    app = initialize(portal_settings(tmp_path / "var", own_server.url), operator).app
    try:
        seed(app)
        portal = make_portal(app)
        signatory, auditor = portal.test_client(), portal.test_client()
        assert log_in(signatory, "koebenhavn").status_code == 302
        assert log_in(auditor, "auditor").status_code == 302
        assert signatory.get("/api/v1/checkpoint").status_code == 200

        own_server.restart()
        assert signatory.get("/api/v1/checkpoint").status_code == 200
        assert auditor.get("/revision/").status_code == 200
        assert log_in(portal.test_client(), "aarhus").status_code == 302
        own_server.restart()
        done = _approve(signatory, _agreement(app).id)
        assert done.status_code == 302
        seq = int(done.headers["Location"].rsplit("/", 1)[1])
        assert app.signed_log.entry(seq).event_type == "Approved"

        own_server.stop()
        assert signatory.get("/aftaler").status_code == 503
        assert signatory.get("/api/v1/checkpoint").status_code == 503
        own_server.start()
        assert signatory.get("/aftaler").status_code == 200
        assert rejections(app) == []
        _verified(app)
    finally:
        app.close()


# A wrong password, a server that does not answer: one line, within seconds


@pytest.fixture
def initialized(tmp_path, postgres_url):
    """A data directory with keys, set up against the test database."""
    env = _cli_env(tmp_path / "var", postgres_url)
    subprocess.run(
        [sys.executable, "-m", "approval_ledger", "init"], env=env, check=True, capture_output=True
    )
    return tmp_path / "var"


def _cli_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return env | {
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_ORIGIN": "test.example/ledger",
        "LEDGER_OPERATOR_CVR": OPERATOR_CVR,
        "LEDGER_DEV_IDP": "1",
        "PYTHONPATH": str(ROOT),
    }


COMMANDS = (["init"], ["verify"], ["customer", "list"], ["serve", "--bind", "127.0.0.1:0"])


def _refusals(
    data_dir: Path, url: str
) -> Iterator[tuple[list[str], subprocess.CompletedProcess, float]]:
    for command in COMMANDS:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "approval_ledger", *command],
            env=_cli_env(data_dir, url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        yield command, done, time.monotonic() - started


def test_a_wrong_password_stops_every_command_with_one_line_naming_the_variable(
    initialized, postgres_url
):
    parts = urlsplit(postgres_url)
    password = "Wrong-Secret-7431"
    wrong = parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}")
    for command, done, seconds in _refusals(initialized, wrong.geturl()):
        assert done.returncode == 2, (command, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1, (command, done.stderr)
        assert lines[0].startswith(
            f"ledger: LEDGER_DATABASE_URL postgresql://{parts.username}:***@{parts.hostname}:"
        ), lines[0]
        assert "password authentication failed" in lines[0]
        assert password not in done.stderr + done.stdout
        assert seconds < 10, command


def test_a_server_that_does_not_answer_stops_every_command_within_seconds(initialized):
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # accepts, never answers
    try:
        port = silent.getsockname()[1]
        url = f"postgresql://ledger_ci:ledger_ci@127.0.0.1:{port}/ledger"
        for command, done, seconds in _refusals(initialized, url):
            assert done.returncode == 2, (command, done.stderr)
            lines = done.stderr.splitlines()
            assert lines == [
                f"ledger: LEDGER_DATABASE_URL postgresql://ledger_ci:***@127.0.0.1:{port}/ledger: "
                "connection timeout expired"
            ], command
            assert seconds < 10, command
    finally:
        silent.close()


def test_a_database_out_of_reach_is_database_unavailable_without_the_password():
    url = DatabaseURL.parse("postgresql://ledger_ci:Secret-8812@127.0.0.1:1/ledger")
    with pytest.raises(DatabaseUnavailable) as raised:
        url.connect()
    message = str(raised.value)
    assert "\n" not in message
    assert "Secret-8812" not in message
    assert message.startswith("postgresql://ledger_ci:***@127.0.0.1:1/ledger: ")
