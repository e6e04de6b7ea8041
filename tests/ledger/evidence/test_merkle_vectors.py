"""The proof verifiers held to transparency-dev/merkle's language-neutral test vectors.

`tests/vectors/transparency-dev/` holds that project's `testdata/inclusion` and
`testdata/consistency` unchanged: each file is one verification with the hashes in base64
and `wantErr` saying whether it must fail. A vector that must fail and passes here is a
proof our verifiers would accept and Go's `proof.VerifyInclusion` or
`proof.VerifyConsistency` would refuse.
"""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.evidence import merkle

VECTORS = Path(__file__).parents[2] / "vectors" / "transparency-dev"
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))


def _decoded(vector: dict[str, Any], name: str) -> bytes:
    return base64.b64decode(vector[name] or "", validate=True)


def _proof(vector: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(h, validate=True) for h in vector["proof"] or []]


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS).with_suffix(""))


def _outcome(check: Any, *args: Any) -> bool:
    """Whether `check` refused its arguments with a ProofError."""
    try:
        check(*args)
    except merkle.ProofError:
        return True
    return False


def test_the_vectors_are_all_there():
    assert (len(INCLUSION), len(CONSISTENCY)) == (98, 98)


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_verification_agrees_with_transparency_dev(path):
    vector = json.loads(path.read_text())
    refused = _outcome(
        merkle.verify_inclusion_of_hash,
        vector["leafIdx"],
        vector["treeSize"],
        _decoded(vector, "leafHash"),
        _proof(vector),
        _decoded(vector, "root"),
    )
    assert refused == vector["wantErr"], vector["desc"]


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_verification_agrees_with_transparency_dev(path):
    vector = json.loads(path.read_text())
    refused = _outcome(
        merkle.verify_consistency,
        vector["size1"],
        vector["size2"],
        _decoded(vector, "root1"),
        _decoded(vector, "root2"),
        _proof(vector),
    )
    assert refused == vector["wantErr"], vector["desc"]
