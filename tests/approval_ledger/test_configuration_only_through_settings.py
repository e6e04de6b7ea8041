"""The ledger is configured by `Settings` alone: the `eventsourcing` library reads nothing from
the environment, and a `LEDGER_*` variable that nothing reads stops the start with its name."""

import re
from pathlib import Path

import pytest

from approval_ledger.cli import EXIT_CANNOT_RUN, main
from approval_ledger.initialize import initialize
from ledger.config import KNOWN_VARIABLES, ConfigError, Settings
from ledger.evidence.verify import verify_database
from ledger.keyring import KeyRing
from tests.fixtures import AARHUS

ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_ledger_variable_stops_the_start_naming_it(tmp_path):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(
            {"LEDGER_DATA_DIR": str(tmp_path), "LEDGER_SQLITE_DBNAME": str(tmp_path / "other")}
        )
    assert str(refused.value).startswith("LEDGER_SQLITE_DBNAME: not a setting of the ledger")
    with pytest.raises(ConfigError, match=r"^LEDGER_OPERATOR_CRV, LEDGER_ORIGN: "):
        Settings.from_env({"LEDGER_ORIGN": "x", "LEDGER_OPERATOR_CRV": "55133018"})


def test_the_cli_refuses_to_start_with_an_unknown_variable_and_creates_nothing(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEDGER_SQLITE_DBNAME", str(tmp_path / "elsewhere.sqlite3"))
    for command in (["init"], ["verify"], ["customer", "list"], ["serve"]):
        assert main(command) == EXIT_CANNOT_RUN
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("ledger: LEDGER_SQLITE_DBNAME: not a setting of the ledger")
    assert not (tmp_path / "var").exists()
    assert not (tmp_path / "elsewhere.sqlite3").exists()


def test_writes_go_where_verify_reads_whatever_the_environment_holds(
    settings, operator, tmp_path, monkeypatch
):
    """Variables the library would have read (prefixed with the application's name, or not)
    are in the environment; the ledger is built from its settings and ignores them all."""
    elsewhere = tmp_path / "elsewhere.sqlite3"
    for name in ("LEDGER_SQLITE_DBNAME", "SQLITE_DBNAME"):
        monkeypatch.setenv(name, str(elsewhere))
    for name in ("LEDGER_PERSISTENCE_MODULE", "PERSISTENCE_MODULE"):
        monkeypatch.setenv(name, "eventsourcing.popo")
    monkeypatch.setenv("LEDGER_POSTGRES_SCHEMA", "elsewhere")
    monkeypatch.setenv("LEDGER_POSTGRES_DBNAME", "postgres")
    monkeypatch.setenv("LEDGER_CREATE_TABLE", "n")
    app = initialize(settings, operator).app
    try:
        app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
        written = [entry.event_type for entry in app.signed_log.entries()]
    finally:
        app.close()
    assert written == ["LogStarted", "Registered"]
    report = verify_database(settings.database, KeyRing(settings.keys_dir).verifier_keys())
    assert report.ok, report.problems
    assert (report.leaves, report.events) == (2, 2)
    assert not elsewhere.exists()


def _variables_in_source() -> set[str]:
    """Every `"LEDGER_..."` string in the code, outside the list of known variables itself."""
    found = set()
    for package in ("ledger", "saml", "web"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if path == ROOT / "ledger" / "config.py":
                start = text.index("KNOWN_VARIABLES = frozenset(")
                text = text[:start] + text[text.index("\n)\n", start) :]
            found |= set(re.findall(r'"(LEDGER_[A-Z0-9_]+)"', text))
    return found


def test_every_variable_the_code_reads_is_known():
    assert _variables_in_source() - KNOWN_VARIABLES == set()


def _documented(name: str, readme: str) -> bool:
    """In README.md's tables, by its name or as `PREFIX_KEY` / `_CERT` beside a sibling."""
    if f"`{name}`" in readme:
        return True
    prefix, _, last = name.rpartition("_")
    return any(f"`{prefix}_" in row and f"`_{last}`" in row for row in readme.splitlines())


def test_every_variable_the_code_reads_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert {name for name in _variables_in_source() if not _documented(name, readme)} == set()
