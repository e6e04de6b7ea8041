"""Signed appends and database verification, each next to its honest baseline.

Appends: our ledger application (`LedgerApp`: its recorder signs and chains a leaf per event
in the event's transaction; its `save` makes no checkpoint, `ledger serve`'s checkpointer
does, at a cadence) against a plain `eventsourcing` application on `eventsourcing.sqlite`,
both on an SQLite file in one temporary directory, saving the same minimal aggregate with
the same payload: once one event per transaction, once 100 new aggregates per `save(...)`
call. Aggregates are built before the clock starts, so the timed part is `save` alone. A
third side, a plain `Application` on our signed recorder (`settings.eventsourcing_env()`),
shows how much of the difference is the leaves and how much the application around them.

Checkpoint lag: one writer saves one event at a time, at random moments (exponential gaps,
about 50 a second), while a `Checkpointer` runs at the default `LEDGER_CHECKPOINT_INTERVAL`
as under `ledger serve`; each event's lag is from its commit (its `save` returned) to the
commit of the first checkpoint covering it. The baseline is the interval itself, the promise:
`checkpoint_interval_over_lag_p99` is the interval over the 99th percentile of the lags
(goal 1.0: every write covered within the interval).

Verification: `verify_database` over a ledger of bench events saved 100 per `save` through
`LedgerApp`, with `jobs=1` and `jobs=2`, against raw `cryptography` Ed25519 verification of
exactly the same (message, signature) pairs on one core; `jobs=2` is held against twice
the one-core figure, and against raw verification in two processes started beforehand
(what two cores give right now: on a shared machine that may be less than twice one).

Each round runs the baseline and ours back to back (A B A B ...) after one warm-up round;
figures are medians over the rounds and each ratio is the median of the per-round ratios,
so that drift on a shared machine hits both sides of every ratio alike.

    .venv/bin/python bench/append_verify.py [--quick] [--rounds N]
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead (common is bench.common).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import bisect
import dataclasses
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
    Series,
    paired_ratio,
    parse_arguments,
    peak_rss_mib,
    summary_line,
    timed,
    verdict,
)
from ledger.application import LedgerApp
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
# Goals from the issue; the recorder-only and 100-per-transaction ratios explain, no goal.
GOALS: dict[str, float | None] = {
    "append_1tx": 0.8,
    "append_100tx": None,
    "append_1tx_recorder": None,
    "append_100tx_recorder": None,
    "verify_1core": 0.85,
    "verify_2jobs": 0.85,
    "verify_2jobs_vs_2proc": 0.85,
    "checkpoint_interval_over_lag_p99": 1.0,
}


class BenchItem(Aggregate):
    """The same minimal aggregate for both sides: one created event with a text payload."""

    @event("Noted")
    def __init__(self, note: str) -> None:
        self.note = note


class PlainApp(Application[UUID]):
    """What a user would reach for without signing: the library's SQLite recorder."""

    name = "plain"


class RecorderOnlyApp(Application[UUID]):
    """The library's application on our signed recorder: leaves, but no checkpoints."""

    name = "recorder"


@dataclass(frozen=True)
class Sizes:
    rounds: int
    appends_1tx: int
    appends_100tx: int
    verify_leaves: int
    lag_seconds: float  # how long the writer writes under the checkpointer


QUICK = Sizes(rounds=5, appends_1tx=400, appends_100tx=2000, verify_leaves=4000, lag_seconds=8)
FULL = Sizes(rounds=7, appends_1tx=3000, appends_100tx=20000, verify_leaves=60000, lag_seconds=40)
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


def stored_sizes(path: Path) -> list[int]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            f"SELECT length(state) FROM {EVENTS_TABLE} WHERE topic LIKE '%BenchItem.Noted'"
        ).fetchall()
    return sorted(size for (size,) in rows)


def ledger_settings(directory: Path) -> Settings:
    return Settings.from_env(
        {"LEDGER_DATA_DIR": str(directory), "LEDGER_ORIGIN": "bench.example/ledger"}
    )


SIDES = ("plain", "ours", "recorder")


def measure_appends(workdir: Path, sizes: Sizes) -> dict[str, Series]:
    """Rates by `<side>_1tx` and `<side>_100tx`."""
    settings = ledger_settings(workdir / "signed")
    recorder_settings = ledger_settings(workdir / "recorder")
    plain_db = workdir / "plain.sqlite3"
    ours: LedgerApp = initialize(settings, Actor(Actor.OPERATOR, "bench")).app
    apps: dict[str, Application[UUID]] = {
        "plain": PlainApp(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(plain_db),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        ),
        "ours": ours,
    }
    initialize(recorder_settings, Actor(Actor.OPERATOR, "bench")).app.close()
    apps["recorder"] = RecorderOnlyApp(env=recorder_settings.eventsourcing_env())
    series = {f"{side}_{n}": Series() for n in ("1tx", "100tx") for side in SIDES}
    try:
        for round_number in range(sizes.rounds + 1):
            rates = {}
            for side in SIDES:
                rates[f"{side}_1tx"] = save_rate(apps[side], sizes.appends_1tx, 1)
            for side in SIDES:
                rates[f"{side}_100tx"] = save_rate(apps[side], sizes.appends_100tx, BATCH)
            if round_number > 0:  # round 0 warms up
                for name, rate in rates.items():
                    series[name].rates.append(rate)
    finally:
        for app in apps.values():
            app.close()
    # A timestamp whose microseconds are 0 is stored 7 bytes shorter: compare medians.
    expected = statistics.median(stored_sizes(plain_db))
    for other in (settings, recorder_settings):
        assert other.database.sqlite_path is not None
        if statistics.median(stored_sizes(other.database.sqlite_path)) != expected:
            raise RuntimeError("the sides stored payloads of different sizes")
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
    try:
        appends = measure_appends(workdir, sizes)
        fixture = build_verify_fixture(workdir, sizes)
        verification = measure_verification(fixture, sizes)
        lag = measure_checkpoint_lag(workdir, sizes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ratios = {
        "append_1tx": paired_ratio(appends["ours_1tx"], appends["plain_1tx"]),
        "append_100tx": paired_ratio(appends["ours_100tx"], appends["plain_100tx"]),
        "append_1tx_recorder": paired_ratio(appends["recorder_1tx"], appends["plain_1tx"]),
        "append_100tx_recorder": paired_ratio(appends["recorder_100tx"], appends["plain_100tx"]),
        "verify_1core": paired_ratio(verification["jobs1"], verification["raw"]),
        "verify_2jobs": paired_ratio(verification["jobs2"], verification["raw"], 2.0),
        "verify_2jobs_vs_2proc": paired_ratio(verification["jobs2"], verification["raw2"]),
        "checkpoint_interval_over_lag_p99": lag.interval / lag.quantile(0.99),
    }
    speedup = paired_ratio(verification["jobs2"], verification["jobs1"])
    figures: dict[str, Any] = {
        "plain_appends_per_s": appends["plain_1tx"].median,
        "signed_appends_per_s": appends["ours_1tx"].median,
        "plain_appends_100tx_per_s": appends["plain_100tx"].median,
        "signed_appends_100tx_per_s": appends["ours_100tx"].median,
        "recorder_only_appends_per_s": appends["recorder_1tx"].median,
        "recorder_only_appends_100tx_per_s": appends["recorder_100tx"].median,
        "raw_ed25519_verify_per_s": verification["raw"].median,
        "raw_ed25519_verify_2proc_per_s": verification["raw2"].median,
        "verify_jobs1_per_s": verification["jobs1"].median,
        "verify_jobs2_per_s": verification["jobs2"].median,
        "verify_jobs2_speedup": speedup,
        "peak_rss_mib": peak_rss_mib(resource.RUSAGE_SELF),
        "peak_rss_children_mib": peak_rss_mib(resource.RUSAGE_CHILDREN),
        "payload_bytes": fixture.payload_bytes,
        "leaf_bytes": fixture.leaf_bytes,
        "signed_message_bytes": fixture.message_bytes,
        "rounds": sizes.rounds,
        "appends_1tx_per_round": sizes.appends_1tx,
        "appends_100tx_per_round": sizes.appends_100tx,
        "verify_leaves": fixture.leaves,
        "verify_checkpoints": fixture.checkpoints,
        "checkpoint_interval_s": lag.interval,
        "checkpoint_lag_p50_ms": 1000 * lag.quantile(0.50),
        "checkpoint_lag_p99_ms": 1000 * lag.quantile(0.99),
        "checkpoint_lag_max_ms": 1000 * max(lag.lags),
        "checkpoint_lag_writes": len(lag.lags),
        "checkpoint_lag_checkpoints": lag.checkpoints,
        "seconds": time.perf_counter() - started,
    }

    print(
        f"append_verify{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, SQLite files in {tempfile.gettempdir()}; "
        f"{sizes.rounds} rounds after a warm-up, medians"
    )
    print(
        f"stored payload {fixture.payload_bytes} B, leaf {fixture.leaf_bytes} B, "
        f"signed message {fixture.message_bytes} B; {sizes.appends_1tx} + "
        f"{sizes.appends_100tx} appends per side per round; {fixture.leaves} leaves verified "
        f"(saved 100 per save, {fixture.checkpoints} checkpoints)"
    )
    print()
    header = f"{'measure':<40}{'baseline/s':>12}{'ours/s':>12}{'ratio':>8}{'goal':>7}  verdict"
    print(header)
    print("-" * len(header))

    def row(label: str, baseline: float, ours: float, key: str) -> None:
        goal = GOALS[key]
        goal_text = f"{goal:.2f}" if goal is not None else "-"
        print(
            f"{label:<40}{baseline:>12,.0f}{ours:>12,.0f}{ratios[key]:>8.2f}{goal_text:>7}  "
            f"{verdict(ratios[key], goal)}"
        )

    for label, side, key in (
        ("appends, 1 event per transaction", "ours", "append_1tx"),
        ("  signed recorder only (no LedgerApp)", "recorder", "append_1tx_recorder"),
        ("appends, 100 events per transaction", "ours", "append_100tx"),
        ("  signed recorder only (no LedgerApp)", "recorder", "append_100tx_recorder"),
    ):
        per_tx = key.split("_")[1]
        row(label, appends[f"plain_{per_tx}"].median, appends[f"{side}_{per_tx}"].median, key)
    raw = verification["raw"].median
    row("verify jobs=1 vs raw Ed25519, 1 core", raw, verification["jobs1"].median, "verify_1core")
    jobs2, raw2 = verification["jobs2"].median, verification["raw2"].median
    row("verify jobs=2 vs 2 x raw Ed25519", 2 * raw, jobs2, "verify_2jobs")
    row("  vs raw Ed25519 in 2 processes", raw2, jobs2, "verify_2jobs_vs_2proc")
    interval_ms = 1000 * lag.interval
    goal = GOALS["checkpoint_interval_over_lag_p99"]
    ratio = ratios["checkpoint_interval_over_lag_p99"]
    print(
        f"{'checkpoint lag p99 (ms) vs the interval':<40}{interval_ms:>12,.0f}"
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
    print(f"verify jobs=2 speed-up over jobs=1: {speedup:.2f}x (includes starting the workers)")
    print(
        f"peak RSS: this process {figures['peak_rss_mib']:.0f} MiB; largest verify worker "
        f"{figures['peak_rss_children_mib']:.0f} MiB (Linux counts in a worker the memory this "
        f"process had when it started it); run took {figures['seconds']:.0f} s"
    )
    print(summary_line("append_verify", args.quick, figures, ratios, GOALS))


if __name__ == "__main__":
    main()
