"""`ledger demo`'s migrations (issue 15): three municipalities at different stages, so that
the staff matrix shows every state, on SQLite and PostgreSQL."""

import datetime

from development.demo import (
    AARHUS,
    AARHUS_SERVICE_WINDOW,
    KOEBENHAVN,
    KOEBENHAVN_RESET_REASON,
    ODENSE,
    PERSONS_BY_KEY,
    _switch_moments,
    seed,
    seed_migrations,
)
from ledger import migration
from ledger.danish_time import DANISH_TIME, danish_today
from ledger.migration_board import MigrationBoard
from ledger.search import EventIndex


def test_the_demo_seeds_three_migrations_at_different_stages_once(app):
    assert seed(app)
    now = datetime.datetime.now(datetime.UTC)
    assert seed_migrations(app, now=now)
    assert not seed_migrations(app)  # once

    aarhus = app.migration_status(AARHUS)
    assert aarhus.switched
    assert aarhus.switch.switch_on == danish_today()
    # 21 minutes, unless the day in Denmark is younger than the switch day's 45 minutes
    _meeting, removed, _created, _accepted, verified = _switch_moments(now)
    assert aarhus.switch.downtime_minutes == round((verified - removed).total_seconds() / 60)
    steps = _switch_moments(now)[1:]
    assert aarhus.switch.steps == dict(zip(migration.SWITCH_STEPS, steps, strict=True))
    assert aarhus.switch.service_window_minutes == AARHUS_SERVICE_WINDOW
    assert aarhus.switch.within_window
    assert all(t.state in {migration.DONE, migration.NOT_RELEVANT} for t in aarhus.tasks)

    odense = app.migration_status(ODENSE)
    assert odense.gate.open
    assert odense.ready_for_switch
    assert not odense.switched
    assert odense.task("switch-scheduled").state == migration.WAITING_OPERATOR
    assert odense.task("early-password-policy").state == migration.NOT_RELEVANT

    koebenhavn = app.migration_status(KOEBENHAVN)
    assert not koebenhavn.gate.open
    assert koebenhavn.gate.reopened  # scheduled, then the approval was reset
    assert koebenhavn.gate.refusals == (migration.GATE_APPROVAL_RESET,)
    assert koebenhavn.task("approval").state == migration.WAITING_MUNICIPALITY
    assert KOEBENHAVN_RESET_REASON in (koebenhavn.task("approval").note or "")
    assert [a.person_name for a in app.colleagues_of(KOEBENHAVN)] == [
        PERSONS_BY_KEY["koebenhavn-it"].name
    ]

    index = EventIndex(app)
    board = MigrationBoard(index)
    try:
        matrix = {status.cvr: status for status in board.matrix(today=danish_today())}
        shown = {
            name: {cvr for cvr, status in matrix.items() if migration.matches_filter(status, name)}
            for name in migration.FILTERS
        }
        assert shown == {
            "klar-til-skift": {ODENSE},
            "venter-paa-kunden": {KOEBENHAVN},
            "venter-paa-os": {ODENSE},
        }
        assert matrix[AARHUS].switched
        # Aarhus's approval, seeded before the basis was recorded, is checked by staff;
        # Odense's waits for their check.
        assert [u.cvr for u in board.unchecked_approvals(today=danish_today())] == [ODENSE]
    finally:
        board.close()
        index.close()


def test_the_switch_day_of_the_demo_fits_in_the_day_in_denmark_when_it_is_young():
    just_after_midnight = datetime.datetime(2026, 12, 2, 0, 9, 30, tzinfo=DANISH_TIME)
    moments = _switch_moments(just_after_midnight.astimezone(datetime.UTC))
    assert moments == sorted(moments)
    assert {m.astimezone(DANISH_TIME).date() for m in moments} == {datetime.date(2026, 12, 2)}
    assert moments[-1] <= just_after_midnight

    later = datetime.datetime(2026, 12, 2, 14, 0, tzinfo=DANISH_TIME)
    meeting, removed, *_, verified = _switch_moments(later.astimezone(datetime.UTC))
    assert later - meeting == datetime.timedelta(minutes=45)
    assert verified - removed == datetime.timedelta(minutes=21)


def test_the_demo_keeps_its_21_minutes_of_downtime_once_the_day_in_denmark_has_room():
    """From 26 minutes past midnight (the meeting to the last step) the switch day is moved,
    not squeezed: the staff pages show the demo's 21 minutes whenever they fit in the day."""
    for minutes_past_midnight in (26, 30, 44):
        now = datetime.datetime(2026, 12, 3, 0, minutes_past_midnight, 10, tzinfo=DANISH_TIME)
        meeting, removed, *_, verified = _switch_moments(now.astimezone(datetime.UTC))
        assert verified - removed == datetime.timedelta(minutes=21)
        assert meeting.astimezone(DANISH_TIME).date() == datetime.date(2026, 12, 3)
        assert verified <= now
