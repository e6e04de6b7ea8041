"""The session records themselves (`ledger.storage.sessions`), on SQLite and PostgreSQL."""

import datetime

import pytest

from ledger.storage.sessions import KEEP_ENDED, TABLE, TOUCH_EVERY, SessionLimits, Sessions

LIMITS = SessionLimits(idle=datetime.timedelta(minutes=30), lifetime=datetime.timedelta(hours=8))
ANNE = "00000000-0000-4000-8000-000000000001"
BO = "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def sessions(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Sessions(settings.database, LIMITS)
    yield store
    store.close()


def rows(settings) -> list[tuple]:
    connection = settings.database.connect(writable=True)
    try:
        cursor = connection.cursor()
        cursor.execute(
            f"SELECT person_uuid, last_seen_at, ended_because FROM {TABLE} ORDER BY created_at"
        )
        return cursor.fetchall()
    finally:
        connection.close()


def move_back(settings, seconds: int, column: str = "last_seen_at") -> None:
    connection = settings.database.connect(writable=True)
    try:
        connection.execute(f"UPDATE {TABLE} SET {column} = {column} - {seconds}")
    finally:
        connection.close()


def test_a_session_is_live_for_its_person_only_and_ends_once(sessions, settings):
    session_id = sessions.start(ANNE)
    assert sessions.check(session_id, ANNE) is None
    assert sessions.check(session_id, BO) == "unknown"
    assert sessions.check("not a session", ANNE) == "unknown"
    assert sessions.check(None, ANNE) == "unknown"
    sessions.end(session_id, "logout")
    sessions.end(session_id, "single-logout")  # the first reason stays
    assert sessions.check(session_id, ANNE) == "logout"
    assert rows(settings)[0][2] == "logout"


def test_a_revoked_role_ends_every_session_of_that_person_and_no_other(sessions, settings):
    at_work, at_home, other = sessions.start(ANNE), sessions.start(ANNE), sessions.start(BO)
    assert sessions.end_every_session_of(ANNE, "role-revoked") == 2
    assert sessions.check(at_work, ANNE) == sessions.check(at_home, ANNE) == "role-revoked"
    assert sessions.check(other, BO) is None
    assert sessions.end_every_session_of(ANNE, "role-revoked") == 0


def test_last_use_is_written_at_most_once_a_minute(sessions, settings):
    session_id = sessions.start(ANNE)
    [(_, started, _)] = rows(settings)
    move_back(settings, TOUCH_EVERY - 5)
    assert sessions.check(session_id, ANNE) is None
    assert rows(settings)[0][1] == started - (TOUCH_EVERY - 5)  # not written
    move_back(settings, 10)
    assert sessions.check(session_id, ANNE) is None
    assert rows(settings)[0][1] >= started  # written: now


def test_rows_are_deleted_a_day_after_their_session_ended_or_expired(sessions, settings):
    ended = sessions.start(ANNE)
    sessions.end(ended, "logout")
    sessions.start(BO)
    move_back(settings, KEEP_ENDED + 60, "ended_at")
    move_back(settings, KEEP_ENDED + 30 * 60 + 60)  # Bo's: idle for a day and more
    live = sessions.start(ANNE)
    assert [row[0] for row in rows(settings)] == [ANNE]
    assert sessions.check(live, ANNE) is None


def test_with_a_one_minute_idle_timeout_a_session_in_use_stays_live(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    short = Sessions(
        settings.database, SessionLimits(datetime.timedelta(minutes=1), LIMITS.lifetime)
    )
    try:
        session_id = short.start(ANNE)
        move_back(settings, 58)  # used 58 s after the login: that use is written
        assert short.check(session_id, ANNE) is None
        move_back(settings, 58)  # and used again 58 s later
        assert short.check(session_id, ANNE) is None
    finally:
        short.close()
