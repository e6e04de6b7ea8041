"""Setting up a ledger: the data directory, the first signing key and the log's first event,
which names the key and evidence format 2, so that no personal value of a new log is ever in
a hashed payload.

The data directory and what the ledger keeps in it are for the ledger's owner only:
directories 0700, files 0600, whatever existed before and whatever the umask.
"""

import os
import secrets
from dataclasses import dataclass

from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.documents import make_private_directory
from ledger.identity import Actor
from ledger.keyring import VERIFIER_KEYS_FILE, KeyRing


@dataclass(frozen=True)
class Initialized:
    app: LedgerApp
    created_key: bool
    started_log: bool


def initialize(
    settings: Settings, actor: Actor, *, existing_key: bool = False, evidence_format: int = 2
) -> Initialized:
    """Create what is missing and leave what exists; running it twice changes nothing.
    `existing_key`: sign with the key pair made in the token beforehand (`KeyRing.create`).
    `evidence_format`: the format a new log writes in (1 makes a log as every log was
    before format 2, for the tests of such logs)."""
    make_private(settings)
    if not settings.secret_key_file.exists():
        descriptor = os.open(settings.secret_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(32))
    keyring = KeyRing.from_env(settings.keys_dir, settings.token_env())
    created_key = not (settings.keys_dir / VERIFIER_KEYS_FILE).exists()
    if created_key:
        keyring.create(settings.origin, existing=existing_key)
    app = LedgerApp(settings)
    started = app.start_log(actor, evidence_format=evidence_format)
    return Initialized(app, created_key, started)


# The directories beside the database besides `settings.documents_dir`: keys/ (where
# LEDGER_KEYS_DIR does not point elsewhere) and saml/ (made by `ledger init` for the SAML
# keys; made private here when it exists).
PRIVATE_DIRECTORIES = ("keys", "saml")


def make_private(settings: Settings) -> None:
    """The data directory, its keys/, documents/ (with every directory in it) and saml/
    0700, and the secret key 0600: created so, or made so when they exist."""
    make_private_directory(settings.data_dir)
    for directory in (
        settings.keys_dir,
        settings.documents_dir,
        *(settings.data_dir / name for name in PRIVATE_DIRECTORIES),
    ):
        if directory.exists():
            os.chmod(directory, 0o700)
    if settings.documents_dir.exists():
        for shard in settings.documents_dir.iterdir():
            if shard.is_dir() and not shard.is_symlink():
                os.chmod(shard, 0o700)
    if settings.secret_key_file.exists():
        os.chmod(settings.secret_key_file, 0o600)
