"""What every benchmark here shares: timing, per-round series, ratios and the summary line
that `../shared/design/BENCHMARKS.md` asks for."""

import argparse
import contextlib
import gc
import json
import os
import resource
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ledger.evidence.database import DatabaseURL

POSTGRES_URL_VARIABLE = "LEDGER_TEST_POSTGRES_URL"


def parse_arguments(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    """`--quick` (small sizes, under a minute) and `--rounds N` (at least 5)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--rounds", type=int, help="measured rounds (at least 5)")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 5:
        parser.error("--rounds must be at least 5")
    return args


@dataclass
class Series:
    """Per-round rates of one measured quantity."""

    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def timed(action: Callable[[], int]) -> float:
    """Items per second of `action`, which returns how many items it handled."""
    gc.collect()
    start = time.perf_counter()
    count = action()
    return count / (time.perf_counter() - start)


def paired_ratio(ours: Series, baseline: Series, factor: float = 1.0) -> float:
    """The median of the per-round ratios: drift on a shared machine hits both sides alike."""
    pairs = zip(ours.rates, baseline.rates, strict=True)
    return statistics.median(o / (b * factor) for o, b in pairs)


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def verdict(ratio: float, goal: float | None) -> str:
    if goal is None:
        return "(no goal)"
    return "met" if ratio >= goal else "NOT met"


def summary_line(
    bench: str,
    quick: bool,
    figures: dict[str, Any],
    ratios: dict[str, float],
    goals: dict[str, float | None],
) -> str:
    """The last line of every benchmark's output."""
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    return json.dumps(
        {
            "bench": bench,
            "quick": quick,
            "figures": rounded,
            "ratios": {k: round(v, 3) for k, v in ratios.items()},
            "goals": goals,
        }
    )


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding `path` (from /proc/mounts), or '?'."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    resolved = str(path.resolve())
    best = max(
        (m for m in mounts if resolved == m[0] or resolved.startswith(m[0].rstrip("/") + "/")),
        key=lambda m: len(m[0]),
        default=None,
    )
    return best[1] if best else "?"


def postgres_admin_url() -> str | None:
    """The login that may create databases (as the tests take it), or None: SQLite only."""
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


def ledger_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The settings every benchmark's ledger of its own starts from: its data directory
    (keys, documents, the SQLite file) and, when one is named, its PostgreSQL database."""
    env = {"LEDGER_DATA_DIR": str(data_dir)}
    if database_url:
        env["LEDGER_DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def postgres_databases(admin_url: str | None, *prefixes: str) -> Iterator[tuple[str, ...] | None]:
    """A new database for each prefix (in order) while the block runs, or None without a
    PostgreSQL login: the run is then SQLite only."""
    if admin_url is None:
        yield None
        return
    with contextlib.ExitStack() as stack:
        yield tuple(stack.enter_context(postgres_database(admin_url, p)) for p in prefixes)


@contextlib.contextmanager
def postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database while the block runs, dropped after it (a
    run never measures a database that an earlier one filled)."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def plain_postgres_env(url: str) -> dict[str, str]:
    """The library's PostgreSQL recorder on `url`, with its defaults otherwise (pool, no
    database functions); the lock and connect timeouts as ours, which only bound waits."""
    database = DatabaseURL.parse(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database.dbname,
        "POSTGRES_HOST": database.host,
        "POSTGRES_PORT": str(database.port),
        "POSTGRES_USER": database.user,
        "POSTGRES_PASSWORD": database.password,
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_CONNECT_TIMEOUT": "5",
    }
