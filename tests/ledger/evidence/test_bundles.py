"""Checkpoints, proofs, receipts and evidence bundles of a real ledger, checked offline.

The ledger is built through the application on SQLite and PostgreSQL. What the ledger
signs is checked with the independent RFC 6962 tree and C2SP note verifier of
`tests/ledger/evidence/test_merkle_and_notes.py`, and what it exports and issues must
verify. The ways a bundle or receipt can be changed, each with exactly the reasons it must
fail with, are the vectors of tests/vectors, which any implementation can run.
"""

import base64
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.domain import DomainError
from ledger.evidence import merkle
from ledger.evidence.bundle import (
    CHECKPOINT_FILE,
    ENTRIES_FILE,
    KEYS_FILE,
    PAYLOADS_FILE,
    PROOFS_FILE,
    BundleReport,
    Receipt,
    verify_bundle,
    verify_receipt,
)
from ledger.evidence.keys import SigningKey, VerifierKey
from ledger.evidence.note import open_checkpoint, sign_note
from ledger.export import export_bundle
from ledger.identity import Actor
from tests.conftest import settings_in
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory
from tests.ledger.evidence.test_merkle_and_notes import independent_open, mth, path

ORIGIN = "test.example/ledger"  # as tests/conftest.py configures every ledger
LAYOUT = (
    "LogStarted",  # 0, written by initialize; signed by the first key
    "Registered",  # 1, Aarhus
    "Registered",  # 2, Odense
    "Published",  # 3, the agreement
    "Approved",  # 4, Aarhus
    "ApprovalReset",  # 5, Aarhus
    "KeyRotated",  # 6, the last leaf signed by the first key
    "Approved",  # 7, Aarhus again: the first leaf signed by the rotated key
    "Approved",  # 8, Odense
)
SIZE = len(LAYOUT)
AARHUS_SEQS = [1, 4, 5, 7]
ROTATED_AT = LAYOUT.index("KeyRotated")


@dataclass(frozen=True)
class Ledger:
    app: LedgerApp
    first_kid: str
    rotated_kid: str
    # After each command: how many events the log held, and whether a checkpoint of
    # exactly that size was stored before one was asked for (the write makes none).
    after_each_write: list[tuple[int, bool]]

    @property
    def keys(self) -> dict[str, VerifierKey]:
        return self.app.keyring.verifier_keys()

    def leaves(self) -> list[bytes]:
        return [entry.leaf for entry in self.app.signed_log.entries()]


def build(app: LedgerApp, operator: Actor) -> Ledger:
    """The ledger of LAYOUT, noting after every command what the log and its checkpoints
    hold, then asking for a checkpoint (as a receipt does), so that one of every size is
    stored for the proofs between them."""
    after_each_write: list[tuple[int, bool]] = []

    def wrote() -> None:
        count = sum(1 for _ in app.signed_log.entries())
        after_each_write.append((count, app.signed_log.stored_checkpoint(count) is not None))
        asked = app.signed_log.checkpoint()
        assert asked is not None
        assert asked.size == count

    wrote()
    first_kid = app.signed_log.signing_kid()
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    wrote()
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    wrote()
    agreement = app.publish_agreement(
        title="Driftsaftale",
        version_label="2026.1",
        document=PDF,
        document_name="driftsaftale.pdf",
        actor=operator,
    )
    wrote()

    def approve(cvr: str, assertion_id: str) -> None:
        app.approve(
            cvr=cvr,
            version_id=agreement.id,
            actor=signatory(cvr=cvr),
            authentication=login(app, assertion_id),
            ip="192.0.2.10",
            user_agent="Firefox",
        )
        wrote()

    approve(AARHUS, "_aarhus-1")
    approve(AARHUS, "_aarhus-double-click")  # records nothing
    app.reset_approval(
        cvr=AARHUS, version_id=agreement.id, reason="Godkendt uden fuldmagt", actor=operator
    )
    wrote()
    rotated_kid = app.signed_log.rotate_signing_key(operator)
    wrote()
    approve(AARHUS, "_aarhus-2")
    approve(ODENSE, "_odense-1")
    assert tuple(entry.event_type for entry in app.signed_log.entries()) == LAYOUT
    return Ledger(app, first_kid, rotated_kid, after_each_write)


@pytest.fixture
def ledger(app: LedgerApp, operator: Actor) -> Ledger:
    """The LAYOUT ledger, once on SQLite and once on PostgreSQL."""
    return build(app, operator)


@pytest.fixture(scope="module")
def sqlite_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """The LAYOUT ledger on SQLite, shared by the tests that only read it."""
    operator = Actor(Actor.OPERATOR, "test-operator")
    app = initialize(settings_in(tmp_path_factory.mktemp("ledger") / "var"), operator).app
    yield build(app, operator)
    app.close()


@pytest.fixture(scope="module")
def other_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerApp]:
    """Another ledger under the same origin name, with a key of its own and three events."""
    operator = Actor(Actor.OPERATOR, "other-operator")
    app = initialize(settings_in(tmp_path_factory.mktemp("other") / "var"), operator).app
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    yield app
    app.close()


def reasons(report: BundleReport) -> set[tuple[str, str]]:
    return {(problem.reason, problem.where) for problem in report.problems}


# Checkpoints: none made by a write, one at once when asked for


def test_a_write_makes_no_checkpoint_and_one_asked_for_covers_it(ledger):
    counts = [count for count, _ in ledger.after_each_write]
    assert counts == [1, 2, 3, 4, 5, 5, 6, 7, 8, 9]  # the double click wrote nothing
    stored = [stored for _, stored in ledger.after_each_write]
    # Only after the double click, which wrote nothing, was the asked-for one there already.
    assert stored == [False, False, False, False, False, True, False, False, False, False]
    checkpoint = ledger.app.signed_log.checkpoint()
    assert checkpoint.size == SIZE == sum(1 for _ in ledger.app.signed_log.entries())
    assert ledger.app.signed_log.stored_checkpoint(SIZE + 1) is None


def test_each_checkpoint_is_signed_by_the_key_of_its_last_leaf_and_holds_the_rfc_root(ledger):
    leaves, keys = ledger.leaves(), ledger.keys
    assert [entry.seq for entry in ledger.app.signed_log.entries()] == list(range(SIZE))
    assert set(keys) == {ledger.first_kid, ledger.rotated_kid}
    for size in range(1, SIZE + 1):
        stored = ledger.app.signed_log.stored_checkpoint(size)
        checkpoint = open_checkpoint(stored.note, keys, origin=ORIGIN)
        assert (checkpoint.size, checkpoint.root) == (size, stored.root)
        assert checkpoint.root == mth(leaves[:size])
        # The rotation's own leaf names the new key as the next signer.
        kid = ledger.first_kid if size <= ROTATED_AT else ledger.rotated_kid
        assert independent_open(stored.note, keys[kid].line()) == checkpoint.text()


def test_inclusion_proofs_verify_against_the_root_of_every_stored_checkpoint(ledger):
    leaves, keys = ledger.leaves(), ledger.keys
    for size in range(1, SIZE + 1):
        root = open_checkpoint(ledger.app.signed_log.stored_checkpoint(size).note, keys).root
        for seq in range(size):
            proof = ledger.app.signed_log.inclusion_proof(seq, size)
            assert proof == path(seq, leaves[:size])
            merkle.verify_inclusion(seq, size, leaves[seq], proof, root)


def test_consistency_proofs_verify_between_every_pair_of_stored_checkpoints(ledger):
    keys = ledger.keys
    roots = {
        size: open_checkpoint(ledger.app.signed_log.stored_checkpoint(size).note, keys).root
        for size in range(1, SIZE + 1)
    }
    for new in range(1, SIZE + 1):
        for old in range(1, new + 1):
            proof = ledger.app.signed_log.consistency_proof(old, new)
            merkle.verify_consistency(old, new, roots[old], roots[new], proof)


def test_proofs_are_refused_for_a_size_no_checkpoint_has(ledger):
    with pytest.raises(DomainError, match="ingen checkpoint"):
        ledger.app.signed_log.inclusion_proof(0, SIZE + 1)
    with pytest.raises(DomainError, match="ingen checkpoint"):
        ledger.app.signed_log.consistency_proof(1, SIZE + 1)
    with pytest.raises(DomainError, match="ikke i et træ"):
        ledger.app.signed_log.inclusion_proof(SIZE, SIZE)


def test_no_consistency_proof_is_given_from_the_empty_tree(ledger):
    """Every tree extends the empty one, so a proof from size 0 would prove nothing; RFC 9162
    defines none, and `merkle.verify_consistency` refuses one."""
    for new in (0, 1, SIZE, SIZE + 1):
        with pytest.raises(DomainError, match="intet konsistensbevis fra det tomme træ"):
            ledger.app.signed_log.consistency_proof(0, new)


# Receipts


def test_a_receipt_of_every_event_verifies_after_a_json_round_trip(ledger):
    keys = ledger.keys
    for entry in ledger.app.signed_log.entries():
        receipt = ledger.app.signed_log.receipt(entry.seq)
        assert (receipt.leaf, receipt.payload) == (entry.leaf, entry.payload)
        again = Receipt.from_json(receipt.to_json())
        assert again == receipt
        for trusted in (keys, None):
            report = verify_receipt(again, trusted)
            assert report.ok, report.problems
            # The first checkpoint that covers it (one was asked for after every write).
            first = (entry.seq + 1, 1, 1)
            assert (report.checkpoint.size, report.entries, report.payloads) == first


def bump_recorded_at(leaf: bytes) -> bytes:
    """The leaf with the last digit of its microseconds changed."""
    changed, count = re.subn(
        rb'("recorded_at":"[^"]*)(\d)Z"',
        lambda m: m[1] + str((int(m[2]) + 1) % 10).encode() + b'Z"',
        leaf,
    )
    assert count == 1
    assert changed != leaf
    return changed


# Bundles


def export(ledger: Ledger, directory: Path, kind: str, form: str) -> Path:
    out = directory / (f"{kind}.zip" if form == "zip" else kind)
    exported = export_bundle(ledger.app, out, cvr=AARHUS if kind == "subset" else None)
    assert (exported.size, exported.subset) == (SIZE, kind == "subset")
    return out


class BundleFiles:
    """The files of a bundle, a directory or a zip, read and replaced as someone could."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, name: str) -> bytes:
        if self.path.is_dir():
            return (self.path / name).read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(name)

    def write(self, name: str, data: bytes) -> None:
        if self.path.is_dir():
            (self.path / name).write_bytes(data)
            return
        with zipfile.ZipFile(self.path) as archive:
            members = {member: archive.read(member) for member in archive.namelist()}
        members[name] = data
        with zipfile.ZipFile(self.path, "w") as archive:
            for member, content in members.items():
                archive.writestr(member, content)

    def lines(self, name: str) -> list[bytes]:
        return self.read(name).splitlines()

    def write_lines(self, name: str, lines: list[bytes]) -> None:
        self.write(name, b"".join(line + b"\n" for line in lines))

    def change_line(self, name: str, index: int, change: Callable[[bytes], bytes]) -> None:
        lines = self.lines(name)
        lines[index] = change(lines[index])
        self.write_lines(name, lines)


@pytest.mark.parametrize("form", ["directory", "zip"])
@pytest.mark.parametrize("kind", ["full", "subset"])
def test_a_full_and_a_subset_bundle_verify_offline(ledger, tmp_path, kind, form):
    bundle = export(ledger, tmp_path, kind, form)
    assert bundle.is_dir() == (form == "directory")
    files = BundleFiles(bundle)
    seqs = AARHUS_SEQS if kind == "subset" else list(range(SIZE))
    leaves = ledger.leaves()
    assert files.lines(ENTRIES_FILE) == [leaves[seq] for seq in seqs]
    assert [json.loads(line)["seq"] for line in files.lines(PAYLOADS_FILE)] == seqs
    if kind == "subset":
        proofs = [json.loads(line) for line in files.lines(PROOFS_FILE)]
        assert [proof["seq"] for proof in proofs] == seqs
    for trusted in (ledger.keys, None):
        report = verify_bundle(bundle, trusted)
        assert report.ok, report.problems
        assert (report.subset, report.entries, report.payloads) == (
            kind == "subset",
            len(seqs),
            len(seqs),
        )
        assert report.checkpoint.size == SIZE
        assert report.checkpoint.root == mth(leaves)


def entry(line: int, seq: int) -> str:
    return f"entry {line} (seq {seq})"


# The tampering of bundles and receipts a verifier must report is in tests/vectors, as data
# (tests/ledger/evidence/test_vectors.py). What stays here needs the ledger's own exports,
# or checks a bundle in ways the vectors do not: without leaf signatures, or trusting the
# bundle's own keys.


def test_without_leaf_signatures_a_changed_entry_of_a_full_bundle_is_still_a_root_mismatch(
    sqlite_ledger, tmp_path
):
    bundle = export(sqlite_ledger, tmp_path, "full", "directory")
    BundleFiles(bundle).change_line(ENTRIES_FILE, 4, bump_recorded_at)
    report = verify_bundle(bundle, sqlite_ledger.keys, signatures=False)
    assert reasons(report) == {("broken-chain", entry(6, 5)), ("root-mismatch", ENTRIES_FILE)}


def test_without_leaf_signatures_a_changed_last_entry_is_only_a_root_mismatch(
    sqlite_ledger, tmp_path
):
    bundle = export(sqlite_ledger, tmp_path, "full", "zip")
    BundleFiles(bundle).change_line(ENTRIES_FILE, SIZE - 1, bump_recorded_at)
    report = verify_bundle(bundle, sqlite_ledger.keys, signatures=False)
    assert reasons(report) == {("root-mismatch", ENTRIES_FILE)}


def test_the_bundles_own_keys_file_cannot_vouch_for_a_checkpoint_the_auditor_does_not_trust(
    sqlite_ledger, other_ledger, tmp_path
):
    bundle = export(sqlite_ledger, tmp_path, "full", "directory")
    files = BundleFiles(bundle)
    files.write(CHECKPOINT_FILE, other_ledger.signed_log.checkpoint().note.encode())
    other_keys = "".join(f"{key.line()}\n" for key in other_ledger.keyring.verifier_keys().values())
    files.write(KEYS_FILE, files.read(KEYS_FILE) + other_keys.encode())
    # With its own keys the other ledger's checkpoint opens, and only the tree gives it away.
    assert reasons(verify_bundle(bundle)) == {
        ("size-mismatch", ENTRIES_FILE),
        ("root-mismatch", ENTRIES_FILE),
    }
    assert reasons(verify_bundle(bundle, sqlite_ledger.keys)) == {("unknown-key", "checkpoint")}


def test_a_bundle_whose_signed_checkpoint_has_a_non_ascii_size_is_reported_not_a_crash(
    sqlite_ledger, tmp_path
):
    bundle = export(sqlite_ledger, tmp_path, "full", "directory")
    files = BundleFiles(bundle)
    key = SigningKey.generate(ORIGIN)
    root = base64.b64encode(mth(sqlite_ledger.leaves())).decode()
    files.write(KEYS_FILE, f"{key.verifier_key.line()}\n".encode())
    files.write(CHECKPOINT_FILE, sign_note(f"{ORIGIN}\n\u00b2\n{root}\n", [key]).encode())
    report = verify_bundle(bundle)  # trusting the bundle's own keys, as the CLI allows
    assert ("malformed-checkpoint", "checkpoint") in reasons(report)


def test_a_zip_bundle_holds_the_format_files_and_leaves_no_partial_directory(
    sqlite_ledger, tmp_path
):
    bundle = export(sqlite_ledger, tmp_path, "subset", "zip")
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    assert {CHECKPOINT_FILE, KEYS_FILE, ENTRIES_FILE, PROOFS_FILE, PAYLOADS_FILE} <= names
    assert [p.name for p in tmp_path.iterdir()] == [bundle.name]
