"""The RFC 3161 test vectors (tests/vectors/timestamps/, made by
tests/vectors/generate_timestamps.py): ours and `openssl ts -verify` accept the good tokens
over the checkpoint vector with the vectors' anchors, and refuse every bad one, ours with
exactly the reason code its `.reasons` file names."""

import datetime
import subprocess
from pathlib import Path

import pytest

from ledger.evidence.timestamp import TimestampError, check_token, load_roots, log_signed_note

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "timestamps"
NOTE = (VECTORS / "checkpoint.note").read_bytes()
ROOTS = load_roots((VECTORS / "tsa-roots.pem").read_bytes())
GOOD = sorted((VECTORS / "good").glob("*.tst"))
BAD = sorted((VECTORS / "bad").glob("*.tst"))


def _openssl_verifies(token: Path, tmp_path: Path) -> bool:
    data = tmp_path / "data.bin"
    data.write_bytes(log_signed_note(NOTE))
    anchors = VECTORS / "tsa-roots.pem"
    command = ["openssl", "ts", "-verify", "-token_in", "-in", str(token), "-data", str(data)]
    done = subprocess.run(
        [*command, "-CAfile", str(anchors)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0 and b"Verification: OK" in done.stdout


def test_the_vectors_are_there_and_their_anchors_hold_for_decades():
    assert [p.stem for p in GOOD] == ["ecdsa-p256", "rsa-2048"]
    assert len(BAD) == 4
    assert len(ROOTS) == 2
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=50 * 365)
    assert all(root.not_valid_after_utc > soon for root in ROOTS)


@pytest.mark.parametrize("token", GOOD, ids=lambda p: p.stem)
def test_a_good_vector_holds_with_ours_and_with_openssl(token, tmp_path):
    stamp = check_token(token.read_bytes(), NOTE, ROOTS)
    assert stamp.tsa.startswith("Testvektorernes")
    assert _openssl_verifies(token, tmp_path)


@pytest.mark.parametrize("token", BAD, ids=lambda p: p.stem)
def test_a_bad_vector_is_refused_with_its_reason(token, tmp_path):
    reasons = token.with_suffix(".reasons").read_text(encoding="utf-8").split()
    with pytest.raises(TimestampError) as refused:
        check_token(token.read_bytes(), NOTE, ROOTS)
    assert str(refused.value.reason) == reasons[0]
    # A SHA-384 imprint is a good RFC 3161 token, which openssl accepts; only the format
    # (section 3.2) requires SHA-256. Every other bad vector is bad for openssl too.
    assert _openssl_verifies(token, tmp_path) == (token.stem == "sha384-imprint")
