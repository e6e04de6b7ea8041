"""A bundle carries the policy its log is configured with, the witness keys and quorum
(LEDGER_WITNESSES, LEDGER_WITNESS_QUORUM) and the TSA anchors (LEDGER_TSA_ROOTS), so that a
verifier given none of their own still checks them; the auditor's own win, and the report
says whose were used (the bundle's are the operator's word)."""

import json
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from approval_ledger.initialize import initialize
from ledger.evidence.bundle import (
    QUORUM_FILE,
    TSA_ROOTS_FILE,
    WITNESSES_FILE,
    verify_bundle,
)
from ledger.evidence.cosignature import CosignerKey, WitnessEntry, WitnessPolicy
from ledger.evidence.reasons import Reason
from ledger.evidence.timestamp import load_roots
from ledger.export import export_bundle
from ledger.timestamping import Timestamping
from tests.ledger.evidence.test_bundles import BundleFiles, reasons
from tests.ledger.test_checkpointer import register
from tests.ledger.test_timestamping import INTERVAL, stamped_app
from tests.tsa import TestTSA


def witness_key(name: str) -> CosignerKey:
    public = Ed25519PrivateKey.generate().public_key()
    return CosignerKey(name, public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def test_a_bundle_carries_the_witness_policy_and_it_is_used_when_the_auditor_gives_none(
    settings, operator, tmp_path, capsys
):
    keys = (witness_key("w1.test.example/w"), witness_key("w2.test.example/w"))
    entries = tuple(WitnessEntry(k.name, f"http://127.0.0.1:9/{n}", k) for n, k in enumerate(keys))
    app = initialize(replace(settings, witnesses=entries, witness_quorum=2), operator).app
    try:
        register(app, operator, 1)
        out = export_bundle(app, tmp_path / "bundle.zip").path
    finally:
        app.close()
    files = BundleFiles(out)
    lines = [line for line in files.lines(WITNESSES_FILE) if not line.startswith(b"#")]
    assert lines == [key.line().encode() for key in keys]
    assert files.read(QUORUM_FILE) == b"2\n"
    # No witness was reachable: by the log's own policy the checkpoint lacks its quorum.
    report = verify_bundle(out, own_policy=True)
    assert reasons(report) == {(Reason.QUORUM_NOT_MET, "checkpoint")}
    assert report.sources == {"keys": "bundle", "witnesses": "bundle"}
    assert report.as_json()["sources"]["witnesses"] == "bundle"
    # The auditor's own witnesses win.
    mine = WitnessPolicy((witness_key("mine.example/w"),), 1)
    report = verify_bundle(out, witnesses=mine, own_policy=True)
    assert report.sources["witnesses"] == "auditor"
    assert reasons(report) == {(Reason.QUORUM_NOT_MET, "checkpoint")}
    assert "1 trusted witnesses" in report.problems[0].detail
    # ledger verify --bundle uses the bundle's policy when given none, and says so.
    from approval_ledger.cli import main

    assert main(["verify", "--bundle", str(out), "--json"]) == 1
    said = capsys.readouterr()
    assert json.loads(said.out)["sources"] == {"keys": "bundle", "witnesses": "bundle"}
    assert "the bundle's own witnesses (the operator's); pin your own with --witnesses" in said.err
    mine_file = tmp_path / "my-witnesses"
    mine_file.write_text(f"{keys[0].line()}\n")
    assert main(["verify", "--bundle", str(out), "--witnesses", str(mine_file), "--json"]) == 1
    said = capsys.readouterr()
    assert json.loads(said.out)["sources"]["witnesses"] == "auditor"
    assert "witnesses" not in said.err
    # Without own_policy (the library's default) nothing of the bundle's policy is used.
    assert verify_bundle(out).ok
    # A policy the bundle carries that cannot be read is reported, not used.
    files.write(QUORUM_FILE, b"two\n")
    report = verify_bundle(out, own_policy=True)
    assert reasons(report) == {(Reason.MALFORMED_POLICY, WITNESSES_FILE)}
    assert "witnesses" not in report.sources
    files.write(QUORUM_FILE, b"3\n")
    report = verify_bundle(out, own_policy=True)
    assert reasons(report) == {(Reason.MALFORMED_POLICY, WITNESSES_FILE)}


def test_a_log_without_witnesses_or_tsa_writes_no_policy_files(app, tmp_path):
    out = export_bundle(app, tmp_path / "bundle").path
    for name in (WITNESSES_FILE, QUORUM_FILE, TSA_ROOTS_FILE):
        assert not (out / name).exists()
    report = verify_bundle(out, app.keyring.verifier_keys(), own_policy=True)
    assert report.ok
    assert report.sources == {"keys": "auditor"}


@pytest.fixture(scope="module")
def tsa(tmp_path_factory) -> TestTSA:
    return TestTSA(tmp_path_factory.mktemp("tsa"), "Testens Tidsstempel")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory) -> TestTSA:
    return TestTSA(tmp_path_factory.mktemp("stranger"), "Fremmed Tidsstempel")


def test_a_bundle_carries_the_tsa_anchors_and_the_auditors_win(
    settings, operator, tsa, stranger, tmp_path
):
    with tsa.serving() as url:
        app = stamped_app(settings, operator, url, tsa)
        try:
            register(app, operator, 1)
            app.signed_log.checkpoint()
            assert Timestamping(app.signed_log, app.signed_log.tsa, INTERVAL).run_once()
            out = export_bundle(app, tmp_path / "bundle").path
        finally:
            app.close()
    assert load_roots((out / TSA_ROOTS_FILE).read_bytes()) == load_roots(tsa.ca.read_bytes())
    report = verify_bundle(out, own_policy=True)
    assert report.ok, report.problems
    assert report.timestamp is not None
    assert report.timestamp.checked
    assert report.sources["tsa-roots"] == "bundle"
    untrusted = verify_bundle(out, tsa_roots=load_roots(stranger.ca.read_bytes()), own_policy=True)
    assert [p.reason for p in untrusted.problems] == [Reason.TIMESTAMP_UNTRUSTED]
    assert untrusted.sources["tsa-roots"] == "auditor"
    (out / TSA_ROOTS_FILE).write_text("no certificate\n")
    report = verify_bundle(out, own_policy=True)
    assert reasons(report) == {(Reason.MALFORMED_POLICY, TSA_ROOTS_FILE)}
    assert report.timestamp is not None
    assert not report.timestamp.checked
