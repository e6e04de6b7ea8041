"""Staff's overview (/drift) read from the migration board, on SQLite and PostgreSQL: each
customer's approvals and declaration as their aggregates have them, right after a write,
after `ledger reindex`, and without reading any aggregate."""

import datetime

import pytest

from approval_ledger.cli import main
from development.demo import CUSTOMERS, demo_pdf
from ledger.application import LedgerApp
from ledger.danish_time import danish_today
from ledger.domain import AgreementVersion
from ledger.identity import Actor
from ledger.migration_board import TABLE, MigrationBoard
from ledger.read_models import CustomerStatus, Step, current_agreements, danish_sort_key
from ledger.storage.tables_of_our_own import OwnTables
from tests.fixtures import AARHUS, ODENSE, login, signatory

KOEBENHAVN = "64942212"
REASON = "Den, der godkendte, er ikke tegningsberettiget."


def publish(app: LedgerApp, operator: Actor, title: str, label: str) -> AgreementVersion:
    return app.publish_agreement(
        title=title,
        version_label=label,
        document=demo_pdf(title, label),
        document_name="aftale.pdf",
        actor=operator,
    )


def approve(app: LedgerApp, cvr: str, version: AgreementVersion, n: int) -> None:
    app.approve(
        cvr=cvr,
        version_id=version.id,
        actor=signatory(cvr=cvr),
        authentication=login(app, f"_a{n}"),
        ip="127.0.0.1",
        user_agent="test",
    )


def hand_in(app: LedgerApp, cvr: str, n: int) -> None:
    app.hand_in_declaration(
        cvr=cvr, document=demo_pdf("E", str(n)), document_name="e.pdf", actor=signatory(cvr=cvr)
    )


def every_state(app: LedgerApp, operator: Actor) -> None:
    """Customers whose approvals and declarations stand in every state the overview shows:
    approved, checked, reset, approved again, never; a declaration handed in, countersigned,
    sent and overdue; a renamed customer and a retired version."""
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)
    app.rename_customer(cvr=KOEBENHAVN, name="Københavns Kommune (Borgerservice)", actor=operator)
    first = publish(app, operator, "Driftsaftale", "2026.1")
    second = publish(app, operator, "Databehandleraftale", "2026.1")
    retired = publish(app, operator, "Driftsaftale", "2025.1")
    approve(app, AARHUS, first, 1)
    approval = app.approval(AARHUS, first.id)
    assert approval is not None
    assert approval.approved_version is not None
    app.check_signing_authority(
        cvr=AARHUS, version_id=first.id, approved_version=approval.approved_version, actor=operator
    )
    app.reset_approval(cvr=AARHUS, version_id=first.id, reason=REASON, actor=operator)
    approve(app, AARHUS, first, 2)
    approve(app, AARHUS, retired, 3)
    app.retire_agreement(retired.id, actor=operator)
    approve(app, ODENSE, second, 4)
    app.reset_approval(cvr=ODENSE, version_id=second.id, reason=REASON, actor=operator)
    hand_in(app, AARHUS, 1)
    app.countersign_declaration(
        cvr=AARHUS, document=demo_pdf("M", "1"), document_name="m.pdf", actor=operator
    )
    app.record_declaration_sent(
        cvr=AARHUS, sent_on=datetime.date(2020, 1, 15), reference="DIGST-1", actor=operator
    )
    hand_in(app, ODENSE, 2)
    hand_in(app, KOEBENHAVN, 3)
    app.countersign_declaration(
        cvr=KOEBENHAVN, document=demo_pdf("M", "3"), document_name="m.pdf", actor=operator
    )


def from_aggregates(app: LedgerApp, today: datetime.date) -> list[CustomerStatus]:
    """The overview as the customers' aggregates have it, read one by one: what the board's
    rows must give."""
    current = current_agreements(app.agreement_versions())
    return [
        CustomerStatus(
            customer=customer,
            approvals=[(version, app.approval(customer.cvr, version.id)) for version in current],
            declaration=app.declaration(customer.cvr),
            today=today,
        )
        for customer in app.customers()
    ]


def shown(status: CustomerStatus) -> tuple:
    """What the overview shows and counts of a customer."""
    return (
        status.customer.cvr,
        status.customer.name,
        status.steps,
        status.days_waiting,
        status.complete,
        [version.id for version in status.unapproved],
    )


def overview(app: LedgerApp, board: MigrationBoard, today: datetime.date) -> list[tuple]:
    current = current_agreements(app.agreement_versions())
    return [shown(status) for status in board.customer_statuses(current, today=today)]


def test_the_overview_from_the_board_is_what_the_aggregates_say_in_every_state(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    every_state(app, operator)
    today = danish_today()
    expected = {status.customer.cvr: shown(status) for status in from_aggregates(app, today)}
    found = overview(app, board, today)
    assert found == [expected[cvr] for cvr, *_ in found]
    # Danish order: København before Odense before Aarhus ("Aa" is Å, the last letter).
    assert [cvr for cvr, *_ in found] == [KOEBENHAVN, ODENSE, AARHUS]
    steps = {cvr: s for cvr, _, s, *_ in found}
    assert [s.state for s in steps[AARHUS]] == [
        Step.AWAITING,  # Databehandleraftale, never approved
        Step.APPROVED,  # approved again after the reset
        Step.DONE,
        Step.DONE,
        Step.OVERDUE,  # sent in 2020: its renewal is past due
    ]
    assert [s.state for s in steps[ODENSE]][:2] == [Step.RESET, Step.AWAITING]
    assert [s.state for s in steps[KOEBENHAVN]][2:] == [Step.DONE, Step.DONE, Step.AWAITING]
    # A year later the same rows say what the aggregates say then.
    later = today + datetime.timedelta(days=400)
    expected = {status.customer.cvr: shown(status) for status in from_aggregates(app, later)}
    assert overview(app, board, later) == [expected[cvr] for cvr, *_ in found]


def test_the_overview_tells_a_write_at_once_and_folds_again_only_that_customer(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    every_state(app, operator)
    today = danish_today()
    current = current_agreements(app.agreement_versions())
    before = {s.customer.cvr: s for s in board.customer_statuses(current, today=today)}
    again = {s.customer.cvr: s for s in board.customer_statuses(current, today=today)}
    assert all(again[cvr] is before[cvr] for cvr in before)
    (first,) = [v for v in current if v.title == "Driftsaftale"]
    app.reset_approval(cvr=AARHUS, version_id=first.id, reason=REASON, actor=operator)
    after = {s.customer.cvr: s for s in board.customer_statuses(current, today=today)}
    assert after[ODENSE] is before[ODENSE]
    assert after[KOEBENHAVN] is before[KOEBENHAVN]
    assert after[AARHUS].approval_steps[1].state == Step.RESET
    assert after[AARHUS].approval_steps[1].on == today
    approve(app, AARHUS, first, 9)
    hand_in(app, AARHUS, 9)  # the next round, after the overdue one
    app.countersign_declaration(
        cvr=AARHUS, document=demo_pdf("M", "9"), document_name="m.pdf", actor=operator
    )
    app.register_customer(cvr="29189978", name="Aabenraa Kommune", actor=operator)
    expected = {status.customer.cvr: shown(status) for status in from_aggregates(app, today)}
    found = overview(app, board, today)
    assert found == [expected[cvr] for cvr, *_ in found]
    # Aabenraa is Åbenrå as Danish reads it: after Odense, before Aarhus (Århus).
    assert [cvr for cvr, *_ in found] == [KOEBENHAVN, ODENSE, "29189978", AARHUS]
    # A version published since is asked of every customer.
    newer = publish(app, operator, "Driftsaftale", "2027.1")
    current = current_agreements(app.agreement_versions())
    statuses = board.customer_statuses(current, today=today)
    assert all(newer.id in [v.id for v in s.unapproved] for s in statuses)


def test_ledger_reindex_rebuilds_the_overview_and_a_lost_row_is_derived_again(
    app: LedgerApp, operator: Actor, board: MigrationBoard, monkeypatch
) -> None:
    every_state(app, operator)
    today = danish_today()
    before = overview(app, board, today)
    p = board.p
    board.tables.run(
        lambda c: c.execute(
            f"DELETE FROM {TABLE} WHERE subject = 'approval' OR cvr = {p}", (ODENSE,)
        )
    )
    other = MigrationBoard(board.index)  # another process, starting: its first read fills in
    try:
        assert overview(app, other, today) == before
    finally:
        other.close()
    board.tables.run(lambda c: c.execute(f"DELETE FROM {TABLE}"))
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    assert main(["reindex"]) == 0
    rebuilt = MigrationBoard(board.index)
    try:
        assert overview(app, rebuilt, today) == before
    finally:
        rebuilt.close()


def test_ledger_verify_reports_a_tampered_approval_row_of_the_overview(
    app: LedgerApp, operator: Actor, board: MigrationBoard, verify_cli
) -> None:
    every_state(app, operator)
    board.refresh()
    ((seq,),) = board.tables.rows(
        f"SELECT MAX(seq) FROM {TABLE} WHERE subject = 'approval' AND change = 'reset'"
    )
    p = board.p
    board.tables.run(
        lambda c: c.execute(f"UPDATE {TABLE} SET change = 'approved' WHERE seq = {p}", (seq,))
    )
    code, problems, _ = verify_cli()
    assert code == 1
    assert problems == [("index-mismatch", seq)]


def test_an_overview_read_with_nothing_new_is_three_statements_however_many_customers(
    app: LedgerApp, operator: Actor, board: MigrationBoard, monkeypatch
) -> None:
    every_state(app, operator)
    current = current_agreements(app.agreement_versions())
    board.customer_statuses(current, today=danish_today())
    asked: list[str] = []
    rows = OwnTables.rows

    def counted(self, statement, params=()):
        asked.append(statement)
        return rows(self, statement, params)

    def no_aggregate(*args, **kwargs):
        pytest.fail("the overview read an aggregate")

    monkeypatch.setattr(OwnTables, "rows", counted)
    monkeypatch.setattr(app.recorder, "select_events", no_aggregate)
    monkeypatch.setattr(app, "_find_together", no_aggregate)
    statuses = board.customer_statuses(current, today=danish_today())
    assert len(statuses) == len(CUSTOMERS)
    # The index's catch-up check, the board's, and the board's rows after the last read.
    assert len(asked) == 3, asked


def test_the_customers_from_the_board_are_the_ledgers_by_name_in_danish_order(
    app: LedgerApp, operator: Actor, board: MigrationBoard
) -> None:
    every_state(app, operator)
    app.register_customer(cvr="29189978", name="Aabenraa Kommune", actor=operator)
    expected = sorted(app.customers(), key=lambda c: danish_sort_key(c.name))
    found = board.customers()
    assert [(c.cvr, c.name, c.created_on) for c in found] == [
        (c.cvr, c.name, c.created_on) for c in expected
    ]
    assert found[0].name == "Københavns Kommune (Borgerservice)"  # renamed
