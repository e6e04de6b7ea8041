"""`ledger backup` while the ledger is written to: the copy is consistent, verifies, holds
every write acknowledged before it began, and restores into a fresh data directory that
verifies and goes on. A plain copy of a live SQLite file can verify yet be short; only a
checkpoint kept from before shows it."""

import os
import shutil
import sqlite3
import stat
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from approval_ledger.cli import main
from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.evidence.database import DatabaseURL
from ledger.identity import Actor
from tests.conftest import POSTGRES_URL, settings_in
from tests.fixtures import PDF

WRITERS = 3


@dataclass
class Writers:
    """Threads writing to the ledger (role grants, and agreements with their documents)
    until stopped; what each write returned is acknowledged, with its place in the log."""

    settings: Settings
    acknowledged: list[tuple[int, uuid.UUID, int]] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    agreements: int = 0  # acknowledged publications, each with its document
    stop: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._write, args=(w,)) for w in range(WRITERS)]
        for thread in threads:
            thread.start()
        return threads

    def _write(self, writer: int) -> None:
        app = LedgerApp(self.settings)
        operator = Actor(Actor.OPERATOR, f"writer-{writer}")
        try:
            n = 0
            while not self.stop.is_set():
                publishing = writer == 0 and n % 5 == 0
                if publishing:
                    written = app.publish_agreement(
                        title="Driftsaftale",
                        version_label=f"{n}",
                        document=PDF + f"version {n}".encode(),
                        document_name="d.pdf",
                        actor=operator,
                    )
                else:
                    written = app.grant_role(
                        person_uuid=f"00000000-0000-4000-{writer:04d}-{n:012d}",
                        person_name=f"Person {writer}-{n}",
                        role="auditor",
                        cvrs=[],
                        actor=operator,
                    )
                seq = app.signed_log.seq_of(written.id, written.version)
                with self.changed:
                    self.acknowledged.append((seq, written.id, written.version))
                    self.agreements += publishing
                    self.changed.notify_all()
                n += 1
        except BaseException as error:
            self.failures.append(error)
            with self.changed:
                self.changed.notify_all()
        finally:
            app.close()

    def wait_for(self, count: int, agreements: int = 0) -> list[tuple[int, uuid.UUID, int]]:
        """Wait until `count` writes, `agreements` of them publications, are acknowledged (or
        a writer failed); those so far."""
        with self.changed:
            assert self.changed.wait_for(
                lambda: (
                    (len(self.acknowledged) >= count and self.agreements >= agreements)
                    or self.failures
                ),
                timeout=120,
            )
            assert not self.failures, self.failures
            return list(self.acknowledged)


@pytest.fixture
def point_at(monkeypatch):
    def point(settings: Settings) -> None:
        monkeypatch.setenv("LEDGER_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("LEDGER_DATABASE_URL", settings.database.url)
        monkeypatch.setenv("LEDGER_ORIGIN", settings.origin)
        monkeypatch.setenv("LEDGER_OPERATOR_CVR", settings.operator_cvr or "")

    return point


def keep_checkpoint(capsys, path: Path) -> None:
    capsys.readouterr()
    assert main(["checkpoint"]) == 0
    path.write_text(capsys.readouterr().out)


def back_up_while_writing(app, out: Path, point_at, capsys, kept: Path):
    """Run `ledger backup` while writers write; the writes acknowledged before it began."""
    writers = Writers(app.settings)
    threads = writers.start()
    try:
        writers.wait_for(15, agreements=1)  # a document to copy, however slow writer 0 is
        point_at(app.settings)
        keep_checkpoint(capsys, kept)
        before = writers.wait_for(len(writers.acknowledged))
        code = main(["backup", "--out", str(out)])
        after = len(writers.acknowledged)
        writers.wait_for(after + 10)  # the writers went on through and after the backup
    finally:
        writers.stop.set()
        for thread in threads:
            thread.join()
    assert not writers.failures, writers.failures
    return code, before, capsys.readouterr().out


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leaves_of(url: DatabaseURL) -> list[tuple[int, bytes, str, int]]:
    connection = url.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT seq, leaf, originator_id, originator_version FROM ledger_leaves ORDER BY seq"
        )
        return [
            (seq, bytes(leaf), str(uuid.UUID(str(oid))), version)
            for seq, leaf, oid, version in cursor.fetchall()
        ]
    finally:
        connection.close()


def assert_a_consistent_copy(live: DatabaseURL, copy: DatabaseURL, before) -> None:
    """The copy's leaves are the live log's first ones, and it holds every write acknowledged
    before the backup began."""
    copied = leaves_of(copy)
    assert copied == leaves_of(live)[: len(copied)]
    assert [seq for seq, *_ in copied] == list(range(len(copied)))
    held = {(oid, version) for _, _, oid, version in copied}
    for seq, oid, version in before:
        assert seq < len(copied)
        assert (str(oid), version) in held


def restore(backup_dir: Path, keys_dir: Path, data_dir: Path) -> None:
    """The README's restore: the backup's files, and the signing keys kept apart."""
    shutil.copytree(backup_dir, data_dir)
    for key in keys_dir.glob("signing-*.pem"):
        shutil.copy2(key, data_dir / "keys" / key.name)


def test_a_backup_under_concurrent_writes_restores_verifies_and_holds_every_acknowledged_write(
    sqlite_settings, operator, tmp_path, point_at, capsys, monkeypatch
):
    from approval_ledger.initialize import initialize

    app = initialize(sqlite_settings, operator).app
    out, kept = tmp_path / "backup", tmp_path / "kept-checkpoint"
    try:
        code, before, printed = back_up_while_writing(app, out, point_at, capsys, kept)
    finally:
        app.close()
    assert code == 0, printed
    assert "verify of the copy: checked" in printed
    assert printed.rstrip().endswith("all holds")
    assert mode(out) == 0o700
    assert mode(out / "ledger.sqlite3") == 0o600
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint",
        "documents",
        "keys",
        "ledger.sqlite3",
    ]
    assert [p.name for p in (out / "keys").iterdir()] == ["verifier-keys"]
    assert {mode(p) for p in (out / "documents").rglob("*") if p.is_file()} == {0o600}
    copy = DatabaseURL.parse(f"sqlite:///{out / 'ledger.sqlite3'}")
    assert_a_consistent_copy(sqlite_settings.database, copy, before)
    point_at(sqlite_settings)
    monkeypatch.setenv("LEDGER_DATABASE_URL", copy.url)
    assert main(["verify", "--against", str(kept)]) == 0

    restored = settings_in(tmp_path / "restored")
    restore(out, sqlite_settings.keys_dir, restored.data_dir)
    point_at(restored)
    assert main(["verify"]) == 0
    assert main(["verify", "--against", str(kept)]) == 0
    assert main(["verify", "--against", str(out / "checkpoint")]) == 0
    # The restored ledger goes on: it signs with the key kept apart.
    again = LedgerApp(restored)
    again.grant_role(
        person_uuid="00000000-0000-4000-8000-00000000ffff",
        person_name="Efter gendannelsen",
        role="staff",
        cvrs=[],
        actor=operator,
    )
    again.close()
    capsys.readouterr()
    assert main(["verify"]) == 0, capsys.readouterr().out


def test_a_backup_never_overwrites(sqlite_settings, operator, tmp_path, point_at, capsys):
    from approval_ledger.initialize import initialize

    initialize(sqlite_settings, operator).app.close()
    point_at(sqlite_settings)
    (tmp_path / "taken").mkdir()
    assert main(["backup", "--out", str(tmp_path / "taken")]) == 2
    assert "exists already" in capsys.readouterr().err
    assert list((tmp_path / "taken").iterdir()) == []


def test_a_plain_copy_of_a_live_sqlite_file_can_verify_yet_be_short(
    sqlite_settings, operator, tmp_path, point_at, capsys
):
    """What `cp ledger.sqlite3` gives while the portal serves: the file without the events
    still in the write-ahead log. A short log is a valid log; a kept checkpoint shows it."""
    from approval_ledger.initialize import initialize

    app = initialize(sqlite_settings, operator).app
    database = sqlite_settings.database.sqlite_path
    holder = sqlite3.connect(database)  # a reader, as the portal's connections are
    try:
        app.register_customer(cvr="55133018", name="Aarhus Kommune", actor=operator)
        holder.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file has these events
        for n in range(5):
            app.grant_role(
                person_uuid=f"00000000-0000-4000-8000-{n:012d}",
                person_name=f"Person {n}",
                role="auditor",
                cvrs=[],
                actor=operator,
            )
        assert Path(f"{database}-wal").stat().st_size > 0
        copied = settings_in(tmp_path / "copied")
        copied.data_dir.mkdir()
        shutil.copy(database, copied.data_dir / "ledger.sqlite3")  # the WAL left behind
        shutil.copytree(sqlite_settings.keys_dir, copied.keys_dir)
        point_at(sqlite_settings)
        kept = tmp_path / "kept-checkpoint"
        keep_checkpoint(capsys, kept)
    finally:
        holder.close()
        app.close()
    point_at(copied)
    capsys.readouterr()
    assert main(["verify"]) == 0
    assert capsys.readouterr().out.startswith("checked 2 leaves and 2 events: all holds")
    assert main(["verify", "--against", str(kept)]) == 1
    assert "truncated: seq 2: the log holds 2 leaves; the checkpoint you kept covers 7" in (
        capsys.readouterr().out
    )


# PostgreSQL: `ledger backup` runs pg_dump; the dump is restored with pg_restore.


@pytest.fixture
def restored_database() -> str:
    """The URL of a new, empty PostgreSQL database to restore into, dropped afterwards."""
    admin = DatabaseURL.parse(POSTGRES_URL)
    name = f"ledger_restored_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("pg_restore") is None, reason="pg_restore is not installed")
def test_a_postgres_backup_under_concurrent_writes_restores_with_pg_restore_and_verifies(
    postgres_settings, operator, tmp_path, point_at, capsys, restored_database
):
    from approval_ledger.initialize import initialize

    app = initialize(postgres_settings, operator).app
    out, kept = tmp_path / "backup", tmp_path / "kept-checkpoint"
    try:
        code, before, printed = back_up_while_writing(app, out, point_at, capsys, kept)
    finally:
        app.close()
    assert code == 0, printed
    assert mode(out / "ledger.pgdump") == 0o600
    target = DatabaseURL.parse(restored_database)
    subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--host={target.host}",
            f"--port={target.port}",
            f"--username={target.user}",
            f"--dbname={target.dbname}",
            str(out / "ledger.pgdump"),
        ],
        env={**os.environ, "PGPASSWORD": target.password},
        check=True,
        capture_output=True,
    )
    assert_a_consistent_copy(postgres_settings.database, target, before)
    restored = settings_in(tmp_path / "restored", restored_database)
    restore(out, postgres_settings.keys_dir, restored.data_dir)
    point_at(restored)
    capsys.readouterr()
    assert main(["verify"]) == 0, capsys.readouterr().out
    assert main(["verify", "--against", str(kept)]) == 0


def test_a_backup_that_fails_leaves_no_directory_behind(
    sqlite_settings, operator, tmp_path, point_at, capsys
):
    from approval_ledger.initialize import initialize

    initialize(sqlite_settings, operator).app.close()
    point_at(sqlite_settings)
    sqlite_settings.database.sqlite_path.unlink()
    assert main(["backup", "--out", str(tmp_path / "backup")]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "backup").exists()


@pytest.mark.postgres
def test_a_postgres_backup_that_pg_dump_refuses_leaves_no_directory_behind(
    postgres_settings, operator, tmp_path, point_at, capsys, monkeypatch
):
    from approval_ledger.initialize import initialize

    initialize(postgres_settings, operator).app.close()
    point_at(postgres_settings)
    wrong = postgres_settings.database.url.replace("ledger_ci:ledger_ci@", "ledger_ci:wrong@")
    monkeypatch.setenv("LEDGER_DATABASE_URL", wrong)
    assert main(["backup", "--out", str(tmp_path / "backup")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("ledger: pg_dump failed: ")
    assert "wrong" not in error
    assert not (tmp_path / "backup").exists()
