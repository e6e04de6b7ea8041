"""`ledger backup`: a consistent copy of a serving ledger in a new private directory.

The database is copied from one snapshot while writers go on: SQLite's online backup API
(`sqlite3.Connection.backup`, in one step, so the copy is one read transaction), or
`pg_dump`'s custom format for PostgreSQL (one REPEATABLE READ snapshot). A plain copy of a
live SQLite file is not that: events committed to the write-ahead log but not yet
checkpointed into the file are missing from it, and a log cut short is still a valid log.

The documents are copied after the database, so every document the copied log names is
there (a document is stored before the event that names it is saved). Of the keys only the
public verifier keys are copied: the private signing keys let whoever holds them sign, and
are backed up apart (they change only at `ledger key rotate`).
"""

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ledger.config import Settings
from ledger.evidence.database import DatabaseURL
from ledger.evidence.tables import CHECKPOINTS_TABLE, LEAVES_TABLE
from ledger.keyring import VERIFIER_KEYS_FILE

SQLITE_COPY = "ledger.sqlite3"
POSTGRES_DUMP = "ledger.pgdump"
CHECKPOINT_FILE = "checkpoint"
DOCUMENTS_DIR = "documents"
KEYS_DIR = "keys"


class BackupError(Exception):
    """A backup that cannot be made; the message says what to do."""


@dataclass(frozen=True)
class Backup:
    directory: Path
    database: Path  # the SQLite copy, or the PostgreSQL dump
    leaves: int | None  # the copied log's leaves (SQLite), unknown until a dump is restored
    checkpoint_size: int | None  # the newest checkpoint in the copy (SQLite)
    documents: int

    @property
    def is_sqlite(self) -> bool:
        return self.database.name == SQLITE_COPY

    def database_url(self) -> DatabaseURL:
        return DatabaseURL.parse(f"sqlite:///{self.database}")


def backup(settings: Settings, out: Path) -> Backup:
    """Copy the ledger's database, documents and verifier keys into the new directory `out`
    (0700; every file in it 0600)."""
    verifier_keys = settings.keys_dir / VERIFIER_KEYS_FILE
    if not verifier_keys.exists():
        raise BackupError(f"{verifier_keys} is missing: is the ledger initialized?")
    try:
        out.mkdir(mode=0o700)
    except FileExistsError:
        raise BackupError(f"{out} exists already; choose a new path") from None
    except OSError as error:
        raise BackupError(f"cannot create {out}: {error.strerror}") from error
    try:
        os.chmod(out, 0o700)
        database = settings.database
        if database.is_sqlite:
            copy = out / SQLITE_COPY
            _copy_sqlite(database, copy)
            leaves, checkpoint = _copied_log(copy, out / CHECKPOINT_FILE)
        else:
            copy = out / POSTGRES_DUMP
            _dump_postgres(database, copy)
            leaves, checkpoint = None, None
        documents = _copy_documents(settings.documents_dir, out / DOCUMENTS_DIR)
        keys = out / KEYS_DIR
        keys.mkdir(mode=0o700)
        _copy_file(verifier_keys, keys / VERIFIER_KEYS_FILE)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # half a backup must not pass for one
        raise
    return Backup(out, copy, leaves, checkpoint, documents)


def _private_file(path: Path) -> int:
    """A new, empty file only its owner may read (0600), opened for writing."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def _copy_sqlite(database: DatabaseURL, copy: Path) -> None:
    os.close(_private_file(copy))
    try:
        source = database.connect()
    except FileNotFoundError as error:
        raise BackupError(f"LEDGER_DATABASE_URL: {error}") from error
    try:
        target = sqlite3.connect(copy)
        try:
            source.backup(target)  # one step: one read transaction, writers go on (WAL)
            target.execute("PRAGMA journal_mode=DELETE")  # the copy is one file
        finally:
            target.close()
    finally:
        source.close()
    os.chmod(copy, 0o600)


def _copied_log(copy: Path, checkpoint_file: Path) -> tuple[int, int | None]:
    """The copy's number of leaves; its newest checkpoint, also kept as a file beside it."""
    connection = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        ((leaves,),) = connection.execute(f"SELECT COUNT(*) FROM {LEAVES_TABLE}").fetchall()
        newest = connection.execute(
            f"SELECT size, note FROM {CHECKPOINTS_TABLE} ORDER BY size DESC LIMIT 1"
        ).fetchall()
    finally:
        connection.close()
    if not newest:
        return leaves, None
    size, note = newest[0]
    with os.fdopen(_private_file(checkpoint_file), "w", encoding="utf-8") as file:
        file.write(note)
    return leaves, size


def _dump_postgres(database: DatabaseURL, dump: Path) -> None:
    """`pg_dump --format=custom` of the database into `dump` (0600)."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(
            "pg_dump is not installed (Debian: postgresql-client); see README.md, "
            "section Backup, for the manual recipe"
        )
    command = [
        pg_dump,
        "--format=custom",
        "--no-password",
        f"--host={database.host}",
        f"--port={database.port}",
        f"--username={database.user}",
        f"--dbname={database.dbname}",
    ]
    environment = {**os.environ, "PGPASSWORD": database.password, "PGCONNECT_TIMEOUT": "10"}
    with os.fdopen(_private_file(dump), "wb") as file:
        done = subprocess.run(
            command, stdout=file, stderr=subprocess.PIPE, env=environment, check=False
        )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise BackupError(f"pg_dump failed: {message[-1] if message else done.returncode}")


def _copy_documents(source: Path, target: Path) -> int:
    """Copy every stored document (not the store's own lock and temporary files)."""
    target.mkdir(mode=0o700)
    copied = 0
    if not source.is_dir():
        return copied
    for directory in sorted(p for p in source.iterdir() if p.is_dir() and _kept(p)):
        (target / directory.name).mkdir(mode=0o700)
        for document in sorted(p for p in directory.iterdir() if p.is_file() and _kept(p)):
            _copy_file(document, target / directory.name / document.name)
            copied += 1
    return copied


def _kept(path: Path) -> bool:
    return not path.name.startswith(".")


def _copy_file(source: Path, target: Path) -> None:
    with source.open("rb") as reading, os.fdopen(_private_file(target), "wb") as writing:
        shutil.copyfileobj(reading, writing, 1 << 20)
        writing.flush()
        os.fsync(writing.fileno())
