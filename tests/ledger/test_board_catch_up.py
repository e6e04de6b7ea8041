"""The migration board catching up after a write, on SQLite and PostgreSQL: its new rows and
the mark of how far it has looked are one transaction (one commit, an fsync on SQLite, for a
staff page asked right after a write), and the board then has both."""

from ledger.migration_board import STATE, TABLE, MigrationBoard
from ledger.search import TABLE as INDEX_TABLE
from tests.fixtures import AARHUS, ODENSE
from tests.ledger.test_search import tamper


def transactions_of_a_catch_up(board: MigrationBoard, monkeypatch) -> int:
    """How many transactions the board's own tables ran in one refresh, the index caught
    up before it (the index's own transaction is not the board's)."""
    board.index.refresh()
    ran = []
    run = board.tables.run

    def counted(work, **kwargs):
        ran.append(work)
        return run(work, **kwargs)

    monkeypatch.setattr(board.tables, "run", counted)
    board.refresh()
    monkeypatch.undo()
    return len(ran)


def test_new_rows_and_the_mark_are_one_transaction(app, operator, board, monkeypatch):
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    board.refresh()
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    app.rename_customer(cvr=AARHUS, name="Aarhus Kommune (omdøbt)", actor=operator)
    assert transactions_of_a_catch_up(board, monkeypatch) == 1
    [(highest,)] = tamper(app, f"SELECT MAX(seq) FROM {INDEX_TABLE}")
    assert tamper(app, f"SELECT seq FROM {STATE}") == [(highest,)]
    rows = tamper(app, f"SELECT cvr FROM {TABLE} ORDER BY seq")
    assert rows[-2:] == [(ODENSE,), (AARHUS,)]


def test_events_that_are_no_facts_of_the_board_are_marked_in_one_transaction(
    app, operator, board, monkeypatch
):
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    board.refresh()
    rows = tamper(app, f"SELECT COUNT(*) FROM {TABLE}")
    for _ in range(3):
        app.record_login_rejected(reason="loa-too-low", idp="https://idp.example", cvr=AARHUS)
    assert transactions_of_a_catch_up(board, monkeypatch) == 1
    [(highest,)] = tamper(app, f"SELECT MAX(seq) FROM {INDEX_TABLE}")
    assert tamper(app, f"SELECT seq FROM {STATE}") == [(highest,)]
    assert tamper(app, f"SELECT COUNT(*) FROM {TABLE}") == rows
    assert transactions_of_a_catch_up(board, monkeypatch) == 0  # nothing new: no write
