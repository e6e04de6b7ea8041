"""The public transparency API over a real ledger, on SQLite and PostgreSQL; who may fetch
proofs, logged in through the development IdP as in the other web tests."""

import base64

import pytest

from development.demo import PERSONS_BY_KEY
from ledger.evidence import merkle
from ledger.evidence.note import open_checkpoint
from tests.fixtures import AARHUS, ODENSE, PDF, login, signatory
from tests.web.test_login import log_in

AUDITOR = PERSONS_BY_KEY["auditor"]
FROM_THE_EMPTY_TREE = (
    "from skal være mindst 1: der findes intet konsistensbevis fra det tomme træ "
    "(størrelse 0), for ethvert træ udvider det."
)


@pytest.fixture
def client(app, operator, make_portal):
    """Six events, with a checkpoint asked for after each (sizes 1 to 6), as a receipt or
    the cadence would make them."""
    app.signed_log.checkpoint()
    app.register_customer(cvr=AARHUS, name="Aarhus Kommune", actor=operator)
    app.signed_log.checkpoint()
    app.register_customer(cvr=ODENSE, name="Odense Kommune", actor=operator)
    app.signed_log.checkpoint()
    agreement = app.publish_agreement(
        title="Driftsaftale", version_label="1", document=PDF, document_name="d.pdf", actor=operator
    )
    app.signed_log.checkpoint()
    for cvr in (AARHUS, ODENSE):
        app.approve(
            cvr=cvr,
            version_id=agreement.id,
            actor=signatory(cvr=cvr),
            authentication=login(app),
            ip="192.0.2.1",
            user_agent="test",
        )
        app.signed_log.checkpoint()
    flask_app = make_portal(app, config={"TESTING": True})
    return flask_app.test_client()


def test_anyone_reads_the_signed_checkpoint_and_the_keys(client, app):
    response = client.get("/api/v1/checkpoint")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    keys = client.get("/api/v1/keys").get_data(as_text=True)
    assert keys.splitlines() == [k.line() for k in app.keyring.verifier_keys().values()]
    checkpoint = open_checkpoint(response.get_data(as_text=True), app.keyring.verifier_keys())
    assert checkpoint.size == 6
    older = client.get("/api/v1/checkpoint/3")
    assert open_checkpoint(older.get_data(as_text=True), app.keyring.verifier_keys()).size == 3
    assert client.get("/api/v1/checkpoint/99").status_code == 404


def test_proofs_need_a_login(client):
    assert client.get("/api/v1/proof/inclusion?seq=4&size=6").status_code == 401
    assert client.get("/api/v1/proof/consistency?from=3&to=6").status_code == 401


def test_a_signatory_gets_proofs_of_its_own_events_only(client, app):
    log_in(client, "aarhus")
    own = client.get("/api/v1/proof/inclusion?seq=4&size=6")
    assert own.status_code == 200
    body = own.get_json()
    checkpoint = open_checkpoint(body["checkpoint"], app.keyring.verifier_keys())
    leaf = next(e for e in app.signed_log.entries() if e.seq == 4).leaf
    merkle.verify_inclusion(
        4, 6, leaf, [base64.b64decode(h) for h in body["inclusion"]], checkpoint.root
    )
    assert client.get("/api/v1/proof/inclusion?seq=5&size=6").status_code == 403


def test_an_auditor_gets_inclusion_and_consistency_proofs(client, app, operator):
    app.grant_role(
        person_uuid=AUDITOR.person_uuid,
        person_name=AUDITOR.name,
        role="auditor",
        cvrs=[],
        actor=operator,
    )
    log_in(client, "auditor")
    assert client.get("/api/v1/proof/inclusion?seq=5&size=6").status_code == 200
    body = client.get("/api/v1/proof/consistency?from=3&to=6").get_json()
    keys = app.keyring.verifier_keys()
    old = open_checkpoint(app.signed_log.stored_checkpoint(3).note, keys)
    new = open_checkpoint(app.signed_log.stored_checkpoint(6).note, keys)
    merkle.verify_consistency(
        3, 6, old.root, new.root, [base64.b64decode(h) for h in body["consistency"]]
    )


def test_a_consistency_proof_from_the_empty_tree_is_a_400_with_a_message(client, app, operator):
    """RFC 9162 defines no consistency proof from size 0 and our verifier refuses an empty
    one: every tree extends the empty tree, so such a proof would prove nothing."""
    app.grant_role(
        person_uuid=AUDITOR.person_uuid,
        person_name=AUDITOR.name,
        role="auditor",
        cvrs=[],
        actor=operator,
    )
    log_in(client, "auditor")
    for query in ("from=0&to=6", "from=0&to=0", "from=0&to=99"):
        response = client.get(f"/api/v1/proof/consistency?{query}")
        assert response.status_code == 400, query
        assert response.get_json() == {"error": FROM_THE_EMPTY_TREE}, query
    assert client.get("/api/v1/proof/consistency?from=1&to=6").status_code == 200


def test_an_auditor_limited_to_a_cvr_gets_no_proofs_of_others(client, app, operator):
    app.grant_role(
        person_uuid=AUDITOR.person_uuid,
        person_name=AUDITOR.name,
        role="auditor",
        cvrs=[ODENSE],
        actor=operator,
    )
    log_in(client, "auditor")
    assert client.get("/api/v1/proof/inclusion?seq=5&size=6").status_code == 200
    assert client.get("/api/v1/proof/inclusion?seq=4&size=6").status_code == 403


@pytest.mark.parametrize("query", ["seq=x&size=6", "seq=-1&size=6", "size=6", "seq=4&size=abc"])
def test_bad_proof_parameters_are_a_400_with_a_message(client, query):
    log_in(client, "aarhus")
    response = client.get(f"/api/v1/proof/inclusion?{query}")
    assert response.status_code == 400
    assert "heltal" in response.get_data(as_text=True)


def test_a_proof_for_a_size_without_checkpoint_is_a_404(client):
    log_in(client, "aarhus")
    assert client.get("/api/v1/proof/inclusion?seq=4&size=99").status_code == 404
    assert client.get("/api/v1/proof/inclusion?seq=40&size=6").status_code == 404
