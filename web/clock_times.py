"""Times on the switch day as staff read and type them: the Danish clock ("10.07"), a moment
typed during the meeting ("10.07", "kl. 10:07", or with its date, "2-12-2026 10.07"), and a
length of time in Danish words ("23 minutter")."""

import datetime
import re

from ledger.danish_time import DANISH_TIME
from web.staff import danish_moment
from web.translation import gettext as _

_TIME_OF_DAY = re.compile(r"(?:kl\.?\s*)?(?P<h>\d{1,2})[.:](?P<m>\d{2})(?:[.:](?P<s>\d{2}))?", re.I)
# A moment typed this far after now is a typing error, not a clock a little ahead.
FUTURE_SLACK = datetime.timedelta(minutes=2)
EARLIEST_YEAR = 2000  # no switch day before the portal; and year 1 has no UTC before it


def danish(moment: datetime.datetime) -> datetime.datetime:
    """`moment` in Danish time (one without a time zone is UTC, the log's clock)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(DANISH_TIME)


def clock(moment: datetime.datetime) -> str:
    """The time of day in Denmark with its seconds, as the running clock shows it: 10.07.31."""
    return f"{danish(moment):%H.%M.%S}"


def clock_minute(moment: datetime.datetime) -> str:
    """The time of day in Denmark to the minute: 10.07."""
    return f"{danish(moment):%H.%M}"


def typed_moment(
    text: str, *, day: datetime.date, now: datetime.datetime | None = None
) -> datetime.datetime:
    """The moment staff typed: a time of day on `day` (the switch day), or a date and a
    time; ValueError in Danish for anything else, or (given `now`) for a moment after it."""
    text = text.strip()
    found = _TIME_OF_DAY.fullmatch(text)
    if found is not None:
        try:
            moment = datetime.datetime.combine(
                day,
                datetime.time(int(found["h"]), int(found["m"]), int(found["s"] or 0)),
                DANISH_TIME,
            )
        except ValueError:
            raise ValueError(
                _("Klokken %(text)s findes ikke; skriv fx 10.07.", text=text[:20])
            ) from None
    else:
        try:
            moment = danish_moment(text[:40])
        except ValueError:
            raise ValueError(
                _("Skriv tidspunktet som klokkeslæt, fx 10.07, eller med dato, fx 2-12-2026 10.07.")
            ) from None
    if moment.year < EARLIEST_YEAR:
        raise ValueError(
            _(
                "Tidspunktet ligger før år %(year)s; skriv det tidspunkt, trinnet blev udført.",
                year=EARLIEST_YEAR,
            )
        )
    if now is not None and moment > now + FUTURE_SLACK:
        raise ValueError(
            _(
                "Klokken %(when)s er ikke kommet endnu; skriv det tidspunkt, trinnet blev udført.",
                when=clock_minute(moment),
            )
        )
    return moment


def minutes_text(minutes: int) -> str:
    """A length of time in whole minutes as a Dane says it: 1 minut, 23 minutter, 1 time og
    5 minutter."""
    hours, rest = divmod(minutes, 60)
    in_minutes = _("1 minut") if rest == 1 else _("%(n)s minutter", n=rest)
    if not hours:
        return in_minutes
    in_hours = _("1 time") if hours == 1 else _("%(n)s timer", n=hours)
    return (
        in_hours if not rest else _("%(hours)s og %(minutes)s", hours=in_hours, minutes=in_minutes)
    )
