"""Witnesses and a timestamp authority stay off the write path.

Two logs on SQLite in one process, each under a checkpointer at the default
`LEDGER_CHECKPOINT_INTERVAL` as `ledger serve` runs it (`Checkpointer.for_log`): the baseline
has no witnesses; ours has two witness processes configured (`ledger witness serve`, each in
a process of its own over real HTTP, quorum of both) and an RFC 3161 timestamp authority
(`openssl ts -reply` behind a small HTTP server, in a process of its own: the tests' TSA,
`tests/tsa.py`), so that after each checkpoint the cosigning and timestamping threads ask
them while the writes go on. Each round saves one event per transaction, the two logs
alternating (A B A B, a warm-up first); `writes_with_witnesses` is the median of the
per-round ratios of ours over the baseline (goal 0.95: the witnesses and the TSA are off the
write path, so only their threads' share of the CPU may cost anything). This process's CPU
per write on each side is a figure beside it (every thread's, so the cosigning and
timestamping threads' work is in ours'), steadier than a rate on a shared machine, and so is
the share of a core those threads themselves used during the rounds (from /proc), and the
share the witness and TSA processes used (with gunicorn's workers and each `openssl ts`):
here they share the two cores with the writer, as witnesses and a TSA run elsewhere would not.

Commit to a quorum-cosigned checkpoint: one writer saves one event at a time at random
moments (exponential gaps, about 50 a second) on ours; each event's lag runs from its
commit (its `save` returned) to the moment the last witness of the quorum's cosignature of
the first checkpoint covering it was verified and kept. Witnesses cosign the newest
checkpoint, so an event waits for the checkpoint cadence, then for both witnesses' answers.
The p99 is a figure (no baseline to divide by); its p50, max and counts beside it.

With `LEDGER_TEST_POSTGRES_URL` (a login that may create databases) the same run follows on
PostgreSQL, each log in a new database of its own: `writes_with_witnesses_pg` and the `_pg`
figures. Each ratio's per-round spread (min and max) is printed and kept beside it, so that a
reader sees how much of a run's ratio is the machine.

`--quick`: 7 rounds of 1,000 writes and 8 s of lag writes (under a minute on two loaded
cores); the full run 9 rounds of 6,000 and 40 s.
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http package; the repository's root goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import bisect
import os
import platform
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from approval_ledger.initialize import initialize
from bench.append_verify import new_items
from bench.common import (
    Series,
    ledger_env,
    paired_ratio,
    parse_arguments,
    postgres_admin_url,
    postgres_databases,
    summary_line,
    verdict,
)
from ledger.application import LedgerApp
from ledger.checkpointer import Checkpointer
from ledger.config import Settings
from ledger.evidence.cosignature import Cosignature, CosignerKey
from ledger.identity import Actor
from ledger.witness import LOGS_FILE

GOALS: dict[str, float | None] = {"writes_with_witnesses": 0.95, "writes_with_witnesses_pg": 0.95}
OPERATOR = Actor(Actor.OPERATOR, "bench")
ORIGIN = "bench.example/ledger"
LAG_GAP = 0.02  # mean seconds between the lag writer's saves
START_TIMEOUT = 60.0  # seconds a witness or the TSA may take to answer its first request


@dataclass(frozen=True)
class Sizes:
    rounds: int
    writes: int  # per round and side
    lag_seconds: float


QUICK = Sizes(rounds=7, writes=1000, lag_seconds=8)
FULL = Sizes(rounds=9, writes=6000, lag_seconds=40)


def _environment() -> dict[str, str]:
    """This process's environment without LEDGER_* settings (a witness has none), with the
    repository importable (the TSA process imports tests.tsa)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _ledger(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "approval_ledger", *args],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ledger {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str, path: str) -> bool:
    """Whether anything answers an HTTP POST at `url` + `path`."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    try:
        connection.request("POST", path, body=b"")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def _process(command: list[str], log: Path, url: str, path: str) -> Iterator[None]:
    """A server process until it answers at `url`; stopped with SIGTERM afterwards."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, env=_environment(), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url, path):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[3:5]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        SERVERS.append(process.pid)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def witness(directory: Path, name: str, settings: Settings) -> Iterator[tuple[str, CosignerKey]]:
    """A witness of the log of `settings` in a process of its own: its URL and key."""
    made = _ledger("witness", "init", "--name", name, "--dir", str(directory))
    key = CosignerKey.parse(made.strip().splitlines()[-1])
    keys = (settings.keys_dir / "verifier-keys").read_text(encoding="utf-8").split()
    with (directory / LOGS_FILE).open("a", encoding="utf-8") as logs:
        logs.writelines(f"{settings.origin} {line}\n" for line in keys)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "approval_ledger", "witness", "serve"]
    command += ["--bind", f"127.0.0.1:{port}", "--dir", str(directory)]
    with _process(command, directory.parent / f"{directory.name}.log", url, "/add-checkpoint"):
        yield url, key


_TSA_SERVER = """
import sys, threading
from pathlib import Path
from tests.tsa import TestTSA
tsa = TestTSA(Path(sys.argv[1]), "Bench TSA")
with tsa.serving() as url:
    Path(sys.argv[2]).write_text(url)
    threading.Event().wait()
"""


@contextmanager
def timestamp_authority(directory: Path) -> Iterator[tuple[str, Path]]:
    """The tests' TSA (`openssl ts -reply` behind http.server) in a process of its own: its
    URL and the PEM file of its CA, the anchor the log checks tokens against."""
    told = directory.parent / "tsa-url"
    command = [sys.executable, "-c", _TSA_SERVER, str(directory), str(told)]
    log = directory.parent / "tsa.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, env=_environment(), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not told.exists() or not told.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the TSA did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        SERVERS.append(process.pid)
        yield told.read_text(), directory / "ca.pem"
    finally:
        process.terminate()
        process.wait(timeout=30)


def new_log(directory: Path, database_url: str | None = None) -> Settings:
    settings = Settings.from_env(ledger_env(directory, database_url) | {"LEDGER_ORIGIN": ORIGIN})
    initialize(settings, OPERATOR).app.close()
    return settings


class QuorumClock:
    """When each checkpoint size got its quorum of cosignatures (monotonic seconds), kept
    by wrapping the store's `add`, which the cosigning thread calls once a cosignature is
    verified."""

    def __init__(self, app: LedgerApp, quorum: int) -> None:
        store = app.signed_log.cosignatures
        assert store is not None
        self.quorum = quorum
        self.reached: dict[int, float] = {}
        self._seen: dict[int, set[str]] = {}
        self._lock = threading.Lock()
        add = store.add

        def counted_add(size: int, cosignature: Cosignature) -> None:
            add(size, cosignature)
            with self._lock:
                names = self._seen.setdefault(size, set())
                names.add(cosignature.witness)
                if len(names) >= self.quorum and size not in self.reached:
                    self.reached[size] = time.monotonic()

        store.add = counted_add  # type: ignore[method-assign]


# The witness and TSA processes this run started, whose CPU is measured with their children's.
SERVERS: list[int] = []


def servers_cpu_seconds() -> float:
    """CPU seconds the witness and TSA processes and all their descendants (gunicorn's
    workers, each `openssl ts -reply`) have used so far: on this machine they share the cores
    with the writer, as they would not where witnesses and TSA run elsewhere."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, list[str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), fields)
    wanted = set(SERVERS)
    grew = True
    while grew:
        found = {pid for pid, (parent, _) in stats.items() if parent in wanted} - wanted
        wanted |= found
        grew = bool(found)
    total = 0.0
    for pid in wanted & stats.keys():
        fields = stats[pid][1]
        total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks  # with waited children
    return total


_OFF_PATH_THREADS = ("ledger-cosigning", "ledger-witness", "ledger-timestamping")


def off_path_cpu_seconds() -> float:
    """CPU seconds the threads that ask the witnesses and the TSA have used so far (from
    /proc/self/task/<id>/stat, user and system time): their work beside the writes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for thread in threading.enumerate():
        if not thread.name.startswith(_OFF_PATH_THREADS) or thread.native_id is None:
            continue
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def save_rate(app: LedgerApp, count: int, cpu: Series | None = None) -> float:
    """Writes per second; with `cpu`, this process's CPU microseconds per write appended
    (every thread's: the cosigning and timestamping threads' work shows there)."""
    items = new_items(count)
    start, start_cpu = time.perf_counter(), time.process_time()
    for item in items:
        app.save(item)
    if cpu is not None:
        cpu.rates.append(1e6 * (time.process_time() - start_cpu) / count)
    return count / (time.perf_counter() - start)


def measure(
    workdir: Path, sizes: Sizes, databases: tuple[str, str] | None = None
) -> tuple[dict[str, Series], list[float], int, int]:
    """The write rates per round of both logs, and the lags to a quorum-cosigned checkpoint
    with how many checkpoints reached it and the newest size the TSA timestamped; on SQLite,
    or in the two PostgreSQL `databases` (the baseline's, ours)."""
    baseline_url, ours_url = databases if databases is not None else (None, None)
    baseline_settings = new_log(workdir / "baseline", baseline_url)
    ours_dir = workdir / "ours"
    plain = new_log(ours_dir, ours_url)
    with ExitStack() as stack:
        entries = []
        for number in (1, 2):
            name = f"bench.example/w{number}"
            url, key = stack.enter_context(witness(workdir / f"w{number}", name, plain))
            entries.append(f"{name} {url} {key.line()}\n")
        tsa_url, roots = stack.enter_context(timestamp_authority(workdir / "tsa"))
        witnesses = workdir / "witnesses"
        witnesses.write_text("".join(entries), encoding="utf-8")
        ours_settings = Settings.from_env(
            ledger_env(ours_dir, ours_url)
            | {
                "LEDGER_ORIGIN": ORIGIN,
                "LEDGER_WITNESSES": str(witnesses),
                "LEDGER_TSA_URL": tsa_url,
                "LEDGER_TSA_ROOTS": str(roots),
            }
        )
        baseline = stack.enter_context(_closing(LedgerApp(baseline_settings)))
        ours = stack.enter_context(_closing(LedgerApp(ours_settings)))
        clock = QuorumClock(ours, ours_settings.witness_quorum)
        for app in (baseline, ours):
            checkpointer = Checkpointer.for_log(app.signed_log, app.settings.checkpoint_interval)
            stack.callback(checkpointer.stop)
            checkpointer.start()
        assert ours.signed_log.witnesses
        assert ours.signed_log.tsa is not None

        series = {name: Series() for name in ("baseline", "ours", "baseline_cpu", "ours_cpu")}
        rounds_started, off_path_before = time.monotonic(), off_path_cpu_seconds()
        servers_before = servers_cpu_seconds()
        save_rate(baseline, sizes.writes // 4)  # warm-up
        save_rate(ours, sizes.writes // 4)
        for number in range(sizes.rounds):
            order = ("baseline", "ours") if number % 2 == 0 else ("ours", "baseline")
            for side in order:
                app = baseline if side == "baseline" else ours
                series[side].rates.append(save_rate(app, sizes.writes, series[f"{side}_cpu"]))

        off_path = off_path_cpu_seconds() - off_path_before
        servers = servers_cpu_seconds() - servers_before
        elapsed = time.monotonic() - rounds_started
        series["off_path_share"] = Series([off_path / elapsed])
        series["servers_share"] = Series([servers / elapsed])
        lags = _lags(ours, clock, sizes)
        assert ours.signed_log.timestamps is not None
        newest = ours.signed_log.timestamps.newest()
        stamped = 0 if newest is None else newest[0]
        return series, lags, len(clock.reached), stamped


@contextmanager
def _closing(app: LedgerApp) -> Iterator[LedgerApp]:
    try:
        yield app
    finally:
        app.close()


def _lags(app: LedgerApp, clock: QuorumClock, sizes: Sizes) -> list[float]:
    """Each write's time from commit to the quorum's cosignature of a checkpoint covering it."""
    last = app.signed_log.last_leaf()
    assert last is not None
    # Start once everything written so far is cosigned, so that the lags are this phase's.
    give_up = time.monotonic() + 60
    while not clock.reached or max(clock.reached) < last.seq + 1:
        if time.monotonic() > give_up:
            raise RuntimeError("the witnesses did not cosign the rounds' last checkpoint")
        time.sleep(0.05)
    seq = last.seq + 1
    committed: list[tuple[int, float]] = []
    rng = random.Random(12)
    pause = threading.Event()
    stop_at = time.monotonic() + sizes.lag_seconds
    while time.monotonic() < stop_at:
        app.save(*new_items(1))
        committed.append((seq, time.monotonic()))
        seq += 1
        pause.wait(rng.expovariate(1 / LAG_GAP))
    give_up = time.monotonic() + 60
    while max(clock.reached) < seq:
        if time.monotonic() > give_up:
            raise RuntimeError("the witnesses did not cosign the last write's checkpoint")
        time.sleep(0.01)
    reached = sorted(clock.reached.items())
    cosigned_sizes = [size for size, _ in reached]
    lags = []
    for event_seq, at in committed:
        first = bisect.bisect_right(cosigned_sizes, event_seq)  # the first size > seq
        lags.append(reached[first][1] - at)
    return lags


def quantile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _figures(
    series: dict[str, Series], lags: list[float], cosigned: int, stamped: int, suffix: str
) -> tuple[float, dict[str, Any]]:
    """The paired ratio and the figures of one database's run, named with `suffix`."""
    ratio = paired_ratio(series["ours"], series["baseline"])
    per_round = [o / b for o, b in zip(series["ours"].rates, series["baseline"].rates, strict=True)]
    figures: dict[str, Any] = {
        "writes_per_s_without": series["baseline"].median,
        "writes_per_s_with": series["ours"].median,
        "writes_with_witnesses_rounds_min": min(per_round),
        "writes_with_witnesses_rounds_max": max(per_round),
        "cpu_us_per_write_without": series["baseline_cpu"].median,
        "cpu_us_per_write_with": series["ours_cpu"].median,
        "off_path_threads_cpu_share": series["off_path_share"].median,
        "witness_and_tsa_processes_cpu_share": series["servers_share"].median,
        "quorum_lag_p50_ms": 1000 * quantile(lags, 0.50),
        "quorum_lag_p99_ms": 1000 * quantile(lags, 0.99),
        "quorum_lag_max_ms": 1000 * max(lags),
        "quorum_lag_writes": len(lags),
        "quorum_cosigned_checkpoints": cosigned,
        "tsa_newest_stamped_size": stamped,
    }
    return ratio, {f"{name}{suffix}": value for name, value in figures.items()}


def _report(
    database: str, sizes: Sizes, ratio: float, figures: dict[str, Any], suffix: str
) -> None:
    def f(name: str) -> Any:
        return figures[f"{name}{suffix}"]

    print(f"{database}:")
    print(f"{'':<40}{'without':>12}{'with':>12}{'ratio':>8}{'goal':>7}")
    goal = GOALS[f"writes_with_witnesses{suffix}"]
    print(
        f"{'writes/s, 2 witnesses and a TSA':<40}{f('writes_per_s_without'):>12,.0f}"
        f"{f('writes_per_s_with'):>12,.0f}{ratio:>8.2f}{goal:>7.2f}  {verdict(ratio, goal)}"
    )
    print(
        f"{'  per-round ratios, min to max':<40}{'':>24}"
        f"{f('writes_with_witnesses_rounds_min'):>8.2f} to "
        f"{f('writes_with_witnesses_rounds_max'):.2f}"
    )
    print(
        f"{'CPU per write (us, this process)':<40}{f('cpu_us_per_write_without'):>12,.0f}"
        f"{f('cpu_us_per_write_with'):>12,.0f}"
    )
    print(
        "the cosigning and timestamping threads used "
        f"{100 * f('off_path_threads_cpu_share'):.1f} % of a core during the rounds, the "
        f"witness and TSA processes {100 * f('witness_and_tsa_processes_cpu_share'):.1f} %"
    )
    print(
        f"commit to quorum-cosigned checkpoint: {f('quorum_lag_writes')} writes over "
        f"{sizes.lag_seconds:.0f} s, {f('quorum_cosigned_checkpoints')} checkpoints cosigned by "
        f"both; p50 {f('quorum_lag_p50_ms'):.0f} ms, p99 {f('quorum_lag_p99_ms'):.0f} ms, "
        f"max {f('quorum_lag_max_ms'):.0f} ms; newest checkpoint timestamped by the TSA: size "
        f"{f('tsa_newest_stamped_size')}"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(args.rounds, sizes.writes, sizes.lag_seconds)
    started = time.monotonic()
    admin = postgres_admin_url()
    ratios: dict[str, float] = {}
    figures: dict[str, Any] = {"witnesses": 2}
    print(
        f"bench/witness.py{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {sizes.rounds} rounds of {sizes.writes} writes "
        "(one event per transaction) per side, the sides alternating"
    )
    runs: list[tuple[str, str]] = [("SQLite", "")] + ([("PostgreSQL", "_pg")] if admin else [])
    for database, suffix in runs:
        with (
            tempfile.TemporaryDirectory(prefix="bench-witness-") as directory,
            postgres_databases(
                admin if suffix else None, "bench_witness_base", "bench_witness_ours"
            ) as urls,
        ):
            pair = (urls[0], urls[1]) if urls is not None else None
            series, lags, cosigned, stamped = measure(Path(directory), sizes, pair)
        ratio, named = _figures(series, lags, cosigned, stamped, suffix)
        ratios[f"writes_with_witnesses{suffix}"] = ratio
        figures |= named
        _report(database, sizes, ratio, figures, suffix)
    figures["seconds"] = time.monotonic() - started
    print(f"{figures['seconds']:.0f} s in all")
    goals = {name: goal for name, goal in GOALS.items() if name in ratios}
    print(summary_line("witness", args.quick, figures, ratios, goals))


if __name__ == "__main__":
    main()
