"""Setting up a ledger: the data directory, the first signing key and the log's first event."""

import os
import secrets
from dataclasses import dataclass

from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.identity import Actor
from ledger.keyring import VERIFIER_KEYS_FILE, KeyRing


@dataclass(frozen=True)
class Initialized:
    app: LedgerApp
    created_key: bool
    started_log: bool


def initialize(settings: Settings, actor: Actor) -> Initialized:
    """Create what is missing and leave what exists; running it twice changes nothing."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not settings.secret_key_file.exists():
        descriptor = os.open(settings.secret_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(32))
    keyring = KeyRing(settings.keys_dir)
    created_key = not (settings.keys_dir / VERIFIER_KEYS_FILE).exists()
    if created_key:
        keyring.create(settings.origin)
    app = LedgerApp(settings)
    started = app.start_log(actor) is not None
    return Initialized(app, created_key, started)
