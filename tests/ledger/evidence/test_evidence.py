"""The evidence format's building blocks: canonical JSON, C2SP keys, signed leaves."""

import base64
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.evidence.canonical import canonical_json
from ledger.evidence.keys import KeyFormatError, SigningKey, VerifierKey, parse_verifier_keys
from ledger.evidence.leaf import GENESIS_PREV, LeafError, open_leaf, sign_leaf

# The example key and signed note of golang.org/x/mod/sumdb/note (its documentation and
# tests): an independent implementation's known answers for the key hash and signature.
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_PRIVATE_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_canonical_json_equals_the_rfc8785_reference(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_canonical_json_sorts_keys_and_drops_whitespace():
    assert (
        canonical_json({"b": 1, "a": [True, None, "ø"]}) == '{"a":[true,null,"ø"],"b":1}'.encode()
    )


def go_signing_key() -> SigningKey:
    seed = base64.b64decode(GO_PRIVATE_SEED)[1:]
    return SigningKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))


def test_key_hash_and_verifier_key_match_the_go_reference():
    key = go_signing_key()
    assert key.kid == "c74f20a3"
    assert key.verifier_key.line() == GO_VERIFIER_KEY
    assert VerifierKey.parse(GO_VERIFIER_KEY) == key.verifier_key


def test_signature_matches_the_go_reference_note():
    key = go_signing_key()
    blob = base64.b64decode(GO_SIGNATURE)
    assert blob[:4] == key.verifier_key.key_hash
    assert key.sign(GO_TEXT) == blob[4:]
    assert key.verifier_key.verify(blob[4:], GO_TEXT)


@pytest.mark.parametrize(
    "line",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumann+c74f20a3+AhpczQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # algorithm 2
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_mangled_verifier_keys_are_refused(line):
    with pytest.raises(KeyFormatError):
        VerifierKey.parse(line)


def test_keys_file_skips_comments_and_names_the_bad_line():
    assert list(parse_verifier_keys(f"# log keys\n\n{GO_VERIFIER_KEY}\n")) == ["c74f20a3"]
    with pytest.raises(KeyFormatError, match="line 2"):
        parse_verifier_keys(f"{GO_VERIFIER_KEY}\nnot a key\n")


def test_signing_key_file_is_private_and_reads_back(tmp_path):
    key = SigningKey.generate("test.example/ledger")
    path = tmp_path / "signing.pem"
    key.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SigningKey.read(path).verifier_key == key.verifier_key


def make_leaf(key: SigningKey, **changes) -> bytes:
    fields = {
        "seq": 0,
        "originator_id": "3f2c1b1e-8d55-4f7a-9a9a-0123456789ab",
        "originator_version": 1,
        "topic": "ledger.domain:Approval.Approved",
        "payload": b'{"cvr":"55133018"}',
        "prev": GENESIS_PREV,
        "recorded_at": "2026-11-29T07:15:02.123456Z",
        "key": key,
    } | changes
    return sign_leaf(**fields)


def test_a_leaf_is_canonical_json_with_the_v1_members():
    key = SigningKey.generate("test.example/ledger")
    leaf = make_leaf(key)
    members = json.loads(leaf)
    assert canonical_json(members) == leaf
    assert set(members) == {
        "v",
        "seq",
        "originator_id",
        "originator_version",
        "topic",
        "payload_sha256",
        "prev",
        "recorded_at",
        "kid",
        "sig",
    }
    assert members["kid"] == key.kid
    unsigned = {k: v for k, v in members.items() if k != "sig"}
    assert key.verifier_key.verify(base64.b64decode(members["sig"]), canonical_json(unsigned))
    assert open_leaf(leaf, {key.kid: key.verifier_key}).seq == 0


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda leaf: leaf.replace(b'"seq":0', b'"seq":1'), "bad-signature"),
        (lambda leaf: leaf.replace(b'"sig":"', b'"sig":"A'), "malformed-leaf"),
        (lambda leaf: leaf.replace(b',"topic"', b', "topic"'), "malformed-leaf"),
        (lambda leaf: leaf.replace(b'{"kid"', b'{ "kid"'), "non-canonical-leaf"),
        (lambda leaf: leaf.replace(b'"v":1', b'"v":2'), "unknown-version"),
        (lambda leaf: leaf[:-1], "malformed-leaf"),
    ],
)
def test_a_tampered_leaf_fails_with_its_reason(tamper, reason):
    key = SigningKey.generate("test.example/ledger")
    with pytest.raises(LeafError) as failure:
        open_leaf(tamper(make_leaf(key)), {key.kid: key.verifier_key})
    assert failure.value.reason == reason


def test_a_leaf_signed_by_an_unknown_key_fails():
    ours, theirs = (SigningKey.generate("test.example/ledger") for _ in range(2))
    with pytest.raises(LeafError) as failure:
        open_leaf(make_leaf(theirs), {ours.kid: ours.verifier_key})
    assert failure.value.reason == "unknown-key"
