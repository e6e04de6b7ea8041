"""`ledger serve` with a witness run by someone else: both real processes over real HTTP. The
log's checkpointers have the witness cosign each checkpoint, and `GET /api/v1/checkpoint`
serves the note with the witness's line, which the log's key alone still opens."""

from approval_ledger.initialize import initialize
from ledger.evidence.cosignature import cosignatures_of
from ledger.evidence.note import open_checkpoint
from ledger.identity import Actor
from tests.helpers import new_witness
from tests.ledger.test_checkpointer import register, wait_until
from tests.served import free_port, ledger_serve, portal_environment


def test_ledger_serve_has_each_checkpoint_cosigned_by_a_witness_process(
    settings, saml_keys, tmp_path
):
    witness = new_witness(tmp_path / "witness")
    operator = Actor.cli_operator()
    ledger = initialize(settings, operator).app
    witness.witness_log(settings)
    witnesses = tmp_path / "witnesses"
    witnesses.write_text(
        f"# the log's witnesses\n{witness.key.name} {witness.url} {witness.key.line()}\n",
        encoding="utf-8",
    )
    port = free_port()
    env = portal_environment(
        settings,
        saml_keys,
        LEDGER_SAML_BASE_URL=f"http://127.0.0.1:{port}",
        LEDGER_CHECKPOINT_INTERVAL="0.2",
        LEDGER_WITNESSES=str(witnesses),
    )
    keys = ledger.keyring.verifier_keys()

    def cosigned_size(served) -> int:
        status, body = served.get("/api/v1/checkpoint")
        assert status == 200
        note = body.decode()
        size = open_checkpoint(note, keys, settings.origin).size
        return size if cosignatures_of(note, [witness.key]) else 0

    try:
        with (
            witness.serving(),
            ledger_serve(env, f"127.0.0.1:{port}", tmp_path / "serve.log") as served,
        ):
            for number in range(3):  # written by another process, as `ledger` commands do
                seq = register(ledger, operator, number)
                wait_until(lambda seq=seq: cosigned_size(served) > seq)
        log = served.log()
        assert "Traceback" not in log
        assert "did not cosign" not in log
    finally:
        ledger.close()
