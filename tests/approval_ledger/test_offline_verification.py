"""`ledger verify --bundle` and `--receipt` run where an auditor keeps the evidence: a process
that checks bytes, without the event store, the portal or the SAML stack loaded."""

import json
import os
import shutil
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


# Evidence that is not UTF-8: a verdict with the reason (exit 1), never a traceback.

VECTORS = Path(__file__).parents[1] / "vectors"
TRUSTED = VECTORS / "keys" / "trusted.keys"


def _verify_offline(*args: str) -> subprocess.CompletedProcess[str]:
    """`ledger verify ARGS` in a new process with no LEDGER_* setting."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "approval_ledger", "verify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("kind", "vector", "reason"),
    [
        ("--bundle", "bundles/bad/full-checkpoint-not-utf-8", "malformed-note"),
        ("--bundle", "bundles/bad/full-entry-not-utf-8", "malformed-leaf"),
        ("--bundle", "bundles/bad/full-payload-line-not-utf-8", "malformed-payload"),
        ("--bundle", "bundles/bad/subset-proof-line-not-utf-8", "malformed-proof"),
        ("--receipt", "receipts/bad/not-utf-8.json", "malformed-receipt"),
        ("--receipt", "receipts/bad/checkpoint-with-a-lone-surrogate.json", "malformed-note"),
    ],
)
def test_evidence_that_is_not_utf_8_fails_with_its_reason(kind, vector, reason):
    done = _verify_offline(kind, str(VECTORS / vector), "--keys", str(TRUSTED))
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.startswith(f"{reason}: ")


def test_a_bundles_own_keys_file_that_is_not_utf_8_is_malformed_keys(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(VECTORS / "bundles" / "good" / "full", bundle)
    (bundle / "keys").write_bytes(b"\xff" + (bundle / "keys").read_bytes())
    done = _verify_offline("--bundle", str(bundle))  # trusting the keys inside it
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("malformed-keys: keys: ")


def test_a_receipt_that_cannot_be_read_at_all_is_a_verdict_with_its_reason(tmp_path):
    receipt = tmp_path / "receipt.json"
    receipt.write_bytes(b'{"v": 1, "leaf": \n')
    done = _verify_offline("--receipt", str(receipt), "--keys", str(TRUSTED), "--json")
    assert (done.returncode, done.stderr) == (1, "")
    [problem] = json.loads(done.stdout)["problems"]
    assert (problem["reason"], problem["where"]) == ("malformed-receipt", "receipt")


def test_trusted_keys_that_are_not_utf_8_are_refused_without_a_traceback(tmp_path):
    keys = tmp_path / "keys"
    keys.write_bytes(b"\xff" + TRUSTED.read_bytes())
    done = _verify_offline(
        "--bundle", str(VECTORS / "bundles" / "good" / "full"), "--keys", str(keys)
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"ledger: {keys}: ")
    assert "Traceback" not in done.stderr


def test_a_receipt_is_reported_as_a_receipt_not_as_a_bundle():
    receipt = sorted((VECTORS / "receipts" / "good").glob("*.json"))[0]
    done = _verify_offline("--receipt", str(receipt), "--keys", str(TRUSTED))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("receipt, checkpoint size ")
    assert done.stdout.splitlines()[-1].endswith(": all holds")
