"""One process of the log asks the witness and the TSA about each checkpoint: `ledger serve`
with two worker processes, each following the checkpoints, against a real witness process
(behind a proxy of the test's that counts its requests) and a real `openssl ts` TSA."""

import hashlib
import http.client
import http.server
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from approval_ledger.initialize import initialize
from ledger.identity import Actor
from ledger.storage.asking import AskingClaims
from tests.helpers import new_witness
from tests.ledger.test_checkpointer import register, wait_until
from tests.served import free_port, ledger_serve, portal_environment, serve_in_thread
from tests.tsa import TestTSA


@contextmanager
def counting_proxy(target_port: int) -> Iterator[tuple[str, list[tuple[int, int, int]]]]:
    """An HTTP proxy to the witness on `target_port`: its URL, and (old size, new size,
    status) of every add-checkpoint request it passed on, in order."""
    seen: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            connection = http.client.HTTPConnection("127.0.0.1", target_port, timeout=10)
            try:
                connection.request("POST", self.path, body=body, headers=dict(self.headers))
                answer = connection.getresponse()
                status, data = answer.status, answer.read()
                content_type = answer.getheader("Content-Type", "text/plain")
            finally:
                connection.close()
            text = body.decode()
            old = int(text.split("\n", 1)[0].removeprefix("old "))
            size = int(text.split("\n\n", 1)[1].split("\n")[1])
            with lock:
                seen.append((old, size, status))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve_in_thread(Handler) as port:
        yield f"http://127.0.0.1:{port}", seen


def test_two_worker_processes_ask_the_witness_and_the_tsa_once_per_checkpoint(
    settings, saml_keys, tmp_path
):
    witness = new_witness(tmp_path / "witness")
    tsa = TestTSA(tmp_path / "tsa", "Testens Tidsstempel")
    operator = Actor.cli_operator()
    ledger = initialize(settings, operator).app
    witness.witness_log(settings)
    port = free_port()
    try:
        with (
            witness.serving(),
            counting_proxy(witness.port) as (proxy_url, seen),
            tsa.serving() as tsa_url,
        ):
            witnesses = tmp_path / "witnesses"
            witnesses.write_text(f"{witness.key.name} {proxy_url} {witness.key.line()}\n")
            env = portal_environment(
                settings,
                saml_keys,
                LEDGER_SAML_BASE_URL=f"http://127.0.0.1:{port}",
                LEDGER_CHECKPOINT_INTERVAL="0.2",
                LEDGER_WITNESSES=str(witnesses),
                LEDGER_TSA_URL=tsa_url,
                LEDGER_TSA_ROOTS=str(tsa.ca),
            )
            with ledger_serve(
                env, f"127.0.0.1:{port}", tmp_path / "serve.log", workers=2
            ) as served:
                for number in range(8):  # written by another process, as `ledger` commands do
                    seq = register(ledger, operator, number)
                    wait_until(
                        lambda seq=seq: (
                            ledger.cosignatures.cosigned_size(witness.key.name) > seq
                            and (ledger.timestamps.newest() or (0,))[0] > seq
                        )
                    )
                log = served.log()
        assert "Traceback" not in log
        sizes = [size for _, size, _ in seen]
        assert len(sizes) >= 2
        assert [status for _, _, status in seen] == [200] * len(seen), seen
        assert max(Counter(sizes).values()) == 1, seen
        # Each request from the size cosigned before it: one asker, never a stale old size.
        assert [old for old, _, _ in seen] == [0, *sizes[:-1]], seen
        stored = [ledger.signed_log.stored_checkpoint(size) for size in range(1, max(sizes) + 1)]
        imprints = {
            hashlib.sha256(checkpoint.note.encode()).digest(): checkpoint.size
            for checkpoint in stored
            if checkpoint is not None
        }
        stamped = [
            size for query in tsa.requests for imprint, size in imprints.items() if imprint in query
        ]
        assert len(stamped) == len(tsa.requests)
        assert max(Counter(stamped).values()) == 1, stamped
    finally:
        ledger.close()


def test_a_claim_is_the_first_askers_until_it_lapses_or_a_newer_checkpoint_comes(app, settings):
    """The rule itself, on the log's database: two claimants as two processes would be."""
    first = AskingClaims(settings.database, lease=3.0)
    second = AskingClaims(settings.database, lease=3.0)
    try:
        assert first.claim("warm", 1)  # the table and connections made before the clock runs
        assert second.claim("warm", 2)
        assert first.claim("cosign", 5)
        assert not second.claim("cosign", 5)
        assert first.claim("cosign", 5)  # its own: asked again, renewed
        assert second.claim("timestamp", 5)  # another kind of asking
        assert second.claim("cosign", 6)  # a checkpoint no one has asked about yet
        assert not first.claim("cosign", 6)
        wait_until(lambda: first.claim("cosign", 6), deadline=10)  # lapsed: taken over
        assert not second.claim("cosign", 6)
    finally:
        first.close()
        second.close()
