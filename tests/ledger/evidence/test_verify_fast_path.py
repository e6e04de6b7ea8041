"""`ledger verify` sees a leaf that holds at once (`holds_in_full`) and looks at any other in
full (`check_leaf`, which names each reason). The quick look must never pass a leaf that the
full check fails: for every change of the leaf's bytes or of the facts it is held to, it
says yes exactly when the full check finds nothing."""

import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.evidence.keys import SigningKey
from ledger.evidence.leaf import EventFacts, check_leaf, holds_in_full, sign_leaf

KEY = SigningKey.generate("test.example/ledger")
OTHER = SigningKey.generate("test.example/ledger")
KEYS = {KEY.kid: KEY.verifier_key}
PREV = "ab" * 32
FACTS: dict[str, Any] = {
    "seq": 41,
    "originator_id": str(uuid.UUID(int=7)),
    "originator_version": 3,
    "topic": "ledger.domain:Document.Approved",
    "payload": b'{"note":"x"}',
    "recorded_at": "2026-11-29T07:15:02.123456Z",
}


def leaf_for(facts: dict[str, Any], prev: str = PREV, key: SigningKey = KEY) -> bytes:
    return sign_leaf(**facts, prev=prev, key=key)


def full_check_holds(leaf: bytes, facts: dict[str, Any], prev: str) -> bool:
    members, problems = check_leaf(leaf, KEYS, EventFacts(**facts))
    return members is not None and not problems and members.prev == prev


def quick_look_holds(leaf: bytes, facts: dict[str, Any], prev: str) -> bool:
    f = facts
    return holds_in_full(
        leaf,
        KEYS,
        f["seq"],
        f["originator_id"],
        f["originator_version"],
        f["topic"],
        f["payload"],
        f["recorded_at"],
        prev,
    )


def test_a_leaf_that_holds_is_seen_to_hold_at_once() -> None:
    leaf = leaf_for(FACTS)
    assert full_check_holds(leaf, FACTS, PREV)
    assert quick_look_holds(leaf, FACTS, PREV)


def test_each_fact_the_leaf_does_not_name_is_refused_by_both() -> None:
    leaf = leaf_for(FACTS)
    changes = {
        "seq": 42,
        "originator_id": str(uuid.UUID(int=8)),
        "originator_version": 4,
        "topic": "ledger.domain:Document.Rejected",
        "payload": b'{"note":"y"}',
        "recorded_at": "2026-11-29T07:15:02.123457Z",
    }
    for name, value in changes.items():
        facts = {**FACTS, name: value}
        assert not full_check_holds(leaf, facts, PREV), name
        assert not quick_look_holds(leaf, facts, PREV), name
    assert not quick_look_holds(leaf, FACTS, "cd" * 32)
    assert not quick_look_holds(leaf_for(FACTS, key=OTHER), FACTS, PREV)


@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_changed_byte_is_seen_alike(position: int, value: int) -> None:
    leaf = bytearray(leaf_for(FACTS))
    leaf[position % len(leaf)] = value
    changed = bytes(leaf)
    assert quick_look_holds(changed, FACTS, PREV) == full_check_holds(changed, FACTS, PREV)


@given(st.binary(max_size=8), st.integers(min_value=0, max_value=2000))
def test_bytes_added_or_cut_are_seen_alike(extra: bytes, cut: int) -> None:
    leaf = leaf_for(FACTS)
    for changed in (leaf + extra, extra + leaf, leaf[: len(leaf) - cut % len(leaf)]):
        assert quick_look_holds(changed, FACTS, PREV) == full_check_holds(changed, FACTS, PREV)
