"""Personal data in version 2 payloads (docs/evidence-format.md section 10): the keyed
commitments that stand for personal values, their openings, and the erasure events that
account for an opening that is gone.

A verifier needs nothing but this: a payload names each personal value by a commitment, an
opening (a key and the value) either opens it or does not, and an erasure event says which
commitments may have no opening any more.
"""

import base64
import binascii
import dataclasses
import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.evidence.canonical import canonical_json

PERSONAL_TYPE = "personal"
# What the payload's JSON holds wherever a personal value was committed: a fast test of
# whether a payload has any (the library's encoder writes no spaces).
PERSONAL_MARK = b'"_type_":"personal"'
KEY_BYTES = 32
_DOMAIN = b"approval-ledger/v2/personal\x00"
ERASURE_TOPIC = "ledger.domain:PersonalData.PersonalDataErased"
REFUSAL_TOPIC = "ledger.domain:PersonalData.PersonalDataErasureRefused"
# The field an erasure of a version 1 payload names: all of it.
WHOLE_PAYLOAD = "*"
# What a redacted version 1 payload holds in place of each erased value (section 10.4): a
# commitment that names the event and field instead of hashing anything.
REDACTED_PREFIX = "v1:"
REDACTED_MARK = b'"commitment":"v1:'


def redacted_name(originator_id: str, version: int, field: str) -> str:
    """The commitment a redacted format 1 payload holds for an erased field."""
    return f"{REDACTED_PREFIX}{originator_id}:{version}:{field}"


def value_text(value: Any) -> bytes:
    """A value as a commitment covers it: its RFC 8785 JSON text."""
    return canonical_json(value)


def commitment(key: bytes, field: str, value: Any) -> str:
    """HMAC-SHA256 under the value's own key of the field's path and the value's JSON, hex."""
    return commitment_of_text(key, field, value_text(value))


def commitment_of_text(key: bytes, field: str, text: bytes) -> str:
    """`commitment` of a value whose `value_text` the caller has made already."""
    return hmac.digest(key, _DOMAIN + field.encode("utf-8") + b"\x00" + text, "sha256").hex()


def opens(key: bytes, field: str, value: Any, expected: str) -> bool:
    """Whether (key, value) is the opening of the commitment `expected` of `field`."""
    try:
        made = commitment(key, field, value)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(made, expected)


@dataclass(frozen=True)
class Committed:
    """One personal value a payload commits to: its field's path and the commitment."""

    field: str
    commitment: str


def commitments_in(payload: bytes) -> tuple[datetime | None, list[Committed]]:
    """When the event happened (its payload's `timestamp`) and every commitment the payload
    holds, at any depth, in the order written; none when the payload is not JSON (its
    hash is what is checked of it then)."""
    if PERSONAL_MARK not in payload:
        return None, []
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, []
    return _timestamp(document), list(_walk(document))


def _timestamp(document: Any) -> datetime | None:
    """A payload's `timestamp` (the library writes it as a datetime value), or None."""
    if isinstance(document, dict):
        stamp = document.get("timestamp")
        if isinstance(stamp, dict) and isinstance(stamp.get("_data_"), str):
            return _moment(stamp["_data_"])
    return None


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _walk(value: Any) -> Iterator[Committed]:
    if isinstance(value, dict):
        if value.get("_type_") == PERSONAL_TYPE:
            data = value.get("_data_")
            if (
                isinstance(data, dict)
                and isinstance(data.get("field"), str)
                and isinstance(data.get("commitment"), str)
            ):
                yield Committed(data["field"], data["commitment"])
            return
        for member in value.values():
            yield from _walk(member)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


@dataclass(frozen=True)
class Erasure:
    """What one `PersonalDataErased` event says was erased."""

    seq: int
    rule: str
    fields: frozenset[str]
    seqs: frozenset[int] | None
    before: datetime | None
    documents: frozenset[str]
    # The format 1 payloads it replaced, by seq: the SHA-256 of the redacted payload.
    redacted: dict[int, str] = dataclasses.field(default_factory=dict)
    # With `before`: the (event type, field) it erased; None in erasures made before the
    # member was, whose `fields` reach every event type.
    event_fields: frozenset[tuple[str, str]] | None = None
    # When it was recorded (its payload's `timestamp`).
    recorded: datetime | None = None

    def covers(self, seq: int, field: str, happened: datetime | None, topic: str) -> bool:
        """Whether this erasure accounts for the value of `field` of the event at `seq`
        (which happened at `happened`, its payload's `timestamp`, and is of `topic`) having
        no opening: only an earlier event's."""
        if seq >= self.seq or (field not in self.fields and WHOLE_PAYLOAD not in self.fields):
            return False
        if self.seqs is not None:
            return seq in self.seqs
        if self.event_fields is not None and (event_type(topic), field) not in self.event_fields:
            return False
        return self.before is not None and happened is not None and happened < self.before


def event_type(topic: str) -> str:
    """An event's type as an erasure's `event_fields` name it: its topic's last part."""
    return topic.rsplit(".", 1)[-1]


def read_erasure(seq: int, payload: bytes) -> Erasure | None:
    """The erasure a `PersonalDataErased` payload states; None when it states none (a
    payload that is not of its form)."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    rule, fields = document.get("rule"), document.get("fields")
    redactions = _redactions(document.get("redacted"))
    seqs, before = document.get("seqs"), document.get("before")
    documents = document.get("documents") or []
    event_fields = document.get("event_fields")
    moment = _moment(before) if isinstance(before, str) else None
    if not (
        isinstance(rule, str)
        and _strings(fields)
        and (seqs is None or (isinstance(seqs, list) and all(type(s) is int for s in seqs)))
        and (before is None or moment is not None)
        and _strings(documents)
        and redactions is not None
        and (
            event_fields is None
            or (_strings(event_fields) and all(" " in item for item in event_fields))
        )
    ):
        return None
    return Erasure(
        seq,
        rule,
        frozenset(str(name) for name in fields or ()),
        None if seqs is None else frozenset(seqs),
        moment,
        frozenset(documents),
        redactions,
        None
        if event_fields is None
        else frozenset(tuple(item.split(" ", 1)) for item in event_fields),
        _timestamp(document),
    )


def _redactions(value: Any) -> dict[int, str] | None:
    """An erasure's `redacted` ("<seq> <sha256>" each) by seq; None when it is malformed."""
    if value is None:
        return {}
    if not _strings(value):
        return None
    found: dict[int, str] = {}
    for item in value:
        seq, _, digest = item.partition(" ")
        if not seq.isdigit() or len(digest) != 64:
            return None
        found[int(seq)] = digest
    return found


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def covering(
    erasures: Sequence[Erasure], seq: int, field: str, happened: datetime | None, topic: str
) -> Erasure | None:
    """The first erasure that accounts for a missing opening, None when none does."""
    for erasure in erasures:
        if erasure.covers(seq, field, happened, topic):
            return erasure
    return None


def erased_text(seq: int | None, rule: str | None) -> str:
    """What is shown where an erased value was."""
    if seq is None:
        return "slettet (persondata, ingen sletning registreret)"
    return f"slettet (persondata, seq {seq}, regel {rule})"


@dataclass(frozen=True)
class Opening:
    """One line of a bundle's `personal.jsonl`: the opening of one commitment of an event."""

    seq: int
    field: str
    key: bytes
    value: Any

    def line(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "field": self.field,
                "key": base64.b64encode(self.key).decode("ascii"),
                "value": self.value,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_line(cls, line: bytes) -> "Opening":
        """ValueError when the line is not an opening."""
        try:
            document = json.loads(line)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"not JSON: {error}") from None
        if not isinstance(document, dict) or set(document) != {"seq", "field", "key", "value"}:
            raise ValueError('not {"seq", "field", "key", "value"}')
        seq, field, key = document["seq"], document["field"], document["key"]
        if type(seq) is not int or not isinstance(field, str) or not isinstance(key, str):
            raise ValueError("seq, field or key of the wrong type")
        try:
            raw = base64.b64decode(key, validate=True)
        except binascii.Error:
            raise ValueError("the key is not base64") from None
        return cls(seq, field, raw, document["value"])
