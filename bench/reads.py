"""The reads that must not grow with the log, in-process on one SQLite log: `/aftaler`,
`/drift` and its lists, the auditor's search with filters that the planner could take the
wrong index for, a deep page, and the subset exports (`eksport.zip` and `ledger export
--cvr`).

The log holds the demo's small world (customers, an agreement, approvals, roles) and is
filled up to its size with imported summaries of refused logins (`ledger.bulk`), which
concern no customer: a page that reads only what it shows costs the same at any size. Run
it on the same built log (`--data DIR`, made on the first run) with the code before and
after a change to compare them; each operation is asked once to warm up (the index catches
up then), then `--asks` times, and its p50 and p95 printed in milliseconds, with a JSON line.

    .venv/bin/python bench/reads.py [--events 100000] [--data DIR] [--asks 15]
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from approval_ledger.bootstrap import build_app, read_configuration
from approval_ledger.cli import main as ledger_command
from approval_ledger.initialize import initialize
from development.demo import OPERATOR_CVR, seed
from ledger.bulk import import_events
from ledger.identity import Actor
from saml.credentials import ensure_sp_credentials

AARHUS = "55133018"
START = datetime(2025, 1, 1, tzinfo=UTC)


def refusal_lines(count: int) -> Iterator[str]:
    """`count` summaries of refused logins, one per 30-second interval, as import lines."""
    for n in range(count):
        start = START + timedelta(seconds=30 * n)
        yield json.dumps(
            {
                "command": "count-login-refusals",
                "interval_start": start.isoformat(),
                "interval_end": (start + timedelta(seconds=30)).isoformat(),
                "counts": [
                    {"reason": "bad-signature", "network": f"198.51.{n % 256}.0/24", "refusals": 1}
                ],
            }
        )


def environment(data_dir: Path) -> dict[str, str]:
    saml = data_dir / "saml"
    return {
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_DEV_IDP": "1",
        "LEDGER_SAML_BASE_URL": "http://127.0.0.1:5000",
        "LEDGER_OPERATOR_CVR": OPERATOR_CVR,
        "LEDGER_SAML_SP_SIGNING_KEY": str(saml / "sp-signing.key"),
        "LEDGER_SAML_SP_SIGNING_CERT": str(saml / "sp-signing.crt"),
        "LEDGER_SAML_SP_ENCRYPTION_KEY": str(saml / "sp-encryption.key"),
        "LEDGER_SAML_SP_ENCRYPTION_CERT": str(saml / "sp-encryption.crt"),
    }


def build_log(env: dict[str, str], events: int) -> None:
    configuration = read_configuration(env)
    app = initialize(configuration.settings, Actor.cli_operator()).app
    ensure_sp_credentials(configuration.saml(require_idp=False))
    try:
        seed(app)
        last = app.signed_log.last_leaf()
        assert last is not None
        started = time.perf_counter()
        import_events(app, refusal_lines(events - (last.seq + 1)), actor=Actor.cli_operator())
        print(f"built {events} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    finally:
        app.close()


def logged_in(portal: Any, persona: str) -> Any:
    """A test client logged in as `persona` through the development IdP."""
    client = portal.test_client()
    started = client.get("/saml/login?next=/")
    location = urlsplit(started.headers["Location"])
    page = client.get(f"/dev-idp/sso?{location.query}&persona={persona}")
    response = re.search(r'name="SAMLResponse" value="([^"]+)"', page.text)
    assert response is not None, page.status_code
    done = client.post("/saml/acs", data={"SAMLResponse": response.group(1)})
    assert done.status_code == 302, done.status_code
    return client


def page(client: Any, path: str) -> Callable[[], None]:
    def ask() -> None:
        response = client.get(path)
        _ = response.data
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")

    return ask


def cli_export(env: dict[str, str], out_dir: Path) -> Callable[[], None]:
    """`ledger export --cvr AARHUS` into a new directory each time."""
    runs = iter(range(1_000_000))

    def ask() -> None:
        os.environ.update(env)
        out = out_dir / f"export-{next(runs)}"
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                code = ledger_command(["export", "--out", str(out), "--cvr", AARHUS])
            finally:
                sys.stdout = stdout
        if code != 0:
            raise RuntimeError(f"ledger export answered {code}")
        shutil.rmtree(out)

    return ask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--data", help="the built log's data directory (made if missing)")
    parser.add_argument("--asks", type=int, default=15)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    data_dir = Path(args.data) if args.data else scratch / "var"
    env = environment(data_dir)
    if not (data_dir / "ledger.sqlite3").exists():
        build_log(env, args.events)
    configuration = read_configuration(env)
    portal = build_app(configuration.settings, configuration.saml(require_idp=False))
    services = portal.extensions["services"]
    try:
        auditor, aarhus, staff = (logged_in(portal, p) for p in ("auditor", "aarhus", "staff"))
        operations = {
            "/aftaler": page(aarhus, "/aftaler"),
            "/drift": page(staff, "/drift/"),
            "/drift/kunder": page(staff, "/drift/kunder"),
            "/drift/aftaler": page(staff, "/drift/aftaler"),
            "/drift/roller": page(staff, "/drift/roller"),
            "search cvr": page(auditor, f"/revision/?cvr={AARHUS}"),
            "search cvr+type": page(auditor, f"/revision/?cvr={AARHUS}&type=LoginRefusalsCounted"),
            "search type": page(auditor, "/revision/?type=Approved"),
            "search, no filter": page(auditor, "/revision/"),
            "deep page 1000": page(auditor, "/revision/?side=1000"),
            "eksport.zip cvr": page(auditor, f"/revision/eksport.zip?cvr={AARHUS}"),
            "ledger export --cvr": cli_export(env, scratch),
        }
        size = services.signed_log.last_leaf().seq + 1
        timings: dict[str, dict[str, float]] = {}
        for name, ask in operations.items():
            ask()  # warm up: the index catches up
            seconds = []
            for _ in range(args.asks):
                started = time.perf_counter()
                ask()
                seconds.append(time.perf_counter() - started)
            seconds.sort()
            p50 = statistics.median(seconds) * 1e3
            p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))] * 1e3
            timings[name] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
            print(f"{name:<22} p50 {p50:9.2f} ms   p95 {p95:9.2f} ms", flush=True)
        print(json.dumps({"bench": "reads", "events": size, "timings": timings}))
    finally:
        services.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
