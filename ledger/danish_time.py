"""Danish time: the time people in Denmark read (CET/CEST) and their calendar days, written
as leaves write time (UTC). The log itself keeps UTC; a day a person names is a Danish day."""

import datetime
from zoneinfo import ZoneInfo

from ledger.evidence.leaf import rfc3339

DANISH_TIME = ZoneInfo("Europe/Copenhagen")


def danish_today() -> datetime.date:
    """Today's date in Denmark: the day a due date or a sending date is compared with."""
    return datetime.datetime.now(DANISH_TIME).date()


def start_of_danish_day(day: datetime.date) -> str:
    """The first moment of a day in Denmark, written as leaves write time (UTC)."""
    midnight = datetime.datetime.combine(day, datetime.time(), DANISH_TIME)
    try:
        return rfc3339(midnight)
    except OverflowError:  # 1 January of year 1: the first moment there is
        return rfc3339(datetime.datetime.combine(day, datetime.time(), datetime.UTC))


def end_of_danish_day(day: datetime.date) -> str:
    """The first moment after a day in Denmark (a bound that includes the whole day), written
    as leaves write time (UTC); also for 31 December 9999, whose next day has no date."""
    last = datetime.datetime.combine(day, datetime.time.max, DANISH_TIME)
    return rfc3339(last.astimezone(datetime.UTC) + datetime.timedelta(microseconds=1))


# The months as Danes write them in a date ("1. december 2026").
MONTHS = (
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
)


def danish_day(day: datetime.date) -> str:
    """A calendar day as people in Denmark write it: 2. marts 2027."""
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


def danish_minute(moment: datetime.datetime) -> str:
    """A moment in Danish local time, to the minute, as in a sentence: 1. december 2026
    kl. 09.07 (a moment without a time zone is taken as UTC, the log's own clock)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    local = moment.astimezone(DANISH_TIME)
    return f"{danish_day(local.date())} kl. {local:%H.%M}"
