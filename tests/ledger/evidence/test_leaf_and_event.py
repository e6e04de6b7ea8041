"""The one comparison of a leaf with its event (leaf.event_mismatches, and check_leaf with the
leaf's form and signature): each fact that differs gives exactly its reason, and a fact the
checker does not know is not compared."""

from dataclasses import replace

import pytest

from ledger.evidence.keys import SigningKey
from ledger.evidence.leaf import (
    GENESIS_PREV,
    EventFacts,
    check_leaf,
    event_mismatches,
    parse_leaf,
    sign_leaf,
)
from ledger.evidence.reasons import Reason

KEY = SigningKey.generate("kundenet.example.dk/ledger")
PAYLOAD = b'{"reason":"for test"}'
EVENT = EventFacts(
    seq=7,
    originator_id="7c2e8f0a-54d4-4c66-9d7e-0d6b1c2f3a4b",
    originator_version=2,
    topic="ledger.domain:Approval.ApprovalReset",
    payload=PAYLOAD,
    recorded_at="2026-11-29T07:15:02.123456Z",
)
LEAF = sign_leaf(
    seq=7,
    originator_id=EVENT.originator_id or "",
    originator_version=2,
    topic=EVENT.topic or "",
    payload=PAYLOAD,
    prev=GENESIS_PREV,
    recorded_at=EVENT.recorded_at or "",
    key=KEY,
)
KEYS = {KEY.kid: KEY.verifier_key}


def test_a_leaf_matches_the_event_it_was_signed_for():
    assert event_mismatches(parse_leaf(LEAF).leaf, EVENT) == []
    members, problems = check_leaf(LEAF, KEYS, EVENT)
    assert members == parse_leaf(LEAF).leaf
    assert problems == []


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"seq": 8}, Reason.SEQ_MISMATCH),
        ({"originator_id": "00000000-0000-4000-8000-000000000000"}, Reason.LEAF_MISMATCH),
        ({"originator_version": 3}, Reason.LEAF_MISMATCH),
        ({"topic": "ledger.domain:Approval.Approved"}, Reason.TOPIC_MISMATCH),
        ({"payload": PAYLOAD + b" "}, Reason.PAYLOAD_MISMATCH),
        ({"recorded_at": "2026-11-29T07:15:02.123457Z"}, Reason.RECORDED_AT_MISMATCH),
    ],
)
def test_each_fact_that_differs_gives_exactly_its_reason(changed, reason):
    found = event_mismatches(parse_leaf(LEAF).leaf, replace(EVENT, **changed))
    assert [code for code, _ in found] == [reason]


def test_a_fact_the_checker_does_not_know_is_not_compared():
    assert event_mismatches(parse_leaf(LEAF).leaf, EventFacts()) == []
    payload_only = EventFacts(payload=b"another payload")
    assert [code for code, _ in event_mismatches(parse_leaf(LEAF).leaf, payload_only)] == [
        Reason.PAYLOAD_MISMATCH
    ]


def test_check_leaf_names_a_broken_form_alone_and_a_bad_signature_beside_the_mismatches():
    assert check_leaf(b"not a leaf", KEYS, EVENT) == (
        None,
        [(Reason.MALFORMED_LEAF, "the leaf has no signature in its place")],
    )
    stranger = SigningKey.generate("kundenet.example.dk/ledger")
    members, problems = check_leaf(LEAF, {stranger.kid: stranger.verifier_key}, EVENT)
    assert members is not None
    assert [code for code, _ in problems] == [Reason.UNKNOWN_KEY]
    _, problems = check_leaf(LEAF, {}, replace(EVENT, seq=9))
    assert [code for code, _ in problems] == [Reason.UNKNOWN_KEY, Reason.SEQ_MISMATCH]
