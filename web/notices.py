"""The portal's part in the e-mail notices (`ledger.notices`): a signatory's address kept
from its login, and what the staff overview says about e-mail.

The address is recorded only at logins while e-mail is on (LEDGER_SMTP_URL): the portal
gathers no personal fact it has no use for. Each login replaces what the last one said, so
a person whose assertion no longer carries an address is mailed no more.
"""

from dataclasses import dataclass

from flask import current_app

from ledger.domain import DomainError
from ledger.identity import checked_email_address
from ledger.storage.notices import DUE, FAILED, UNCERTAIN
from saml.policy import Identity
from web.services import Services
from web.translation import gettext as _


def _services() -> Services:
    services: Services = current_app.extensions["services"]
    return services


def remember_address(identity: Identity) -> None:
    """Keep the e-mail address of a signatory (a person logged in for a registered
    customer's CVR) from its NemLog-in assertion, or forget the one kept when the
    assertion has none that can be used."""
    services = _services()
    if services.settings.smtp is None:
        return
    try:
        services.ledger.customer(identity.cvr)
    except DomainError:
        return  # staff, or a municipality that is not a customer
    address = checked_email_address(identity.email or "")
    if address is None:
        services.outbox.forget_contact(identity.person_uuid)
        return
    services.outbox.remember_contact(
        person_uuid=identity.person_uuid, cvr=identity.cvr, name=identity.name, email=address
    )


@dataclass(frozen=True)
class MailStatus:
    """Whether e-mail is on, to how many staff addresses, and the notices that wait or
    went wrong."""

    on: bool
    staff_addresses: int = 0
    waiting: int = 0
    failed: int = 0
    uncertain: int = 0


def mail_status() -> MailStatus:
    """E-mail as the staff overview tells it (one grouped count of the outbox when on)."""
    services = _services()
    if services.settings.smtp is None:
        return MailStatus(on=False)
    counts = services.outbox.counts()
    return MailStatus(
        on=True,
        staff_addresses=len(services.settings.staff_emails),
        waiting=counts.get(DUE, 0),
        failed=counts.get(FAILED, 0),
        uncertain=counts.get(UNCERTAIN, 0),
    )


def told_by_mail(cvr: str) -> str:
    """What staff are told, after a reset, about the customer's signatories hearing of it:
    by e-mail, not (no address known), or nothing while e-mail is off."""
    services = _services()
    if services.settings.smtp is None:
        return ""
    if services.outbox.contacts_of(cvr):
        return _("Kommunens tegningsberettigede får en e-mail om det med begrundelsen.")
    return _(
        "Portalen kender ingen e-mailadresse på kommunens tegningsberettigede, så de får "
        "ingen e-mail om det; giv dem selv besked."
    )
