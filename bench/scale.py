"""The portal at scale: a log of 1,000,000 events built with `ledger import`'s bulk path, and the
pages, exports, receipts and proofs people use on it, each against the same operation on a
log of 10,000 events, in the same run.

Both logs hold the same small world (the demo data: customers, an agreement, approvals, the
staff and auditor roles) and are filled up to their size with imported summaries of refused
logins, one per 30-second interval (1,000,000 of them are about eleven months): what the log
takes for years beside a few hundred approvals. So a page that reads only what it shows costs
the same on both, and the ratio (p50 at 10,000 over p50 at the large size, higher is better,
1.0 flat) shows what grows with the log. Each operation is asked through the portal in-process
(Flask's test client on `approval_ledger.bootstrap.build_app`, logged in through the
development IdP as the auditor, an auditor limited to two customers, a signatory and staff;
a deep page both by its number and by the "Ældre" link from the page before), alternating
the two logs, after a warm-up request each (the search index catches up then). Staff's two
pages of every customer (the overview /drift and the migration matrix /drift/migrering, 98
municipalities) write each customer's row once for each state of it: they are asked as they
stand, and right after a write that changes one customer (a municipality renamed, and named
back the next time), when the board catches up and that row is written again. Beside the
wall-clock times, the CPU time this process spent on each request at the large size: on
shared cores a wall-clock p95 is mostly the machine's other work, the CPU time what the page
costs.

The bulk path: `ledger.bulk.import_events` (1,000 events per transaction) against the same
event saved one by one through `LedgerApp.save`, as the portal saves a summary, alternating
rounds on a third log; `import_over_append` is the median of the per-round ratios. The rate
of building the large log is shown beside it. To explain the ratio, no goal: the floor under
it (`import_floor_over_append`), the rate the import would have if the ledger's own work cost
nothing, in the same rounds: the plain `eventsourcing` application saving events of the
summaries' stored size in batches of the import's size, plus one Ed25519 signature
(`cryptography`) of a message of a leaf's signed size per event, against the same one-by-one
rate.

On PostgreSQL (when LEDGER_TEST_POSTGRES_URL is set) the same, 200,000 events against 10,000,
in fresh databases that are dropped afterwards.

    .venv/bin/python bench/scale.py [--quick] [--rounds N]

`--quick`: 30,000 events against 10,000 (PostgreSQL 20,000 against 8,000), fewer asks, to
finish in about a minute: it shows what grows with the log, the full run how much.
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead (common is bench.common).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from approval_ledger.bootstrap import build_app, read_configuration
from approval_ledger.initialize import initialize
from bench import common
from bench.common import Series, paired_ratio, parse_arguments, peak_rss_mib, summary_line
from development.demo import OPERATOR_CVR, PERSONS_BY_KEY, seed
from development.migration_stages import switched
from development.municipalities import municipality_cvrs, seed_municipalities
from ledger.application import LedgerApp
from ledger.bulk import BATCH_SIZE, import_events
from ledger.danish_time import DANISH_TIME, danish_today
from ledger.domain import LoginRefusals
from ledger.identity import Actor
from ledger.search import EventIndex
from saml.credentials import ensure_sp_credentials

GOALS: dict[str, float | None] = {
    "pages_flat_1m": 0.8,
    "import_over_append": 10.0,
    "import_floor_over_append": None,  # explains import_over_append: what it could reach
}
PAGE_P95_GOAL_MS = 20.0
START = datetime(2025, 1, 1, tzinfo=UTC)
NETWORKS = 3  # networks counted per summary
LIMITED_TO = ("55133018", "35209115")  # Aarhus and Odense


@dataclass(frozen=True)
class Sizes:
    base: int  # the small log every operation is compared with
    large: int
    base_pg: int
    large_pg: int
    rounds: int
    asks: int  # requests per operation per round
    appends: int  # one-by-one appends per round of the import rate
    imported: int  # imported events per round of the import rate


QUICK = Sizes(
    base=10_000,
    large=30_000,
    # The small world holds some 1,600 events (98 municipalities' migrations among them):
    # 8,000 leave the 150 pages of refusals that the deep-page operations ask for.
    base_pg=8_000,
    large_pg=20_000,
    rounds=5,
    asks=1,
    appends=60,
    imported=1_500,
)
FULL = Sizes(
    base=10_000,
    large=1_000_000,
    base_pg=10_000,
    large_pg=200_000,
    rounds=7,
    asks=6,
    appends=600,
    imported=20_000,
)


def refusal_lines(first: int, count: int) -> Iterator[str]:
    """`count` summaries of refused logins as `ledger import` lines, from interval `first`."""
    for n in range(first, first + count):
        start = START + timedelta(seconds=30 * n)
        counts = [
            {"reason": "bad-signature", "network": f"198.51.{(n + k) % 256}.0/24", "refusals": k}
            for k in range(1, NETWORKS + 1)
        ]
        yield json.dumps(
            {
                "command": "count-login-refusals",
                "interval_start": start.isoformat(),
                "interval_end": (start + timedelta(seconds=30)).isoformat(),
                "counts": counts,
            }
        )


# The logs


def environment(data_dir: Path, saml_keys: Path, database_url: str | None) -> dict[str, str]:
    env = {
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_DEV_IDP": "1",
        "LEDGER_SAML_BASE_URL": "http://127.0.0.1:5000",
        "LEDGER_OPERATOR_CVR": OPERATOR_CVR,
        "LEDGER_SAML_SP_SIGNING_KEY": str(saml_keys / "sp-signing.key"),
        "LEDGER_SAML_SP_SIGNING_CERT": str(saml_keys / "sp-signing.crt"),
        "LEDGER_SAML_SP_ENCRYPTION_KEY": str(saml_keys / "sp-encryption.key"),
        "LEDGER_SAML_SP_ENCRYPTION_CERT": str(saml_keys / "sp-encryption.crt"),
    }
    if database_url:
        env["LEDGER_DATABASE_URL"] = database_url
    return env


@dataclass
class Built:
    env: dict[str, str]
    imported: int
    import_seconds: float
    index_seconds: float


def build_log(env: dict[str, str], events: int) -> Built:
    """The demo's small world, then imported summaries up to `events` events."""
    configuration = read_configuration(env)
    app = initialize(configuration.settings, Actor.cli_operator()).app
    try:
        seed(app)
        migrations_of_all_municipalities(app)
        clerk = PERSONS_BY_KEY["odense-clerk"]  # an auditor limited to two customers' events
        app.grant_role(
            person_uuid=clerk.person_uuid,
            person_name=clerk.name,
            role="auditor",
            cvrs=list(LIMITED_TO),
            actor=Actor.cli_operator(),
        )
        last = app.signed_log.last_leaf()
        assert last is not None
        filler = events - (last.seq + 1)
        started = time.perf_counter()
        import_events(app, refusal_lines(0, filler), actor=Actor.cli_operator())
        imported = time.perf_counter() - started
        index = EventIndex(app)
        started = time.perf_counter()
        index.refresh()
        indexed = time.perf_counter() - started
        index.close()
    finally:
        app.close()
    return Built(env, filler, imported, indexed)


def migrations_of_all_municipalities(app: LedgerApp) -> None:
    """All 98 municipalities registered, each taken through the whole migration plan and
    switched today (about 15 events each), so that the staff matrix (/drift/migrering) is
    asked at its real size with a full history per municipality (issue 15)."""
    now = datetime.now(UTC)
    since_midnight = now - datetime.combine(danish_today(), dt_time(), DANISH_TIME)
    span = min(timedelta(minutes=20), since_midnight - timedelta(minutes=1))
    for cvr in seed_municipalities(app).values():
        switched(app, cvr, removed_at=now - span, minutes=int(span.total_seconds() // 60))


# The portal, logged in


def logged_in(portal: Any, persona: str) -> Any:
    """A test client logged in as `persona` through the development IdP, as tests/web do."""
    client = portal.test_client()
    started = client.get("/saml/login?next=/")
    assert started.status_code == 302, started.status_code
    location = urlsplit(started.headers["Location"])
    page = client.get(f"/dev-idp/sso?{location.query}&persona={persona}")
    assert page.status_code == 200, page.status_code
    response = re.search(r'name="SAMLResponse" value="([^"]+)"', page.text)
    assert response is not None
    done = client.post("/saml/acs", data={"SAMLResponse": response.group(1)})
    assert done.status_code == 302, done.status_code
    return client


@dataclass
class Operation:
    name: str
    persona: str
    path: str
    kind: str  # page, export, receipt, proof
    follow: bool = False  # ask the page the path's "Ældre" link leads to (a linked deep page)
    after_write: bool = False  # one customer changed just before each ask (staff's pages)


# The municipality renamed (and named back) before each ask of staff's pages after a write.
CHANGED = "Vejle Kommune"
# Staff's two pages of every customer, as they stand and after a write (figures of their own).
STAFF_PAGES = (
    Operation("/drift", "staff", "/drift/", "page"),
    Operation("/drift/migrering, 98 municipalities", "staff", "/drift/migrering", "page"),
    Operation("/drift after a write", "staff", "/drift/", "page", after_write=True),
    Operation(
        "/drift/migrering after a write", "staff", "/drift/migrering", "page", after_write=True
    ),
)


class Portal:
    def __init__(self, env: dict[str, str]) -> None:
        configuration = read_configuration(env)
        self.app = build_app(configuration.settings, configuration.saml(require_idp=False))
        self.clients = {
            p: logged_in(self.app, p) for p in ("auditor", "odense-clerk", "aarhus", "staff")
        }
        checkpoint = self.app.extensions["services"].signed_log.checkpoint()
        self.size = checkpoint.size  # each log proves in its own newest checkpoint
        self.followed: dict[str, str] = {}
        self.ledger: LedgerApp = self.app.extensions["services"].ledger
        self.changed = municipality_cvrs()[CHANGED]
        self.names = [CHANGED, f"{CHANGED} (omdøbt)"]

    def path(self, operation: Operation) -> str:
        """The operation's address on this log (its own checkpoint, its own links)."""
        path = operation.path.replace("{size}", str(self.size))
        if not operation.follow:
            return path
        if path not in self.followed:
            page = self.clients[operation.persona].get(path)
            found = re.search(r'<a rel="next" href="([^"]+)"', page.text)
            if found is None:
                raise RuntimeError(f"{path} has no link to an older page")
            self.followed[path] = found.group(1).replace("&amp;", "&")
        return self.followed[path]

    def ask(self, operation: Operation) -> tuple[float, float]:
        """The request's wall-clock time and the CPU time this process spent on it."""
        path = self.path(operation)
        if operation.after_write:  # not timed: the page after it is
            self.names.reverse()
            self.ledger.rename_customer(
                cvr=self.changed, name=self.names[0], actor=Actor.cli_operator()
            )
        started, cpu = time.perf_counter(), time.process_time()
        response = self.clients[operation.persona].get(path)
        _ = response.data
        elapsed, spent = time.perf_counter() - started, time.process_time() - cpu
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return elapsed, spent

    def close(self) -> None:
        self.app.extensions["services"].close()


def operations(env: dict[str, str]) -> list[Operation]:
    """What the auditor, a signatory and staff use, with ids both logs share (the demo's)."""
    configuration = read_configuration(env)
    app = LedgerApp(configuration.settings)
    try:
        agreement = app.agreement_versions()[0].id
        aarhus = PERSONS_BY_KEY["aarhus"]
        approvals = [
            e.seq
            for e in app.signed_log.entries(page_size=100)
            if e.event_type == "Approved" and e.cvr == aarhus.cvr
        ]
        seq = approvals[0]
    finally:
        app.close()
    today = datetime.now(UTC).date().isoformat()
    filters = {
        "cvr": aarhus.cvr,
        "aftale": str(agreement),
        "person": aarhus.person_uuid,
        "type": "Approved",
    }
    ops = [Operation("search, no filter", "auditor", "/revision/", "page")]
    names = list(filters)
    for mask in range(1, 1 << len(names)):
        chosen = [n for i, n in enumerate(names) if mask >> i & 1]
        query = "&".join(f"{n}={filters[n]}" for n in chosen)
        ops.append(
            Operation(f"search {'+'.join(chosen)}", "auditor", f"/revision/?{query}", "page")
        )
    ops += [
        Operation("search fra+til", "auditor", f"/revision/?fra={today}&til={today}", "page"),
        Operation(
            "search type+fra+til",
            "auditor",
            f"/revision/?type=LoginRefusalsCounted&fra={today}&til={today}",
            "page",
        ),
        Operation("search, limited auditor", "odense-clerk", "/revision/", "page"),
        Operation(
            "search type, limited auditor", "odense-clerk", "/revision/?type=Approved", "page"
        ),
        Operation(
            "search cvr+fra+til",
            "auditor",
            f"/revision/?cvr={aarhus.cvr}&fra={today}&til={today}",
            "page",
        ),
        Operation(
            "search type=refusals", "auditor", "/revision/?type=LoginRefusalsCounted", "page"
        ),
        Operation("deep page 150", "auditor", "/revision/?side=150", "page"),
        Operation(
            "deep page 150, refusals",
            "auditor",
            "/revision/?type=LoginRefusalsCounted&side=150",
            "page",
        ),
        Operation(
            "deep page 151 by link, refusals",
            "auditor",
            "/revision/?type=LoginRefusalsCounted&side=150",
            "page",
            follow=True,
        ),
        Operation(
            "deep page 151 by link, fra+til",
            "auditor",
            f"/revision/?fra={today}&til={today}&side=150",
            "page",
            follow=True,
        ),
        Operation("timeline", "auditor", f"/revision/kunde/{aarhus.cvr}", "page"),
        Operation("/aftaler", "aarhus", "/aftaler", "page"),
        Operation("agreement page", "aarhus", f"/aftaler/{agreement}", "page"),
        Operation("signatory history", "aarhus", "/historik", "page"),
        *STAFF_PAGES,
        Operation("/drift/kunder", "staff", "/drift/kunder", "page"),
        Operation("/drift/aftaler", "staff", "/drift/aftaler", "page"),
        Operation("/drift/roller", "staff", "/drift/roller", "page"),
        Operation("export.csv cvr", "auditor", f"/revision/eksport.csv?cvr={aarhus.cvr}", "export"),
        Operation("export.zip cvr", "auditor", f"/revision/eksport.zip?cvr={aarhus.cvr}", "export"),
        Operation("receipt page", "aarhus", f"/kvitteringer/{seq}", "receipt"),
        Operation("receipt .json", "aarhus", f"/kvitteringer/{seq}.json", "receipt"),
        Operation(
            "inclusion proof",
            "auditor",
            f"/api/v1/proof/inclusion?seq={seq}&size={{size}}",
            "proof",
        ),
    ]
    return ops


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Timing:
    base: list[float]
    large: list[float]
    # CPU time per request on the large log: steadier than the wall clock on shared cores,
    # where a page's wall-clock p95 is mostly the other work on the machine.
    large_cpu: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.base) / statistics.median(self.large)


def measure_pages(base_env: dict[str, str], large_env: dict[str, str], sizes: Sizes) -> dict:
    ops = operations(base_env)
    base, large = Portal(base_env), Portal(large_env)
    timings = {op.name: Timing([], [], []) for op in ops}
    try:
        for op in ops:  # warm-up: the index catches up, caches fill
            base.ask(op)
            large.ask(op)
        for _ in range(sizes.rounds):
            for op in ops:
                for _ in range(sizes.asks):
                    timings[op.name].base.append(base.ask(op)[0])
                    elapsed, spent = large.ask(op)
                    timings[op.name].large.append(elapsed)
                    timings[op.name].large_cpu.append(spent)
    finally:
        base.close()
        large.close()
    return {"ops": ops, "timings": timings}


# The bulk path against one-by-one appends


class PlainNote(Aggregate):
    """The floor's event: one created event with a text, in the plain library."""

    @event("Noted")
    def __init__(self, note: str) -> None:
        self.note = note


class PlainApp(Application[UUID]):
    """The plain library application the floor saves with: no leaves, no checks."""

    name = "plain"


def plain_notes(app: Application[UUID], count: int, state_bytes: int) -> list[PlainNote]:
    """`count` new notes whose stored events are `state_bytes` long, as the summaries'."""
    probe = PlainNote("")
    empty = len(app.mapper.to_stored_event(probe.collect_events()[0]).state)
    return [PlainNote("x" * max(0, state_bytes - empty)) for _ in range(count)]


def signing_seconds(count: int, message_bytes: int) -> float:
    """Seconds per Ed25519 signature of a message as long as a leaf's signed bytes."""
    key = Ed25519PrivateKey.generate()
    message = secrets.token_bytes(message_bytes)
    started = time.perf_counter()
    for _ in range(count):
        key.sign(message)
    return (time.perf_counter() - started) / count


def import_rate(env: dict[str, str], plain_env: dict[str, str], sizes: Sizes) -> dict[str, float]:
    configuration = read_configuration(env)
    app = initialize(configuration.settings, Actor.cli_operator()).app
    plain = PlainApp(env=plain_env)
    operator = Actor.cli_operator()
    single, bulk, floor = Series(), Series(), Series()
    first = 0
    sizes_of: dict[str, int] = {}
    try:
        for round_ in range(sizes.rounds + 1):
            summaries = [json.loads(line) for line in refusal_lines(first, sizes.appends)]
            first += sizes.appends
            events = [
                LoginRefusals.summarize(
                    interval_start=datetime.fromisoformat(s["interval_start"]),
                    interval_end=datetime.fromisoformat(s["interval_end"]),
                    counts=[(c["reason"], c["network"], c["refusals"]) for c in s["counts"]],
                    actor=operator,
                )
                for s in summaries
            ]
            started = time.perf_counter()
            for event in events:
                app.save(event)
            one_by_one = sizes.appends / (time.perf_counter() - started)
            lines = list(refusal_lines(first, sizes.imported))
            first += sizes.imported
            started = time.perf_counter()
            import_events(app, lines, actor=operator)
            batched = sizes.imported / (time.perf_counter() - started)
            if not sizes_of:
                last = app.recorder.last_leaf()  # the last imported summary's
                assert last is not None
                (record,) = app.recorder.select_log(after=last.seq - 1, limit=1)
                sizes_of = {
                    "state": len(record.stored_event.state),
                    "signed": len(record.leaf) - len(b',"sig":""') - 88,
                }
            # The floor: the plain library saving events of the same size in batches of
            # the import's size, and one Ed25519 signature a leaf; nothing of the ledger.
            notes = plain_notes(plain, sizes.imported, sizes_of["state"])
            started = time.perf_counter()
            for at in range(0, len(notes), BATCH_SIZE):
                plain.save(*notes[at : at + BATCH_SIZE])
            plain_seconds = (time.perf_counter() - started) / sizes.imported
            sign = signing_seconds(sizes.imported, sizes_of["signed"])
            if round_:  # the first round warms up
                single.rates.append(one_by_one)
                bulk.rates.append(batched)
                floor.rates.append(1 / (plain_seconds + sign))
    finally:
        app.close()
        plain.close()
    return {
        "single": single.median,
        "bulk": bulk.median,
        "ratio": paired_ratio(bulk, single),
        "floor": floor.median,
        "floor_ratio": paired_ratio(floor, single),
        "state_bytes": sizes_of["state"],
    }


# PostgreSQL databases of their own


def postgres_database(admin_url: str) -> contextlib.AbstractContextManager[str]:
    return common.postgres_database(admin_url, "bench_scale")


# The run


def run(
    workdir: Path,
    saml_keys: Path,
    sizes: Sizes,
    base_size: int,
    large: int,
    urls: tuple[str | None, str | None, str | None, str | None],
    label: str,
) -> dict[str, Any]:
    base_url, large_url, rate_url, plain_url = urls
    base = build_log(environment(workdir / f"{label}-base", saml_keys, base_url), base_size)
    built = build_log(environment(workdir / f"{label}-large", saml_keys, large_url), large)
    print(
        f"{label}: built {large:,} events: import {built.import_seconds:.1f} s "
        f"({built.imported / built.import_seconds:,.0f} events/s), "
        f"search index {built.index_seconds:.1f} s",
        flush=True,
    )
    measured = measure_pages(base.env, built.env, sizes)
    plain_env = (
        common.plain_postgres_env(plain_url)
        if plain_url
        else {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(workdir / f"{label}-plain.sqlite3"),
        }
    )
    rate = import_rate(
        environment(workdir / f"{label}-rate", saml_keys, rate_url), plain_env, sizes
    )
    return {"built": built, "measured": measured, "rate": rate}


def report(label: str, base: int, large: int, result: dict[str, Any]) -> dict[str, Any]:
    ops: list[Operation] = result["measured"]["ops"]
    timings: dict[str, Timing] = result["measured"]["timings"]
    print(f"\n{label}: p50 / p95 in ms at {base:,} and at {large:,} events; ratio = p50 flat")
    print(
        f"{'operation':<34} {'base p50':>8} {'base p95':>8} {'big p50':>8} {'big p95':>8} ratio "
        f"{'big cpu p50':>11} {'p95':>6}"
    )
    for op in ops:
        t = timings[op.name]
        print(
            f"{op.name:<34} {statistics.median(t.base) * 1e3:8.2f} "
            f"{percentile(t.base, 0.95) * 1e3:8.2f} {statistics.median(t.large) * 1e3:8.2f} "
            f"{percentile(t.large, 0.95) * 1e3:8.2f} {t.ratio:5.2f} "
            f"{statistics.median(t.large_cpu) * 1e3:11.2f} "
            f"{percentile(t.large_cpu, 0.95) * 1e3:6.2f}"
        )
    worst = min(ops, key=lambda op: timings[op.name].ratio)
    pages = [op for op in ops if op.kind != "export"]
    slowest = max(pages, key=lambda op: percentile(timings[op.name].large, 0.95))
    costliest = max(pages, key=lambda op: percentile(timings[op.name].large_cpu, 0.95))
    exports = [op for op in ops if op.kind == "export"]
    slowest_export = max(exports, key=lambda op: percentile(timings[op.name].large, 0.95))
    rate = result["rate"]
    built: Built = result["built"]
    print(
        f"worst ratio: {worst.name} {timings[worst.name].ratio:.3f}; slowest page p95: "
        f"{slowest.name} {percentile(timings[slowest.name].large, 0.95) * 1e3:.1f} ms "
        f"(goal {PAGE_P95_GOAL_MS:.0f}); slowest export p95: {slowest_export.name} "
        f"{percentile(timings[slowest_export.name].large, 0.95) * 1e3:.1f} ms; most CPU per page "
        f"p95: {costliest.name} {percentile(timings[costliest.name].large_cpu, 0.95) * 1e3:.1f} ms"
    )
    print(
        f"appends: one by one {rate['single']:,.0f}/s, imported {rate['bulk']:,.0f}/s, "
        f"ratio {rate['ratio']:.1f} (goal {GOALS['import_over_append']:.0f}); building the "
        f"large log imported {built.imported / built.import_seconds:,.0f} events/s"
    )
    print(
        f"the floor under the import: the plain library saving {BATCH_SIZE:,} events of "
        f"{rate['state_bytes']:,} bytes a save with one Ed25519 signature each, none of the "
        f"ledger's own work: {rate['floor']:,.0f}/s, {rate['floor_ratio']:.1f} x one by one "
        f"(import_floor_over_append)"
    )
    staff = {op.name: percentile(timings[op.name].large, 0.95) * 1e3 for op in STAFF_PAGES}
    return {
        "staff": {
            "overview_p95_ms": staff["/drift"],
            "matrix_p95_ms": staff["/drift/migrering, 98 municipalities"],
            "staff_after_write_p95_ms": max(
                staff["/drift after a write"], staff["/drift/migrering after a write"]
            ),
        },
        "worst": worst.name,
        "worst_ratio": timings[worst.name].ratio,
        "slowest_page": slowest.name,
        "page_p95_ms": percentile(timings[slowest.name].large, 0.95) * 1e3,
        "page_cpu_p95_ms": percentile(timings[costliest.name].large_cpu, 0.95) * 1e3,
        "costliest_page": costliest.name,
        "export_p95_ms": percentile(timings[slowest_export.name].large, 0.95) * 1e3,
        "rate": rate,
        "build_rate": built.imported / built.import_seconds,
        "index_seconds": built.index_seconds,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**sizes.__dict__, "rounds": args.rounds})
    print(
        f"scale: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{'quick' if args.quick else 'full'}: {sizes.large:,} events (PostgreSQL "
        f"{sizes.large_pg:,}) against {sizes.base:,} ({sizes.base_pg:,}), {sizes.rounds} rounds "
        f"of {sizes.asks} asks",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    figures: dict[str, Any] = {"events": sizes.large}
    ratios: dict[str, float] = {}
    try:
        saml_keys = workdir / "saml-keys"
        keys_env = environment(saml_keys, saml_keys, None)
        ensure_sp_credentials(read_configuration(keys_env).saml(require_idp=False))
        result = run(
            workdir, saml_keys, sizes, sizes.base, sizes.large, (None, None, None, None), "SQLite"
        )
        shown = report("SQLite", sizes.base, sizes.large, result)
        ratios["pages_flat_1m"] = shown["worst_ratio"]
        ratios["import_over_append"] = shown["rate"]["ratio"]
        ratios["import_floor_over_append"] = shown["rate"]["floor_ratio"]
        figures |= {
            "page_p95_ms_1m": shown["page_p95_ms"],
            "page_cpu_p95_ms_1m": shown["page_cpu_p95_ms"],
            "costliest_page_1m": shown["costliest_page"],
            "slowest_page_1m": shown["slowest_page"],
            "worst_ratio_operation_1m": shown["worst"],
            "export_p95_ms_1m": shown["export_p95_ms"],
            "appends_one_by_one_per_s": shown["rate"]["single"],
            "imported_per_s": shown["rate"]["bulk"],
            "import_floor_per_s": shown["rate"]["floor"],
            "build_imported_per_s": shown["build_rate"],
            "index_catch_up_s": shown["index_seconds"],
        }
        figures |= {f"{name}_1m": value for name, value in shown["staff"].items()}
        admin = os.environ.get("LEDGER_TEST_POSTGRES_URL")
        if admin:
            with (
                postgres_database(admin) as base_url,
                postgres_database(admin) as large_url,
                postgres_database(admin) as rate_url,
                postgres_database(admin) as plain_url,
            ):
                pg = run(
                    workdir,
                    saml_keys,
                    sizes,
                    sizes.base_pg,
                    sizes.large_pg,
                    (base_url, large_url, rate_url, plain_url),
                    "PostgreSQL",
                )
                shown_pg = report("PostgreSQL", sizes.base_pg, sizes.large_pg, pg)
            ratios["pages_flat_pg"] = shown_pg["worst_ratio"]
            ratios["import_over_append_pg"] = shown_pg["rate"]["ratio"]
            ratios["import_floor_over_append_pg"] = shown_pg["rate"]["floor_ratio"]
            figures |= {
                "events_pg": sizes.large_pg,
                "page_p95_ms_pg": shown_pg["page_p95_ms"],
                "page_cpu_p95_ms_pg": shown_pg["page_cpu_p95_ms"],
                "costliest_page_pg": shown_pg["costliest_page"],
                "slowest_page_pg": shown_pg["slowest_page"],
                "worst_ratio_operation_pg": shown_pg["worst"],
                "imported_per_s_pg": shown_pg["rate"]["bulk"],
                "import_floor_per_s_pg": shown_pg["rate"]["floor"],
                "appends_one_by_one_per_s_pg": shown_pg["rate"]["single"],
            }
            figures |= {f"{name}_pg": value for name, value in shown_pg["staff"].items()}
        figures["peak_rss_mib"] = peak_rss_mib()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    goals = dict(GOALS) | {"page_p95_ms_1m": PAGE_P95_GOAL_MS}
    if "pages_flat_pg" in ratios:
        goals |= {
            "pages_flat_pg": 0.8,
            "import_over_append_pg": 10.0,
            "import_floor_over_append_pg": None,
        }
    print(summary_line("scale", args.quick, figures, ratios, goals))


if __name__ == "__main__":
    main()
