"""Subset exports choose through the search index and read only the chosen events, and the
evidence is byte for byte what choosing by a scan of the whole log gave: `ledger export
--cvr/--since/--until` and the auditor's `eksport.zip`, on SQLite and PostgreSQL."""

import io
import zipfile
from pathlib import Path

import pytest

from approval_ledger.cli import _time_bound, main, print_history
from development.demo import seed
from ledger.application import LedgerApp
from ledger.export import export_bundle
from tests.ledger.test_search import ODENSE, build_mix
from tests.web.test_audit import fetch_bundle
from tests.web.test_login import log_in

AARHUS = "55133018"
NOBODY = "29180008"  # a valid CVR no event concerns


def bundle_files(path: Path) -> dict[str, bytes]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
            return {name: archive.read(name) for name in sorted(archive.namelist())}
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


@pytest.fixture
def mixed(app, operator):
    return build_mix(app, operator)


def selections(app: LedgerApp) -> list[dict[str, str]]:
    times = sorted(entry.recorded_at for entry in app.signed_log.entries())
    early, late = times[len(times) // 4], times[3 * len(times) // 4]
    return [
        {"--cvr": AARHUS},
        {"--since": early},
        {"--until": late},
        {"--cvr": ODENSE, "--since": early, "--until": late},
        {"--cvr": NOBODY},
        {"--since": "2026-01-01", "--until": "2026-01-01"},  # Danish days
    ]


def test_ledger_export_of_a_subset_is_what_the_scan_gave_without_scanning(
    app, mixed, tmp_path, verify_cli, monkeypatch
):
    for n, selection in enumerate(selections(app)):
        cvr = selection.get("--cvr")
        since = _time_bound(selection.get("--since"), "--since")
        until = _time_bound(selection.get("--until"), "--until")
        scanned = export_bundle(app, tmp_path / f"scan-{n}", cvr=cvr, since=since, until=until)
        with monkeypatch.context() as patched:
            # The command must not choose by scanning the history.
            patched.setattr(LedgerApp, "history", lambda *a, **k: pytest.fail("scanned"))
            options = [item for pair in selection.items() for item in pair]
            assert main(["export", "--out", str(tmp_path / f"index-{n}"), *options]) == 0
        assert bundle_files(tmp_path / f"index-{n}") == bundle_files(tmp_path / f"scan-{n}")
        assert scanned.subset
        if cvr == AARHUS or selection.keys() == {"--since"}:
            assert scanned.entries > 0, selection


def test_the_auditors_bundle_is_what_the_scan_gave(app, make_portal, tmp_path):
    seed(app)  # the demo's history, with the auditor's role
    for _ in range(3):
        app.record_login_rejected(reason="replayed", idp="https://idp.example", cvr=AARHUS)
    client = make_portal(app).test_client()
    log_in(client, "auditor")
    for cvr in (AARHUS, ODENSE, NOBODY):
        fetched = fetch_bundle(client, tmp_path, f"web-{cvr}.zip", cvr=cvr)
        scanned = export_bundle(app, tmp_path / f"scan-{cvr}", cvr=cvr)
        assert bundle_files(fetched) == bundle_files(tmp_path / f"scan-{cvr}")
        assert scanned.entries > 0 or cvr == NOBODY


def test_ledger_history_of_a_subset_is_what_the_scan_gave_without_scanning(
    app, mixed, verify_cli, monkeypatch, capsys
):
    """`ledger history --cvr/--since/--until` chooses through the search index and reads only
    the chosen events, printing exactly what the scan of the whole history prints."""
    for selection in selections(app):
        cvr = selection.get("--cvr")
        since = _time_bound(selection.get("--since"), "--since")
        until = _time_bound(selection.get("--until"), "--until")
        options = [item for pair in selection.items() for item in pair]
        for as_json in (False, True):
            capsys.readouterr()
            print_history(app.history(cvr=cvr, since=since, until=until), as_json=as_json)
            scanned = capsys.readouterr().out
            with monkeypatch.context() as patched:
                patched.setattr(LedgerApp, "history", lambda *a, **k: pytest.fail("scanned"))
                assert main(["history", *(["--json"] if as_json else []), *options]) == 0
            assert capsys.readouterr().out == scanned, selection
            if cvr == AARHUS:
                assert scanned
