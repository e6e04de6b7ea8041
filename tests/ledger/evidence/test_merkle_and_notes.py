"""The Merkle tree and the signed notes, checked against independent implementations.

The reference Merkle tree here is RFC 6962 section 2.1 written out as the RFC defines it
(MTH, PATH, PROOF and SUBPROOF over a list of leaves), sharing no code with
`ledger.evidence.merkle`; the reference note verifier is the C2SP signed-note text,
parsed by hand and checked with `cryptography` directly. Both are pinned by the published
vectors of certificate-transparency and golang.org/x/mod/sumdb/note.
"""

import base64
import hashlib
import random
from collections.abc import Iterable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.evidence import merkle
from ledger.evidence.keys import SigningKey, VerifierKey
from ledger.evidence.note import (
    MAX_NOTE_SIZE,
    Checkpoint,
    NoteError,
    open_checkpoint,
    open_note,
    sign_note,
)

# RFC 6962 section 2.1, from its recursive definitions


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), found by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n])."""
    n = len(leaves)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return _sha256(b"\x00" + leaves[0])
    k = _k(n)
    return _sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n; empty for the trivial m = 0 and m = n."""
    if m in (0, len(leaves)):
        return []
    return _subproof(m, leaves, True)


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# The test leaves and roots of certificate-transparency's merkle_tree_test (also pinned in
# transparency-dev/merkle's testonly constants).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size) -> the audit path, from the same test suite.
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
# (old size, new size) -> the consistency proof, from the same test suite.
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def hexes(hashes: Iterable[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


class Store:
    """Complete-subtree hashes in a dict, read the way the database is read."""

    def __init__(self) -> None:
        self.nodes: dict[merkle.Node, bytes] = {}
        self.reads: list[list[merkle.Node]] = []

    @property
    def size(self) -> int:
        return sum(1 for level, _ in self.nodes if level == 0)

    def read(self, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
        wanted = list(nodes)
        self.reads.append(wanted)
        return {node: self.nodes[node] for node in wanted if node in self.nodes}

    def append(self, leaves: list[bytes]) -> dict[merkle.Node, bytes]:
        first = self.size
        new = merkle.complete_subtrees(
            [merkle.leaf_hash(leaf) for leaf in leaves], first, self.read
        )
        self.nodes.update(new)
        return new


def store_of(leaves: list[bytes], batch_sizes: Iterable[int] = ()) -> Store:
    """A store of `leaves` appended in batches of the given sizes, the rest in one batch."""
    store = Store()
    start = 0
    for batch in batch_sizes:
        store.append(leaves[start : start + batch])
        start += batch
    if start < len(leaves):
        store.append(leaves[start:])
    return store


def distinct_leaves(count: int) -> list[bytes]:
    """Leaves of varied lengths, no two alike (a repeated leaf could prove a wrong index)."""
    return [i.to_bytes(2, "big") * (1 + i % 5) for i in range(count)]


KNOWN_ANSWER_SIZE = 70
KNOWN_LEAVES = distinct_leaves(KNOWN_ANSWER_SIZE)
BATCHINGS = {
    "one batch": [],
    "batches of growing size": [1, 2, 3, 5, 8, 13, 21],
    "one leaf at a time": [1] * KNOWN_ANSWER_SIZE,
    "a batch that fills a subtree exactly": [16, 16, 32],
}


# Known answers: the RFC's own definitions and the certificate-transparency vectors


def test_the_independent_tree_reproduces_the_certificate_transparency_vectors():
    assert [mth(CT_LEAVES[:n]).hex() for n in range(9)] == CT_ROOTS
    for (index, size), expected in CT_INCLUSION.items():
        assert hexes(path(index, CT_LEAVES[:size])) == expected
    for (old, new), expected in CT_CONSISTENCY.items():
        assert hexes(proof(old, CT_LEAVES[:new])) == expected


def test_roots_and_proofs_of_the_certificate_transparency_vectors_verify():
    store = store_of(CT_LEAVES)
    for size in range(9):
        assert merkle.root(size, store.read).hex() == CT_ROOTS[size]
    for (index, size), expected in CT_INCLUSION.items():
        assert hexes(merkle.inclusion_proof(index, size, store.read)) == expected
        merkle.verify_inclusion(
            index,
            size,
            CT_LEAVES[index],
            [bytes.fromhex(h) for h in expected],
            bytes.fromhex(CT_ROOTS[size]),
        )
    for (old, new), expected in CT_CONSISTENCY.items():
        assert hexes(merkle.consistency_proof(old, new, store.read)) == expected
        merkle.verify_consistency(
            old,
            new,
            bytes.fromhex(CT_ROOTS[old]),
            bytes.fromhex(CT_ROOTS[new]),
            [bytes.fromhex(h) for h in expected],
        )


def test_leaf_and_node_hashes_are_domain_separated_sha256():
    assert merkle.leaf_hash(b"abc") == _sha256(b"\x00abc")
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == _sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]


@pytest.mark.parametrize("batching", BATCHINGS.values(), ids=BATCHINGS.keys())
def test_stored_subtrees_are_the_same_however_the_leaves_were_batched(batching):
    assert store_of(KNOWN_LEAVES, batching).nodes == store_of(KNOWN_LEAVES).nodes


@pytest.mark.parametrize("batching", BATCHINGS.values(), ids=BATCHINGS.keys())
def test_roots_and_proofs_equal_the_rfc_definitions_for_every_size_up_to_70(batching):
    store = store_of(KNOWN_LEAVES, batching)
    for size in range(KNOWN_ANSWER_SIZE + 1):
        leaves = KNOWN_LEAVES[:size]
        assert merkle.root(size, store.read) == mth(leaves), size
        for index in range(size):
            assert merkle.inclusion_proof(index, size, store.read) == path(index, leaves)
        for old in range(size + 1):
            assert merkle.consistency_proof(old, size, store.read) == proof(old, leaves)


def test_each_batch_stores_exactly_the_subtrees_it_completes_and_reads_only_older_ones():
    store = Store()
    start = 0
    for batch in [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]:
        store.reads.clear()
        new = store.append(KNOWN_LEAVES[start : start + batch])
        end = start + batch
        assert set(new) == {
            (level, index)
            for level in range(8)
            for index in range(end)
            if start < (index + 1) << level <= end
        }
        assert len(store.reads) == 1
        assert all((index + 1) << level <= start for level, index in store.reads[0])
        assert merkle.root(end, store.read) == mth(KNOWN_LEAVES[:end])
        start = end


def test_a_root_or_proof_reads_its_stored_hashes_once_and_only_logarithmically_many():
    store = store_of(distinct_leaves(300))
    for size in (1, 2, 7, 64, 65, 255, 300):
        for work in (
            lambda size=size: merkle.root(size, store.read),
            lambda size=size: merkle.inclusion_proof(size // 3, size, store.read),
            lambda size=size: merkle.consistency_proof(size // 2 + 1, size, store.read),
        ):
            store.reads.clear()
            work()
            assert len(store.reads) <= 1
            assert all(len(nodes) <= 2 * size.bit_length() for nodes in store.reads)


def test_a_tree_larger_than_what_is_stored_is_refused():
    store = store_of(KNOWN_LEAVES[:10])
    with pytest.raises(LookupError):
        merkle.root(11, store.read)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(10, 10, store.read)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(6, 5, store.read)


def test_a_root_folded_from_given_leaves_is_the_rfc_root_and_a_changed_leaf_changes_it():
    store = store_of(KNOWN_LEAVES, [5, 16, 3])
    rng = random.Random(70)
    for size in range(1, KNOWN_ANSWER_SIZE + 1):
        for count in (1, 2, 3, 7, 25, size):
            chosen = rng.sample(range(size), min(count, size))
            given = {i: merkle.leaf_hash(KNOWN_LEAVES[i]) for i in chosen}
            store.reads.clear()
            assert merkle.root_with_leaves(size, given, store.read) == mth(KNOWN_LEAVES[:size])
            assert len(store.reads) == 1
            assert all(len(nodes) <= 2 * len(chosen) * size.bit_length() for nodes in store.reads)
            moved = rng.choice(chosen)
            changed = given | {moved: merkle.leaf_hash(KNOWN_LEAVES[moved] + b"!")}
            assert merkle.root_with_leaves(size, changed, store.read) != mth(KNOWN_LEAVES[:size])
            free = [i for i in range(size) if i not in given]
            if free:  # a leaf given at another index than its own proves nothing there
                elsewhere = {i: h for i, h in given.items() if i != moved}
                elsewhere[free[0]] = given[moved]
                assert merkle.root_with_leaves(size, elsewhere, store.read) != mth(
                    KNOWN_LEAVES[:size]
                )
    assert merkle.root_with_leaves(9, {}, store.read) == mth(KNOWN_LEAVES[:9])
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.root_with_leaves(10, {10: merkle.leaf_hash(b"x")}, store.read)
    with pytest.raises(merkle.ProofError, match="32 bytes"):
        merkle.root_with_leaves(10, {3: b"short"}, store.read)


def test_the_root_builder_equals_the_rfc_root_for_every_size_up_to_100():
    leaves = distinct_leaves(100)
    builder = merkle.RootBuilder()
    assert builder.root() == mth([])
    for size in range(1, 101):
        builder.append_hash(merkle.leaf_hash(leaves[size - 1]))
        assert builder.size == size
        assert builder.root() == mth(leaves[:size]), size
        assert builder.root() == builder.root()


# Properties: proofs verify, and nothing else does

PROPERTY_SIZE = 300
PROPERTY_LEAVES = distinct_leaves(PROPERTY_SIZE)
PROPERTY_STORE = store_of(PROPERTY_LEAVES, [1, 6, 57, 100])


def true_root(size: int) -> bytes:
    return mth(PROPERTY_LEAVES[:size])


def flip(data: bytes, bit: int) -> bytes:
    """`data` with one bit flipped (`bit` taken modulo its length in bits)."""
    bit %= len(data) * 8
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def fails(check, *args) -> bool:
    try:
        check(*args)
    except merkle.ProofError:
        return True
    return False


@st.composite
def index_and_size(draw):
    size = draw(st.integers(min_value=1, max_value=PROPERTY_SIZE))
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def old_and_new(draw):
    new = draw(st.integers(min_value=1, max_value=PROPERTY_SIZE))
    return draw(st.integers(min_value=1, max_value=new)), new


@settings(max_examples=300, deadline=None)
@given(index_and_size(), st.integers(min_value=0), st.data())
def test_an_inclusion_proof_verifies_and_any_change_to_it_fails(case, bit, data):
    index, size = case
    leaf, root = PROPERTY_LEAVES[index], true_root(size)
    audit_path = merkle.inclusion_proof(index, size, PROPERTY_STORE.read)
    assert audit_path == path(index, PROPERTY_LEAVES[:size])
    merkle.verify_inclusion(index, size, leaf, audit_path, root)

    verify = merkle.verify_inclusion
    for position in range(len(audit_path)):
        changed = list(audit_path)
        changed[position] = flip(changed[position], bit)
        assert fails(verify, index, size, leaf, changed, root)
    assert fails(verify, index, size, flip(leaf, bit), audit_path, root)
    assert fails(verify, index, size, leaf, audit_path, flip(root, bit))
    assert fails(verify, index, size, leaf, [*audit_path, root], root)
    if audit_path:
        assert fails(verify, index, size, leaf, audit_path[:-1], root)
    other_index = data.draw(st.sampled_from([i for i in range(-1, size + 1) if i != index]))
    assert fails(verify, other_index, size, leaf, audit_path, root)
    other_sizes = [s for s in range(index + 1, PROPERTY_SIZE + 1) if s != size]
    if other_sizes:
        other_size = data.draw(st.sampled_from(other_sizes))
        assert fails(verify, index, other_size, leaf, audit_path, true_root(other_size))


@settings(max_examples=300, deadline=None)
@given(old_and_new(), st.integers(min_value=0), st.data())
def test_a_consistency_proof_verifies_and_any_change_to_it_fails(case, bit, data):
    old, new = case
    old_root, new_root = true_root(old), true_root(new)
    consistency = merkle.consistency_proof(old, new, PROPERTY_STORE.read)
    assert consistency == proof(old, PROPERTY_LEAVES[:new])
    merkle.verify_consistency(old, new, old_root, new_root, consistency)

    verify = merkle.verify_consistency
    for position in range(len(consistency)):
        changed = list(consistency)
        changed[position] = flip(changed[position], bit)
        assert fails(verify, old, new, old_root, new_root, changed)
    assert fails(verify, old, new, flip(old_root, bit), new_root, consistency)
    assert fails(verify, old, new, old_root, flip(new_root, bit), consistency)
    assert fails(verify, old, new, old_root, new_root, [*consistency, new_root])
    if consistency:
        assert fails(verify, old, new, old_root, new_root, consistency[:-1])
    other_olds = [s for s in range(1, new + 1) if s != old]
    if other_olds:
        other_old = data.draw(st.sampled_from(other_olds))
        assert fails(verify, other_old, new, true_root(other_old), new_root, consistency)
    other_news = [s for s in range(old, PROPERTY_SIZE + 1) if s != new]
    if other_news:
        other_new = data.draw(st.sampled_from(other_news))
        assert fails(verify, old, other_new, old_root, true_root(other_new), consistency)
    assert fails(verify, new, old, new_root, old_root, consistency) or old == new


@pytest.mark.parametrize(("index", "size"), [(0, 2), (5, 8), (6, 7), (20, 70), (299, 300)])
def test_an_inclusion_proof_of_the_wrong_length_is_refused_as_too_short_or_too_long(index, size):
    leaf, root = PROPERTY_LEAVES[index], true_root(size)
    audit_path = merkle.inclusion_proof(index, size, PROPERTY_STORE.read)
    with pytest.raises(merkle.ProofError, match="too short"):
        merkle.verify_inclusion(index, size, leaf, audit_path[:-1], root)
    with pytest.raises(merkle.ProofError, match="too long"):
        merkle.verify_inclusion(index, size, leaf, [*audit_path, root], root)


@pytest.mark.parametrize(("old", "new"), [(3, 8), (4, 9), (6, 70), (63, 64), (100, 300)])
def test_a_consistency_proof_of_the_wrong_length_is_refused_as_too_short_or_too_long(old, new):
    old_root, new_root = true_root(old), true_root(new)
    consistency = merkle.consistency_proof(old, new, PROPERTY_STORE.read)
    with pytest.raises(merkle.ProofError, match="too short"):
        merkle.verify_consistency(old, new, old_root, new_root, consistency[:-1])
    with pytest.raises(merkle.ProofError, match="too long"):
        merkle.verify_consistency(old, new, old_root, new_root, [*consistency, new_root])


def test_no_proof_from_the_empty_tree_holds_and_equal_sizes_need_empty_proofs():
    root = true_root(5)
    merkle.verify_consistency(5, 5, root, root, [])
    for proof in ([], [root]):
        with pytest.raises(merkle.ProofError, match="from size 0"):
            merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, proof)
    with pytest.raises(merkle.ProofError, match="from size 0"):
        merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(5, 5, root, root, [root])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(5, 5, root, true_root(4), [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(3, 5, true_root(3), root, [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(0, 0, PROPERTY_LEAVES[0], [], merkle.EMPTY_ROOT)


# Signed notes, checked by a verifier written from the C2SP signed-note text

EM_DASH = "\u2014"
# golang.org/x/mod/sumdb/note's documented example: its verifier key, the private key
# PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz,
# and the note it signs.
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_PRIVATE_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
    "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ORIGIN = "test.example/ledger"


def independent_open(note: str, verifier_key: str) -> str:
    """The note's text if the key signed it, by the C2SP signed-note text alone."""
    name, hash_hex, encoded = verifier_key.split("+", 2)
    raw = base64.b64decode(encoded, validate=True)
    assert len(raw) == 33, "an Ed25519 verifier key is 33 bytes"
    assert raw[0] == 0x01, "an Ed25519 verifier key starts with algorithm 0x01"
    public = raw[1:]
    expected_hash = hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public).digest()[:4]
    assert expected_hash.hex() == hash_hex
    assert note.endswith("\n")
    split = note.rindex("\n\n")
    text, signature_block = note[: split + 1], note[split + 2 :]
    for line in signature_block.removesuffix("\n").split("\n"):
        dash, signer, signature = line.split(" ")
        assert dash == EM_DASH
        blob = base64.b64decode(signature, validate=True)
        if signer == name and blob[:4] == expected_hash:
            Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode())
            return text
    raise LookupError(f"{name} did not sign the note")


def go_key() -> SigningKey:
    seed = base64.b64decode(GO_PRIVATE_SEED)[1:]
    return SigningKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))


def keys_of(*keys: SigningKey) -> dict[str, VerifierKey]:
    return {key.kid: key.verifier_key for key in keys}


def checkpoint_text(size: int = 7, origin: str = ORIGIN) -> str:
    return Checkpoint(origin, size, hashlib.sha256(b"root %d" % size).digest()).text()


def test_the_independent_verifier_opens_the_go_reference_note():
    assert independent_open(GO_NOTE, GO_VERIFIER_KEY) == GO_TEXT


def test_the_go_reference_note_opens_with_open_note():
    key = VerifierKey.parse(GO_VERIFIER_KEY)
    opened = open_note(GO_NOTE, {key.kid: key})
    assert opened.text == GO_TEXT
    assert opened.verified_by == ("c74f20a3",)


def test_sign_note_with_the_go_key_writes_the_go_reference_note_byte_for_byte():
    assert sign_note(GO_TEXT, [go_key()]) == GO_NOTE


def test_a_checkpoint_signed_by_sign_note_opens_with_the_independent_verifier():
    first, second = SigningKey.generate(ORIGIN), SigningKey.generate(ORIGIN)
    text = checkpoint_text()
    note = sign_note(text, [first, second])
    assert independent_open(note, first.verifier_key.line()) == text
    assert independent_open(note, second.verifier_key.line()) == text
    assert open_note(note, keys_of(first, second)).verified_by == (first.kid, second.kid)


def test_a_signature_by_an_unknown_key_is_ignored_beside_a_known_one():
    known, witness = SigningKey.generate(ORIGIN), SigningKey.generate("witness.example/w1")
    text = checkpoint_text()
    for order in ([witness, known], [known, witness]):
        opened = open_note(sign_note(text, order), keys_of(known))
        assert opened.text == text
        assert opened.verified_by == (known.kid,)


def test_a_note_signed_only_by_unknown_keys_fails_with_unknown_key():
    known, stranger = SigningKey.generate(ORIGIN), SigningKey.generate(ORIGIN)
    with pytest.raises(NoteError) as failure:
        open_note(sign_note(checkpoint_text(), [stranger]), keys_of(known))
    assert failure.value.reason == "unknown-key"


def test_a_known_key_hash_under_another_name_is_not_that_key():
    key = go_key()
    renamed = GO_NOTE.replace("PeterNeumann x08go", "PeterNeumannX x08go")
    with pytest.raises(NoteError) as failure:
        open_note(renamed, keys_of(key))
    assert failure.value.reason == "unknown-key"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda note: note.replace("problem,", "problem;"),
        lambda note: note.replace("If you", "If You"),
        lambda note: note.replace("RyyBwJnAM=", "RzyBwJnAM="),
        lambda note: "\n" + note,
    ],
    ids=["changed text", "changed capital", "changed signature", "extra line before the text"],
)
def test_a_tampered_note_fails_with_bad_signature(tamper):
    with pytest.raises(NoteError) as failure:
        open_note(tamper(GO_NOTE), keys_of(go_key()))
    assert failure.value.reason == "bad-signature"


SIGNATURE_LINE = GO_NOTE.split("\n\n")[1]


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + SIGNATURE_LINE.removesuffix("\n"),
        GO_TEXT + "\n" + SIGNATURE_LINE.replace(EM_DASH, "-"),
        GO_TEXT + "\n" + SIGNATURE_LINE.replace(EM_DASH + " ", EM_DASH),
        GO_TEXT + "\n" + SIGNATURE_LINE.replace("PeterNeumann ", "PeterNeumann  "),
        GO_TEXT + "\n" + SIGNATURE_LINE.replace("AM=\n", "AM= extra\n"),
        GO_TEXT + "\n" + SIGNATURE_LINE.replace("x08go/", "x08go!"),
        GO_TEXT + "\n" + f"{EM_DASH} PeterNeumann x08g\n",
        GO_TEXT + "\n" + SIGNATURE_LINE + "\n",
        GO_TEXT + "\n" + SIGNATURE_LINE + "just text\n",
        GO_TEXT + "\n" + SIGNATURE_LINE + " " * MAX_NOTE_SIZE + "\n",
    ],
    ids=[
        "no signature block",
        "empty signature block",
        "unended signature line",
        "hyphen for the em dash",
        "no space after the dash",
        "empty key name",
        "extra field",
        "signature not base64",
        "signature shorter than a key hash",
        "trailing empty line",
        "a line that is not a signature",
        "too large",
    ],
)
def test_a_malformed_note_fails_with_malformed_note(note):
    with pytest.raises(NoteError) as failure:
        open_note(note, keys_of(go_key()))
    assert failure.value.reason == "malformed-note"


@pytest.mark.parametrize("text", ["no final newline", "two\n\nparagraphs\n", ""])
def test_sign_note_refuses_a_text_the_format_cannot_carry(text):
    with pytest.raises(ValueError, match="newline"):
        sign_note(text, [go_key()])


def signed_as_is(text: str, key: SigningKey) -> str:
    """`text` with a valid signature by `key`, whatever the text holds (no checks)."""
    blob = key.verifier_key.key_hash + key.sign(text.encode("utf-8"))
    return f"{text}\n{EM_DASH} {key.name} {base64.b64encode(blob).decode()}\n"


CONTROL_CHARACTERS = ["\x00", "\x07", "\t", "\r", "\x1b", "\x1f"]


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=repr)
def test_a_signed_note_with_a_control_character_in_its_text_fails_with_malformed_note(
    character,
):
    """C2SP signed-note: no ASCII control character but newline, even where signed."""
    note = signed_as_is(checkpoint_text().replace("\n", character + "\n", 1), go_key())
    with pytest.raises(NoteError, match="control character") as failure:
        open_note(note, keys_of(go_key()))
    assert failure.value.reason == "malformed-note"


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=repr)
def test_a_control_character_in_a_signature_line_fails_with_malformed_note(character):
    note = GO_TEXT + "\n" + SIGNATURE_LINE.replace(" ", character + " ", 1)
    with pytest.raises(NoteError, match="control character") as failure:
        open_note(note, keys_of(go_key()))
    assert failure.value.reason == "malformed-note"


@pytest.mark.parametrize("character", ["\x7f", "\x85", "\u2028"], ids=repr)
def test_characters_above_the_ascii_controls_are_text_as_in_go(character):
    """The rule is U+0000 to U+001F but newline, as Go's note.Open checks it."""
    text = checkpoint_text().replace("\n", character + "\n", 1)
    assert open_note(signed_as_is(text, go_key()), keys_of(go_key())).text == text


@pytest.mark.parametrize(
    "note",
    [
        GO_NOTE.encode().replace(b"If you", b"If \xff you"),
        GO_NOTE.encode().replace(EM_DASH.encode(), EM_DASH.encode()[:2]),
        GO_NOTE.replace("If you", "If \ud800 you"),
    ],
    ids=["invalid byte", "cut em dash", "lone surrogate"],
)
def test_a_note_that_is_not_utf_8_fails_with_malformed_note(note):
    with pytest.raises(NoteError, match="UTF-8") as failure:
        open_note(note, keys_of(go_key()))
    assert failure.value.reason == "malformed-note"


def test_open_note_reads_the_bytes_of_a_note_as_utf_8():
    assert open_note(GO_NOTE.encode(), keys_of(go_key())).text == GO_TEXT


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=repr)
def test_sign_note_refuses_a_text_with_a_control_character(character):
    with pytest.raises(ValueError, match="control character"):
        sign_note(checkpoint_text().replace("\n", character + "\n", 1), [go_key()])


def test_sign_note_refuses_a_text_that_is_not_utf_8():
    with pytest.raises(ValueError, match="UTF-8"):
        sign_note("If \ud800 you\n", [go_key()])


# Checkpoints


@pytest.mark.parametrize(
    "checkpoint",
    [
        Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT),
        Checkpoint(ORIGIN, 2**63 - 1, bytes(range(32))),
        Checkpoint("example.com/other log", 12, b"\xff" * 32, ("extension one", "— two")),
    ],
)
def test_a_checkpoint_round_trips_through_its_text(checkpoint):
    text = checkpoint.text()
    assert Checkpoint.parse(text) == checkpoint
    assert text.count("\n") == 3 + len(checkpoint.extensions)
    assert text.split("\n")[2] == base64.b64encode(checkpoint.root).decode()


ROOT_B64 = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n7\n",
        f"{ORIGIN}\n7\n{ROOT_B64}",
        f"{ORIGIN}\n\n{ROOT_B64}\n",
        f"{ORIGIN}\n07\n{ROOT_B64}\n",
        f"{ORIGIN}\n-7\n{ROOT_B64}\n",
        f"{ORIGIN}\n+7\n{ROOT_B64}\n",
        f"{ORIGIN}\n 7\n{ROOT_B64}\n",
        f"{ORIGIN}\n7.0\n{ROOT_B64}\n",
        f"{ORIGIN}\nseven\n{ROOT_B64}\n",
        f"{ORIGIN}\n7\n{ROOT_B64[:-4]}\n",
        f"{ORIGIN}\n7\n{base64.b64encode(bytes(33)).decode()}\n",
        f"{ORIGIN}\n7\n{ROOT_B64.replace('A', '-')}\n",
        f"{ORIGIN}\n7\n{ROOT_B64} \n",
    ],
    ids=[
        "no root",
        "no final newline",
        "empty size",
        "leading zero",
        "negative size",
        "plus sign",
        "space in size",
        "decimal point",
        "size in words",
        "short root",
        "long root",
        "root not base64",
        "space after root",
    ],
)
def test_a_malformed_checkpoint_body_is_refused(text):
    with pytest.raises(NoteError) as failure:
        Checkpoint.parse(text)
    assert failure.value.reason == "malformed-checkpoint"


@pytest.mark.parametrize(
    "size",
    ["\u00b2", "\u0661", "\uff17", "7" * 5000],
    ids=["superscript two", "arabic-indic one", "fullwidth seven", "5000 digits"],
)
def test_a_checkpoint_size_that_is_not_a_short_ascii_number_is_malformed(size):
    with pytest.raises(NoteError) as failure:
        Checkpoint.parse(f"{ORIGIN}\n{size}\n{ROOT_B64}\n")
    assert failure.value.reason == "malformed-checkpoint"


def test_open_checkpoint_returns_the_signed_checkpoint_of_the_expected_origin():
    key = SigningKey.generate(ORIGIN)
    note = sign_note(checkpoint_text(9), [key])
    checkpoint = open_checkpoint(note, keys_of(key), origin=ORIGIN)
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 9)
    assert open_checkpoint(note, keys_of(key)) == checkpoint


def test_open_checkpoint_refuses_another_logs_checkpoint_with_wrong_origin():
    other = SigningKey.generate("other.example/ledger")
    note = sign_note(checkpoint_text(9, origin="other.example/ledger"), [other])
    with pytest.raises(NoteError) as failure:
        open_checkpoint(note, keys_of(other), origin=ORIGIN)
    assert failure.value.reason == "wrong-origin"


def test_open_checkpoint_refuses_a_signed_note_that_is_no_checkpoint():
    with pytest.raises(NoteError) as failure:
        open_checkpoint(GO_NOTE, keys_of(go_key()))
    assert failure.value.reason == "malformed-checkpoint"
