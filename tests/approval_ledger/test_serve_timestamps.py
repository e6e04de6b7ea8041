"""`ledger serve` with a timestamp authority: a real `openssl ts -reply` TSA over real HTTP.
The log's checkpointers, in the server's worker processes, have each checkpoint timestamped;
the kept token holds with `openssl ts -verify` and offline with the auditor's anchors."""

from approval_ledger.initialize import initialize
from ledger.evidence.timestamp import check_token, load_roots
from ledger.identity import Actor
from tests.ledger.test_checkpointer import register, wait_until
from tests.served import free_port, ledger_serve, portal_environment
from tests.tsa import TestTSA, openssl_verifies


def test_ledger_serve_has_its_checkpoints_timestamped_by_a_tsa(settings, saml_keys, tmp_path):
    tsa = TestTSA(tmp_path / "tsa", "Testens Tidsstempel")
    operator = Actor.cli_operator()
    ledger = initialize(settings, operator).app
    port = free_port()

    def stamped_beyond(seq: int) -> bool:
        newest = ledger.timestamps.newest()
        return newest is not None and newest[0] > seq

    try:
        with tsa.serving() as url:
            env = portal_environment(
                settings,
                saml_keys,
                LEDGER_SAML_BASE_URL=f"http://127.0.0.1:{port}",
                LEDGER_CHECKPOINT_INTERVAL="0.2",
                LEDGER_TSA_URL=url,
                LEDGER_TSA_ROOTS=str(tsa.ca),
            )
            with ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log") as served:
                for number in range(3):  # written by another process, as `ledger` commands do
                    seq = register(ledger, operator, number)
                    wait_until(lambda seq=seq: stamped_beyond(seq))
            log = served.log()
        assert "Traceback" not in log
        assert "not timestamped" not in log
        assert "refused" not in log
        size = ledger.timestamps.newest()[0]
        checkpoint = ledger.signed_log.stored_checkpoint(size)
        token = ledger.timestamps.token(size)
        assert openssl_verifies(token, checkpoint.note.encode(), tsa, tmp_path)
        stamp = check_token(token, checkpoint.note, load_roots(tsa.ca.read_bytes()))
        assert stamp.tsa == "Testens Tidsstempel"
        receipt = ledger.signed_log.receipt(seq, size=size)
        assert receipt.timestamp == token
    finally:
        ledger.close()
