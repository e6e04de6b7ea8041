"""The reason codes of the evidence checks: every way a leaf, a stored row, a checkpoint, a
bundle or a receipt can fail, each with what it means.

The values are the contract (docs/evidence-format.md section 7): `ledger verify` prints
them, its `--json` output carries them, and an auditor's own tool may compare against them,
so a value never changes once released. A member is its value wherever a string is expected
(`Reason.BAD_SIGNATURE == "bad-signature"`, and it is written as that in JSON).
"""

from enum import StrEnum


class Reason(StrEnum):
    """Why a piece of evidence does not hold, with a one-line `meaning` for people."""

    meaning: str

    def __new__(cls, code: str, meaning: str) -> "Reason":
        member = str.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    # A leaf on its own.
    MALFORMED_LEAF = (
        "malformed-leaf",
        "a leaf that is not a JSON object of exactly the v1 members and their types, or "
        "whose signature is missing or not base64",
    )
    NON_CANONICAL_LEAF = (
        "non-canonical-leaf",
        "a leaf, or the base64 of its signature, that is not in its one canonical form",
    )
    UNKNOWN_VERSION = "unknown-version", "a leaf whose `v` is not 1"
    BAD_SIGNATURE = (
        "bad-signature",
        "a signature of a leaf or a checkpoint that does not verify with the key it names",
    )
    UNKNOWN_KEY = (
        "unknown-key",
        "a leaf whose `kid` names no trusted key, or a checkpoint no trusted key signed",
    )
    # The order of the leaves.
    BROKEN_CHAIN = (
        "broken-chain",
        "a leaf whose `prev` is not the hash of the leaf before it (64 zeros at seq 0)",
    )
    SEQ_GAP = "seq-gap", "no leaf has the seq numbers between two stored leaves"
    SEQ_MISMATCH = (
        "seq-mismatch",
        "a leaf whose `seq` is not its place: its stored row, or its line of a full bundle",
    )
    SEQ_OUT_OF_RANGE = "seq-out-of-range", "a leaf stored below seq 0, outside the log"
    OUT_OF_ORDER = (
        "out-of-order",
        "a subset bundle's entries, or a bundle's payloads, not in increasing seq",
    )
    DUPLICATE_LEAF = "duplicate-leaf", "a second leaf for an event that already has one"
    # A leaf and the stored event it stands for.
    ORPHAN_LEAF = "orphan-leaf", "a stored leaf whose event is not stored"
    MISSING_LEAF = "missing-leaf", "a stored event without a leaf"
    LEAF_MISMATCH = (
        "leaf-mismatch",
        "a leaf that names another aggregate id or version than the event stored with it",
    )
    LEAF_HASH_MISMATCH = (
        "leaf-hash-mismatch",
        "a stored `leaf_hash` that is not the SHA-256 of its leaf",
    )
    TOPIC_MISMATCH = "topic-mismatch", "an event whose stored topic is not its leaf's `topic`"
    RECORDED_AT_MISMATCH = (
        "recorded-at-mismatch",
        "a leaf whose stored time is not its `recorded_at`",
    )
    VERSION_GAP = "version-gap", "an aggregate whose stored versions are not 1, 2, 3, ..."
    # Payloads.
    PAYLOAD_MISMATCH = (
        "payload-mismatch",
        "a payload that does not hash to its leaf's `payload_sha256`, or a stored event "
        "without one",
    )
    MALFORMED_PAYLOAD = (
        "malformed-payload",
        'a line of `payloads.jsonl` that is not `{"seq": n, "payload": base64}`',
    )
    ORPHAN_PAYLOAD = "orphan-payload", "a payload for a seq that no entry has"
    # Checkpoints and keys.
    MALFORMED_NOTE = "malformed-note", "a checkpoint that is not a C2SP signed note"
    MALFORMED_CHECKPOINT = (
        "malformed-checkpoint",
        "a signed note whose text is not a checkpoint: origin, decimal size, 32-byte root",
    )
    WRONG_ORIGIN = (
        "wrong-origin",
        "a checkpoint of another log than the keys name, or a leaf signed for another log "
        "than the checkpoint's",
    )
    MALFORMED_KEYS = (
        "malformed-keys",
        "a verifier key line that does not follow the format, or whose key hash is not its key's",
    )
    ROOT_MISMATCH = (
        "root-mismatch",
        "the entries of a full bundle do not hash to its checkpoint's root",
    )
    SIZE_MISMATCH = (
        "size-mismatch",
        "a full bundle with more or fewer entries than its checkpoint counts",
    )
    # The checkpoints stored in the database.
    CHECKPOINT_MISMATCH = (
        "checkpoint-mismatch",
        "the newest stored checkpoint's note names another size than it is stored under",
    )
    CHECKPOINT_ROOT_MISMATCH = (
        "checkpoint-root-mismatch",
        "a stored checkpoint whose root is not the root of the stored leaves it counts",
    )
    CHECKPOINT_MALFORMED_NOTE = (
        "checkpoint-malformed-note",
        "the newest stored checkpoint is not a signed note",
    )
    CHECKPOINT_MALFORMED_CHECKPOINT = (
        "checkpoint-malformed-checkpoint",
        "the newest stored checkpoint's text is not a checkpoint",
    )
    CHECKPOINT_BAD_SIGNATURE = (
        "checkpoint-bad-signature",
        "a signature of the newest stored checkpoint does not verify",
    )
    CHECKPOINT_UNKNOWN_KEY = (
        "checkpoint-unknown-key",
        "no trusted key signed the newest stored checkpoint",
    )
    # The witnesses' cosignatures of a bundle's or receipt's checkpoint, when the verifier
    # is given the witnesses it trusts and a quorum.
    BAD_COSIGNATURE = (
        "bad-cosignature",
        "a cosignature line of a trusted witness that does not verify over the checkpoint",
    )
    QUORUM_NOT_MET = (
        "quorum-not-met",
        "a checkpoint cosigned by fewer of the trusted witnesses than the quorum asks",
    )
    # The timestamp authority's token of a bundle's or receipt's checkpoint, when the
    # verifier is given the TSA trust anchors it holds.
    MALFORMED_TIMESTAMP = (
        "malformed-timestamp",
        "a timestamp token that is not a DER TimeStampToken, or a TSA reply not granted",
    )
    TIMESTAMP_MISMATCH = (
        "timestamp-mismatch",
        "a timestamp token over other bytes than its checkpoint's log-signed note (or, to the "
        "log, one answering another nonce or policy than its request's)",
    )
    TIMESTAMP_UNTRUSTED = (
        "timestamp-untrusted",
        "a timestamp token whose signature or certificate chain does not hold with the trusted "
        "TSA anchors, or whose TSA certificate lacks the critical timeStamping usage",
    )
    MALFORMED_POLICY = (
        "malformed-policy",
        "a bundle's `witnesses`, `witness-quorum` or `tsa-roots.pem` that cannot be read as "
        "witness keys, a quorum of them, or PEM certificates",
    )
    # Inclusion proofs of subset bundles and receipts.
    BAD_INCLUSION_PROOF = (
        "bad-inclusion-proof",
        "an inclusion proof that does not lead from its leaf to the checkpoint's root",
    )
    MALFORMED_PROOF = (
        "malformed-proof",
        'a line of `proofs.jsonl` that is not `{"seq": n, "inclusion": [base64]}`',
    )
    MISSING_PROOF = "missing-proof", "an entry of a subset bundle without its proof line"
    ORPHAN_PROOF = "orphan-proof", "more lines in `proofs.jsonl` than entries"
    PROOF_MISMATCH = "proof-mismatch", "a proof line for another seq than its entry's"
    # Bundles and receipts that cannot be read at all.
    MISSING_FILE = "missing-file", "a bundle without its `checkpoint` or `keys` file"
    MALFORMED_BUNDLE = (
        "malformed-bundle",
        "neither a directory nor a zip, or a file too large or with a line too long or unended",
    )
    MALFORMED_RECEIPT = (
        "malformed-receipt",
        "a receipt that is not a JSON object of version 1 with its members",
    )
    # The documents the payloads name, in the data directory.
    DOCUMENT_MISSING = "document-missing", "a document a payload names is not stored"
    DOCUMENT_MISMATCH = (
        "document-mismatch",
        "a stored document that no longer hashes to the value a payload names",
    )
    # Personal data of version 2 payloads, and its erasure (section 10).
    COMMITMENT_MISMATCH = (
        "commitment-mismatch",
        "a stored or bundled opening of a personal value that does not open its commitment",
    )
    PERSONAL_DATA_MISSING = (
        "personal-data-missing",
        "a committed personal value without its opening, and no erasure event that erased it",
    )
    ERASURE_INCOMPLETE = (
        "erasure-incomplete",
        "an erasure event naming a personal value, payload or document that is still stored",
    )
    ERASURE_RECORD_MISMATCH = (
        "erasure-record-mismatch",
        "a row of ledger_personal_erased_by_time that differs from its erasure event or stands "
        "for none, or an erasure by time that took openings without its row",
    )
    ERASED_DATA_READABLE = (
        "erased-data-readable",
        "erased personal data still readable elsewhere: a person's UUID in the search index, "
        "a document in the documents directory",
    )
    # The auditors' search index (derived data, never evidence).
    INDEX_GAP = "index-gap", "a logged event without a row in the search index"
    INDEX_MISMATCH = (
        "index-mismatch",
        "a search index row that differs from its event, or stands for no event",
    )
    # What an auditor kept.
    TRUNCATED = (
        "truncated",
        "the log holds fewer leaves than a stored or kept checkpoint counts",
    )
    REWRITTEN_HISTORY = (
        "rewritten-history",
        "the log no longer holds the leaves a kept checkpoint or bundle holds",
    )
    INCONSISTENT_WITH_KEPT = (
        "inconsistent-with-kept",
        "a bundle whose checkpoint does not extend the checkpoint of a bundle the auditor kept: "
        "its consistency proof is missing, malformed, from another tree, or does not lead "
        "from the kept root to its own",
    )
    KEPT_CHECKPOINT_NEWER = (
        "kept-checkpoint-newer",
        "a bundle whose checkpoint counts fewer leaves than that of a bundle the auditor kept",
    )


_BY_CODE = {member.value: member for member in Reason}

# The reason a stored checkpoint is reported under, for each way `open_checkpoint` fails it.
STORED_CHECKPOINT = {
    Reason.MALFORMED_NOTE: Reason.CHECKPOINT_MALFORMED_NOTE,
    Reason.MALFORMED_CHECKPOINT: Reason.CHECKPOINT_MALFORMED_CHECKPOINT,
    Reason.BAD_SIGNATURE: Reason.CHECKPOINT_BAD_SIGNATURE,
    Reason.UNKNOWN_KEY: Reason.CHECKPOINT_UNKNOWN_KEY,
}


def reason(code: str) -> Reason:
    """The member whose value is `code` (KeyError for a code that is none), for codes that
    arrive as text: a test vector's expected findings, an auditor's saved report."""
    return _BY_CODE[code]


def reason_table() -> str:
    """The Markdown table of every code and its meaning, as docs/evidence-format.md shows
    it (a test holds the page to it)."""
    rows = [f"| `{member.value}` | {member.meaning} |" for member in Reason]
    return "\n".join(["| code | meaning |", "|---|---|", *rows]) + "\n"
