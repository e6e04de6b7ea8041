"""Fixtures of the ledger's tests beside tests/conftest.py's: the search index and the
migration board over the test's application, closed after it."""

from collections.abc import Iterator

import pytest

from ledger.application import LedgerApp
from ledger.migration_board import MigrationBoard
from ledger.search import EventIndex


@pytest.fixture
def index(app: LedgerApp) -> Iterator[EventIndex]:
    """The search index and its projection (from which the listed kinds' ids come)."""
    index = EventIndex(app)
    yield index
    index.close()


@pytest.fixture
def board(index: EventIndex) -> Iterator[MigrationBoard]:
    board = MigrationBoard(index)
    yield board
    board.close()
