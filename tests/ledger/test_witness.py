"""A witness others run (`ledger witness init`, `ledger witness serve`), as a process of its
own over real HTTP, and the log as its client: the log cosigned through it, a 409 answered
from the size it names, every refusal as C2SP tlog-witness says, a forked log refused on its
second branch, state that outlives a restart, and a witness that is down stopping no write."""

import base64
import http.client
import json
import sqlite3
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from tlog_scales.signing import Vkey
from tlog_scales.tlog import Checkpoint as ScalesCheckpoint

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.checkpointer import Checkpointer
from ledger.config import ConfigError, Settings
from ledger.cosigning import Cosigning
from ledger.evidence.cosignature import CosignerKey, cosignatures_of
from ledger.evidence.keys import SigningKey
from ledger.evidence.note import Checkpoint, open_checkpoint, sign_note
from ledger.identity import Actor
from ledger.storage.cosignatures import TABLE as COSIGNATURES
from ledger.witness import LOGS_FILE, STATE_FILE
from tests.helpers import (
    WITNESS_NAME,
    WitnessProcess,
    fork_log,
    ledger_command,
    new_witness,
    post,
    submission,
    witness_list,
)
from tests.ledger.test_checkpointer import INTERVAL, covered, register, wait_until
from tests.served import free_port

OPERATOR = Actor.cli_operator()


@pytest.fixture
def witness(tmp_path: Path) -> WitnessProcess:
    return new_witness(tmp_path / "witness")


def _witnessed_log(settings: Settings, witness: WitnessProcess) -> LedgerApp:
    """A new log whose settings name the witness, and which the witness knows."""
    initialize(settings, OPERATOR).app.close()
    witness.witness_log(settings)
    return LedgerApp(replace(settings, witnesses=(witness.entry(),), witness_quorum=1))


def _cosigning(app: LedgerApp) -> Cosigning:
    return Cosigning(app.signed_log, app.signed_log.witnesses, INTERVAL)


def test_witness_init_makes_a_key_of_its_own_readable_only_by_its_owner(witness, tmp_path):
    mode = stat.S_IMODE
    assert mode(witness.directory.stat().st_mode) == 0o700
    for name in ("witness-key.pem", LOGS_FILE, STATE_FILE):
        assert mode((witness.directory / name).stat().st_mode) == 0o600, name
    assert witness.key.name == WITNESS_NAME
    assert base64.b64decode(witness.key.line().split("+", 2)[2])[0] == 0x04
    again = ledger_command(
        "witness", "init", "--name", WITNESS_NAME, "--dir", str(witness.directory)
    )
    assert again.returncode == 2
    assert "exists already" in again.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "other-file").write_text("kept")
    busy = ledger_command(
        "witness", "init", "--name", WITNESS_NAME, "--dir", str(tmp_path / "busy")
    )
    assert busy.returncode == 2
    assert "not an empty directory" in busy.stderr
    assert sorted(path.name for path in (tmp_path / "busy").iterdir()) == ["other-file"]


def test_witness_serve_without_a_witness_directory_says_how_to_make_one(tmp_path):
    served = ledger_command("witness", "serve", "--dir", str(tmp_path / "nowhere"))
    assert served.returncode == 2
    assert "run `ledger witness init" in served.stderr


def test_the_log_is_cosigned_through_a_witness_process(settings, witness):
    app = _witnessed_log(settings, witness)
    cosigning = _cosigning(app)
    try:
        with witness.serving():
            register(app, OPERATOR, 0)
            first = app.signed_log.checkpoint()
            assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
            for number in range(1, 4):
                register(app, OPERATOR, number)
            second = app.signed_log.checkpoint()
            assert second.size > first.size
            # From the size it cosigned, with the consistency proof to the new one.
            assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
            assert [o.kind for o in cosigning.run_once()] == ["already"]
        for checkpoint in (first, second):
            note = app.signed_log.cosigned_note(checkpoint)
            log_keys = app.keyring.verifier_keys()
            assert open_checkpoint(note, log_keys, settings.origin).size == checkpoint.size
            (cosignature,) = cosignatures_of(note, [witness.key])
            assert abs(cosignature.timestamp - time.time()) < 600
            scales = ScalesCheckpoint.from_text(note)  # checked by a C2SP we did not write
            scales.verify(Vkey.from_string(witness.key.line()))
            for key in log_keys.values():
                scales.verify(Vkey.from_string(key.line()))
        assert app.signed_log.cosigned_by(second).keys() == {WITNESS_NAME}
        assert witness.state().latest(settings.origin)[0] == second.size
    finally:
        cosigning.stop()
        app.close()


def test_a_log_that_forgot_what_was_cosigned_is_told_the_size_and_sends_the_proof_from_it(
    sqlite_settings, witness
):
    app = _witnessed_log(sqlite_settings, witness)
    cosigning = _cosigning(app)
    try:
        with witness.serving():
            register(app, OPERATOR, 0)
            first = app.signed_log.checkpoint()
            assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
            stale = post(witness.url, submission(0, [], first.note))
            assert stale == (409, "text/x.tlog.size", f"{first.size}\n")
            register(app, OPERATOR, 1)
            second = app.signed_log.checkpoint()
            _forget_cosignatures(sqlite_settings)
            fresh = _cosigning(app)  # nothing kept, nothing told: it sends `old 0`
            try:
                assert [o.kind for o in fresh.run_once()] == ["cosigned"]
            finally:
                fresh.stop()
        assert cosignatures_of(app.signed_log.cosigned_note(second), [witness.key])
        assert witness.state().latest(sqlite_settings.origin)[0] == second.size
    finally:
        cosigning.stop()
        app.close()


def _forget_cosignatures(settings: Settings) -> None:
    assert settings.database.sqlite_path is not None
    with sqlite3.connect(settings.database.sqlite_path) as connection:
        connection.execute(f"DELETE FROM {COSIGNATURES}")


def test_a_witness_answers_each_refusal_as_tlog_witness_says(sqlite_settings, witness, tmp_path):
    app = _witnessed_log(sqlite_settings, witness)
    try:
        for number in range(3):
            register(app, OPERATOR, number)
        checkpoint = app.signed_log.checkpoint()
        note = checkpoint.note
        foreign = SigningKey.generate(sqlite_settings.origin)  # the log's name, not its key
        forged = sign_note(Checkpoint.parse(note.split("\n\n")[0] + "\n").text(), [foreign])
        other_log = SigningKey.generate("other.test.example/ledger")
        unknown = sign_note(Checkpoint(other_log.name, 1, bytes(32)).text(), [other_log])
        with witness.serving():
            url = witness.url

            def status(body: bytes) -> int:
                answer = post(url, body)
                assert answer is not None
                return answer[0]

            assert status(b"") == 400
            assert status(b"old 0\n" + note.encode()) == 400  # no empty line
            assert status(submission(0, [], note).replace(b"old 0", b"old 00")) == 400
            assert status(submission(0, [bytes(32)] * 64, note)) == 400  # more than 63 lines
            assert status(b"old 0\nnot-base64\n\n" + note.encode()) == 400
            assert status(submission(0, [], "not a note\n")) == 400
            assert status(submission(checkpoint.size + 1, [], note)) == 400  # old > size
            assert status(submission(0, [], unknown)) == 404
            assert status(submission(0, [], forged)) == 403
            assert status(submission(0, [bytes(32)], note)) == 422  # a proof from size 0
            assert status(submission(0, [], note)) == 200
            register(app, OPERATOR, 3)
            newer = app.signed_log.checkpoint()
            assert status(submission(checkpoint.size, [bytes(32)] * 2, newer.note)) == 422
            answer = post(url, submission(checkpoint.size, [], newer.note))
            assert answer is not None
            assert answer[0] == 422
            assert post(url, b"", path="/other") == (
                404,
                "text/plain; charset=utf-8",
                "not found\n",
            )
            connection = http.client.HTTPConnection("127.0.0.1", witness.port, timeout=10)
            connection.request("GET", "/add-checkpoint")
            got = connection.getresponse()
            assert (got.status, got.getheader("Allow")) == (405, "POST")
            connection.close()
        # A validly signed checkpoint with a bad proof is kept as evidence, once; nothing moved.
        assert witness.state().latest(sqlite_settings.origin)[0] == checkpoint.size
        assert [size for size, _, _ in witness.state().refused(sqlite_settings.origin)] == [
            newer.size
        ]
    finally:
        app.close()


def test_a_forked_log_is_refused_on_its_second_branch(sqlite_settings, witness, tmp_path):
    honest = _witnessed_log(sqlite_settings, witness)
    entry = witness.entry
    try:
        for number in range(3):
            register(honest, OPERATOR, number)
        honest.signed_log.checkpoint()
        forked_settings = fork_log(sqlite_settings, tmp_path / "fork")
        with witness.serving():
            forked = LedgerApp(replace(forked_settings, witnesses=(entry(),), witness_quorum=1))
            honest_cosigning, forked_cosigning = _cosigning(honest), _cosigning(forked)
            try:
                assert [o.kind for o in honest_cosigning.run_once()] == ["cosigned"]
                # Each branch appends other events after the shared prefix.
                register(honest, OPERATOR, 10)
                register(forked, OPERATOR, 20)
                honest_head = honest.signed_log.checkpoint()
                same_size = forked.signed_log.checkpoint()
                assert honest_head.size == same_size.size
                assert honest_head.root != same_size.root
                # Both are signed by the log's real key: only a witness tells them apart.
                keys = honest.keyring.verifier_keys()
                open_checkpoint(same_size.note, keys, sqlite_settings.origin)
                assert [o.kind for o in honest_cosigning.run_once()] == ["cosigned"]
                refused = forked_cosigning.run_once()
                assert [o.kind for o in refused] == ["refused"]
                assert "another tree of size" in refused[0].detail
                register(forked, OPERATOR, 21)  # a larger tree on the other branch
                larger = forked.signed_log.checkpoint()
                forked_cosigning._next_try.clear()  # asked at once, not after its back-off
                refused = forked_cosigning.run_once()
                assert [o.kind for o in refused] == ["refused"]
                assert "refuses the proof" in refused[0].detail
                assert forked.signed_log.cosigned_by(larger) == {}
                assert forked.signed_log.cosigned_note(larger) == larger.note
            finally:
                honest_cosigning.stop()
                forked_cosigning.stop()
                forked.close()
        state = witness.state()
        assert state.latest(sqlite_settings.origin) == (honest_head.size, honest_head.root)
        assert [(size, note) for size, _, note in state.refused(sqlite_settings.origin)] == [
            (same_size.size, same_size.note),
            (larger.size, larger.note),
        ]
    finally:
        honest.close()


def test_a_restarted_witness_keeps_what_it_cosigned(sqlite_settings, witness):
    app = _witnessed_log(sqlite_settings, witness)
    cosigning = _cosigning(app)
    try:
        register(app, OPERATOR, 0)
        checkpoint = app.signed_log.checkpoint()
        with witness.serving():
            assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
        with witness.serving():  # a new process over the same directory
            assert post(witness.url, submission(0, [], checkpoint.note)) == (
                409,
                "text/x.tlog.size",
                f"{checkpoint.size}\n",
            )
            again = post(witness.url, submission(checkpoint.size, [], checkpoint.note))
            assert again is not None
            assert again[0] == 200
            note = checkpoint.note + again[2]
            assert cosignatures_of(note, [witness.key])
    finally:
        cosigning.stop()
        app.close()


def test_a_witness_that_is_down_stops_no_write_and_no_checkpoint(sqlite_settings, witness):
    app = _witnessed_log(sqlite_settings, witness)
    witness.port = free_port()  # nothing listens there
    down = replace(app.settings, witnesses=(witness.entry(),), witness_quorum=1)
    app.close()
    app = LedgerApp(down)
    checkpointer = Checkpointer.for_log(app.signed_log, INTERVAL)
    assert checkpointer.cosigning is not None
    checkpointer.start()
    try:
        for number in range(3):
            began = time.monotonic()
            seq = register(app, OPERATOR, number)
            assert time.monotonic() - began < 5.0  # a write never waits for a witness
            wait_until(lambda seq=seq: covered(app, seq))
        assert checkpointer.failures == 0
        outcomes = checkpointer.cosigning.run_once()
        assert all(o.kind == "failed" for o in outcomes)
    finally:
        checkpointer.stop()
        app.close()
    assert not checkpointer.running


def test_requests_at_once_from_one_size_advance_the_witness_once(sqlite_settings, witness):
    """The check of the old size and the new state are one step: of several checkpoints
    sent at once from the same old size, one is cosigned and the others told its size."""
    app = _witnessed_log(sqlite_settings, witness)
    try:
        notes = []
        for number in range(6):
            register(app, OPERATOR, number)
            notes.append(app.signed_log.checkpoint().note)
        with witness.serving(), ThreadPoolExecutor(max_workers=len(notes)) as pool:
            answers = list(pool.map(lambda note: post(witness.url, submission(0, [], note)), notes))
        cosigned = [note for note, answer in zip(notes, answers, strict=True) if answer[0] == 200]
        assert len(cosigned) == 1
        size = Checkpoint.parse(cosigned[0].split("\n\n")[0] + "\n").size
        assert sorted(answer[:2] for answer in answers if answer[0] != 200) == [
            (409, "text/x.tlog.size")
        ] * (len(notes) - 1)
        assert {answer[2] for answer in answers if answer[0] == 409} == {f"{size}\n"}
        assert witness.state().latest(sqlite_settings.origin)[0] == size
    finally:
        app.close()


def test_the_witness_state_is_written_through_to_the_disk(witness):
    with sqlite3.connect(witness.directory / STATE_FILE) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection = witness.state()._connect()
    try:
        assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    finally:
        connection.close()


def test_ledger_checkpoint_prints_the_cosigned_note_and_says_who_cosigned(
    sqlite_settings, witness, capsys
):
    from approval_ledger import cli

    app = _witnessed_log(sqlite_settings, witness)
    cosigning = _cosigning(app)
    try:
        with witness.serving():
            register(app, OPERATOR, 0)
            checkpoint = app.signed_log.checkpoint()
            cosigning.run_once()
        assert cli.cmd_checkpoint(app.settings, None) == 0
        out, err = capsys.readouterr()
        assert out == app.signed_log.cosigned_note(checkpoint)
        assert out.startswith(checkpoint.note)
        assert cosignatures_of(out, [witness.key])
        assert f"cosigned by 1 of 1 witnesses ({WITNESS_NAME}); quorum 1 reached" in err
    finally:
        cosigning.stop()
        app.close()


def test_the_witnesses_and_their_quorum_are_read_from_the_settings(witness, tmp_path):
    other = new_witness(tmp_path / "other")
    other.key = CosignerKey(other.key.name.replace("w1", "w2"), other.key.public_key)
    env = {"LEDGER_DATA_DIR": str(tmp_path / "var"), "LEDGER_WITNESSES": ""}
    assert Settings.from_env(env).witnesses == ()
    env["LEDGER_WITNESSES"] = str(witness_list(tmp_path, witness, other))
    settings = Settings.from_env(env)
    assert [w.name for w in settings.witnesses] == [WITNESS_NAME, other.key.name]
    assert settings.witnesses[0].key == witness.key
    assert settings.witness_quorum == 2  # all of them unless set
    assert Settings.from_env(env | {"LEDGER_WITNESS_QUORUM": "1"}).witness_quorum == 1


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"LEDGER_WITNESSES": "/nonexistent/witnesses"}, "cannot read"),
        ({"LEDGER_WITNESS_QUORUM": "1"}, "needs witnesses"),
        ({"LEDGER_WITNESS_QUORUM": "2", "list": "yes"}, "from 1 to 1"),
        ({"LEDGER_WITNESS_QUORUM": "0", "list": "yes"}, "from 1 to 1"),
        ({"list": "bad"}, "line 1"),
    ],
)
def test_a_witness_setting_that_cannot_be_used_stops_the_start(
    witness, tmp_path, variables, message
):
    env = {"LEDGER_DATA_DIR": str(tmp_path / "var")}
    kind = variables.pop("list", None)
    if kind == "yes":
        env["LEDGER_WITNESSES"] = str(witness_list(tmp_path, witness))
    elif kind == "bad":
        (tmp_path / "bad").write_text(f"{witness.key.name} {witness.url}\n", encoding="utf-8")
        env["LEDGER_WITNESSES"] = str(tmp_path / "bad")
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env | variables)


def test_the_witness_loads_nothing_of_the_portal_or_the_log_it_witnesses():
    probe = (
        "import sys, approval_ledger.witness; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    for name in ("web", "flask", "saml", "development", "eventsourcing", "psycopg"):
        assert name not in loaded, name
    for name in ("ledger.storage", "ledger.signed_log", "ledger.application", "ledger.config"):
        assert name not in loaded, name


def _verify_bundle(bundle: Path, keys: Path, *extra: str) -> subprocess.CompletedProcess:
    return ledger_command("verify", "--bundle", str(bundle), "--keys", str(keys), *extra)


def test_ledger_verify_with_the_witness_keys_refuses_the_bundle_of_the_refused_branch(
    sqlite_settings, witness, tmp_path
):
    from ledger.export import export_bundle

    honest = _witnessed_log(sqlite_settings, witness)
    keys = sqlite_settings.keys_dir / "verifier-keys"
    witness_keys = tmp_path / "my-witnesses"
    witness_keys.write_text(f"# the witnesses I trust\n{witness.key.line()}\n", encoding="utf-8")
    try:
        register(honest, OPERATOR, 0)
        honest.signed_log.checkpoint()
        forked_settings = fork_log(sqlite_settings, tmp_path / "fork")
        forked = LedgerApp(replace(forked_settings, witnesses=(witness.entry(),), witness_quorum=1))
        honest_cosigning, forked_cosigning = _cosigning(honest), _cosigning(forked)
        try:
            with witness.serving():
                register(honest, OPERATOR, 1)
                register(forked, OPERATOR, 2)
                honest.signed_log.checkpoint()
                forked.signed_log.checkpoint()
                assert [o.kind for o in honest_cosigning.run_once()] == ["cosigned"]
                assert [o.kind for o in forked_cosigning.run_once()] == ["refused"]
            export_bundle(honest, tmp_path / "honest")
            export_bundle(forked, tmp_path / "forked")
        finally:
            honest_cosigning.stop()
            forked_cosigning.stop()
            forked.close()
    finally:
        honest.close()
    cosigned = _verify_bundle(tmp_path / "honest", keys, "--witnesses", str(witness_keys))
    assert cosigned.returncode == 0, cosigned.stdout + cosigned.stderr
    assert f"cosigned by {WITNESS_NAME}: " in cosigned.stdout
    # The bundle carries the witness policy the log is configured with: by it too, the other
    # branch lacks its quorum, and the verifier says whose policy it used.
    own = _verify_bundle(tmp_path / "forked", keys)
    assert own.returncode == 1
    assert "quorum-not-met" in own.stdout
    assert "the bundle's own witnesses (the operator's)" in own.stderr
    # Signed with the real key, the other branch holds for a verifier of the log key alone...
    (tmp_path / "forked" / "witnesses").unlink()
    assert _verify_bundle(tmp_path / "forked", keys).returncode == 0
    # ...and fails with the witness's key: no trusted witness cosigned it.
    refused = _verify_bundle(tmp_path / "forked", keys, "--witnesses", str(witness_keys))
    assert refused.returncode == 1
    assert "quorum-not-met: checkpoint: cosigned by 0 of the 1 trusted witnesses" in refused.stdout
    # A cosignature line altered in the bundle is a finding of its own.
    checkpoint = tmp_path / "honest" / "checkpoint"
    note = checkpoint.read_text(encoding="utf-8")
    line = note.splitlines()[-1]
    prefix, name, encoded = line.split(" ")
    blob = bytearray(base64.b64decode(encoded))
    blob[11] ^= 1  # the last byte of the timestamp
    checkpoint.write_text(
        note.replace(line, f"{prefix} {name} {base64.b64encode(bytes(blob)).decode()}"),
        encoding="utf-8",
    )
    altered = _verify_bundle(tmp_path / "honest", keys, "--witnesses", str(witness_keys))
    assert altered.returncode == 1
    codes = [line.split(":")[0] for line in altered.stdout.splitlines()[:-1]]
    assert codes == ["bad-cosignature", "quorum-not-met"]
    assert _verify_bundle(tmp_path / "honest", keys, "--quorum", "1").returncode == 2


def test_a_receipt_in_a_cosigned_checkpoint_carries_its_cosignatures(
    sqlite_settings, witness, tmp_path
):
    app = _witnessed_log(sqlite_settings, witness)
    cosigning = _cosigning(app)
    witness_keys = tmp_path / "my-witnesses"
    witness_keys.write_text(witness.key.line() + "\n", encoding="utf-8")
    keys = sqlite_settings.keys_dir / "verifier-keys"
    try:
        seq = register(app, OPERATOR, 0)
        first = app.signed_log.receipt(seq)  # its first covering checkpoint, not cosigned
        register(app, OPERATOR, 1)
        newest = app.signed_log.checkpoint()
        with witness.serving():
            assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
        (tmp_path / "first.json").write_text(first.to_json(), encoding="utf-8")
        later = app.signed_log.receipt(seq, newest.size)
        (tmp_path / "later.json").write_text(later.to_json(), encoding="utf-8")
        assert app.signed_log.receipt(seq).to_json() == first.to_json()
    finally:
        cosigning.stop()
        app.close()
    trusting = ("--keys", str(keys), "--witnesses", str(witness_keys))
    cosigned = ledger_command("verify", "--receipt", str(tmp_path / "later.json"), *trusting)
    assert cosigned.returncode == 0, cosigned.stdout + cosigned.stderr
    assert f"cosigned by {WITNESS_NAME}: all holds" in cosigned.stdout
    alone = ledger_command("verify", "--receipt", str(tmp_path / "first.json"), *trusting)
    assert alone.returncode == 1
    assert "quorum-not-met" in alone.stdout


def test_ledger_verify_of_the_stored_log_checks_the_kept_cosignatures_and_the_quorum(
    settings, witness, tmp_path, monkeypatch, capsys
):
    """`ledger verify` of the database verifies every kept cosignature over the stored note
    of its size with the configured witnesses (or the auditor's --witnesses), and says
    quorum-not-met of a checkpoint beyond what the quorum vouches for made longer than the
    grace ago; a line that no longer verifies is bad-cosignature."""
    from approval_ledger.cli import main
    from tests.ledger.test_witness_quorum_lapse import GRACE

    app = _witnessed_log(settings, witness)
    cosigning = _cosigning(app)
    try:
        with witness.serving():
            register(app, OPERATOR, 0)
            app.signed_log.checkpoint()
            assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
            register(app, OPERATOR, 1)
            size = app.signed_log.checkpoint().size
            assert [o.kind for o in cosigning.run_once()] == ["cosigned"]
    finally:
        cosigning.stop()
    for name, value in (
        ("LEDGER_DATA_DIR", str(settings.data_dir)),
        ("LEDGER_DATABASE_URL", settings.database.url),
        ("LEDGER_ORIGIN", settings.origin),
        ("LEDGER_WITNESSES", str(witness_list(tmp_path, witness))),
        ("LEDGER_WITNESS_QUORUM_GRACE", str(GRACE)),
    ):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["verify"]) == 0
    err = capsys.readouterr().err
    assert "witnesses: 2 kept cosignatures checked" in err
    assert f"vouches for the history up to size {size} of {size}" in err
    # The auditor's own witness keys win: a stranger's key checks nothing and vouches for none.
    stranger = tmp_path / "stranger-keys"
    other = new_witness(tmp_path / "stranger")
    stranger.write_text(other.key.line() + "\n", encoding="utf-8")
    time.sleep(GRACE + 0.1)
    assert main(["verify", "--witnesses", str(stranger)]) == 1
    captured = capsys.readouterr()
    assert "quorum-not-met: seq -: the quorum of 1 of the 1 trusted witnesses" in captured.out
    assert "2 kept cosignatures of witnesses not trusted here were not checked" in captured.err
    # A cosignature that no longer holds over the stored note.
    p = "?" if settings.database.is_sqlite else "%s"
    connection = settings.database.connect(writable=True)
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT line FROM {COSIGNATURES} WHERE size = {p}", (size,))
        (line,) = cursor.fetchone()
        name, encoded = line.rstrip("\n").rsplit(" ", 1)
        blob = bytearray(base64.b64decode(encoded))
        blob[-1] ^= 1
        forged = f"{name} {base64.b64encode(bytes(blob)).decode()}\n"
        cursor.execute(f"UPDATE {COSIGNATURES} SET line = {p} WHERE size = {p}", (forged, size))
        assert main(["verify", "--json"]) == 1
        reasons = [problem["reason"] for problem in json.loads(capsys.readouterr().out)["problems"]]
        # The newest checkpoint has lost its only valid cosignature, long enough ago.
        assert reasons == ["bad-cosignature", "quorum-not-met"]
        cursor.execute(f"UPDATE {COSIGNATURES} SET line = {p} WHERE size = {p}", (line, size))
        assert main(["verify"]) == 0
    finally:
        connection.close()
        app.close()
