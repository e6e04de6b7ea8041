"""Demo data for `make demo`: municipalities, an operating agreement, approvals and a reset
(`seed`, which the tests' portals start from too), and the three municipalities' migrations
to Full Service at different stages (`seed_migrations`, `ledger demo` only).

The people here are fictional; their UUIDs are fixed so that the development IdP's
personas and the seeded history name the same persons.
"""

import datetime
from dataclasses import dataclass
from uuid import UUID

from ledger import migration
from ledger.application import LedgerApp
from ledger.danish_time import DANISH_TIME, danish_today
from ledger.domain import (
    Authentication,
    DomainError,
    approval_statement,
    colleague_grant_statement,
)
from ledger.identity import Actor, NsisLevel

OPERATOR_CVR = "12345674"
OPERATOR_NAME = "Digital Identity ApS"
AUDIT_FIRM_CVR = "29180008"
AUDIT_FIRM_NAME = "Revisionsfirmaet Eksempel"
CUSTOMERS = {
    "55133018": "Aarhus Kommune",
    "64942212": "Københavns Kommune",
    "35209115": "Odense Kommune",
}


@dataclass(frozen=True)
class DemoPerson:
    """A fictional person the development IdP can log in as (its personas)."""

    key: str
    description: str
    name: str
    person_uuid: str
    cvr: str | None
    organisation: str | None
    loa: NsisLevel
    professional: bool = True
    # Whether NemLog-in's `authorizedToRepresent` names the person's CVR: a signing-authority
    # signal for an approval (issue 15); most employees, and some signatories, have none.
    authorized_to_represent: bool = False
    # The MitID Erhverv privileges the person's organisation assigned them (sent as NemLog-in's
    # privilegesIntermediate, scoped to the person's CVR).
    privileges: tuple[str, ...] = ()

    @property
    def email(self) -> str:
        return f"{self.key}@example.invalid"


def _uuid(suffix: str) -> str:
    return f"2a0e3b5c-55a1-4b7e-9c1d-5f2d8a1e{suffix}"


PERSONS = (
    DemoPerson(
        "aarhus",
        "Tegningsberettiget, Aarhus Kommune (Betydelig)",
        "Anne Andersen",
        _uuid("0a01"),
        "55133018",
        CUSTOMERS["55133018"],
        NsisLevel.SUBSTANTIAL,
        authorized_to_represent=True,
    ),
    DemoPerson(
        "odense-clerk",
        "Medarbejder uden tegningsret, Odense Kommune (Betydelig)",
        "Bo Berg",
        _uuid("0a02"),
        "35209115",
        CUSTOMERS["35209115"],
        NsisLevel.SUBSTANTIAL,
    ),
    DemoPerson(
        "odense",
        "Tegningsberettiget, Odense Kommune (Høj)",
        "Clara Christensen",
        _uuid("0a03"),
        "35209115",
        CUSTOMERS["35209115"],
        NsisLevel.HIGH,
        authorized_to_represent=True,
    ),
    DemoPerson(
        "koebenhavn",
        "Tegningsberettiget, Københavns Kommune (Betydelig)",
        "Frederik Friis",
        _uuid("0a04"),
        "64942212",
        CUSTOMERS["64942212"],
        NsisLevel.SUBSTANTIAL,
    ),
    DemoPerson(
        "koebenhavn-it",
        "IT-medarbejder, Københavns Kommune (Betydelig), gør migreringens tekniske opgaver",
        "Ida Iversen",
        _uuid("0a06"),
        "64942212",
        CUSTOMERS["64942212"],
        NsisLevel.SUBSTANTIAL,
    ),
    DemoPerson(
        "low",
        "Medarbejder, Aarhus Kommune, sikringsniveau Lav",
        "Gitte Gram",
        _uuid("0a05"),
        "55133018",
        CUSTOMERS["55133018"],
        NsisLevel.LOW,
    ),
    DemoPerson(
        "private",
        "Borger med privat MitID (ikke erhverv)",
        "Hans Holm",
        _uuid("0d01"),
        None,
        None,
        NsisLevel.SUBSTANTIAL,
        professional=False,
    ),
    DemoPerson(
        "staff",
        "Driftsmedarbejder hos leverandøren",
        "Dorte Drift",
        _uuid("0b01"),
        OPERATOR_CVR,
        OPERATOR_NAME,
        NsisLevel.SUBSTANTIAL,
    ),
    DemoPerson(
        "auditor",
        "Revisor",
        "Erik Revisor",
        _uuid("0c01"),
        AUDIT_FIRM_CVR,
        AUDIT_FIRM_NAME,
        NsisLevel.SUBSTANTIAL,
    ),
)
PERSONS_BY_KEY = {person.key: person for person in PERSONS}
AGREEMENT_TITLE = "Driftsaftale for OS2faktor Full Service IdP"
AGREEMENT_VERSION = "2026.1"


def demo_pdf(title: str, version: str) -> bytes:
    """A small, valid one-page PDF naming the agreement."""
    text = f"({title}, version {version}) Tj".encode("latin-1")
    stream = b"BT /F1 14 Tf 72 770 Td " + text + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(pdf)


def signatory(key: str) -> Actor:
    person = PERSONS_BY_KEY[key]
    assert person.cvr is not None
    assert person.organisation is not None
    return Actor.person(
        person_uuid=person.person_uuid,
        name=person.name,
        cvr=person.cvr,
        organisation=person.organisation,
        loa=person.loa,
    )


def demo_login(app: LedgerApp, assertion_id: str) -> Authentication:
    """A demo login, with a stand-in for the assertion kept as evidence (a real login keeps
    the decrypted assertion NemLog-in signed)."""
    stand_in = f'<demo-assertion ID="{assertion_id}">no NemLog-in login</demo-assertion>\n'
    return Authentication(
        assertion_id=assertion_id,
        authn_instant="2026-11-29T08:00:00Z",
        assertion_sha256=app.documents.put(stand_in.encode()),
    )


def seed(app: LedgerApp) -> bool:
    """Seed the demo data once; False when it is already there."""
    operator = Actor.cli_operator()
    try:
        app.register_customer(cvr="55133018", name=CUSTOMERS["55133018"], actor=operator)
    except DomainError:
        return False
    for cvr, name in CUSTOMERS.items():
        if cvr != "55133018":
            app.register_customer(cvr=cvr, name=name, actor=operator)
    agreement = app.publish_agreement(
        title=AGREEMENT_TITLE,
        version_label=AGREEMENT_VERSION,
        document=demo_pdf(AGREEMENT_TITLE, AGREEMENT_VERSION),
        document_name="driftsaftale-2026.1.pdf",
        actor=operator,
    )
    aarhus = signatory("aarhus")
    odense_clerk = signatory("odense-clerk")
    odense_signatory = signatory("odense")
    ip, user_agent = "127.0.0.1", "demo"
    app.approve(
        cvr="55133018",
        version_id=agreement.id,
        actor=aarhus,
        authentication=demo_login(app, "_demo-assertion-1"),
        ip=ip,
        user_agent=user_agent,
        confirmed_statement=approval_statement(CUSTOMERS["55133018"]),
    )
    app.approve(
        cvr="35209115",
        version_id=agreement.id,
        actor=odense_clerk,
        authentication=demo_login(app, "_demo-assertion-2"),
        ip=ip,
        user_agent=user_agent,
        confirmed_statement=approval_statement(CUSTOMERS["35209115"]),
    )
    app.reset_approval(
        cvr="35209115",
        version_id=agreement.id,
        actor=operator,
        reason="Bo Berg er ikke tegningsberettiget for Odense Kommune.",
    )
    app.approve(
        cvr="35209115",
        version_id=agreement.id,
        actor=odense_signatory,
        authentication=demo_login(app, "_demo-assertion-3"),
        ip=ip,
        user_agent=user_agent,
        confirmed_statement=approval_statement(CUSTOMERS["35209115"]),
    )
    app.hand_in_declaration(
        cvr="55133018",
        document=demo_pdf("Faelles ledelseserklaering", "2026"),
        document_name="erklaering-aarhus.pdf",
        actor=aarhus,
    )
    app.grant_role(
        person_uuid=PERSONS_BY_KEY["staff"].person_uuid,
        person_name=PERSONS_BY_KEY["staff"].name,
        role="staff",
        cvrs=[],
        actor=operator,
    )
    app.grant_role(
        person_uuid=PERSONS_BY_KEY["auditor"].person_uuid,
        person_name=PERSONS_BY_KEY["auditor"].name,
        role="auditor",
        cvrs=[],
        actor=operator,
    )
    return True


AARHUS, KOEBENHAVN, ODENSE = "55133018", "64942212", "35209115"
# Why staff reset København's approval in the demo (the gate opens again for it once the
# municipality approves anew).
KOEBENHAVN_RESET_REASON = (
    "Frederik Friis er ikke den, kommunalbestyrelsen har udpeget til at skrive under; "
    "borgmesteren godkender igen."
)
# Aarhus's switch day, as minutes before the demo was seeded: the meeting, then the four
# steps of the runbook (removed, created, invitation accepted, logins verified): 21 minutes
# of downtime within a 30-minute service window.
AARHUS_SWITCH_MINUTES_AGO = (45, 40, 35, 30, 19)
AARHUS_SERVICE_WINDOW = 30


def seed_migrations(app: LedgerApp, *, now: datetime.datetime | None = None) -> bool:
    """The three demo municipalities' migrations, once, after `seed`; False when they are
    there. So that the staff matrix shows every state: Aarhus has switched today (its
    runbook's times and its downtime), Odense is ready to switch and waits for us (to
    schedule the switch; its approval, made before the basis was recorded, waits for staff's
    check), and København's approval was reset after its switch was scheduled, which closed
    the gate again: it waits for the municipality (a new approval, the colleague's tasks)."""
    if app.migration(AARHUS) is not None:
        return False
    now = now or datetime.datetime.now(datetime.UTC)
    today = danish_today()
    staff = signatory("staff")
    [agreement] = [a for a in app.agreement_versions() if a.title == AGREEMENT_TITLE]

    def archive(cvr: str, days_ago: int) -> None:
        app.archive_operating_agreement(
            cvr=cvr,
            document=demo_pdf(f"Driftsaftale, underskrevet, CVR {cvr}", "2026"),
            document_name=f"driftsaftale-underskrevet-{cvr}.pdf",
            signed_on=today - datetime.timedelta(days=days_ago),
            actor=staff,
        )

    def declaration(cvr: str, signatory_key: str | None) -> None:
        if signatory_key is not None:
            app.hand_in_declaration(
                cvr=cvr,
                document=demo_pdf("Faelles ledelseserklaering", cvr),
                document_name=f"erklaering-{cvr}.pdf",
                actor=signatory(signatory_key),
            )
        app.countersign_declaration(
            cvr=cvr,
            document=demo_pdf("Faelles ledelseserklaering, medunderskrevet", cvr),
            document_name=f"erklaering-medunderskrevet-{cvr}.pdf",
            actor=staff,
        )
        app.record_declaration_sent(
            cvr=cvr, sent_on=today, reference=f"DIGST-2026-{cvr}", actor=staff
        )

    def before_the_switch(cvr: str, municipal: Actor, *, pupils: str) -> None:
        app.enable_full_service(
            cvr=cvr,
            pupils=pupils,
            pupils_set_up_by="Dorte Drift" if pupils == "set-up" else None,
            note=None,
            actor=staff,
        )
        app.review_mail_templates(cvr=cvr, decision="switched-off", note=None, actor=municipal)
        app.review_password_policy(
            cvr=cvr, minimum_length=15, ad_matches=True, note=None, actor=municipal
        )
        app.review_terms(cvr=cvr, outcome="deleted", note=None, actor=municipal)

    # Aarhus: every task, and the switch today.
    anne = signatory("aarhus")
    archive(AARHUS, 20)
    declaration(AARHUS, None)  # handed in by `seed`
    app.check_signing_authority(
        cvr=AARHUS,
        version_id=agreement.id,
        approved_version=_approved_version(app, AARHUS, agreement.id),
        note="Anne Andersen er udpeget af byrådet til at skrive under med borgmesteren.",
        actor=staff,
    )
    app.announce_early_password_policy(
        cvr=AARHUS, users_told_on=today - datetime.timedelta(days=14), actor=anne
    )
    before_the_switch(AARHUS, anne, pupils="set-up")
    meeting, *steps = _switch_moments(now)
    app.schedule_switch(
        cvr=AARHUS,
        switch_on=meeting.astimezone(DANISH_TIME).date(),
        meeting_at=meeting,
        service_window_minutes=AARHUS_SERVICE_WINDOW,
        actor=staff,
    )
    for step, at in zip(migration.SWITCH_STEPS, steps, strict=True):
        app.record_switch_step(cvr=AARHUS, step=step, at=at, actor=staff)

    # Odense: the gate open and every task before the switch done; the switch not scheduled.
    clara = signatory("odense")
    archive(ODENSE, 6)
    declaration(ODENSE, "odense")
    app.mark_task_not_relevant(
        cvr=ODENSE,
        task="early-password-policy",
        reason="Kommunens kodeord har allerede mindst 15 tegn.",
        actor=clara,
    )
    before_the_switch(ODENSE, clara, pupils="no-pupils")

    # København: approved, the switch scheduled, then the approval reset.
    frederik, ida = signatory("koebenhavn"), signatory("koebenhavn-it")
    app.approve(
        cvr=KOEBENHAVN,
        version_id=agreement.id,
        actor=frederik,
        authentication=demo_login(app, "_demo-assertion-4"),
        ip="127.0.0.1",
        user_agent="demo",
        confirmed_statement=approval_statement(CUSTOMERS[KOEBENHAVN]),
        signing_basis=migration.signing_basis(
            KOEBENHAVN, statement_confirmed=True, authorized_to_represent=[]
        ),
    )
    colleague = PERSONS_BY_KEY["koebenhavn-it"]
    app.grant_colleague(
        cvr=KOEBENHAVN,
        person_uuid=colleague.person_uuid,
        person_name=colleague.name,
        actor=frederik,
        confirmed_statement=colleague_grant_statement(CUSTOMERS[KOEBENHAVN]),
        signing_basis=["statement"],
    )
    archive(KOEBENHAVN, 3)
    declaration(KOEBENHAVN, "koebenhavn")
    app.enable_full_service(
        cvr=KOEBENHAVN, pupils="not-wanted", pupils_set_up_by=None, note=None, actor=staff
    )
    app.review_mail_templates(
        cvr=KOEBENHAVN,
        decision="kept",
        note="Vores velkomstmail til nye medarbejdere bevares.",
        actor=ida,
    )
    switch_on = today + datetime.timedelta(days=6)
    app.schedule_switch(
        cvr=KOEBENHAVN,
        switch_on=switch_on,
        meeting_at=datetime.datetime.combine(switch_on, datetime.time(10, 0), tzinfo=DANISH_TIME),
        service_window_minutes=30,
        actor=staff,
    )
    app.reset_approval(
        cvr=KOEBENHAVN, version_id=agreement.id, reason=KOEBENHAVN_RESET_REASON, actor=staff
    )
    return True


def _approved_version(app: LedgerApp, cvr: str, version_id: UUID) -> int:
    approval = app.approval(cvr, version_id)
    assert approval is not None
    assert approval.approved_version is not None
    return approval.approved_version


def _switch_moments(now: datetime.datetime) -> list[datetime.datetime]:
    """The meeting and the four steps of Aarhus's switch: `AARHUS_SWITCH_MINUTES_AGO` before
    `now` (whole minutes). When the day in Denmark is younger than that, the switch day moves
    to start at midnight, and is squeezed into today only when even that would put its last
    step in the future (the meeting must lie on the switch day)."""
    now = now.replace(second=0, microsecond=0)
    midnight = datetime.datetime.combine(
        now.astimezone(DANISH_TIME).date(), datetime.time(0, 0), tzinfo=DANISH_TIME
    )
    longest, shortest = AARHUS_SWITCH_MINUTES_AGO[0], AARHUS_SWITCH_MINUTES_AGO[-1]
    room = int((now - midnight).total_seconds() // 60)
    if room >= longest - shortest:  # the meeting `longest` minutes ago, or at midnight
        start = max(now - datetime.timedelta(minutes=longest), midnight.astimezone(now.tzinfo))
        return [
            start + datetime.timedelta(minutes=longest - ago) for ago in AARHUS_SWITCH_MINUTES_AGO
        ]
    return [
        now - datetime.timedelta(minutes=ago * room / longest) for ago in AARHUS_SWITCH_MINUTES_AGO
    ]
