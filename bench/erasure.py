"""Erasure at scale (issue 14): erasing one person's data in a log of 1,000,000 events against
the same in a log of 10,000, and a retention run over 100,000 due refused logins against plain
deletes of the same rows, each measured with its baseline in the same run.

`erase_flat_1m`: both logs hold the same mix, what a log takes for years: summaries of refused
logins (no personal data, imported with `ledger import`'s bulk path, as bench/scale.py fills
its logs) and, one event in twenty, a refused login of a different person (its UUID and
assertion id committed: two personal values each). Each round records three refused logins of
a new person in each log, then times `Eraser.erase_person` for that person (the erasure
event, its openings, the search index's UUIDs, the catch-up of the format 1 index, the WAL
checkpoint; PostgreSQL's VACUUM is the retention run's, not an erasure on request's), the two
logs alternating. The ratio is the median of the rounds' time
at 10,000 over the time at the large size: 1.0 is flat, and erasing one subject touches only
that subject's rows when it is near 1.

`retention_over_delete`: a log of N refused logins of N people, all due under the refusal rule
(`--as-of` a year later). Each round copies the log twice (the SQLite file, or a PostgreSQL
database made from it as a template) and times, on one copy, the retention run
(`Eraser.run`: planning, the signed erasure event, the openings' DELETE and the row naming the
erasure, SQLite's WAL checkpoint), and on the other the baseline a user would write: plain
deletes of the same rows, in one transaction: `DELETE FROM ledger_personal_data WHERE kind =
'refusal' AND event_time < cutoff`, `DELETE FROM ledger_event_index_refused WHERE event_time <
cutoff` (the refused logins' persons beside the search index, which the run deletes too) and
COMMIT. The ratio is ours over the baseline in values per second (the median of the
per-round ratios). Until 2026-12-02 the baseline was the first DELETE alone, two thirds of
the rows; that ratio is still printed, as the figure `retention_over_openings_delete`. The
run's upkeep after its erasures, PostgreSQL's VACUUM (`Eraser.reclaim`, which `ledger
retention run` and the daily job run next and the baseline does not), is timed apart:
`retention_vacuum_ms_pg`, and `retention_with_vacuum_over_delete_pg` the ratio with it.
The goal is read at the full size: at --quick's the run's fixed costs (planning, the signed
event) weigh more against a DELETE of a few milliseconds.

On PostgreSQL (when LEDGER_TEST_POSTGRES_URL is set) the same, 200,000 events against 10,000.

    .venv/bin/python bench/erasure.py [--quick] [--rounds N]

`--quick`: 20,000 events against 2,000 and 5,000 due refusals (PostgreSQL 10,000, 2,000 and
20,000), to finish in about two minutes (on a quiet machine).
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import contextlib
import os
import platform
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from approval_ledger.initialize import initialize
from bench import common
from bench.common import Series, paired_ratio, parse_arguments, peak_rss_mib, summary_line
from bench.scale import refusal_lines
from ledger.application import LedgerApp
from ledger.bulk import import_events
from ledger.config import Settings
from ledger.domain import LoginRejection
from ledger.erasure import Eraser, months_before
from ledger.evidence.tables import PERSONAL_DATA_TABLE
from ledger.identity import Actor
from ledger.search import REFUSED, EventIndex

GOALS: dict[str, float | None] = {"erase_flat_1m": 0.8, "retention_over_delete": 0.5}
OPERATOR = Actor.cli_operator()
REJECTED_EVERY = 20  # one event in twenty is a refused login of a person
SAVED_AT_ONCE = 500
LATER = datetime.now(UTC) + timedelta(days=400)  # every refused login is due by then


@dataclass(frozen=True)
class Sizes:
    base: int
    large: int
    due: int  # refused logins due in the retention run
    base_pg: int
    large_pg: int
    due_pg: int
    rounds: int


# PostgreSQL's quick retention run is 20,000 due refusals: at 3,000 the run's fixed costs
# (planning, the signed event: some 30 ms) were most of it against a 15 ms DELETE.
QUICK = Sizes(
    base=2_000, large=20_000, due=5_000, base_pg=2_000, large_pg=10_000, due_pg=20_000, rounds=5
)
FULL = Sizes(
    base=10_000,
    large=1_000_000,
    due=100_000,
    base_pg=10_000,
    large_pg=200_000,
    due_pg=100_000,
    rounds=7,
)


def settings_of(data_dir: Path, database_url: str | None) -> Settings:
    return Settings.from_env(common.ledger_env(data_dir, database_url))


def rejections(count: int, tag: str, person: str | None = None) -> Iterator[LoginRejection]:
    """`count` refused logins, each of a new person unless `person` is named."""
    for n in range(count):
        yield LoginRejection(
            reason="not-professional",
            idp="https://idp.bench.example",
            assertion_id=f"_{tag}-{n}",
            person_uuid=person or str(uuid.uuid4()),
            cvr=None,
            actor=Actor.system("login"),
        )


def save_all(app: LedgerApp, events: Iterator[LoginRejection]) -> int:
    batch: list[LoginRejection] = []
    saved = 0
    for event in events:
        batch.append(event)
        if len(batch) == SAVED_AT_ONCE:
            app.save(*batch)
            saved += len(batch)
            batch = []
    if batch:
        app.save(*batch)
        saved += len(batch)
    return saved


def build_mixed(settings: Settings, events: int) -> float:
    """A log of `events` events: imported summaries, and one refused login of a person in
    every REJECTED_EVERY events; the search index caught up. Its build time in seconds."""
    started = time.perf_counter()
    app = initialize(settings, OPERATOR).app
    try:
        rejected = events // REJECTED_EVERY
        last = app.signed_log.last_leaf()
        assert last is not None
        filler = events - rejected - (last.seq + 1)
        batches = max(1, -(-rejected // SAVED_AT_ONCE))
        imported = 0
        for batch in range(batches):
            take = filler * (batch + 1) // batches - imported
            if take:
                import_events(app, refusal_lines(imported, take), actor=OPERATOR)
                imported += take
            count = min(SAVED_AT_ONCE, rejected - batch * SAVED_AT_ONCE)
            if count > 0:
                save_all(app, rejections(count, f"mix-{batch}"))
        index = EventIndex(app)
        index.refresh()
        index.close()
    finally:
        app.close()
    return time.perf_counter() - started


def build_due(settings: Settings, due: int) -> None:
    app = initialize(settings, OPERATOR).app
    try:
        save_all(app, rejections(due, "due"))
        index = EventIndex(app)
        index.refresh()
        index.close()
    finally:
        app.close()


# Erasing one subject


def erase_once(app: LedgerApp, eraser: Eraser, round_number: int) -> float:
    """Three refused logins of a new person, then the erasure of that person: its seconds."""
    person = str(uuid.uuid4())
    save_all(app, rejections(3, f"subject-{round_number}", person))
    started = time.perf_counter()
    outcome = eraser.erase_person(person, reason=f"Sag {round_number}", actor=OPERATOR)
    elapsed = time.perf_counter() - started
    assert getattr(outcome, "openings", 0) == 6, outcome
    return elapsed


def measure_flat(base: Settings, large: Settings, sizes: Sizes) -> dict[str, Any]:
    apps = [LedgerApp(base), LedgerApp(large)]
    erasers = [Eraser(app) for app in apps]
    small_times, large_times = Series(), Series()
    try:
        for eraser, app in zip(erasers, apps, strict=True):
            erase_once(app, eraser, -1)  # warm-up: connections, the format 1 index
        for n in range(sizes.rounds):
            small_times.rates.append(erase_once(apps[0], erasers[0], n))
            large_times.rates.append(erase_once(apps[1], erasers[1], n))
    finally:
        for eraser, app in zip(erasers, apps, strict=True):
            eraser.close()
            app.close()
    # Ours is the large log, the baseline the small one: time at 10,000 over time at 1M.
    ratio = paired_ratio(small_times, large_times)
    return {
        "small_ms": small_times.median * 1000,
        "large_ms": large_times.median * 1000,
        "ratio": ratio,
    }


# A retention run against plain deletes


def copy_log(source: Settings, target_dir: Path, admin: str | None) -> Settings:
    """A copy of the log: its data directory, and its SQLite file or PostgreSQL database."""
    shutil.copytree(source.data_dir, target_dir)
    if source.database.is_sqlite:
        return settings_of(target_dir, None)
    assert admin is not None
    import psycopg

    name = f"bench_erasure_copy_{uuid.uuid4().hex[:8]}"
    template = source.database.url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return settings_of(target_dir, f"{admin.rsplit('/', 1)[0]}/{name}")


def drop_copy(settings: Settings, admin: str | None) -> None:
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    if settings.database.is_sqlite:
        return
    assert admin is not None
    import psycopg

    name = settings.database.url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def retention_seconds(settings: Settings, values: int) -> tuple[float, float]:
    """The seconds of a retention run's erasures, and of its upkeep after them (`reclaim`:
    PostgreSQL's VACUUM; nothing on SQLite, whose erasure empties the WAL itself)."""
    app = LedgerApp(settings)
    eraser = Eraser(app)
    try:
        started = time.perf_counter()
        (done,) = eraser.run(LATER, actor=OPERATOR, reclaim=False)
        elapsed = time.perf_counter() - started
        assert (done.rule, done.openings) == ("refusal", values), done.describe()
        started = time.perf_counter()
        eraser.reclaim()
        upkeep = time.perf_counter() - started
    finally:
        eraser.close()
        app.close()
    return elapsed, upkeep


def delete_seconds(settings: Settings, values: int, refusals: int) -> tuple[float, float]:
    """The plain deletes of the rows a retention run deletes, in one transaction: the
    refusals' openings, and the rows beside the search index that name their persons
    (ledger.search.REFUSED). The seconds of both and COMMIT, and of the openings' DELETE
    alone (the baseline of the runs before 2026-12-02)."""
    cutoff = months_before(LATER, settings.retention.refusal_months).isoformat()
    connection: Any
    if settings.database.is_sqlite:
        assert settings.database.sqlite_path is not None
        connection = sqlite3.connect(settings.database.sqlite_path, isolation_level=None)
        p = "?"
    else:
        import psycopg

        connection = psycopg.connect(settings.database.url)
        p = "%s"
    openings = f"DELETE FROM {PERSONAL_DATA_TABLE} WHERE kind = 'refusal' AND event_time < {p}"
    persons = f"DELETE FROM {REFUSED} WHERE event_time < {p}"
    try:
        started = time.perf_counter()
        if settings.database.is_sqlite:
            connection.execute("BEGIN IMMEDIATE")
        deleted = connection.execute(openings, (cutoff,)).rowcount
        openings_s = time.perf_counter() - started
        beside = connection.execute(persons, (cutoff,)).rowcount
        connection.execute("COMMIT") if settings.database.is_sqlite else connection.commit()
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    assert (deleted, beside) == (values, refusals), (deleted, beside, values, refusals)
    return elapsed, openings_s


def measure_retention(
    source: Settings, workdir: Path, sizes_due: int, rounds: int, admin: str | None
) -> dict[str, Any]:
    values = 2 * sizes_due  # each refused login's person UUID and assertion id
    ours, baseline, with_upkeep = Series(), Series(), Series()
    upkeep_s, openings_only = Series(), Series()
    for n in range(rounds + 1):  # the first round warms up and is not counted
        mine = copy_log(source, workdir / f"ours-{n}", admin)
        theirs = copy_log(source, workdir / f"delete-{n}", admin)
        try:
            run_s, vacuum_s = retention_seconds(mine, values)
            delete_s, openings_s = delete_seconds(theirs, values, sizes_due)
        finally:
            drop_copy(mine, admin)
            drop_copy(theirs, admin)
        if n:
            ours.rates.append(values / run_s)
            with_upkeep.rates.append(values / (run_s + vacuum_s))
            upkeep_s.rates.append(vacuum_s)
            baseline.rates.append(values / delete_s)
            openings_only.rates.append(values / openings_s)
    return {
        "ours": ours.median,
        "baseline": baseline.median,
        "ratio": paired_ratio(ours, baseline),
        "upkeep_ms": upkeep_s.median * 1000,
        "ratio_with_upkeep": paired_ratio(with_upkeep, baseline),
        "openings_only": openings_only.median,
        "ratio_over_openings_only": paired_ratio(ours, openings_only),
    }


# The run


def run(
    workdir: Path, label: str, sizes: Sizes, urls: tuple[str | None, ...], admin: str | None
) -> dict[str, Any]:
    pg = label == "PostgreSQL"
    base_size, large_size, due = (
        (sizes.base_pg, sizes.large_pg, sizes.due_pg)
        if pg
        else (sizes.base, sizes.large, sizes.due)
    )
    base = settings_of(workdir / f"{label}-base", urls[0])
    large = settings_of(workdir / f"{label}-large", urls[1])
    source = settings_of(workdir / f"{label}-due", urls[2])
    build_mixed(base, base_size)
    built = build_mixed(large, large_size)
    print(f"{label}: built {large_size:,} events in {built:.1f} s", flush=True)
    flat = measure_flat(base, large, sizes)
    print(
        f"{label}: erasing one person: {flat['small_ms']:.1f} ms at {base_size:,} events, "
        f"{flat['large_ms']:.1f} ms at {large_size:,}; ratio {flat['ratio']:.2f} (goal 0.8)",
        flush=True,
    )
    build_due(source, due)
    retention = measure_retention(source, workdir / f"{label}-copies", due, sizes.rounds, admin)
    print(
        f"{label}: a retention run over {due:,} due refused logins ({2 * due:,} values): "
        f"{retention['ours']:,.0f} values/s, plain DELETEs {retention['baseline']:,.0f}/s; "
        f"ratio {retention['ratio']:.2f} (goal 0.5); the upkeep after it (VACUUM) "
        f"{retention['upkeep_ms']:.0f} ms, ratio with it {retention['ratio_with_upkeep']:.2f}; "
        f"against the openings' DELETE alone ({retention['openings_only']:,.0f}/s) "
        f"{retention['ratio_over_openings_only']:.2f}",
        flush=True,
    )
    return {"flat": flat, "retention": retention}


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = replace(sizes, rounds=args.rounds)
    print(
        f"erasure: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{'quick' if args.quick else 'full'}: {sizes.large:,} events against {sizes.base:,}, "
        f"{sizes.due:,} due refused logins, {sizes.rounds} rounds",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-erasure-"))
    figures: dict[str, Any] = {"events": sizes.large, "due_refusals": sizes.due}
    if args.quick:
        figures["retention_goal_read_at"] = f"full size ({FULL.due:,} due refusals)"
    ratios: dict[str, float] = {}
    goals = dict(GOALS)
    try:
        lite = run(workdir, "SQLite", sizes, (None, None, None), None)
        ratios["erase_flat_1m"] = lite["flat"]["ratio"]
        ratios["retention_over_delete"] = lite["retention"]["ratio"]
        figures |= {
            "erase_ms_small": lite["flat"]["small_ms"],
            "erase_ms_large": lite["flat"]["large_ms"],
            "retention_values_per_s": lite["retention"]["ours"],
            "delete_values_per_s": lite["retention"]["baseline"],
            "openings_delete_values_per_s": lite["retention"]["openings_only"],
            "retention_over_openings_delete": lite["retention"]["ratio_over_openings_only"],
        }
        admin = common.postgres_admin_url()
        with contextlib.ExitStack() as stack:
            urls = stack.enter_context(
                common.postgres_databases(
                    admin, "bench_erasure_base", "bench_erasure_large", "bench_erasure_due"
                )
            )
            if urls is not None:
                pg = run(workdir, "PostgreSQL", sizes, urls, admin)
                ratios["erase_flat_pg"] = pg["flat"]["ratio"]
                ratios["retention_over_delete_pg"] = pg["retention"]["ratio"]
                goals |= {"erase_flat_pg": 0.8, "retention_over_delete_pg": 0.5}
                figures |= {
                    "events_pg": sizes.large_pg,
                    "due_refusals_pg": sizes.due_pg,
                    "erase_ms_small_pg": pg["flat"]["small_ms"],
                    "erase_ms_large_pg": pg["flat"]["large_ms"],
                    "retention_values_per_s_pg": pg["retention"]["ours"],
                    "delete_values_per_s_pg": pg["retention"]["baseline"],
                    "openings_delete_values_per_s_pg": pg["retention"]["openings_only"],
                    "retention_over_openings_delete_pg": pg["retention"][
                        "ratio_over_openings_only"
                    ],
                    "retention_vacuum_ms_pg": pg["retention"]["upkeep_ms"],
                    "retention_with_vacuum_over_delete_pg": pg["retention"]["ratio_with_upkeep"],
                }
        figures["peak_rss_mib"] = peak_rss_mib()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for name, ratio in ratios.items():
        print(f"{name}: {ratio:.3f} (goal {goals[name]}) {common.verdict(ratio, goals[name])}")
    print(summary_line("erasure", args.quick, figures, ratios, goals))


if __name__ == "__main__":
    main()
