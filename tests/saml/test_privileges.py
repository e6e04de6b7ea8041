"""NemLog-in's privilegesIntermediate (OIO Basic Privilege Profile, base64 XML): the privileges
of the login's own CVR are read, others and anything unreadable are not (issue 15)."""

import base64

from development.idp import privilege_list
from saml.policy import privileges_for

AARHUS, ODENSE = "55133018", "35209115"


def test_the_privileges_of_the_logins_cvr_are_read_and_no_others() -> None:
    ours = privilege_list(AARHUS, ("urn:a", "urn:b", "urn:a"))
    theirs = privilege_list(ODENSE, ("urn:c",))
    assert privileges_for([ours, theirs], AARHUS) == ("urn:a", "urn:b")
    assert privileges_for([ours], ODENSE) == ()


def test_an_unreadable_list_is_no_privilege() -> None:
    entity = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "urn:evil">]>'
        b'<PrivilegeList><PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:55133018">'
        b"<Privilege>&e;</Privilege></PrivilegeGroup></PrivilegeList>"
    )
    for value in ("not base64!", base64.b64encode(b"<unclosed").decode(), "", "A" * 70_000):
        assert privileges_for([value], AARHUS) == ()
    assert privileges_for([base64.b64encode(entity).decode()], AARHUS) == ()
