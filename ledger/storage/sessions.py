"""The portal's sessions, kept in the database shared by every process and host.

The browser holds a random session ID (in Flask's signed cookie); the database holds only
its SHA-256 with the person, when the session began, when it was last used and when and why
it ended. A session is live while it has not ended, has been used within the idle timeout
and is younger than the absolute lifetime; every request with an identity asks. Logging
out, single logout, a new login in the same browser and a revoked role end sessions here,
so a cookie copied before any of these no longer lets anyone in, on any host.
"""

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from ledger.evidence.database import DatabaseURL
from ledger.storage.tables_of_our_own import OwnTables

TABLE = "ledger_sessions"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " session_hash TEXT PRIMARY KEY,"
    " person_uuid TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " last_seen_at BIGINT NOT NULL,"
    " ended_at BIGINT,"
    " ended_because TEXT)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_person ON {TABLE} (person_uuid)",
)
_CREATE_LOCK = int.from_bytes(b"ledgersess", "big") >> 17

# Why a session ended (the `ended_because` column).
LOGOUT = "logout"
SINGLE_LOGOUT = "single-logout"
NEW_LOGIN = "new-login"
ROLE_REVOKED = "role-revoked"
IDLE = "idle"
LIFETIME = "lifetime"
# Why a request's session is not live, besides the above: no such session for this person.
UNKNOWN = "unknown"

# A session's last use is written at most this often, and at most every tenth of the idle
# timeout: the idle timeout is then counted from a moment at most that long before the last
# request (a session may end that much early, never late), and a page's many requests do
# not each write.
TOUCH_EVERY = 60
# How long a row is kept after its session ended or expired, for an operator asking why
# someone was logged out; then it is deleted, at the next login.
KEEP_ENDED = 24 * 60 * 60


@dataclass(frozen=True)
class SessionLimits:
    """How long a session lives: unused (`idle`), and at most (`lifetime`)."""

    idle: datetime.timedelta
    lifetime: datetime.timedelta


def session_hash(session_id: str) -> str:
    """What the database keeps of a session ID: a stolen table lets no one in."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _now() -> int:
    return int(datetime.datetime.now(datetime.UTC).timestamp())


class Sessions:
    """Start, check and end sessions; `check` is None for a live session, else why not."""

    def __init__(self, database: DatabaseURL, limits: SessionLimits) -> None:
        self.limits = limits
        self.tables = OwnTables(database, _CREATE, _CREATE_LOCK)

    def start(self, person_uuid: str) -> str:
        """A new session for this person: its ID, which only the browser keeps."""
        session_id = secrets.token_urlsafe(32)
        now = _now()
        p = self.tables.placeholder

        def insert(cursor: Any) -> None:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE ended_at < {p} OR last_seen_at < {p} "
                f"OR created_at < {p}",
                (
                    now - KEEP_ENDED,
                    now - KEEP_ENDED - self._idle_seconds,
                    now - KEEP_ENDED - self._lifetime_seconds,
                ),
            )
            cursor.execute(
                f"INSERT INTO {TABLE} (session_hash, person_uuid, created_at, last_seen_at) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (session_hash(session_id), person_uuid, now, now),
            )

        self.tables.run(insert)
        return session_id

    def check(self, session_id: object, person_uuid: object) -> str | None:
        """None if the session is live for this person (and marks it used), else the reason
        it is not; a session found idle or too old is ended here with that reason."""
        if not isinstance(session_id, str) or not isinstance(person_uuid, str):
            return UNKNOWN
        hashed = session_hash(session_id)
        p = self.tables.placeholder
        rows = self.tables.rows(
            f"SELECT person_uuid, created_at, last_seen_at, ended_at, ended_because FROM {TABLE} "
            f"WHERE session_hash = {p}",
            (hashed,),
        )
        if not rows:
            return UNKNOWN
        [(owner, created_at, last_seen_at, ended_at, ended_because)] = rows
        if ended_at is not None:
            return str(ended_because)
        if owner != person_uuid:
            return UNKNOWN
        now = _now()
        over = None
        if now - created_at > self._lifetime_seconds:
            over = LIFETIME
        elif now - last_seen_at > self._idle_seconds:
            over = IDLE
        if over is not None:
            self._end(f"session_hash = {p}", (hashed,), over, now)
            return over
        if now - last_seen_at >= min(TOUCH_EVERY, self._idle_seconds // 10):
            with self.tables.connected() as connection:
                connection.execute(
                    f"UPDATE {TABLE} SET last_seen_at = {p} "
                    f"WHERE session_hash = {p} AND ended_at IS NULL",
                    (now, hashed),
                )
        return None

    def end(self, session_id: object, reason: str) -> None:
        """End this session (nothing if there is none, or it has ended already)."""
        if isinstance(session_id, str):
            self._end(
                f"session_hash = {self.tables.placeholder}", (session_hash(session_id),), reason
            )

    def end_every_session_of(self, person_uuid: str, reason: str) -> int:
        """End every live session of this person, on every host: how many there were."""
        return self._end(f"person_uuid = {self.tables.placeholder}", (person_uuid,), reason)

    def close(self) -> None:
        self.tables.close()

    def _end(self, condition: str, params: tuple[object, ...], reason: str, now: int = 0) -> int:
        p = self.tables.placeholder

        def update(cursor: Any) -> int:
            cursor.execute(
                f"UPDATE {TABLE} SET ended_at = {p}, ended_because = {p} "
                f"WHERE {condition} AND ended_at IS NULL",
                (now or _now(), reason, *params),
            )
            return int(cursor.rowcount)

        return self.tables.run(update)

    @property
    def _idle_seconds(self) -> int:
        return int(self.limits.idle.total_seconds())

    @property
    def _lifetime_seconds(self) -> int:
        return int(self.limits.lifetime.total_seconds())
