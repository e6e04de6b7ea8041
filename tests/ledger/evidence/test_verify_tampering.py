"""A corpus of tampered ledgers, each failing `ledger verify` with exactly its reasons.

Every case builds a real ledger through the application (customers, an agreement, an
approval that is reset and given again, roles, a key rotation), closes it, and changes the
stored rows the way someone with write access to the database could. Each case states the
(reason, seq) pairs the verifier must report, so a verifier that misses a problem or
reports one too many fails. Problems that only a look across whole tables finds (a missing
leaf, a gap in an aggregate's versions) have no seq: they appear here with seq None.
"""

import json
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from approval_ledger.cli import main
from approval_ledger.initialize import initialize
from ledger.config import Settings
from ledger.domain import LoginRejection, approval_id
from ledger.evidence.canonical import canonical_json
from ledger.evidence.database import DatabaseURL
from ledger.evidence.keys import SigningKey, VerifierKey
from ledger.evidence.leaf import chain_hash, payload_sha256, rfc3339, sign_leaf
from ledger.evidence.tables import EVENTS_TABLE, LEAVES_TABLE
from ledger.evidence.verify import Report, verify_database
from ledger.identity import Actor
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory

# The ledger every case starts from, one event type per seq.
LAYOUT = (
    "LogStarted",  # 0, signed by the first key
    "Registered",  # 1, Aarhus
    "Registered",  # 2, Odense
    "Published",  # 3, the agreement
    "Approved",  # 4, Aarhus: the approval's version 1
    "ApprovalReset",  # 5, Aarhus: version 2
    "Approved",  # 6, Aarhus: version 3, the approval's last
    "Approved",  # 7, Odense: version 1
    "RoleGranted",  # 8, staff
    "KeyRotated",  # 9, the last leaf signed by the first key
    "RoleGranted",  # 10, auditor: the first leaf signed by the rotated key
    "ApprovalReset",  # 11, Odense: version 2
    "Approved",  # 12, Odense: version 3, the approval's last
    "RoleRevoked",  # 13, staff: the last leaf
)
AARHUS_APPROVED = 4
AARHUS_RESET = 5
AARHUS_APPROVED_AGAIN = 6
ODENSE_APPROVED = 7
STAFF_GRANTED = 8
KEY_ROTATED = 9
ODENSE_APPROVED_AGAIN = 12
LAST = len(LAYOUT) - 1

ORIGIN = "test.example/ledger"  # as tests/conftest.py configures every ledger
APPROVER_IP = b"192.0.2.10"
# The personal values LAYOUT's events commit (format 2): each approval's assertion id, IP,
# browser and approver's name and UUID (4 x 5), the staff and auditor grants' UUID and name
# (2 x 2), and the staff revocation's UUID; the operator's own events name no person.
PERSONAL_VALUES = 4 * 5 + 2 * 2 + 1

Pair = tuple[str, int | None]


@dataclass(frozen=True)
class LeafRecord:
    """One row of the leaves table."""

    seq: int
    originator_id: UUID
    originator_version: int
    leaf: bytes
    recorded_at: str
    next_kid: str


class Store:
    """The tables of a closed ledger, changed directly as an attacker would change them.

    Statements are written with `?` and run with `%s` on PostgreSQL; an id is 32-digit hex
    text on SQLite and a uuid on PostgreSQL, as each recorder stores it.
    """

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.url.is_sqlite:
            assert self.url.sqlite_path is not None
            with closing(sqlite3.connect(self.url.sqlite_path)) as connection, connection:
                return connection.execute(statement, params).fetchall()
        with psycopg.connect(self.url.url, autocommit=True) as connection:
            cursor = connection.execute(statement.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def sql_id(self, originator_id: UUID) -> str | UUID:
        return originator_id.hex if self.url.is_sqlite else originator_id

    def leaf(self, seq: int) -> LeafRecord:
        ((oid, version, leaf, recorded_at, next_kid),) = self.run(
            "SELECT originator_id, originator_version, leaf, recorded_at, next_kid "
            f"FROM {LEAVES_TABLE} WHERE seq = ?",
            (seq,),
        )
        return LeafRecord(seq, UUID(str(oid)), version, bytes(leaf), recorded_at, next_kid)

    def _event_key(self, seq: int) -> tuple[str | UUID, int]:
        record = self.leaf(seq)
        return self.sql_id(record.originator_id), record.originator_version

    def event(self, seq: int) -> tuple[str, bytes]:
        """The topic and payload of the event that the leaf at `seq` stands for."""
        ((topic, state),) = self.run(
            f"SELECT topic, state FROM {EVENTS_TABLE} "
            "WHERE originator_id = ? AND originator_version = ?",
            self._event_key(seq),
        )
        return topic, bytes(state)

    def set_payload(self, seq: int, state: bytes | None) -> None:
        self.run(
            f"UPDATE {EVENTS_TABLE} SET state = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            (state, *self._event_key(seq)),
        )

    def set_topic(self, seq: int, topic: str) -> None:
        self.run(
            f"UPDATE {EVENTS_TABLE} SET topic = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            (topic, *self._event_key(seq)),
        )

    def delete_event(self, seq: int) -> None:
        self.run(
            f"DELETE FROM {EVENTS_TABLE} WHERE originator_id = ? AND originator_version = ?",
            self._event_key(seq),
        )

    def delete_leaf(self, seq: int) -> None:
        self.run(f"DELETE FROM {LEAVES_TABLE} WHERE seq = ?", (seq,))

    def set_leaf(self, seq: int, leaf: bytes) -> None:
        """Replace a leaf's bytes, and its stored hash with them, as a careful forger would."""
        self.run(
            f"UPDATE {LEAVES_TABLE} SET leaf = ?, leaf_hash = ? WHERE seq = ?",
            (leaf, chain_hash(leaf), seq),
        )

    def set_recorded_at_column(self, seq: int, recorded_at: str) -> None:
        self.run(f"UPDATE {LEAVES_TABLE} SET recorded_at = ? WHERE seq = ?", (recorded_at, seq))

    def set_leaf_row_version(self, seq: int, version: int) -> None:
        self.run(f"UPDATE {LEAVES_TABLE} SET originator_version = ? WHERE seq = ?", (version, seq))

    def swap_seqs(self, first: int, second: int) -> None:
        """Exchange the places of two leaf rows in the log."""
        for new, old in ((-1, first), (first, second), (second, -1)):
            self.run(f"UPDATE {LEAVES_TABLE} SET seq = ? WHERE seq = ?", (new, old))

    def append_event(self, originator_id: UUID, version: int, topic: str, state: bytes) -> None:
        self.run(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            (self.sql_id(originator_id), version, topic, state),
        )

    def append_leaf(self, record: LeafRecord) -> None:
        self.run(
            f"INSERT INTO {LEAVES_TABLE} (seq, originator_id, originator_version, leaf, "
            "leaf_hash, recorded_at, next_kid) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.seq,
                self.sql_id(record.originator_id),
                record.originator_version,
                record.leaf,
                chain_hash(record.leaf),
                record.recorded_at,
                record.next_kid,
            ),
        )

    def drop_leaf_uniqueness(self) -> None:
        """Remove UNIQUE(originator_id, originator_version) from the leaves table.

        SQLite cannot drop a constraint, so the table is rebuilt without it.
        """
        if self.url.is_sqlite:
            assert self.url.sqlite_path is not None
            with closing(sqlite3.connect(self.url.sqlite_path)) as connection:
                connection.executescript(
                    "BEGIN; "
                    f"CREATE TABLE {LEAVES_TABLE}_new (seq INTEGER PRIMARY KEY, "
                    "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
                    "leaf BLOB NOT NULL, leaf_hash BLOB NOT NULL, recorded_at TEXT NOT NULL, "
                    "next_kid TEXT NOT NULL); "
                    f"INSERT INTO {LEAVES_TABLE}_new SELECT * FROM {LEAVES_TABLE}; "
                    f"DROP TABLE {LEAVES_TABLE}; "
                    f"ALTER TABLE {LEAVES_TABLE}_new RENAME TO {LEAVES_TABLE}; "
                    "COMMIT;"
                )
            return
        ((constraint,),) = self.run(
            "SELECT conname FROM pg_constraint "
            f"WHERE conrelid = '{LEAVES_TABLE}'::regclass AND contype = 'u'"
        )
        self.run(f'ALTER TABLE {LEAVES_TABLE} DROP CONSTRAINT "{constraint}"')


@dataclass(frozen=True)
class Ledger:
    """A ledger built through the application and closed, ready to be tampered with."""

    settings: Settings
    keys: dict[str, VerifierKey]
    first_kid: str
    rotated_kid: str
    store: Store

    def verify(self, keys: dict[str, VerifierKey] | None = None, jobs: int = 1) -> Report:
        return verify_database(
            self.settings.database, self.keys if keys is None else keys, jobs=jobs
        )


def _approve(app: Any, version_id: UUID, actor: Actor, assertion_id: str) -> None:
    app.approve(
        cvr=actor.cvr,
        version_id=version_id,
        actor=actor,
        authentication=login(app, assertion_id),
        ip=APPROVER_IP.decode(),
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    )


def build_ledger(settings: Settings, operator: Actor, *, login_rejections: int = 0) -> Ledger:
    """The ledger of LAYOUT, then `login_rejections` more events saved in one transaction."""
    app = initialize(settings, operator).app
    try:
        first_kid = app.signed_log.signing_kid()
        app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
        app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
        agreement = app.publish_agreement(
            title="Databehandleraftale",
            version_label="2026.1",
            document=PDF,
            document_name="databehandleraftale.pdf",
            actor=operator,
        )
        aarhus = signatory()
        odense = signatory(
            cvr=ODENSE,
            name="Ole Olsen",
            person_uuid="urn:uuid:00000000-0000-4000-8000-000000000002",
        )
        _approve(app, agreement.id, aarhus, "_aarhus-1")
        app.reset_approval(
            cvr=AARHUS,
            version_id=agreement.id,
            reason="Godkendt af en medarbejder uden fuldmagt",
            actor=operator,
        )
        _approve(app, agreement.id, aarhus, "_aarhus-2")
        _approve(app, agreement.id, odense, "_odense-1")
        staff = "urn:uuid:00000000-0000-4000-8000-0000000000aa"
        app.grant_role(
            person_uuid=staff,
            person_name="Sofie Sagsbehandler",
            role="staff",
            cvrs=[],
            actor=operator,
        )
        rotated_kid = app.signed_log.rotate_signing_key(operator)
        app.grant_role(
            person_uuid="urn:uuid:00000000-0000-4000-8000-0000000000bb",
            person_name="Rasmus Revisor",
            role="auditor",
            cvrs=[AARHUS],
            actor=operator,
        )
        app.reset_approval(
            cvr=ODENSE,
            version_id=agreement.id,
            reason="Aftalen blev godkendt ved en fejl",
            actor=operator,
        )
        _approve(app, agreement.id, odense, "_odense-2")
        app.revoke_role(person_uuid=staff, role="staff", actor=operator)
        if login_rejections:
            app.save(
                *(
                    LoginRejection(
                        reason="assurance level too low",
                        idp="https://idp.example/",
                        assertion_id=f"_rejected-{n}",
                        person_uuid=None,
                        cvr=None,
                        actor=Actor.system("login"),
                    )
                    for n in range(login_rejections)
                )
            )
        assert (
            tuple(entry.event_type for entry in app.signed_log.entries())[: len(LAYOUT)] == LAYOUT
        )
        app.signed_log.checkpoint()  # over the whole log, as `ledger serve` soon makes one
        keys = app.keyring.verifier_keys()
    finally:
        app.close()
    assert set(keys) == {first_kid, rotated_kid}
    return Ledger(settings, keys, first_kid, rotated_kid, Store(settings.database))


@pytest.fixture
def ledger(settings: Settings, operator: Actor) -> Ledger:
    """The LAYOUT ledger, once on SQLite and once on PostgreSQL."""
    return build_ledger(settings, operator)


@pytest.fixture
def sqlite_ledger(sqlite_settings: Settings, operator: Actor) -> Ledger:
    return build_ledger(sqlite_settings, operator)


def _order(pair: Pair) -> tuple[bool, int, str]:
    reason, seq = pair
    return (seq is None, -2 if seq is None else seq, reason)


def pairs(*expected: Pair) -> list[Pair]:
    return sorted(expected, key=_order)


def found(report: Report) -> list[Pair]:
    """Every problem as (reason, seq), duplicates kept, in a stable order."""
    return pairs(*((p.reason, p.seq) for p in report.problems))


def unplaced(report: Report) -> list[tuple[str, str | None, int | None]]:
    """The problems without a seq, with the event they name."""
    return sorted(
        (p.reason, p.originator_id, p.originator_version) for p in report.problems if p.seq is None
    )


def foreign_key() -> SigningKey:
    """A key under the log's own name that no verifier key vouches for."""
    return SigningKey.generate(ORIGIN)


def with_member(leaf: bytes, name: str, value: Any) -> bytes:
    """The leaf with one member changed and its signature kept, canonically encoded."""
    members = json.loads(leaf)
    members[name] = value
    return canonical_json(members)


def resigned(leaf: bytes, payload: bytes, key: SigningKey) -> bytes:
    """The leaf for a changed payload, otherwise the same, signed by `key`."""
    members = json.loads(leaf)
    return sign_leaf(
        seq=members["seq"],
        originator_id=members["originator_id"],
        originator_version=members["originator_version"],
        topic=members["topic"],
        payload=payload,
        prev=members["prev"],
        recorded_at=members["recorded_at"],
        key=key,
    )


# The untouched ledger


def test_an_untouched_ledger_holds(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.problems == []
    assert report.ok
    assert report.leaves == report.events == len(LAYOUT)


# Events changed under their leaves


def test_flipped_payload_byte_is_a_payload_mismatch(ledger: Ledger) -> None:
    _, payload = ledger.store.event(AARHUS_APPROVED_AGAIN)
    middle = len(payload) // 2
    flipped = payload[:middle] + bytes([payload[middle] ^ 0x01]) + payload[middle + 1 :]
    ledger.store.set_payload(AARHUS_APPROVED_AGAIN, flipped)

    assert found(ledger.verify()) == pairs(("payload-mismatch", AARHUS_APPROVED_AGAIN))


def test_changed_topic_is_a_topic_mismatch(sqlite_ledger: Ledger) -> None:
    reset_topic, _ = sqlite_ledger.store.event(AARHUS_RESET)
    sqlite_ledger.store.set_topic(AARHUS_APPROVED_AGAIN, reset_topic)

    assert found(sqlite_ledger.verify()) == pairs(("topic-mismatch", AARHUS_APPROVED_AGAIN))


# Events and leaves deleted


def test_deleted_event_in_the_middle_is_a_seq_gap_a_broken_chain_and_a_version_gap(
    ledger: Ledger,
) -> None:
    approval = ledger.store.leaf(AARHUS_RESET).originator_id
    ledger.store.delete_event(AARHUS_RESET)
    ledger.store.delete_leaf(AARHUS_RESET)

    report = ledger.verify()
    assert found(report) == pairs(
        ("seq-gap", AARHUS_RESET + 1),
        ("broken-chain", AARHUS_RESET + 1),
        ("version-gap", None),
    )
    assert unplaced(report) == [("version-gap", str(approval), 3)]
    assert (report.leaves, report.events) == (len(LAYOUT) - 1, len(LAYOUT) - 1)


def test_deleted_last_version_of_an_aggregate_is_a_seq_gap_and_a_broken_chain_only(
    sqlite_ledger: Ledger,
) -> None:
    sqlite_ledger.store.delete_event(ODENSE_APPROVED_AGAIN)
    sqlite_ledger.store.delete_leaf(ODENSE_APPROVED_AGAIN)

    assert found(sqlite_ledger.verify()) == pairs(
        ("seq-gap", ODENSE_APPROVED_AGAIN + 1), ("broken-chain", ODENSE_APPROVED_AGAIN + 1)
    )


def test_deleted_event_row_leaves_an_orphan_leaf_and_a_version_gap(sqlite_ledger: Ledger) -> None:
    approval = sqlite_ledger.store.leaf(AARHUS_RESET).originator_id
    sqlite_ledger.store.delete_event(AARHUS_RESET)

    report = sqlite_ledger.verify()
    assert found(report) == pairs(("orphan-leaf", AARHUS_RESET), ("version-gap", None))
    assert unplaced(report) == [("version-gap", str(approval), 3)]


def test_deleted_event_row_of_an_aggregates_last_version_is_only_an_orphan_leaf(
    sqlite_ledger: Ledger,
) -> None:
    sqlite_ledger.store.delete_event(ODENSE_APPROVED_AGAIN)

    assert found(sqlite_ledger.verify()) == pairs(("orphan-leaf", ODENSE_APPROVED_AGAIN))


def test_deleted_leaf_is_a_missing_leaf_a_seq_gap_and_a_broken_chain(
    sqlite_ledger: Ledger,
) -> None:
    approval = sqlite_ledger.store.leaf(AARHUS_RESET).originator_id
    sqlite_ledger.store.delete_leaf(AARHUS_RESET)

    report = sqlite_ledger.verify()
    assert found(report) == pairs(
        ("missing-leaf", None),
        ("seq-gap", AARHUS_RESET + 1),
        ("broken-chain", AARHUS_RESET + 1),
    )
    assert unplaced(report) == [("missing-leaf", str(approval), 2)]


def test_leaf_row_pointed_at_another_version_is_a_leaf_mismatch_an_orphan_and_a_missing_leaf(
    sqlite_ledger: Ledger,
) -> None:
    approval = sqlite_ledger.store.leaf(AARHUS_RESET).originator_id
    sqlite_ledger.store.set_leaf_row_version(AARHUS_RESET, 99)

    report = sqlite_ledger.verify()
    assert found(report) == pairs(
        ("orphan-leaf", AARHUS_RESET), ("leaf-mismatch", AARHUS_RESET), ("missing-leaf", None)
    )
    assert unplaced(report) == [("missing-leaf", str(approval), 2)]


# Leaves moved


def test_swapped_events_are_seq_mismatches_and_broken_chains(ledger: Ledger) -> None:
    first, second = 2, ODENSE_APPROVED
    ledger.store.swap_seqs(first, second)

    assert found(ledger.verify()) == pairs(
        ("seq-mismatch", first),
        ("broken-chain", first),
        ("broken-chain", first + 1),
        ("seq-mismatch", second),
        ("broken-chain", second),
        ("broken-chain", second + 1),
        ("checkpoint-root-mismatch", None),
    )


def test_swapped_neighbours_break_the_chain_at_both_and_after_them(sqlite_ledger: Ledger) -> None:
    sqlite_ledger.store.swap_seqs(AARHUS_APPROVED, AARHUS_RESET)

    assert found(sqlite_ledger.verify()) == pairs(
        ("seq-mismatch", AARHUS_APPROVED),
        ("broken-chain", AARHUS_APPROVED),
        ("seq-mismatch", AARHUS_RESET),
        ("broken-chain", AARHUS_RESET),
        ("broken-chain", AARHUS_RESET + 1),
        ("checkpoint-root-mismatch", None),
    )


def test_duplicated_leaf_is_a_duplicate_leaf_a_seq_mismatch_and_a_broken_chain(
    ledger: Ledger,
) -> None:
    ledger.store.drop_leaf_uniqueness()
    copy = ledger.store.leaf(AARHUS_APPROVED)
    ledger.store.append_leaf(
        LeafRecord(
            LAST + 1,
            copy.originator_id,
            copy.originator_version,
            copy.leaf,
            copy.recorded_at,
            copy.next_kid,
        )
    )

    report = ledger.verify()
    assert found(report) == pairs(
        ("duplicate-leaf", LAST + 1), ("seq-mismatch", LAST + 1), ("broken-chain", LAST + 1)
    )
    assert (report.leaves, report.events) == (len(LAYOUT) + 1, len(LAYOUT))


# Forged signatures


def test_forged_event_signed_by_an_unknown_key_is_only_an_unknown_key(ledger: Ledger) -> None:
    """A well-formed approval appended at the end, chained correctly, by a key not trusted."""
    topic, payload = ledger.store.event(AARHUS_APPROVED)
    last = ledger.store.leaf(LAST)
    forged_id = approval_id(AARHUS, uuid.uuid4())
    key = foreign_key()
    recorded_at = rfc3339(datetime.now(UTC))
    leaf = sign_leaf(
        seq=LAST + 1,
        originator_id=str(forged_id),
        originator_version=1,
        topic=topic,
        payload=payload,
        prev=chain_hash(last.leaf).hex(),
        recorded_at=recorded_at,
        key=key,
    )
    ledger.store.append_event(forged_id, 1, topic, payload)
    ledger.store.append_leaf(LeafRecord(LAST + 1, forged_id, 1, leaf, recorded_at, key.kid))

    report = ledger.verify()
    assert found(report) == pairs(("unknown-key", LAST + 1))
    assert report.problems[0].originator_id == str(forged_id)


def test_edited_payload_resigned_with_a_foreign_key_is_an_unknown_key_and_a_broken_chain(
    sqlite_ledger: Ledger,
) -> None:
    store = sqlite_ledger.store
    _, payload = store.event(ODENSE_APPROVED)
    # The IP address is committed, not in the payload (format 2): the forger changes the
    # customer the approval is for instead.
    assert APPROVER_IP not in payload
    assert f'"cvr":"{ODENSE}"'.encode() in payload
    edited = payload.replace(f'"cvr":"{ODENSE}"'.encode(), f'"cvr":"{AARHUS}"'.encode())
    store.set_payload(ODENSE_APPROVED, edited)
    store.set_leaf(
        ODENSE_APPROVED, resigned(store.leaf(ODENSE_APPROVED).leaf, edited, foreign_key())
    )
    assert json.loads(store.leaf(ODENSE_APPROVED).leaf)["payload_sha256"] == payload_sha256(edited)

    assert found(sqlite_ledger.verify()) == pairs(
        ("unknown-key", ODENSE_APPROVED),
        ("broken-chain", ODENSE_APPROVED + 1),
        ("checkpoint-root-mismatch", None),
    )


def test_edited_recorded_at_in_the_leaf_is_a_bad_signature_and_a_broken_chain(
    ledger: Ledger,
) -> None:
    record = ledger.store.leaf(AARHUS_APPROVED)
    recorded = datetime.fromisoformat(record.recorded_at.replace("Z", "+00:00"))
    backdated = rfc3339(recorded - timedelta(days=3))
    ledger.store.set_leaf(AARHUS_APPROVED, with_member(record.leaf, "recorded_at", backdated))
    ledger.store.set_recorded_at_column(AARHUS_APPROVED, backdated)

    assert found(ledger.verify()) == pairs(
        ("bad-signature", AARHUS_APPROVED),
        ("broken-chain", AARHUS_APPROVED + 1),
        ("checkpoint-root-mismatch", None),
    )


def test_edited_recorded_at_column_is_a_recorded_at_mismatch(sqlite_ledger: Ledger) -> None:
    record = sqlite_ledger.store.leaf(AARHUS_APPROVED)
    recorded = datetime.fromisoformat(record.recorded_at.replace("Z", "+00:00"))
    sqlite_ledger.store.set_recorded_at_column(
        AARHUS_APPROVED, rfc3339(recorded - timedelta(days=3))
    )

    assert found(sqlite_ledger.verify()) == pairs(("recorded-at-mismatch", AARHUS_APPROVED))


def test_edited_leaf_hash_column_is_a_leaf_hash_mismatch(sqlite_ledger: Ledger) -> None:
    """The recorder chains the next leaf onto the stored leaf_hash; a wrong one is reported
    before it can mislead a writer."""
    sqlite_ledger.store.run(
        f"UPDATE {LEAVES_TABLE} SET leaf_hash = ? WHERE seq = ?", (b"\0" * 32, AARHUS_APPROVED)
    )

    assert found(sqlite_ledger.verify()) == pairs(("leaf-hash-mismatch", AARHUS_APPROVED))


def _flip_first_signature_character(leaf: bytes) -> bytes:
    start = leaf.index(b'"sig":"') + len(b'"sig":"')
    replacement = b"B" if leaf[start : start + 1] == b"A" else b"A"
    return leaf[:start] + replacement + leaf[start + 1 :]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(_flip_first_signature_character, "bad-signature", id="flipped-signature"),
        pytest.param(lambda leaf: b"{ " + leaf[1:], "non-canonical-leaf", id="space-inserted"),
        pytest.param(
            lambda leaf: leaf.replace(b'"v":1}', b'"v":2}'), "unknown-version", id="version-2"
        ),
        pytest.param(lambda leaf: leaf[:-1], "malformed-leaf", id="truncated"),
        pytest.param(
            lambda leaf: leaf.replace(b',"sig":"', b',"signature":"'),
            "malformed-leaf",
            id="sig-renamed",
        ),
    ],
)
def test_damaged_leaf_fails_with_its_reason_and_breaks_the_chain_after_it(
    sqlite_ledger: Ledger, damage: Callable[[bytes], bytes], reason: str
) -> None:
    original = sqlite_ledger.store.leaf(STAFF_GRANTED).leaf
    damaged = damage(original)
    assert damaged != original
    sqlite_ledger.store.set_leaf(STAFF_GRANTED, damaged)

    assert found(sqlite_ledger.verify()) == pairs(
        (reason, STAFF_GRANTED),
        ("broken-chain", STAFF_GRANTED + 1),
        ("checkpoint-root-mismatch", None),
    )


def test_keys_without_the_rotated_key_make_every_later_leaf_an_unknown_key(
    sqlite_ledger: Ledger,
) -> None:
    first_key_only = {sqlite_ledger.first_kid: sqlite_ledger.keys[sqlite_ledger.first_kid]}

    report = sqlite_ledger.verify(keys=first_key_only)
    assert found(report) == pairs(
        *(("unknown-key", seq) for seq in range(KEY_ROTATED + 1, LAST + 1)),
        ("checkpoint-unknown-key", None),
    )
    assert {p.detail for p in report.problems if p.reason == "unknown-key"} == {
        f"no verifier key has key hash {sqlite_ledger.rotated_kid}"
    }


# Holes the verifier must not have


def test_forged_event_whose_leaf_is_filed_before_seq_0_is_reported(
    sqlite_ledger: Ledger,
) -> None:
    topic, payload = sqlite_ledger.store.event(AARHUS_APPROVED)
    forged_id = approval_id(AARHUS, uuid.uuid4())
    sqlite_ledger.store.append_event(forged_id, 1, topic, payload)
    sqlite_ledger.store.append_leaf(
        LeafRecord(-1, forged_id, 1, b"not a leaf", "2026-01-01T00:00:00.000000Z", "00000000")
    )

    report = sqlite_ledger.verify()
    assert [(p.reason, p.seq, p.originator_id) for p in report.problems] == [
        ("seq-out-of-range", -1, str(forged_id))
    ]


def _oversized_seq(leaf: bytes) -> bytes:
    return leaf.replace(f'"seq":{STAFF_GRANTED},'.encode(), b'"seq":9007199254740993,')


def _lone_surrogate_in_topic(leaf: bytes) -> bytes:
    return leaf.replace(b'"topic":"', b'"topic":"\\ud800')


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_oversized_seq, id="integer-beyond-2**53"),
        pytest.param(_lone_surrogate_in_topic, id="lone-surrogate"),
    ],
)
def test_leaf_that_cannot_be_canonical_is_reported_and_the_run_goes_on(
    sqlite_ledger: Ledger, damage: Callable[[bytes], bytes]
) -> None:
    """The leaf is JSON of the v1 members but has no RFC 8785 form: `non-canonical-leaf`,
    exactly as its leaf vector in tests/vectors requires, since the database check reads a
    stored leaf's bytes with the same `parse_leaf` as a leaf file."""
    original = sqlite_ledger.store.leaf(STAFF_GRANTED).leaf
    sqlite_ledger.store.set_leaf(STAFF_GRANTED, damage(original))

    assert found(sqlite_ledger.verify()) == pairs(
        ("non-canonical-leaf", STAFF_GRANTED),
        ("broken-chain", STAFF_GRANTED + 1),
        ("checkpoint-root-mismatch", None),
    )


def _null_payload(store: Store) -> list[Pair]:
    store.set_payload(AARHUS_APPROVED_AGAIN, None)
    return [("payload-mismatch", AARHUS_APPROVED_AGAIN)]


def _leaf_row_id_not_a_uuid(store: Store) -> list[Pair]:
    store.run(f"UPDATE {LEAVES_TABLE} SET originator_id = 'x' WHERE seq = ?", (AARHUS_RESET,))
    return [("orphan-leaf", AARHUS_RESET), ("leaf-mismatch", AARHUS_RESET), ("missing-leaf", None)]


def _event_id_not_a_uuid(store: Store) -> list[Pair]:
    topic, payload = store.event(AARHUS_APPROVED)
    store.run(
        f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
        "VALUES ('x', 1, ?, ?)",
        (topic, payload),
    )
    return [("missing-leaf", None)]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_null_payload, id="null-payload"),
        pytest.param(_leaf_row_id_not_a_uuid, id="leaf-row-id-not-a-uuid"),
        pytest.param(_event_id_not_a_uuid, id="event-id-not-a-uuid"),
    ],
)
def test_row_the_recorder_never_writes_is_reported_and_the_run_goes_on(
    sqlite_ledger: Ledger, damage: Callable[[Store], list[Pair]]
) -> None:
    expected = damage(sqlite_ledger.store)

    assert found(sqlite_ledger.verify()) == pairs(*expected)


# Parallel verification


def test_two_jobs_report_what_one_job_reports_across_chunks(
    sqlite_settings: Settings, operator: Actor
) -> None:
    """2114 leaves: jobs=2 checks them in ranges of 1000, jobs=1 in one range."""
    ledger = build_ledger(sqlite_settings, operator, login_rejections=2100)
    _, payload = ledger.store.event(500)
    ledger.store.set_payload(500, payload.replace(b"too low", b"too lew"))
    ledger.store.delete_event(1500)
    ledger.store.delete_leaf(1500)
    ledger.store.swap_seqs(1999, 2000)  # across the boundary of two ranges
    expected = pairs(
        ("payload-mismatch", 500),
        ("seq-gap", 1501),
        ("broken-chain", 1501),
        ("seq-mismatch", 1999),
        ("broken-chain", 1999),
        ("seq-mismatch", 2000),
        ("broken-chain", 2000),
        ("broken-chain", 2001),
    )

    one = ledger.verify(jobs=1)
    steps: list[int] = []
    two = verify_database(ledger.settings.database, ledger.keys, jobs=2, progress=steps.append)

    assert found(one) == expected
    assert found(two) == expected
    assert two.problems == one.problems
    assert two.leaves == one.leaves == 2113
    assert len(steps) > 1, "jobs=2 checked the log in one range"


def test_two_jobs_report_the_whole_table_and_tree_problems_as_one_job_does(
    sqlite_settings: Settings, operator: Actor
) -> None:
    """With jobs, the checks over whole tables and the tree run beside the workers' ranges:
    the report is still the one job's, in the same order."""
    ledger = build_ledger(sqlite_settings, operator, login_rejections=2100)
    ledger.store.drop_leaf_uniqueness()
    copied = ledger.store.leaf(5)
    ledger.store.append_leaf(LeafRecord(-1, *astuple(copied)[1:]))  # before seq 0: tables
    kept = ledger.store.leaf(700)
    ledger.store.set_leaf(700, kept.leaf.replace(b'"seq":700', b'"seq":701'))  # the tree

    one = ledger.verify(jobs=1)
    two = ledger.verify(jobs=2)

    reasons = {p.reason for p in one.problems}
    assert {"seq-out-of-range", "duplicate-leaf", "checkpoint-root-mismatch"} <= reasons
    assert two.problems == one.problems
    assert two.leaves == one.leaves


def test_two_jobs_report_a_gap_at_the_end_of_a_range_as_a_seq_gap(
    sqlite_settings: Settings, operator: Actor
) -> None:
    ledger = build_ledger(sqlite_settings, operator, login_rejections=2100)
    ledger.store.delete_event(999)
    ledger.store.delete_leaf(999)
    expected = pairs(("seq-gap", 1000), ("broken-chain", 1000))
    assert found(ledger.verify(jobs=1)) == expected

    assert found(ledger.verify(jobs=2)) == expected


# The command line


@pytest.fixture
def ledger_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point `ledger` at a built ledger through its environment variables."""

    def point_at(settings: Settings, database_url: str | None = None) -> None:
        monkeypatch.setenv("LEDGER_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("LEDGER_DATABASE_URL", database_url or settings.database.url)
        monkeypatch.setenv("LEDGER_ORIGIN", ORIGIN)
        monkeypatch.delenv("LEDGER_KEYS_DIR", raising=False)

    return point_at


def test_cli_verify_exits_0_on_an_untouched_ledger(
    ledger: Ledger, ledger_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    ledger_env(ledger.settings)

    assert main(["verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    documents = 5  # the agreement and the four approvals' login assertions
    assert out == [
        f"checked {len(LAYOUT)} leaves, {len(LAYOUT)} events and {documents} documents "
        f"({PERSONAL_VALUES} personal values, 0 of them erased): all holds"
    ]


def test_cli_verify_exits_1_and_prints_each_problem_and_a_summary(
    ledger: Ledger, ledger_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    oid = str(ledger.store.leaf(AARHUS_RESET).originator_id)
    ledger.store.delete_event(AARHUS_RESET)
    ledger.store.delete_leaf(AARHUS_RESET)
    ledger_env(ledger.settings)

    assert main(["verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    next_seq = AARHUS_RESET + 1
    assert len(out) == 4
    assert sorted(out[:3]) == sorted(
        [
            f"seq-gap: seq {next_seq} {oid} v3: no leaf has seq {AARHUS_RESET} to {AARHUS_RESET}",
            f"broken-chain: seq {next_seq} {oid} v3: prev is not the hash of the previous leaf",
            f"version-gap: seq - {oid} v3: versions 2 to 2 of the aggregate are missing",
        ]
    )
    leaves = events = len(LAYOUT) - 1
    assert out[3] == (
        f"checked {leaves} leaves, {events} events and 5 documents ({PERSONAL_VALUES} "
        "personal values, 0 of them erased): 3 problems (broken-chain 1, seq-gap 1, version-gap 1)"
    )


def test_cli_verify_json_lists_the_problems(
    sqlite_ledger: Ledger, ledger_env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    _, payload = sqlite_ledger.store.event(AARHUS_APPROVED)
    sqlite_ledger.store.set_payload(AARHUS_APPROVED, payload + b" ")
    ledger_env(sqlite_ledger.settings)

    assert main(["verify", "--json", "--jobs", "2"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert (report["leaves"], report["events"]) == (len(LAYOUT), len(LAYOUT))
    assert report["counts"] == {"payload-mismatch": 1}
    assert [(p["reason"], p["seq"], p["originator_version"]) for p in report["problems"]] == [
        ("payload-mismatch", AARHUS_APPROVED, 1)
    ]


def test_cli_verify_with_keys_lacking_the_rotated_key_exits_1(
    sqlite_ledger: Ledger,
    ledger_env: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys_file = tmp_path / "auditor-keys"
    keys_file.write_text(
        f"# only the first key\n{sqlite_ledger.keys[sqlite_ledger.first_kid].line()}\n"
    )
    ledger_env(sqlite_ledger.settings)

    assert main(["verify", "--keys", str(keys_file), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"checkpoint-unknown-key": 1, "unknown-key": LAST - KEY_ROTATED}


def test_cli_verify_exits_2_when_the_database_does_not_exist(
    sqlite_ledger: Ledger,
    ledger_env: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    absent = tmp_path / "elsewhere" / "ledger.sqlite3"
    ledger_env(sqlite_ledger.settings, f"sqlite:///{absent}")
    keys_file = sqlite_ledger.settings.keys_dir / "verifier-keys"

    assert main(["verify", "--keys", str(keys_file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot read the log" in captured.err
    assert str(absent) in captured.err
    assert not absent.exists()


@pytest.mark.postgres
def test_cli_verify_exits_2_when_the_postgres_database_does_not_exist(
    sqlite_ledger: Ledger,
    ledger_env: Callable[..., None],
    postgres_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    absent = f"{postgres_url.rsplit('/', 1)[0]}/ledger_absent_{uuid.uuid4().hex[:12]}"
    ledger_env(sqlite_ledger.settings, absent)

    assert main(["verify"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ledger: LEDGER_DATABASE_URL postgresql://")
    assert "does not exist" in captured.err
    assert len(captured.err.splitlines()) == 1


def test_cli_verify_exits_2_when_the_keys_file_does_not_exist(
    sqlite_ledger: Ledger,
    ledger_env: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger_env(sqlite_ledger.settings)

    assert main(["verify", "--keys", str(tmp_path / "no-such-keys")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot read verifier keys" in captured.err
