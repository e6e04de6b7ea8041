"""The fast path of `parse_leaf` (a precompiled pattern for the common canonical leaf) must
decide exactly as the full parser does: accept only what it accepts, with the same members.
And `sign_leaf`'s own fast path (the common leaf written member by member) must write the
bytes RFC 8785 gives."""

import base64
import json
import uuid

import pytest
import rfc8785
from hypothesis import example, given
from hypothesis import strategies as st

from ledger.evidence.keys import SigningKey
from ledger.evidence.leaf import (
    LeafError,
    _parse_canonical,
    _parse_in_full,
    chain_hash,
    check_signature,
    parse_leaf,
    payload_sha256,
    sign_chain,
    sign_leaf,
)

KEY = SigningKey.generate("test.example/ledger")
KEYS = {KEY.kid: KEY.verifier_key}

# What the fast path takes: printable ASCII without quote or backslash, up to 15 digits.
ledger_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'), max_size=40
)
ledger_ints = st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1)
# What a leaf can carry besides: escapes, non-ASCII, integers up to 2**53.
plain_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
small_ints = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)


@st.composite
def signed_leaves(
    draw: st.DrawFn,
    text: st.SearchStrategy[str] = plain_text,
    ints: st.SearchStrategy[int] = small_ints,
) -> bytes:
    return sign_leaf(
        seq=draw(ints | st.integers(min_value=0, max_value=10**6)),
        originator_id=draw(st.just(str(uuid.uuid4())) | text),
        originator_version=draw(ints),
        topic=draw(st.just("ledger.domain:Document.Approved") | text),
        payload=draw(st.binary(max_size=16)),
        prev=draw(st.just("0" * 64) | text),
        recorded_at=draw(st.just("2026-11-29T07:15:02.123456Z") | text),
        key=KEY,
    )


def rfc8785_leaf(members: dict, key: SigningKey) -> bytes:
    """A leaf as docs/evidence-format.md section 1 defines it, from RFC 8785 alone."""
    message = rfc8785.dumps({"v": 1, **members})
    signature = base64.b64encode(key.sign(message)).decode()
    return rfc8785.dumps({"v": 1, **members, "sig": signature})


@given(
    st.data(),
    st.sampled_from([ledger_text, plain_text, any_text]),
    st.sampled_from([ledger_ints, small_ints]),
)
def test_sign_leaf_writes_the_rfc8785_bytes(data, text, ints):
    members = {
        "seq": data.draw(ints),
        "originator_id": data.draw(st.just(str(uuid.uuid4())) | text),
        "originator_version": data.draw(ints),
        "topic": data.draw(st.just("ledger.domain:Approval.Approved") | text),
        "prev": data.draw(st.just("0" * 64) | text),
        "recorded_at": data.draw(st.just("2026-11-29T07:15:02.123456Z") | text),
    }
    payload = data.draw(st.binary(max_size=16))
    expected = rfc8785_leaf(
        {**members, "payload_sha256": payload_sha256(payload), "kid": KEY.kid}, KEY
    )
    assert sign_leaf(**members, payload=payload, key=KEY) == expected


@pytest.mark.parametrize("number", [2**53 - 1, -(2**53) + 1, 0, 10**15])
@pytest.mark.parametrize("text", ["", 'a"b', "back\\slash", "\x7f", "\x1f", "æøå", "\u2028"])
def test_sign_leaf_writes_the_rfc8785_bytes_at_the_edges(number, text):
    members = {
        "seq": number,
        "originator_id": text,
        "originator_version": number,
        "topic": "ledger.domain:" + text,
        "prev": "0" * 64,
        "recorded_at": "2026-11-29T07:15:02.123456Z",
    }
    expected = rfc8785_leaf({**members, "payload_sha256": payload_sha256(b""), "kid": KEY.kid}, KEY)
    assert sign_leaf(**members, payload=b"", key=KEY) == expected


@pytest.mark.parametrize("number", [2**53, -(2**53)])
def test_sign_leaf_refuses_what_rfc8785_cannot_write(number):
    with pytest.raises(ValueError, match="safe integer domain"):
        sign_leaf(
            seq=number,
            originator_id="x",
            originator_version=1,
            topic="t",
            payload=b"",
            prev="0" * 64,
            recorded_at="2026-11-29T07:15:02.123456Z",
            key=KEY,
        )


BIG_OR_ODD_NUMBERS = [
    b"9007199254740991",
    b"9007199254740992",
    b"-9007199254740992",
    b"10000000000000000000",
    b"-0",
    b"007",
    b"1.0",
    b"1e3",
    b"true",
    b'"1"',
]


@st.composite
def mutated(draw: st.DrawFn, leaf: bytes) -> bytes:
    """The leaf with one change that may or may not keep it acceptable."""
    at = draw(st.integers(min_value=0, max_value=len(leaf)))
    kind = draw(
        st.sampled_from(
            ["flip", "insert", "whitespace", "reorder", "escape", "non-ascii", "number", "cut"]
        )
    )
    if kind == "flip" and at < len(leaf):
        flipped = leaf[at] ^ draw(st.integers(min_value=1, max_value=255))
        return leaf[:at] + bytes([flipped]) + leaf[at + 1 :]
    if kind == "insert":
        return leaf[:at] + bytes([draw(st.integers(0, 255))]) + leaf[at:]
    if kind == "whitespace":
        return leaf[:at] + draw(st.sampled_from([b" ", b"\n", b"\t", b"\r"])) + leaf[at:]
    if kind == "reorder":
        members = json.loads(leaf)
        order = draw(st.permutations(list(members)))
        return json.dumps(
            {name: members[name] for name in order}, ensure_ascii=False, separators=(",", ":")
        ).encode()
    if kind == "escape" and at < len(leaf) and 0x20 <= leaf[at] < 0x7F:
        return leaf[:at] + b"\\u%04x" % leaf[at] + leaf[at + 1 :]
    if kind == "non-ascii":
        return leaf[:at] + draw(any_text.filter(lambda t: not t.isascii())).encode() + leaf[at:]
    if kind == "number":
        name = draw(st.sampled_from([b'"seq":', b'"originator_version":', b'"v":']))
        start = leaf.index(name) + len(name)
        end = min(i for i in (leaf.find(b",", start), leaf.find(b"}", start)) if i >= 0)
        return leaf[:start] + draw(st.sampled_from(BIG_OR_ODD_NUMBERS)) + leaf[end:]
    if kind == "cut":
        return leaf[:at]
    return leaf


def outcome(parse, leaf: bytes):
    """What a parser makes of `leaf`: the signed leaf, or the refusal's reason and detail."""
    try:
        return parse(leaf)
    except LeafError as error:
        return error.reason, str(error)


def assert_agree(leaf: bytes) -> None:
    full = outcome(_parse_in_full, leaf)
    fast = _parse_canonical(leaf)
    assert fast is None or fast == full  # the fast path accepts only what the full one does
    assert outcome(parse_leaf, leaf) == full


@given(signed_leaves(ledger_text, ledger_ints))
def test_the_fast_path_takes_the_leaves_the_ledger_writes(leaf):
    fast = _parse_canonical(leaf)
    assert fast is not None
    assert fast == _parse_in_full(leaf)
    check_signature(fast, KEYS)


@given(signed_leaves(any_text))
def test_the_fast_path_agrees_on_any_signed_leaf(leaf):
    assert_agree(leaf)


@given(st.data())
def test_the_fast_path_agrees_on_mutated_leaves(data):
    leaf = data.draw(signed_leaves(data.draw(st.sampled_from([ledger_text, plain_text, any_text]))))
    assert_agree(data.draw(mutated(leaf)))


@given(st.binary(max_size=600))
def test_the_fast_path_agrees_on_any_bytes(leaf):
    assert_agree(leaf)


def test_the_fast_path_defers_on_signature_padding_bits():
    leaf = sign_leaf(
        seq=0,
        originator_id=str(uuid.uuid4()),
        originator_version=1,
        topic="t",
        payload=b"",
        prev="0" * 64,
        recorded_at="2026-11-29T07:15:02.123456Z",
        key=KEY,
    )
    # The character before "==" carries 2 bits of the signature and 4 zero padding bits.
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    end = leaf.index(b'==","topic"')
    odd_bits = alphabet.index(leaf[end - 1]) | 1
    odd = leaf[: end - 1] + alphabet[odd_bits : odd_bits + 1] + leaf[end:]
    assert _parse_canonical(odd) is None
    assert outcome(parse_leaf, odd) == outcome(_parse_in_full, odd)
    assert outcome(parse_leaf, odd)[0] == "non-canonical-leaf"


@given(
    st.lists(
        st.tuples(
            st.just(str(uuid.uuid4())) | any_text,
            small_ints,
            st.just("ledger.domain:Document.Approved") | any_text,
            st.binary(max_size=16),
        ),
        max_size=5,
    ),
    st.integers(min_value=0, max_value=10**6) | small_ints,
    st.just("0" * 64) | any_text,
    st.just("2026-11-29T07:15:02.123456Z") | any_text,
)
@example(  # the second leaf's seq is 2**53: both ways refuse it (found by CI's run)
    events=[(str(uuid.UUID(int=1)), 0, "t", b"")] * 2,
    seq=2**53 - 1,
    prev="0" * 64,
    recorded_at="2026-11-29T07:15:02.123456Z",
)
def test_a_batch_signed_as_a_chain_is_byte_for_byte_its_leaves_signed_one_by_one(
    events, seq, prev, recorded_at
):
    """The same leaves, or the same refusal (a seq past 2**53 - 1 has no canonical JSON)."""

    def one_by_one() -> list[tuple[bytes, bytes]]:
        expected, before = [], prev
        for number, (originator_id, version, topic, payload) in enumerate(events):
            leaf = sign_leaf(
                seq=seq + number,
                originator_id=originator_id,
                originator_version=version,
                topic=topic,
                payload=payload,
                prev=before,
                recorded_at=recorded_at,
                key=KEY,
            )
            expected.append((leaf, chain_hash(leaf)))
            before = chain_hash(leaf).hex()
        return expected

    def as_a_chain() -> list[tuple[bytes, bytes]]:
        return sign_chain(events, seq=seq, prev=prev, recorded_at=recorded_at, key=KEY)

    def signed(sign) -> object:
        try:
            return sign()
        except rfc8785.IntegerDomainError as error:
            return type(error), str(error)

    assert signed(as_a_chain) == signed(one_by_one)
