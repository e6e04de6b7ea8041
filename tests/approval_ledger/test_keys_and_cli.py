"""Key rotation, configuration and the `ledger` command as an operator uses it."""

import json
import os
import re
import stat

import pytest

from approval_ledger.cli import main
from ledger.config import ConfigError, Settings
from ledger.evidence.keys import parse_verifier_keys
from ledger.evidence.leaf import open_leaf
from ledger.evidence.verify import verify_database
from tests.fixtures import AARHUS, PDF


def test_rotation_is_signed_by_the_old_key_and_later_leaves_by_the_new(app, operator):
    old_kid = app.signed_log.signing_kid()
    new_kid = app.signed_log.rotate_signing_key(operator)
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    keys = app.keyring.verifier_keys()
    assert set(keys) == {old_kid, new_kid}
    leaves = [
        (e.event_type, open_leaf(r.leaf, keys).kid)
        for e, r in zip(app.signed_log.entries(), app.recorder.select_log(), strict=True)
    ]
    assert leaves == [("LogStarted", old_kid), ("KeyRotated", old_kid), ("Registered", new_kid)]
    rotated = next(e for e in app.signed_log.entries() if e.event_type == "KeyRotated").facts()
    assert rotated["previous_kid"] == old_kid
    assert rotated["verifier_key"] == keys[new_kid].line()
    assert not (app.settings.keys_dir / f"signing-{old_kid}.pem").exists()
    assert verify_database(app.settings.database, keys).ok


def test_another_process_signs_with_the_rotated_key(app, operator):
    from ledger.application import LedgerApp

    other = LedgerApp(app.settings)
    other.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    new_kid = app.signed_log.rotate_signing_key(operator)
    other.grant_role(
        person_uuid="urn:uuid:00000000-0000-4000-8000-00000000000f",
        person_name="X",
        role="staff",
        cvrs=[],
        actor=operator,
    )
    last = other.recorder.select_log(after=2)[-1]
    assert open_leaf(last.leaf, app.keyring.verifier_keys()).kid == new_kid
    other.close()


def test_settings_refuse_a_bad_database_url_with_the_variable_named():
    with pytest.raises(ConfigError, match="LEDGER_DATABASE_URL"):
        Settings.from_env({"LEDGER_DATABASE_URL": "mysql://x/y"})
    with pytest.raises(ConfigError, match="LEDGER_ORIGIN"):
        Settings.from_env({"LEDGER_ORIGIN": "has space"})
    with pytest.raises(ConfigError, match="MONTHS"):
        Settings.from_env({"LEDGER_DECLARATION_VALIDITY_MONTHS": "0"})


def test_settings_default_to_sqlite_under_the_data_directory(tmp_path):
    settings = Settings.from_env({"LEDGER_DATA_DIR": str(tmp_path)})
    assert settings.database.sqlite_path == tmp_path / "ledger.sqlite3"
    assert settings.keys_dir == tmp_path / "keys"


@pytest.fixture
def ledger_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("LEDGER_ORIGIN", "test.example/ledger")
    return tmp_path / "var"


def test_init_creates_a_private_key_and_is_idempotent(ledger_env, capsys):
    assert main(["init"]) == 0
    keys = list((ledger_env / "keys").glob("signing-*.pem"))
    assert len(keys) == 1
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    first = capsys.readouterr().out
    assert "test.example/ledger+" in first
    assert main(["init"]) == 0
    assert "already started" in capsys.readouterr().out
    assert len(list((ledger_env / "keys").glob("signing-*.pem"))) == 1


def test_commands_before_init_say_to_run_init(ledger_env, capsys):
    assert main(["customer", "list"]) == 2
    assert "ledger init" in capsys.readouterr().err


def test_an_operator_registers_publishes_grants_and_reads_history(ledger_env, tmp_path, capsys):
    main(["init"])
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    assert main(["customer", "add", "--cvr", "12345678", "--name", "Ugyldig"]) == 1
    assert "kontrolcifferet" in capsys.readouterr().err
    document = tmp_path / "aftale.pdf"
    document.write_bytes(PDF)
    assert (
        main(
            [
                "agreement",
                "publish",
                "--title",
                "Driftsaftale",
                "--version",
                "2026.1",
                "--file",
                str(document),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "agreement",
                "publish",
                "--title",
                "X",
                "--version",
                "1",
                "--file",
                str(tmp_path / "missing.pdf"),
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "role",
                "grant",
                "--person",
                "urn:uuid:00000000-0000-4000-8000-00000000000a",
                "--name",
                "Erik",
                "--role",
                "auditor",
                "--cvr",
                AARHUS,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines] == [
        "LogStarted",
        "Registered",
        "Published",
        "RoleGranted",
    ]
    assert [line["seq"] for line in lines] == [0, 1, 2, 3]
    assert main(["history", "--cvr", AARHUS, "--json"]) == 0
    assert [json.loads(x)["type"] for x in capsys.readouterr().out.splitlines()] == ["Registered"]
    assert main(["history", "--since", "yesterday"]) == 1


def test_verify_exits_0_when_all_holds_and_1_on_a_problem(ledger_env, capsys):
    import sqlite3

    main(["init"])
    main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"])
    capsys.readouterr()
    assert main(["verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    with sqlite3.connect(ledger_env / "ledger.sqlite3") as db:
        db.execute(
            "UPDATE stored_events SET state = CAST('{}' AS BLOB) "
            "WHERE originator_version = 1 AND topic LIKE '%Registered'"
        )
    assert main(["verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("payload-mismatch: seq 1 ")
    assert out[-1] == "checked 2 leaves and 2 events: 1 problem (payload-mismatch 1)"


def test_verify_exits_2_when_it_cannot_run(ledger_env, tmp_path, capsys):
    assert main(["verify"]) == 2
    main(["init"])
    assert main(["verify", "--keys", str(tmp_path / "nowhere")]) == 2
    assert "cannot read verifier keys" in capsys.readouterr().err


def test_key_rotate_from_the_cli_keeps_the_log_verifiable(ledger_env, capsys):
    main(["init"])
    assert main(["key", "rotate"]) == 0
    assert main(["customer", "add", "--cvr", AARHUS, "--name", "Aarhus Kommune"]) == 0
    keys = parse_verifier_keys((ledger_env / "keys" / "verifier-keys").read_text())
    assert len(keys) == 2
    assert main(["verify"]) == 0


def test_demo_seeds_once_and_verifies(ledger_env, capsys):
    assert main(["demo", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "seeded the demo data" in out
    assert "ApprovalReset" in out
    assert out.rstrip().endswith("all holds")
    assert main(["demo", "--no-serve"]) == 0
    assert "already there" in capsys.readouterr().out


def test_no_key_file_is_readable_by_others(ledger_env):
    main(["init"])
    keys_dir = ledger_env / "keys"
    assert stat.S_IMODE(os.stat(keys_dir).st_mode) & 0o077 == 0


def test_reindex_rebuilds_the_search_index_from_the_log(ledger_env, capsys):
    assert main(["demo", "--no-serve"]) == 0
    capsys.readouterr()
    assert main(["reindex"]) == 0
    # The demo's events (its customers and, since issue 15, their migrations), and the
    # migration board's rows, one for each of those events that concerns a migration.
    said = re.fullmatch(
        r"indexed (\d+) events\nmigration board: (\d+) rows\n", capsys.readouterr().out
    )
    assert said is not None
    events, rows = map(int, said.groups())
    assert events > 12
    assert 0 < rows < events


def test_a_declaration_sent_in_the_future_is_refused_not_a_traceback(ledger_env, capsys):
    assert main(["demo", "--no-serve"]) == 0  # Aarhus's declaration countersigned (its migration)
    capsys.readouterr()
    sent = ["declaration", "sent", "--cvr", "55133018", "--reference", "R-1"]
    assert main([*sent, "--date", "9999-12-31"]) == 1
    assert "kan ikke ligge i fremtiden" in capsys.readouterr().err
