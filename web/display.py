"""How the portal shows facts to people: Danish names for events, times and levels."""

import datetime

from flask import Flask

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
    """A moment as people in Denmark read it, in UTC (the log's own clock)."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC)
    return f"{moment.day}. {MONTHS[moment.month - 1]} {moment.year} kl. {moment:%H:%M:%S} UTC"


def register(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(lambda name: EVENT_NAMES.get(name, name), "event_da")
    app.add_template_filter(lambda label: NsisLevel.parse(label).danish, "nsis_da")
