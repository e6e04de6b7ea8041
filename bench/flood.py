"""A flood of bad SAML responses at `/saml/acs`: how fast the signed log grows under it, and
what it does to a signatory's Godkend, measured in one run against the same portal unflooded.

The portal: `ledger serve --bind 127.0.0.1:PORT --workers 2` after `ledger init`, on SQLite in
a temporary directory, with the development IdP, the default rate limit
(LEDGER_LOGIN_RATE_PER_MINUTE=60 per client network) and a counting interval of 5 seconds
(LEDGER_LOGIN_REFUSAL_INTERVAL_SECONDS=5, a twelfth of the default, so that summaries are
written during the run; the default writes fewer).

The flood: what the issue's attacker can send without signing as the IdP. Before the clock
starts, the bench starts one login (`GET /saml/login`, which gives it the pending cookie and a
request ID) and builds responses to it as the development IdP would, signed with its key,
then changed after signing (another CVR) and encrypted to the SP's public certificate: the
portal decrypts each, checks its shape and hands it to python3-saml, which refuses the
signature (`bad-signature`). Flood threads (their own connections, `http.client`) post these
responses back to back, in two kinds:

- *one network*: every request from 127.0.0.1; after its 60 requests a minute, the portal
  answers 429 without looking at the response;
- *many networks*: each request from a source address in another /24 (127.N.M.1; Linux
  routes all of 127/8 to the loopback), so that no network reaches its limit and every
  response is decrypted, refused and counted: what a flood from many hosts costs.

Ours: the portal as it is now. Baseline: the same portal, same load, without the flood. Each
round, after one warm-up round, runs three batches of sequential Godkend, one request at a time,
by three logged-in signatories of three customers in turn (`POST /aftaler/<version>/godkend`
with session cookie and CSRF token, as bench/http.py sends it; a fresh (CVR, version) pair
each): without the flood (A), with the
one-network flood (B), with the many-network flood (C), in the order A B C A B C ... The
ratios are the medians over the rounds of p50 (and p99) without the flood divided by p50
(p99) with it: 1.0 means the flood costs a signatory nothing (higher is better; the issue
measured about 0.33 before). Log growth is read from the database file during each flood
batch (leaves and their events written, in events/s and bytes/s of leaf + event state) next
to the refusals the portal answered per second: recorded one by one, as before, each refusal
was one event of about 1.5 kB.

Checks: every Godkend answers the redirect to a new receipt; after the run every refusal the
flood was answered with 400 is in a `LoginRefusalsCounted` summary (none lost, none doubled),
no `LoginRejected` was written, and `ledger verify` holds.

    .venv/bin/python bench/flood.py [--quick] [--rounds N]
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import copy
import dataclasses
import http.client
import itertools
import multiprocessing
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from lxml import etree

from approval_ledger.serve import gunicorn_options
from bench.common import parse_arguments, peak_rss_mib, summary_line, verdict
from bench.http import (
    HOST,
    LEDGER,
    PERSONAS,
    Browser,
    free_ports,
    log_in,
    percentile,
    running,
    set_up_portal,
    verify_ledger,
)

# The issue set no figure (it measured a flood tripling a signatory's latency, 0.33, and
# 275 log events a second): no goals.
GOALS: dict[str, float | None] = {
    "godkend_p50_vs_one_network_flood": None,
    "godkend_p99_vs_one_network_flood": None,
    "godkend_p50_vs_many_network_flood": None,
    "godkend_p99_vs_many_network_flood": None,
    "refusals_per_log_event": None,
}
INTERVAL_SECONDS = 5
KINDS = ("none", "one", "many")


@dataclass(frozen=True)
class Sizes:
    rounds: int
    approvals: int  # per batch, one client
    flood_threads: int


QUICK = Sizes(rounds=5, approvals=30, flood_threads=4)
FULL = Sizes(rounds=7, approvals=120, flood_threads=4)


# The flood


@dataclass(frozen=True)
class Forged:
    """Responses to one pending login, and the cookie that makes them pending."""

    cookie: str
    responses: list[str]


def forged_responses(port: int, data_dir: Path, env: dict[str, str], count: int) -> Forged:
    """Start a login from 127.0.0.1 and build `count` responses to it whose IdP signature
    no longer verifies, encrypted to the SP."""
    from development.demo import PERSONS_BY_KEY
    from development.idp import DevelopmentIdP, encode
    from saml import vocabulary as v
    from saml.settings import SamlSettings

    browser = Browser(port)
    started = browser.request("GET", "/saml/login")
    if started.status != 302 or "saml_pending" not in browser.cookies:
        raise RuntimeError(f"/saml/login answered {started.status}")
    idp = DevelopmentIdP.from_settings(SamlSettings.from_env(data_dir, env))
    request_id = idp.read_request(urlsplit(started.location).query).request_id
    browser.close()
    responses = []
    for _ in range(count):
        signed = etree.fromstring(
            etree.tostring(idp.sign(idp.assertion(PERSONS_BY_KEY["aarhus"], request_id)))
        )
        forged = copy.deepcopy(signed)
        value = forged.find(
            f"saml:AttributeStatement/saml:Attribute[@Name='{v.CVR}']/saml:AttributeValue",
            v.NAMESPACES,
        )
        value.text = PERSONS_BY_KEY["odense"].cvr
        responses.append(encode(idp.envelope(idp.encrypt(forged), request_id)))
    return Forged(f"saml_pending={browser.cookies['saml_pending']}", responses)


def source_addresses() -> Iterator[str]:
    """127.N.M.1 for N in 1..254, M in 0..255: one address in each of 65 024 networks."""
    return itertools.cycle(f"127.{n}.{m}.1" for n in range(1, 255) for m in range(256))


class Flood:
    """A process of its own (so that its threads take nothing from the measuring client's
    interpreter) whose threads post forged responses until stopped; what the portal answered."""

    def __init__(self, port: int, forged: Forged, threads: int, many_networks: bool) -> None:
        self.answers: dict[int, int] = {}
        self.failures: list[str] = []
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self._ready = context.Event()
        self._results, sender = context.Pipe(duplex=False)
        bodies = [urlencode({"SAMLResponse": response}) for response in forged.responses]
        self._process = context.Process(
            target=_flood,
            args=(port, forged.cookie, bodies, threads, many_networks),
            kwargs={"ready": self._ready, "stop": self._stop, "results": sender},
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()
        if not self._ready.wait(60):
            raise RuntimeError("the flood process did not start")

    def stop(self) -> None:
        self._stop.set()
        self.answers, self.failures = self._results.recv()
        self._process.join(60)


def _flood(
    port: int,
    cookie: str,
    bodies: list[str],
    threads: int,
    many_networks: bool,
    *,
    ready: Any,
    stop: Any,
    results: Any,
) -> None:
    sources = source_addresses()
    lock = threading.Lock()
    answers: dict[int, int] = {}
    failures: list[str] = []
    headers = {
        "User-Agent": "bench/flood.py",
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": cookie,
    }
    begin = threading.Barrier(threads + 1)

    def post(number: int) -> None:
        mine = itertools.cycle(bodies[number::threads])
        counted: dict[int, int] = {}
        connection: http.client.HTTPConnection | None = None
        begin.wait()
        while not stop.is_set():
            if connection is None:
                with lock:
                    source = (next(sources), 0) if many_networks else None
                connection = http.client.HTTPConnection(
                    HOST, port, timeout=60, source_address=source
                )
            try:
                connection.request("POST", "/saml/acs", next(mine), headers)
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    failures.append(repr(error))
                connection.close()
                connection = None
                continue
            counted[answer.status] = counted.get(answer.status, 0) + 1
            if many_networks or answer.will_close:  # the next from another network
                connection.close()
                connection = None
        if connection is not None:
            connection.close()
        with lock:
            for status, n in counted.items():
                answers[status] = answers.get(status, 0) + n

    workers = [threading.Thread(target=post, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    begin.wait()
    ready.set()
    for worker in workers:
        worker.join()
    results.send((answers, failures[:5]))


# The log, read from the database file while the portal writes it


def log_size(database: Path) -> tuple[int, int]:
    """(events in the log other than approvals, bytes of their leaves and stored state)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        count, size = connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(l.leaf) + length(e.state)), 0) "
            "FROM ledger_leaves l JOIN stored_events e ON e.originator_id = l.originator_id "
            "AND e.originator_version = l.originator_version "
            "WHERE e.topic NOT LIKE '%Approval.Approved'"
        ).fetchone()
    return int(count), int(size)


def events_of(database: Path, topic_end: str) -> list[bytes]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        return [
            state
            for (state,) in connection.execute(
                "SELECT state FROM stored_events WHERE topic LIKE ?", (f"%{topic_end}",)
            )
        ]


# A batch of Godkend, with or without a flood beside it


@dataclass
class Batch:
    kind: str
    seconds: float
    latencies_ms: list[float]
    refusals_400: int = 0
    answers_429: int = 0
    log_events: int = 0
    log_bytes: int = 0
    failures: list[str] = field(default_factory=list)


def run_batch(
    kind: str,
    send: Callable[[tuple[str, Any]], tuple[int, str]],
    pairs: list[tuple[str, Any]],
    flood: Flood | None,
    database: Path,
) -> Batch:
    if flood is not None:
        flood.start()
    events_before, bytes_before = log_size(database)
    began = time.perf_counter()
    latencies, failures = [], []
    for pair in pairs:
        start = time.perf_counter()
        status, location = send(pair)
        latencies.append((time.perf_counter() - start) * 1000)
        if status != 302 or "/kvitteringer/" not in location:
            failures.append(f"{pair}: {status} {location!r}")
    seconds = time.perf_counter() - began
    events_after, bytes_after = log_size(database)
    if flood is not None:
        flood.stop()
        failures += flood.failures[:5]
    batch = Batch(kind, seconds, latencies, failures=failures)
    batch.log_events = events_after - events_before
    batch.log_bytes = bytes_after - bytes_before
    if flood is not None:
        batch.refusals_400 = flood.answers.get(400, 0)
        batch.answers_429 = flood.answers.get(429, 0)
        unexpected = {s: n for s, n in flood.answers.items() if s not in (400, 429)}
        if unexpected:
            failures.append(f"the flood got answers {unexpected}")
    return batch


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds is not None:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    batches: list[Batch] = []
    try:
        (port,) = free_ports(1)
        total = (sizes.rounds + 1) * len(KINDS) * sizes.approvals
        portal = set_up_portal(workdir, port, total)
        env = portal.env | {
            "LEDGER_LOGIN_REFUSAL_INTERVAL_SECONDS": str(INTERVAL_SECONDS),
        }
        database = portal.data_dir / "ledger.sqlite3"
        pairs = [
            (portal.cvrs[persona], version) for version in portal.versions for persona in PERSONAS
        ][:total]
        command = [str(LEDGER), "serve", "--bind", f"{HOST}:{port}", "--workers", "2"]
        with running("ours", command, env, port, workdir):
            tabs = {}  # one signatory of each of three customers, one after another
            for persona in PERSONAS:
                tabs[portal.cvrs[persona]] = tab = Browser(port)
                log_in(tab, persona, f"/aftaler/{portal.versions[0]}")
            forged = forged_responses(port, portal.data_dir, env, 4 * sizes.flood_threads)

            def send(pair: tuple[str, Any]) -> tuple[int, str]:
                tab = tabs[pair[0]]
                answer = tab.request(
                    "POST", f"/aftaler/{pair[1]}/godkend", {"csrf_token": tab.csrf_token}
                )
                return answer.status, answer.location

            work = iter(pairs)
            for round_number in range(sizes.rounds + 1):
                for kind in KINDS:
                    flood = None
                    if kind != "none":
                        flood = Flood(port, forged, sizes.flood_threads, kind == "many")
                    chosen = list(itertools.islice(work, sizes.approvals))
                    batch = run_batch(kind, send, chosen, flood, database)
                    if batch.failures:
                        raise RuntimeError(
                            f"round {round_number}, {kind}: {len(batch.failures)} failures, "
                            "the figures would mean nothing; the first:\n  "
                            + "\n  ".join(batch.failures[:5])
                        )
                    if round_number > 0:  # round 0 warms up
                        batches.append(batch)
            for tab in tabs.values():
                tab.close()
        refused_total = sum(b.refusals_400 for b in batches)
        from ledger.application import LedgerApp
        from ledger.config import Settings

        settings = Settings.from_env(env)
        app = LedgerApp(settings)
        try:
            app.summarize_login_refusals(now=time.time() + 10 * INTERVAL_SECONDS)
            summaries = [
                e.facts()
                for e in app.signed_log.entries()
                if e.event_type == "LoginRefusalsCounted"
            ]
            rejected = [e for e in app.signed_log.entries() if e.event_type == "LoginRejected"]
        finally:
            app.close()
        counted = sum(s["refusals"] for s in summaries)
        summary_bytes = [len(state) for state in events_of(database, "LoginRefusalsCounted")]
        report = verify_ledger(env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if rejected:
        raise RuntimeError(f"{len(rejected)} LoginRejected events: unverified refusals recorded")
    if not report.ok:
        raise RuntimeError(f"the ledger does not verify after the run: {report.summary()}")

    def of(kind: str) -> list[Batch]:
        return [b for b in batches if b.kind == kind]

    def p50s(kind: str) -> list[float]:
        return [statistics.median(b.latencies_ms) for b in of(kind)]

    def p99(values: list[float]) -> float:
        return percentile(values, 99)

    latencies = {kind: [ms for b in of(kind) for ms in b.latencies_ms] for kind in KINDS}
    ratios = {}
    for kind, label in (("one", "one_network"), ("many", "many_network")):
        rounds = zip(p50s("none"), p50s(kind), strict=True)
        ratios[f"godkend_p50_vs_{label}_flood"] = statistics.median(a / b for a, b in rounds)
        # The p99 of one batch would be its slowest request: over every measured request.
        ratios[f"godkend_p99_vs_{label}_flood"] = p99(latencies["none"]) / p99(latencies[kind])

    def rate(kind: str, value: Callable[[Batch], float]) -> float:
        """Per second over every measured batch of the kind (a summary every few seconds
        would make the median of one-second batches zero)."""
        return sum(value(b) for b in of(kind)) / sum(b.seconds for b in of(kind))

    refusal_rate = rate("many", lambda b: b.refusals_400)
    log_rate = rate("many", lambda b: b.log_events)
    # Recorded one by one (before), each refusal was one event: this many refusals per event now.
    ratios["refusals_per_log_event"] = refusal_rate / log_rate if log_rate else float(counted)
    figures: dict[str, Any] = {
        "godkend_ms_p50": statistics.median(latencies["none"]),
        "godkend_ms_p99": percentile(latencies["none"], 99),
        "godkend_ms_p50_one_network_flood": statistics.median(latencies["one"]),
        "godkend_ms_p99_one_network_flood": percentile(latencies["one"], 99),
        "godkend_ms_p50_many_network_flood": statistics.median(latencies["many"]),
        "godkend_ms_p99_many_network_flood": percentile(latencies["many"], 99),
        "flood_refusals_per_s_many_networks": rate("many", lambda b: b.refusals_400),
        "flood_429_per_s_one_network": rate("one", lambda b: b.answers_429),
        "flood_refusals_per_s_one_network": rate("one", lambda b: b.refusals_400),
        "log_events_per_s_many_network_flood": rate("many", lambda b: b.log_events),
        "log_bytes_per_s_many_network_flood": rate("many", lambda b: b.log_bytes),
        "log_events_per_s_one_network_flood": rate("one", lambda b: b.log_events),
        "log_events_per_s_without_flood": rate("none", lambda b: b.log_events),
        "summary_events": len(summaries),
        "summary_event_bytes_median": int(statistics.median(summary_bytes)) if summary_bytes else 0,
        "refusals_counted": counted,
        "refusals_answered_in_measured_rounds": refused_total,
        "counting_interval_s": INTERVAL_SECONDS,
        "approvals_per_batch": sizes.approvals,
        "flood_threads": sizes.flood_threads,
        "rounds": sizes.rounds,
        "peak_rss_mib": peak_rss_mib(),
        "seconds": time.perf_counter() - started,
    }
    if counted < refused_total:
        raise RuntimeError(f"refusals lost: {refused_total} answered 400, {counted} counted")

    serving = gunicorn_options(bind=f"{HOST}:0", workers=2)
    print(
        f"flood{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; `ledger serve` (2 {serving['worker_class']} workers, "
        f"{serving.get('threads', 1)} threads each) on SQLite, rate limit 60 per "
        f"client network and minute, refusals counted per {INTERVAL_SECONDS} s; "
        f"{sizes.rounds} rounds after a warm-up, medians"
    )
    print(
        f"flood: {sizes.flood_threads} threads posting encrypted responses with a broken IdP "
        "signature to a pending login (bad-signature); Godkend: "
        f"{sizes.approvals} per batch, one at a time, by three signatories in turn"
    )
    print(
        f"every refusal counted: {counted} in {len(summaries)} summaries (warm-up included), "
        f"{refused_total} answered 400 in the measured rounds; no LoginRejected; verify holds"
    )
    print()
    header = f"{'Godkend':<36}{'ms p50':>8}{'ms p99':>8}{'flood/s':>9}{'log ev/s':>9}{'log B/s':>9}"
    print(header)
    print("-" * len(header))
    for kind, label in (("none", "without a flood (baseline)"),
                        ("one", "flood from one network"),
                        ("many", "flood from many networks")):  # fmt: skip
        flood_rate = 0.0
        if kind != "none":
            flood_rate = rate(kind, lambda b: b.refusals_400 + b.answers_429)
        print(
            f"{label:<36}{statistics.median(latencies[kind]):>8.1f}"
            f"{percentile(latencies[kind], 99):>8.1f}{flood_rate:>9.0f}"
            f"{rate(kind, lambda b: b.log_events):>9.2f}"
            f"{rate(kind, lambda b: b.log_bytes):>9.0f}"
        )
    print()
    for name, ratio in ratios.items():
        print(f"{name:<44}{ratio:>8.2f}  {verdict(ratio, GOALS[name])}")
    print(summary_line("flood", args.quick, figures, ratios, GOALS))


if __name__ == "__main__":
    main()
