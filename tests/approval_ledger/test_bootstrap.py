"""The composition root reads the environment once, at start; the commands that do not log
anyone in are not stopped by a SAML setting."""

import re
from pathlib import Path

from approval_ledger.bootstrap import read_configuration
from approval_ledger.cli import EXIT_CANNOT_RUN, EXIT_OK, main

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("approval_ledger", "development", "web", "saml", "ledger")


def test_only_the_composition_root_reads_settings_from_the_environment():
    readers = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"\b(Saml)?Settings\.from_env\(", path.read_text(encoding="utf-8"))
    }
    assert readers == {"approval_ledger/bootstrap.py"}


def test_the_configuration_is_the_environment_as_it_was_read(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LEDGER_DEV_IDP", "1")
    monkeypatch.setenv("LEDGER_SAML_BASE_URL", "http://127.0.0.1:5001")
    configuration = read_configuration()
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("LEDGER_SAML_BASE_URL", "http://127.0.0.1:6000")
    assert configuration.settings.data_dir == tmp_path / "var"
    assert configuration.saml().base_url == "http://127.0.0.1:5001"
    assert configuration.saml().dev_idp_dir == tmp_path / "var" / "saml" / "dev-idp"


def test_a_bad_saml_setting_stops_the_portal_but_not_the_other_commands(app, monkeypatch, capsys):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    monkeypatch.setenv("LEDGER_SAML_BASE_URL", "ftp://portal.example.dk")
    assert main(["customer", "list"]) == EXIT_OK
    capsys.readouterr()
    assert main(["serve"]) == EXIT_CANNOT_RUN
    assert capsys.readouterr().err.startswith("ledger: LEDGER_SAML_BASE_URL 'ftp://")
