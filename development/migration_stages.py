"""A municipality's migration taken through the plan in one go: made ready for the switch
(every task before the switch day), or switched (the switch day's four steps as well), with
every event a real one of the ledger's commands. For the browser tests of staff's pages and
for `bench/scale.py`'s matrix at 98 municipalities with a full history each."""

import datetime

from development.demo import AGREEMENT_TITLE, demo_login, demo_pdf
from ledger.application import LedgerApp
from ledger.danish_time import DANISH_TIME, danish_today
from ledger.domain import Declaration
from ledger.identity import Actor, NsisLevel

STAFF = Actor.cli_operator()


def municipal_person(app: LedgerApp, cvr: str) -> Actor:
    """A person logged in for the municipality (its signatory, for the tasks it records)."""
    name = app.customer(cvr).name
    return Actor.person(
        person_uuid=f"2a0e3b5c-55a1-4b7e-9c1d-{cvr:0>12}",
        name=f"Tegningsberettiget i {name}",
        cvr=cvr,
        organisation=name,
        loa=NsisLevel.SUBSTANTIAL,
    )


def ready_for_switch(app: LedgerApp, cvr: str) -> None:
    """The municipality's tasks before the switch day, each done once: its approval of the
    demo agreement (if it has none in force), its declaration sent today, the operating
    agreement archived, Full Service switched on and the three reviews."""
    person = municipal_person(app, cvr)
    [agreement] = [a for a in app.agreement_versions() if a.title == AGREEMENT_TITLE]
    approval = app.approval(cvr, agreement.id)
    if approval is None or not approval.is_approved:
        app.approve(
            cvr=cvr,
            version_id=agreement.id,
            actor=person,
            authentication=demo_login(app, f"_r{cvr}"),
            ip="127.0.0.1",
            user_agent="demo",
            signing_basis=["statement", "authorized-to-represent"],
        )
    declaration = app.declaration(cvr)
    status = declaration.status if declaration is not None else None
    document = demo_pdf("Faelles ledelseserklaering", cvr)
    if status is None:
        app.hand_in_declaration(
            cvr=cvr, document=document, document_name="erklaering.pdf", actor=person
        )
        status = Declaration.HANDED_IN
    if status == Declaration.HANDED_IN:
        app.countersign_declaration(
            cvr=cvr, document=document, document_name="medunderskrevet.pdf", actor=STAFF
        )
        status = Declaration.COUNTERSIGNED
    if status == Declaration.COUNTERSIGNED:
        app.record_declaration_sent(
            cvr=cvr, sent_on=danish_today(), reference=f"DIGST-{cvr}", actor=STAFF
        )
    app.archive_operating_agreement(
        cvr=cvr,
        document=demo_pdf("Driftsaftale, underskrevet", cvr),
        document_name=f"driftsaftale-{cvr}.pdf",
        signed_on=danish_today(),
        actor=STAFF,
    )
    app.enable_full_service(
        cvr=cvr, pupils="no-pupils", pupils_set_up_by=None, note=None, actor=STAFF
    )
    app.review_mail_templates(cvr=cvr, decision="switched-off", note=None, actor=person)
    app.review_password_policy(cvr=cvr, minimum_length=15, ad_matches=True, note=None, actor=person)
    app.review_terms(cvr=cvr, outcome="deleted", note=None, actor=person)


def switched(app: LedgerApp, cvr: str, *, removed_at: datetime.datetime, minutes: int) -> None:
    """Ready, then switched on `removed_at`'s day (today, or the schedule is refused): the
    switch scheduled with a 30-minute service window, the meeting begun 5 minutes before
    the IdP was removed at `removed_at`, and logins verified `minutes` later (the steps
    between); every moment up to now."""
    ready_for_switch(app, cvr)
    day = removed_at.astimezone(DANISH_TIME).date()
    midnight = datetime.datetime.combine(day, datetime.time(), DANISH_TIME)
    app.schedule_switch(
        cvr=cvr,
        switch_on=day,
        meeting_at=max(removed_at - datetime.timedelta(minutes=5), midnight),
        service_window_minutes=30,
        actor=STAFF,
    )
    steps = ("idp-removed", "idp-created", "invitation-accepted", "logins-verified")
    for n, step in enumerate(steps):
        at = removed_at + datetime.timedelta(minutes=minutes * n / (len(steps) - 1))
        app.record_switch_step(cvr=cvr, step=step, actor=STAFF, at=at)
