"""The public transparency API: checkpoints and keys for anyone, proofs for those entitled."""

import base64

from flask import Blueprint, Response, abort, jsonify
from flask_login import current_user, login_required

from ledger.domain import DomainError
from web.arguments import number_arg
from web.auth import ledger
from web.roles import may_read_entry

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
FROM_THE_EMPTY_TREE = (
    "from skal være mindst 1: der findes intet konsistensbevis fra det tomme træ "
    "(størrelse 0), for ethvert træ udvider det."
)


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


@blueprint.get("/checkpoint")
def latest_checkpoint() -> Response:
    """The newest checkpoint, covering every committed leaf: one is made at once when the
    cadence of `ledger serve` has not yet covered the newest. With the witnesses'
    cosignature lines kept of it so far after the log's own."""
    signed_log = ledger().signed_log
    checkpoint = signed_log.checkpoint()
    if checkpoint is None:
        abort(404)
    return _text(signed_log.cosigned_note(checkpoint))


@blueprint.get("/checkpoint/<int:size>")
def stored_checkpoint(size: int) -> Response:
    signed_log = ledger().signed_log
    checkpoint = signed_log.stored_checkpoint(size)
    if checkpoint is None:
        abort(404)
    return _text(signed_log.cosigned_note(checkpoint))


@blueprint.get("/keys")
def keys() -> Response:
    lines = [key.line() for key in ledger().keyring.verifier_keys().values()]
    return _text("".join(f"{line}\n" for line in lines))


@blueprint.get("/proof/inclusion")
@login_required
def inclusion() -> Response | tuple[Response, int]:
    seq, size = number_arg("seq", "seq"), number_arg("size", "size")
    entry = ledger().signed_log.entry(seq)
    if entry is None:
        abort(404)
    if not may_read_entry(entry):
        abort(403)
    try:
        proof = ledger().signed_log.inclusion_proof(seq, size)
    except DomainError as error:
        return jsonify(error=str(error)), 404
    checkpoint = ledger().signed_log.stored_checkpoint(size)
    if checkpoint is None:  # the proof was made from it: only a row deleted since does this
        abort(404)
    return jsonify(seq=seq, size=size, inclusion=_b64(proof), checkpoint=checkpoint.note)


@blueprint.get("/proof/consistency")
@login_required
def consistency() -> Response | tuple[Response, int]:
    old, new = number_arg("from", "from"), number_arg("to", "to")
    if old == 0:  # a proof from the empty tree proves nothing (RFC 9162 defines none)
        abort(400, FROM_THE_EMPTY_TREE)  # JSON under /api/: web/errors.py
    if not (current_user.is_auditor or current_user.cvr):
        abort(403)
    try:
        proof = ledger().signed_log.consistency_proof(old, new)
    except DomainError as error:
        return jsonify(error=str(error)), 404
    return jsonify(**{"from": old, "to": new, "consistency": _b64(proof)})
