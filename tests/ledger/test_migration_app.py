"""The migration through the application on SQLite and PostgreSQL: the commands, the gate,
the board (the projection the matrix is read from), `ledger verify` and `ledger reindex`."""

import datetime

import pytest

from approval_ledger.cli import main
from development.demo import demo_pdf
from ledger.application import LedgerApp
from ledger.danish_time import danish_today
from ledger.domain import DomainError, colleague_grant_statement
from ledger.export import Context, history_cells
from ledger.identity import Actor, NsisLevel
from ledger.migration import (
    DONE,
    GATE_AGREEMENT,
    GATE_APPROVAL_RESET,
    GATE_DECLARATION,
    WAITING_MUNICIPALITY,
    signing_basis,
)
from ledger.migration_board import TABLE, MigrationBoard, _table_exists
from ledger.storage.tables_of_our_own import OwnTables
from tests.fixtures import AARHUS, ODENSE, login, signatory

STAFF = Actor.person(
    person_uuid="00000000-0000-4000-8000-0000000000d1",
    name="Dorte Drift",
    cvr="12345674",
    organisation="Leverandøren",
    loa=NsisLevel.SUBSTANTIAL,
)
PDF = b"%PDF-1.4\n% signed operating agreement\n%%EOF\n"


def ready_for_the_gate(app: LedgerApp, operator: Actor, *, basis: list[str] | None) -> None:
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    agreement = app.publish_agreement(
        title="OS2faktor-aftale",
        version_label="2026.1",
        document=demo_pdf("OS2faktor-aftale", "2026.1"),
        document_name="aftale.pdf",
        actor=operator,
    )
    app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=signatory(),
        authentication=login(app),
        ip="127.0.0.1",
        user_agent="test",
        signing_basis=basis,
    )
    app.hand_in_declaration(
        cvr=AARHUS, document=PDF + b"1", document_name="erklaering.pdf", actor=signatory()
    )
    app.countersign_declaration(
        cvr=AARHUS, document=PDF + b"2", document_name="medunderskrevet.pdf", actor=STAFF
    )
    app.record_declaration_sent(
        cvr=AARHUS, sent_on=danish_today(), reference="DIGST-2026-1", actor=STAFF
    )


def schedule_today(app: LedgerApp) -> None:
    now = datetime.datetime.now(datetime.UTC)
    app.schedule_switch(
        cvr=AARHUS,
        switch_on=danish_today(),
        meeting_at=now,
        service_window_minutes=30,
        actor=STAFF,
    )


def test_the_whole_plan_for_one_municipality(
    app: LedgerApp, operator: Actor, board: MigrationBoard, verify_cli
) -> None:
    basis = signing_basis(AARHUS, statement_confirmed=True, authorized_to_represent=[AARHUS])
    ready_for_the_gate(app, operator, basis=basis)
    with pytest.raises(DomainError) as refused:
        schedule_today(app)
    assert str(refused.value) == GATE_AGREEMENT
    app.archive_operating_agreement(
        cvr=AARHUS,
        document=PDF,
        document_name="driftsaftale.pdf",
        signed_on=danish_today(),
        actor=STAFF,
    )
    me = signatory()
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=STAFF
    )
    app.review_mail_templates(cvr=AARHUS, decision="kept", note="To beskeder er fint.", actor=me)
    app.review_password_policy(
        cvr=AARHUS, minimum_length=16, ad_matches=False, note="AD rettes i uge 50.", actor=me
    )
    app.review_terms(cvr=AARHUS, outcome="deleted", note=None, actor=me)
    app.mark_task_not_relevant(
        cvr=AARHUS,
        task="early-password-policy",
        reason="Kodeord har længe været mindst 15 tegn.",
        actor=me,
    )
    status = board.status(AARHUS, today=danish_today())
    assert status.ready_for_switch
    assert status.task("approval").facts["signing_basis"] == [
        "statement",
        "authorized-to-represent",
    ]
    assert status.unchecked == []
    schedule_today(app)
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=25)
    for minutes, step, actor in (
        (0, "idp-removed", me),
        (6, "idp-created", STAFF),
        (8, "invitation-accepted", me),
        (19, "logins-verified", STAFF),
    ):
        app.record_switch_step(
            cvr=AARHUS, step=step, at=start + datetime.timedelta(minutes=minutes), actor=actor
        )
    status = board.status(AARHUS, today=danish_today())
    assert status.switched
    assert status.switch.downtime_minutes == 19
    assert status.switch.within_window
    assert [t.state for t in status.tasks] == [
        t.state for t in app.migration_status(AARHUS).tasks
    ]  # the board and the aggregates agree
    entries = board.entries(status)
    assert entries["operating-agreement"].event.document_name == "driftsaftale.pdf"
    assert entries["terms"].actor is not None
    assert entries["terms"].actor.name == "Anne Andersen"
    # The matrix has both municipalities, in Danish order (Aa is Å); Odense has not begun.
    matrix = board.matrix(today=danish_today())
    assert [s.cvr for s in matrix] == [ODENSE, AARHUS]
    assert matrix[0].task("declaration").state == WAITING_MUNICIPALITY
    # The migration's events are in the log's history under the CVR, and verify.
    types = {e.event_type for e in app.history(cvr=AARHUS)}
    assert {"OperatingAgreementArchived", "SwitchStepRecorded", "TermsReviewed"} <= types
    code, problems, _ = verify_cli()
    assert (code, problems) == (0, [])


def test_a_reset_closes_the_gate_on_both_sides_and_the_board_rebuilds(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    ready_for_the_gate(app, operator, basis=["statement"])
    app.archive_operating_agreement(
        cvr=AARHUS, document=PDF, document_name="d.pdf", signed_on=danish_today(), actor=STAFF
    )
    schedule_today(app)
    (unchecked,) = board.unchecked_approvals(today=danish_today())
    assert unchecked.cvr == AARHUS
    app.check_signing_authority(
        cvr=AARHUS,
        version_id=unchecked.agreement_version_id,
        approved_version=unchecked.approved_version,
        actor=STAFF,
    )
    assert board.unchecked_approvals(today=danish_today()) == []
    app.reset_approval(
        cvr=AARHUS,
        version_id=unchecked.agreement_version_id,
        reason="Anne Andersen er ikke tegningsberettiget.",
        actor=STAFF,
    )
    for status in (board.status(AARHUS, today=danish_today()), app.migration_status(AARHUS)):
        assert status.gate.refusals == (GATE_APPROVAL_RESET,)
        assert status.gate.reopened
    with pytest.raises(DomainError, match="nulstillet"):
        app.record_switch_step(cvr=AARHUS, step="idp-removed", actor=signatory())
    rows = board.tables.rows(f"SELECT * FROM {TABLE} ORDER BY seq")
    assert board.rebuild() == len(rows)
    assert board.tables.rows(f"SELECT * FROM {TABLE} ORDER BY seq") == rows
    assert board.check() == []


def test_the_board_check_finds_a_changed_and_a_missing_row(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    ready_for_the_gate(app, operator, basis=None)
    board.refresh()
    seqs = [row[0] for row in board.tables.rows(f"SELECT seq FROM {TABLE} ORDER BY seq")]
    p = board.p
    board.tables.run(
        lambda c: c.execute(f"UPDATE {TABLE} SET change = 'retired' WHERE seq = {p}", (seqs[-1],))
    )
    board.tables.run(lambda c: c.execute(f"DELETE FROM {TABLE} WHERE seq = {p}", (seqs[0],)))
    found = sorted((p.seq, p.detail) for p in board.check())
    assert found == [
        (seqs[0], "the migration board lacks its row"),
        (seqs[-1], "the migration board row differs from its event"),
    ]


def test_declaration_not_sent_is_the_gates_refusal(app: LedgerApp, operator: Actor) -> None:
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    status = app.migration_status(AARHUS)
    assert GATE_DECLARATION in status.gate.refusals
    assert status.task("operating-agreement").state != DONE


def test_the_colleague_role_is_granted_by_the_signatory_and_read_at_login(
    app: LedgerApp, operator: Actor
) -> None:
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    colleague = "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a06"
    app.grant_colleague(
        cvr=AARHUS,
        person_uuid=colleague,
        person_name="Ida Iversen",
        actor=signatory(),
        confirmed_statement=colleague_grant_statement("Aarhus Kommune"),
        signing_basis=["statement"],
    )
    assert [a.role for a in app.roles_of(colleague)] == ["colleague"]
    assert [a.person_name for a in app.colleagues_of(AARHUS)] == ["Ida Iversen"]
    assert app.colleagues_of(ODENSE) == []
    ida = signatory(name="Ida Iversen", person_uuid=f"urn:uuid:{colleague}")
    with pytest.raises(DomainError, match="Du har rollen Kollega og kan ikke give"):
        app.grant_colleague(
            cvr=AARHUS,
            person_uuid="2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a07",
            person_name="Ib Iversen",
            actor=ida,
        )
    with pytest.raises(DomainError, match="Du har rollen Kollega og kan ikke give"):
        app.revoke_colleague(cvr=AARHUS, person_uuid=colleague, actor=ida, reason="Jeg stopper nu.")
    agreement = app.publish_agreement(
        title="OS2faktor-aftale",
        version_label="2026.1",
        document=demo_pdf("OS2faktor-aftale", "2026.1"),
        document_name="aftale.pdf",
        actor=operator,
    )
    subject = app.approval_subject(AARHUS, agreement.id, colleague)
    assert subject.colleague
    assert not app.approval_subject(AARHUS, agreement.id, STAFF.person_uuid).colleague
    with pytest.raises(DomainError, match="Kollega og kan ikke godkende"):
        app.approve(
            cvr=AARHUS,
            version_id=agreement.id,
            actor=signatory(name="Ida Iversen", person_uuid=f"urn:uuid:{colleague}"),
            authentication=login(app),
            ip="127.0.0.1",
            user_agent="test",
            subject=subject,
        )
    assert app.approval(AARHUS, agreement.id) is None
    app.revoke_colleague(
        cvr=AARHUS, person_uuid=colleague, actor=signatory(), reason="Ida er flyttet afdeling."
    )
    assert app.roles_of(colleague) == []


def test_ledger_reindex_rebuilds_the_board(
    app: LedgerApp, operator: Actor, board: MigrationBoard, monkeypatch
) -> None:
    ready_for_the_gate(app, operator, basis=None)
    board.refresh()
    before = board.tables.rows(f"SELECT * FROM {TABLE} ORDER BY seq")
    board.tables.run(lambda c: c.execute(f"DELETE FROM {TABLE}"))
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    assert main(["reindex"]) == 0
    assert board.tables.rows(f"SELECT * FROM {TABLE} ORDER BY seq") == before


def test_who_set_up_the_pupils_policy_is_personal_data_kept_out_of_the_hashed_payload(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    app.adopt_evidence_format_2(operator)
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.enable_full_service(
        cvr=AARHUS, pupils="set-up", pupils_set_up_by="Søren Skole", note=None, actor=STAFF
    )
    status = board.status(AARHUS, today=danish_today())
    entry = board.entries(status)["full-service"]
    assert entry.event.pupils_set_up_by == "Søren Skole"
    assert "Søren Skole".encode() not in entry.payload
    assert b"Dorte Drift" not in entry.payload
    assert "Søren" not in str(board.tables.rows(f"SELECT * FROM {TABLE}"))


def test_a_municipalitys_bundle_holds_its_migration_and_verifies(
    app: LedgerApp, operator: Actor, tmp_path, verify_cli, monkeypatch
) -> None:
    ready_for_the_gate(app, operator, basis=["statement"])
    app.archive_operating_agreement(
        cvr=AARHUS, document=PDF, document_name="d.pdf", signed_on=danish_today(), actor=STAFF
    )
    for cvr in (AARHUS, ODENSE):  # the terms are reviewed once Full Service is on
        app.enable_full_service(
            cvr=cvr, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=STAFF
        )
    app.review_terms(cvr=AARHUS, outcome="deleted", note=None, actor=signatory())
    app.review_terms(cvr=ODENSE, outcome="deleted", note=None, actor=signatory(cvr=ODENSE))
    verify_cli()  # sets the environment for the command line
    out = tmp_path / "aarhus"
    assert main(["export", "--out", str(out), "--cvr", AARHUS]) == 0
    events = (out / "entries.jsonl").read_text(encoding="utf-8")
    assert events.count("OperatingAgreementArchived") == 1
    assert events.count("TermsReviewed") == 1  # Aarhus's, not Odense's
    code, problems, _ = verify_cli("--bundle", str(out))
    assert (code, problems) == (0, [])


def test_the_matrix_derives_again_only_the_municipalities_whose_facts_changed(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    ready_for_the_gate(app, operator, basis=None)
    app.enable_full_service(
        cvr=ODENSE, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=STAFF
    )
    today = danish_today()
    first = {s.cvr: s for s in board.matrix(today=today)}
    again = {s.cvr: s for s in board.matrix(today=today)}
    assert all(again[cvr] is first[cvr] for cvr in first)
    app.review_terms(cvr=ODENSE, outcome="deleted", note=None, actor=signatory(cvr=ODENSE))
    after = {s.cvr: s for s in board.matrix(today=today)}
    assert after[AARHUS] is first[AARHUS]
    assert after[ODENSE] is not first[ODENSE]
    assert after[ODENSE].task("terms").facts["outcome"] == "deleted"
    # Another process's board (a second worker) reads the same from the table.
    other = MigrationBoard(board.index)
    try:
        assert [s.tasks for s in other.matrix(today=today)] == [
            s.tasks for s in board.matrix(today=today)
        ]
    finally:
        other.close()


def test_every_fact_of_the_migrations_events_has_a_danish_column_in_the_history(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    ready_for_the_gate(app, operator, basis=["statement"])
    me = signatory()
    app.archive_operating_agreement(
        cvr=AARHUS, document=PDF, document_name="d.pdf", signed_on=danish_today(), actor=STAFF
    )
    app.announce_early_password_policy(cvr=AARHUS, users_told_on=danish_today(), actor=me)
    app.enable_full_service(
        cvr=AARHUS, pupils="set-up", pupils_set_up_by="Søren Skole", note="Aftalt.", actor=STAFF
    )
    app.review_mail_templates(cvr=AARHUS, decision="switched-off", note=None, actor=me)
    app.review_password_policy(
        cvr=AARHUS, minimum_length=15, ad_matches=False, note="AD rettes.", actor=me
    )
    app.review_terms(cvr=AARHUS, outcome="addendum", note=None, actor=me)
    app.reopen_task(cvr=AARHUS, task="terms", reason="Tillægget var ikke renset.", actor=STAFF)
    app.mark_task_not_relevant(
        cvr=AARHUS, task="mail-templates", reason="Kommunen har ingen egne.", actor=me
    )
    schedule_today(app)
    app.record_switch_step(cvr=AARHUS, step="idp-removed", actor=me)
    (unchecked,) = board.unchecked_approvals(today=danish_today())
    app.check_signing_authority(
        cvr=AARHUS,
        version_id=unchecked.agreement_version_id,
        approved_version=unchecked.approved_version,
        actor=STAFF,
    )
    context = Context.of(app)
    rows = {}
    for entry in app.history(cvr=AARHUS):
        cells = {cell.column.key: cell.value for cell in history_cells(entry, context)}
        assert cells["others"] is None, (entry.event_type, cells["others"])
        rows[entry.event_type] = cells
    assert rows["PasswordPolicyReviewed"]["ad_matches"] == "Nej"
    assert rows["FullServiceEnabled"]["pupils"] == "Ja, elevernes svagere kodeordspolitik er sat op"
    assert rows["TaskReopened"]["task"] == "Vilkår gennemgået"
    assert (
        rows["SwitchStepRecorded"]["step"] == "IdP'en er fjernet i kommunens MitID Erhverv-portal"
    )
    assert rows["Approved"]["signing_basis"] == "Bekræftet erklæring om tegningsret"
    assert rows["SigningAuthorityChecked"]["checked_version"] == unchecked.approved_version


def test_ledger_verify_reports_a_board_row_that_differs_from_its_event(
    app: LedgerApp, operator: Actor, board: MigrationBoard, verify_cli
) -> None:
    ready_for_the_gate(app, operator, basis=None)
    app.enable_full_service(
        cvr=AARHUS, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=STAFF
    )
    app.review_terms(cvr=AARHUS, outcome="deleted", note=None, actor=signatory())
    board.refresh()
    (seq,) = board.tables.rows(f"SELECT seq FROM {TABLE} WHERE subject = 'terms'")[0]
    p = board.p
    board.tables.run(
        lambda c: c.execute(
            f'UPDATE {TABLE} SET details = \'{{"outcome":"addendum"}}\' WHERE seq = {p}', (seq,)
        )
    )
    code, problems, _ = verify_cli()
    assert code != 0
    assert problems == [("index-mismatch", seq)]


def test_a_matrix_read_with_nothing_new_is_three_statements(
    app: LedgerApp, operator: Actor, board: MigrationBoard, monkeypatch
) -> None:
    ready_for_the_gate(app, operator, basis=None)
    board.matrix(today=danish_today())
    asked: list[str] = []
    rows = OwnTables.rows

    def counted(self, statement, params=()):
        asked.append(statement)
        return rows(self, statement, params)

    monkeypatch.setattr(OwnTables, "rows", counted)
    monkeypatch.setattr(OwnTables, "transaction", lambda *a, **k: pytest.fail("a read that writes"))
    board.matrix(today=danish_today())
    # The index's catch-up check, the board's (its state and the index's highest seq), and
    # the board's rows after the last one read: however many municipalities there are.
    assert len(asked) == 3, asked


def test_a_deleted_board_row_is_derived_again_at_a_processs_first_read(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    ready_for_the_gate(app, operator, basis=None)
    before = board.status(AARHUS, today=danish_today())
    rows = board.tables.rows(f"SELECT * FROM {TABLE} ORDER BY seq")
    p = board.p
    board.tables.run(
        lambda c: c.execute(
            f"DELETE FROM {TABLE} WHERE subject = 'declaration' AND seq = {p}", (rows[-1][0],)
        )
    )
    other = MigrationBoard(board.index)  # another process, starting
    try:
        assert other.status(AARHUS, today=danish_today()).tasks == before.tasks
    finally:
        other.close()
    assert board.tables.rows(f"SELECT * FROM {TABLE} ORDER BY seq") == rows


def test_ledger_verify_changes_nothing_of_the_board_or_the_index(
    app: LedgerApp, operator: Actor, verify_cli
) -> None:
    ready_for_the_gate(app, operator, basis=None)
    code, problems, _ = verify_cli()
    assert (code, problems) == (0, [])
    database = app.settings.database
    connection = database.connect()
    try:
        for table in (TABLE, "ledger_event_index"):
            assert not _table_exists(connection, database, table), table
    finally:
        connection.close()
