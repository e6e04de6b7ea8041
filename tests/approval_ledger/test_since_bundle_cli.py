"""`ledger export --since-bundle OLD` and `ledger verify --bundle NEW --since-bundle OLD` as an
auditor runs them: the check of a new bundle against a kept one in a process of its own with no
LEDGER_* setting, loading neither the event store nor the portal, and its verdict and reasons."""

import json

import pytest

from approval_ledger.cli import main
from tests.approval_ledger.test_offline_verification import (
    NOT_FOR_OFFLINE,
    _offline,
    _verify_offline,
)
from tests.ledger.test_checkpointer import register


@pytest.fixture
def ledger_env(app, monkeypatch):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    return app


def test_a_bundle_since_a_kept_one_is_checked_offline(ledger_env, operator, tmp_path, capsys):
    app = ledger_env
    old, new = tmp_path / "audit-2026.zip", tmp_path / "audit-2027.zip"
    keys = app.settings.keys_dir / "verifier-keys"
    assert main(["export", "--out", str(old)]) == 0
    register(app, operator, 1)
    assert main(["export", "--out", str(new), "--since-bundle", str(old)]) == 0
    status, loaded = _offline(
        "verify", "--bundle", str(new), "--since-bundle", str(old), "--keys", str(keys)
    )
    assert status == 0
    assert loaded.isdisjoint(NOT_FOR_OFFLINE), sorted(loaded & set(NOT_FOR_OFFLINE))
    done = _verify_offline("--bundle", str(new), "--since-bundle", str(old), "--keys", str(keys))
    assert done.returncode == 0, done.stdout
    assert "checked to extend the kept checkpoint of size 1" in done.stdout
    # The kept bundle checked as if it were the newer one: refused with its reason.
    done = _verify_offline(
        "--bundle", str(old), "--since-bundle", str(new), "--keys", str(keys), "--json"
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [p["reason"] for p in report["problems"]] == ["kept-checkpoint-newer"]
    assert report["since"] == 2


def test_since_bundle_is_refused_where_it_means_nothing(ledger_env, tmp_path, capsys):
    bundle = tmp_path / "b.zip"
    assert main(["export", "--out", str(bundle)]) == 0
    assert main(["verify", "--since-bundle", str(bundle)]) == 2
    assert "--since-bundle checks a --bundle" in capsys.readouterr().err
    missing = tmp_path / "missing.zip"
    assert main(["verify", "--bundle", str(bundle), "--since-bundle", str(missing)]) == 2
    assert main(["export", "--out", str(tmp_path / "c.zip"), "--since-bundle", str(missing)]) == 2
    assert not (tmp_path / "c.zip").exists()
