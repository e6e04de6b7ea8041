"""A bundle exported since a bundle the auditor kept carries the consistency proof from the
kept checkpoint, and is checked offline to extend it: so the auditor's own bundles, kept
year over year, act as a witness. A log forked from a shared prefix and signed with the
real key, a bundle older than the kept one, and a proof changed or left out are refused
with their reasons."""

import base64
import json
import shutil
from pathlib import Path

import pytest

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.domain import DomainError
from ledger.evidence.bundle import CONSISTENCY_FILE, check_extends, verify_bundle
from ledger.evidence.note import Checkpoint, sign_note
from ledger.evidence.reasons import Reason
from ledger.export import export_bundle
from ledger.identity import Actor
from tests.conftest import settings_in
from tests.helpers import fork_log
from tests.ledger.evidence.test_bundles import BundleFiles, reasons
from tests.ledger.test_checkpointer import register


def test_a_bundle_exported_since_a_kept_one_verifies_to_extend_it(app, operator, tmp_path):
    register(app, operator, 1)
    old = export_bundle(app, tmp_path / "old.zip")
    register(app, operator, 2)
    register(app, operator, 3)
    new = export_bundle(app, tmp_path / "new.zip", since_bundle=old.path)
    assert BundleFiles(new.path).read(CONSISTENCY_FILE)
    for trusted in (None, app.keyring.verifier_keys()):
        report = verify_bundle(new.path, trusted, since=old.path)
        assert report.ok, report.problems
        assert report.since == old.size < new.size
        assert f"extend the kept checkpoint of size {old.size}" in report.summary()
        assert report.as_json()["since"] == old.size
    # A subset bundle carries the same proof: it is of the checkpoint, not of the entries.
    subset = export_bundle(
        app, tmp_path / "subset", entries=app.signed_log.entries_at([1]), since_bundle=old.path
    )
    assert verify_bundle(subset.path, since=old.path).ok
    # The same checkpoint extends itself, with no proof needed.
    assert verify_bundle(old.path, since=old.path).ok


def test_a_bundle_older_than_the_kept_one_is_refused(app, operator, tmp_path):
    old = export_bundle(app, tmp_path / "old")
    register(app, operator, 1)
    new = export_bundle(app, tmp_path / "new", since_bundle=old.path)
    report = verify_bundle(old.path, since=new.path)
    assert reasons(report) == {(Reason.KEPT_CHECKPOINT_NEWER, CONSISTENCY_FILE)}
    # The log refuses to export since a bundle newer than its newest checkpoint, and since
    # one that is not a bundle.
    with pytest.raises(DomainError, match="dækker"):
        export_bundle(app, tmp_path / "x", since_bundle=_newer_bundle(app, tmp_path, new.path))
    with pytest.raises(DomainError, match="kan ikke bruges"):
        export_bundle(app, tmp_path / "y", since_bundle=tmp_path / "no-such-bundle")


def _newer_bundle(app: LedgerApp, tmp_path: Path, bundle: Path) -> Path:
    """A copy of `bundle` whose checkpoint is signed for one leaf more (with the log's real
    key, as only its operator could)."""
    files = BundleFiles(bundle)
    text = files.read("checkpoint").decode().split("\n\n")[0] + "\n"
    origin, size, root = text.splitlines()
    signer = app.keyring.signing_key(app.signed_log.signing_kid())
    copy = tmp_path / "newer"
    shutil.copytree(bundle, copy)
    note = sign_note(f"{origin}\n{int(size) + 1}\n{root}\n", [signer])
    (copy / "checkpoint").write_text(note)
    return copy


def test_a_bundle_without_the_proof_or_with_a_changed_one_is_inconsistent(app, operator, tmp_path):
    old = export_bundle(app, tmp_path / "old")
    register(app, operator, 1)
    register(app, operator, 2)
    plain = export_bundle(app, tmp_path / "plain")
    report = verify_bundle(plain.path, since=old.path)
    assert reasons(report) == {(Reason.INCONSISTENT_WITH_KEPT, CONSISTENCY_FILE)}
    new = export_bundle(app, tmp_path / "new", since_bundle=old.path)
    files = BundleFiles(new.path)
    document = json.loads(files.read(CONSISTENCY_FILE))
    changed = dict(document, consistency=[base64.b64encode(bytes(32)).decode()])
    files.write(CONSISTENCY_FILE, json.dumps(changed).encode() + b"\n")
    report = verify_bundle(new.path, since=old.path)
    assert reasons(report) == {(Reason.INCONSISTENT_WITH_KEPT, CONSISTENCY_FILE)}
    files.write(CONSISTENCY_FILE, b"not json\n")
    report = verify_bundle(new.path, since=old.path)
    assert reasons(report) == {(Reason.INCONSISTENT_WITH_KEPT, CONSISTENCY_FILE)}


def test_a_kept_bundle_whose_checkpoint_no_trusted_key_signed_is_reported(app, operator, tmp_path):
    old = export_bundle(app, tmp_path / "old")
    register(app, operator, 1)
    new = export_bundle(app, tmp_path / "new", since_bundle=old.path)
    other = initialize(settings_in(tmp_path / "other"), operator).app
    try:
        report = verify_bundle(new.path, app.keyring.verifier_keys(), since=old.path)
        assert report.ok
        (old.path / "keys").write_text(
            "".join(f"{key.line()}\n" for key in other.keyring.verifier_keys().values())
        )
        report = verify_bundle(new.path, since=old.path)
        assert reasons(report) == {(Reason.UNKNOWN_KEY, "kept bundle")}
    finally:
        other.close()


def test_a_forked_log_is_refused_against_a_bundle_kept_from_the_other_branch(
    sqlite_settings, tmp_path
):
    operator = Actor.cli_operator()
    honest = initialize(sqlite_settings, operator).app
    try:
        for number in range(3):
            register(honest, operator, number)
        honest.signed_log.checkpoint()
        forked = LedgerApp(fork_log(sqlite_settings, tmp_path / "fork"))
        try:
            register(honest, operator, 10)
            kept = export_bundle(honest, tmp_path / "kept.zip")
            # The other branch, signed by the log's real key, of the same size and larger.
            register(forked, operator, 20)
            same = export_bundle(forked, tmp_path / "same.zip", since_bundle=kept.path)
            assert same.size == kept.size
            assert verify_bundle(same.path).ok  # on its own it holds
            report = verify_bundle(same.path, since=kept.path)
            assert reasons(report) == {(Reason.INCONSISTENT_WITH_KEPT, CONSISTENCY_FILE)}
            register(forked, operator, 21)
            larger = export_bundle(forked, tmp_path / "larger.zip", since_bundle=kept.path)
            assert verify_bundle(larger.path).ok
            report = verify_bundle(larger.path, since=kept.path)
            assert reasons(report) == {(Reason.INCONSISTENT_WITH_KEPT, CONSISTENCY_FILE)}
            # The honest branch, exported since the same kept bundle, extends it.
            register(honest, operator, 11)
            honest_new = export_bundle(honest, tmp_path / "honest.zip", since_bundle=kept.path)
            assert verify_bundle(honest_new.path, since=kept.path).ok
        finally:
            forked.close()
    finally:
        honest.close()


def test_check_extends_is_the_one_rule_for_a_kept_checkpoint():
    root = bytes(32)
    kept = Checkpoint("test.example/ledger", 2, root)
    assert check_extends(kept, kept, None) is None
    assert check_extends(kept, Checkpoint("test.example/ledger", 1, root), None) is not None
    found = check_extends(kept, Checkpoint("other.example/log", 2, root), None)
    assert found is not None
    assert found[0] == Reason.WRONG_ORIGIN
    found = check_extends(kept, Checkpoint("test.example/ledger", 3, root), None)
    assert found is not None
    assert found[0] == Reason.INCONSISTENT_WITH_KEPT
