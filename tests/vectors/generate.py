"""Writes the evidence test vectors of this directory, the same bytes every time.

Run `python -m tests.vectors.generate` from the repository root after changing what a
vector holds; `tests/ledger/evidence/test_vectors.py` fails while the files differ from
what this writes. Everything is derived from fixed seeds: the test keys (Ed25519 signs
deterministically), the events, their times and ids. The reasons a bad vector must fail
with are written here by hand, from the evidence format, never by running a verifier.

The vectors are made by this file from the format (docs/evidence-format.md), not by the
ledger's writers, so that the ledger's bundle and receipt writers are not checked against
themselves; only the leaf encoding (`sign_leaf`), the note signature (`sign_note`), the
witness cosignature (`Cosigner.cosign`) and the Merkle proofs are the library's, and those
are pinned by independent implementations in tests/ledger/evidence/test_merkle_and_notes.py
and (the cosignature, by tlog-scales) tests/ledger/evidence/test_cosignature.py.
"""

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.evidence import merkle
from ledger.evidence.canonical import canonical_json
from ledger.evidence.cosignature import Cosigner
from ledger.evidence.keys import SigningKey
from ledger.evidence.leaf import GENESIS_PREV, chain_hash, sign_leaf
from ledger.evidence.note import EM_DASH, Checkpoint, sign_note
from ledger.evidence.reasons import Reason

HERE = Path(__file__).parent
# The directories this script writes; it owns every file in them.
WRITTEN = ("keys", "leaves", "notes", "receipts", "bundles", "cosignatures")
ORIGIN = "test.example/ledger"
OTHER_ORIGIN = "other.example/ledger"
TRUSTED_KEYS = "keys/trusted.keys"

Files = dict[str, bytes]
Finding = tuple[Reason, str]  # (reason, where our verifier reports it; "" for none)


def vector_key(label: str, name: str) -> SigningKey:
    """A key from a published seed: a test key, never to sign anything real."""
    seed = hashlib.sha256(f"approval-ledger test vector key {label}".encode()).digest()
    return SigningKey(name, Ed25519PrivateKey.from_private_bytes(seed))


FIRST = vector_key("first", ORIGIN)  # signs seq 0 to 6 and the checkpoints up to size 6
ROTATED = vector_key("rotated", ORIGIN)  # signs from seq 7 on, and the newer checkpoints
FOREIGN = vector_key("foreign", ORIGIN)  # the log's name, a key no verifier trusts
OTHER = vector_key("other", OTHER_ORIGIN)  # another log's key
KEYS = {"first": FIRST, "rotated": ROTATED, "foreign": FOREIGN, "other": OTHER}


def vector_witness(label: str) -> Cosigner:
    """A witness key from a published seed: a test key, never to cosign anything real."""
    key = vector_key(f"witness {label}", f"witness.test.example/{label}")
    return Cosigner(key.name, key.private_key)


W1, W2, W3 = (vector_witness(label) for label in ("w1", "w2", "w3"))  # W3: trusted by no one
TRUSTED_WITNESSES = "keys/trusted.witnesses"
COSIGNED_AT = 1764547200  # 2025-12-01T00:00:00Z, the time every vector cosignature names


def pem(key: SigningKey) -> bytes:
    """The key as `SigningKey.read` reads it."""
    encoded = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return f"# key name: {key.name}\n".encode() + encoded


def keys_file(*keys: SigningKey) -> bytes:
    return "".join(f"{key.verifier_key.line()}\n" for key in keys).encode()


# The log: nine events of two customers, an agreement, an approval reset and given again,
# and a key rotation; the leaf of the rotation is the last one the first key signs.

AARHUS, ODENSE = "29189803", "35209115"
AARHUS_SEQS = [1, 4, 5, 7]


def _id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://test.example/ledger/{name}"))


def _datetime(value: str) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": value}


OPERATOR = {"_type_": "actor", "_data_": {"kind": "operator", "name": "test-operator"}}


def _signatory(cvr: str, name: str, person: str) -> dict[str, object]:
    return {
        "_type_": "actor",
        "_data_": {
            "kind": "person",
            "name": name,
            "person_uuid": person,
            "cvr": cvr,
            "organisation": f"Kommune {cvr}",
            "loa": "Substantial",
        },
    }


AARHUS_PERSON = _signatory(AARHUS, "Anne Andersen", "urn:uuid:00000000-0000-4000-8000-000000000001")
ODENSE_PERSON = _signatory(ODENSE, "Ole Olsen", "urn:uuid:00000000-0000-4000-8000-000000000002")
AGREEMENT_SHA256 = hashlib.sha256(b"%PDF-1.7 Driftsaftale 2026.1").hexdigest()

# (aggregate, version, event, attributes)
EVENTS: list[tuple[str, int, str, dict[str, object]]] = [
    (
        "LogKeys",
        1,
        "LogStarted",
        {"origin": ORIGIN, "verifier_key": FIRST.verifier_key.line(), "actor": OPERATOR},
    ),
    ("Customer", 1, "Registered", {"cvr": AARHUS, "name": "Aarhus Kommune", "actor": OPERATOR}),
    ("Customer", 1, "Registered", {"cvr": ODENSE, "name": "Odense Kommune", "actor": OPERATOR}),
    (
        "AgreementVersion",
        1,
        "Published",
        {
            "title": "Driftsaftale",
            "version_label": "2026.1",
            "document_sha256": AGREEMENT_SHA256,
            "actor": OPERATOR,
        },
    ),
    ("Approval", 1, "Approved", {"cvr": AARHUS, "ip": "192.0.2.10", "actor": AARHUS_PERSON}),
    (
        "Approval",
        2,
        "ApprovalReset",
        {"cvr": AARHUS, "reason": "Godkendt uden fuldmagt", "actor": OPERATOR},
    ),
    (
        "LogKeys",
        2,
        "KeyRotated",
        {
            "previous_kid": FIRST.kid,
            "verifier_key": ROTATED.verifier_key.line(),
            "actor": OPERATOR,
        },
    ),
    ("Approval", 3, "Approved", {"cvr": AARHUS, "ip": "192.0.2.10", "actor": AARHUS_PERSON}),
    ("Approval", 1, "Approved", {"cvr": ODENSE, "ip": "192.0.2.20", "actor": ODENSE_PERSON}),
]
ROTATED_AT = 6
SIZE = len(EVENTS)


def _aggregate_id(seq: int) -> str:
    aggregate, _, _, attributes = EVENTS[seq]
    cvr = attributes.get("cvr")
    if aggregate == "Customer":
        return _id(f"customer/{cvr}")
    if aggregate == "Approval":
        return _id(f"approval/{cvr}")
    return _id(aggregate.lower())


def payload(seq: int) -> bytes:
    """The event as the event store would keep it: its attributes, timestamp and topic."""
    aggregate, _, _, attributes = EVENTS[seq]
    document = {
        **attributes,
        "timestamp": _datetime(recorded_at(seq).replace("Z", "+00:00")),
        "originator_topic": f"ledger.domain:{aggregate}",
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def recorded_at(seq: int) -> str:
    return f"2026-11-30T09:{seq:02d}:{seq * 7 % 60:02d}.{seq * 123457 % 1000000:06d}Z"


def signer(seq: int) -> SigningKey:
    return FIRST if seq <= ROTATED_AT else ROTATED


def make_leaf(seq: int, prev: str, key: SigningKey | None = None) -> bytes:
    """The leaf of event `seq` chained onto `prev`, signed by `key` (else the log's key)."""
    aggregate, version, event, _ = EVENTS[seq]
    return sign_leaf(
        seq=seq,
        originator_id=_aggregate_id(seq),
        originator_version=version,
        topic=f"ledger.domain:{aggregate}.{event}",
        payload=payload(seq),
        prev=prev,
        recorded_at=recorded_at(seq),
        key=key or signer(seq),
    )


def _log() -> list[bytes]:
    leaves: list[bytes] = []
    for seq in range(SIZE):
        prev = chain_hash(leaves[-1]).hex() if leaves else GENESIS_PREV
        leaves.append(make_leaf(seq, prev))
    return leaves


LEAVES = _log()


class Tree:
    """The log's Merkle tree, every complete subtree in memory."""

    def __init__(self, leaves: list[bytes]) -> None:
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
        self.nodes = merkle.complete_subtrees(hashes, 0, lambda wanted: {})

    def read(self, wanted: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
        return {node: self.nodes[node] for node in wanted if node in self.nodes}

    def root(self, size: int) -> bytes:
        return merkle.root(size, self.read)

    def inclusion(self, seq: int, size: int = SIZE) -> list[bytes]:
        return merkle.inclusion_proof(seq, size, self.read)


TREE = Tree(LEAVES)


def checkpoint(size: int = SIZE, origin: str = ORIGIN, key: SigningKey | None = None) -> str:
    """The log's checkpoint of `size`, signed by the key its last leaf names as the next
    signer: from the rotation's leaf (seq 6) on, the rotated key."""
    text = Checkpoint(origin, size, TREE.root(size)).text()
    return sign_note(text, [key or (FIRST if size <= ROTATED_AT else ROTATED)])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signature_line(key: SigningKey, text: str, name: str | None = None) -> str:
    blob = key.verifier_key.key_hash + key.sign(text.encode("utf-8"))
    return f"{EM_DASH} {name or key.name} {b64(blob)}\n"


def signed_as_is(text: str, *keys: SigningKey) -> str:
    """A note of `text` with the keys' signatures, whatever the text holds."""
    return text + "\n" + "".join(signature_line(key, text) for key in keys)


def reasons(findings: list[Finding]) -> bytes:
    lines = (f"{reason} {where}".rstrip() + "\n" for reason, where in sorted(findings))
    return "".join(lines).encode()


# Leaves


def _leaf_cases() -> tuple[dict[str, bytes], dict[str, tuple[bytes, list[Reason]]]]:
    approved = LEAVES[4]
    start = approved.index(b'"sig":"') + len(b'"sig":"')
    flipped = (
        approved[:start] + (b"B" if approved[start] == ord("A") else b"A") + approved[start + 1 :]
    )
    sig_end = approved.index(b'"', start)
    last = approved[sig_end - 3 : sig_end - 2]  # the last character before "=="
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    padded = alphabet[alphabet.index(last) ^ 0x01 : alphabet.index(last) ^ 0x01 + 1]
    members = json.loads(approved)
    good = {"log-started": LEAVES[0], "approved": approved, "signed-by-the-rotated-key": LEAVES[7]}
    bad = {
        "flipped-signature": (flipped, [Reason.BAD_SIGNATURE]),
        "edited-recorded-at": (
            canonical_json({**members, "recorded_at": recorded_at(3)}),
            [Reason.BAD_SIGNATURE],
        ),
        "kid-of-the-other-trusted-key": (
            canonical_json({**members, "kid": ROTATED.kid}),
            [Reason.BAD_SIGNATURE],
        ),
        "signed-by-an-unknown-key": (make_leaf(4, members["prev"], FOREIGN), [Reason.UNKNOWN_KEY]),
        "space-inserted": (b"{ " + approved[1:], [Reason.NON_CANONICAL_LEAF]),
        "version-first": (
            b'{"v":1,' + approved[1:].replace(b',"v":1}', b"}"),
            [Reason.NON_CANONICAL_LEAF],
        ),
        "escaped-character": (
            approved.replace(b'"topic":"ledger', b'"topic":"\\u006cedger'),
            [Reason.NON_CANONICAL_LEAF],
        ),
        "signature-padding-bits-set": (
            approved[: sig_end - 3] + padded + approved[sig_end - 2 :],
            [Reason.NON_CANONICAL_LEAF],
        ),
        "integer-beyond-2-to-the-53": (
            approved.replace(b'"seq":4,', b'"seq":9007199254740993,'),
            [Reason.NON_CANONICAL_LEAF],
        ),
        "lone-surrogate": (
            approved.replace(b'"topic":"', b'"topic":"\\ud800'),
            [Reason.NON_CANONICAL_LEAF],
        ),
        "version-2": (approved.replace(b'"v":1}', b'"v":2}'), [Reason.UNKNOWN_VERSION]),
        "truncated": (approved[:-1], [Reason.MALFORMED_LEAF]),
        "sig-renamed": (approved.replace(b',"sig":"', b',"signature":"'), [Reason.MALFORMED_LEAF]),
        "extra-member": (approved.replace(b'"v":1}', b'"v":1,"w":0}'), [Reason.MALFORMED_LEAF]),
        "seq-as-a-string": (approved.replace(b'"seq":4,', b'"seq":"4",'), [Reason.MALFORMED_LEAF]),
        "not-utf-8": (
            approved.replace(b"Approval.Approved", b"Approval.\xffpproved"),
            [Reason.MALFORMED_LEAF],
        ),
    }
    assert padded != last
    return good, bad


# Notes: checkpoints, opened for the origin test.example/ledger


def _note_cases() -> tuple[dict[str, str | bytes], dict[str, tuple[str | bytes, list[Reason]]]]:
    note = checkpoint()
    text = Checkpoint(ORIGIN, SIZE, TREE.root(SIZE)).text()
    root_line = b64(TREE.root(SIZE))
    signature = note.split("\n\n")[1]
    good: dict[str, str | bytes] = {
        "checkpoint": note,
        "checkpoint-of-the-empty-log": sign_note(
            Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT).text(), [FIRST]
        ),
        "checkpoint-with-an-extension-line": signed_as_is(text + "extension line\n", ROTATED),
        "checkpoint-also-signed-by-an-unknown-key": signed_as_is(text, FOREIGN, ROTATED),
        "checkpoint-signed-by-both-log-keys": signed_as_is(text, FIRST, ROTATED),
        "checkpoint-with-a-delete-character": signed_as_is(text + "\x7f\n", ROTATED),
    }
    bad: dict[str, tuple[str | bytes, list[Reason]]] = {
        "changed-size": (note.replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n"), [Reason.BAD_SIGNATURE]),
        "changed-root": (note.replace(root_line, b64(TREE.root(SIZE - 1))), [Reason.BAD_SIGNATURE]),
        "signed-by-an-unknown-key": (signed_as_is(text, FOREIGN), [Reason.UNKNOWN_KEY]),
        "known-key-hash-under-another-name": (
            text + "\n" + signature_line(ROTATED, text, OTHER_ORIGIN),
            [Reason.UNKNOWN_KEY],
        ),
        "another-origin": (
            sign_note(Checkpoint(OTHER_ORIGIN, SIZE, TREE.root(SIZE)).text(), [ROTATED]),
            [Reason.WRONG_ORIGIN],
        ),
        "no-signature-block": (text, [Reason.MALFORMED_NOTE]),
        "hyphen-for-the-em-dash": (note.replace(EM_DASH, "-"), [Reason.MALFORMED_NOTE]),
        "signature-not-base64": (
            note.replace(signature.split()[-1], "x08go!"),
            [Reason.MALFORMED_NOTE],
        ),
        "signature-shorter-than-a-key-hash": (
            text + f"\n{EM_DASH} {ORIGIN} AAAA\n",
            [Reason.MALFORMED_NOTE],
        ),
        "carriage-return-in-the-text": (
            signed_as_is(text.replace("\n", "\r\n", 1), ROTATED),
            [Reason.MALFORMED_NOTE],
        ),
        "tab-in-the-text": (
            signed_as_is(text + "extension\tline\n", ROTATED),
            [Reason.MALFORMED_NOTE],
        ),
        "escape-in-the-text": (signed_as_is(text + "\x1b[2K\n", ROTATED), [Reason.MALFORMED_NOTE]),
        "carriage-return-in-a-signature-line": (
            note.replace(signature, signature.replace("\n", "\r\n")),
            [Reason.MALFORMED_NOTE],
        ),
        "not-utf-8": (
            note.encode().replace(ORIGIN.encode(), b"test.example/l\xffdger", 1),
            [Reason.MALFORMED_NOTE],
        ),
        "size-not-an-ascii-number": (
            signed_as_is(text.replace(f"\n{SIZE}\n", "\n\u00b9\n"), ROTATED),
            [Reason.MALFORMED_CHECKPOINT],
        ),
        "size-with-a-leading-zero": (
            signed_as_is(text.replace(f"\n{SIZE}\n", f"\n0{SIZE}\n"), ROTATED),
            [Reason.MALFORMED_CHECKPOINT],
        ),
        "root-of-31-bytes": (
            signed_as_is(text.replace(root_line, b64(TREE.root(SIZE)[:31])), ROTATED),
            [Reason.MALFORMED_CHECKPOINT],
        ),
        "no-root-line": (
            signed_as_is(f"{ORIGIN}\n{SIZE}\n", ROTATED),
            [Reason.MALFORMED_CHECKPOINT],
        ),
    }
    return good, bad


# Receipts


def receipt_json(
    seq: int,
    *,
    leaf: bytes | None = None,
    payload_bytes: bytes | None = None,
    withheld: bool = False,
    note: str | None = None,
    inclusion: list[bytes] | None = None,
    keys: list[SigningKey] | None = None,
) -> bytes:
    """A receipt (docs/evidence-format.md section 5) of `seq`, with any member replaced."""
    document = {
        "v": 1,
        "leaf": (leaf or LEAVES[seq]).decode("utf-8"),
        "payload": None if withheld else b64(payload_bytes or payload(seq)),
        "checkpoint": note or checkpoint(),
        "inclusion": [b64(h) for h in (TREE.inclusion(seq) if inclusion is None else inclusion)],
        "keys": [key.verifier_key.line() for key in (keys or [FIRST, ROTATED])],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def edited_receipt(seq: int, **members: object) -> bytes:
    """The receipt of `seq` with members set to any JSON value, of a type or not."""
    document = json.loads(receipt_json(seq))
    document.update(members)
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def flip_first_bit(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x80]) + data[1:]


def bump_recorded_at(leaf: bytes) -> bytes:
    """The leaf with the last digit of its microseconds changed, its signature kept."""
    at = leaf.index(b'Z","seq"') - 1
    return leaf[:at] + str((int(leaf[at : at + 1]) + 1) % 10).encode() + leaf[at + 1 :]


def forged_tree(leaves: dict[int, bytes], size: int) -> Tree:
    """A tree that is not the log's but holds `leaves` at their seqs."""
    return Tree([leaves.get(n, b"not the ledger's leaf %d" % n) for n in range(size)])


def _receipt_cases() -> tuple[Files, dict[str, tuple[bytes, list[Finding], bytes | None]]]:
    proof = TREE.inclusion(4)
    forged = forged_tree({4: LEAVES[4]}, 5)
    forged_note = sign_note(Checkpoint(OTHER_ORIGIN, 5, forged.root(5)).text(), [OTHER])
    good = {
        "receipt-of-the-first-event": receipt_json(0),
        "receipt-of-an-approval": receipt_json(4),
        "receipt-of-the-last-event": receipt_json(SIZE - 1),
        "receipt-with-a-withheld-payload": receipt_json(4, withheld=True),
        "receipt-in-an-older-checkpoint": receipt_json(
            4, note=checkpoint(5), inclusion=TREE.inclusion(4, 5)
        ),
    }
    bad: dict[str, tuple[bytes, list[Finding], bytes | None]] = {
        "changed-payload": (
            receipt_json(4, payload_bytes=payload(4) + b" "),
            [(Reason.PAYLOAD_MISMATCH, "seq 4")],
            None,
        ),
        "changed-leaf": (
            receipt_json(4, leaf=bump_recorded_at(LEAVES[4])),
            [(Reason.BAD_SIGNATURE, "seq 4"), (Reason.BAD_INCLUSION_PROOF, "seq 4")],
            None,
        ),
        "another-events-leaf-and-payload": (
            receipt_json(4, leaf=LEAVES[5], payload_bytes=payload(5)),
            [(Reason.BAD_INCLUSION_PROOF, "seq 5")],
            None,
        ),
        "flipped-proof-hash": (
            receipt_json(4, inclusion=[flip_first_bit(proof[0]), *proof[1:]]),
            [(Reason.BAD_INCLUSION_PROOF, "seq 4")],
            None,
        ),
        "shortened-proof": (
            receipt_json(4, inclusion=proof[:-1]),
            [(Reason.BAD_INCLUSION_PROOF, "seq 4")],
            None,
        ),
        "another-events-proof": (
            receipt_json(4, inclusion=TREE.inclusion(5)),
            [(Reason.BAD_INCLUSION_PROOF, "seq 4")],
            None,
        ),
        "checkpoint-signed-by-an-unknown-key": (
            receipt_json(4, note=checkpoint(key=FOREIGN)),
            [(Reason.UNKNOWN_KEY, "checkpoint")],
            None,
        ),
        "checkpoint-under-another-origin": (
            receipt_json(4, note=checkpoint(origin=OTHER_ORIGIN, key=ROTATED)),
            [(Reason.WRONG_ORIGIN, "checkpoint")],
            None,
        ),
        "checkpoint-too-small-to-hold-the-event": (
            receipt_json(4, note=checkpoint(4)),
            [(Reason.BAD_INCLUSION_PROOF, "seq 4")],
            None,
        ),
        "proved-by-another-trusted-logs-checkpoint": (
            receipt_json(4, note=forged_note, inclusion=forged.inclusion(4, 5)),
            [(Reason.WRONG_ORIGIN, "seq 4")],
            keys_file(FIRST, ROTATED, OTHER),
        ),
        "not-json": (b'{"v": 1, "leaf": \n', [(Reason.MALFORMED_RECEIPT, "receipt")], None),
        "version-2": (
            receipt_json(4).replace(b'"v": 1', b'"v": 2'),
            [(Reason.MALFORMED_RECEIPT, "receipt")],
            None,
        ),
        "proof-hash-not-base64": (
            receipt_json(4).replace(b64(proof[0]).encode(), b"not base64!"),
            [(Reason.MALFORMED_RECEIPT, "receipt")],
            None,
        ),
        "not-utf-8": (
            not_utf_8(receipt_json(4), b"Approval"),
            [(Reason.MALFORMED_RECEIPT, "receipt")],
            None,
        ),
        "checkpoint-not-a-text": (
            edited_receipt(4, checkpoint=SIZE),
            [(Reason.MALFORMED_RECEIPT, "receipt")],
            None,
        ),
        "keys-not-texts": (
            edited_receipt(4, keys=[1]),
            [(Reason.MALFORMED_RECEIPT, "receipt")],
            None,
        ),
        "checkpoint-with-a-lone-surrogate": (
            receipt_json(4).replace(
                f'"checkpoint": "{ORIGIN}'.encode(), f'"checkpoint": "{ORIGIN}\\ud800'.encode()
            ),
            [(Reason.MALFORMED_NOTE, "checkpoint")],
            None,
        ),
    }
    return good, bad


# Bundles


# A file name and its lines (without their newlines), or its exact bytes.
Bundle = dict[str, list[bytes] | bytes]


def _payload_line(seq: int, data: bytes | None = None) -> bytes:
    document = {"seq": seq, "payload": b64(payload(seq) if data is None else data)}
    return json.dumps(document, separators=(",", ":")).encode()


def _proof_line(seq: int, proof: list[bytes]) -> bytes:
    return json.dumps(
        {"seq": seq, "inclusion": [b64(h) for h in proof]}, separators=(",", ":")
    ).encode()


def full_bundle() -> Bundle:
    return {
        "checkpoint": checkpoint().encode().splitlines(),
        "keys": keys_file(FIRST, ROTATED).splitlines(),
        "entries.jsonl": list(LEAVES),
        "payloads.jsonl": [_payload_line(seq) for seq in range(SIZE)],
    }


def subset_bundle(seqs: list[int] = AARHUS_SEQS) -> Bundle:
    return {
        **full_bundle(),
        "entries.jsonl": [LEAVES[seq] for seq in seqs],
        "proofs.jsonl": [_proof_line(seq, TREE.inclusion(seq)) for seq in seqs],
        "payloads.jsonl": [_payload_line(seq) for seq in seqs],
    }


def changed(bundle: Bundle, name: str, change: Callable[[list[bytes]], list[bytes]]) -> Bundle:
    lines = bundle[name]
    assert isinstance(lines, list)
    return {**bundle, name: change(list(lines))}


def at(index: int, change: Callable[[bytes], bytes]) -> Callable[[list[bytes]], list[bytes]]:
    def apply(lines: list[bytes]) -> list[bytes]:
        lines[index] = change(lines[index])
        return lines

    return apply


def without(index: int) -> Callable[[list[bytes]], list[bytes]]:
    return lambda lines: lines[:index] + lines[index + 1 :]


def swapped(first: int, second: int) -> Callable[[list[bytes]], list[bytes]]:
    def apply(lines: list[bytes]) -> list[bytes]:
        lines[first], lines[second] = lines[second], lines[first]
        return lines

    return apply


def with_checkpoint(bundle: Bundle, note: str) -> Bundle:
    return {**bundle, "checkpoint": note.encode().splitlines()}


def _changed_payload(line: bytes) -> bytes:
    seq = json.loads(line)["seq"]
    return _payload_line(seq, payload(seq) + b" ")


def _flipped_proof(line: bytes) -> bytes:
    document = json.loads(line)
    proof = [base64.b64decode(h) for h in document["inclusion"]]
    return _proof_line(document["seq"], [flip_first_bit(proof[0]), *proof[1:]])


def not_utf_8(data: bytes, word: bytes) -> bytes:
    """`data` with the second byte of the first `word` in it replaced by 0xFF, which UTF-8
    never holds."""
    at = data.index(word) + 1
    return data[:at] + b"\xff" + data[at + 1 :]


def entry(line: int, seq: int) -> str:
    return f"entry {line} (seq {seq})"


def _bundle_cases() -> tuple[
    dict[str, Bundle], dict[str, tuple[Bundle, list[Finding], bytes | None]]
]:
    full, subset = full_bundle(), subset_bundle()
    other_log = forged_tree({seq: LEAVES[seq] for seq in AARHUS_SEQS}, AARHUS_SEQS[-1] + 1)
    other_size = AARHUS_SEQS[-1] + 1
    other_note = sign_note(
        Checkpoint(OTHER_ORIGIN, other_size, other_log.root(other_size)).text(), [OTHER]
    )
    good = {
        "full": full,
        "subset": subset,
        "full-with-a-withheld-payload": changed(full, "payloads.jsonl", without(4)),
        "subset-with-a-cleanly-dropped-entry": subset_bundle([1, 5, 7]),
        "subset-of-one-entry": subset_bundle([8]),
    }
    # Full bundle: line i + 1 holds seq i; the changes are at seq 4 (line 5).
    bad: dict[str, tuple[Bundle, list[Finding], bytes | None]] = {
        "full-changed-entry": (
            changed(full, "entries.jsonl", at(4, bump_recorded_at)),
            [
                (Reason.BAD_SIGNATURE, entry(5, 4)),
                (Reason.BROKEN_CHAIN, entry(6, 5)),
                (Reason.ROOT_MISMATCH, "entries.jsonl"),
            ],
            None,
        ),
        "full-missing-entry": (
            changed(full, "entries.jsonl", without(4)),
            [
                *((Reason.SEQ_MISMATCH, entry(line, line)) for line in range(5, SIZE)),
                (
                    Reason.BROKEN_CHAIN,
                    entry(5, 5),
                ),  # line 5 now holds seq 5, whose prev names seq 4
                (Reason.ORPHAN_PAYLOAD, "payload of seq 4"),
                (Reason.SIZE_MISMATCH, "entries.jsonl"),
                (Reason.ROOT_MISMATCH, "entries.jsonl"),
            ],
            None,
        ),
        "full-reordered-pair-of-entries": (
            changed(full, "entries.jsonl", swapped(4, 5)),
            [
                (Reason.SEQ_MISMATCH, entry(5, 5)),
                (Reason.SEQ_MISMATCH, entry(6, 4)),
                (Reason.BROKEN_CHAIN, entry(5, 5)),
                (Reason.BROKEN_CHAIN, entry(6, 4)),
                (Reason.BROKEN_CHAIN, entry(7, 6)),
                (Reason.ORPHAN_PAYLOAD, "payload of seq 4"),  # passed by when seq 5 comes first
                (Reason.ROOT_MISMATCH, "entries.jsonl"),
            ],
            None,
        ),
        "full-changed-payload": (
            changed(full, "payloads.jsonl", at(4, _changed_payload)),
            [(Reason.PAYLOAD_MISMATCH, entry(5, 4))],
            None,
        ),
        "full-checkpoint-signed-by-an-unknown-key": (
            with_checkpoint(full, checkpoint(key=FOREIGN)),
            [(Reason.UNKNOWN_KEY, "checkpoint")],
            None,
        ),
        "full-checkpoint-under-another-origin": (
            with_checkpoint(full, checkpoint(origin=OTHER_ORIGIN, key=ROTATED)),
            [(Reason.WRONG_ORIGIN, "checkpoint")],
            None,
        ),
        "full-checkpoint-of-an-earlier-size": (
            with_checkpoint(full, checkpoint(SIZE - 2)),
            [(Reason.SIZE_MISMATCH, "entries.jsonl"), (Reason.ROOT_MISMATCH, "entries.jsonl")],
            None,
        ),
        "full-first-leaf-not-chained-to-zeros": (
            changed(full, "entries.jsonl", at(0, lambda _: make_leaf(0, "1" * 64))),
            [
                (Reason.BROKEN_CHAIN, entry(1, 0)),
                (Reason.BROKEN_CHAIN, entry(2, 1)),
                (Reason.ROOT_MISMATCH, "entries.jsonl"),
            ],
            None,
        ),
        "full-payloads-out-of-order": (
            changed(full, "payloads.jsonl", swapped(4, 5)),
            [(Reason.OUT_OF_ORDER, "payload line 6")],
            None,
        ),
        "full-malformed-payload-line": (
            changed(full, "payloads.jsonl", at(4, lambda _: b'{"seq":4}')),
            [(Reason.MALFORMED_PAYLOAD, "payload line 5")],
            None,
        ),
        "full-entries-without-a-final-newline": (
            {**full, "entries.jsonl": b"\n".join(LEAVES)},
            [(Reason.MALFORMED_BUNDLE, "bundle")],
            None,
        ),
        "full-without-a-checkpoint": (
            {name: lines for name, lines in full.items() if name != "checkpoint"},
            [(Reason.MISSING_FILE, "bundle")],
            None,
        ),
        # A file that is not UTF-8 is reported as what it holds, and the check goes on.
        "full-checkpoint-not-utf-8": (
            {**full, "checkpoint": not_utf_8(checkpoint().encode(), ORIGIN.encode())},
            [(Reason.MALFORMED_NOTE, "checkpoint")],
            None,
        ),
        "full-entry-not-utf-8": (
            changed(full, "entries.jsonl", at(4, lambda leaf: not_utf_8(leaf, b"Approval"))),
            [
                (Reason.MALFORMED_LEAF, "entry 5"),
                # seq 5 chains onto a leaf that is not there to read
                (Reason.BROKEN_CHAIN, entry(6, 5)),
                (Reason.ORPHAN_PAYLOAD, "payload of seq 4"),
                (Reason.ROOT_MISMATCH, "entries.jsonl"),
            ],
            None,
        ),
        "full-payload-line-not-utf-8": (
            changed(full, "payloads.jsonl", at(4, lambda line: not_utf_8(line, b"payload"))),
            [(Reason.MALFORMED_PAYLOAD, "payload line 5")],
            None,
        ),
        # Subset bundle for Aarhus: lines 1-4 hold seqs 1, 4, 5, 7; the changes are at seq 4.
        "subset-changed-entry": (
            changed(subset, "entries.jsonl", at(1, bump_recorded_at)),
            [
                (Reason.BAD_SIGNATURE, entry(2, 4)),
                (Reason.BAD_INCLUSION_PROOF, entry(2, 4)),
                (Reason.BROKEN_CHAIN, entry(3, 5)),
            ],
            None,
        ),
        "subset-missing-entry": (
            changed(subset, "entries.jsonl", without(1)),
            [
                (Reason.PROOF_MISMATCH, entry(2, 5)),
                (Reason.PROOF_MISMATCH, entry(3, 7)),
                (Reason.ORPHAN_PROOF, "proofs.jsonl"),
                (Reason.ORPHAN_PAYLOAD, "payload of seq 4"),
            ],
            None,
        ),
        "subset-reordered-pair-of-entries": (
            changed(subset, "entries.jsonl", swapped(1, 2)),
            [
                (Reason.PROOF_MISMATCH, entry(2, 5)),
                (Reason.OUT_OF_ORDER, entry(3, 4)),
                (Reason.PROOF_MISMATCH, entry(3, 4)),
                (Reason.ORPHAN_PAYLOAD, "payload of seq 4"),
            ],
            None,
        ),
        "subset-reordered-pair-of-entries-with-their-proofs": (
            changed(changed(subset, "entries.jsonl", swapped(1, 2)), "proofs.jsonl", swapped(1, 2)),
            [(Reason.OUT_OF_ORDER, entry(3, 4)), (Reason.ORPHAN_PAYLOAD, "payload of seq 4")],
            None,
        ),
        "subset-wrong-proof": (
            changed(subset, "proofs.jsonl", at(1, _flipped_proof)),
            [(Reason.BAD_INCLUSION_PROOF, entry(2, 4))],
            None,
        ),
        "subset-proof-of-another-entry": (
            changed(subset, "proofs.jsonl", at(1, lambda _: _proof_line(4, TREE.inclusion(5)))),
            [(Reason.BAD_INCLUSION_PROOF, entry(2, 4))],
            None,
        ),
        "subset-changed-payload": (
            changed(subset, "payloads.jsonl", at(1, _changed_payload)),
            [(Reason.PAYLOAD_MISMATCH, entry(2, 4))],
            None,
        ),
        "subset-checkpoint-signed-by-an-unknown-key": (
            with_checkpoint(subset, checkpoint(key=FOREIGN)),
            [(Reason.UNKNOWN_KEY, "checkpoint")],
            None,
        ),
        "subset-checkpoint-under-another-origin": (
            with_checkpoint(subset, checkpoint(origin=OTHER_ORIGIN, key=ROTATED)),
            [(Reason.WRONG_ORIGIN, "checkpoint")],
            None,
        ),
        "subset-checkpoint-of-an-earlier-size": (
            with_checkpoint(subset, checkpoint(SIZE - 2)),
            [
                (Reason.BAD_INCLUSION_PROOF, entry(line, seq))
                for line, seq in enumerate(AARHUS_SEQS, 1)
            ],
            None,
        ),
        "subset-malformed-proof-line": (
            changed(subset, "proofs.jsonl", at(1, lambda _: b'{"seq":4,"inclusion":"AAAA"}')),
            [(Reason.MALFORMED_PROOF, entry(2, 4))],
            None,
        ),
        "subset-missing-proof-line": (
            changed(subset, "proofs.jsonl", without(3)),
            [(Reason.MISSING_PROOF, entry(4, 7))],
            None,
        ),
        "subset-proof-line-not-utf-8": (
            changed(subset, "proofs.jsonl", at(1, lambda line: not_utf_8(line, b"inclusion"))),
            [(Reason.MALFORMED_PROOF, entry(2, 4))],
            None,
        ),
        "subset-proved-by-another-trusted-logs-checkpoint": (
            {
                **with_checkpoint(subset, other_note),
                "proofs.jsonl": [
                    _proof_line(seq, other_log.inclusion(seq, other_size)) for seq in AARHUS_SEQS
                ],
            },
            [(Reason.WRONG_ORIGIN, entry(line, seq)) for line, seq in enumerate(AARHUS_SEQS, 1)],
            keys_file(FIRST, ROTATED, OTHER),
        ),
    }
    return good, bad


def _bundle_files(path: str, bundle: Bundle) -> Files:
    return {
        f"{path}/{name}": lines
        if isinstance(lines, bytes)
        else b"".join(line + b"\n" for line in lines)
        for name, lines in bundle.items()
    }


KEPT_SIZE = 6  # the size of the checkpoint of the bundles an auditor kept, below


def kept_bundle(size: int = KEPT_SIZE) -> Bundle:
    """The full bundle of the log's first `size` leaves, as an auditor kept it earlier."""
    return {
        "checkpoint": checkpoint(size).encode().splitlines(),
        "keys": keys_file(FIRST, ROTATED).splitlines(),
        "entries.jsonl": LEAVES[:size],
        "payloads.jsonl": [_payload_line(seq) for seq in range(size)],
    }


def consistency_line(size: int, root: bytes, proof: list[bytes]) -> bytes:
    document = {"size": size, "root": b64(root), "consistency": [b64(h) for h in proof]}
    return json.dumps(document, separators=(",", ":")).encode()


def _since_bundle_cases() -> tuple[
    dict[str, tuple[Bundle, Bundle]], dict[str, tuple[Bundle, Bundle, list[Finding]]]
]:
    """Bundles checked since a bundle the auditor kept (`bundles/kept/<name>/`): the proof
    from the kept checkpoint of six leaves to the log's of nine, and the ways it fails."""
    proof = merkle.consistency_proof(KEPT_SIZE, SIZE, TREE.read)
    line = consistency_line(KEPT_SIZE, TREE.root(KEPT_SIZE), proof)
    kept = kept_bundle()
    # Another history of six leaves, signed with the log's real key: a fork.
    forked_root = forged_tree({}, KEPT_SIZE).root(KEPT_SIZE)
    forked_kept: Bundle = {
        "checkpoint": sign_note(Checkpoint(ORIGIN, KEPT_SIZE, forked_root).text(), [FIRST])
        .encode()
        .splitlines(),
        "keys": keys_file(FIRST, ROTATED).splitlines(),
    }
    full = full_bundle()
    where = "consistency.json"
    good = {
        "full-bundle-since-a-kept-bundle-of-six": ({**full, where: [line]}, kept),
        "subset-bundle-since-a-kept-bundle-of-six": ({**subset_bundle(), where: [line]}, kept),
    }
    bad = {
        "full-bundle-since-a-kept-bundle-of-another-history": (
            {**full, where: [line]},
            forked_kept,
            [(Reason.INCONSISTENT_WITH_KEPT, where)],
        ),
        "full-bundle-whose-proof-does-not-lead-from-the-kept-root": (
            {**full, where: [consistency_line(KEPT_SIZE, forked_root, proof)]},
            forked_kept,
            [(Reason.INCONSISTENT_WITH_KEPT, where)],
        ),
        "full-bundle-since-a-kept-bundle-without-a-consistency-proof": (
            full,
            kept,
            [(Reason.INCONSISTENT_WITH_KEPT, where)],
        ),
        "full-bundle-older-than-the-kept-bundle": (
            kept,
            full,
            [(Reason.KEPT_CHECKPOINT_NEWER, where)],
        ),
    }
    return good, bad


def _cosignature_cases() -> tuple[
    dict[str, tuple[str, list[Cosigner]]], dict[str, tuple[str, Cosigner]]
]:
    """Cosigned checkpoints: the good ones with the trusted witnesses whose cosignatures
    hold, the bad ones with the trusted witness whose line must be refused."""
    note = checkpoint()
    text = note.split("\n\n")[0] + "\n"
    smaller = checkpoint(SIZE - 1).split("\n\n")[0] + "\n"

    def line(witness: Cosigner, over: str = text, at: int = COSIGNED_AT) -> str:
        return witness.cosign(over, at).line

    genuine = line(W1)
    prefix, name, encoded = genuine.rstrip("\n").split(" ")
    blob = base64.b64decode(encoded)
    retimed = blob[:4] + (COSIGNED_AT + 1).to_bytes(8, "big") + blob[12:]
    as_a_log_signature = blob[:4] + blob[4:12] + W1.private_key.sign(text.encode())
    good = {
        "cosigned-by-one-witness": (note + genuine, [W1]),
        "cosigned-by-two-witnesses": (note + genuine + line(W2), [W1, W2]),
        "cosigned-also-by-an-unknown-witness": (note + line(W3) + genuine, [W1]),
        "not-cosigned": (note, []),
    }
    bad = {
        "cosignature-over-another-checkpoint": (note + line(W1, smaller), W1),
        "cosignature-with-another-time": (note + f"{prefix} {name} {b64(retimed)}\n", W1),
        "cosignature-cut-short": (note + f"{prefix} {name} {b64(blob[:-1])}\n", W1),
        "cosignature-signing-the-text-alone": (
            note + f"{prefix} {name} {b64(as_a_log_signature)}\n",
            W1,
        ),
    }
    return good, bad


def _cosigned_bundle_cases() -> tuple[dict[str, Bundle], dict[str, tuple[Bundle, list[Finding]]]]:
    """Full bundles whose checkpoint carries cosignatures, each checked trusting the
    witnesses of `keys/trusted.witnesses` with the quorum of all of them (two)."""
    note = checkpoint()
    text = note.split("\n\n")[0] + "\n"
    smaller = checkpoint(SIZE - 1).split("\n\n")[0] + "\n"
    w1, w2 = (witness.cosign(text, COSIGNED_AT).line for witness in (W1, W2))
    moved = W1.cosign(smaller, COSIGNED_AT).line
    below = [(Reason.QUORUM_NOT_MET, "checkpoint")]
    good = {
        "full-bundle-cosigned-by-the-trusted-witnesses": with_checkpoint(
            full_bundle(), note + w1 + w2
        )
    }
    bad = {
        "full-bundle-cosigned-below-the-quorum": (with_checkpoint(full_bundle(), note + w1), below),
        "full-bundle-with-a-cosignature-over-another-checkpoint": (
            with_checkpoint(full_bundle(), note + moved + w2),
            [(Reason.BAD_COSIGNATURE, "checkpoint"), *below],
        ),
    }
    return good, bad


def vectors() -> Files:
    """Every file of the written directories, by its path below tests/vectors."""
    files: Files = {f"keys/TEST-KEY-{label}.pem": pem(key) for label, key in KEYS.items()}
    files[TRUSTED_KEYS] = keys_file(FIRST, ROTATED)
    good_leaves, bad_leaves = _leaf_cases()
    for name, leaf in good_leaves.items():
        files[f"leaves/good/{name}.leaf"] = leaf
    for name, (leaf, codes) in bad_leaves.items():
        files[f"leaves/bad/{name}.leaf"] = leaf
        files[f"leaves/bad/{name}.reasons"] = reasons([(code, "") for code in codes])
    good_notes, bad_notes = _note_cases()
    for name, note in good_notes.items():
        files[f"notes/good/{name}.note"] = note.encode() if isinstance(note, str) else note
    for name, (note, codes) in bad_notes.items():
        files[f"notes/bad/{name}.note"] = note.encode() if isinstance(note, str) else note
        files[f"notes/bad/{name}.reasons"] = reasons([(code, "") for code in codes])
    for witness in (W1, W2, W3):
        signing = SigningKey(witness.name, witness.private_key)
        files[f"keys/TEST-WITNESS-{witness.name.rsplit('/', 1)[1]}.pem"] = pem(signing)
    files[TRUSTED_WITNESSES] = "".join(f"{w.key.line()}\n" for w in (W1, W2)).encode()
    good_cosigned, bad_cosigned = _cosignature_cases()
    for name, (note, witnesses) in good_cosigned.items():
        files[f"cosignatures/good/{name}.note"] = note.encode()
        cosigned = "".join(f"{w.name} {COSIGNED_AT}\n" for w in witnesses)
        files[f"cosignatures/good/{name}.cosigned"] = cosigned.encode()
    for name, (note, witness) in bad_cosigned.items():
        files[f"cosignatures/bad/{name}.note"] = note.encode()
        files[f"cosignatures/bad/{name}.refused"] = f"{witness.name}\n".encode()
    good_receipts, bad_receipts = _receipt_cases()
    for name, receipt in good_receipts.items():
        files[f"receipts/good/{name}.json"] = receipt
    for name, (receipt, findings, trusted) in bad_receipts.items():
        files[f"receipts/bad/{name}.json"] = receipt
        files[f"receipts/bad/{name}.reasons"] = reasons(findings)
        if trusted is not None:
            files[f"receipts/bad/{name}.keys"] = trusted
    trusted_witnesses = files[TRUSTED_WITNESSES]
    good_cosigned_bundles, bad_cosigned_bundles = _cosigned_bundle_cases()
    for name, bundle in good_cosigned_bundles.items():
        files.update(_bundle_files(f"bundles/good/{name}", bundle))
        files[f"bundles/good/{name}.witnesses"] = trusted_witnesses
    for name, (bundle, findings) in bad_cosigned_bundles.items():
        files.update(_bundle_files(f"bundles/bad/{name}", bundle))
        files[f"bundles/bad/{name}.reasons"] = reasons(findings)
        files[f"bundles/bad/{name}.witnesses"] = trusted_witnesses
    good_since, bad_since = _since_bundle_cases()
    for name, (bundle, kept) in good_since.items():
        files.update(_bundle_files(f"bundles/good/{name}", bundle))
        files.update(_bundle_files(f"bundles/kept/{name}", kept))
    for name, (bundle, kept, findings) in bad_since.items():
        files.update(_bundle_files(f"bundles/bad/{name}", bundle))
        files.update(_bundle_files(f"bundles/kept/{name}", kept))
        files[f"bundles/bad/{name}.reasons"] = reasons(findings)
    good_bundles, bad_bundles = _bundle_cases()
    for name, bundle in good_bundles.items():
        files.update(_bundle_files(f"bundles/good/{name}", bundle))
    for name, (bundle, findings, trusted) in bad_bundles.items():
        files.update(_bundle_files(f"bundles/bad/{name}", bundle))
        files[f"bundles/bad/{name}.reasons"] = reasons(findings)
        if trusted is not None:
            files[f"bundles/bad/{name}.keys"] = trusted
    return files


def on_disk(root: Path = HERE) -> Files:
    """The files of the written directories as they are now."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for directory in WRITTEN
        for path in sorted((root / directory).rglob("*"))
        if path.is_file()
    }


def write(root: Path = HERE) -> None:
    """Make the written directories hold exactly `vectors()`."""
    wanted = vectors()
    for stale in on_disk(root).keys() - wanted.keys():
        (root / stale).unlink()
    for relative, data in wanted.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    for directory in sorted((p for d in WRITTEN for p in (root / d).rglob("*")), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


if __name__ == "__main__":
    write()
