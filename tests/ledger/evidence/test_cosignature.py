"""Witness cosignatures (C2SP tlog-cosignature, Ed25519 `cosignature/v1`): what is signed,
the key hash of type 0x04, the witness key line, the witness list; and the lines checked by
an implementation we did not write, `tlog-scales`."""

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tlog_scales.signing import Vkey
from tlog_scales.tlog import Checkpoint as ScalesCheckpoint

from ledger.evidence.cosignature import (
    CosignatureError,
    Cosigner,
    CosignerKey,
    WitnessPolicy,
    cosignatures_of,
    cosigned_message,
    parse_witness_keys,
    parse_witness_list,
)
from ledger.evidence.keys import KeyFormatError, SigningKey, parse_verifier_keys
from ledger.evidence.note import NoteError, NoteSignature, open_checkpoint, sign_note, split_note
from ledger.evidence.reasons import Reason

ORIGIN = "test.example/ledger"
TEXT = f"{ORIGIN}\n42\n{base64.b64encode(bytes(range(32))).decode()}\n"


def _key(label: str) -> Ed25519PrivateKey:
    seed = hashlib.sha256(f"approval-ledger test witness {label}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


LOG = SigningKey(ORIGIN, _key("log"))
WITNESS = Cosigner("witness.test.example/w1", _key("w1"))
OTHER = Cosigner("witness.test.example/w2", _key("w2"))
NOTE = sign_note(TEXT, [LOG])


def test_the_signed_message_is_the_header_the_time_line_and_the_checkpoint_text():
    assert cosigned_message(TEXT, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + TEXT.encode()
    )
    with pytest.raises(CosignatureError):
        cosigned_message(TEXT, 1 << 63)
    with pytest.raises(CosignatureError):
        cosigned_message(TEXT, -1)


def test_a_cosignature_line_holds_the_type_4_key_hash_the_big_endian_time_and_the_signature():
    cosignature = WITNESS.cosign(TEXT, 1679315147)
    prefix, name, encoded = cosignature.line.rstrip("\n").split(" ")
    assert prefix == "\u2014"
    assert name == WITNESS.name
    blob = base64.b64decode(encoded)
    public = WITNESS.key.public_key
    expected_hash = hashlib.sha256(WITNESS.name.encode() + b"\n\x04" + public).digest()[:4]
    assert blob[:4] == expected_hash
    assert blob[4:12] == (1679315147).to_bytes(8, "big")
    WITNESS.private_key.public_key().verify(blob[12:], cosigned_message(TEXT, 1679315147))
    assert len(blob) == 4 + 8 + 64
    assert cosignature.timestamp == 1679315147
    assert cosignature.kid == expected_hash.hex()


def test_a_witness_key_is_never_taken_for_a_log_key_of_the_same_name_and_key():
    as_log_key = SigningKey(WITNESS.name, WITNESS.private_key).verifier_key
    assert as_log_key.key_hash != WITNESS.key.key_hash
    with pytest.raises(KeyFormatError, match="0x04"):
        CosignerKey.parse(as_log_key.line())
    # Nor does a note verifier trusting the log key read a cosignature as the log's.
    cosigned = NOTE + WITNESS.cosign(TEXT).line
    assert open_checkpoint(cosigned, {LOG.kid: LOG.verifier_key}).size == 42


def test_the_witness_key_line_parses_back_and_its_key_hash_is_checked():
    line = WITNESS.key.line()
    assert line.startswith(f"{WITNESS.name}+{WITNESS.key.kid}+")
    assert CosignerKey.parse(line) == WITNESS.key
    name, kid, encoded = line.split("+", 2)
    with pytest.raises(KeyFormatError, match="does not match"):
        CosignerKey.parse(f"{name}+{'0' * 8}+{encoded}")
    with pytest.raises(KeyFormatError):
        CosignerKey.parse(f"{name}+{kid}")


def test_cosignatures_of_a_note_are_verified_and_unknown_lines_are_skipped():
    first, second = WITNESS.cosign(TEXT, 1700000000), OTHER.cosign(TEXT, 1700000001)
    note = NOTE + first.line + second.line
    found = cosignatures_of(note, [WITNESS.key])
    assert found == [first]
    assert {c.witness for c in cosignatures_of(note, [WITNESS.key, OTHER.key])} == {
        WITNESS.name,
        OTHER.name,
    }
    assert cosignatures_of(NOTE, [WITNESS.key]) == []


def test_a_cosignature_over_another_text_or_time_does_not_verify():
    other_text = TEXT.replace("\n42\n", "\n43\n")
    moved = NOTE + WITNESS.cosign(other_text).line
    with pytest.raises(CosignatureError, match="does not verify"):
        cosignatures_of(moved, [WITNESS.key])
    _, signatures = split_note(NOTE + WITNESS.cosign(TEXT, 1700000000).line)
    genuine = signatures[-1]
    later = (1700000001).to_bytes(8, "big") + genuine.signature[8:]
    retimed = NOTE + NoteSignature(genuine.name, genuine.key_hash, later).line()
    with pytest.raises(CosignatureError, match="does not verify"):
        cosignatures_of(retimed, [WITNESS.key])
    short = NoteSignature(genuine.name, genuine.key_hash, genuine.signature[:40]).line()
    with pytest.raises(CosignatureError, match="72 bytes"):
        cosignatures_of(NOTE + short, [WITNESS.key])
    with pytest.raises(NoteError):
        cosignatures_of(TEXT, [WITNESS.key])


def test_tlog_scales_verifies_our_cosignature_and_the_log_signature():
    """An implementation of C2SP we did not write (tlog-scales, from PyPI) checks both."""
    cosigned = NOTE + WITNESS.cosign(TEXT).line
    checkpoint = ScalesCheckpoint.from_text(cosigned)
    checkpoint.verify(Vkey.from_string(WITNESS.key.line()))
    checkpoint.verify(Vkey.from_string(LOG.verifier_key.line()))
    forged = NOTE + OTHER.cosign(TEXT).line.replace(OTHER.name, WITNESS.name)
    with pytest.raises(RuntimeError, match="no signature matched"):
        ScalesCheckpoint.from_text(forged).verify(Vkey.from_string(WITNESS.key.line()))


def test_tlog_scales_cosignatures_verify_with_ours():
    """And the other way: a cosignature made by tlog-scales' signer format holds for us."""
    timestamp = 1700000000
    scales = ScalesCheckpoint.from_text(NOTE)
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + scales.serialize_body().encode()
    signature = timestamp.to_bytes(8, "big") + WITNESS.private_key.sign(message)
    vkey = Vkey.from_string(WITNESS.key.line())
    line = (
        f"\u2014 {vkey.name} "
        + base64.b64encode(vkey.key_id.to_bytes(4, "big") + signature).decode()
    )
    assert cosignatures_of(NOTE + line + "\n", [WITNESS.key])[0].timestamp == timestamp


def test_a_witness_list_names_each_witness_its_url_and_its_key():
    text = (
        "# witnesses of the log\n\n"
        f"{WITNESS.name} https://witness.test.example/w1/ {WITNESS.key.line()}\n"
        f"{OTHER.name} http://127.0.0.1:7380 {OTHER.key.line()}\n"
    )
    first, second = parse_witness_list(text)
    assert (first.name, first.url, first.key) == (
        WITNESS.name,
        "https://witness.test.example/w1",
        WITNESS.key,
    )
    assert second.url == "http://127.0.0.1:7380"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("witness.test.example/w1 https://w.example", "<name> <URL> <witness key>"),
        (f"wrong.example https://w.example {WITNESS.key.line()}", "is named"),
        (f"{WITNESS.name} ftp://w.example {WITNESS.key.line()}", "not an http or https URL"),
        (f"{WITNESS.name} https://w.example/?a=1 {WITNESS.key.line()}", "no query"),
        (f"{WITNESS.name} https://w.example {LOG.verifier_key.line()}", "line 1"),
    ],
)
def test_a_witness_list_line_that_does_not_follow_the_format_is_refused(line, message):
    with pytest.raises(CosignatureError, match=message):
        parse_witness_list(line + "\n")


def test_a_witness_listed_twice_is_refused():
    line = f"{WITNESS.name} https://w.example {WITNESS.key.line()}\n"
    with pytest.raises(CosignatureError, match="listed twice"):
        parse_witness_list(line + line)


# The cosignature vectors of tests/vectors (written by tests/vectors/generate.py)

VECTORS = Path(__file__).parents[2] / "vectors"
TRUSTED_LOG_KEYS = parse_verifier_keys((VECTORS / "keys/trusted.keys").read_text())
TRUSTED_WITNESSES = [
    CosignerKey.parse(line)
    for line in (VECTORS / "keys/trusted.witnesses").read_text().splitlines()
]


def _vectors(kind: str) -> list[Path]:
    return sorted((VECTORS / "cosignatures" / kind).glob("*.note"))


@pytest.mark.parametrize("vector", _vectors("good"), ids=lambda path: path.stem)
def test_a_good_cosignature_vector_holds_the_cosignatures_it_names(vector: Path):
    note = vector.read_bytes()
    assert open_checkpoint(note, TRUSTED_LOG_KEYS, "test.example/ledger").size == 9
    found = sorted(f"{c.witness} {c.timestamp}\n" for c in cosignatures_of(note, TRUSTED_WITNESSES))
    assert "".join(found) == vector.with_suffix(".cosigned").read_text()
    scales = ScalesCheckpoint.from_text(note.decode())  # and so does tlog-scales
    for key in TRUSTED_WITNESSES:
        if key.name in "".join(found):
            scales.verify(Vkey.from_string(key.line()))


@pytest.mark.parametrize("vector", _vectors("bad"), ids=lambda path: path.stem)
def test_a_bad_cosignature_vector_is_refused_for_the_witness_it_names(vector: Path):
    note = vector.read_bytes()
    assert open_checkpoint(note, TRUSTED_LOG_KEYS).size == 9  # the log's signature holds
    (witness,) = vector.with_suffix(".refused").read_text().split()
    with pytest.raises(CosignatureError, match=witness):
        cosignatures_of(note, TRUSTED_WITNESSES)
    key = next(k for k in TRUSTED_WITNESSES if k.name == witness)
    with pytest.raises((ValueError, InvalidSignature)):  # tlog-scales refuses it too
        ScalesCheckpoint.from_text(note.decode()).verify(Vkey.from_string(key.line()))


def test_the_specification_shows_the_vector_cosignature_and_witness_key():
    spec = (Path(__file__).parents[3] / "docs/evidence-format.md").read_text(encoding="utf-8")
    note = (VECTORS / "cosignatures/good/cosigned-by-one-witness.note").read_text()
    assert note.splitlines()[-1] in spec
    assert TRUSTED_WITNESSES[0].line() in spec


def _policy(quorum: int) -> WitnessPolicy:
    return WitnessPolicy(TRUSTED_WITNESSES, quorum)


def test_a_witness_policy_counts_the_trusted_cosigners_against_its_quorum():
    two = (VECTORS / "cosignatures/good/cosigned-by-two-witnesses.note").read_bytes()
    one = (VECTORS / "cosignatures/good/cosigned-also-by-an-unknown-witness.note").read_bytes()
    cosignatures, findings = _policy(2).check(two)
    assert sorted(c.witness for c in cosignatures) == [
        "witness.test.example/w1",
        "witness.test.example/w2",
    ]
    assert findings == []
    assert _policy(1).check(one)[1] == []
    cosignatures, findings = _policy(2).check(one)
    assert [c.witness for c in cosignatures] == ["witness.test.example/w1"]
    assert findings == [
        (
            Reason.QUORUM_NOT_MET,
            "cosigned by 1 of the 2 trusted witnesses (witness.test.example/w1); the quorum is 2",
        )
    ]


@pytest.mark.parametrize("vector", _vectors("bad"), ids=lambda path: path.stem)
def test_a_witness_policy_reports_a_bad_cosignature_and_does_not_count_it(vector: Path):
    cosignatures, findings = _policy(1).check(vector.read_bytes())
    assert cosignatures == []
    assert [reason for reason, _ in findings] == [Reason.BAD_COSIGNATURE, Reason.QUORUM_NOT_MET]


def test_a_witness_policy_needs_a_witness_and_a_quorum_it_can_reach():
    with pytest.raises(ValueError, match="at least one"):
        WitnessPolicy((), 1)
    with pytest.raises(ValueError, match="from 1 to 2"):
        _policy(3)
    with pytest.raises(ValueError, match="from 1 to 2"):
        _policy(0)


def test_witness_keys_are_read_one_a_line():
    text = (VECTORS / "keys/trusted.witnesses").read_text()
    assert list(parse_witness_keys("# mine\n\n" + text)) == TRUSTED_WITNESSES
    with pytest.raises(KeyFormatError, match="line 1"):
        parse_witness_keys(LOG.verifier_key.line())
