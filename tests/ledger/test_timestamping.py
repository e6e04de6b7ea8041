"""Checkpoints timestamped by a real RFC 3161 TSA (`openssl ts -reply` over HTTP), off the
write path: the kept tokens hold with `openssl ts -verify` and with ours, a reply over
another checkpoint, from an untrusted TSA or to another nonce is refused with its reason and
not kept, a TSA that is down stops no write and no checkpoint, and bundles and receipts carry
the token, checked offline against the auditor's anchors (SQLite and PostgreSQL)."""

import json
import logging
import zipfile
from dataclasses import replace

import pytest

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.checkpointer import Checkpointer
from ledger.config import ConfigError, Settings, TsaSettings
from ledger.evidence.bundle import TIMESTAMP_FILE, Receipt, verify_bundle, verify_receipt
from ledger.evidence.reasons import Reason
from ledger.evidence.timestamp import (
    TimestampError,
    check_token,
    load_roots,
    log_signed_note,
    request_for,
    token_of_reply,
)
from ledger.export import export_bundle
from ledger.timestamping import Timestamping
from tests.ledger.test_checkpointer import register, wait_until
from tests.served import free_port
from tests.tsa import POLICY, TestTSA, openssl_reads_query, openssl_verifies

INTERVAL = 0.2


@pytest.fixture(scope="module")
def tsa(tmp_path_factory) -> TestTSA:
    return TestTSA(tmp_path_factory.mktemp("tsa"), "Testens Tidsstempel")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory) -> TestTSA:
    """A TSA no one here trusts."""
    return TestTSA(tmp_path_factory.mktemp("stranger"), "Fremmed Tidsstempel")


def stamped_app(settings: Settings, operator, url: str, tsa: TestTSA, **extra) -> LedgerApp:
    configured = TsaSettings(url=url, roots=tuple(load_roots(tsa.ca.read_bytes())), **extra)
    return initialize(replace(settings, tsa=configured), operator).app


def test_each_checkpoint_is_timestamped_off_the_write_path_and_openssl_verifies_it(
    settings, operator, tsa, tmp_path
):
    with tsa.serving() as url:
        app = stamped_app(settings, operator, url, tsa, policy=POLICY)
        checkpointer = Checkpointer.for_log(app.signed_log, INTERVAL).start()
        try:
            for number in range(2):
                seq = register(app, operator, number)
                wait_until(lambda seq=seq: _token_covering(app, seq) is not None)
        finally:
            checkpointer.stop()
    try:
        assert checkpointer.timestamping is not None
        assert checkpointer.timestamping.failures == 0
        checkpoint = app.signed_log.read_tree(lambda tree: tree.latest())
        token = app.timestamps.token(checkpoint.size)
        assert token is not None
        # The bytes are the note as the log signed it; openssl, knowing only the CA, agrees.
        assert log_signed_note(checkpoint.note) == checkpoint.note.encode()
        assert openssl_verifies(token, checkpoint.note.encode(), tsa, tmp_path)
        stamp = check_token(token, checkpoint.note, load_roots(tsa.ca.read_bytes()))
        assert stamp.tsa == "Testens Tidsstempel"
        assert stamp.policy == POLICY
        # Each request: SHA-256 of the note, a nonce, certReq.
        queries = [openssl_reads_query(query, tmp_path) for query in tsa.requests]
        assert all("Hash Algorithm: sha256" in query for query in queries)
        assert all("Certificate required: yes" in query for query in queries)
        nonces = [line for query in queries for line in query.splitlines() if "Nonce:" in line]
        assert len(nonces) == len(queries) == len(set(nonces))
    finally:
        app.close()


def _token_covering(app: LedgerApp, seq: int) -> bytes | None:
    newest = app.timestamps.newest()
    return app.timestamps.token(newest[0]) if newest and newest[0] > seq else None


def _refused(app: LedgerApp, caplog) -> tuple[Timestamping, str]:
    """One attempt at the newest checkpoint; the error the log says."""
    app.signed_log.checkpoint()
    timestamping = Timestamping(app.signed_log, app.signed_log.tsa, INTERVAL)
    with caplog.at_level(logging.ERROR, logger="ledger.timestamping"):
        assert timestamping.run_once() is None
    assert timestamping.failures == 1
    assert app.timestamps.newest() is None  # nothing kept
    return timestamping, caplog.text


def test_a_token_over_another_checkpoint_is_refused_and_not_kept(
    app, settings, operator, tsa, caplog
):
    register(app, operator, 0)
    other = app.signed_log.checkpoint()
    forged = tsa.reply(request_for(other.note.replace("\n1\n", "\n2\n", 1)).as_bytes())
    with tsa.serving() as url:
        stamped = stamped_app(settings, operator, url, tsa)
        try:
            register(stamped, operator, 1)
            tsa.answer = forged
            _, said = _refused(stamped, caplog)
        finally:
            tsa.answer = None
            stamped.close()
    assert "timestamp-mismatch" in said
    assert "other bytes" in said


def test_a_token_of_an_untrusted_tsa_is_refused(settings, operator, tsa, stranger, caplog):
    with stranger.serving() as url:
        app = stamped_app(settings, operator, url, tsa)  # trusting tsa, asking the stranger
        try:
            register(app, operator, 0)
            _, said = _refused(app, caplog)
        finally:
            app.close()
    assert "timestamp-untrusted" in said


def test_a_reply_to_another_nonce_is_refused(settings, operator, tsa, caplog):
    with tsa.serving() as url:
        app = stamped_app(settings, operator, url, tsa)
        try:
            register(app, operator, 0)
            note = app.signed_log.checkpoint().note
            tsa.answer = tsa.reply(request_for(note).as_bytes())  # the same note, a new nonce
            _, said = _refused(app, caplog)
        finally:
            tsa.answer = None
            app.close()
    assert "timestamp-mismatch" in said
    assert "nonce" in said


def test_a_reply_of_another_policy_is_refused(settings, operator, tsa, caplog):
    with tsa.serving() as url:
        app = stamped_app(settings, operator, url, tsa, policy="1.2.3.4")
        try:
            register(app, operator, 0)
            _, said = _refused(app, caplog)
        finally:
            app.close()
    assert "timestamp-mismatch" in said
    assert "policy" in said


def test_a_tsa_that_is_down_stops_no_write_and_no_checkpoint(settings, operator, tsa, caplog):
    app = stamped_app(settings, operator, f"http://127.0.0.1:{free_port()}/tsa", tsa)
    checkpointer = Checkpointer.for_log(app.signed_log, INTERVAL).start()
    try:
        with caplog.at_level(logging.WARNING, logger="ledger.timestamping"):
            for number in range(3):
                seq = register(app, operator, number)
                wait_until(
                    lambda seq=seq: (
                        app.signed_log.read_tree(lambda tree: tree.covering(seq + 1)) is not None
                    )
                )
            wait_until(lambda: checkpointer.timestamping.failures > 0)
    finally:
        checkpointer.stop()
    try:
        assert checkpointer.failures == 0
        assert app.timestamps.newest() is None
        assert "not timestamped" in caplog.text
        receipt = app.signed_log.receipt(0)
        assert receipt.timestamp is None
        assert "timestamp" not in json.loads(receipt.to_json())
    finally:
        app.close()


def test_with_an_interval_the_newest_checkpoint_is_timestamped_at_most_that_often(
    sqlite_settings, operator, tsa
):
    with tsa.serving() as url:
        app = stamped_app(sqlite_settings, operator, url, tsa, interval=3600.0)
        try:
            timestamping = Timestamping(app.signed_log, app.signed_log.tsa, INTERVAL)
            register(app, operator, 0)
            first = app.signed_log.checkpoint()
            assert timestamping.run_once() is not None
            register(app, operator, 1)
            app.signed_log.checkpoint()
            assert timestamping.run_once() is None  # within the interval
            assert app.timestamps.newest()[0] == first.size
        finally:
            app.close()
        app = stamped_app(sqlite_settings, operator, url, tsa, interval=0.0)
        try:
            timestamping = Timestamping(app.signed_log, app.signed_log.tsa, INTERVAL)
            assert timestamping.run_once() is not None  # every checkpoint: the newest now
            assert app.timestamps.newest()[0] == first.size + 1
        finally:
            app.close()


@pytest.fixture
def timestamped(settings, operator, tsa) -> LedgerApp:
    """A ledger of three events whose newest checkpoint the test TSA timestamped."""
    with tsa.serving() as url:
        app = stamped_app(settings, operator, url, tsa)
        for number in range(3):
            register(app, operator, number)
        app.signed_log.checkpoint()
        assert Timestamping(app.signed_log, app.signed_log.tsa, INTERVAL).run_once()
    yield app
    app.close()


def test_a_bundle_and_a_receipt_carry_the_token_checked_offline_with_the_auditors_anchors(
    timestamped, tsa, stranger, tmp_path
):
    app = timestamped
    out = tmp_path / "bundle.zip"
    export_bundle(app, out)
    with zipfile.ZipFile(out) as archive:
        assert TIMESTAMP_FILE in archive.namelist()
        token = archive.read(TIMESTAMP_FILE)
    size = app.timestamps.newest()[0]
    assert token == app.timestamps.token(size)
    roots = load_roots(tsa.ca.read_bytes())
    report = verify_bundle(out, tsa_roots=roots)
    assert report.ok, report.problems
    assert report.timestamp.checked
    assert report.timestamp.tsa == "Testens Tidsstempel"
    assert "timestamped by Testens Tidsstempel at " in report.summary()
    assert report.as_json()["timestamp"]["checked"] is True
    unchecked = verify_bundle(out)
    assert unchecked.ok
    assert not unchecked.timestamp.checked
    assert "timestamp present, not checked" in unchecked.summary()
    untrusted = verify_bundle(out, tsa_roots=load_roots(stranger.ca.read_bytes()))
    assert [p.reason for p in untrusted.problems] == [Reason.TIMESTAMP_UNTRUSTED]

    receipt = app.signed_log.receipt(2)
    assert receipt.timestamp == token
    again = Receipt.from_json(receipt.to_json())
    assert again.timestamp == token
    assert verify_receipt(again, tsa_roots=roots).timestamp.checked


def test_a_bundle_whose_token_is_of_another_checkpoint_fails_timestamp_mismatch(
    timestamped, tsa, operator, tmp_path
):
    app = timestamped
    stale = app.timestamps.token(app.timestamps.newest()[0])
    register(app, operator, 3)
    app.signed_log.checkpoint()
    directory = tmp_path / "bundle"
    export_bundle(app, directory)
    assert not (directory / TIMESTAMP_FILE).exists()  # the newest has none yet
    assert app.signed_log.receipt(4).timestamp is None  # nor a receipt in it
    (directory / TIMESTAMP_FILE).write_bytes(stale)
    report = verify_bundle(directory, tsa_roots=load_roots(tsa.ca.read_bytes()))
    assert [p.reason for p in report.problems] == [Reason.TIMESTAMP_MISMATCH]
    (directory / TIMESTAMP_FILE).write_bytes(b"not a token")
    report = verify_bundle(directory, tsa_roots=load_roots(tsa.ca.read_bytes()))
    assert [p.reason for p in report.problems] == [Reason.MALFORMED_TIMESTAMP]


def test_ledger_verify_checks_the_timestamp_with_tsa_roots_and_says_when_it_did_not(
    timestamped, tsa, stranger, tmp_path, monkeypatch, capsys
):
    from approval_ledger.cli import main

    app = timestamped
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    bundle = tmp_path / "bundle.zip"
    receipt = tmp_path / "receipt.json"
    assert main(["export", "--out", str(bundle)]) == 0
    assert main(["receipt", "--seq", "1", "--out", str(receipt)]) == 0
    capsys.readouterr()
    for kind, path in (("--bundle", bundle), ("--receipt", receipt)):
        assert main(["verify", kind, str(path), "--tsa-roots", str(tsa.ca)]) == 0
        assert "timestamped by Testens Tidsstempel at" in capsys.readouterr().out
        assert main(["verify", kind, str(path)]) == 0
        assert "timestamp present, not checked" in capsys.readouterr().out
        assert main(["verify", kind, str(path), "--tsa-roots", str(stranger.ca)]) == 1
        assert "timestamp-untrusted: checkpoint.tst:" in capsys.readouterr().out
    # The stored log: every kept token, with the auditor's anchors or else none checked.
    assert main(["verify", "--tsa-roots", str(tsa.ca)]) == 0
    assert "timestamps: 1 kept tokens checked against the TSA anchors" in capsys.readouterr().err
    assert main(["verify"]) == 0
    assert "1 kept tokens present but not checked" in capsys.readouterr().err
    assert main(["verify", "--tsa-roots", str(stranger.ca)]) == 1
    assert "timestamp-untrusted: seq -: the kept token of checkpoint 4" in capsys.readouterr().out


def test_ledger_verify_of_the_stored_log_refuses_a_kept_token_that_does_not_hold(
    timestamped, tsa, operator, monkeypatch, capsys
):
    """A token kept beside a checkpoint whose note is no longer what the TSA stamped (a
    history signed again) is timestamp-mismatch, and bytes that are no token are
    malformed-timestamp; the configured anchors (LEDGER_TSA_ROOTS) are used by default."""
    from approval_ledger.cli import main

    app = timestamped
    size = app.timestamps.newest()[0]
    token = app.timestamps.token(size)
    register(app, operator, 3)
    app.signed_log.checkpoint()
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    monkeypatch.setenv("LEDGER_TSA_URL", "http://127.0.0.1:9/tsa")
    monkeypatch.setenv("LEDGER_TSA_ROOTS", str(tsa.ca))
    capsys.readouterr()
    assert main(["verify"]) == 0
    assert "1 kept tokens checked" in capsys.readouterr().err
    p = "?" if app.settings.database.is_sqlite else "%s"
    connection = app.settings.database.connect(writable=True)
    try:
        cursor = connection.cursor()
        # The token moved to the next checkpoint, as if it were of that one.
        cursor.execute(
            f"UPDATE ledger_timestamps SET size = {p} WHERE size = {p}", (size + 1, size)
        )
        assert main(["verify"]) == 1
        out = capsys.readouterr().out
        assert f"timestamp-mismatch: seq -: the kept token of checkpoint {size + 1}" in out
        cursor.execute(f"UPDATE ledger_timestamps SET token = {p}", (b"not a token",))
        assert main(["verify", "--json"]) == 1
        assert json.loads(capsys.readouterr().out)["problems"][0]["reason"] == (
            "malformed-timestamp"
        )
        cursor.execute(f"UPDATE ledger_timestamps SET size = {p}, token = {p}", (size, token))
        assert main(["verify"]) == 0
    finally:
        connection.close()


def test_the_tsa_settings_are_read_and_refused_with_their_reason(tsa, tmp_path):
    base = {"LEDGER_DATA_DIR": str(tmp_path)}
    tsa_env = {"LEDGER_TSA_URL": "http://tsa.example/", "LEDGER_TSA_ROOTS": str(tsa.ca)}
    read = Settings.from_env(base | tsa_env | {"LEDGER_TSA_INTERVAL": "30"}).tsa
    assert read is not None
    assert read.interval == 30
    assert read.policy is None
    assert len(read.roots) == 1
    assert Settings.from_env(base).tsa is None
    (tmp_path / "empty.pem").write_text("")
    for env, said in (
        ({"LEDGER_TSA_ROOTS": str(tsa.ca)}, "needs LEDGER_TSA_URL"),
        ({"LEDGER_TSA_URL": "file:///etc/passwd"}, "http:// or https://"),
        ({"LEDGER_TSA_URL": "http://tsa.example/"}, "LEDGER_TSA_ROOTS must name a PEM file"),
        (tsa_env | {"LEDGER_TSA_ROOTS": str(tmp_path / "none.pem")}, "cannot read"),
        (tsa_env | {"LEDGER_TSA_ROOTS": str(tmp_path / "empty.pem")}, "no PEM certificate"),
        (tsa_env | {"LEDGER_TSA_INTERVAL": "-1"}, "LEDGER_TSA_INTERVAL must be"),
        (tsa_env | {"LEDGER_TSA_POLICY": "policy"}, "an OID in dotted form"),
    ):
        with pytest.raises(ConfigError, match=said):
            Settings.from_env(base | env)


def test_a_reply_that_is_not_granted_is_refused(tsa):
    rejection = bytes.fromhex("3003020102")  # status rejection, no token
    with pytest.raises(TimestampError) as refused:
        token_of_reply(b"\x30\x05" + rejection)
    assert refused.value.reason == Reason.MALFORMED_TIMESTAMP


def test_ledger_checkpoint_says_whether_the_newest_checkpoint_is_timestamped(
    timestamped, tsa, operator, monkeypatch, capsys
):
    from approval_ledger.cli import main

    app = timestamped
    monkeypatch.setenv("LEDGER_DATA_DIR", str(app.settings.data_dir))
    monkeypatch.setenv("LEDGER_DATABASE_URL", app.settings.database.url)
    monkeypatch.setenv("LEDGER_ORIGIN", app.settings.origin)
    monkeypatch.setenv("LEDGER_TSA_URL", "http://127.0.0.1:9/tsa")
    monkeypatch.setenv("LEDGER_TSA_ROOTS", str(tsa.ca))
    assert main(["checkpoint"]) == 0
    assert "timestamped by Testens Tidsstempel at " in capsys.readouterr().err
    size = app.timestamps.newest()[0]
    register(app, operator, 3)
    assert main(["checkpoint"]) == 0
    assert f"not timestamped yet; the newest timestamped is size {size}" in capsys.readouterr().err


def test_offline_verification_with_tsa_roots_loads_neither_the_event_store_nor_the_portal(
    timestamped, tsa, tmp_path
):
    from tests.approval_ledger.test_offline_verification import NOT_FOR_OFFLINE, _offline

    bundle = tmp_path / "bundle.zip"
    export_bundle(timestamped, bundle)
    status, loaded = _offline("verify", "--bundle", str(bundle), "--tsa-roots", str(tsa.ca))
    assert status == 0
    assert "rfc3161_client" in loaded
    assert loaded.isdisjoint(NOT_FOR_OFFLINE), sorted(loaded & set(NOT_FOR_OFFLINE))


def test_a_tsa_with_an_rsa_key_is_checked_alike(tmp_path):
    rsa_tsa = TestTSA(tmp_path / "rsa", "RSA Tidsstempel", rsa=True)
    note = "test.example/ledger\n1\n" + "A" * 43 + "=\n\n\u2014 test.example/ledger AAAAAQID\n"
    request = request_for(note)
    token = token_of_reply(rsa_tsa.reply(request.as_bytes()))
    stamp = check_token(token, note, load_roots(rsa_tsa.ca.read_bytes()), nonce=request.nonce)
    assert stamp.tsa == "RSA Tidsstempel"
    assert openssl_verifies(token, log_signed_note(note), rsa_tsa, tmp_path)
