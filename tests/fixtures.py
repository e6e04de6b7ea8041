"""Domain facts the tests share: valid CVRs, signatories, a login."""

from development.demo import CUSTOMERS, DemoPerson, demo_pdf
from ledger.application import LedgerApp
from ledger.domain import AgreementVersion, Authentication
from ledger.identity import Actor, NsisLevel

AARHUS = "55133018"
ODENSE = "35209115"
PDF = b"%PDF-1.4\n% test agreement\n%%EOF\n"


def signatory(
    cvr: str = AARHUS,
    name: str = "Anne Andersen",
    level: NsisLevel = NsisLevel.SUBSTANTIAL,
    person_uuid: str = "urn:uuid:00000000-0000-4000-8000-000000000001",
) -> Actor:
    return Actor.person(
        person_uuid=person_uuid, name=name, cvr=cvr, organisation="Test Kommune", loa=level
    )


def login(app: LedgerApp, assertion_id: str = "_assertion-1") -> Authentication:
    """A login whose assertion (a stand-in) `app` keeps, as the portal keeps a real one."""
    assertion = f'<saml:Assertion ID="{assertion_id}">test</saml:Assertion>'.encode()
    return Authentication(
        assertion_id=assertion_id,
        authn_instant="2026-11-29T08:00:00Z",
        assertion_sha256=app.documents.put(assertion),
    )


def register_customers(app: LedgerApp, operator: Actor) -> None:
    """The demo's three municipalities (Aarhus, Odense, København) as customers."""
    for cvr, name in CUSTOMERS.items():
        app.register_customer(cvr=cvr, name=name, actor=operator)


def published_agreement(app: LedgerApp, publisher: Actor) -> AgreementVersion:
    """Driftsaftale 2026.1, published by `publisher`."""
    return app.publish_agreement(
        title="Driftsaftale",
        version_label="2026.1",
        document=demo_pdf("Driftsaftale", "2026.1"),
        document_name="driftsaftale.pdf",
        actor=publisher,
    )


def approved_agreement(app: LedgerApp, *, publisher: Actor, approver: Actor) -> AgreementVersion:
    """Driftsaftale 2026.1, published by `publisher` and approved by `approver` (of Aarhus)."""
    agreement = published_agreement(app, publisher)
    app.approve(
        cvr=AARHUS,
        version_id=agreement.id,
        actor=approver,
        authentication=login(app, "_a1"),
        ip="127.0.0.1",
        user_agent="test",
    )
    return agreement


def grant(app: LedgerApp, operator: Actor, person: DemoPerson, role: str, cvrs: list[str]) -> None:
    """`role` for the demo's `person`, limited to `cvrs`, granted by `operator`."""
    app.grant_role(
        person_uuid=person.person_uuid,
        person_name=person.name,
        role=role,
        cvrs=cvrs,
        actor=operator,
    )
