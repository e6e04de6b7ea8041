"""Each migration event told as one Danish sentence in the history and the timeline
(ledger.migration.describe through web.display.describe), in the portal's words."""

from ledger.danish_time import danish_day, danish_today
from ledger.export import EVENT_NAMES
from tests.fixtures import AARHUS
from tests.ledger.test_migration_app import (
    PDF,
    STAFF,
    ready_for_the_gate,
    schedule_today,
    signatory,
)
from tests.wording import wording_problems
from web.display import describe


def test_every_migration_event_is_a_danish_sentence_in_the_portals_words(app, operator):
    ready_for_the_gate(app, operator, basis=["statement"])
    me = signatory()
    today = danish_today()
    app.archive_operating_agreement(
        cvr=AARHUS, document=PDF, document_name="driftsaftale.pdf", signed_on=today, actor=STAFF
    )
    app.announce_early_password_policy(cvr=AARHUS, users_told_on=today, actor=me)
    app.enable_full_service(
        cvr=AARHUS, pupils="set-up", pupils_set_up_by="Søren Skole", note=None, actor=STAFF
    )
    app.review_mail_templates(cvr=AARHUS, decision="switched-off", note=None, actor=me)
    app.review_password_policy(cvr=AARHUS, minimum_length=16, ad_matches=True, note=None, actor=me)
    app.review_terms(cvr=AARHUS, outcome="addendum", note=None, actor=me)
    app.reopen_task(cvr=AARHUS, task="terms", reason="Tillægget var ikke renset.", actor=STAFF)
    app.mark_task_not_relevant(
        cvr=AARHUS, task="mail-templates", reason="Kommunen har ingen egne.", actor=me
    )
    schedule_today(app)
    app.record_switch_step(cvr=AARHUS, step="idp-removed", actor=me)
    (version,) = app.agreement_versions()
    app.check_signing_authority(
        cvr=AARHUS, version_id=version.id, approved_version=1, actor=STAFF, note="Ringet op."
    )
    said = {}
    for entry in app.history(cvr=AARHUS):
        sentence = describe(entry, {}, None)
        said[entry.event_type] = sentence
        assert sentence != f"{EVENT_NAMES.get(entry.event_type)}.", entry.event_type
        assert wording_problems(sentence, customer_page=True) == [], sentence
    assert said["OperatingAgreementArchived"] == (
        "Dorte Drift (Leverandøren) arkiverede den opdaterede driftsaftale, underskrevet den "
        f"{danish_day(today)} (driftsaftale.pdf)."
    )
    assert said["PasswordPolicyReviewed"] == (
        "Anne Andersen (Test Kommune) gennemgik kodeordspolitikken: kodeord skal være mindst 16 "
        "tegn, og kodeordspolitikken i AD matcher."
    )
    assert said["TaskReopened"] == (
        "Dorte Drift (Leverandøren) genåbnede opgaven »Vilkår gennemgået« med begrundelsen "
        "»Tillægget var ikke renset.«."
    )
    assert said["SigningAuthorityChecked"] == (
        "Dorte Drift (Leverandøren) markerede, at tegningsretten bag godkendelsen er "
        "kontrolleret (Ringet op.)."
    )
    assert said["SwitchStepRecorded"].startswith(
        "Anne Andersen (Test Kommune) registrerede »IdP'en er fjernet i kommunens MitID "
        f"Erhverv-portal« den {danish_day(today)} kl. "
    )
