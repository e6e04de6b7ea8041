"""The ledger's evidence checked by code we did not write: Go's golang.org/x/mod/sumdb/note
opens a checkpoint cosigned by two real witness processes with the log's verifier key alone
(the witnesses' lines are signatures of keys it does not know, which C2SP signed-note says a
verifier skips), and golang.org/x/mod/sumdb/tlog recomputes the root from a full bundle's
leaves and checks the ledger's inclusion proofs (receipts) and its consistency proof (a
bundle exported since a kept one). The program is tests/interop/go/ledgercheck, built here
with Debian's golang-go and golang-golang-x-mod-dev (no module proxy: GOPATH mode).

Skipped only where Go or those sources are not installed and not under CI=true (.ci/run
installs both): there a missing Go is a failure, as a missing PostgreSQL is.
"""

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from approval_ledger.cli import main
from approval_ledger.initialize import initialize
from ledger.application import LedgerApp
from ledger.cosigning import Cosigning
from tests.helpers import new_witness, witness_list
from tests.ledger.test_checkpointer import INTERVAL, register
from tests.ledger.test_witness import OPERATOR

GOPATH = Path("/usr/share/gocode")  # where golang-golang-x-mod-dev puts golang.org/x/mod
SOURCES = Path(__file__).parent / "go" / "ledgercheck"


@pytest.fixture(scope="session")
def ledgercheck(tmp_path_factory) -> Path:
    """The Go program, built once per session."""
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        if os.environ.get("CI"):
            pytest.fail("Go or golang.org/x/mod is not installed; .ci/run installs them")
        pytest.skip("Go is not installed (apt-get install golang-go golang-golang-x-mod-dev)")
    built = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(built / "cache"),
        "GOFLAGS": "",
    }
    done = subprocess.run(
        [go, "build", "-o", str(built / "ledgercheck"), "."],
        cwd=SOURCES,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return built / "ledgercheck"


def _check(program: Path, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(program), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def evidence(settings, tmp_path, monkeypatch):
    """A log cosigned by two real witnesses: a kept bundle, a bundle since it, and receipts
    of events in both checkpoints; with the log's keys file."""
    witnesses = [
        new_witness(tmp_path / "w1", "vidne.test.example/kommunerne"),
        new_witness(tmp_path / "w2", "vidne.test.example/revisoren"),
    ]
    initialize(settings, OPERATOR).app.close()
    for witness in witnesses:
        witness.witness_log(settings)
    entries = tuple(w.entry() for w in witnesses)
    app = LedgerApp(replace(settings, witnesses=entries, witness_quorum=2))
    cosigning = Cosigning(app.signed_log, entries, INTERVAL)
    for name, value in {
        "LEDGER_DATA_DIR": str(settings.data_dir),
        "LEDGER_DATABASE_URL": settings.database.url,
        "LEDGER_ORIGIN": settings.origin,
        "LEDGER_WITNESSES": str(witness_list(tmp_path, *witnesses)),
    }.items():
        monkeypatch.setenv(name, value)
    old, new = tmp_path / "audit-2026.zip", tmp_path / "audit-2027"
    receipts = []
    try:
        with witnesses[0].serving(), witnesses[1].serving():
            seqs = [register(app, OPERATOR, number) for number in range(5)]
            kept = app.signed_log.checkpoint()
            assert [o.kind for o in cosigning.run_once()] == ["cosigned", "cosigned"]
            assert main(["export", "--out", str(old)]) == 0
            seqs += [register(app, OPERATOR, number) for number in range(5, 12)]
            newest = app.signed_log.checkpoint()
            assert [o.kind for o in cosigning.run_once()] == ["cosigned", "cosigned"]
            assert main(["export", "--out", str(new), "--since-bundle", str(old)]) == 0
        for seq, size in [(seqs[0], kept.size), (seqs[4], newest.size), (seqs[-1], newest.size)]:
            receipts.append(tmp_path / f"receipt-{seq}-{size}.json")
            command = ["receipt", "--seq", str(seq), "--size", str(size)]
            assert main([*command, "--out", str(receipts[-1])]) == 0
    finally:
        cosigning.stop()
        app.close()
    keys = settings.keys_dir / "verifier-keys"
    return keys, old, new, receipts, kept.size, newest.size


def test_go_sumdb_opens_the_cosigned_checkpoints_and_checks_the_proofs(ledgercheck, evidence):
    keys, old, new, receipts, kept, newest = evidence
    checkpoint = (new / "checkpoint").read_text(encoding="utf-8")
    assert checkpoint.count("\n— ") == 3  # the log's signature and both witnesses'
    done = _check(ledgercheck, "-keys", keys, "-bundle", new, "-old", old, *receipts)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"bundle: checkpoint of size {newest} signed by ")
    assert lines[0].endswith(
        f"2 other signature lines skipped; the root of its {newest} leaves matches"
    )
    assert lines[1].startswith(f"consistency: the tree of size {newest} extends the kept one")
    assert f"of size {kept} " in lines[1]
    assert len(lines) == 2 + len(receipts)
    assert all("2 other signature lines skipped" in line for line in lines[2:])
    # The kept bundle alone (a zip, with no consistency.json) holds too.
    done = _check(ledgercheck, "-keys", keys, "-bundle", old)
    assert done.returncode == 0, done.stderr
    assert f"checkpoint of size {kept} " in done.stdout


def _copy(bundle: Path, into: Path) -> Path:
    shutil.copytree(bundle, into)
    return into


def test_go_sumdb_refuses_a_tampered_note_leaf_or_proof(ledgercheck, evidence, tmp_path):
    keys, _, new, receipts, _, _ = evidence

    # The checkpoint's root changed: the log's signature no longer holds.
    tampered = _copy(new, tmp_path / "note")
    text = (tampered / "checkpoint").read_text(encoding="utf-8")
    body, signatures = text.split("\n\n", 1)
    origin, size, root = body.split("\n")
    other = root[:-2] + ("A=" if root[-2] != "A" else "B=")
    (tampered / "checkpoint").write_text(
        f"{origin}\n{size}\n{other}\n\n{signatures}", encoding="utf-8"
    )
    done = _check(ledgercheck, "-keys", keys, "-bundle", tampered)
    assert done.returncode == 1
    assert "sumdb/note refuses the checkpoint: invalid signature" in done.stderr

    # Only witness lines and no log signature: sumdb/note finds no key it knows.
    tampered = _copy(new, tmp_path / "unsigned")
    lines = text.splitlines(keepends=True)
    log_line = next(line for line in lines if line.startswith(f"— {origin} "))
    (tampered / "checkpoint").write_text(text.replace(log_line, ""), encoding="utf-8")
    done = _check(ledgercheck, "-keys", keys, "-bundle", tampered)
    assert done.returncode == 1
    assert "sumdb/note refuses the checkpoint: note has no verifiable signatures" in done.stderr

    # One leaf changed: sumdb/tlog's root is not the checkpoint's.
    tampered = _copy(new, tmp_path / "leaf")
    entries = (tampered / "entries.jsonl").read_bytes().split(b"\n")
    entries[3] = entries[3].replace(b'"seq":3', b'"seq":3 ')
    (tampered / "entries.jsonl").write_bytes(b"\n".join(entries))
    done = _check(ledgercheck, "-keys", keys, "-bundle", tampered)
    assert done.returncode == 1
    assert "sumdb/tlog computes root" in done.stderr

    # A consistency proof with one hash changed.
    tampered = _copy(new, tmp_path / "consistency")
    proof = json.loads((tampered / "consistency.json").read_text(encoding="utf-8"))
    proof["consistency"][0] = "A" * 43 + "="
    (tampered / "consistency.json").write_text(json.dumps(proof), encoding="utf-8")
    done = _check(ledgercheck, "-keys", keys, "-bundle", tampered)
    assert done.returncode == 1
    assert "sumdb/tlog refuses the consistency proof" in done.stderr

    # An inclusion proof with one hash changed.
    receipt = json.loads(receipts[1].read_text(encoding="utf-8"))
    receipt["inclusion"][0] = "A" * 43 + "="
    forged = tmp_path / "forged-receipt.json"
    forged.write_text(json.dumps(receipt), encoding="utf-8")
    done = _check(ledgercheck, "-keys", keys, "-bundle", new, forged)
    assert done.returncode == 1
    assert "sumdb/tlog refuses the inclusion proof of leaf" in done.stderr
