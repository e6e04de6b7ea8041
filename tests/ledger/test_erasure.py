"""Personal data with an end (docs/evidence-format.md section 10): once the log adopts
format 2, personal fields are committed rather than hashed; erasing them, on schedule or on
request, is a signed event, every proof made before and after still verifies, and the
erased value is found nowhere in the ledger's files. Each way an erasure can be faked or
left half done fails `ledger verify` with its own reason."""

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.documents import DocumentNotFound
from ledger.erasure import Eraser, Planned, Refusal
from ledger.evidence.bundle import Receipt, verify_receipt
from ledger.evidence.personal import commitments_in
from ledger.evidence.reasons import Reason
from ledger.evidence.tables import PERSONAL_DATA_TABLE
from ledger.evidence.verify import verify_database
from ledger.identity import Actor
from ledger.personal_data import is_erased
from ledger.search import EventIndex, Query
from tests.fixtures import AARHUS, login, signatory
from tests.helpers import point_the_cli_at

NAME = "Zyxwa Qwertyø"
PERSON = "urn:uuid:7d1f0c3a-5b2e-4c8d-9e6f-0a1b2c3d4e5f"
IP = "198.51.100.77"
USER_AGENT = "Mozilla/5.0 (Testbrowser Ærlig/9.9)"
LATER = datetime.now(UTC) + timedelta(days=7 * 31)


def approve(
    app: LedgerApp, operator: Actor, *, assertion: str = "_erasure-1", label: str = "2026.1"
) -> int:
    """An approval by NAME from IP of a new agreement version `label`: its seq."""
    if not app.customers():
        app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    agreement = app.publish_agreement(
        title="Driftsaftale",
        version_label=label,
        document=b"%PDF-1.4\n% erasure test\n%%EOF\n",
        document_name="driftsaftale.pdf",
        actor=operator,
    )
    approval, _ = app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory(name=NAME, person_uuid=PERSON),
        authentication=login(app, assertion),
        ip=IP,
        user_agent=USER_AGENT,
    )
    return app.signed_log.seq_of(approval.id, approval.version)


@pytest.fixture
def adopted(app: LedgerApp, operator: Actor) -> LedgerApp:
    """A log `ledger init` started: in format 2 from its first event."""
    assert app.personal_mapper.adopted
    return app


@pytest.fixture
def format_1(settings: Settings, operator: Actor) -> Iterator[LedgerApp]:
    """A log started before format 2 existed (its events hash their personal values)."""
    ledger = initialize(settings, operator, evidence_format=1).app
    yield ledger
    ledger.close()


def verified(app: LedgerApp):
    return verify_database(
        app.settings.database, app.keyring.verifier_keys(), documents=app.settings.documents_dir
    )


def reasons(app: LedgerApp) -> list[tuple[str, int | None]]:
    return sorted((str(p.reason), p.seq) for p in verified(app).problems)


def files_holding(app: LedgerApp, text: str) -> list[str]:
    """The files of the data directory that hold `text` (the SQLite file and its WAL, the
    documents), as `grep` finds it in their bytes."""
    found = subprocess.run(
        ["grep", "-rlaF", text, str(app.settings.data_dir)], capture_output=True, text=True
    )
    return found.stdout.split()


def test_a_new_log_writes_format_2_from_its_first_event(app, operator):
    """`ledger init` starts the log in format 2: its first event says so, no event of it is
    in format 1, and adopting again changes nothing."""
    first = app.signed_log.entry(0)
    assert (first.event_type, first.facts()["evidence_format"]) == ("LogStarted", 2)
    assert app.signed_log.evidence_format() == 2
    assert not app.adopt_evidence_format_2(operator)
    seq = approve(app, operator)
    assert [e.event_type for e in app.signed_log.entries()][:2] == ["LogStarted", "Registered"]
    assert IP.encode() not in app.signed_log.entry(seq).payload
    assert verified(app).ok


def test_the_cli_adopts_format_2_for_a_log_started_before_it(
    format_1, operator, monkeypatch, capsys
):
    from approval_ledger.cli import main

    app = format_1
    seq = approve(app, operator)
    point_the_cli_at(app, monkeypatch)
    assert main(["privacy", "adopt"]) == 0
    assert "now commits the personal fields" in capsys.readouterr().out
    assert main(["privacy", "adopt"]) == 0
    assert "already writes evidence format 2" in capsys.readouterr().out
    app.close()
    reopened = LedgerApp(app.settings)
    try:
        assert reopened.personal_mapper.adopted
        later = approve(reopened, operator, assertion="_erasure-2", label="2026.2")
        assert IP.encode() in reopened.signed_log.entry(seq).payload  # stays as it was
        assert IP.encode() not in reopened.signed_log.entry(later).payload
        assert verified(reopened).ok
    finally:
        reopened.close()


def test_a_log_that_has_not_adopted_format_2_writes_its_payloads_as_before(format_1, operator):
    app = format_1
    seq = approve(app, operator)
    entry = app.signed_log.entry(seq)
    assert IP.encode() in entry.payload
    assert NAME.encode() in entry.payload
    assert commitments_in(entry.payload) == (None, [])
    assert app.personal_data.tables.rows(f"SELECT COUNT(*) FROM {PERSONAL_DATA_TABLE}") == [(0,)]


def test_after_adoption_the_payload_commits_personal_fields_and_readers_see_the_values(adopted):
    seq = approve(adopted, Actor(Actor.OPERATOR, "drift"))
    entry = adopted.signed_log.entry(seq)
    for value in (NAME, IP, USER_AGENT, PERSON, "_erasure-1"):
        assert value.encode() not in entry.payload
    _, committed = commitments_in(entry.payload)
    assert {c.field for c in committed} == {
        "actor.name",
        "actor.person_uuid",
        "authentication.assertion_id",
        "request.ip",
        "request.user_agent",
    }
    facts = entry.facts()
    assert facts["actor"]["name"] == NAME
    assert facts["request"] == {
        "ip": IP,
        "user_agent": USER_AGENT,
        "document_sha256": facts["request"]["document_sha256"],
    }
    approval = adopted.approval(AARHUS, facts["agreement_version_id"])
    assert approval.approved_by.name == NAME
    report = verified(adopted)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.personal, report.erased) == (5, 0)


def test_retention_erases_the_network_facts_and_every_proof_still_holds(adopted, operator):
    seq = approve(adopted, operator)
    receipt = adopted.signed_log.receipt(seq).to_json()
    index = EventIndex(adopted)
    index.refresh()
    eraser = Eraser(adopted)
    assert eraser.run(datetime.now(UTC), actor=operator) == []  # nothing due yet

    (done,) = eraser.run(LATER, actor=operator)

    assert (done.rule, done.fields) == ("network", {"request.ip", "request.user_agent"})
    request = adopted.signed_log.entry(seq).facts()["request"]
    assert request["ip"] == f"slettet (persondata, seq {done.seq}, regel network)"
    assert is_erased(request["user_agent"])
    assert adopted.signed_log.entry(seq).facts()["actor"]["name"] == NAME  # kept longer
    report = verified(adopted)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.personal, report.erased) == (5, 2)
    assert adopted.signed_log.receipt(seq).to_json() == receipt  # the same bytes
    assert verify_receipt(Receipt.from_json(receipt), adopted.keyring.verifier_keys()).ok
    index.refresh()
    assert index.check() == []
    if adopted.settings.database.is_sqlite:
        assert files_holding(adopted, IP) == []
        assert files_holding(adopted, USER_AGENT) == []
        assert files_holding(adopted, NAME) != []


def opening_fields(app: LedgerApp) -> list[str]:
    """The fields of the openings rows the table holds (kept or erased by a request)."""
    rows = app.personal_data.tables.rows(f"SELECT field FROM {PERSONAL_DATA_TABLE}")
    return sorted(row[0] for row in rows)


def refuse(app: LedgerApp, assertion: str = "_refused-1") -> int:
    """A refused login of PERSON (its identity verified): its seq."""
    rejection = app.record_login_rejected(
        reason="not-professional",
        idp="https://idp.test",
        assertion_id=assertion,
        person_uuid=PERSON.removeprefix("urn:uuid:"),
    )
    return app.signed_log.seq_of(rejection.id, 1)


def test_a_time_rule_deletes_the_openings_it_erases_and_readers_name_its_seq_and_rule(
    adopted, operator
):
    """A retention rule by time leaves no row of what it erased (a DELETE, as cheap as a
    plain one): readers find its seq and rule by the value's kind and its event's time."""
    approval = approve(adopted, operator)
    refused = refuse(adopted)
    assert "request.ip" in opening_fields(adopted)

    done = {p.rule: p for p in Eraser(adopted).run(LATER, actor=operator)}

    assert set(done) == {"network", "refusal"}
    fields = opening_fields(adopted)
    for gone in ("request.ip", "request.user_agent", "person_uuid", "assertion_id"):
        assert gone not in fields, fields
    assert "actor.name" in fields  # the identity rule's values are kept longer
    request = adopted.signed_log.entry(approval).facts()["request"]
    assert request["ip"] == f"slettet (persondata, seq {done['network'].seq}, regel network)"
    refusal = adopted.signed_log.entry(refused).facts()
    erased = f"slettet (persondata, seq {done['refusal'].seq}, regel refusal)"
    assert refusal["person_uuid"] == refusal["assertion_id"] == erased
    report = verified(adopted)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.personal, report.erased) == (7, 4)


def test_an_opening_missing_that_no_time_rule_erased_is_personal_data_missing(adopted, operator):
    """After a time rule deleted the openings it erased, an opening deleted by hand of an
    event the rule did not reach (logged after it) is still tampering, and shown so."""
    first = approve(adopted, operator)
    (done,) = Eraser(adopted).run(LATER, actor=operator)
    later = approve(adopted, operator, assertion="_erasure-2", label="2026.2")
    assert verified(adopted).ok
    _, committed = commitments_in(adopted.signed_log.entry(later).payload)
    (ip_of_later,) = [c.commitment for c in committed if c.field == "request.ip"]
    adopted.personal_data.tables.run(
        lambda c: c.execute(f"DELETE FROM {PERSONAL_DATA_TABLE} WHERE commitment = '{ip_of_later}'")
    )
    assert reasons(adopted) == [(Reason.PERSONAL_DATA_MISSING, later)]
    ip = adopted.signed_log.entry(later).facts()["request"]["ip"]
    assert ip == "slettet (persondata, ingen sletning registreret)"
    kept = adopted.signed_log.entry(first).facts()["request"]["ip"]
    assert kept == f"slettet (persondata, seq {done.seq}, regel network)"


def test_a_time_rule_covers_only_its_own_kinds_fields_not_the_same_name_in_other_events(
    adopted, operator
):
    """The refusal rule erases the refused logins' `person_uuid`, a field name a role grant
    holds too (of the identity kind): a grant's opening deleted by hand is tampering, not
    erased by the refusal rule's erasure, although its event happened before its `before`."""
    assignment = adopted.grant_role(
        person_uuid=PERSON, person_name=NAME, role="staff", cvrs=[], actor=operator
    )
    granted = adopted.signed_log.seq_of(assignment.id, assignment.version)
    refuse(adopted)
    done = {p.rule: p for p in Eraser(adopted).run(LATER, actor=operator)}
    assert "refusal" in done
    erasure = adopted.signed_log.entry(done["refusal"].seq).facts()
    assert erasure["event_fields"] == [
        "LoginRejected assertion_id",
        "LoginRejected person_uuid",
    ]
    assert verified(adopted).ok
    _, committed = commitments_in(adopted.signed_log.entry(granted).payload)
    (uuid_of_grant,) = [c.commitment for c in committed if c.field == "person_uuid"]
    adopted.personal_data.tables.run(
        lambda c: c.execute(
            f"DELETE FROM {PERSONAL_DATA_TABLE} WHERE commitment = '{uuid_of_grant}'"
        )
    )
    assert reasons(adopted) == [(Reason.PERSONAL_DATA_MISSING, granted)]


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM ledger_personal_erased_by_time WHERE rule = 'network'",
        "UPDATE ledger_personal_erased_by_time SET cutoff = '2020-01-01T00:00:00+00:00' "
        "WHERE rule = 'network'",
        "UPDATE ledger_personal_erased_by_time SET seq = seq + 1000 WHERE rule = 'network'",
    ],
    ids=["row-deleted", "cutoff-changed", "seq-moved"],
)
def test_a_time_erasures_row_that_differs_from_its_event_is_an_erasure_record_mismatch(
    adopted, operator, change
):
    """The row where readers find a time rule's seq is derived data: deleted or altered, the
    pages show the value as erased by no one or by another seq. `ledger verify` holds each
    row to its signed event, and each time rule's event that took openings to its row."""
    approval = approve(adopted, operator)
    done = {p.rule: p for p in Eraser(adopted).run(LATER, actor=operator)}
    assert verified(adopted).ok
    adopted.personal_data.tables.run(lambda c: c.execute(change))
    problems = verified(adopted).problems
    seq = done["network"].seq
    expected = [seq, seq + 1000] if "seq + 1000" in change else [seq]  # moved: both ends
    assert [(str(p.reason), p.seq) for p in problems] == [
        (Reason.ERASURE_RECORD_MISMATCH, at) for at in expected
    ], [str(p) for p in problems]
    ip = adopted.signed_log.entry(approval).facts()["request"]["ip"]
    assert ip != f"slettet (persondata, seq {done['network'].seq}, regel network)"


def test_a_refused_logins_person_is_not_kept_in_the_search_index(adopted, operator):
    """The search index keeps no UUID of a refused login: the refusal rule's erasure then
    has nothing to rewrite there."""
    seq = refuse(adopted)
    index = EventIndex(adopted)
    index.refresh()
    rows = adopted.personal_data.tables.rows(
        f"SELECT subject_uuid, actor_uuid FROM ledger_event_index WHERE seq = {seq}"
    )
    assert rows == [(None, None)]
    assert index.check() == []
    # An index made before they were left out forgets them when a process opens it.
    adopted.personal_data.tables.run(
        lambda c: c.execute(
            f"UPDATE ledger_event_index SET subject_uuid = '{PERSON[9:]}' WHERE seq = {seq}"
        )
    )
    assert [p.reason for p in index.check()] == [Reason.INDEX_MISMATCH]
    index.close()
    index = EventIndex(adopted)
    index.refresh()
    assert index.check() == []
    Eraser(adopted).run(LATER, actor=operator)
    index.refresh()
    assert index.check() == []
    assert verified(adopted).ok
    index.close()


def test_a_dry_run_and_the_report_say_what_is_due_and_erase_nothing(adopted, operator):
    seq = approve(adopted, operator)
    eraser = Eraser(adopted)
    (planned,) = eraser.run(LATER, dry_run=True, actor=operator)
    assert planned.seq is None
    assert planned.openings == 2
    assert adopted.signed_log.entry(seq).facts()["request"]["ip"] == IP
    rows = {(field, rule): (held, due) for _, field, rule, held, due in eraser.report(LATER)}
    assert rows[("request.ip", "network")] == (1, 1)
    assert rows[("actor.name", "identity")] == (1, 0)


def test_a_request_is_refused_while_the_approval_is_evidence_and_the_refusal_recorded(
    adopted, operator
):
    seq = approve(adopted, operator)
    refusal = Eraser(adopted).erase_person(PERSON, reason="Sag 2026-17", actor=operator)
    assert isinstance(refusal, Refusal)
    assert refusal.seqs == [seq]
    recorded = adopted.signed_log.entry(refusal.seq)
    assert recorded.event_type == "PersonalDataErasureRefused"
    assert recorded.facts()["seqs"] == [seq]
    assert "art. 17, stk. 3" in recorded.facts()["basis"]
    assert adopted.signed_log.entry(seq).facts()["actor"]["name"] == NAME
    assert verified(adopted).ok


def test_a_request_erases_the_person_once_the_approval_ended_and_its_period_ran_out(
    adopted, operator
):
    seq = approve(adopted, operator)
    version = adopted.signed_log.entry(seq).facts()["agreement_version_id"]
    index = EventIndex(adopted)
    index.refresh()
    assert [e.seq for e in index.matching(Query.checked(person=PERSON))] == [seq]
    adopted.reset_approval(cvr=AARHUS, version_id=version, reason="forkert person", actor=operator)
    eraser = Eraser(adopted)
    assert isinstance(eraser.erase_person(PERSON, reason="Sag 1", actor=operator), Refusal)

    done = eraser.erase_person(
        PERSON, reason="Sag 2", actor=operator, as_of=datetime.now(UTC) + timedelta(days=4 * 366)
    )

    facts = adopted.signed_log.entry(seq).facts()
    erased = f"slettet (persondata, seq {done.seq}, regel request)"
    assert facts["actor"]["name"] == facts["actor"]["person_uuid"] == erased
    assert facts["request"]["ip"] == erased
    assert len(done.documents) == 1
    report = verified(adopted)
    assert report.ok, [str(p) for p in report.problems]
    index.refresh()
    assert index.check() == []
    assert list(index.matching(Query.checked(person=PERSON))) == []
    if adopted.settings.database.is_sqlite:
        for value in (NAME, IP, USER_AGENT, PERSON.removeprefix("urn:uuid:"), "_erasure-1"):
            assert files_holding(adopted, value) == [], value


def test_an_opening_deleted_without_an_erasure_is_personal_data_missing(adopted, operator):
    seq = approve(adopted, operator)
    adopted.personal_data.tables.run(
        lambda c: c.execute(f"DELETE FROM {PERSONAL_DATA_TABLE} WHERE field = 'request.ip'")
    )
    assert reasons(adopted) == [(Reason.PERSONAL_DATA_MISSING, seq)]


def test_an_opening_whose_value_was_changed_is_a_commitment_mismatch(adopted, operator):
    seq = approve(adopted, operator)
    adopted.personal_data.tables.run(
        lambda c: c.execute(
            f"UPDATE {PERSONAL_DATA_TABLE} SET opening_value = '\"203.0.113.1\"' "
            "WHERE field = 'request.ip'"
        )
    )
    assert reasons(adopted) == [(Reason.COMMITMENT_MISMATCH, seq)]
    assert is_erased(adopted.signed_log.entry(seq).facts()["request"]["ip"])  # never shown


def test_an_erasure_event_whose_data_is_still_stored_is_erasure_incomplete(adopted, operator):
    approve(adopted, operator)
    eraser = Eraser(adopted)
    (planned,) = eraser.plan(LATER)
    eraser._erase_openings = lambda planned: None  # recorded, then not carried out
    eraser.carry_out(planned, actor=operator, reason=None, basis="test")
    assert reasons(adopted) == [(Reason.ERASURE_INCOMPLETE, planned.seq)] * 2


def test_an_erased_persons_uuid_left_in_the_search_index_is_erased_data_readable(adopted, operator):
    seq = approve(adopted, operator)
    version = adopted.signed_log.entry(seq).facts()["agreement_version_id"]
    adopted.reset_approval(cvr=AARHUS, version_id=version, reason="forkert person", actor=operator)
    index = EventIndex(adopted)
    index.refresh()
    later = datetime.now(UTC) + timedelta(days=4 * 366)
    Eraser(adopted).erase_person(PERSON, reason="Sag 3", actor=operator, as_of=later)
    assert verified(adopted).ok
    adopted.personal_data.tables.run(
        lambda c: c.execute(
            f"UPDATE ledger_event_index SET actor_uuid = '{PERSON[9:]}' WHERE seq = {seq}"
        )
    )
    assert reasons(adopted) == [(Reason.ERASED_DATA_READABLE, seq)]


def test_an_erased_assertion_left_in_the_documents_directory_is_erased_data_readable(
    adopted, operator
):
    seq = approve(adopted, operator)
    version = adopted.signed_log.entry(seq).facts()["agreement_version_id"]
    assertion = adopted.signed_log.entry(seq).facts()["authentication"]["assertion_sha256"]
    kept = adopted.documents.get(assertion)
    adopted.reset_approval(cvr=AARHUS, version_id=version, reason="forkert person", actor=operator)
    later = datetime.now(UTC) + timedelta(days=4 * 366)
    done = Eraser(adopted).erase_person(PERSON, reason="Sag 4", actor=operator, as_of=later)
    assert verified(adopted).ok
    adopted.documents.put(kept)
    assert reasons(adopted) == [(Reason.ERASED_DATA_READABLE, done.seq)]


def test_the_cli_erases_on_request_runs_retention_and_reports(app, operator, monkeypatch, capsys):
    from approval_ledger.cli import main

    point_the_cli_at(app, monkeypatch)
    assert main(["privacy", "adopt"]) == 0
    app.close()
    app = LedgerApp(app.settings)  # a process started after the adoption
    try:
        seq = approve(app, operator)
        capsys.readouterr()
        assert main(["erase", "--person", PERSON, "--reason", "Sag 5"]) == 1
        assert "refused" in capsys.readouterr().out
        assert main(["retention", "run", "--dry-run", "--as-of", LATER.date().isoformat()]) == 0
        assert "would erase regel network: 2 felter" in capsys.readouterr().out
        assert main(["retention", "run", "--as-of", LATER.date().isoformat()]) == 0
        assert "erased regel network" in capsys.readouterr().out
        assert main(["privacy", "report", "--json"]) == 0
        fields = [json.loads(line)["field"] for line in capsys.readouterr().out.splitlines()]
        assert "request.ip" not in fields
        assert "actor.name" in fields
        assert is_erased(app.signed_log.entry(seq).facts()["request"]["ip"])
        assert main(["verify"]) == 0
        assert "2 of them erased" in capsys.readouterr().out
    finally:
        app.close()


def test_the_values_are_read_from_their_own_table_not_a_copy(adopted, operator, tmp_path: Path):
    """A reader that has only the events (a bundle, a backup of the events table) finds no
    personal value in them: the payload holds commitments alone."""
    seq = approve(adopted, operator)
    stored = adopted.signed_log.entry(seq).payload
    (tmp_path / "payload").write_bytes(stored)
    assert json.loads(stored)["request"]["_data_"]["ip"]["_type_"] == "personal"


def test_bundles_show_the_values_present_and_verify_before_and_after_an_erasure(
    adopted, operator, tmp_path: Path
):
    from ledger.evidence.bundle import PERSONAL_FILE, verify_bundle
    from ledger.export import export_bundle

    approve(adopted, operator)
    keys = adopted.keyring.verifier_keys()
    export_bundle(adopted, tmp_path / "before")
    before = verify_bundle(tmp_path / "before", keys)
    assert before.ok, before.problems
    assert (before.committed, before.opened) == (5, 5)
    kept = {path.name: path.read_bytes() for path in (tmp_path / "before").iterdir()}
    assert IP in (tmp_path / "before" / PERSONAL_FILE).read_text()

    Eraser(adopted).run(LATER, actor=operator)
    export_bundle(adopted, tmp_path / "after")

    after = verify_bundle(tmp_path / "after", keys)
    assert after.ok, after.problems
    assert (after.committed, after.opened) == (5, 3)
    assert files_in(tmp_path / "after", IP) == []
    assert files_in(tmp_path / "after", USER_AGENT) == []
    assert verify_bundle(tmp_path / "before", keys).ok  # the bundle kept from before
    assert {p.name: p.read_bytes() for p in (tmp_path / "before").iterdir()} == kept
    entries = (tmp_path / "after" / "entries.jsonl").read_bytes()
    assert entries.startswith(kept["entries.jsonl"])  # the same leaves, and more


def test_a_bundled_opening_of_another_value_is_a_commitment_mismatch(
    adopted, operator, tmp_path: Path
):
    from ledger.evidence.bundle import PERSONAL_FILE, verify_bundle
    from ledger.export import export_bundle

    approve(adopted, operator)
    export_bundle(adopted, tmp_path / "bundle")
    personal = tmp_path / "bundle" / PERSONAL_FILE
    personal.write_text(personal.read_text().replace(IP, "203.0.113.9"))
    report = verify_bundle(tmp_path / "bundle", adopted.keyring.verifier_keys())
    assert [p.reason for p in report.problems] == [Reason.COMMITMENT_MISMATCH]


def files_in(directory: Path, text: str) -> list[str]:
    found = subprocess.run(["grep", "-rlaF", text, str(directory)], capture_output=True, text=True)
    return found.stdout.split()


def test_the_daily_retention_job_runs_once_a_day_in_one_process(adopted, operator):
    from ledger.erasure import RetentionJob

    seq = approve(adopted, operator)
    other = LedgerApp(adopted.settings)  # a second worker
    first = RetentionJob(adopted, clock=lambda: LATER)
    second = RetentionJob(other, clock=lambda: LATER)
    try:
        (done,) = first.run_once()
        assert done.rule == "network"
        assert second.run_once() is None  # the day is taken
        assert first.run_once() is None  # and done
        assert is_erased(adopted.signed_log.entry(seq).facts()["request"]["ip"])
        assert verified(adopted).ok
    finally:
        first.stop()
        second.stop()
        other.close()


def test_the_retention_periods_are_configured_and_checked(adopted, operator, tmp_path: Path):
    import dataclasses

    from ledger.config import ConfigError, Settings

    env = {"LEDGER_DATA_DIR": str(tmp_path), "LEDGER_RETENTION_NETWORK_MONTHS": "1"}
    rules = Settings.from_env(env).retention
    assert (rules.network_months, rules.refusal_months, rules.identity_years) == (1, 6, 3)
    with pytest.raises(ConfigError, match="LEDGER_RETENTION_IDENTITY_YEARS"):
        Settings.from_env({**env, "LEDGER_RETENTION_IDENTITY_YEARS": "tre"})
    approve(adopted, operator)
    soon = datetime.now(UTC) + timedelta(days=40)
    assert Eraser(adopted).plan(soon) == []
    assert [p.rule for p in Eraser(adopted, rules).plan(soon)] == ["network"]
    assert dataclasses.replace(rules, network_months=6) == adopted.settings.retention


def test_a_request_redacts_the_persons_events_stored_before_format_2(format_1, operator):
    """An event of format 1 holds the values in its hashed payload: the erasure replaces
    the payload by a redacted one whose hash it names, and keeps the leaf."""
    app = format_1
    seq = approve(app, operator)
    version = app.signed_log.entry(seq).facts()["agreement_version_id"]
    receipt = app.signed_log.receipt(seq).to_json()
    app.adopt_evidence_format_2(operator)
    app.reset_approval(cvr=AARHUS, version_id=version, reason="forkert person", actor=operator)
    eraser = Eraser(app)
    refusal = eraser.erase_person(PERSON, reason="Sag 6", actor=operator)
    assert isinstance(refusal, Refusal)
    assert refusal.seqs == [seq]  # the format 1 approval is still evidence

    later = datetime.now(UTC) + timedelta(days=4 * 366)
    done = eraser.erase_person(PERSON, reason="Sag 7", actor=operator, as_of=later)

    assert list(done.redactions) == [seq]
    facts = app.signed_log.entry(seq).facts()
    erased = f"slettet (persondata, seq {done.seq}, regel request)"
    assert facts["actor"]["name"] == facts["request"]["ip"] == erased
    assert facts["cvr"] == AARHUS  # what is not personal stays
    report = verified(app)
    assert report.ok, [str(p) for p in report.problems]
    assert report.redacted == 1
    keys = app.keyring.verifier_keys()
    assert verify_receipt(Receipt.from_json(receipt), keys).ok  # the one kept from before
    now = app.signed_log.receipt(seq)
    assert now.payload is None
    assert now.leaf == Receipt.from_json(receipt).leaf
    assert verify_receipt(now, keys).ok
    if app.settings.database.is_sqlite:
        for value in (NAME, IP, USER_AGENT, PERSON.removeprefix("urn:uuid:"), "_erasure-1"):
            assert files_holding(app, value) == [], value


def test_a_redaction_named_but_not_made_is_erasure_incomplete_and_an_altered_one_a_mismatch(
    format_1, operator
):
    app = format_1
    seq = approve(app, operator)
    entry = app.signed_log.entry(seq)
    original = entry.payload
    version = entry.facts()["agreement_version_id"]
    app.reset_approval(cvr=AARHUS, version_id=version, reason="forkert person", actor=operator)
    later = datetime.now(UTC) + timedelta(days=4 * 366)
    done = Eraser(app).erase_person(PERSON, reason="Sag 8", actor=operator, as_of=later)
    oid = entry.event.originator_id
    stored_id = oid.hex if app.settings.database.is_sqlite else str(oid)
    p = app.personal_data.tables.placeholder

    def store(payload: bytes) -> None:
        app.personal_data.tables.run(
            lambda c: c.execute(
                f"UPDATE stored_events SET state = {p} WHERE originator_id = {p} "
                f"AND originator_version = {p}",
                (payload, stored_id, entry.event.originator_version),
            )
        )

    store(original)
    assert reasons(app) == [(Reason.ERASURE_INCOMPLETE, done.seq)]
    store(done.redactions[seq].payload.replace(AARHUS.encode(), b"35209115"))
    assert reasons(app) == [(Reason.PAYLOAD_MISMATCH, seq)]


def test_the_time_rules_reach_events_stored_before_format_2_without_reading_the_log(
    format_1, operator
):
    """A format 1 approval's IP and browser, and a format 1 refused login, are erased by
    their rules (the payloads redacted), found through the index of format 1 values: a
    later run reads only the events stored since the last."""
    app = format_1
    seq = approve(app, operator)
    rejection = app.record_login_rejected(
        reason="not-professional",
        idp="https://idp.test",
        assertion_id="_refused-v1",
        person_uuid=PERSON.removeprefix("urn:uuid:"),
    )
    refused = app.signed_log.seq_of(rejection.id, 1)
    assert app.adopt_evidence_format_2(operator)
    eraser = Eraser(app)
    assert eraser.run(datetime.now(UTC), actor=operator) == []
    assert eraser.format_1.catch_up() == 0  # nothing stored since: nothing read

    rows = {(field, rule): due for _, field, rule, _, due in eraser.report(LATER)}
    assert rows[("request.ip", "network")] == 1
    assert rows[("assertion_id", "refusal")] == 1
    done = {planned.rule: planned for planned in eraser.run(LATER, actor=operator)}

    assert set(done) == {"network", "refusal"}
    assert set(done["network"].redactions) == {seq}
    assert set(done["refusal"].redactions) == {refused}
    facts = app.signed_log.entry(seq).facts()
    assert (
        facts["request"]["ip"] == f"slettet (persondata, seq {done['network'].seq}, regel network)"
    )
    assert facts["actor"]["name"] == NAME  # identity is kept longer
    assert is_erased(app.signed_log.entry(refused).facts()["assertion_id"])
    report = verified(app)
    assert report.ok, [str(p) for p in report.problems]
    assert report.redacted == 2
    assert eraser.run(LATER, actor=operator) == []  # done once
    assert eraser.format_1.catch_up() == 0
    if app.settings.database.is_sqlite:
        for value in (IP, USER_AGENT, "_refused-v1"):
            assert files_holding(app, value) == [], value

    # What the network rule left of the approval is erased by the request, from the
    # payload the first redaction stored.
    version = facts["agreement_version_id"]
    app.reset_approval(cvr=AARHUS, version_id=version, reason="forkert person", actor=operator)
    later = datetime.now(UTC) + timedelta(days=4 * 366)
    request = eraser.erase_person(PERSON, reason="Sag 10", actor=operator, as_of=later)
    assert isinstance(request, Planned)
    assert set(request.redactions) == {seq}
    assert set(request.redactions[seq].fields) == {
        "actor.name",
        "actor.person_uuid",
        "authentication.assertion_id",
    }
    facts = app.signed_log.entry(seq).facts()
    assert is_erased(facts["actor"]["name"])
    assert is_erased(facts["request"]["ip"])
    report = verified(app)
    assert report.ok, [str(p) for p in report.problems]
    if app.settings.database.is_sqlite:
        for value in (NAME, PERSON.removeprefix("urn:uuid:")):
            assert files_holding(app, value) == [], value


def test_a_request_is_refused_while_the_person_holds_a_role_and_erased_once_revoked(
    adopted, operator, monkeypatch, capsys
):
    """`ledger erase` of a staff member: refused with the role's legal basis and the grant's
    seq, the refusal recorded and nothing erased; once the role is revoked, erased."""
    from approval_ledger.cli import main

    staff_name = "Sofie Sagsbehandlerø"
    assignment = adopted.grant_role(
        person_uuid=PERSON, person_name=staff_name, role="staff", cvrs=[], actor=operator
    )
    granted = adopted.signed_log.seq_of(assignment.id, assignment.version)
    point_the_cli_at(adopted, monkeypatch)
    capsys.readouterr()

    assert main(["erase", "--person", PERSON, "--reason", "Sag 11"]) == 1

    said = capsys.readouterr().out
    assert "refused" in said
    assert f"(seq {granted})" in said
    assert "aktiv rolle" in said
    last = adopted.signed_log.last_leaf()
    assert last is not None
    refusal = adopted.signed_log.entry(last.seq)
    assert refusal.event_type == "PersonalDataErasureRefused"
    assert refusal.facts()["seqs"] == [granted]
    assert refusal.facts()["reason"] == "Sag 11"
    assert adopted.signed_log.entry(granted).facts()["person_name"] == staff_name
    assert verified(adopted).ok

    adopted.revoke_role(person_uuid=PERSON, role="staff", actor=operator)
    assert main(["erase", "--person", PERSON, "--reason", "Sag 12"]) == 0
    assert "erased" in capsys.readouterr().out
    assert is_erased(adopted.signed_log.entry(granted).facts()["person_name"])
    assert verified(adopted).ok


def test_an_assertion_kept_at_a_login_that_led_to_no_approval_is_erased_by_its_rule(
    adopted, operator
):
    """A login's assertion no approval names is erased by the rule `assertion` once the
    network period has passed (and on request with its person); one an approval names
    stays with the approval."""
    app = adopted
    store = app.personal_data
    used = store.keep_login_assertion(
        app.documents,
        b'<saml:Assertion ID="_used">test</saml:Assertion>',  # as the approval's login
        person_uuid=PERSON,
        assertion_id="_used",
    )
    unused = store.keep_login_assertion(
        app.documents,
        b'<saml:Assertion ID="_unused">Zyxwa</saml:Assertion>',
        person_uuid=PERSON,
        assertion_id="_unused",
    )
    other = "7d1f0c3a-5b2e-4c8d-9e6f-0a1b2c3d4e60"
    asked = store.keep_login_assertion(
        app.documents,
        b'<saml:Assertion ID="_asked">Qwerty</saml:Assertion>',
        person_uuid=other,
        assertion_id="_asked",
    )
    seq = approve(app, operator, assertion="_used")
    assert app.signed_log.entry(seq).facts()["authentication"]["assertion_sha256"] == used
    eraser = Eraser(app)
    assert eraser.run(datetime.now(UTC), actor=operator) == []
    rows = {(event, field): (held, due) for event, field, _, held, due in eraser.report(LATER)}
    assert rows[("Login", "assertion (dokument)")] == (3, 2)

    done = [p for p in eraser.run(LATER, actor=operator) if p.rule == "assertion"]

    assert [p.documents for p in done] == [{unused, asked}]
    assert app.documents.get(used)
    for sha256 in (unused, asked):
        with pytest.raises(DocumentNotFound):
            app.documents.get(sha256)
    assert verified(app).ok
    assert eraser.run(LATER, actor=operator) == []  # once
    if app.settings.database.is_sqlite:
        assert files_holding(app, "_unused") == []

    # On request: the person's login evidence goes with their other data.
    later_login = store.keep_login_assertion(
        app.documents,
        b'<saml:Assertion ID="_later">Qwerty</saml:Assertion>',
        person_uuid=other,
        assertion_id="_later",
    )
    request = eraser.erase_person(other, reason="Sag 13", actor=operator)
    assert isinstance(request, Planned)
    assert request.documents == {later_login}
    with pytest.raises(DocumentNotFound):
        app.documents.get(later_login)
    assert verified(app).ok


def notice_to(app: LedgerApp, email: str, about: int) -> int:
    """A NoticeSent to `email` about the event at `about`: its seq."""
    import uuid

    from ledger.domain import Notice

    notice = Notice.sent(
        uuid.uuid4(),
        notice_kind="approved",
        about_seq=about,
        cvr=AARHUS,
        agreement_version_id=None,
        recipient_role="signatory",
        recipient_email=email,
        sent_at="2026-12-01T10:00:00Z",
        message_id=f"<{uuid.uuid4().hex}@test>",
        actor=Actor.system("notices"),
    )
    app.save(notice)
    return app.signed_log.seq_of(notice.id, 1)


def test_email_addresses_are_erased_by_their_rules_and_on_request(
    adopted, operator, monkeypatch, capsys
):
    """A notice's address on request (by the person whose contact it is, or by the address),
    the outbox's recipients once sent and the network period passed, a signatory's contact
    row once not seen for the identity period; the register counts them."""
    from ledger.storage.notices import CONTACTS, OUTBOX, SENT, DueNotice, Outbox

    app = adopted
    seq = approve(app, operator)
    bare = PERSON.removeprefix("urn:uuid:")
    email, other = "zyxwa.qwerty@aarhus.example", "qwerty.other@odense.example"
    outbox = Outbox(app.settings.database)
    try:
        outbox.remember_contact(person_uuid=bare, cvr=AARHUS, name=NAME, email=email)
        outbox.remember_contact(
            person_uuid="7d1f0c3a-5b2e-4c8d-9e6f-0a1b2c3d4e61", cvr=AARHUS, name="Q", email=other
        )
        outbox.add(
            [
                DueNotice("approved", seq, AARHUS, "signatory", email, NAME),
                DueNotice("approved", seq, AARHUS, "signatory", other, "Qwerty Andet"),
            ]
        )
        run = app.personal_data.tables.run
        run(lambda cursor: cursor.execute(f"UPDATE {OUTBOX} SET state = '{SENT}'"))
        to_person, to_other = notice_to(app, email, seq), notice_to(app, other, seq)
        eraser = Eraser(app)
        rows = {(event, field): (held, due) for event, field, _, held, due in eraser.report(LATER)}
        assert rows[("Udbakke", "recipient_email, recipient_name")] == (2, 2)
        assert rows[("Kontakter", "name, email")] == (2, 0)
        assert rows[("NoticeSent", "recipient_email")] == (2, 2)

        # By the address alone (the person is not known by it), from the CLI.
        from approval_ledger.cli import main

        point_the_cli_at(app, monkeypatch)
        assert main(["erase", "--email", other, "--reason", "Sag 14"]) == 0
        assert "1 modtagere i udbakken, 1 kontaktadresser" in capsys.readouterr().out
        last = app.signed_log.last_leaf()
        assert last is not None
        done = app.signed_log.entry(last.seq).facts()
        assert (done["rule"], done["seqs"]) == ("request", [to_other])
        assert is_erased(app.signed_log.entry(to_other).facts()["recipient_email"])
        assert app.signed_log.entry(to_person).facts()["recipient_email"] == email
        assert [c.email for c in outbox.contacts_of(AARHUS)] == [email]

        # The rules: the outbox once sent and 6 months old; the contact 3 years unseen.
        ages = datetime.now(UTC) + timedelta(days=3 * 366 + 7 * 31)
        (network,) = [p for p in eraser.run(LATER, actor=operator) if p.rule == "network"]
        assert network.outbox == 1
        assert [c.email for c in outbox.contacts_of(AARHUS)] == [email]  # seen lately
        assert is_erased(app.signed_log.entry(to_person).facts()["recipient_email"])
        identity = [p for p in eraser.plan(ages) if p.rule == "identity"]
        assert [p.contacts for p in identity] == [1]
        held = app.personal_data.tables.rows(
            f"SELECT COUNT(*) FROM {OUTBOX} WHERE recipient_email IS NOT NULL "
            "OR recipient_name IS NOT NULL"
        )
        assert held == [(0,)]
        assert verified(app).ok

        # On the person's request, their contact row goes with their other data.
        version = app.signed_log.entry(seq).facts()["agreement_version_id"]
        app.reset_approval(cvr=AARHUS, version_id=version, reason="forkert person", actor=operator)
        request = eraser.erase_person(PERSON, reason="Sag 15", actor=operator, as_of=ages)
        assert isinstance(request, Planned)
        assert request.contacts == 1
        assert f"{CONTACTS}.email" in app.signed_log.entry(request.seq).facts()["fields"]
        assert outbox.contacts_of(AARHUS) == []
        assert verified(app).ok
        if app.settings.database.is_sqlite:
            for value in (email, other):
                assert files_holding(app, value) == [], value
    finally:
        outbox.close()


def test_an_address_erased_on_request_reaches_notices_stored_before_format_2(format_1, operator):
    """A format 1 NoticeSent holds its recipient's address in the hashed payload and names no
    person: `ledger erase --email` finds it by the address in the payload and redacts it, and
    every proof still holds."""
    app = format_1
    seq = approve(app, operator)
    email, other = "zyxwa.qwerty@aarhus.example", "qwerty.other@odense.example"
    to_person, to_other = notice_to(app, email, seq), notice_to(app, other, seq)
    receipt = app.signed_log.receipt(to_person).to_json()
    assert email.encode() in app.signed_log.entry(to_person).payload

    done = Eraser(app).erase_address(email, reason="Sag 16", actor=operator)

    assert done.seqs == {to_person}
    assert done.pending == {to_person: {"recipient_email": "network"}}
    facts = app.signed_log.entry(to_person).facts()
    assert facts["recipient_email"] == f"slettet (persondata, seq {done.seq}, regel request)"
    assert app.signed_log.entry(to_other).facts()["recipient_email"] == other
    assert email.encode() not in app.signed_log.entry(to_person).payload
    report = verified(app)
    assert report.ok, [str(p) for p in report.problems]
    assert verify_receipt(Receipt.from_json(receipt), app.keyring.verifier_keys()).ok
    if app.settings.database.is_sqlite:
        assert files_holding(app, email) == []
        assert files_holding(app, other) != []


def test_a_wal_held_by_a_reader_is_said_and_emptied_by_the_next_run(
    sqlite_settings, operator, monkeypatch, caplog
):
    """SQLite: a reader of an older snapshot keeps the erased value in the WAL; the erasure
    tries again, says so when it cannot, and the next run empties it once the reader is
    gone."""
    import sqlite3

    import ledger.erasure

    monkeypatch.setattr(ledger.erasure, "_CHECKPOINT_WAITS", (0.01,))
    monkeypatch.setattr(ledger.erasure, "_CHECKPOINT_BUSY_MS", 0)
    app = initialize(sqlite_settings, operator).app
    try:
        approve(app, operator)
        reader = sqlite3.connect(app.settings.database.sqlite_path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM stored_events").fetchall()
        eraser = Eraser(app)

        assert "network" in {p.rule for p in eraser.run(LATER, actor=operator)}

        assert eraser.left_in_wal
        assert "could not be emptied" in caplog.text
        reader.rollback()
        reader.close()
        assert eraser.run(LATER, actor=operator) == []
        assert not eraser.left_in_wal
        assert files_holding(app, IP) == []
        assert verified(app).ok
    finally:
        app.close()


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["retention", "run", "--as-of", "2030-13-01"], "--as-of: "),
        (["retention", "run", "--as-of", "banana"], "--as-of: Angiv datoen som åååå-mm-dd"),
        (["privacy", "report", "--as-of", "2030-02-30"], "--as-of: "),
        (["retention", "run", "--as-of", "0001-01-01"], "--as-of: 0001-01-01 er gået"),
        (["erase", "--person", "not-a-uuid", "--reason", "Sag 12"], "er ikke et UUID"),
        (["erase", "--person", PERSON, "--reason", "  "], "Skriv anmodningens sagsnummer"),
        (["erase", "--email", "a@example.org", "--reason", ""], "Skriv anmodningens sagsnummer"),
        (["erase", "--email", "banana", "--reason", "Sag 13"], "er ikke en e-mailadresse"),
    ],
    ids=[
        "month-13",
        "not-a-date",
        "feb-30",
        "year-1",
        "not-a-uuid",
        "blank-reason",
        "blank-reason-email",
        "not-an-address",
    ],
)
def test_the_privacy_commands_refuse_bad_input_in_danish_and_record_nothing(
    adopted, operator, monkeypatch, capsys, arguments, said
):
    """No traceback and no event for a date that is none, a person that is no UUID or a
    request without its case: `ledger: <why>` and exit 1, the log as it was."""
    from approval_ledger.cli import main

    approve(adopted, operator)
    point_the_cli_at(adopted, monkeypatch)
    before = adopted.signed_log.last_leaf()
    capsys.readouterr()

    assert main(arguments) == 1

    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert said in out.err, out
    assert adopted.signed_log.last_leaf() == before
