"""What a save stores and signs, byte for byte: the payloads of real domain events as the
application's mapper encodes them, and the leaves `LeafWriter` signs for them.

The bytes are pinned by their SHA-256, taken from the encoders before they were made faster,
so that a faster encoder that changes one byte of a payload or a leaf fails here. The leaves
are also compared with a reference built from RFC 8785 and the key alone.
"""

import base64
import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Mapper

from approval_ledger.initialize import initialize
from ledger.domain import (
    AgreementVersion,
    Approval,
    Authentication,
    Customer,
    LoginRefusals,
    RequestFacts,
    RoleAssignment,
    approval_statement,
)
from ledger.evidence.keys import SigningKey
from ledger.evidence.leaf import payload_sha256, sign_leaf
from ledger.identity import Actor, NsisLevel
from ledger.keyring import KeyRing
from ledger.storage import LastLeaf, LeafWriter
from tests.conftest import settings_in
from tests.fixtures import AARHUS, ODENSE

MOMENT = datetime(2026, 11, 29, 7, 15, 2, 123456, tzinfo=UTC)
OPERATOR = Actor(Actor.OPERATOR, "drift-ø")
SIGNATORY = Actor.person(
    person_uuid="urn:uuid:00000000-0000-4000-8000-000000000001",
    name="Anne Ærø Andersen",
    cvr=AARHUS,
    organisation="Aarhus Kommune",
    loa=NsisLevel.SUBSTANTIAL,
)
AGREEMENT_ID = UUID("6f1c2a52-8d3e-5b7a-9c1d-2e3f4a5b6c7d")


def fixed(event: Any) -> Any:
    """The event as if it happened at MOMENT (the library stamps the clock's time)."""
    return dataclasses.replace(event, timestamp=MOMENT)


def events() -> list[Any]:
    customer = Customer.register(AARHUS, "Aarhus Kommune \u2013 Økonomi", OPERATOR)
    customer_registered = customer.collect_events()
    agreement = AgreementVersion(
        title="Driftsaftale",
        version_label="2026.1",
        document_sha256="ab" * 32,
        document_name="driftsaftale æøå.pdf",
        document_size=12345,
        actor=OPERATOR,
    )
    published = agreement.collect_events()
    agreement.retire(actor=OPERATOR)
    retired = agreement.collect_events()
    approval = Approval.approve_first(
        cvr=AARHUS,
        agreement_version_id=AGREEMENT_ID,
        actor=SIGNATORY,
        authentication=Authentication("_a1", "2026-11-29T08:00:00Z", "cd" * 32),
        request=RequestFacts("192.0.2.7", 'Mozilla/5.0 (Ærø) "quoted"', "ab" * 32),
        confirmed_statement=approval_statement("Aarhus Kommune – Økonomi"),
    )
    approved = approval.collect_events()
    role = RoleAssignment.grant(
        None,
        person_uuid="00000000-0000-4000-8000-00000000000b",
        person_name="Anders Revisor",
        role="auditor",
        cvrs=[AARHUS, ODENSE],
        actor=OPERATOR,
    )
    granted = role.collect_events()
    role.revoke(actor=OPERATOR, reason="Revisionen af 2026 er afsluttet – tak.")
    revoked = role.collect_events()
    refusals = LoginRefusals.summarize(
        interval_start=MOMENT,
        interval_end=MOMENT.replace(minute=16),
        counts=[
            ("bad-signature", "192.0.2.0/24", 7),
            ("unsolicited", "2001:db8::/48", 2),
            *((f"r{n}", f"198.51.{n}.0/24", 1) for n in range(101)),
        ],
        actor=Actor.system("login"),
    )
    counted = refusals.collect_events()
    found = [
        *customer_registered,
        *published,
        *retired,
        *approved,
        *granted,
        *revoked,
        *counted,
    ]
    return [fixed(event) for event in found]


# (topic's last part, SHA-256 of the stored state), in the order of `events()`.
PAYLOADS = [
    ("Customer.Registered", "039b87a6f60cab86b4a4e1dc085de6010c4846ef251619fd2923979bdad4a41c"),
    (
        "AgreementVersion.Published",
        "2be2c3f278b7013d6882352d93a924f16911f8d5baf3ec96ff20b49050ab2f18",
    ),
    (
        "AgreementVersion.Retired",
        "ad5d27af356182c83f3423bd69046f8fcc17eb18db016da4a96a35d6fa8c3756",
    ),
    ("Approval.Approved", "0f91ebc3330c94fd83a77aa45703fba45d19ea8f1f2e8d2e81f4d3f75d004065"),
    (
        "RoleAssignment.RoleGranted",
        "123aef519a82ea5deac5949123046a6baabc0f2d808a985f0627810b38900132",
    ),
    (
        "RoleAssignment.RoleRevoked",
        "56ddb9ac7e9c8acdad2518bf4ba74fec0fb634654f8b55dac592e46d67f5c924",
    ),
    (
        "LoginRefusals.LoginRefusalsCounted",
        "19b537284b79e87a11548f1826fb2653b210565e7bc61cfbdd1381b441ee2f0a",
    ),
]
# The Customer.Registered payload in full: the one shown when the hashes disagree.
CUSTOMER_PAYLOAD = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-29T07:15:02.123456+00:00"},'
    b'"originator_topic":"ledger.domain:Customer","cvr":"55133018",'
    b'"name":"Aarhus Kommune \xe2\x80\x93 \xc3\x98konomi","actor":{"_type_":"actor","_data_":'
    b'{"kind":"operator","name":"drift-\xc3\xb8","person_uuid":null,"cvr":null,'
    b'"organisation":null,"loa":null}}}'
)
# An Approved payload as recorded before the portal asked for the confirmed statement, in
# full: such events stay readable (the statement reads as None) and keep their bytes.
APPROVED_WITHOUT_STATEMENT = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-29T07:15:02.123456+00:00"},'
    b'"originator_topic":"ledger.domain:Approval","cvr":"55133018","agreement_version_id":'
    b'{"_type_":"uuid_hex","_data_":"6f1c2a528d3e5b7a9c1d2e3f4a5b6c7d"},"actor":{"_type_":'
    b'"actor","_data_":{"kind":"person","name":"Anne \xc3\x86r\xc3\xb8 Andersen",'
    b'"person_uuid":"urn:uuid:00000000-0000-4000-8000-000000000001","cvr":"55133018",'
    b'"organisation":"Aarhus Kommune","loa":"Substantial"}},"authentication":{"_type_":'
    b'"authentication","_data_":{"assertion_id":"_a1","authn_instant":"2026-11-29T08:00:00Z",'
    b'"assertion_sha256":"' + b"cd" * 32 + b'"}},"request":{"_type_":"request_facts",'
    b'"_data_":{"ip":"192.0.2.7","user_agent":"Mozilla/5.0 (\xc3\x86r\xc3\xb8) \\"quoted\\"",'
    b'"document_sha256":"' + b"ab" * 32 + b'"}}}'
)
# A RoleRevoked payload as recorded before the portal asked why, in full: such events stay
# readable (the reason reads as None) and keep their bytes.
REVOKED_WITHOUT_REASON = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-29T07:15:02.123456+00:00"},'
    b'"person_uuid":"00000000-0000-4000-8000-00000000000b","role":"auditor","actor":'
    b'{"_type_":"actor","_data_":{"kind":"operator","name":"drift-\xc3\xb8","person_uuid":null,'
    b'"cvr":null,"organisation":null,"loa":null}}}'
)
# SHA-256 of each leaf `LeafWriter` signs for those events after LAST at MOMENT.
LEAVES = [
    "8e96e431db1614146d7930463cb7efc63ac64db4c1110c55de626c07a00b6ed4",
    "3efc41ed20ab1e55bcad3216bf474dca15886a0a6d80bffb1bde1ee7c0396ddf",
    "35d18f14d66a252ac88dbbfa86471c4a62a2d2f9839bcdaa8c16b81ec17dc312",
    "b20f2800f099f4fe77a149a196cbbf7b0a81b9401245aa67575e37a5605f5fab",
    "c5017aa4a866a90e06d32f37d959af16e390e38e059e5493cd0cdf41740cb9cc",
    "63b07de5c8c0c478d9c8767106c86e8d4d612c4506b62944dd2e6eb5410e740c",
    "13cc28a35236e2fd65480c5bb64228ff0a58eaf9bdf1def356dc1c2392a9009c",
]


@pytest.fixture(scope="module")
def mapper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mapper[UUID]]:
    """The application's mapper, with its transcodings (the database plays no part), of a
    log in evidence format 1: its bytes are pinned for good (format 2 commits personal
    values under random keys, tests/ledger/test_erasure.py)."""
    settings = settings_in(tmp_path_factory.mktemp("ledger") / "var")
    app = initialize(settings, OPERATOR, evidence_format=1).app
    yield app.mapper
    app.close()


def test_payloads_are_the_bytes_they_were(mapper: Mapper[UUID]) -> None:
    stored = [mapper.to_stored_event(event) for event in events()]
    assert stored[0].state == CUSTOMER_PAYLOAD
    assert [
        (s.topic.rsplit(":", 1)[1], hashlib.sha256(s.state).hexdigest()) for s in stored
    ] == PAYLOADS


def test_stored_payloads_decode_to_the_events(mapper: Mapper[UUID]) -> None:
    for event in events():
        assert mapper.to_domain_event(mapper.to_stored_event(event)) == event


def test_an_approval_recorded_before_the_confirmed_statement_still_reads(
    mapper: Mapper[UUID],
) -> None:
    assert (
        hashlib.sha256(APPROVED_WITHOUT_STATEMENT).hexdigest()
        == "3c5ac7b66e87897927f3f15af24d4cc37c302791259b855551f41710a094f16d"
    )
    stored = mapper.to_stored_event(events()[3])
    old = mapper.to_domain_event(dataclasses.replace(stored, state=APPROVED_WITHOUT_STATEMENT))
    assert isinstance(old, Approval.Approved)
    assert old.confirmed_statement is None
    assert "confirmed_statement" not in vars(old)  # nothing added to what was recorded
    approval = old.mutate(None)
    assert approval.is_approved
    assert approval.confirmed_statement is None
    assert mapper.to_stored_event(old).state == APPROVED_WITHOUT_STATEMENT


def test_a_revocation_recorded_before_its_reason_still_reads(mapper: Mapper[UUID]) -> None:
    assert (
        hashlib.sha256(REVOKED_WITHOUT_REASON).hexdigest()
        == "7eca37ecb3f61c0b9535db1bc624edf074ebc19406df0b188ddfcaa37c8486c5"
    )
    stored = mapper.to_stored_event(events()[5])
    old = mapper.to_domain_event(dataclasses.replace(stored, state=REVOKED_WITHOUT_REASON))
    assert isinstance(old, RoleAssignment.RoleRevoked)
    assert "reason" not in vars(old)  # nothing added to what was recorded
    assert "cvr" not in vars(old)  # nor the CVR (a colleague role's, since 2026-12-02)
    role = RoleAssignment.grant(
        None,
        person_uuid="00000000-0000-4000-8000-00000000000b",
        person_name="Anders Revisor",
        role="auditor",
        cvrs=[],
        actor=OPERATOR,
    )
    old.mutate(role)
    assert not role.active
    assert role.last_revocation_reason is None
    assert mapper.to_stored_event(old).state == REVOKED_WITHOUT_REASON


def key(label: str) -> SigningKey:
    seed = hashlib.sha256(f"approval-ledger stored bytes test key {label}".encode()).digest()
    return SigningKey("test.example/ledger", Ed25519PrivateKey.from_private_bytes(seed))


@pytest.fixture
def writer(tmp_path: Path) -> LeafWriter:
    for label in ("first", "next"):
        signing = key(label)
        signing.write(tmp_path / f"signing-{signing.kid}.pem")
    return LeafWriter(KeyRing(tmp_path), clock=lambda: MOMENT)


LAST = LastLeaf(41, hashlib.sha256(b"leaf 41").digest(), key("first").kid)


def reference_leaf(members: dict[str, Any], signing: SigningKey) -> bytes:
    """A leaf as docs/evidence-format.md section 1 defines it, from RFC 8785 alone."""
    signature = signing.sign(rfc8785.dumps(members))
    return rfc8785.dumps({**members, "sig": base64.b64encode(signature).decode()})


def test_leaves_are_the_bytes_they_were(mapper: Mapper[UUID], writer: LeafWriter) -> None:
    stored = [mapper.to_stored_event(event) for event in events()]
    rows = writer.leaves_for(stored, LAST, key("next").kid)
    prev = LAST.leaf_hash.hex()
    for position, (row, event) in enumerate(zip(rows, stored, strict=True)):
        members = {
            "v": 1,
            "seq": 42 + position,
            "originator_id": str(event.originator_id),
            "originator_version": event.originator_version,
            "topic": event.topic,
            "payload_sha256": payload_sha256(event.state),
            "prev": prev,
            "recorded_at": "2026-11-29T07:15:02.123456Z",
            "kid": key("first").kid,
        }
        assert row.leaf == reference_leaf(members, key("first"))
        assert row.leaf == sign_leaf(
            **{k: v for k, v in members.items() if k not in ("v", "payload_sha256", "kid")},
            payload=event.state,
            key=key("first"),
        )
        assert row.leaf_hash == hashlib.sha256(row.leaf).digest()
        assert (row.seq, row.originator_id, row.originator_version) == (
            42 + position,
            event.originator_id,
            event.originator_version,
        )
        assert row.recorded_at == members["recorded_at"]
        prev = row.leaf_hash.hex()
    assert [row.next_kid for row in rows] == [key("first").kid] * 6 + [key("next").kid]
    assert [hashlib.sha256(row.leaf).hexdigest() for row in rows] == LEAVES


def test_the_first_leaf_starts_the_chain(mapper: Mapper[UUID], tmp_path: Path) -> None:
    stored = mapper.to_stored_event(events()[0])
    key("first").write(tmp_path / f"signing-{key('first').kid}.pem")
    (row,) = LeafWriter(KeyRing(tmp_path), clock=lambda: MOMENT).leaves_for([stored], None)
    assert row.seq == 0
    assert b'"prev":"' + b"0" * 64 + b'"' in row.leaf
    assert row.next_kid == key("first").kid
