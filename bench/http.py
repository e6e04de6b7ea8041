"""Approvals per second and their latency through gunicorn on loopback: the portal's Godkend
against a plain Flask endpoint doing the same database write without signing, at 16 clients
(`godkend_16clients`, goal 1.0), on SQLite and, when `LEDGER_TEST_POSTGRES_URL` names a login
that may create databases, on PostgreSQL (`godkend_16clients_pg`, goal 1.0).

Ours: the real portal, started as `ledger serve --bind 127.0.0.1:PORT --workers 2` (gunicorn,
gthread workers of `approval_ledger.serve.THREADS` threads, each worker running the
checkpointer at the default `LEDGER_CHECKPOINT_INTERVAL`) after `ledger init`, on SQLite in a
temporary directory or in a new PostgreSQL database made for the run and dropped after it,
with the development IdP (LEDGER_DEV_IDP=1, LEDGER_SAML_BASE_URL on that port,
LEDGER_OPERATOR_CVR set). Each measured request is `POST /aftaler/<version>/godkend` with the
session cookie, the form's CSRF token and its confirmation ticked (`bekraeft=ja`), as a
browser sends it: the session record is checked, Flask-Login loads the person from the session
(their roles are read from the ledger only when a request asks about one, and Godkend asks
about none), the signatory check reads the customer, Flask-WTF checks the token, the NemLog-in
authentication must be younger than 15 minutes, `LedgerApp.approve` reads the approval (it is
given the customer and the agreement version the request has read), checks the stored
document's hash, and saves an `Approved` event with its signed, chained leaf in one
transaction (SQLite: synchronous=FULL); no checkpoint is made on the request (the checkpointer
covers it within the interval). The portal answers 302 to the receipt `/kvitteringer/<seq>`.

Sessions: an approval is one per (CVR, agreement version), and the development IdP's
personas are fixed people with fixed CVRs. The bench therefore uses the three signatory
personas with distinct CVRs (aarhus, odense, koebenhavn), registers their municipalities and
publishes one agreement version per three approvals up front (through `LedgerApp`, before
the servers start). Every client thread logs in as each of the three through the development
IdP over HTTP, as a browser does (GET /saml/login, the IdP's page with `persona=`, POST
/saml/acs), and reads its CSRF token from an agreement page: no session is forged. Every
(CVR, version) pair is approved exactly once; a receipt seen twice (an approval that was
already there) or any other answer than the redirect to a receipt fails the run. Godkend's
answer sets the session cookie with the 'Hvad sker der nu?' message, which the receipt page a
browser goes to next takes out of the session again; the bench does not fetch receipts, so
each tab keeps the session cookie it had (one message more per approval would otherwise pile
up in the cookie: 150 of them cost 2.5 ms to sign).

Baseline: a plain Flask app under the same gunicorn options as `ledger serve`
(`gunicorn_options`: the same worker count, class and threads, the same access log) on
another port, whose one endpoint, `POST /aftaler/<version>/godkend` with `cvr=` in the form,
saves a `PlainApproval` aggregate (id uuid5 of the CVR and version, as ours; the same facts
with stand-in person and login values) with the library's plain `eventsourcing` application,
on `eventsourcing.sqlite` in its own SQLite file in the same directory or on
`eventsourcing.postgres` in its own new database, and answers 302 to `/kvitteringer/<notification
id>`. No login, no session, no CSRF, no reads, no leaf, no checkpoint. It gets the same (CVR,
version) pairs as ours.

Load: `http.client` from this process (no other dependency), 16 threads, each with its own
keep-alive connections, one per CVR on both sides (gthread workers keep them open; the output
counts the connections opened, the same number on each side). Each round, after one warm-up
round, runs the baseline's batch and then ours (A B A B ...), each batch split evenly over the
threads; a side's rate in a round is its requests over the batch's wall time. Then each side,
again alternating, answers a smaller batch from one client at a time: latency without
queueing. Figures are medians over the rounds; p50/p99 latencies are over every measured
request; the ratio is the median of the per-round ratios. Beside the rates, each side's server
CPU per request under load: the user and system time of its gunicorn master and workers (every
thread) over the batch, read from each process's CPU-time clock to the nanosecond (/proc's
clock ticks of 10 ms were 0.1 ms a request in a quick batch, so medians fell on the same tick),
divided by its requests; on the shared cores this is the steadier figure, and their quotient
says what the rate ratio would be if both sides were bound by their own CPU. On a PostgreSQL on
this host, each side's database backends' CPU too (its database's pg_stat_activity), and the
quotient of server and database CPU together: the statements' work, which no gunicorn
counts. Any failed request stops the run without a result. At the end the servers stop, each
side must have stored exactly the approvals sent, and the ledger must verify. The output also
gives the client's CPU share (it shares the cores with the servers) and the peak
RSS of this process and of each server's gunicorn master and largest worker.

    .venv/bin/python bench/http.py [--quick] [--rounds N]
    LEDGER_TEST_POSTGRES_URL=postgresql://USER:PASSWORD@HOST:5432/postgres \
        .venv/bin/python bench/http.py --quick
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead (common is bench.common).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import ctypes
import dataclasses
import gc
import html
import http.client
import math
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from importlib import metadata
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from flask import Flask, redirect, request

from approval_ledger.serve import THREADS, Gunicorn, gunicorn_options
from bench.common import (
    POSTGRES_URL_VARIABLE,
    Series,
    filesystem_of,
    paired_ratio,
    parse_arguments,
    peak_rss_mib,
    plain_postgres_env,
    postgres_admin_url,
    postgres_database,
    summary_line,
    verdict,
)

PYTHON = Path(sys.executable)
LEDGER = PYTHON.parent / "ledger"
HOST = "127.0.0.1"
SERVE_PLAIN = "--serve-plain"  # internal: this file, run as the baseline's server
PERSONAS = ("aarhus", "odense", "koebenhavn")  # signatories of three distinct CVRs
OPERATOR_CVR = "12345674"
USER_AGENT = "bench/http.py"
# The Godkend form's checkbox, ticked: the signatory confirms the approval statement.
CONFIRMATION_FIELD, CONFIRMED = "bekraeft", "ja"
LOGIN_RATE_PER_MINUTE = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RECEIPT = re.compile(r"(?:http://[^/]+)?/kvitteringer/([0-9]+)")
GOALS: dict[str, float | None] = {"godkend_16clients": 1.0, "godkend_16clients_pg": 1.0}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    requests: int  # per side per round, under load
    single: int  # per side per round, one client at a time
    threads: int  # client threads under load
    workers: int  # gunicorn workers per server


QUICK = Sizes(rounds=5, requests=96, single=16, threads=16, workers=2)
FULL = Sizes(rounds=7, requests=800, single=120, threads=16, workers=2)


# The baseline: this file run with --serve-plain, in its own process

NAMESPACE = UUID("5b0c9f5e-7d2a-4c61-9d0e-2f6a8b1c3e47")


class PlainApproval(Aggregate):
    """An approval with the same facts as ours. Nobody logged in, so the person and the login
    are stand-ins of the same lengths; ours stores its three value objects with type tags."""

    @staticmethod
    def create_id(cvr: str, agreement_version_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"approval/{cvr}/{agreement_version_id}")

    @event("Approved")
    def __init__(
        self,
        cvr: str,
        agreement_version_id: UUID,
        actor: dict[str, str],
        authentication: dict[str, str],
        request: dict[str, str],
    ) -> None:
        self.cvr = cvr
        self.agreement_version_id = agreement_version_id
        self.actor = actor
        self.authentication = authentication
        self.request = request


class PlainApprovals(Application[UUID]):
    """What a user would reach for without signing: the library's own recorder."""

    name = "plain"


def plain_env(database: str) -> dict[str, str]:
    """The library's recorder for `database`: an SQLite file, or a PostgreSQL URL (the
    library's defaults otherwise; the lock and connect timeouts as ours, which bound waits)."""
    if not database.startswith("postgresql://"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": database,
            "SQLITE_LOCK_TIMEOUT": "30",  # as ours
        }
    return plain_postgres_env(database)


def create_plain_app(database: str) -> Flask:
    approvals = PlainApprovals(env=plain_env(database))
    app = Flask("plain")

    @app.get("/")
    def index() -> str:
        return "plain\n"

    @app.post("/aftaler/<uuid:version_id>/godkend")
    def approve(version_id: UUID) -> Any:
        cvr = request.form["cvr"]
        approval = PlainApproval(
            cvr=cvr,
            agreement_version_id=version_id,
            actor={
                "kind": "person",
                "name": "Clara Christensen",
                "person_uuid": "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a03",
                "cvr": cvr,
                "organisation": "Odense Kommune",
                "loa": "Substantial",
            },
            authentication={
                "assertion_id": "_" + "0" * 32,
                "authn_instant": "2026-11-29T08:00:00+00:00",
                "assertion_sha256": "0" * 64,
            },
            request={
                "ip": request.remote_addr or "",
                "user_agent": request.headers.get("User-Agent", "")[:500],
                "document_sha256": "0" * 64,
            },
        )
        (recording,) = approvals.save(approval)
        return redirect(f"/kvitteringer/{recording.notification.id}")

    return app


def serve_plain(bind: str, database: str, workers: str) -> None:
    """The plain app under gunicorn with `ledger serve`'s options, built in each worker."""
    options = gunicorn_options(bind=bind, workers=int(workers))
    Gunicorn(lambda: create_plain_app(database), options).run()


# Servers: started in their own process groups, stopped whatever happens


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    database: "DatabaseCpu | None" = None  # its PostgreSQL backends, when on this host

    def peak_rss_mib(self) -> tuple[float, float]:
        """Peak RSS of the gunicorn master and of its largest worker (VmHWM, now)."""
        workers = [_peak_rss_kib(pid) for pid in _children(self.process.pid)]
        return _peak_rss_kib(self.process.pid) / 1024, max(workers, default=0) / 1024

    def cpu_seconds(self) -> float:
        """User and system CPU the gunicorn master and its workers have used so far (every
        thread: the request threads, the main loop, ours' checkpointer and group commit)."""
        return sum(_cpu_seconds(pid) for pid in (self.process.pid, *_children(self.process.pid)))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


_LIBC = ctypes.CDLL(None, use_errno=True)


def _cpu_seconds(pid: int) -> float:
    """The user and system CPU process `pid` has used (every thread, those ended too), to
    the nanosecond: its CPU-time clock (clock_getcpuclockid). /proc/PID/stat counts in clock
    ticks (10 ms), which over a quick batch of 96 requests is 0.1 ms per request: a side's
    median came out on the same tick count on both databases (6.15 ms = 59 ticks / 96). 0.0
    for a process that has gone; the ticks where the clock cannot be read."""
    clock = ctypes.c_int()
    if _LIBC.clock_getcpuclockid(pid, ctypes.byref(clock)) == 0:
        now = _Timespec()
        if _LIBC.clock_gettime(clock, ctypes.byref(now)) == 0:
            return now.tv_sec + now.tv_nsec / 1e9
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


class DatabaseCpu:
    """The CPU of the PostgreSQL backends serving one database (pg_stat_activity), when the
    server runs on this host: the statements' work, which neither side's gunicorn counts.
    A backend that ends within a batch takes its CPU with it; the pools keep theirs open."""

    def __init__(self, admin_url: str, url: str) -> None:
        import psycopg

        self.name = urlsplit(url).path.lstrip("/")
        self.connection = psycopg.connect(admin_url, autocommit=True)

    def backends(self) -> dict[int, float]:
        rows = self.connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)
        ).fetchall()
        return {pid: _cpu_seconds(pid) for (pid,) in rows if _is_postgres(pid)}

    def close(self) -> None:
        self.connection.close()


def _is_postgres(pid: int) -> bool:
    """Whether `pid` is a PostgreSQL process on this host (not a server elsewhere, whose
    backend numbers mean other processes here)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("postgres")
    except OSError:
        return False


def _peak_rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+([0-9]+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (all held open together, so they differ)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]


@contextmanager
def running(
    name: str, command: list[str], env: dict[str, str], port: int, workdir: Path
) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the master and its workers
        )
    server = Server(name, port, process, log)
    try:
        wait_until_answering(server)
        yield server
    finally:
        stop(process)


def wait_until_answering(server: Server, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} server exited:\n{tail(server.log)}")
        connection = http.client.HTTPConnection(HOST, server.port, timeout=5)
        try:
            connection.request("GET", "/")
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise RuntimeError(
        f"{server.name} server did not answer in {timeout:.0f} s:\n{tail(server.log)}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (gunicorn stops its workers), SIGKILL if slow."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError):  # a worker that outlived its master
        os.killpg(process.pid, signal.SIGKILL)


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# The client


class CountingConnection(http.client.HTTPConnection):
    """A keep-alive connection (reopened when the server closes it) that counts its opens."""

    opened = 0

    def connect(self) -> None:
        self.opened += 1
        super().connect()


@dataclass
class Answer:
    status: int
    location: str
    body: bytes


class Browser:
    """One connection and one cookie jar: a browser tab, logged in or not."""

    def __init__(self, port: int) -> None:
        self.connection = CountingConnection(HOST, port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.csrf_token = ""

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        *,
        keep_cookies: bool = False,
    ) -> Answer:
        """One request; the answer's cookies are taken into the jar unless `keep_cookies`."""
        headers = {"User-Agent": USER_AGENT}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body, headers)
        response = self.connection.getresponse()
        content = response.read()
        for header in () if keep_cookies else response.msg.get_all("Set-Cookie") or ():
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Answer(response.status, response.getheader("Location", ""), content)

    def close(self) -> None:
        self.connection.close()


def log_in(browser: Browser, persona: str, agreement_path: str) -> None:
    """Through the development IdP over HTTP, as a browser does; then the form's CSRF token."""
    started = browser.request("GET", "/saml/login?next=/aftaler")
    sso = urlsplit(started.location)
    if started.status != 302 or sso.path != "/dev-idp/sso":
        raise RuntimeError(f"/saml/login answered {started.status} {started.location!r}")
    page = browser.request("GET", f"{sso.path}?{sso.query}&persona={persona}")
    found = re.search(rb'name="SAMLResponse" value="([^"]+)"', page.body)
    if page.status != 200 or found is None:
        raise RuntimeError(f"the development IdP answered {page.status}")
    posted = html.unescape(found.group(1).decode("ascii"))
    done = browser.request("POST", "/saml/acs", {"SAMLResponse": posted})
    if done.status != 302 or "session" not in browser.cookies:
        raise RuntimeError(f"/saml/acs answered {done.status}: {done.body[:300]!r}")
    page = browser.request("GET", agreement_path)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
    if page.status != 200 or token is None:
        raise RuntimeError(f"{agreement_path} answered {page.status} without a CSRF token")
    browser.csrf_token = html.unescape(token.group(1).decode("ascii"))


Pair = tuple[str, UUID]  # (CVR, agreement version): approved once


@dataclass
class Batch:
    seconds: float
    client_cpu_seconds: float
    server_cpu_seconds: float
    # Its PostgreSQL backends' CPU over the batch (None on SQLite, or PostgreSQL elsewhere),
    # and how many of them ended meanwhile (their CPU is missing).
    database_cpu_seconds: float | None = None
    backends_gone: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    receipts: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def run_batch(
    send: Callable[[int, Pair], Answer], shares: list[list[Pair]], server: Server
) -> Batch:
    """Every thread sends its share one request after another; the wall time of the whole,
    and the CPU this process, the server and its database's backends used meanwhile."""
    batch = Batch(0.0, 0.0, 0.0)
    lock = threading.Lock()
    start = threading.Barrier(len(shares) + 1)
    clock = time.perf_counter

    def work(thread: int, share: list[Pair]) -> None:
        latencies, receipts, failures = [], [], []
        start.wait()
        for pair in share:
            began = clock()
            try:
                answer = send(thread, pair)
            except (OSError, http.client.HTTPException) as error:
                failures.append(f"{pair}: {error!r}")
                continue
            latencies.append((clock() - began) * 1000)
            found = RECEIPT.fullmatch(answer.location) if answer.status == 302 else None
            if found is None:
                failures.append(
                    f"{pair}: {answer.status} {answer.location!r} {answer.body[:200]!r}"
                )
            else:
                receipts.append(int(found.group(1)))
        with lock:
            batch.latencies_ms += latencies
            batch.receipts += receipts
            batch.failures += failures

    threads = [
        threading.Thread(target=work, args=(i, share), daemon=True)
        for i, share in enumerate(shares)
    ]
    for thread in threads:
        thread.start()
    gc.collect()
    backends = server.database.backends() if server.database is not None else None
    server_cpu = server.cpu_seconds()
    start.wait()
    began, cpu = clock(), time.process_time()
    for thread in threads:
        thread.join()
    batch.seconds = clock() - began
    batch.client_cpu_seconds = time.process_time() - cpu
    batch.server_cpu_seconds = server.cpu_seconds() - server_cpu
    if server.database is not None and backends is not None:
        now = server.database.backends()
        batch.database_cpu_seconds = sum(cpu - backends.get(pid, 0.0) for pid, cpu in now.items())
        batch.backends_gone = len(backends.keys() - now.keys())
    return batch


def split(pairs: list[Pair], parts: int) -> list[list[Pair]]:
    return [pairs[i::parts] for i in range(parts)]


# Setting up ours


@dataclass(frozen=True)
class Portal:
    env: dict[str, str]
    data_dir: Path
    versions: list[UUID]
    cvrs: dict[str, str]  # persona -> CVR


def portal_env(data_dir: Path, port: int, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env |= {
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_DEV_IDP": "1",
        "LEDGER_SAML_BASE_URL": f"http://{HOST}:{port}",
        "LEDGER_OPERATOR_CVR": OPERATOR_CVR,
        # 16 client threads log in as 3 personas each, all from 127.0.0.1, within a minute;
        # the limit counts /saml/login and /saml/acs only, not Godkend.
        "LEDGER_LOGIN_RATE_PER_MINUTE": str(LOGIN_RATE_PER_MINUTE),
    }
    if database_url is not None:
        env["LEDGER_DATABASE_URL"] = database_url
    return env


def set_up_portal(workdir: Path, port: int, approvals: int, database_url: str | None) -> Portal:
    """`ledger init`, the three customers and one agreement version per three approvals."""
    from development.demo import CUSTOMERS, PERSONS_BY_KEY, demo_pdf
    from ledger.application import LedgerApp
    from ledger.config import Settings
    from ledger.identity import Actor

    data_dir = workdir / "portal"
    env = portal_env(data_dir, port, database_url)
    subprocess.run(
        [str(LEDGER), "init"], env=env, cwd=workdir, check=True, stdout=subprocess.DEVNULL
    )
    app = LedgerApp(Settings.from_env(env))
    operator = Actor.cli_operator()
    try:
        for cvr, name in CUSTOMERS.items():
            app.register_customer(cvr=cvr, name=name, actor=operator)
        document = demo_pdf("Driftsaftale (bench)", "1")
        versions = [
            app.publish_agreement(
                title="Driftsaftale (bench)",
                version_label=f"bench.{number}",
                document=document,
                document_name="driftsaftale.pdf",
                actor=operator,
            ).id
            for number in range(math.ceil(approvals / len(PERSONAS)))
        ]
    finally:
        app.close()
    cvrs = {persona: PERSONS_BY_KEY[persona].cvr or "" for persona in PERSONAS}
    if len(set(cvrs.values())) != len(PERSONAS) or not set(cvrs.values()) <= set(CUSTOMERS):
        raise RuntimeError("the bench's personas must be signatories of distinct customers")
    return Portal(env, data_dir, versions, cvrs)


def stored_event_bytes(database: str, table: str, topic_end: str) -> tuple[int, int]:
    """How many events end in `topic_end`, and their stored state's median size."""
    query = f"SELECT length(state) FROM {table} WHERE topic LIKE "
    if database.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(database) as pg:
            rows = pg.execute(query + "%s", (f"%{topic_end}",)).fetchall()
    else:
        with sqlite3.connect(database) as connection:
            rows = connection.execute(query + "?", (f"%{topic_end}",)).fetchall()
    sizes = [size for (size,) in rows]
    return len(sizes), int(statistics.median(sizes)) if sizes else 0


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# The run


@dataclass
class Measured:
    """One database's run: both sides' batches and what they stored."""

    database: str  # "SQLite" or "PostgreSQL"
    loaded: dict[str, Series]
    batches: dict[str, list[Batch]]
    made: int
    opened: dict[str, int]
    peak: dict[str, tuple[float, float]]
    approved_bytes: int
    plain_bytes: int
    leaves: int
    versions: int
    synchronous: dict[str, str]
    setup_seconds: float
    login_seconds: float
    seconds: float

    def ratio(self) -> float:
        return paired_ratio(self.loaded["ours"], self.loaded["plain"])

    def latencies(self) -> tuple[dict[str, float], dict[str, float]]:
        """p50 and p99 in ms by batch name (plain, ours, plain_1, ours_1)."""
        values = {
            name: [ms for b in bs for ms in b.latencies_ms] for name, bs in self.batches.items()
        }
        p50 = {name: statistics.median(v) for name, v in values.items()}
        p99 = {name: percentile(v, 99) for name, v in values.items()}
        return p50, p99

    def single_rate(self, side: str) -> float:
        return statistics.median(len(b.latencies_ms) / b.seconds for b in self.batches[f"{side}_1"])

    def client_cpu(self, side: str) -> float:
        return statistics.median(b.client_cpu_seconds / b.seconds for b in self.batches[side])

    def server_cpu_ms(self, side: str) -> float:
        """The server's CPU per request under load (all its processes and threads), ms."""
        return statistics.median(
            b.server_cpu_seconds / len(b.latencies_ms) * 1000 for b in self.batches[side]
        )

    def cpu_ratio(self) -> float:
        """The baseline's server CPU per request over ours, per round: what the rate ratio
        would be if both were bound by the server's CPU alone."""
        ours, plain = self.batches["ours"], self.batches["plain"]
        return statistics.median(
            (p.server_cpu_seconds / len(p.latencies_ms))
            / (o.server_cpu_seconds / len(o.latencies_ms))
            for o, p in zip(ours, plain, strict=True)
        )

    def database_cpu_ms(self, side: str) -> float | None:
        """The side's PostgreSQL backends' CPU per request under load, ms (None on SQLite,
        where the database is the server's own work, or a PostgreSQL on another host)."""
        seconds = [b.database_cpu_seconds for b in self.batches[side]]
        if any(s is None for s in seconds):
            return None
        return statistics.median(
            (s or 0.0) / len(b.latencies_ms) * 1000
            for s, b in zip(seconds, self.batches[side], strict=True)
        )

    def total_cpu_ratio(self) -> float | None:
        """As `cpu_ratio`, of the server's and its database backends' CPU together: the
        cores both sides share with their PostgreSQL (None where that is not measured)."""
        if self.database_cpu_ms("ours") is None or self.database_cpu_ms("plain") is None:
            return None

        def per_request(b: Batch) -> float:
            return (b.server_cpu_seconds + (b.database_cpu_seconds or 0.0)) / len(b.latencies_ms)

        ours, plain = self.batches["ours"], self.batches["plain"]
        return statistics.median(
            per_request(p) / per_request(o) for o, p in zip(ours, plain, strict=True)
        )

    def backends_gone(self) -> int:
        return sum(b.backends_gone for side in ("ours", "plain") for b in self.batches[side])


def measure(workdir: Path, sizes: Sizes, database: str, urls: tuple[str, str] | None) -> Measured:
    """Both servers on SQLite files in `workdir`, or on the two new PostgreSQL databases
    `urls` (ours, plain), the batches, and the check of what each side stored."""
    started = time.perf_counter()
    sides = ("plain", "ours")
    loaded = {side: Series() for side in sides}
    batches: dict[str, list[Batch]] = {f"{side}{kind}": [] for side in sides for kind in ("", "_1")}
    receipts: dict[str, list[int]] = {side: [] for side in sides}  # every round's
    per_round = sizes.requests + sizes.single
    total = (sizes.rounds + 1) * per_round
    ours_port, plain_port = free_ports(2)
    portal = set_up_portal(workdir, ours_port, total, urls[0] if urls else None)
    pairs: list[Pair] = [
        (portal.cvrs[persona], version) for version in portal.versions for persona in PERSONAS
    ][:total]
    if urls is None:
        plain_db = workdir / "plain" / "plain.sqlite3"
        plain_db.parent.mkdir()
        plain_database = str(plain_db)
    else:
        plain_database = urls[1]
    PlainApprovals(env=plain_env(plain_database)).close()  # its table, before two workers race
    setup_seconds = time.perf_counter() - started
    with ExitStack() as stack:
        workers = str(sizes.workers)
        ours_command = [str(LEDGER), "serve", "--bind", f"{HOST}:{ours_port}", "--workers", workers]
        ours = stack.enter_context(running("ours", ours_command, portal.env, ours_port, workdir))
        this_file = str(Path(__file__).resolve())
        plain_command = [
            str(PYTHON),
            this_file,
            SERVE_PLAIN,
            f"{HOST}:{plain_port}",
            plain_database,
            workers,
        ]
        plain_env_vars = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        plain = stack.enter_context(
            running("plain", plain_command, plain_env_vars, plain_port, workdir)
        )
        admin_url = postgres_admin_url()
        if urls is not None and admin_url is not None:
            for served, url in ((ours, urls[0]), (plain, urls[1])):
                served.database = DatabaseCpu(admin_url, url)
                stack.callback(served.database.close)
        # Per thread: a logged-in tab for each CVR (ours), and for the baseline a tab without
        # cookies for each CVR too, so that both sides open and reuse as many connections.
        agreement_path = f"/aftaler/{portal.versions[0]}"
        logins_started = time.perf_counter()

        def logged_in_tabs(_: int) -> dict[str, Browser]:
            tabs = {}
            for persona in PERSONAS:
                tab = Browser(ours_port)
                log_in(tab, persona, agreement_path)
                tabs[portal.cvrs[persona]] = tab
            return tabs

        with ThreadPoolExecutor(sizes.threads) as pool:  # each thread's logins, together
            logged_in = list(pool.map(logged_in_tabs, range(sizes.threads)))
        login_seconds = time.perf_counter() - logins_started
        plain_by_thread = [
            {portal.cvrs[persona]: Browser(plain_port) for persona in PERSONAS}
            for _ in range(sizes.threads)
        ]
        plain_tabs = [t for tabs in plain_by_thread for t in tabs.values()]
        for tab in [*plain_tabs, *(t for tabs in logged_in for t in tabs.values())]:
            stack.callback(tab.close)

        def send_ours(thread: int, pair: Pair) -> Answer:
            cvr, version = pair
            tab = logged_in[thread][cvr]
            form = {"csrf_token": tab.csrf_token, CONFIRMATION_FIELD: CONFIRMED}
            # Godkend's answer sets the session with its 'Hvad sker der nu?' message, which
            # the receipt page the browser goes to next takes out again: the browser then
            # holds the session as before. The tab keeps that session (its cookie from the
            # agreement page); taking the answer's would pile up a message per approval.
            return tab.request("POST", f"/aftaler/{version}/godkend", form, keep_cookies=True)

        def send_plain(thread: int, pair: Pair) -> Answer:
            cvr, version = pair
            tab = plain_by_thread[thread][cvr]
            return tab.request("POST", f"/aftaler/{version}/godkend", {"cvr": cvr})

        def opened_now() -> dict[str, int]:
            return {
                "plain": sum(t.connection.opened for t in plain_tabs),
                "ours": sum(t.connection.opened for tabs in logged_in for t in tabs.values()),
            }

        def close_idle(side: str) -> None:
            """Close a side's connections before a batch: gunicorn closes one idle for its
            keep-alive (5 s), and a request sent on it then fails (a browser would send it
            again, but a POST sent again could be an approval made twice)."""
            tabs = plain_tabs if side == "plain" else [t for ts in logged_in for t in ts.values()]
            for tab in tabs:
                tab.connection.close()

        send = {"plain": send_plain, "ours": send_ours}
        server = {"plain": plain, "ours": ours}
        opened_before = opened_now()
        for round_number in range(sizes.rounds + 1):
            work = pairs[round_number * per_round : (round_number + 1) * per_round]
            under_load, one_by_one = work[: sizes.requests], work[sizes.requests :]
            done: dict[str, Batch] = {}
            for side in sides:  # A B: the baseline, then ours, under load
                close_idle(side)
                done[side] = run_batch(send[side], split(under_load, sizes.threads), server[side])
            for side in sides:  # A B again, one client at a time
                close_idle(side)
                done[f"{side}_1"] = run_batch(send[side], [one_by_one], server[side])
            for name, batch in done.items():
                receipts[name.removesuffix("_1")] += batch.receipts
            failures = [f"{name}: {f}" for name, b in done.items() for f in b.failures]
            if failures:
                raise RuntimeError(
                    f"{database}: {len(failures)} requests failed in round {round_number}, so "
                    "the figures would mean nothing; the first:\n  "
                    + "\n  ".join(f[:300] for f in failures[:5])
                    + f"\nthe end of ours' log:\n{tail(ours.log)}"
                )
            if round_number > 0:  # round 0 warms up
                for name, batch in done.items():
                    batches[name].append(batch)
                for side in sides:
                    loaded[side].rates.append(len(under_load) / done[side].seconds)
        opened = {side: n - opened_before[side] for side, n in opened_now().items()}
        peak = {"ours": ours.peak_rss_mib(), "plain": plain.peak_rss_mib()}
    # The servers have stopped: check what they wrote.
    if urls is None:
        ours_database = str(portal.data_dir / "ledger.sqlite3")
        synchronous = {
            "ours": "FULL (leaf and event), NORMAL (checkpoint)",
            "plain": sqlite_synchronous(Path(plain_database)),
        }
        plain_table = "stored_events"
    else:
        ours_database = urls[0]
        synchronous = {"ours": "synchronous_commit on", "plain": "synchronous_commit on"}
        plain_table = "plain_events"
    approved, approved_bytes = stored_event_bytes(
        ours_database, "stored_events", "Approval.Approved"
    )
    plain_saved, plain_bytes = stored_event_bytes(
        plain_database, plain_table, "PlainApproval.Approved"
    )
    report = verify_ledger(portal.env)
    made = len(pairs)  # approvals sent to each side, warm-up included
    for side, seen in receipts.items():
        if len(set(seen)) != len(seen):
            raise RuntimeError(f"{database} {side}: a receipt came back twice")
    if approved != made or plain_saved != made:
        raise RuntimeError(
            f"{database}: approvals stored: ours {approved}, plain {plain_saved}; sent {made}"
        )
    if not report.ok:
        raise RuntimeError(
            f"{database}: the ledger does not verify after the run: {report.summary()}"
        )
    return Measured(
        database=database,
        loaded=loaded,
        batches=batches,
        made=made,
        opened=opened,
        peak=peak,
        approved_bytes=approved_bytes,
        plain_bytes=plain_bytes,
        leaves=report.leaves,
        versions=len(portal.versions),
        synchronous=synchronous,
        setup_seconds=setup_seconds,
        login_seconds=login_seconds,
        seconds=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds is not None:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)

    started = time.perf_counter()
    admin_url = postgres_admin_url()
    runs: dict[str, Measured] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        filesystem = filesystem_of(workdir)
        (workdir / "sqlite").mkdir()
        runs[""] = measure(workdir / "sqlite", sizes, "SQLite", None)
        if admin_url is not None:
            (workdir / "pg").mkdir()
            with (
                postgres_database(admin_url, "bench_http_ours") as ours_url,
                postgres_database(admin_url, "bench_http_plain") as plain_url,
            ):
                runs["_pg"] = measure(workdir / "pg", sizes, "PostgreSQL", (ours_url, plain_url))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ratios = {f"godkend_16clients{suffix}": run.ratio() for suffix, run in runs.items()}
    goals = {name: goal for name, goal in GOALS.items() if name in ratios}
    figures: dict[str, Any] = {}
    for suffix, run in runs.items():
        p50, p99 = run.latencies()
        prefix = "pg_" if suffix else ""
        figures |= {
            f"{prefix}plain_approvals_per_s": run.loaded["plain"].median,
            f"{prefix}approvals_per_s": run.loaded["ours"].median,
            f"{prefix}plain_ms_p50": p50["plain"],
            f"{prefix}plain_ms_p99": p99["plain"],
            f"{prefix}ms_p50": p50["ours"],
            f"{prefix}ms_p99": p99["ours"],
            f"{prefix}plain_1client_per_s": run.single_rate("plain"),
            f"{prefix}approvals_1client_per_s": run.single_rate("ours"),
            f"{prefix}plain_1client_ms_p50": p50["plain_1"],
            f"{prefix}plain_1client_ms_p99": p99["plain_1"],
            f"{prefix}ms_1client_p50": p50["ours_1"],
            f"{prefix}ms_1client_p99": p99["ours_1"],
            f"{prefix}approvals_made": run.made,
            f"{prefix}connections_per_request": run.opened["ours"] / run.made,
            f"{prefix}plain_connections_per_request": run.opened["plain"] / run.made,
            f"{prefix}server_cpu_ms_per_request": run.server_cpu_ms("ours"),
            f"{prefix}plain_server_cpu_ms_per_request": run.server_cpu_ms("plain"),
            f"{prefix}server_cpu_ratio": run.cpu_ratio(),
        }
        if run.total_cpu_ratio() is not None:
            figures |= {
                f"{prefix}database_cpu_ms_per_request": run.database_cpu_ms("ours"),
                f"{prefix}plain_database_cpu_ms_per_request": run.database_cpu_ms("plain"),
                f"{prefix}server_and_database_cpu_ratio": run.total_cpu_ratio(),
            }
        figures |= {
            f"{prefix}client_cpu_share_ours": run.client_cpu("ours"),
            f"{prefix}client_cpu_share_plain": run.client_cpu("plain"),
            f"{prefix}approved_event_bytes": run.approved_bytes,
            f"{prefix}plain_event_bytes": run.plain_bytes,
            f"{prefix}ledger_leaves": run.leaves,
            f"{prefix}worker_peak_rss_mib": run.peak["ours"][1],
            f"{prefix}plain_worker_peak_rss_mib": run.peak["plain"][1],
            f"{prefix}master_peak_rss_mib": run.peak["ours"][0],
            f"{prefix}plain_master_peak_rss_mib": run.peak["plain"][0],
            f"{prefix}seconds": run.seconds,
        }
    figures |= {
        "failed_requests": 0,
        "peak_rss_mib": peak_rss_mib(),
        "rounds": sizes.rounds,
        "requests_per_round": sizes.requests,
        "single_requests_per_round": sizes.single,
        "threads": sizes.threads,
        "workers": sizes.workers,
        "worker_threads": THREADS,
        "seconds": time.perf_counter() - started,
    }

    pg_text = (
        f"PostgreSQL {postgres_version(admin_url)} at {urlsplit(admin_url).hostname}"
        if admin_url is not None
        else f"no PostgreSQL ({POSTGRES_URL_VARIABLE} is not set)"
    )
    print(
        f"http{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, gunicorn {metadata.version('gunicorn')} ({sizes.workers} "
        f"gthread workers of {THREADS} threads per server), Flask {metadata.version('flask')}, "
        f"SQLite files in {tempfile.gettempdir()} ({filesystem}), {pg_text}; "
        f"{sizes.rounds} rounds after a warm-up, medians"
    )
    sqlite_run = runs[""]
    print(
        f"ours: `ledger serve`, POST /aftaler/<id>/godkend with session cookie and CSRF token "
        f"(3 signatory personas logged in through the dev IdP per client thread, "
        f"{sqlite_run.versions} agreement versions): reads, Approved event "
        f"{sqlite_run.approved_bytes} B + signed leaf; checkpoints at the default interval by "
        "the workers' checkpointers, not in the request; 302 to the receipt"
    )
    print(
        f"baseline: plain Flask under the same gunicorn options, POST /aftaler/<id>/godkend "
        f"(cvr= in the form): one eventsourcing save of a PlainApproval, "
        f"{sqlite_run.plain_bytes} B, no login, CSRF, leaf or checkpoint; 302"
    )
    print(
        f"load: {sizes.threads} client threads (http.client in this process), "
        f"{sizes.requests} approvals per side per round, then {sizes.single} from one client"
    )
    for run in runs.values():
        print(
            f"{run.database}: connections opened per request: ours "
            f"{run.opened['ours'] / run.made:.2f}, plain {run.opened['plain'] / run.made:.2f}; "
            f"synchronous: ours {run.synchronous['ours']}, plain {run.synchronous['plain']}"
        )
    print()
    header = (
        f"{'measure':<48}{'approvals/s':>12}{'ms p50':>8}{'ms p99':>8}{'ratio':>7}{'goal':>6}"
        "  verdict"
    )
    print(header)
    print("-" * len(header))

    def row(run: Measured, label: str, name: str, rate: float, key: str | None = None) -> None:
        p50, p99 = run.latencies()
        text = f"{run.database + ': ' + label:<48}{rate:>12,.1f}{p50[name]:>8.2f}{p99[name]:>8.2f}"
        if key is not None:
            goal = GOALS[key]
            goal_text = f"{goal:.2f}" if goal is not None else "-"
            text += f"{ratios[key]:>7.2f}{goal_text:>6}  {verdict(ratios[key], goal)}"
        print(text)

    for suffix, run in runs.items():
        key = f"godkend_16clients{suffix}"
        threads = sizes.threads
        row(run, f"plain Flask write, {threads} clients", "plain", run.loaded["plain"].median)
        row(run, f"ours, Godkend, {threads} clients", "ours", run.loaded["ours"].median, key)
        row(run, "plain Flask write, one client at a time", "plain_1", run.single_rate("plain"))
        row(run, "ours, Godkend, one client at a time", "ours_1", run.single_rate("ours"))
    print(
        "approvals/s: median of the per-round rates (requests / wall time of the batch); "
        "ms: per request at the client, all measured rounds"
    )
    for run in runs.values():
        print(
            f"{run.database}: server CPU per request under load (gunicorn master and workers, "
            f"every thread, median of the rounds): plain {run.server_cpu_ms('plain'):.2f} ms, "
            f"ours {run.server_cpu_ms('ours'):.2f} ms; plain/ours per round "
            f"{run.cpu_ratio():.2f}"
        )
        ours_db, plain_db, both = (
            run.database_cpu_ms("ours"),
            run.database_cpu_ms("plain"),
            run.total_cpu_ratio(),
        )
        if ours_db is not None and plain_db is not None and both is not None:
            gone = run.backends_gone()
            print(
                f"{run.database}: its backends' CPU per request (pg_stat_activity of each "
                f"side's database): plain {plain_db:.2f} ms, ours {ours_db:.2f} ms; server and "
                f"database together, plain/ours per round {both:.2f}"
                + (f" ({gone} backends ended within a batch, uncounted)" if gone else "")
            )
    print()
    for run in runs.values():
        print(
            f"{run.database}: no failed requests; every answer a 302 to a new receipt; "
            f"{run.made} approvals stored on each side; the ledger verifies ({run.leaves} "
            f"leaves); client CPU (this process) per wall second under load: plain "
            f"{run.client_cpu('plain'):.2f}, ours {run.client_cpu('ours'):.2f}; logins took "
            f"{run.login_seconds:.1f} s, the set-up {run.setup_seconds:.1f} s (not timed); "
            f"gunicorn master/largest worker peak RSS: ours {run.peak['ours'][0]:,.0f}/"
            f"{run.peak['ours'][1]:,.0f} MiB, plain {run.peak['plain'][0]:,.0f}/"
            f"{run.peak['plain'][1]:,.0f} MiB; {run.seconds:.0f} s"
        )
    print(
        f"peak RSS of this process {figures['peak_rss_mib']:,.0f} MiB; run took "
        f"{figures['seconds']:.0f} s"
    )
    print(summary_line("http", args.quick, figures, ratios, goals))


def postgres_version(admin_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


def verify_ledger(env: dict[str, str]) -> Any:
    from ledger.config import Settings
    from ledger.evidence.verify import verify_database
    from ledger.keyring import KeyRing

    settings = Settings.from_env(env)
    return verify_database(settings.database, KeyRing(settings.keys_dir).verifier_keys())


def sqlite_synchronous(database: Path) -> str:
    """The `synchronous` level a new connection gets (the library sets none)."""
    connection = sqlite3.connect(database)
    try:
        level = connection.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        connection.close()
    return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))


if __name__ == "__main__":
    if sys.argv[1:2] == [SERVE_PLAIN]:
        serve_plain(*sys.argv[2:5])
    else:
        main()
