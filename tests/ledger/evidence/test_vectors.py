"""Our verifiers over every evidence test vector in tests/vectors, as an auditor's would run.

A good vector must verify with no finding; a bad one must fail with exactly the findings its
`.reasons` file names, no more and no fewer (a finding is its reason code and where our
verifier reports it). The files must be what `tests/vectors/generate.py` writes, byte for
byte, so that a vector cannot drift from the generator that documents it.
"""

import zipfile
from pathlib import Path

import pytest

from ledger.evidence.bundle import BundleError, Receipt, verify_bundle, verify_receipt
from ledger.evidence.cosignature import WitnessPolicy, parse_witness_keys
from ledger.evidence.keys import SigningKey, VerifierKey, parse_verifier_keys
from ledger.evidence.leaf import LeafError, open_leaf
from ledger.evidence.note import NoteError, open_checkpoint
from ledger.evidence.reasons import Reason, reason
from tests.vectors import generate

VECTORS = Path(generate.__file__).parent
ORIGIN = generate.ORIGIN


def vectors(kind: str, verdict: str, suffix: str = "") -> list[Path]:
    directory = VECTORS / kind / verdict
    if not suffix:
        return sorted(path for path in directory.iterdir() if path.is_dir())
    return sorted(directory.glob(f"*{suffix}"))


def _id(path: Path) -> str:
    return path.name


def trusted_for(vector: Path) -> dict[str, VerifierKey]:
    own = vector.with_name(f"{vector.name.removesuffix(vector.suffix)}.keys")
    if vector.is_dir():
        own = vector.with_name(f"{vector.name}.keys")
    keys = own if own.exists() else VECTORS / generate.TRUSTED_KEYS
    return parse_verifier_keys(keys.read_text())


def witnesses_for(vector: Path) -> WitnessPolicy | None:
    """The witnesses a bundle is checked trusting, all of them required, if it names any."""
    own = vector.with_name(f"{vector.name}.witnesses")
    if not own.exists():
        return None
    keys = parse_witness_keys(own.read_text())
    return WitnessPolicy(keys, len(keys))


def expected(vector: Path) -> list[str]:
    name = vector.name if vector.is_dir() else vector.name.removesuffix(vector.suffix)
    return vector.with_name(f"{name}.reasons").read_text().splitlines()


def lines(findings: list[tuple[str, str]]) -> list[str]:
    return sorted(f"{reason} {where}".rstrip() for reason, where in findings)


def leaf_findings(vector: Path) -> list[str]:
    try:
        open_leaf(vector.read_bytes(), trusted_for(vector))
    except LeafError as error:
        return [error.reason]
    return []


def note_findings(vector: Path) -> list[str]:
    try:
        open_checkpoint(vector.read_bytes(), trusted_for(vector), origin=ORIGIN)
    except NoteError as error:
        return [error.reason]
    return []


def receipt_findings(vector: Path) -> list[str]:
    try:
        receipt = Receipt.from_json(vector.read_bytes())
    except BundleError as error:
        return lines([(error.reason, "receipt")])
    report = verify_receipt(receipt, trusted_for(vector))
    return lines([(problem.reason, problem.where) for problem in report.problems])


def kept_for(vector: Path) -> Path | None:
    """The bundle an auditor kept that the vector is checked since, if it has one."""
    kept = VECTORS / "bundles" / "kept" / vector.name
    return kept if kept.is_dir() else None


def bundle_findings(
    bundle: Path,
    trusted: dict[str, VerifierKey],
    witnesses: WitnessPolicy | None = None,
    since: Path | None = None,
) -> list[str]:
    try:
        report = verify_bundle(bundle, trusted, witnesses=witnesses, since=since)
    except BundleError as error:
        return lines([(error.reason, "bundle")])
    return lines([(problem.reason, problem.where) for problem in report.problems])


def zipped(directory: Path, into: Path) -> Path:
    """The bundle directory as the `.zip` of it that a bundle may also be."""
    archive_path = into / f"{directory.name}.zip"
    with zipfile.ZipFile(archive_path, "x") as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, path.name)
    return archive_path


# The files themselves


def test_the_generator_writes_exactly_the_vectors_there_are():
    written, there = generate.vectors(), generate.on_disk()
    assert sorted(written.keys() - there.keys()) == [], "run python -m tests.vectors.generate"
    assert sorted(there.keys() - written.keys()) == [], "files the generator does not write"
    assert [path for path in written if written[path] != there[path]] == []


def test_every_bad_vector_names_its_reasons_and_no_good_one_has_any():
    for kind, suffix in (("leaves", ".leaf"), ("notes", ".note"), ("receipts", ".json")):
        bad = {path.name.removesuffix(suffix) for path in vectors(kind, "bad", suffix)}
        named = {path.stem for path in (VECTORS / kind / "bad").glob("*.reasons")}
        assert bad == named, kind
        assert not list((VECTORS / kind / "good").glob("*.reasons")), kind
    bundles = {path.name for path in vectors("bundles", "bad")}
    assert bundles == {path.stem for path in (VECTORS / "bundles" / "bad").glob("*.reasons")}
    for path in (VECTORS / "leaves").rglob("*.reasons"):
        assert path.read_text().strip(), path


# Every code that a check without a database can report, except malformed-keys: the
# vectors are checked with trusted keys, never with a bundle's or receipt's own keys file.
OFFLINE_REASONS = {
    Reason.MALFORMED_LEAF,
    Reason.NON_CANONICAL_LEAF,
    Reason.INCONSISTENT_WITH_KEPT,
    Reason.KEPT_CHECKPOINT_NEWER,
    Reason.UNKNOWN_VERSION,
    Reason.BAD_SIGNATURE,
    Reason.UNKNOWN_KEY,
    Reason.BROKEN_CHAIN,
    Reason.SEQ_MISMATCH,
    Reason.OUT_OF_ORDER,
    Reason.PAYLOAD_MISMATCH,
    Reason.MALFORMED_PAYLOAD,
    Reason.ORPHAN_PAYLOAD,
    Reason.MALFORMED_NOTE,
    Reason.MALFORMED_CHECKPOINT,
    Reason.WRONG_ORIGIN,
    Reason.ROOT_MISMATCH,
    Reason.SIZE_MISMATCH,
    Reason.BAD_INCLUSION_PROOF,
    Reason.MALFORMED_PROOF,
    Reason.MISSING_PROOF,
    Reason.ORPHAN_PROOF,
    Reason.PROOF_MISMATCH,
    Reason.MISSING_FILE,
    Reason.MALFORMED_BUNDLE,
    Reason.MALFORMED_RECEIPT,
    Reason.BAD_COSIGNATURE,
    Reason.QUORUM_NOT_MET,
    # timestamps/ (tests/ledger/test_timestamping_vectors.py runs them)
    Reason.MALFORMED_TIMESTAMP,
    Reason.TIMESTAMP_MISMATCH,
    Reason.TIMESTAMP_UNTRUSTED,
}


def test_the_reasons_are_codes_of_the_format_and_cover_every_offline_one():
    named = [
        line.split(" ", 1)[0]
        for path in sorted(VECTORS.glob("*/bad/*.reasons"))
        for line in path.read_text().splitlines()
    ]
    assert {reason(code) for code in named} == OFFLINE_REASONS


def test_the_vectors_are_many_and_cover_every_kind():
    counts = {
        kind: (len(vectors(kind, "good", suffix)), len(vectors(kind, "bad", suffix)))
        for kind, suffix in (
            ("leaves", ".leaf"),
            ("notes", ".note"),
            ("receipts", ".json"),
            ("bundles", ""),
        )
    }
    assert all(good >= 3 and bad >= 10 for good, bad in counts.values()), counts


def test_the_test_keys_read_as_signing_keys_and_two_of_them_are_trusted():
    trusted = parse_verifier_keys((VECTORS / generate.TRUSTED_KEYS).read_text())
    assert set(trusted) == {generate.FIRST.kid, generate.ROTATED.kid}
    for label, key in generate.KEYS.items():
        read = SigningKey.read(VECTORS / "keys" / f"TEST-KEY-{label}.pem")
        assert (read.name, read.kid) == (key.name, key.kid)


# Leaves, notes and receipts


@pytest.mark.parametrize("vector", vectors("leaves", "good", ".leaf"), ids=_id)
def test_a_good_leaf_opens(vector):
    assert leaf_findings(vector) == []


@pytest.mark.parametrize("vector", vectors("leaves", "bad", ".leaf"), ids=_id)
def test_a_bad_leaf_fails_with_exactly_its_reasons(vector):
    assert leaf_findings(vector) == expected(vector)


@pytest.mark.parametrize("vector", vectors("notes", "good", ".note"), ids=_id)
def test_a_good_checkpoint_opens(vector):
    assert note_findings(vector) == []


@pytest.mark.parametrize("vector", vectors("notes", "bad", ".note"), ids=_id)
def test_a_bad_checkpoint_fails_with_exactly_its_reasons(vector):
    assert note_findings(vector) == expected(vector)


@pytest.mark.parametrize("vector", vectors("receipts", "good", ".json"), ids=_id)
def test_a_good_receipt_verifies(vector):
    assert receipt_findings(vector) == []


@pytest.mark.parametrize("vector", vectors("receipts", "bad", ".json"), ids=_id)
def test_a_bad_receipt_fails_with_exactly_its_reasons(vector):
    assert receipt_findings(vector) == expected(vector)


# Bundles, as the directory and as its zip


@pytest.mark.parametrize("form", ["directory", "zip"])
@pytest.mark.parametrize("vector", vectors("bundles", "good"), ids=_id)
def test_a_good_bundle_verifies(vector, form, tmp_path):
    bundle = vector if form == "directory" else zipped(vector, tmp_path)
    found = bundle_findings(bundle, trusted_for(vector), witnesses_for(vector), kept_for(vector))
    assert found == []


@pytest.mark.parametrize("form", ["directory", "zip"])
@pytest.mark.parametrize("vector", vectors("bundles", "bad"), ids=_id)
def test_a_bad_bundle_fails_with_exactly_its_reasons(vector, form, tmp_path):
    bundle = vector if form == "directory" else zipped(vector, tmp_path)
    found = bundle_findings(bundle, trusted_for(vector), witnesses_for(vector), kept_for(vector))
    assert found == expected(vector)
