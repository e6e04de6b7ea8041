"""How the portal shows facts to people: Danish names for events, times and levels."""

import datetime
from collections.abc import Mapping
from typing import Any

from flask import Flask

from ledger.danish_time import DANISH_TIME, danish_day, danish_minute
from ledger.export import EVENT_NAMES
from ledger.identity import Actor, NsisLevel
from ledger.migration import describe as migration_sentence
from ledger.signed_log import Entry

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
    "assertion_id": "Loginbevisets ID",
    "authn_instant": "Logget ind",
    "assertion_sha256": "Loginbevisets SHA-256",
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


def when(value: object) -> str:
    """A moment as people in Denmark read it, in Danish local time (a moment without a
    time zone is taken as UTC, the log's own clock)."""
    moment = _danish_moment(value)
    if moment is None:
        return str(value)
    return f"{danish_day(moment)} kl. {moment:%H.%M.%S}"


def _danish_moment(value: object) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(DANISH_TIME)


def at_minute(value: object) -> str:
    """A moment in a sentence, to the minute, in Danish local time: 1. december 2026 kl. 09.07
    (where the seconds matter, as in a receipt's facts, `when` keeps them)."""
    moment = _danish_moment(value)
    if moment is None:
        return str(value)
    return danish_minute(moment)


# Why a refused login was refused, as the end of a sentence about it ("..., fordi ...");
# a reason not here is one of the technical ones, told in general words.
REFUSED_BECAUSE = {
    "loa-too-low": "sikringsniveauet var for lavt (godkendelser kræver Betydelig eller Høj)",
    "private-identity": "der blev logget ind med et privat MitID i stedet for MitID Erhverv",
    "missing-cvr": "login ikke indeholdt et gyldigt CVR-nummer",
    "unusable-identity": "navnet eller organisationens navn fra NemLog-in ikke kunne bruges",
    "identity-mismatch": "oplysningerne om personen i login ikke stemte overens",
    "spec-version": "NemLog-in sendte login i en version, portalen ikke kan bruge",
}
REFUSED_IN_GENERAL = "svaret fra NemLog-in ikke kunne godkendes"
# What an e-mail notice told (ledger.notices' kinds), to end "E-mail sendt til ... om".
NOTICE_SUBJECTS = {
    "approval-reset": "nulstillingen af godkendelsen af {agreement}",
    "new-version": "den nye aftale til godkendelse: {agreement}",
    "renewal-due": "fornyelsen af ledelseserklæringen",
    "approved": "kommunens godkendelse af {agreement}",
    "handed-in": "den afleverede ledelseserklæring",
    "task-due": "opgaver i migreringen, der snart skal være løst",
    "switch-soon": "skiftedagen, der nærmer sig",
}


def describe(entry: Entry, agreements: Mapping[str, str], viewer_uuid: str | None) -> str:
    """What happened, in one Danish sentence a signatory can read: who did what to which
    agreement, by its title rather than its id. `viewer_uuid` is the reader's person UUID
    (a refused login of the reader's own is told as "Dit login ...")."""
    event: Any = entry.event
    kind = entry.event_type
    who = _who(entry.actor)
    agreement = agreements.get(str(getattr(event, "agreement_version_id", "")), "en aftale")
    if kind == "Approved":
        how = ""
        if entry.actor is not None and entry.actor.loa:
            how = f", med MitID Erhverv på sikringsniveau {NsisLevel.parse(entry.actor.loa).danish}"
        said = getattr(event, "confirmed_statement", None)
        confirmed = f" og bekræftede: »{said}«" if said else ""
        return f"{who} godkendte {agreement}{how}{confirmed}."
    if kind == "ApprovalReset":
        return (
            f"{who} nulstillede godkendelsen af {agreement} med begrundelsen »{event.reason}«. "
            "Aftalen skal godkendes igen."
        )
    if kind == "Registered":
        return f"{event.name} blev registreret som kunde med CVR {event.cvr}."
    if kind == "Renamed":
        return f"Kundens navn blev rettet fra {event.previous_name} til {event.name}."
    if kind == "HandedIn":
        return f"{who} afleverede den fælles ledelseserklæring ({event.document_name})."
    if kind == "Countersigned":
        return f"{who} medunderskrev ledelseserklæringen for leverandøren ({event.document_name})."
    if kind == "SentToAgency":
        return (
            f"Ledelseserklæringen blev sendt til Digitaliseringsstyrelsen den {day(event.sent_on)} "
            f"(reference {event.reference}). Den skal fornyes senest {day(event.renewal_due)}."
        )
    if kind == "NoticeSent":
        return notice_sentence(event, agreement)
    if kind == "LoginRejected":
        because = REFUSED_BECAUSE.get(event.reason, REFUSED_IN_GENERAL)
        whose = "Dit login" if viewer_uuid and event.person_uuid == viewer_uuid else "Et login"
        return (
            f"{whose} med MitID Erhverv for kommunen blev afvist, fordi {because}. "
            "Intet blev godkendt eller ændret."
        )
    said = migration_sentence(event)
    if said is not None:
        return f"{who} {said}."
    return f"{EVENT_NAMES.get(kind, kind)}."


def notice_sentence(event: Any, agreement: str) -> str:
    """A sent e-mail notice in one sentence: to whom (staff's addresses as "leverandøren",
    which signatories do not see), about what."""
    to = "leverandøren" if event.recipient_role == "staff" else event.recipient_email
    told = NOTICE_SUBJECTS.get(event.notice_kind, "nyt i portalen")
    return f"E-mail sendt til {to} om {told.format(agreement=agreement)}."


def _who(actor: Actor | None) -> str:
    """Who did it, as the subject of a sentence: a person by name (and organisation), the
    operator's command line as "Leverandøren" (the word every reader of the history knows
    the operator by), the portal itself as "Portalen"."""
    if actor is None or actor.kind == Actor.SYSTEM:
        return "Portalen"
    if actor.kind == Actor.OPERATOR:
        return "Leverandøren"
    return f"{actor.name} ({actor.organisation})" if actor.organisation else actor.name


def actor_da(actor: Actor | None) -> str:
    """Who did it, as a receipt names them within a sentence: a person by name, the
    operator's command line as the supplier with its user in brackets, the portal as itself."""
    if actor is None or actor.kind == Actor.SYSTEM:
        return "portalen"
    if actor.kind == Actor.OPERATOR:
        return f"leverandøren ({actor.name})" if actor.name else "leverandøren"
    return actor.name


def number(value: int) -> str:
    """A count as Danes write it: thousands separated by a full stop (10.000)."""
    return f"{value:,}".replace(",", ".")


def kilobytes(size: int) -> str:
    """A file's size in kB with one decimal, written with a decimal comma as Danes do: 0,6."""
    return f"{size / 1024:.1f}".replace(".", ",")


def day(value: object) -> str:
    """A calendar day as people in Denmark write it: 2. marts 2027."""
    if isinstance(value, datetime.date):
        date = value
    else:
        try:
            date = datetime.date.fromisoformat(str(value))
        except ValueError:
            return str(value)
    return danish_day(date)


def register(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(at_minute, "at_minute")
    app.add_template_filter(day, "day")
    app.add_template_filter(number, "number")
    app.add_template_filter(kilobytes, "kilobytes")
    app.add_template_filter(actor_da, "actor_da")
    app.add_template_filter(lambda name: EVENT_NAMES.get(name, name), "event_da")
    app.add_template_filter(lambda name: FACT_NAMES.get(name, name), "fact_da")
    app.jinja_env.globals["moment_facts"] = MOMENT_FACTS
    app.jinja_env.globals["notice_sentence"] = notice_sentence
    app.add_template_filter(lambda label: NsisLevel.parse(label).danish, "nsis_da")
