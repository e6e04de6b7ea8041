"""What the portal is given to work with: built by the composition root, never here.

The app reads no environment and opens no database itself; it receives these, and whoever
built them closes them (see `web.create_app`).
"""

from dataclasses import dataclass

from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.migration_board import MigrationBoard
from ledger.search import EventIndex
from ledger.signed_log import SignedLog
from ledger.storage.login_counters import LoginRateLimit
from ledger.storage.notices import Outbox
from ledger.storage.once import UsedOnce
from saml.settings import SamlSettings
from saml.sp import ServiceProvider


@dataclass(frozen=True)
class Services:
    """The ledger and what the portal keeps beside it, for one process.

    Each holds database connections of its own process: a process (a gunicorn worker, a
    test) builds its own and does not share them with another.
    """

    settings: Settings
    saml: SamlSettings
    ledger: LedgerApp
    event_index: EventIndex
    service_provider: ServiceProvider
    # The service provider's replay cache, kept here too so that it is closed with the rest.
    used_once: UsedOnce
    login_rate_limit: LoginRateLimit
    # The e-mail notices' outbox and the signatories' addresses (used while e-mail is on).
    outbox: Outbox
    # The migration's projection: the matrix and each municipality's tasks are read from it.
    migration_board: MigrationBoard

    @property
    def signed_log(self) -> SignedLog:
        """The ledger's signed log (checkpoints, proofs, receipts), closed with the ledger."""
        return self.ledger.signed_log

    def close(self) -> None:
        """Close every connection they hold; closing twice does no harm."""
        self.migration_board.close()
        self.outbox.close()
        self.login_rate_limit.close()
        self.used_once.close()
        self.event_index.close()
        self.ledger.close()
