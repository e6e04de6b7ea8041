"""`ledger serve` the way production runs it: a process of its own, configured only by its
environment, on a Unix socket or a loopback port; and plain HTTP/1.1 to it from the test.

The data directory is made in the test (`initialize`, as `ledger init` does); the SAML keys
are the test session's (`saml_keys`), the development IdP's linked into the data directory,
so no process makes RSA keys of its own.
"""

import http.client
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.config import Settings

START_TIMEOUT = 60.0  # seconds: a loaded 2-core machine imports slowly


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_in_thread(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A real HTTP server for a peer the test plays (a TSA, a proxy in front of a witness), on a
    free loopback port and its own threads, for the duration of the block; yields the port.
    Shut down and closed on the way out, so no test leaves a listener behind."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def portal_environment(settings: Settings, saml_keys: Path, **extra: str) -> dict[str, str]:
    """The environment of a portal process: this one's without any LEDGER_* variable, then
    the settings' own, the development IdP and the shared SAML keys."""
    saml_dir = settings.data_dir / "saml"
    saml_dir.mkdir(parents=True, exist_ok=True)
    if not (saml_dir / "dev-idp").exists():
        (saml_dir / "dev-idp").symlink_to(saml_keys / "dev-idp")
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEDGER_")}
    return (
        env
        | {
            "LEDGER_DATA_DIR": str(settings.data_dir),
            "LEDGER_DATABASE_URL": settings.database.url,
            "LEDGER_ORIGIN": settings.origin,
            "LEDGER_OPERATOR_CVR": settings.require_operator_cvr(),
            "LEDGER_DEV_IDP": "1",
            "LEDGER_SAML_SP_SIGNING_KEY": str(saml_keys / "sp-signing.key"),
            "LEDGER_SAML_SP_SIGNING_CERT": str(saml_keys / "sp-signing.crt"),
            "LEDGER_SAML_SP_ENCRYPTION_KEY": str(saml_keys / "sp-encryption.key"),
            "LEDGER_SAML_SP_ENCRYPTION_CERT": str(saml_keys / "sp-encryption.crt"),
        }
        | extra
    )


@dataclass
class Served:
    """A running `ledger serve`: where it listens, its process and its output."""

    bind: str  # as given to --bind: "unix:PATH" or "127.0.0.1:PORT"
    process: subprocess.Popen
    output: Path

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        if self.bind.startswith("unix:"):
            return _UnixConnection(self.bind.removeprefix("unix:"), timeout)
        host, port = self.bind.rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=timeout)

    def socket(self) -> socket.socket:
        """A raw connection, for a client that sends what it likes."""
        connection = self.connection()
        connection.connect()
        assert connection.sock is not None
        return connection.sock

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection = self.connection()
        try:
            connection.request("GET", path, headers=headers or {})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


@contextmanager
def ledger_serve(
    env: dict[str, str], bind: str, output: Path, workers: int = 2
) -> Iterator[Served]:
    """`ledger serve --bind BIND` until it answers `/`; stopped (SIGTERM) afterwards."""
    command = [
        sys.executable,
        "-m",
        "approval_ledger",
        "serve",
        "--bind",
        bind,
        "--workers",
        str(workers),
    ]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    served = Served(bind, process, output)
    try:
        wait_until_answering(served)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_answering(served: Served) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if served.process.poll() is not None:
            raise AssertionError(
                f"ledger serve stopped ({served.process.returncode}):\n{served.log()}"
            )
        try:
            status, _ = served.get("/")
        except OSError:
            status = 0
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"ledger serve did not answer in {START_TIMEOUT} s:\n{served.log()}"
            )
        time.sleep(0.1)  # polling for the process to listen: there is nothing to wait on
