"""The service provider and the development IdP, end to end without a browser."""

import pytest

from development.demo import PERSONS_BY_KEY
from ledger.identity import NsisLevel
from saml.refusals import LoginRefused
from tests.conftest import start_login


def test_a_signatory_at_substantial_logs_in_with_the_facts_of_the_assertion(sp, dev_idp):
    request_id = start_login(sp, dev_idp)
    identity = sp.accept(
        dev_idp.response(PERSONS_BY_KEY["aarhus"], request_id), pending=[request_id]
    )
    assert identity.person_uuid == "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a01"
    assert (identity.cvr, identity.organisation, identity.loa) == (
        "55133018",
        "Aarhus Kommune",
        NsisLevel.SUBSTANTIAL,
    )
    assert identity.name == "Anne Andersen"
    assert identity.authorized_to_represent == ("55133018",)
    assert identity.in_response_to == request_id
    assert b"Anne Andersen" in identity.assertion_xml
    assert b"Signature" in identity.assertion_xml


@pytest.mark.parametrize(
    ("persona", "reason"), [("low", "loa-too-low"), ("private", "private-identity")]
)
def test_level_low_and_private_mitid_are_refused(sp, dev_idp, persona, reason):
    request_id = start_login(sp, dev_idp)
    with pytest.raises(LoginRefused) as refused:
        sp.accept(dev_idp.response(PERSONS_BY_KEY[persona], request_id), pending=[request_id])
    assert refused.value.reason == reason
    if persona == "private":
        assert (refused.value.person_uuid, refused.value.cvr) == (None, None)
        assert "erhvervsidentitet (MitID Erhverv)" in refused.value.headline
    else:
        assert refused.value.cvr == "55133018"
        assert refused.value.headline == "Dit login har ikke et tilstrækkeligt sikringsniveau"


def test_the_same_response_is_accepted_once(sp, dev_idp):
    request_id = start_login(sp, dev_idp)
    response = dev_idp.response(PERSONS_BY_KEY["odense"], request_id)
    assert sp.accept(response, pending=[request_id]).loa is NsisLevel.HIGH
    with pytest.raises(LoginRefused, match="replayed"):
        sp.accept(response, pending=[request_id])
