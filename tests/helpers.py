"""Helpers the tests share: a witness run as its operator runs it (`ledger witness init`,
`ledger witness serve` in a process of its own), a log forked from a shared prefix and signed
with the real key, and the staff role with a staff login through the development IdP."""

import base64
import http.client
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from development.demo import PERSONS_BY_KEY, signatory
from ledger.application import LedgerApp
from ledger.config import Settings
from ledger.domain import AgreementVersion
from ledger.evidence.cosignature import CosignerKey, WitnessEntry
from ledger.identity import Actor
from ledger.witness import LOGS_FILE, STATE_FILE, WitnessState
from tests.conftest import settings_in
from tests.fixtures import approved_agreement, register_customers
from tests.served import START_TIMEOUT, free_port
from tests.web.test_login import log_in

WITNESS_NAME = "witness.test.example/w1"


def ledger_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "approval_ledger", *args],
        env=env or clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def clean_environment() -> dict[str, str]:
    """This process's environment without LEDGER_* settings: a witness has none."""
    return {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}


@dataclass
class WitnessProcess:
    """A witness directory, its key, and the process serving it while one runs."""

    directory: Path
    key: CosignerKey
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def entry(self) -> WitnessEntry:
        return WitnessEntry(self.key.name, self.url, self.key)

    def witness_log(self, settings: Settings) -> None:
        """Add the log's verifier keys to the witness's list of logs."""
        keys = (settings.keys_dir / "verifier-keys").read_text(encoding="utf-8").split()
        with (self.directory / LOGS_FILE).open("a", encoding="utf-8") as logs:
            for line in keys:
                logs.write(f"{settings.origin} {line}\n")

    @contextmanager
    def serving(self) -> Iterator["WitnessProcess"]:
        """`ledger witness serve` until it answers; stopped with SIGTERM afterwards."""
        output = self.directory.parent / f"witness-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "approval_ledger",
            "witness",
            "serve",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--dir",
            str(self.directory),
        ]
        with output.open("ab") as sink:
            self.process = subprocess.Popen(
                command, env=clean_environment(), stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while post(self.url, b"") is None:
                if self.process.poll() is not None:
                    raise AssertionError(output.read_text(encoding="utf-8"))
                assert time.monotonic() < deadline, "the witness did not answer in time"
                time.sleep(0.05)
            yield self
        finally:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def state(self) -> WitnessState:
        return WitnessState(self.directory / STATE_FILE)


def post(url: str, body: bytes, path: str = "/add-checkpoint") -> tuple[int, str, str] | None:
    """POST to the witness: status, content type, body; None when nothing listens."""
    host_port = url.removeprefix("http://")
    host, port = host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", path, body=body)
        answer = connection.getresponse()
        return answer.status, answer.getheader("Content-Type", ""), answer.read().decode()
    except ConnectionRefusedError:
        return None
    finally:
        connection.close()


def submission(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode()


def new_witness(directory: Path, name: str = WITNESS_NAME) -> WitnessProcess:
    """A witness made by `ledger witness init`, as its operator would make it."""
    made = ledger_command("witness", "init", "--name", name, "--dir", str(directory))
    assert made.returncode == 0, made.stderr
    return WitnessProcess(directory, CosignerKey.parse(made.stdout.strip().splitlines()[-1]))


def witness_list(tmp_path: Path, *witnesses: WitnessProcess) -> Path:
    path = tmp_path / "witnesses"
    lines = [f"{w.key.name} {w.url} {w.key.line()}\n" for w in witnesses]
    path.write_text("# name URL key\n" + "".join(lines), encoding="utf-8")
    return path


def fork_log(settings: Settings, into: Path) -> Settings:
    """A second database from the same prefix of the log, signed with the same real key."""
    forked = settings_in(into)
    shutil.copytree(settings.keys_dir, forked.keys_dir)
    assert settings.database.sqlite_path is not None
    assert forked.database.sqlite_path is not None
    with (
        sqlite3.connect(settings.database.sqlite_path) as source,
        sqlite3.connect(forked.database.sqlite_path) as copy,
    ):
        source.backup(copy)
    return forked


def grant_staff(app: LedgerApp, operator: Actor) -> None:
    """The staff role for the development IdP's persona "staff", the operator's employee."""
    staff = PERSONS_BY_KEY["staff"]
    app.grant_role(
        person_uuid=staff.person_uuid,
        person_name=staff.name,
        role="staff",
        cvrs=[],
        actor=operator,
    )


def staff_world(app: LedgerApp, operator: Actor) -> AgreementVersion:
    """The demo's three customers, Driftsaftale 2026.1 approved by Aarhus, and the staff role."""
    register_customers(app, operator)
    version = approved_agreement(app, publisher=operator, approver=signatory("aarhus"))
    grant_staff(app, operator)
    return version


def staff_login(client) -> None:
    """Log the test client in as the persona "staff" through the development IdP."""
    answer = log_in(client, "staff")
    assert answer.status_code in (302, 303), answer.status_code


def point_the_cli_at(app: LedgerApp, monkeypatch) -> None:
    """`approval_ledger.cli.main` run in this process reads the same ledger as `app`."""
    settings = app.settings
    monkeypatch.setenv("LEDGER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", settings.origin)
    monkeypatch.setenv("LEDGER_OPERATOR_CVR", settings.operator_cvr or "")
