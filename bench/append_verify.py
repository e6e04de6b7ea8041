"""Signed appends and database verification, each next to its honest baseline.

Appends: our ledger application (`LedgerApp`: its recorder signs and chains a leaf per event
in the event's transaction; its `save` makes no checkpoint, `ledger serve`'s checkpointer
does, at a cadence) against a plain `eventsourcing` application, each in a store of its own,
saving the same minimal aggregate with the same payload (checked on the stored rows):

- one writer saving one event per transaction (`append_1writer`, goal 0.5: the leaf row in
  the same fsync is the honest floor);
- 16 writers, 16 threads in this process each saving one event per transaction, against the
  plain application with 16 threads on its own store (`append_16writers`, goal 2.0: group
  commit shares the fsync that plain pays per event);
- on SQLite files in one temporary directory (`eventsourcing.sqlite` for plain), and, when
  `LEDGER_TEST_POSTGRES_URL` names a login that may create databases, the same two on
  PostgreSQL (`_pg`), each side in a new database of its own made for the run and dropped
  after it (`eventsourcing.postgres` with the library's defaults for plain);
- to explain the figures, no goal: 100 new aggregates per `save(...)` call
  (`append_100_per_tx`), and a plain `Application` on our signed recorder
  (`settings.eventsourcing_env()`, `_recorder`), which shows how much of the difference is the
  leaves and how much the application around them (SQLite only).

Aggregates are built before the clock starts, so the timed part is `save` alone; the 16
writers start together at a barrier and a rate is all their events over the wall time.

Checkpoint lag: one writer saves one event at a time, at random moments (exponential gaps,
about 50 a second), while a `Checkpointer` runs at the default `LEDGER_CHECKPOINT_INTERVAL`
as under `ledger serve`; each event's lag is from its commit (its `save` returned) to the
commit of the first checkpoint covering it. The baseline is the interval itself, the promise:
`checkpoint_interval_over_lag_p99` is the interval over the 99th percentile of the lags
(goal 1.0: every write covered within the interval).

Verification: `verify_database` over a ledger of bench events saved 100 per `save` through
`LedgerApp` (SQLite), with `jobs=1` and `jobs=2`. `verify_1core` holds `jobs=1` against raw
`cryptography` Ed25519 verification of exactly the same (message, signature) pairs on one
core (goal 0.85); `verify_jobs_scaling` holds `jobs=2` against twice `jobs=1` (goal 0.9 on
two free cores; a shared machine may not give two). To explain it, no goal: `jobs=2` against
twice raw, and against raw verification in two processes started beforehand (what two cores
give right now).

Each round runs the baseline and ours back to back (A B A B ...) after one warm-up round;
figures are medians over the rounds and each ratio is the median of the per-round ratios,
so that drift on a shared machine hits both sides of every ratio alike.

    .venv/bin/python bench/append_verify.py [--quick] [--rounds N]
    LEDGER_TEST_POSTGRES_URL=postgresql://USER:PASSWORD@HOST:5432/postgres \
        .venv/bin/python bench/append_verify.py --quick
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead (common is bench.common).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import bisect
import dataclasses
import gc
import multiprocessing
import os
import platform
import random
import resource
import secrets
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from approval_ledger.initialize import initialize
from bench.common import (
    POSTGRES_URL_VARIABLE,
    Series,
    ledger_env,
    paired_ratio,
    parse_arguments,
    peak_rss_mib,
    plain_postgres_env,
    postgres_admin_url,
    postgres_databases,
    summary_line,
    timed,
    verdict,
)
from ledger.checkpointer import Checkpointer
from ledger.config import Settings
from ledger.evidence.database import DatabaseURL
from ledger.evidence.keys import VerifierKey
from ledger.evidence.leaf import parse_leaf
from ledger.evidence.tables import CHECKPOINTS_TABLE, EVENTS_TABLE, LEAVES_TABLE
from ledger.evidence.verify import verify_database
from ledger.identity import Actor
from ledger.keyring import KeyRing

# Characters of the note: its stored event is about 920 bytes, the size of an `Approved`.
NOTE_CHARS = 790
BATCH = 100
WRITERS = 16
VERIFY_JOBS = 2
# Goals from the issue; the ratios without one explain the others.
GOALS: dict[str, float | None] = {
    "append_1writer": 0.5,
    "append_16writers": 2.0,
    "append_1writer_pg": 0.5,
    "append_16writers_pg": 2.0,
    "append_100_per_tx": None,
    "append_1writer_recorder": None,
    "append_100_per_tx_recorder": None,
    "checkpoint_interval_over_lag_p99": 1.0,
    "verify_1core": 0.85,
    "verify_jobs_scaling": 0.9,
    "verify_2jobs_over_2raw": None,
    "verify_2jobs_vs_2proc": None,
}
PG_RATIOS = ("append_1writer_pg", "append_16writers_pg")


class BenchItem(Aggregate):
    """The same minimal aggregate for both sides: one created event with a text payload."""

    @event("Noted")
    def __init__(self, note: str) -> None:
        self.note = note


class PlainApp(Application[UUID]):
    """What a user would reach for without signing: the library's own recorder."""

    name = "plain"


class RecorderOnlyApp(Application[UUID]):
    """The library's application on our signed recorder: leaves, but no checkpoints."""

    name = "recorder"


@dataclass(frozen=True)
class Sizes:
    rounds: int
    appends_1tx: int
    appends_100tx: int
    appends_16writers: int  # all writers together
    appends_1tx_pg: int
    appends_16writers_pg: int
    verify_leaves: int
    lag_seconds: float  # how long the writer writes under the checkpointer


QUICK = Sizes(
    rounds=5,
    appends_1tx=200,
    appends_100tx=600,
    appends_16writers=480,
    appends_1tx_pg=120,
    appends_16writers_pg=320,
    verify_leaves=2000,
    lag_seconds=5,
)
FULL = Sizes(
    rounds=7,
    appends_1tx=3000,
    appends_100tx=20000,
    appends_16writers=6400,
    appends_1tx_pg=2000,
    appends_16writers_pg=4800,
    verify_leaves=60000,
    lag_seconds=40,
)
LAG_GAP = 0.02  # mean seconds between the lag writer's saves


def new_items(count: int) -> list[BenchItem]:
    return [BenchItem(secrets.token_hex(NOTE_CHARS // 2)) for _ in range(count)]


def save_rate(app: Application[UUID], count: int, per_transaction: int) -> float:
    items = new_items(count)
    batches = [items[i : i + per_transaction] for i in range(0, count, per_transaction)]

    def save_all() -> int:
        for batch in batches:
            app.save(*batch)
        return count

    return timed(save_all)


def concurrent_save_rate(app: Application[UUID], count: int, writers: int) -> float:
    """`writers` threads, started together, each saving its share one event per `save`:
    all the events over the wall time from the start to the last thread's end."""
    items = new_items(count)
    shares = [items[i::writers] for i in range(writers)]
    start = threading.Barrier(writers + 1)
    failures: list[BaseException] = []

    def write(share: list[BenchItem]) -> None:
        start.wait()
        try:
            for item in share:
                app.save(item)
        except BaseException as error:  # reported below, after every thread has ended
            failures.append(error)

    threads = [threading.Thread(target=write, args=(share,), daemon=True) for share in shares]
    for thread in threads:
        thread.start()
    gc.collect()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} of {writers} writers failed") from failures[0]
    return count / seconds


def stored_sizes(path: Path) -> list[int]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            f"SELECT length(state) FROM {EVENTS_TABLE} WHERE topic LIKE '%BenchItem.Noted'"
        ).fetchall()
    return sorted(size for (size,) in rows)


def stored_sizes_pg(url: str, table: str) -> list[int]:
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            f"SELECT octet_length(state) FROM {table} WHERE topic LIKE %s", ("%BenchItem.Noted",)
        ).fetchall()
    return sorted(size for (size,) in rows)


def ledger_settings(directory: Path, database_url: str | None = None) -> Settings:
    return Settings.from_env(
        ledger_env(directory, database_url) | {"LEDGER_ORIGIN": "bench.example/ledger"}
    )


def measure_appends(
    workdir: Path, sizes: Sizes, postgres: tuple[str, str] | None
) -> dict[str, Series]:
    """Rates by `<side>_<kind>` (kinds 1w, 100tx, 16w; 1w_pg, 16w_pg with `postgres`, the
    URLs of two new databases: ours, plain); every store must hold the same payload."""
    operator = Actor(Actor.OPERATOR, "bench")
    settings = ledger_settings(workdir / "signed")
    recorder_settings = ledger_settings(workdir / "recorder")
    plain_db = workdir / "plain.sqlite3"
    apps: dict[str, Application[UUID]] = {}
    # (kind, side, app, count, writers, events per save), in the order each round runs them.
    plan: list[tuple[str, str, str, int, int, int]] = []
    try:
        apps["plain"] = PlainApp(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(plain_db),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        )
        apps["ours"] = initialize(settings, operator).app
        initialize(recorder_settings, operator).app.close()
        apps["recorder"] = RecorderOnlyApp(env=recorder_settings.eventsourcing_env())
        for side in ("plain", "ours", "recorder"):
            plan.append(("1w", side, side, sizes.appends_1tx, 1, 1))
        for side in ("plain", "ours", "recorder"):
            plan.append(("100tx", side, side, sizes.appends_100tx, 1, BATCH))
        for side in ("plain", "ours"):
            plan.append(("16w", side, side, sizes.appends_16writers, WRITERS, 1))
        if postgres is not None:
            ours_url, plain_url = postgres
            apps["plain_pg"] = PlainApp(env=plain_postgres_env(plain_url))
            apps["ours_pg"] = initialize(ledger_settings(workdir / "pg", ours_url), operator).app
            for side in ("plain", "ours"):
                plan.append(("1w_pg", side, f"{side}_pg", sizes.appends_1tx_pg, 1, 1))
            for side in ("plain", "ours"):
                plan.append(("16w_pg", side, f"{side}_pg", sizes.appends_16writers_pg, WRITERS, 1))
        series = {f"{side}_{kind}": Series() for kind, side, *_ in plan}
        for round_number in range(sizes.rounds + 1):
            for kind, side, app_name, count, writers, per_save in plan:
                app = apps[app_name]
                if writers == 1:
                    rate = save_rate(app, count, per_save)
                else:
                    rate = concurrent_save_rate(app, count, writers)
                if round_number > 0:  # round 0 warms up
                    series[f"{side}_{kind}"].rates.append(rate)
    finally:
        for app in apps.values():
            app.close()
    # A timestamp whose microseconds are 0 is stored 7 bytes shorter: compare medians.
    payloads = {"plain": statistics.median(stored_sizes(plain_db))}
    for name, other in (("ours", settings), ("recorder", recorder_settings)):
        assert other.database.sqlite_path is not None
        payloads[name] = statistics.median(stored_sizes(other.database.sqlite_path))
    if postgres is not None:
        payloads["ours_pg"] = statistics.median(stored_sizes_pg(postgres[0], EVENTS_TABLE))
        payloads["plain_pg"] = statistics.median(stored_sizes_pg(postgres[1], "plain_events"))
    if len({payloads["plain"], payloads["ours"], payloads["recorder"]}) != 1 or (
        postgres is not None and payloads["ours_pg"] != payloads["plain_pg"]
    ):
        raise RuntimeError(f"the sides stored payloads of different sizes: {payloads}")
    return series


@dataclass(frozen=True)
class VerifyFixture:
    url: DatabaseURL
    keys: dict[str, VerifierKey]
    leaves: int
    pairs: list[tuple[bytes, bytes]]
    public_key: Ed25519PublicKey
    payload_bytes: int
    leaf_bytes: int
    message_bytes: int
    checkpoints: int


def build_verify_fixture(workdir: Path, sizes: Sizes) -> VerifyFixture:
    """A ledger holding `verify_leaves` bench events, and its leaves' signed messages."""
    settings = ledger_settings(workdir / "verify")
    app = initialize(settings, Actor(Actor.OPERATOR, "bench")).app
    try:
        for start in range(1, sizes.verify_leaves, BATCH):
            app.save(*new_items(min(BATCH, sizes.verify_leaves - start)))
            app.signed_log.checkpoint()  # about what the cadence makes, a batch at a time
    finally:
        app.close()
    keys = KeyRing(settings.keys_dir).verifier_keys()
    (key,) = keys.values()
    assert settings.database.sqlite_path is not None
    with sqlite3.connect(settings.database.sqlite_path) as connection:
        leaves = [bytes(leaf) for (leaf,) in connection.execute(f"SELECT leaf FROM {LEAVES_TABLE}")]
        ((checkpoints,),) = connection.execute(f"SELECT COUNT(*) FROM {CHECKPOINTS_TABLE}")
    signed = [parse_leaf(leaf) for leaf in leaves]
    return VerifyFixture(
        url=settings.database,
        keys=keys,
        leaves=len(leaves),
        pairs=[(s.message, s.signature) for s in signed],
        public_key=Ed25519PublicKey.from_public_bytes(key.public_key),
        payload_bytes=int(statistics.median(stored_sizes(settings.database.sqlite_path))),
        leaf_bytes=int(statistics.median(len(leaf) for leaf in leaves)),
        message_bytes=int(statistics.median(len(s.message) for s in signed)),
        checkpoints=checkpoints,
    )


def raw_verify_rate(fixture: VerifyFixture) -> float:
    verify = fixture.public_key.verify

    def verify_all() -> int:
        for message, signature in fixture.pairs:
            verify(signature, message)
        return len(fixture.pairs)

    return timed(verify_all)


def ledger_verify_rate(fixture: VerifyFixture, jobs: int) -> float:
    def verify_all() -> int:
        report = verify_database(fixture.url, fixture.keys, jobs=jobs)
        if not report.ok or report.leaves != fixture.leaves:
            raise RuntimeError(f"the bench ledger does not verify: {report.summary()}")
        return report.leaves

    return timed(verify_all)


_raw_worker: tuple[Ed25519PublicKey, list[tuple[bytes, bytes]]] | None = None


def _start_raw_worker(public_key: bytes, pairs: list[tuple[bytes, bytes]]) -> None:
    global _raw_worker
    _raw_worker = (Ed25519PublicKey.from_public_bytes(public_key), pairs)


def _raw_verify_share(share: tuple[int, int]) -> int:
    """Verify every `step`-th pair from `first`: one process's share of the raw baseline."""
    assert _raw_worker is not None
    public_key, pairs = _raw_worker
    first, step = share
    for message, signature in pairs[first::step]:
        public_key.verify(signature, message)
    return len(pairs[first::step])


def measure_verification(fixture: VerifyFixture, sizes: Sizes) -> dict[str, Series]:
    """Rates of raw Ed25519 (one process, and two started beforehand) and of our verifier.

    Two raw processes show what two cores give right now (a shared machine may not give
    two); our `jobs=2` starts its workers inside the timed call, as `ledger verify` does.
    """
    series = {name: Series() for name in ("raw", "raw2", "jobs1", "jobs2")}
    public = fixture.public_key.public_bytes_raw()
    context = multiprocessing.get_context("spawn")
    with context.Pool(2, _start_raw_worker, (public, fixture.pairs)) as pool:
        pool.map(_raw_verify_share, [(0, 100), (1, 100)])  # the workers are up and warm

        def raw_two() -> int:
            return sum(pool.map(_raw_verify_share, [(0, 2), (1, 2)], chunksize=1))

        for round_number in range(sizes.rounds + 1):
            rates = {
                "raw": raw_verify_rate(fixture),
                "raw2": timed(raw_two),
                "jobs1": ledger_verify_rate(fixture, 1),
                "jobs2": ledger_verify_rate(fixture, 2),
            }
            if round_number > 0:
                for name, rate in rates.items():
                    series[name].rates.append(rate)
    return series


@dataclass(frozen=True)
class Lag:
    interval: float
    lags: list[float]  # seconds, one per write
    checkpoints: int

    def quantile(self, fraction: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_checkpoint_lag(workdir: Path, sizes: Sizes) -> Lag:
    """Each write's time from commit to the commit of the first checkpoint covering it."""
    settings = ledger_settings(workdir / "cadence")
    app = initialize(settings, Actor(Actor.OPERATOR, "bench")).app
    app.signed_log.checkpoint()  # the log's first event, before the clock starts
    made: list[tuple[int, float]] = []  # (size, committed at), in order: one checkpointer

    def advance() -> Any:
        checkpoint = app.signed_log.advance_checkpoint()
        if checkpoint is not None:
            made.append((checkpoint.size, time.monotonic()))
        return checkpoint

    committed: list[tuple[int, float]] = []
    last = app.signed_log.last_leaf()
    assert last is not None
    seq = last.seq + 1
    rng = random.Random(11)
    pause = threading.Event()
    checkpointer = Checkpointer(advance, settings.checkpoint_interval).start()
    try:
        stop_at = time.monotonic() + sizes.lag_seconds
        while time.monotonic() < stop_at:
            app.save(*new_items(1))
            committed.append((seq, time.monotonic()))
            seq += 1
            pause.wait(rng.expovariate(1 / LAG_GAP))
        give_up = time.monotonic() + 10 * settings.checkpoint_interval + 30
        while not made or made[-1][0] < seq:
            if time.monotonic() > give_up:
                raise RuntimeError("the checkpointer did not cover the last write")
            pause.wait(0.01)
    finally:
        checkpointer.stop()
        app.close()
    if checkpointer.failures:
        raise RuntimeError("the checkpointer failed during the run")
    sizes_made = [size for size, _ in made]
    lags = []
    for event_seq, at in committed:
        first = bisect.bisect_right(sizes_made, event_seq)  # the first size > seq covers it
        lags.append(made[first][1] - at)
    return Lag(settings.checkpoint_interval, lags, len(made))


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds is not None:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-append-verify-"))
    admin_url = postgres_admin_url()
    seconds: dict[str, float] = {}
    try:
        with postgres_databases(admin_url, "bench_append_ours", "bench_append_plain") as made:
            postgres = (made[0], made[1]) if made is not None else None  # ours, plain
            appends = measure_appends(workdir, sizes, postgres)
        seconds["appends"] = time.perf_counter() - started
        fixture = build_verify_fixture(workdir, sizes)
        verification = measure_verification(fixture, sizes)
        seconds["verify"] = time.perf_counter() - started - seconds["appends"]
        lag = measure_checkpoint_lag(workdir, sizes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def append_ratio(ours: str, kind: str) -> float:
        return paired_ratio(appends[f"{ours}_{kind}"], appends[f"plain_{kind}"])

    ratios = {
        "append_1writer": append_ratio("ours", "1w"),
        "append_16writers": append_ratio("ours", "16w"),
    }
    if postgres is not None:
        ratios["append_1writer_pg"] = append_ratio("ours", "1w_pg")
        ratios["append_16writers_pg"] = append_ratio("ours", "16w_pg")
    jobs = f"jobs{VERIFY_JOBS}"
    ratios |= {
        "append_100_per_tx": append_ratio("ours", "100tx"),
        "append_1writer_recorder": append_ratio("recorder", "1w"),
        "append_100_per_tx_recorder": append_ratio("recorder", "100tx"),
        "checkpoint_interval_over_lag_p99": lag.interval / lag.quantile(0.99),
        "verify_1core": paired_ratio(verification["jobs1"], verification["raw"]),
        "verify_jobs_scaling": paired_ratio(verification[jobs], verification["jobs1"], VERIFY_JOBS),
        "verify_2jobs_over_2raw": paired_ratio(verification[jobs], verification["raw"], 2.0),
        "verify_2jobs_vs_2proc": paired_ratio(verification[jobs], verification["raw2"]),
    }
    goals = {name: goal for name, goal in GOALS.items() if name in ratios}
    figures: dict[str, Any] = {
        "plain_appends_per_s": appends["plain_1w"].median,
        "signed_appends_per_s": appends["ours_1w"].median,
        "plain_appends_16writers_per_s": appends["plain_16w"].median,
        "signed_appends_16writers_per_s": appends["ours_16w"].median,
        "plain_appends_100tx_per_s": appends["plain_100tx"].median,
        "signed_appends_100tx_per_s": appends["ours_100tx"].median,
        "recorder_only_appends_per_s": appends["recorder_1w"].median,
        "recorder_only_appends_100tx_per_s": appends["recorder_100tx"].median,
    }
    if postgres is not None:
        figures |= {
            "plain_pg_appends_per_s": appends["plain_1w_pg"].median,
            "signed_pg_appends_per_s": appends["ours_1w_pg"].median,
            "plain_pg_appends_16writers_per_s": appends["plain_16w_pg"].median,
            "signed_pg_appends_16writers_per_s": appends["ours_16w_pg"].median,
        }
    figures |= {
        "raw_ed25519_verify_per_s": verification["raw"].median,
        "raw_ed25519_verify_2proc_per_s": verification["raw2"].median,
        "verify_jobs1_per_s": verification["jobs1"].median,
        "verify_jobs2_per_s": verification[jobs].median,
        "peak_rss_mib": peak_rss_mib(resource.RUSAGE_SELF),
        "peak_rss_children_mib": peak_rss_mib(resource.RUSAGE_CHILDREN),
        "payload_bytes": fixture.payload_bytes,
        "leaf_bytes": fixture.leaf_bytes,
        "signed_message_bytes": fixture.message_bytes,
        "rounds": sizes.rounds,
        "writers": WRITERS,
        "appends_1tx_per_round": sizes.appends_1tx,
        "appends_100tx_per_round": sizes.appends_100tx,
        "appends_16writers_per_round": sizes.appends_16writers,
        "verify_leaves": fixture.leaves,
        "verify_checkpoints": fixture.checkpoints,
        "checkpoint_interval_s": lag.interval,
        "checkpoint_lag_p50_ms": 1000 * lag.quantile(0.50),
        "checkpoint_lag_p99_ms": 1000 * lag.quantile(0.99),
        "checkpoint_lag_max_ms": 1000 * max(lag.lags),
        "checkpoint_lag_writes": len(lag.lags),
        "checkpoint_lag_checkpoints": lag.checkpoints,
        "appends_seconds": seconds["appends"],
        "verify_seconds": seconds["verify"],
        "seconds": time.perf_counter() - started,
    }

    pg_text = (
        f"PostgreSQL {postgres_version(admin_url)} at {DatabaseURL.parse(admin_url).host}, "
        "a new database per side"
        if admin_url is not None
        else f"no PostgreSQL ({POSTGRES_URL_VARIABLE} is not set)"
    )
    print(
        f"append_verify{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, SQLite files in {tempfile.gettempdir()}, {pg_text}; "
        f"{sizes.rounds} rounds after a warm-up, medians"
    )
    print(
        f"stored payload {fixture.payload_bytes} B (every side's median the same), leaf "
        f"{fixture.leaf_bytes} B, signed message {fixture.message_bytes} B; per side per round "
        f"{sizes.appends_1tx} appends by 1 writer, {sizes.appends_100tx} 100 per save, "
        f"{sizes.appends_16writers} by {WRITERS} writer threads"
        + (
            f", on PostgreSQL {sizes.appends_1tx_pg} by 1 and {sizes.appends_16writers_pg} "
            f"by {WRITERS}"
            if postgres is not None
            else ""
        )
        + f"; {fixture.leaves} leaves verified (saved 100 per save, "
        f"{fixture.checkpoints} checkpoints)"
    )
    print()
    header = f"{'measure':<44}{'baseline/s':>12}{'ours/s':>12}{'ratio':>8}{'goal':>7}  verdict"
    print(header)
    print("-" * len(header))

    def row(label: str, baseline: float, ours: float, key: str) -> None:
        goal = GOALS[key]
        goal_text = f"{goal:.2f}" if goal is not None else "-"
        print(
            f"{label:<44}{baseline:>12,.0f}{ours:>12,.0f}{ratios[key]:>8.2f}{goal_text:>7}  "
            f"{verdict(ratios[key], goal)}"
        )

    append_rows = [
        ("SQLite, 1 writer, 1 event per transaction", "ours", "1w", "append_1writer"),
        (f"SQLite, {WRITERS} writers, 1 event per tx each", "ours", "16w", "append_16writers"),
    ]
    if postgres is not None:
        append_rows += [
            ("PostgreSQL, 1 writer, 1 event per tx", "ours", "1w_pg", "append_1writer_pg"),
            (f"PostgreSQL, {WRITERS} writers, 1 event per tx", "ours", "16w_pg",
             "append_16writers_pg"),
        ]  # fmt: skip
    append_rows += [
        ("  SQLite, 1 writer, signed recorder only", "recorder", "1w", "append_1writer_recorder"),
        ("  SQLite, 100 events per transaction", "ours", "100tx", "append_100_per_tx"),
        ("  ... signed recorder only", "recorder", "100tx", "append_100_per_tx_recorder"),
    ]
    for label, side, kind, key in append_rows:
        row(label, appends[f"plain_{kind}"].median, appends[f"{side}_{kind}"].median, key)
    raw = verification["raw"].median
    jobs1 = verification["jobs1"].median
    row("verify jobs=1 vs raw Ed25519, 1 core", raw, jobs1, "verify_1core")
    jobs2, raw2 = verification[jobs].median, verification["raw2"].median
    row(f"verify jobs={VERIFY_JOBS} vs {VERIFY_JOBS} x jobs=1", VERIFY_JOBS * jobs1, jobs2,
        "verify_jobs_scaling")  # fmt: skip
    row(f"  vs {VERIFY_JOBS} x raw Ed25519", VERIFY_JOBS * raw, jobs2, "verify_2jobs_over_2raw")
    row(f"  vs raw Ed25519 in {VERIFY_JOBS} processes", raw2, jobs2, "verify_2jobs_vs_2proc")
    interval_ms = 1000 * lag.interval
    goal = GOALS["checkpoint_interval_over_lag_p99"]
    assert goal is not None
    ratio = ratios["checkpoint_interval_over_lag_p99"]
    print(
        f"{'checkpoint lag p99 (ms) vs the interval':<44}{interval_ms:>12,.0f}"
        f"{figures['checkpoint_lag_p99_ms']:>12,.0f}{ratio:>8.2f}{goal:>7.2f}  "
        f"{verdict(ratio, goal)}"
    )
    print()
    print(
        f"checkpoint lag: {len(lag.lags)} writes over {sizes.lag_seconds:.0f} s, "
        f"{lag.checkpoints} checkpoints; p50 {figures['checkpoint_lag_p50_ms']:.0f} ms, "
        f"p99 {figures['checkpoint_lag_p99_ms']:.0f} ms, max "
        f"{figures['checkpoint_lag_max_ms']:.0f} ms at an interval of {interval_ms:.0f} ms"
    )
    print(
        f"verify jobs={VERIFY_JOBS} includes starting its workers, as `ledger verify --jobs` "
        f"does; raw in {VERIFY_JOBS} processes started beforehand shows what the cores give now"
    )
    print(
        f"peak RSS: this process {figures['peak_rss_mib']:.0f} MiB; largest verify worker "
        f"{figures['peak_rss_children_mib']:.0f} MiB (Linux counts in a worker the memory this "
        f"process had when it started it); run took {figures['seconds']:.0f} s (appends "
        f"{seconds['appends']:.0f} s, verification {seconds['verify']:.0f} s)"
    )
    print(summary_line("append_verify", args.quick, figures, ratios, goals))


def postgres_version(admin_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


if __name__ == "__main__":
    main()
