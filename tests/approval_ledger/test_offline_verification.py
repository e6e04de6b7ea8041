"""`ledger verify --bundle` and `--receipt` run where an auditor keeps the evidence: a process
that checks bytes, without the event store, the portal or the SAML stack loaded."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from approval_ledger.cli import main

# What an offline check must not load: the event store (and so the ledger's storage), the
# portal and the SAML service provider.
NOT_FOR_OFFLINE = ("eventsourcing", "flask", "onelogin", "xmlsec", "web", "development")

# `python -m approval_ledger ARGS`, then the top-level packages it loaded, on the last line.
RUN_AND_LIST_MODULES = """
import runpy, sys
try:
    runpy.run_module("approval_ledger", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    status = stop.code
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
sys.exit(status)
"""


@pytest.fixture
def evidence(app, monkeypatch, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A bundle and a receipt of the test's ledger, and its verifier keys."""
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    bundle, receipt = tmp_path / "bundle.zip", tmp_path / "receipt.json"
    assert main(["export", "--out", str(bundle)]) == 0
    assert main(["receipt", "--seq", "0", "--out", str(receipt)]) == 0
    return bundle, receipt, app.settings.keys_dir / "verifier-keys"


def _offline(*args: str) -> tuple[int, set[str]]:
    """Exit status and loaded packages of `python -m approval_ledger ARGS` in a new process
    with no LEDGER_* setting, as on an auditor's machine."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, set(done.stdout.splitlines()[-1].split())


@pytest.mark.parametrize("kind", ["--bundle", "--receipt"])
def test_offline_verification_loads_neither_the_event_store_nor_the_portal(evidence, kind):
    bundle, receipt, keys = evidence
    path = bundle if kind == "--bundle" else receipt
    status, loaded = _offline("verify", kind, str(path), "--keys", str(keys))
    assert status == 0
    assert "approval_ledger" in loaded
    assert loaded.isdisjoint(NOT_FOR_OFFLINE), sorted(loaded & set(NOT_FOR_OFFLINE))
