"""Checkpoints, proofs, receipts and evidence bundles of a real ledger, checked offline.

The ledger is built through the application on SQLite and PostgreSQL. What the ledger
signs is checked with the independent RFC 6962 tree and C2SP note verifier of
`tests/ledger/evidence/test_merkle_and_notes.py`; the bundles are then changed the way someone
handling them could change them, and each change must fail with exactly the reasons stated.
"""

import base64
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
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
from ledger.evidence.note import Checkpoint, open_checkpoint, sign_note
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
    # exactly that size was stored (read without making one).
    after_each_write: list[tuple[int, bool]]

    @property
    def keys(self) -> dict[str, VerifierKey]:
        return self.app.keyring.verifier_keys()

    def leaves(self) -> list[bytes]:
        return [entry.leaf for entry in self.app.signed_log.entries()]


def build(app: LedgerApp, operator: Actor) -> Ledger:
    """The ledger of LAYOUT, noting after every command what the log and its checkpoints hold."""
    after_each_write: list[tuple[int, bool]] = []

    def wrote() -> None:
        count = sum(1 for _ in app.signed_log.entries())
        after_each_write.append((count, app.signed_log.stored_checkpoint(count) is not None))

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


# Checkpoints after every write


def test_every_write_leaves_a_checkpoint_covering_it(ledger):
    counts = [count for count, _ in ledger.after_each_write]
    assert counts == [1, 2, 3, 4, 5, 5, 6, 7, 8, 9]  # the double click wrote nothing
    assert all(stored for _, stored in ledger.after_each_write)
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
            assert (report.checkpoint.size, report.entries, report.payloads) == (SIZE, 1, 1)


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


def flip_first_bit(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x80]) + data[1:]


def current_key(ledger: Ledger) -> SigningKey:
    return ledger.app.keyring.signing_key(ledger.app.signed_log.signing_kid())


def foreign_origin_note(ledger: Ledger) -> str:
    """The log's own root, signed with the log's own key, but under another origin."""
    checkpoint = ledger.app.signed_log.checkpoint()
    text = Checkpoint("other.example/ledger", checkpoint.size, checkpoint.root).text()
    return sign_note(text, [current_key(ledger)])


RECEIPT_SEQ = 4
ReceiptTamper = Callable[[Receipt, Ledger, LedgerApp], Receipt]
RECEIPT_TAMPERS: dict[str, tuple[ReceiptTamper, set[tuple[str, str]]]] = {
    "changed payload": (
        lambda r, _, __: replace(r, payload=r.payload + b" "),
        {("payload-mismatch", "seq 4")},
    ),
    "changed leaf": (
        lambda r, _, __: replace(r, leaf=bump_recorded_at(r.leaf)),
        {("bad-signature", "seq 4"), ("bad-inclusion-proof", "seq 4")},
    ),
    "another event's leaf and payload": (
        lambda r, ledger, __: replace(
            r,
            leaf=ledger.app.signed_log.receipt(5).leaf,
            payload=ledger.app.signed_log.receipt(5).payload,
        ),
        {("bad-inclusion-proof", "seq 5")},
    ),
    "flipped proof hash": (
        lambda r, _, __: replace(r, inclusion=[flip_first_bit(r.inclusion[0]), *r.inclusion[1:]]),
        {("bad-inclusion-proof", "seq 4")},
    ),
    "shortened proof": (
        lambda r, _, __: replace(r, inclusion=r.inclusion[:-1]),
        {("bad-inclusion-proof", "seq 4")},
    ),
    "another event's proof": (
        lambda r, ledger, __: replace(r, inclusion=ledger.app.signed_log.receipt(5).inclusion),
        {("bad-inclusion-proof", "seq 4")},
    ),
    "checkpoint of another ledger": (
        lambda r, _, other: replace(r, checkpoint=other.signed_log.checkpoint().note),
        {("unknown-key", "checkpoint")},
    ),
    "checkpoint under another origin": (
        lambda r, ledger, __: replace(r, checkpoint=foreign_origin_note(ledger)),
        {("wrong-origin", "checkpoint")},
    ),
    "checkpoint too small to hold the event": (
        lambda r, ledger, __: replace(
            r, checkpoint=ledger.app.signed_log.stored_checkpoint(4).note
        ),
        {("bad-inclusion-proof", "seq 4")},
    ),
}


@pytest.mark.parametrize(
    ("tamper", "expected"), RECEIPT_TAMPERS.values(), ids=RECEIPT_TAMPERS.keys()
)
def test_a_tampered_receipt_fails_with_its_reason(sqlite_ledger, other_ledger, tamper, expected):
    receipt = Receipt.from_json(sqlite_ledger.app.signed_log.receipt(RECEIPT_SEQ).to_json())
    assert verify_receipt(receipt, sqlite_ledger.keys).ok
    report = verify_receipt(tamper(receipt, sqlite_ledger, other_ledger), sqlite_ledger.keys)
    assert reasons(report) == expected


def forged_tree_around(leaf: bytes, seq: int) -> list[bytes]:
    """Leaves of a tree that is not the log's but holds `leaf` at `seq`."""
    return [b"not the ledger's leaf %d" % n for n in range(seq)] + [leaf]


def test_a_receipt_proved_by_another_trusted_logs_checkpoint_fails(sqlite_ledger):
    receipt = sqlite_ledger.app.signed_log.receipt(RECEIPT_SEQ)
    other = SigningKey.generate("other.example/ledger")
    leaves = forged_tree_around(receipt.leaf, RECEIPT_SEQ)
    note = sign_note(Checkpoint(other.name, len(leaves), mth(leaves)).text(), [other])
    forged = replace(receipt, checkpoint=note, inclusion=path(RECEIPT_SEQ, leaves))
    trusted = sqlite_ledger.keys | {other.kid: other.verifier_key}
    report = verify_receipt(forged, trusted)
    assert not report.ok
    assert "wrong-origin" in {problem.reason for problem in report.problems}


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

    def remove_line(self, name: str, index: int) -> None:
        lines = self.lines(name)
        del lines[index]
        self.write_lines(name, lines)

    def swap_lines(self, name: str, first: int, second: int) -> None:
        lines = self.lines(name)
        lines[first], lines[second] = lines[second], lines[first]
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


def change_payload(line: bytes) -> bytes:
    document = json.loads(line)
    payload = base64.b64decode(document["payload"]) + b" "
    document["payload"] = base64.b64encode(payload).decode()
    return json.dumps(document, separators=(",", ":")).encode()


def flip_proof(line: bytes) -> bytes:
    document = json.loads(line)
    first = flip_first_bit(base64.b64decode(document["inclusion"][0]))
    document["inclusion"][0] = base64.b64encode(first).decode()
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Context:
    ledger: Ledger
    other: LedgerApp


Tamper = Callable[[BundleFiles, Context], None]


def other_ledgers_checkpoint(files: BundleFiles, context: Context) -> None:
    files.write(CHECKPOINT_FILE, context.other.signed_log.checkpoint().note.encode())


def foreign_origin_checkpoint(files: BundleFiles, context: Context) -> None:
    files.write(CHECKPOINT_FILE, foreign_origin_note(context.ledger).encode())


def earlier_checkpoint(files: BundleFiles, context: Context) -> None:
    files.write(
        CHECKPOINT_FILE, context.ledger.app.signed_log.stored_checkpoint(SIZE - 2).note.encode()
    )


def entry(line: int, seq: int) -> str:
    return f"entry {line} (seq {seq})"


# Full bundle: line i holds seq i. Tampering with entry of seq 4 (line 5).
FULL_TAMPERS: dict[str, tuple[Tamper, set[tuple[str, str]]]] = {
    "changed entry": (
        lambda files, _: files.change_line(ENTRIES_FILE, 4, bump_recorded_at),
        {
            ("bad-signature", entry(5, 4)),
            ("broken-chain", entry(6, 5)),
            ("root-mismatch", ENTRIES_FILE),
        },
    ),
    "missing entry": (
        lambda files, _: files.remove_line(ENTRIES_FILE, 4),
        {
            *(("seq-mismatch", entry(line, line)) for line in range(5, SIZE)),
            # Line 5 now holds seq 5, whose prev names the missing leaf.
            ("broken-chain", entry(5, 5)),
            ("orphan-payload", "payload of seq 4"),
            ("size-mismatch", ENTRIES_FILE),
            ("root-mismatch", ENTRIES_FILE),
        },
    ),
    "reordered pair of entries": (
        lambda files, _: files.swap_lines(ENTRIES_FILE, 4, 5),
        {
            ("seq-mismatch", entry(5, 5)),
            ("seq-mismatch", entry(6, 4)),
            # Each line chains onto the line before it: both moved lines and the next break.
            ("broken-chain", entry(5, 5)),
            ("broken-chain", entry(6, 4)),
            ("broken-chain", entry(7, 6)),
            # The payload of seq 4 is passed by when seq 5 comes first.
            ("orphan-payload", "payload of seq 4"),
            ("root-mismatch", ENTRIES_FILE),
        },
    ),
    "changed payload": (
        lambda files, _: files.change_line(PAYLOADS_FILE, 4, change_payload),
        {("payload-mismatch", entry(5, 4))},
    ),
    "checkpoint of another ledger": (
        other_ledgers_checkpoint,
        {("unknown-key", "checkpoint")},
    ),
    "checkpoint under another origin": (
        foreign_origin_checkpoint,
        {("wrong-origin", "checkpoint")},
    ),
    "checkpoint of an earlier size": (
        earlier_checkpoint,
        {("size-mismatch", ENTRIES_FILE), ("root-mismatch", ENTRIES_FILE)},
    ),
}

# Subset bundle for Aarhus: lines 1-4 hold seqs 1, 4, 5, 7. Tampering with seq 4 (line 2).
SUBSET_TAMPERS: dict[str, tuple[Tamper, set[tuple[str, str]]]] = {
    "changed entry": (
        lambda files, _: files.change_line(ENTRIES_FILE, 1, bump_recorded_at),
        {
            ("bad-signature", entry(2, 4)),
            ("bad-inclusion-proof", entry(2, 4)),
            ("broken-chain", entry(3, 5)),
        },
    ),
    "missing entry": (
        lambda files, _: files.remove_line(ENTRIES_FILE, 1),
        {
            ("proof-mismatch", entry(2, 5)),
            ("proof-mismatch", entry(3, 7)),
            ("orphan-proof", PROOFS_FILE),
            ("orphan-payload", "payload of seq 4"),
        },
    ),
    "reordered pair of entries": (
        lambda files, _: files.swap_lines(ENTRIES_FILE, 1, 2),
        {
            ("proof-mismatch", entry(2, 5)),
            ("out-of-order", entry(3, 4)),
            ("proof-mismatch", entry(3, 4)),
            ("orphan-payload", "payload of seq 4"),
        },
    ),
    "reordered pair of entries with their proofs": (
        lambda files, _: (
            files.swap_lines(ENTRIES_FILE, 1, 2),
            files.swap_lines(PROOFS_FILE, 1, 2),
        ),
        {("out-of-order", entry(3, 4)), ("orphan-payload", "payload of seq 4")},
    ),
    "wrong proof": (
        lambda files, _: files.change_line(PROOFS_FILE, 1, flip_proof),
        {("bad-inclusion-proof", entry(2, 4))},
    ),
    "proof of another entry": (
        lambda files, _: files.change_line(
            PROOFS_FILE,
            1,
            lambda line: files.lines(PROOFS_FILE)[2].replace(b'"seq":5', b'"seq":4'),
        ),
        {("bad-inclusion-proof", entry(2, 4))},
    ),
    "changed payload": (
        lambda files, _: files.change_line(PAYLOADS_FILE, 1, change_payload),
        {("payload-mismatch", entry(2, 4))},
    ),
    "checkpoint of another ledger": (
        other_ledgers_checkpoint,
        {("unknown-key", "checkpoint")},
    ),
    "checkpoint under another origin": (
        foreign_origin_checkpoint,
        {("wrong-origin", "checkpoint")},
    ),
    "checkpoint of an earlier size": (
        earlier_checkpoint,
        {("bad-inclusion-proof", entry(line, seq)) for line, seq in enumerate(AARHUS_SEQS, 1)},
    ),
}


# A leaf whose signature fails is dropped whole: its seq is forgotten, so its payload is
# reported as an orphan, its inclusion proof is not checked, and the chain is not checked
# from it to the next leaf (`ledger verify` reports the broken chain for the same change).


def cases(tampers: dict[str, tuple[Tamper, set[tuple[str, str]]]]) -> list:
    return [
        pytest.param(
            tamper,
            expected,
            form,
            id=f"{name}, {form}",
        )
        for name, (tamper, expected) in tampers.items()
        for form in ("directory", "zip")
    ]


@pytest.mark.parametrize(("tamper", "expected", "form"), cases(FULL_TAMPERS))
def test_a_tampered_full_bundle_fails_with_exactly_its_reasons(
    sqlite_ledger, other_ledger, tmp_path, tamper, expected, form
):
    bundle = export(sqlite_ledger, tmp_path, "full", form)
    tamper(BundleFiles(bundle), Context(sqlite_ledger, other_ledger))
    assert reasons(verify_bundle(bundle, sqlite_ledger.keys)) == expected


@pytest.mark.parametrize(("tamper", "expected", "form"), cases(SUBSET_TAMPERS))
def test_a_tampered_subset_bundle_fails_with_exactly_its_reasons(
    sqlite_ledger, other_ledger, tmp_path, tamper, expected, form
):
    bundle = export(sqlite_ledger, tmp_path, "subset", form)
    tamper(BundleFiles(bundle), Context(sqlite_ledger, other_ledger))
    assert reasons(verify_bundle(bundle, sqlite_ledger.keys)) == expected


@pytest.mark.parametrize(
    ("kind", "line", "expected"),
    [("full", 4, {"bad-signature", "root-mismatch"}), ("subset", 1, {"bad-signature"})],
)
def test_a_changed_entry_fails_its_signature_and_a_full_bundle_its_root(
    sqlite_ledger, tmp_path, kind, line, expected
):
    """The verdict the known-bug cases above still guard, whatever else gets reported."""
    bundle = export(sqlite_ledger, tmp_path, kind, "directory")
    BundleFiles(bundle).change_line(ENTRIES_FILE, line, bump_recorded_at)
    report = verify_bundle(bundle, sqlite_ledger.keys)
    assert not report.ok
    assert expected <= {problem.reason for problem in report.problems}


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
    other_ledgers_checkpoint(files, Context(sqlite_ledger, other_ledger))
    other_keys = "".join(f"{key.line()}\n" for key in other_ledger.keyring.verifier_keys().values())
    files.write(KEYS_FILE, files.read(KEYS_FILE) + other_keys.encode())
    # With its own keys the other ledger's checkpoint opens, and only the tree gives it away.
    assert reasons(verify_bundle(bundle)) == {
        ("size-mismatch", ENTRIES_FILE),
        ("root-mismatch", ENTRIES_FILE),
    }
    assert reasons(verify_bundle(bundle, sqlite_ledger.keys)) == {("unknown-key", "checkpoint")}


def test_a_subset_bundle_proves_inclusion_not_completeness_so_a_cleanly_dropped_entry_passes(
    sqlite_ledger, tmp_path
):
    bundle = export(sqlite_ledger, tmp_path, "subset", "directory")
    files = BundleFiles(bundle)
    for name in (ENTRIES_FILE, PROOFS_FILE, PAYLOADS_FILE):
        files.remove_line(name, 1)
    report = verify_bundle(bundle, sqlite_ledger.keys)
    assert report.ok
    assert report.entries == len(AARHUS_SEQS) - 1


def test_a_subset_bundle_proved_by_another_trusted_logs_checkpoint_fails(sqlite_ledger, tmp_path):
    bundle = export(sqlite_ledger, tmp_path, "subset", "directory")
    files = BundleFiles(bundle)
    entries = files.lines(ENTRIES_FILE)
    last_seq = AARHUS_SEQS[-1]
    leaves = forged_tree_around(entries[-1], last_seq)
    for seq, leaf in zip(AARHUS_SEQS[:-1], entries[:-1], strict=True):
        leaves[seq] = leaf
    other = SigningKey.generate("other.example/ledger")
    note = sign_note(Checkpoint(other.name, len(leaves), mth(leaves)).text(), [other])
    files.write(CHECKPOINT_FILE, note.encode())
    files.write_lines(
        PROOFS_FILE,
        [
            json.dumps(
                {"seq": seq, "inclusion": [base64.b64encode(h).decode() for h in path(seq, leaves)]}
            ).encode()
            for seq in AARHUS_SEQS
        ],
    )
    report = verify_bundle(bundle, sqlite_ledger.keys | {other.kid: other.verifier_key})
    assert not report.ok
    assert "wrong-origin" in {problem.reason for problem in report.problems}


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
