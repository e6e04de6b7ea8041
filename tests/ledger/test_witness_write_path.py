"""The witnesses' and the TSA's threads stay off the write path on PostgreSQL too: their reads
of the tree (the newest checkpoint, a consistency proof) borrow a connection of the writers'
pool for one short transaction, and must leave that connection as the writers left it.

psycopg forgets a connection's prepared statements at every ROLLBACK (it sends DEALLOCATE
ALL), so a read that ended so made the next write on that connection prepare its statements
again: a few hundred microseconds of CPU per write in the writing process, 10 % of the write
rate in bench/witness.py with two witnesses and a TSA."""

import pytest
from psycopg._preparing import PrepareManager

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.cosigning import Cosigning
from tests.helpers import new_witness
from tests.ledger.test_checkpointer import INTERVAL, register
from tests.ledger.test_witness import OPERATOR

pytestmark = pytest.mark.postgres


@pytest.fixture
def forgotten(monkeypatch):
    """How many times psycopg forgot a connection's prepared statements (DEALLOCATE ALL)."""
    count = [0]
    clear = PrepareManager.clear

    def counted(self: PrepareManager) -> bool:
        forgot = clear(self)
        count[0] += forgot
        return forgot

    monkeypatch.setattr(PrepareManager, "clear", counted)
    return count


def test_asking_a_witness_leaves_the_writers_prepared_statements(
    postgres_settings, tmp_path, forgotten
):
    witness = new_witness(tmp_path / "w1")
    initialize(postgres_settings, OPERATOR).app.close()
    witness.witness_log(postgres_settings)
    app = LedgerApp(postgres_settings)
    cosigning = Cosigning(app.signed_log, (witness.entry(),), INTERVAL)
    try:
        with witness.serving():
            sizes = []
            for number in range(2):
                # Writes first, so that every connection of the pool holds the writers'
                # prepared statements; then what the followers and a receipt read.
                seqs = [register(app, OPERATOR, 10 * number + k) for k in range(8)]
                sizes.append(app.signed_log.advance_checkpoint().size)
                assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
                app.signed_log.read_tree(lambda tree: tree.latest())
                app.signed_log.receipt(seqs[0])
            assert app.signed_log.consistency_proof(*sizes)
            register(app, OPERATOR, 99)
        assert forgotten[0] == 0
    finally:
        cosigning.stop()
        app.close()
