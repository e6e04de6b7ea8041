"""How the portal shows facts to people: Danish names for events, times and levels."""

import datetime

from flask import Flask

from ledger.danish_time import DANISH_TIME
from ledger.identity import NsisLevel

EVENT_NAMES = {
    "LogStarted": "Loggen startet",
    "KeyRotated": "Signeringsnøgle skiftet",
    "Registered": "Kunde registreret",
    "Published": "Aftaleversion offentliggjort",
    "Retired": "Aftaleversion trukket tilbage",
    "Approved": "Godkendt",
    "ApprovalReset": "Godkendelse nulstillet",
    "HandedIn": "Erklæring afleveret",
    "Countersigned": "Erklæring medunderskrevet",
    "SentToAgency": "Erklæring sendt til Digitaliseringsstyrelsen",
    "RoleGranted": "Rolle tildelt",
    "RoleRevoked": "Rolle frataget",
    "LoginRejected": "Login afvist",
    "LoginRefusalsCounted": "Afviste login talt",
}
# What a person reads for an event's facts (the signatory's history); a name not here is
# shown as it is in the log.
FACT_NAMES = {
    "agreement_version_id": "Aftale",
    "title": "Titel",
    "version_label": "Version",
    "name": "Navn",
    "document_name": "Dokumentets navn",
    "document_sha256": "Dokumentets SHA-256",
    "document_size": "Dokumentets størrelse (byte)",
    "authentication": "Login (NemLog-in)",
    "assertion_id": "Assertion-ID",
    "authn_instant": "Logget ind",
    "assertion_sha256": "Assertionens SHA-256",
    "request": "Anmodning",
    "ip": "IP-adresse",
    "user_agent": "Browser",
    "reason": "Begrundelse",
    "invalidates_version": "Nulstiller godkendelse nr.",
    "sent_on": "Sendt den",
    "reference": "Digitaliseringsstyrelsens reference",
    "renewal_due": "Skal fornyes senest",
    "person_uuid": "Personens UUID",
    "person_name": "Personens navn",
    "role": "Rolle",
    "cvr": "CVR",
    "cvrs": "CVR-numre",
    "idp": "IdP",
    "verified": "Verificeret",
    "interval_start": "Fra",
    "interval_end": "Til",
}
# Facts that are moments, shown in Danish time like every other time on the pages.
MOMENT_FACTS = frozenset({"authn_instant", "interval_start", "interval_end"})
MONTHS = [
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
]


def when(value: object) -> str:
    """A moment as people in Denmark read it, in Danish local time (a moment without a
    time zone is taken as UTC, the log's own clock)."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    moment = moment.astimezone(DANISH_TIME)
    return f"{moment.day}. {MONTHS[moment.month - 1]} {moment.year} kl. {moment:%H.%M.%S}"


def number(value: int) -> str:
    """A count as Danes write it: thousands separated by a full stop (10.000)."""
    return f"{value:,}".replace(",", ".")


def day(value: object) -> str:
    """A calendar day as people in Denmark write it: 2. marts 2027."""
    if isinstance(value, datetime.date):
        date = value
    else:
        try:
            date = datetime.date.fromisoformat(str(value))
        except ValueError:
            return str(value)
    return f"{date.day}. {MONTHS[date.month - 1]} {date.year}"


def register(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(day, "day")
    app.add_template_filter(number, "number")
    app.add_template_filter(lambda name: EVENT_NAMES.get(name, name), "event_da")
    app.add_template_filter(lambda name: FACT_NAMES.get(name, name), "fact_da")
    app.jinja_env.globals["moment_facts"] = MOMENT_FACTS
    app.add_template_filter(lambda label: NsisLevel.parse(label).danish, "nsis_da")
