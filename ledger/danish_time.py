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
