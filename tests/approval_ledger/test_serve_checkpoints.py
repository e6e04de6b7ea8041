"""`ledger serve` covers every committed leaf by a checkpoint within its interval, with no
other write following, and its workers' checkpointers stop with them."""

from approval_ledger.initialize import initialize
from ledger.identity import Actor
from tests.ledger.test_checkpointer import covered, register, wait_until
from tests.served import free_port, ledger_serve, portal_environment


def test_ledger_serve_covers_a_write_within_the_interval_without_another_write(
    settings, saml_keys, tmp_path
):
    operator = Actor.cli_operator()
    ledger = initialize(settings, operator).app
    try:
        assert not covered(ledger, 0)  # the log's first event: no write made a checkpoint
        port = free_port()
        env = portal_environment(
            settings,
            saml_keys,
            LEDGER_SAML_BASE_URL=f"http://127.0.0.1:{port}",
            LEDGER_CHECKPOINT_INTERVAL="0.2",
        )
        with ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log") as served:
            wait_until(lambda: covered(ledger, 0))
            for number in range(3):  # written by another process, as `ledger` commands do
                seq = register(ledger, operator, number)
                wait_until(lambda seq=seq: covered(ledger, seq))
        log = served.log()
        assert "Traceback" not in log
        assert "no checkpoint this time" not in log
        assert log.count("Worker exiting") == 2
        assert "Exception during worker exit" not in log
    finally:
        ledger.close()
