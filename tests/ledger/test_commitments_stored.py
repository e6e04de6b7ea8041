"""What a save in evidence format 2 stores of an event's personal values, byte for byte:
the payload with each value's commitment (docs/evidence-format.md section 10.2) and the
openings written beside it, under keys drawn from a fixed stream in place of os.urandom.

The bytes are pinned by their SHA-256, taken from the mapper before it was made faster, so
that a faster one that changes a byte of a payload or an opening, or draws the keys in
another order, fails here; each opening is also checked against the section's definition
(HMAC-SHA256 under the value's key of the domain, the field's path and the value's RFC 8785
JSON), written out here from the text of the section alone.
"""

import hashlib
import hmac
import itertools
from collections.abc import Iterator
from uuid import UUID

import pytest
import rfc8785

import ledger.personal_data
from approval_ledger.initialize import initialize
from ledger.personal_data import PersonalDataMapper
from ledger.storage import StoredEventWithRows
from tests.conftest import settings_in
from tests.ledger.test_stored_bytes import OPERATOR, events

DOMAIN = b"approval-ledger/v2/personal\x00"


@pytest.fixture(scope="module")
def mapper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PersonalDataMapper]:
    """The application's mapper of a log in evidence format 2 (the database plays no part
    in what it makes)."""
    settings = settings_in(tmp_path_factory.mktemp("ledger") / "var")
    app = initialize(settings, OPERATOR, evidence_format=2).app
    assert app.personal_mapper.adopted
    yield app.personal_mapper
    app.close()


@pytest.fixture
def fixed_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.urandom as the mapper sees it: the bytes 0, 1, 2, ... 255, 0, 1, ... in turn."""
    stream = itertools.cycle(range(256))
    monkeypatch.setattr(
        ledger.personal_data.os, "urandom", lambda n: bytes(next(stream) for _ in range(n))
    )


def test_a_format_2_payload_and_its_openings_are_the_bytes_they_were(
    mapper: PersonalDataMapper, fixed_keys: None
) -> None:
    made = []
    for event in events():
        stored = mapper.to_stored_event(event)
        rows = stored.beside.rows if isinstance(stored, StoredEventWithRows) else ()
        digest = hashlib.sha256(stored.state + repr(rows).encode()).hexdigest()
        made.append((stored.topic.rsplit(":", 1)[1], len(rows), digest))
    assert made == PINNED


def test_each_opening_opens_its_commitment_by_the_definition(
    mapper: PersonalDataMapper, fixed_keys: None
) -> None:
    checked = 0
    for event in events():
        stored = mapper.to_stored_event(event)
        if not isinstance(stored, StoredEventWithRows):
            continue
        for row in stored.beside.rows:
            commitment, field, key, value = row[0], row[4], bytes.fromhex(row[8]), row[9]
            message = DOMAIN + field.encode() + b"\x00" + value.encode()
            assert hmac.new(key, message, hashlib.sha256).hexdigest() == commitment
            assert commitment.encode() in stored.state
            checked += 1
    assert checked > 5


def test_an_opening_holds_the_value_as_rfc_8785_json(
    mapper: PersonalDataMapper, fixed_keys: None
) -> None:
    for event in events():
        stored = mapper.to_stored_event(event)
        if not isinstance(stored, StoredEventWithRows):
            continue
        for row in stored.beside.rows:
            field, value = row[4], row[9]
            head, _, rest = field.partition(".")
            original = getattr(getattr(event, head), rest) if rest else getattr(event, head)
            assert value == rfc8785.dumps(original).decode()
            assert UUID(row[1]) == event.originator_id


# (event type, openings, SHA-256 of the payload and the openings' rows) under the fixed keys
PINNED: list[tuple[str, int, str]] = [
    ("Customer.Registered", 0, "043cf3ee82609e73ff0538bcf174b46991c1468e5bc4c596abb1d88dc65e327f"),
    (
        "AgreementVersion.Published",
        0,
        "88777c0e3996c8c704cb448e892d5ba06074e5ae04e9487a02b3cc964aa5ca0c",
    ),
    (
        "AgreementVersion.Retired",
        0,
        "ef506ecb698f75d31d25158f4f5c8a8a489944719b37338281badc33d0a975df",
    ),
    ("Approval.Approved", 5, "84984d27baa67bba38c49844cc7e8ae9248f68acb751a5376cdc550f3d1e1c36"),
    (
        "RoleAssignment.RoleGranted",
        2,
        "5e160a276e035bd93cc1afdea992f32304dc965e39790be57b3ddd9ed5c77474",
    ),
    (
        "RoleAssignment.RoleRevoked",
        1,
        "72a0cfc491a3d10afc92b61aa8eb4c7c9d1274334e58b85d6e81bb422cf3f0b0",
    ),
    (
        "LoginRefusals.LoginRefusalsCounted",
        0,
        "af90e516fe3025a5fb64123170abe9ccdc0ea6848e9f8250100ea051883343a2",
    ),
]
