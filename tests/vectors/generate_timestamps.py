"""Write tests/vectors/timestamps/: RFC 3161 tokens over a checkpoint vector, for verifiers of
section 3.2 of docs/evidence-format.md. Run from the repository's root:

    python -m tests.vectors.generate_timestamps

Unlike the other vectors these cannot be made again byte for byte: a token holds the time it
was made and an ECDSA or RSA signature, and its TSA's keys are made anew by each run (so
the anchors change with the tokens). They are made once and kept; their certificates hold for
a century. The TSAs are the tests' own (`openssl ts -reply`, tests/tsa.py), with their private
keys thrown away once the tokens are made.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from ledger.evidence.timestamp import log_signed_note, token_of_reply
from tests.tsa import TestTSA

HERE = Path(__file__).resolve().parent
OUT = HERE / "timestamps"
NOTE = HERE / "notes" / "good" / "checkpoint.note"
OTHER_NOTE = HERE / "notes" / "good" / "checkpoint-signed-by-both-log-keys.note"
CENTURY = 36525


def _query(data: bytes, directory: Path, digest: str = "sha256") -> bytes:
    """`openssl ts -query` over `data`, with a nonce and certReq (as the log asks)."""
    data_file = directory / "data.bin"
    data_file.write_bytes(data)
    done = subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data_file), f"-{digest}", "-cert"],
        capture_output=True,
        check=True,
    )
    return done.stdout


def _token(tsa: TestTSA, note: Path, directory: Path, digest: str = "sha256") -> bytes:
    return token_of_reply(tsa.reply(_query(log_signed_note(note.read_bytes()), directory, digest)))


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "good").mkdir(parents=True)
    (OUT / "bad").mkdir()
    shutil.copyfile(NOTE, OUT / "checkpoint.note")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        ecdsa = TestTSA(work / "ecdsa", "Testvektorernes TSA", valid_days=CENTURY)
        rsa = TestTSA(work / "rsa", "Testvektorernes RSA-TSA", rsa=True, valid_days=CENTURY)
        stranger = TestTSA(work / "stranger", "En ukendt TSA", valid_days=CENTURY)
        (OUT / "tsa-roots.pem").write_bytes(ecdsa.ca.read_bytes() + rsa.ca.read_bytes())
        good = {
            "ecdsa-p256": _token(ecdsa, NOTE, work),
            "rsa-2048": _token(rsa, NOTE, work),
        }
        bad = {
            # Over another checkpoint's note: the imprint is not this note's SHA-256.
            "over-another-checkpoint": (_token(ecdsa, OTHER_NOTE, work), "timestamp-mismatch"),
            # Over this note, but its imprint is SHA-384, not the format's SHA-256.
            "sha384-imprint": (_token(ecdsa, NOTE, work, "sha384"), "timestamp-mismatch"),
            # Over this note, by a TSA whose CA is not among the anchors.
            "untrusted-tsa": (_token(stranger, NOTE, work), "timestamp-untrusted"),
            # A good token cut short: no DER TimeStampToken.
            "truncated": (good["ecdsa-p256"][:200], "malformed-timestamp"),
        }
    for name, token in good.items():
        (OUT / "good" / f"{name}.tst").write_bytes(token)
    for name, (token, reason) in bad.items():
        (OUT / "bad" / f"{name}.tst").write_bytes(token)
        (OUT / "bad" / f"{name}.reasons").write_text(f"{reason} checkpoint.tst\n")


if __name__ == "__main__":
    main()
