"""The role Kollega (issue 15) beside the roles staff grant: the staff roles page lists only
Drift and Revisor, and a colleague's role is not revoked from there."""

from tests.web.test_staff import agreement, portal  # noqa: F401 (fixtures)

AARHUS = "55133018"
IDA = "2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e0a06"


def test_the_staff_roles_page_stands_beside_a_colleague_role(portal, app, operator):  # noqa: F811
    app.grant_colleague(cvr=AARHUS, person_uuid=IDA, person_name="Ida Iversen", actor=operator)
    page = portal.get("/drift/roller")
    assert page.status_code == 200
    assert "Ida Iversen" not in page.text
    asking = portal.get(f"/drift/roller/fratag?person_uuid={IDA}&role=colleague")
    assert asking.status_code == 404
