"""Times people read are Danish local time; the log's own clock stays UTC."""

import datetime

from development.demo import CUSTOMERS, signatory
from ledger.danish_time import start_of_danish_day
from tests.fixtures import AARHUS, approved_agreement
from web.display import at_minute, day, describe, number, when


def test_a_winter_moment_is_shown_an_hour_after_utc():
    assert when("2026-12-01T08:07:05.123456+00:00") == "1. december 2026 kl. 09.07.05"


def test_a_summer_moment_is_shown_two_hours_after_utc():
    assert when(datetime.datetime(2026, 6, 30, 22, 30, tzinfo=datetime.UTC)) == (
        "1. juli 2026 kl. 00.30.00"
    )


def test_a_moment_without_a_time_zone_is_taken_as_utc():
    assert when("2026-12-01T23:30:00") == "2. december 2026 kl. 00.30.00"


def test_a_danish_day_starts_at_its_local_midnight_written_in_utc():
    assert start_of_danish_day(datetime.date(2026, 12, 1)) == "2026-11-30T23:00:00.000000Z"
    assert start_of_danish_day(datetime.date(2026, 7, 1)) == "2026-06-30T22:00:00.000000Z"


def test_a_day_is_written_as_danes_write_it():
    assert day("2027-03-02") == "2. marts 2027"
    assert day(datetime.date(2026, 12, 24)) == "24. december 2026"
    assert day("not a day") == "not a day"


def test_the_first_day_there_is_starts_at_its_first_moment():
    assert start_of_danish_day(datetime.date(1, 1, 1)) == "0001-01-01T00:00:00.000000Z"


def test_counts_are_written_with_danish_thousands_separators():
    assert [number(n) for n in (0, 999, 1000, 10000, 1234567)] == [
        "0",
        "999",
        "1.000",
        "10.000",
        "1.234.567",
    ]


def test_a_moment_in_a_sentence_is_written_to_the_minute():
    assert at_minute("2026-12-01T08:07:05.123456+00:00") == "1. december 2026 kl. 09.07"
    assert at_minute(datetime.datetime(2026, 6, 30, 22, 30, tzinfo=datetime.UTC)) == (
        "1. juli 2026 kl. 00.30"
    )
    assert at_minute("not a moment") == "not a moment"


def test_an_approval_recorded_without_a_statement_is_told_without_one(app, operator):
    app.register_customer(cvr=AARHUS, name=CUSTOMERS[AARHUS], actor=operator)
    agreement = approved_agreement(app, publisher=operator, approver=signatory("aarhus"))
    [entry] = [e for e in app.history(cvr=AARHUS) if e.event_type == "Approved"]
    names = {str(agreement.id): "Driftsaftale, version 2026.1"}
    assert describe(entry, names, None) == (
        "Anne Andersen (Aarhus Kommune) godkendte Driftsaftale, version 2026.1, med MitID "
        "Erhverv på sikringsniveau Betydelig."
    )
    assert describe(entry, {}, None).startswith(
        "Anne Andersen (Aarhus Kommune) godkendte en aftale,"
    )
