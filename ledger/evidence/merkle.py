"""RFC 9162 section 2.1 Merkle trees: hashes, proofs, and their verification.

Proofs are computed from the hashes of complete subtrees (`level`, `index`: the subtree of
2**level leaves starting at leaf index * 2**level), which the ledger stores once, so the root
of any size and any proof cost O(log n) stored hashes. The verification functions are the
RFC's algorithms, written from the text, and need nothing but the proof.
"""

import bisect
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Node = tuple[int, int]
NodeReader = Callable[[Iterable[Node]], dict[Node, bytes]]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it claims."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _peaks(start: int, end: int) -> list[Node]:
    """The complete subtrees whose hashes MTH(D[start:end]) folds, left to right.

    Every range an RFC 9162 algorithm asks for starts at a multiple of the largest power
    of two below its size, so its split points are the set bits of its size, high to low.
    """
    peaks = []
    size = end - start
    while size:
        width = 1 << (size.bit_length() - 1)
        peaks.append((width.bit_length() - 1, start // width))
        start += width
        size -= width
    return peaks


class _Plan:
    """Runs an algorithm once, recording the ranges it asks for; then reads their complete
    subtrees together and folds each range's hash from them.

    The algorithm asks `mth(start, end)` for each MTH(D[start:end]) it needs and gets a
    handle, the range's number, which it returns in the place of the hash; the handles
    become hashes once every range is known and one read has fetched them all.
    """

    def __init__(self, read: NodeReader) -> None:
        self.read = read

    def run(self, algorithm: Callable[[Callable[[int, int], int]], list[int]]) -> list[bytes]:
        ranges: list[list[Node]] = []

        def record(start: int, end: int) -> int:
            ranges.append(_peaks(start, end))
            return len(ranges) - 1

        handles = algorithm(record)
        wanted = {node for peaks in ranges for node in peaks}
        stored = self.read(sorted(wanted))
        missing = wanted - stored.keys()
        if missing:
            raise LookupError(f"the tree lacks stored hashes {sorted(missing)[:3]}")
        hashes = []
        for peaks in ranges:
            h = stored[peaks[-1]]
            for node in reversed(peaks[:-1]):
                h = node_hash(stored[node], h)
            hashes.append(h)
        return [hashes[handle] for handle in handles]


def root(size: int, read: NodeReader) -> bytes:
    """MTH of the first `size` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return _Plan(read).run(lambda mth: [mth(0, size)])[0]


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")

    def path(mth: Callable[[int, int], int]) -> list[int]:
        proof: list[int] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = _split(end - start)
            if m < k:
                proof.append(mth(start + k, end))
                end = start + k
            else:
                proof.append(mth(start, start + k))
                start, m = start + k, m - k
        return proof[::-1]

    return _Plan(read).run(path)


def root_with_leaves(size: int, hashed_leaves: Mapping[int, bytes], read: NodeReader) -> bytes:
    """MTH(D[0:size]) folded from the given leaf hashes in their places (index: hash) and the
    stored hashes of the subtrees that hold none of them, read at once.

    It equals a checkpoint's root exactly when every given leaf is at its index in that tree:
    one multi-leaf inclusion proof, so that leaves shown together are proved together
    (neighbours share most of their paths) instead of one path each. A leaf hash of another
    length than SHA-256's is refused, as `root_from_inclusion_proof` refuses one.
    """
    indices = sorted(hashed_leaves)
    if not indices:
        return root(size, read)
    if indices[0] < 0 or indices[-1] >= size:
        raise ValueError(f"leaves {indices[0]}..{indices[-1]} are not in a tree of size {size}")
    if any(len(h) != HASH_SIZE for h in hashed_leaves.values()):
        raise ProofError(f"a leaf hash has {HASH_SIZE} bytes")
    # The tree's shape down to the given leaves: a leaf's hash (bytes), a stored range's
    # handle (int), or a node of two such parts (tuple).
    shape: list[Any] = []

    def ranges(mth: Callable[[int, int], int]) -> list[int]:
        handles: list[int] = []

        def walk(start: int, end: int, lo: int, hi: int) -> Any:
            if lo == hi:
                handles.append(mth(start, end))
                return handles[-1]
            if end - start == 1:
                return hashed_leaves[indices[lo]]
            middle = start + _split(end - start)
            split = bisect.bisect_left(indices, middle, lo, hi)
            return (walk(start, middle, lo, split), walk(middle, end, split, hi))

        shape.append(walk(0, size, 0, len(indices)))
        return handles

    stored = _Plan(read).run(ranges)  # in the order of the handles: 0, 1, 2, ...

    def fold(part: Any) -> bytes:
        if isinstance(part, bytes):
            return part
        if isinstance(part, int):
            return stored[part]
        return node_hash(fold(part[0]), fold(part[1]))

    return fold(shape[0])


def consistency_proof(old_size: int, new_size: int, read: NodeReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 section 2.1.4.1."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []

    def subproof(mth: Callable[[int, int], int]) -> list[int]:
        proof: list[int] = []
        start, end, m, whole = 0, new_size, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(mth(start + k, end))
                end = start + k
            else:
                proof.append(mth(start, start + k))
                start, m, whole = start + k, m - k, False
        if not whole:
            proof.append(mth(start, end))
        return proof[::-1]

    return _Plan(read).run(subproof)


def root_from_inclusion_proof(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that `proof` implies for the leaf hash at `index` (RFC 9162 section 2.1.3.2).

    A leaf hash of another length than SHA-256's is refused: in a tree of one leaf the
    proof is empty and the leaf hash is the root, so any bytes would prove themselves.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    if len(hashed_leaf) != HASH_SIZE:
        raise ProofError(f"a leaf hash has {HASH_SIZE} bytes, not {len(hashed_leaf)}")
    fn, sn = index, size - 1
    r = hashed_leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion_of_hash(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """The leaf whose hash is `hashed_leaf` is at `index` in the tree of `size` leaves."""
    if root_from_inclusion_proof(index, size, hashed_leaf, proof) != expected_root:
        raise ProofError(f"leaf {index} is not included in the tree of size {size}")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """`leaf` (its bytes) is at `index` in the tree of `size` leaves."""
    verify_inclusion_of_hash(index, size, leaf_hash(leaf), proof, expected_root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 section 2.1.4.2: the tree of `new_size` extends the one of `old_size`.

    The old size must be at least 1: every tree extends the empty one, so a proof from
    size 0 proves nothing, and a verifier that accepted one would accept any new root.
    """
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need an empty proof and equal roots")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the old root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the new root of size {new_size}")


def complete_subtrees(
    leaf_hashes: Sequence[bytes], first_index: int, read: NodeReader
) -> dict[Node, bytes]:
    """The complete-subtree hashes that appending `leaf_hashes` at `first_index` completes.

    Left siblings that are already stored (peaks of the tree of size `first_index` that the
    batch completes) are read once, together.
    """
    last = first_index + len(leaf_hashes)
    stack: list[Node] = []  # the tree of size first_index's peaks, highest first
    begin = 0
    for level in range(first_index.bit_length() - 1, -1, -1):
        if first_index >> level & 1:
            stack.append((level, begin >> level))
            begin += 1 << level
    needed = [(level, index) for level, index in stack if (index + 2) << level <= last]
    known = read(needed)
    left: list[bytes | None] = [known.get(node) for node in stack]
    sha256 = hashlib.sha256
    new: dict[Node, bytes] = {}
    index = first_index
    for h in leaf_hashes:
        new[(0, index)] = h
        i, level = index, 0
        while i & 1:
            sibling = left.pop()
            if sibling is None:
                raise KeyError((level, i - 1))
            h = sha256(b"\x01" + sibling + h).digest()
            i >>= 1
            level += 1
            new[(level, i)] = h
        left.append(h)
        index += 1
    return new


class RootBuilder:
    """The root of leaves appended one at a time, in O(log n) memory (a compact range)."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (size of the subtree, its hash)
        self.size = 0

    def append_hash(self, hashed_leaf: bytes) -> None:
        size, h = 1, hashed_leaf
        while self._stack and self._stack[-1][0] == size:
            _, left = self._stack.pop()
            size, h = size * 2, node_hash(left, h)
        self._stack.append((size, h))
        self.size += 1

    def append_subtree(self, size: int, subtree_hash: bytes) -> None:
        """A complete subtree of `size` leaves (a power of two no larger than the lowest set
        bit of the size so far, so that it starts at a multiple of its size), as `size`
        leaves appended one at a time would leave it."""
        if size & (size - 1) or self.size & (size - 1):
            raise ValueError(f"a subtree of {size} leaves cannot follow {self.size} leaves")
        self.size += size
        h = subtree_hash
        while self._stack and self._stack[-1][0] == size:
            _, left = self._stack.pop()
            size, h = size * 2, node_hash(left, h)
        self._stack.append((size, h))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h
