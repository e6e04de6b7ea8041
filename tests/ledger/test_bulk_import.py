"""`ledger import`: a file of domain commands appended in batches gives the log that the
same commands one by one give, and a refused line writes nothing of its batch."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approval_ledger.cli import main
from approval_ledger.initialize import initialize
from ledger.bulk import ImportRefused, import_events
from ledger.domain import LoginRefusals
from ledger.evidence.leaf import open_leaf
from ledger.evidence.verify import verify_database
from tests.conftest import settings_in
from tests.fixtures import AARHUS, ODENSE

STAFF = "urn:uuid:00000000-0000-4000-8000-00000000000a"
AUDITOR = "00000000-0000-4000-8000-00000000000b"
START = datetime(2025, 11, 1, tzinfo=UTC)


def interval(n: int) -> tuple[datetime, datetime]:
    return START + timedelta(minutes=n), START + timedelta(minutes=n + 1)


COUNTS: list[dict[str, Any]] = [
    {"reason": "bad-signature", "network": "192.0.2.0/24", "refusals": 7},
    {"reason": "unsolicited", "network": "2001:db8::/48", "refusals": 2},
]


def commands() -> list[dict]:
    lines: list[dict] = [
        {"command": "register-customer", "cvr": AARHUS, "name": "Aarhus Kommune"},
        {"command": "register-customer", "cvr": ODENSE, "name": "Odense Kommune"},
        {"command": "grant-role", "person": STAFF, "name": "Stine Staff", "role": "staff"},
        {
            "command": "grant-role",
            "person": AUDITOR,
            "name": "Anders Revisor",
            "role": "auditor",
            "cvrs": [AARHUS],
        },
    ]
    for n in range(5):
        start, end = interval(n)
        lines.append(
            {
                "command": "count-login-refusals",
                "interval_start": start.isoformat(),
                "interval_end": end.isoformat(),
                "counts": COUNTS,
            }
        )
    lines.append({"command": "revoke-role", "person": AUDITOR, "role": "auditor"})
    lines.append(
        {"command": "grant-role", "person": AUDITOR, "name": "Anders R.", "role": "auditor"}
    )
    return lines


TYPES = [
    "Registered",
    "Registered",
    "RoleGranted",
    "RoleGranted",
    *["LoginRefusalsCounted"] * 5,
    "RoleRevoked",
    "RoleGranted",
]


def one_by_one(app, operator) -> None:
    """The same commands through the application, one event per transaction."""
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    app.grant_role(
        person_uuid=STAFF, person_name="Stine Staff", role="staff", cvrs=[], actor=operator
    )
    app.grant_role(
        person_uuid=AUDITOR,
        person_name="Anders Revisor",
        role="auditor",
        cvrs=[AARHUS],
        actor=operator,
    )
    for n in range(5):
        start, end = interval(n)
        app.save(
            LoginRefusals.summarize(
                interval_start=start,
                interval_end=end,
                counts=[(c["reason"], c["network"], c["refusals"]) for c in COUNTS],
                actor=operator,
            )
        )
    app.revoke_role(person_uuid=AUDITOR, role="auditor", actor=operator)
    app.grant_role(
        person_uuid=AUDITOR, person_name="Anders R.", role="auditor", cvrs=[], actor=operator
    )


def as_lines(items: list[dict]) -> list[str]:
    return [json.dumps(item) + "\n" for item in items]


def log_of(app) -> list[tuple]:
    """What each event is, apart from its time: its leaf's members and its facts."""
    keys = app.keyring.verifier_keys()
    shown = []
    for entry in app.signed_log.entries():
        leaf = open_leaf(entry.leaf, keys)
        shown.append(
            (
                entry.seq,
                entry.event_type,
                leaf.originator_id,
                leaf.originator_version,
                leaf.topic,
                leaf.kid,
                sorted(json.loads(entry.payload)),
                entry.facts(),
            )
        )
    return shown


def covered(app) -> bool:
    latest = app.signed_log.read_tree(lambda tree: tree.latest())
    return latest is not None and latest.size == app.signed_log.last_leaf().seq + 1


def test_an_import_gives_the_log_the_same_commands_one_by_one_give(tmp_path, operator):
    by_hand = initialize(settings_in(tmp_path / "by-hand"), operator).app
    imported = initialize(settings_in(tmp_path / "imported"), operator).app
    try:
        one_by_one(by_hand, operator)
        done = import_events(imported, as_lines(commands()), actor=operator, batch_size=3)
        assert (done.events, done.lines, done.batches) == (11, 11, 4)
        # Another log, another key: the same events at the same places, leaves of the same
        # form naming the same aggregates, versions and topics, payloads of the same facts.
        # (The first, LogStarted, names each log's own key.)
        expected, got = log_of(by_hand)[1:], log_of(imported)[1:]
        assert [row[:5] + row[6:] for row in got] == [row[:5] + row[6:] for row in expected]
        for app in (by_hand, imported):
            assert verify_database(app.settings.database, app.keyring.verifier_keys()).ok
        # A checkpoint over each batch as it commits: every imported leaf is covered.
        sizes = imported.signed_log.read_tree(
            lambda tree: [row[0] for row in tree._rows(f"SELECT size FROM {tree.checkpoints}")]
        )
        assert {4, 7, 10, 12} <= set(sizes)
        assert covered(imported)
    finally:
        by_hand.close()
        imported.close()


def test_an_import_on_either_database_verifies_and_every_leaf_is_checkpointed(app, operator):
    import_events(app, as_lines(commands()), actor=operator, batch_size=4)
    assert [row[1] for row in log_of(app)] == ["LogStarted", *TYPES]
    assert verify_database(app.settings.database, app.keyring.verifier_keys()).ok
    assert covered(app)
    assert app.role_assignments()[1].person_name == "Anders R."
    assert app.signed_log.last_leaf().seq == 11


def test_a_refused_line_names_its_number_and_writes_nothing_of_its_batch(app, operator):
    lines = commands()
    lines[5] = {**lines[5], "counts": [{"reason": "x", "network": "10.0.0.1", "refusals": 1}]}
    with pytest.raises(ImportRefused) as refused:
        import_events(app, as_lines(lines), actor=operator, batch_size=4)
    assert refused.value.line == 6
    assert refused.value.first_unwritten == 5
    assert "linje 6 / line 6" in str(refused.value)
    assert "--from-line 5" in str(refused.value)
    assert "/24" in refused.value.reason
    # The first batch (lines 1-4) stays; nothing of lines 5-8.
    assert app.signed_log.last_leaf().seq == 4
    assert verify_database(app.settings.database, app.keyring.verifier_keys()).ok


def test_a_file_imported_again_is_refused_at_its_first_line_and_resumes_from_a_line(app, operator):
    lines = as_lines(commands())
    import_events(app, lines[:7], actor=operator, batch_size=3)  # as if it stopped at line 7
    with pytest.raises(ImportRefused) as refused:
        import_events(app, lines, actor=operator, batch_size=3)
    assert refused.value.line == 1
    assert "allerede registreret" in refused.value.reason
    # An interval imported before is refused too (by its deterministic ID, in the database).
    with pytest.raises(ImportRefused) as again:
        import_events(app, lines, actor=operator, batch_size=3, from_line=5)
    assert again.value.line == 5
    assert "allerede i loggen" in again.value.reason
    done = import_events(app, lines, actor=operator, batch_size=3, from_line=8)
    assert done.events == 4
    assert [row[1] for row in log_of(app)][1:] == TYPES
    assert covered(app)


def test_what_an_earlier_batch_of_the_run_wrote_counts_as_written(app, operator):
    lines = commands()
    again = {"command": "register-customer", "cvr": ODENSE, "name": "Odense igen"}
    with pytest.raises(ImportRefused) as refused:
        import_events(app, as_lines([*lines, again]), actor=operator, batch_size=2)
    assert refused.value.line == 12
    assert "allerede registreret" in refused.value.reason
    assert [row[1] for row in log_of(app)][1:] == TYPES[:10]  # lines 11-12: one batch


def test_a_role_changed_by_another_writer_during_the_run_refuses_the_batch(app, operator):
    """The run remembers the role it granted; one revoked meanwhile by another writer makes
    the next save conflict, and nothing of that batch is written."""
    grant = {"command": "grant-role", "person": STAFF, "name": "Stine Staff", "role": "staff"}
    revoke = {"command": "revoke-role", "person": STAFF, "role": "staff"}

    def revoke_by_hand(done):
        if done.batches == 1:
            app.revoke_role(person_uuid=STAFF, role="staff", actor=operator)

    with pytest.raises(ImportRefused) as refused:
        import_events(
            app, as_lines([grant, revoke]), actor=operator, batch_size=1, on_batch=revoke_by_hand
        )
    assert refused.value.line == 2
    assert "ændret imens" in refused.value.reason
    assert [row[1] for row in log_of(app)][1:] == ["RoleGranted", "RoleRevoked"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "JSON"),
        ('{"command": "approve", "cvr": "55133018"}', "Ukendt kommando"),
        ('{"command": ["register-customer"]}', "Ukendt kommando"),
        ('{"command": "register-customer", "cvr": "55133018"}', "mangler feltet name"),
        ('{"command": "register-customer", "cvr": "55133018", "name": "A", "x": 1}', "Ukendte"),
        ('{"command": "register-customer", "cvr": "12345678", "name": "A"}', "kontrolcifferet"),
        ('{"command": "register-customer", "cvr": "55133018", "name": "A\\u0007"}', "kontroltegn"),
        ('{"command": "register-customer", "cvr": "55133018", "name": 5}', "tekst"),
        ('{"command": "grant-role", "person": "x", "name": "A", "role": "staff"}', "UUID"),
        (f'{{"command": "grant-role", "person": "{STAFF}", "name": "A", "role": "boss"}}', "rolle"),
        (f'{{"command": "revoke-role", "person": "{STAFF}", "role": "staff"}}', "ikke tildelt"),
    ],
)
def test_each_line_is_checked_as_its_command_is(app, operator, line, says):
    with pytest.raises(ImportRefused) as refused:
        import_events(app, [line], actor=operator)
    assert refused.value.line == 1
    assert says in refused.value.reason
    assert app.signed_log.last_leaf().seq == 0


def test_the_command_imports_and_refuses_with_the_line(app, tmp_path, monkeypatch, capsys):
    if not app.settings.database.is_sqlite:
        pytest.skip("the command reads its database from the environment; SQLite here")
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    good = tmp_path / "history.jsonl"
    good.write_text("".join(as_lines(commands())), encoding="utf-8")
    assert main(["import", str(good), "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "imported 11 events from 11 lines" in out
    assert "search index caught up over 12 events" in out
    assert main(["import", str(good)]) == 1
    err = capsys.readouterr().err
    assert "linje 1 / line 1" in err
    assert "allerede registreret" in err
    assert main(["verify"]) == 0


def test_the_command_stops_on_a_file_it_cannot_read(app, tmp_path, monkeypatch, capsys):
    if not app.settings.database.is_sqlite:
        pytest.skip("the command reads its database from the environment; SQLite here")
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    assert main(["import", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(
        '{"command": "register-customer", "cvr": "55133018", "name": "Å"}\n'.encode("latin-1")
    )
    assert main(["import", str(latin1)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["import", str(latin1), "--batch", "0"]) == 2
    assert "--batch" in capsys.readouterr().err
    assert app.signed_log.last_leaf().seq == 0
