"""Leaves (docs/evidence-format.md section 1): one signed, chained JSON line per stored event."""

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.evidence.canonical import canonical_json
from ledger.evidence.keys import Signer, VerifierKey
from ledger.evidence.reasons import Reason

FORMAT_VERSION = 1
GENESIS_PREV = "0" * 64
_SIG_MEMBER = b',"sig":"'
_MAX_EXACT_INT = 2**53 - 1
_AFTER_SIG = b',"topic":'
_MEMBERS = {
    "v": int,
    "seq": int,
    "originator_id": str,
    "originator_version": int,
    "topic": str,
    "payload_sha256": str,
    "prev": str,
    "recorded_at": str,
    "kid": str,
}

# The fast path of `parse_leaf`: a leaf that is exactly the RFC 8785 encoding of printable
# ASCII strings (nothing to escape), integers of at most 15 digits (below 2**53, no leading
# zeros, no "-0"), `v` 1 and a 64-byte signature in 88 base64 characters. Such bytes are
# their own canonical form, so matching them is the whole form check (about 4 us a leaf
# against 17 us for parsing and re-encoding); anything else (escapes, non-ASCII, big
# integers, other order or spacing) goes through the full parser, which names the reason.
# The signature's last character before `==` holds 2 bits of it and 4 padding bits, which
# standard base64 leaves zero: one of A, Q, g, w.
_STRING = r'"([\x20\x21\x23-\x5b\x5d-\x7e]*)"'
_INTEGER = r"(0|-?[1-9][0-9]{0,14})"
_CANONICAL_LEAF = re.compile(
    (
        r'\{"kid":<S>,"originator_id":<S>,"originator_version":<I>,"payload_sha256":<S>,'
        r'"prev":<S>,"recorded_at":<S>,"seq":<I>,"sig":"(?P<sig>[A-Za-z0-9+/]{85}[AQgw]==)",'
        r'"topic":<S>,"v":1\}'
    )
    .replace("<S>", _STRING)
    .replace("<I>", _INTEGER),
    re.ASCII,
)


class LeafError(ValueError):
    """A leaf that cannot be trusted, with the verifier's reason code."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def rfc3339(moment: datetime) -> str:
    """`2026-11-29T07:15:02.123456Z`: UTC with microseconds, as leaves record time (a
    four-digit year also before 1000; OverflowError outside years 1 to 9999 in UTC)."""
    t = moment.astimezone(UTC)  # fields, not strftime: a tenth of the time, the same text
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}."
        f"{t.microsecond:06d}Z"
    )


def chain_hash(leaf: bytes) -> bytes:
    """What the next leaf's `prev` names: SHA-256 of this leaf's complete bytes."""
    return hashlib.sha256(leaf).digest()


def payload_sha256(payload: bytes) -> str:
    """What a leaf names its payload by: the lowercase hex SHA-256 of its exact bytes."""
    return hashlib.sha256(payload).hexdigest()


def sign_leaf(
    *,
    seq: int,
    originator_id: str,
    originator_version: int,
    topic: str,
    payload: bytes,
    prev: str,
    recorded_at: str,
    key: Signer,
) -> bytes:
    """The leaf's exact bytes: RFC 8785 JSON, signed over itself without `sig`.

    `sig` sorts between `seq` and `topic`, so the signed leaf is the message with it spliced
    in there. The common leaf, whose texts are printable ASCII without `"` or `\\` and
    whose integers a double holds exactly, is its own RFC 8785 form written member by member
    in sorted order (what `_CANONICAL_LEAF` matches); any other goes through
    `canonical_json`. Both give the same bytes (tests/ledger/evidence/test_leaf_fast_path.py).
    """
    digest = payload_sha256(payload)
    kid = key.kid
    if (
        _plain_texts(kid, originator_id, digest, prev, recorded_at, topic)
        and _exact_integer(seq)
        and _exact_integer(originator_version)
    ):
        head = (
            f'{{"kid":"{kid}","originator_id":"{originator_id}",'
            f'"originator_version":{originator_version},"payload_sha256":"{digest}",'
            f'"prev":"{prev}","recorded_at":"{recorded_at}","seq":{seq}'
        ).encode("ascii")
        tail = f',"topic":"{topic}","v":{FORMAT_VERSION}}}'.encode("ascii")
    else:
        members: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "seq": seq,
            "originator_id": originator_id,
            "originator_version": originator_version,
            "topic": topic,
            "payload_sha256": digest,
            "prev": prev,
            "recorded_at": recorded_at,
            "kid": kid,
        }
        message = canonical_json(members)
        at = message.index(_AFTER_SIG)
        head, tail = message[:at], message[at:]
    signature = base64.b64encode(key.sign(head + tail))
    return head + _SIG_MEMBER + signature + b'"' + tail


def sign_chain(
    events: Iterable[tuple[str, int, str, bytes]],
    *,
    seq: int,
    prev: str,
    recorded_at: str,
    key: Signer,
) -> list[tuple[bytes, bytes]]:
    """The leaves of consecutive events (originator id, version, topic, payload) from `seq`
    on, each chained to the one before it and the first to `prev`, with each leaf's chain
    hash: exactly the bytes `sign_leaf` gives one at a time.

    A write signs its events as one batch: what every leaf of it shares (the key, the
    time, and `prev`, which after the first leaf is a hash in hex) is checked once, not
    once a leaf; a leaf whose own texts are not plain goes through `sign_leaf`.
    """
    kid = key.kid
    sign = key.sign
    shared_plain = _plain_texts(kid, prev, recorded_at)
    signed: list[tuple[bytes, bytes]] = []
    for originator_id, originator_version, topic, payload in events:
        if (
            shared_plain
            and _plain_texts(originator_id, topic)
            and _exact_integer(seq)
            and _exact_integer(originator_version)
        ):
            digest = hashlib.sha256(payload).hexdigest()
            head = (
                f'{{"kid":"{kid}","originator_id":"{originator_id}",'
                f'"originator_version":{originator_version},"payload_sha256":"{digest}",'
                f'"prev":"{prev}","recorded_at":"{recorded_at}","seq":{seq}'
            ).encode("ascii")
            tail = f',"topic":"{topic}","v":{FORMAT_VERSION}}}'.encode("ascii")
            leaf = head + _SIG_MEMBER + base64.b64encode(sign(head + tail)) + b'"' + tail
        else:
            leaf = sign_leaf(
                seq=seq,
                originator_id=originator_id,
                originator_version=originator_version,
                topic=topic,
                payload=payload,
                prev=prev,
                recorded_at=recorded_at,
                key=key,
            )
        leaf_hash = hashlib.sha256(leaf).digest()
        signed.append((leaf, leaf_hash))
        seq, prev = seq + 1, leaf_hash.hex()
    return signed


def _plain_texts(*texts: Any) -> bool:
    """Every one a `str` that JSON writes as it is between quotes (in every encoder alike)."""
    if not all(type(text) is str for text in texts):
        return False
    joined = "".join(texts)
    return joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined


def _exact_integer(value: Any) -> bool:
    return type(value) is int and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT


@dataclass(frozen=True)
class Leaf:
    """The members of a leaf whose form and signature have been checked."""

    seq: int
    originator_id: str
    originator_version: int
    topic: str
    payload_sha256: str
    prev: str
    recorded_at: str
    kid: str


@dataclass(frozen=True)
class SignedLeaf:
    """A leaf in canonical form, its members, and what its signature covers."""

    leaf: Leaf
    message: bytes
    signature: bytes


def _parse_canonical(leaf: bytes) -> SignedLeaf | None:
    """`parse_leaf` for the common leaf that `_CANONICAL_LEAF` matches; None for any other."""
    try:
        text = leaf.decode("ascii")  # matched as text: its members need no decoding then
    except UnicodeDecodeError:
        return None
    match = _CANONICAL_LEAF.fullmatch(text)
    if match is None:
        return None
    kid, originator_id, version, digest, prev, recorded_at, seq, encoded, topic = match.groups()
    signature = binascii.a2b_base64(encoded)  # canonical base64, as the pattern admits
    # The signed message is the leaf without `,"sig":"<encoded>"`.
    message = leaf[: match.start("sig") - len(_SIG_MEMBER)] + leaf[match.end("sig") + 1 :]
    members = Leaf(int(seq), originator_id, int(version), topic, digest, prev, recorded_at, kid)
    return SignedLeaf(members, message, signature)


def parse_leaf(leaf: bytes) -> SignedLeaf:
    """Check a leaf's form and canonical encoding, without its signature.

    A leaf exactly in canonical form with plain members takes the fast path (a precompiled
    pattern); the rest is parsed in full. The signed message is the leaf without its `sig`
    member. In the canonical form `sig` sits between `seq` and `topic`, and `,"sig":"`
    cannot occur inside a JSON string (quotes are escaped there), so cutting it out gives
    exactly the signed bytes.
    """
    fast = _parse_canonical(leaf)
    return fast if fast is not None else _parse_in_full(leaf)


def _parse_in_full(leaf: bytes) -> SignedLeaf:
    """`parse_leaf` for any bytes: parse them, then re-encode to see they are canonical."""
    start = leaf.find(_SIG_MEMBER)
    end = leaf.find(b'"', start + len(_SIG_MEMBER)) if start >= 0 else -1
    if end < 0 or not leaf.startswith(_AFTER_SIG, end + 1):
        raise LeafError(Reason.MALFORMED_LEAF, "the leaf has no signature in its place")
    message = leaf[:start] + leaf[end + 1 :]
    try:
        members = json.loads(message)
    except (ValueError, UnicodeDecodeError) as error:
        raise LeafError(Reason.MALFORMED_LEAF, f"the leaf is not JSON: {error}") from error
    if not isinstance(members, dict) or members.keys() != _MEMBERS.keys():
        raise LeafError(Reason.MALFORMED_LEAF, "the leaf does not have the v1 members")
    for name, kind in _MEMBERS.items():
        if type(members[name]) is not kind:
            raise LeafError(Reason.MALFORMED_LEAF, f"member {name} is not of type {kind.__name__}")
    if members["v"] != FORMAT_VERSION:
        raise LeafError(Reason.UNKNOWN_VERSION, f"leaf format version {members['v']} is unknown")
    try:
        canonical = canonical_json(members)
    except ValueError as error:  # an integer past 2**53, a lone surrogate
        raise LeafError(
            Reason.NON_CANONICAL_LEAF, f"the leaf has no RFC 8785 form: {error}"
        ) from error
    if canonical != message:
        raise LeafError(Reason.NON_CANONICAL_LEAF, "the leaf is not in RFC 8785 form")
    encoded = leaf[start + len(_SIG_MEMBER) : end]
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise LeafError(Reason.MALFORMED_LEAF, "the signature is not base64") from error
    if base64.b64encode(signature) != encoded:
        raise LeafError(Reason.NON_CANONICAL_LEAF, "the signature is not in standard base64")
    del members["v"]
    return SignedLeaf(Leaf(**members), message, signature)


def check_signature(signed: SignedLeaf, keys: Mapping[str, VerifierKey]) -> None:
    key = keys.get(signed.leaf.kid)
    if key is None:
        raise LeafError(Reason.UNKNOWN_KEY, f"no verifier key has key hash {signed.leaf.kid}")
    if not key.verify(signed.signature, signed.message):
        raise LeafError(Reason.BAD_SIGNATURE, f"the signature does not verify with key {key.kid}")


def open_leaf(leaf: bytes, keys: Mapping[str, VerifierKey]) -> Leaf:
    """A leaf's members, once its form, canonical encoding and signature hold."""
    signed = parse_leaf(leaf)
    check_signature(signed, keys)
    return signed.leaf


@dataclass(frozen=True)
class EventFacts:
    """What the checker knows of the event a leaf stands for: the stored row, a bundle's
    payload line, a receipt. None is not known there, and is not compared."""

    seq: int | None = None
    originator_id: str | None = None
    originator_version: int | None = None
    topic: str | None = None
    payload: bytes | None = None
    recorded_at: str | None = None


def event_mismatches(leaf: Leaf, event: EventFacts) -> list[tuple[Reason, str]]:
    """(reason, detail) for each known fact of the event that the leaf does not name: the
    one comparison of a leaf with its event, for `ledger verify`, bundles, receipts and the
    portal's own check of what it shows."""
    found: list[tuple[Reason, str]] = []
    if event.seq is not None and leaf.seq != event.seq:
        found.append((Reason.SEQ_MISMATCH, f"the leaf says seq {leaf.seq}"))
    names = (leaf.originator_id, leaf.originator_version)
    if event.originator_id is not None and names != (event.originator_id, event.originator_version):
        found.append((Reason.LEAF_MISMATCH, f"the leaf names {names[0]} v{names[1]}"))
    if event.recorded_at is not None and leaf.recorded_at != event.recorded_at:
        found.append((Reason.RECORDED_AT_MISMATCH, f"the leaf says {leaf.recorded_at}"))
    if event.payload is not None and payload_sha256(event.payload) != leaf.payload_sha256:
        found.append((Reason.PAYLOAD_MISMATCH, "the payload does not hash to the leaf's"))
    if event.topic is not None and leaf.topic != event.topic:
        found.append((Reason.TOPIC_MISMATCH, f"the event's topic is {event.topic!r}"))
    return found


def holds_in_full(
    leaf: bytes,
    keys: Mapping[str, VerifierKey],
    seq: int,
    originator_id: str,
    originator_version: int,
    topic: str,
    payload: bytes,
    recorded_at: str,
    prev: str,
) -> bool:
    """Whether a common leaf holds against everything known of its event and its place:
    canonical form, signature, seq, names, time, topic, payload and `prev`.

    The verifier's path for the leaf that passes, which is nearly every leaf: one pattern
    match and plain comparisons, no members or reasons built. False does not mean that the
    leaf fails, only that `check_leaf` must look at it and name each reason.
    """
    signed = held_but_signature(
        leaf, keys, seq, originator_id, originator_version, topic, payload, recorded_at, prev
    )
    return signed is not None and signed[0].verify(signed[1], signed[2])


def held_but_signature(
    leaf: bytes,
    keys: Mapping[str, VerifierKey],
    seq: int,
    originator_id: str,
    originator_version: int,
    topic: str,
    payload: bytes,
    recorded_at: str,
    prev: str,
) -> tuple[VerifierKey, bytes, bytes] | None:
    """`holds_in_full` but for the signature: (key, signature, signed message) when all else
    holds, for the caller to verify (`ledger verify` verifies a page's signatures in one
    tight loop, as raw verification runs); None when `check_leaf` must look at the leaf."""
    try:
        text = leaf.decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _CANONICAL_LEAF.fullmatch(text)
    if match is None:
        return None
    kid, oid, version, digest, leaf_prev, at, leaf_seq, encoded, leaf_topic = match.groups()
    if (
        oid != originator_id
        or leaf_prev != prev
        or at != recorded_at
        or leaf_topic != topic
        or int(leaf_seq) != seq
        or int(version) != originator_version
        or digest != hashlib.sha256(payload).hexdigest()
    ):
        return None
    key = keys.get(kid)
    if key is None:
        return None
    start = match.start("sig") - len(_SIG_MEMBER)
    return key, binascii.a2b_base64(encoded), leaf[:start] + leaf[match.end("sig") + 1 :]


def check_leaf(
    leaf: bytes, keys: Mapping[str, VerifierKey], event: EventFacts
) -> tuple[Leaf | None, list[tuple[Reason, str]]]:
    """A stored leaf checked in full against its event: form, signature, and every fact of
    the event; its members (None when its form fails) and each reason it does not hold."""
    try:
        signed = parse_leaf(leaf)
    except LeafError as error:
        return None, [(error.reason, str(error))]
    found: list[tuple[Reason, str]] = []
    try:
        check_signature(signed, keys)
    except LeafError as error:
        found.append((error.reason, str(error)))
    return signed.leaf, found + event_mismatches(signed.leaf, event)
