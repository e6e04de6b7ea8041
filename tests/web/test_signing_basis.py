"""The basis of signing authority an approval records, from the NemLog-in login (issue 15):
the statement confirmed, and authorizedToRepresent when it names the CVR."""

from dataclasses import replace

from development.demo import PERSONS_BY_KEY
from tests.web.test_login import log_in
from tests.web.test_signatory import agreement, approve, portal  # noqa: F401 (fixtures)


def _approved_event(app, client, agreement):  # noqa: F811
    done = approve(client, agreement)
    seq = int(done.headers["Location"].rsplit("/", 1)[1])
    return app.signed_log.entry(seq).event


def test_an_approval_records_authorized_to_represent_when_it_names_the_cvr(
    portal,  # noqa: F811
    app,
    agreement,  # noqa: F811
):
    log_in(portal, "odense")  # NemLog-in says she may represent Odense Kommune
    event = _approved_event(app, portal, agreement)
    assert event.signing_basis == ["statement", "authorized-to-represent"]
    assert app.approval("35209115", agreement.id).signing_basis == event.signing_basis


def test_an_approval_without_the_attribute_rests_on_the_statement_alone(
    portal,  # noqa: F811
    app,
    agreement,  # noqa: F811
):
    log_in(portal, "koebenhavn")  # no authorizedToRepresent in his login
    event = _approved_event(app, portal, agreement)
    assert event.signing_basis == ["statement"]


SIGNING = "urn:dk:kundenet.digital-identity.dk:privilege:tegningsberettiget"


def test_an_approval_records_the_mitid_erhverv_privilege_the_operator_names(
    portal,  # noqa: F811
    app,
    agreement,  # noqa: F811
    monkeypatch,
):
    frederik = PERSONS_BY_KEY["koebenhavn"]
    monkeypatch.setitem(
        PERSONS_BY_KEY, "koebenhavn", replace(frederik, privileges=("urn:other", SIGNING))
    )
    monkeypatch.setattr(app, "settings", replace(app.settings, signing_privilege=SIGNING))
    log_in(portal, "koebenhavn")
    event = _approved_event(app, portal, agreement)
    assert event.signing_basis == ["statement", "mitid-privilege"]


def test_a_privilege_the_operator_does_not_name_is_no_basis(
    portal,  # noqa: F811
    app,
    agreement,  # noqa: F811
    monkeypatch,
):
    frederik = PERSONS_BY_KEY["koebenhavn"]
    monkeypatch.setitem(PERSONS_BY_KEY, "koebenhavn", replace(frederik, privileges=("urn:other",)))
    monkeypatch.setattr(app, "settings", replace(app.settings, signing_privilege=SIGNING))
    log_in(portal, "koebenhavn")
    assert _approved_event(app, portal, agreement).signing_basis == ["statement"]
