"""Counters the login keeps beside the log, shared by every process and host on the database.

Anyone may post to `/saml/acs` and `/saml/login`, so neither may cost the log an event per
request. Two tables hold what an anonymous client can cause:

- `LoginRateLimit`: requests per client network in fixed one-minute windows; a network over
  its limit is answered 429 until its window ends.
- `RefusalCounts`: refused logins that carry no verified identity, counted per reason and
  client network in intervals. A closed interval is *sealed* (no count is added to it after
  that, by any process), then written to the log as one summary event whose ID is the
  interval's, and only then forgotten here: a crash between the steps repeats the write (which
  the event's ID makes a no-op) but never loses or doubles a count.

A client network is the /24 of an IPv4 address and the /48 of an IPv6 address: what one
household, office or hosted machine usually holds, so that rotating addresses within it
neither escapes the limit nor makes the summary longer.
"""

import datetime
import ipaddress
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.evidence.database import DatabaseURL
from ledger.storage.tables_of_our_own import OwnTables

IPV4_PREFIX = 24
IPV6_PREFIX = 48
UNKNOWN_NETWORK = "ukendt"  # no usable client address (a Unix socket without a proxy)
RATE_WINDOW_SECONDS = 60

RATE_TABLE = "ledger_login_rate"
COUNT_TABLE = "ledger_refusal_counts"
SEALED_TABLE = "ledger_refusal_intervals_sealed"

_RATE_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {RATE_TABLE} ("
    " network TEXT NOT NULL,"
    " window_start BIGINT NOT NULL,"
    " requests BIGINT NOT NULL,"
    " PRIMARY KEY (network, window_start))",
    f"CREATE INDEX IF NOT EXISTS {RATE_TABLE}_window ON {RATE_TABLE} (window_start)",
)
_COUNT_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {COUNT_TABLE} ("
    " interval_start BIGINT NOT NULL,"
    " interval_end BIGINT NOT NULL,"
    " reason TEXT NOT NULL,"
    " network TEXT NOT NULL,"
    " refusals BIGINT NOT NULL,"
    " PRIMARY KEY (interval_start, reason, network))",
    f"CREATE INDEX IF NOT EXISTS {COUNT_TABLE}_end ON {COUNT_TABLE} (interval_end)",
    f"CREATE TABLE IF NOT EXISTS {SEALED_TABLE} ("
    " interval_start BIGINT PRIMARY KEY,"
    " interval_end BIGINT NOT NULL)",
)
_RATE_LOCK = int.from_bytes(b"ledgerrate", "big") >> 17
_COUNT_LOCK = int.from_bytes(b"ledgerrefusal", "big") >> 41
# Held shared by every transaction that adds a count, exclusively by the one that seals:
# a seal waits for counts in flight, and no count lands in an interval once it is sealed.
_SEAL_LOCK = _COUNT_LOCK + 1


def client_network(address: str | None) -> str:
    """The client network of an address as the counters name it: `192.0.2.0/24`,
    `2001:db8:1::/48`; an IPv4 address mapped into IPv6 counts as IPv4."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return UNKNOWN_NETWORK
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class LoginRateLimit:
    """At most `per_minute` requests per client network in each minute of the clock."""

    def __init__(self, database: DatabaseURL, per_minute: int) -> None:
        self.per_minute = per_minute
        self.tables = OwnTables(database, _RATE_CREATE, _RATE_LOCK)

    def admit(self, network: str, *, now: float | None = None) -> int | None:
        """None when this request is within the limit; else the seconds until it may ask again.

        A network already at its limit is answered from a read, which waits for no writer (a
        flood from one network costs the database no writes); otherwise the request is
        counted, and windows that have ended are deleted."""
        now = time.time() if now is None else now
        window = int(now // RATE_WINDOW_SECONDS) * RATE_WINDOW_SECONDS
        wait = max(1, math.ceil(window + RATE_WINDOW_SECONDS - now))
        p = self.tables.placeholder
        used = self.tables.rows(
            f"SELECT requests FROM {RATE_TABLE} WHERE network = {p} AND window_start = {p}",
            (network, window),
        )
        if used and used[0][0] >= self.per_minute:
            return wait

        def add(cursor: Any) -> int:
            cursor.execute(f"DELETE FROM {RATE_TABLE} WHERE window_start < {p}", (window,))
            cursor.execute(
                f"INSERT INTO {RATE_TABLE} (network, window_start, requests) "
                f"VALUES ({p}, {p}, 1) ON CONFLICT (network, window_start) "
                f"DO UPDATE SET requests = {RATE_TABLE}.requests + 1 RETURNING requests",
                (network, window),
            )
            (requests,) = cursor.fetchone()
            return int(requests)

        requests = self.tables.run(add)
        return None if requests <= self.per_minute else wait

    def close(self) -> None:
        self.tables.close()


@dataclass(frozen=True)
class CountedInterval:
    """The refusals counted in one sealed interval (seconds since the epoch, UTC)."""

    start: int
    end: int
    counts: tuple[tuple[str, str, int], ...]  # (reason, network, refusals)

    @property
    def started_at(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.start, datetime.UTC)

    @property
    def ended_at(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.end, datetime.UTC)


class RefusalCounts:
    """Refusals per (reason, client network) per interval of `interval_seconds`."""

    def __init__(self, database: DatabaseURL, interval_seconds: int) -> None:
        self.interval_seconds = interval_seconds
        self.tables = OwnTables(database, _COUNT_CREATE, _COUNT_LOCK)
        self._postgres = not database.is_sqlite

    def count(self, reason: str, network: str, *, now: float | None = None) -> bool:
        """Add one refusal to the open interval; whether some interval has closed since."""
        p = self.tables.placeholder

        def add(cursor: Any) -> bool:
            if self._postgres:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_SEAL_LOCK,))
            moment = time.time() if now is None else now
            start = int(moment // self.interval_seconds) * self.interval_seconds
            cursor.execute(f"SELECT MAX(interval_end) FROM {SEALED_TABLE}")
            (sealed_until,) = cursor.fetchone()
            if sealed_until is not None and start < sealed_until:
                start = int(sealed_until)  # a host whose clock is behind the one that sealed
            cursor.execute(
                f"INSERT INTO {COUNT_TABLE} "
                "(interval_start, interval_end, reason, network, refusals) "
                f"VALUES ({p}, {p}, {p}, {p}, 1) "
                "ON CONFLICT (interval_start, reason, network) "
                f"DO UPDATE SET refusals = {COUNT_TABLE}.refusals + 1",
                (start, start + self.interval_seconds, reason, network),
            )
            cursor.execute(
                f"SELECT 1 FROM {COUNT_TABLE} WHERE interval_end <= {p} LIMIT 1", (int(moment),)
            )
            return cursor.fetchone() is not None

        return self.tables.run(add)

    def seal_closed(self, *, now: float | None = None) -> list[CountedInterval]:
        """Seal every interval that has ended; every sealed interval still held here, oldest
        first (also those sealed before by a process that did not get to write them)."""
        p = self.tables.placeholder
        if not self.tables.rows(f"SELECT 1 FROM {COUNT_TABLE} LIMIT 1"):
            return []

        def seal(cursor: Any) -> list[Any]:
            if self._postgres:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SEAL_LOCK,))
            moment = int(time.time() if now is None else now)
            cursor.execute(
                f"INSERT INTO {SEALED_TABLE} (interval_start, interval_end) "
                f"SELECT interval_start, MAX(interval_end) FROM {COUNT_TABLE} "
                f"WHERE interval_end <= {p} GROUP BY interval_start "
                "ON CONFLICT (interval_start) DO NOTHING",
                (moment,),
            )
            cursor.execute(
                f"SELECT s.interval_start, s.interval_end, c.reason, c.network, c.refusals "
                f"FROM {SEALED_TABLE} s JOIN {COUNT_TABLE} c "
                "ON c.interval_start = s.interval_start "
                "ORDER BY s.interval_start, c.reason, c.network"
            )
            return list(cursor.fetchall())

        return list(_intervals(self.tables.run(seal)))

    def forget(self, interval: CountedInterval) -> None:
        """The interval's counts, once they are in the log. The newest seal stays, so that a
        late count goes after it."""
        p = self.tables.placeholder

        def delete(cursor: Any) -> None:
            cursor.execute(
                f"DELETE FROM {COUNT_TABLE} WHERE interval_start = {p}", (interval.start,)
            )
            cursor.execute(
                f"DELETE FROM {SEALED_TABLE} WHERE interval_start < {p} AND interval_start "
                f"NOT IN (SELECT interval_start FROM {COUNT_TABLE})",
                (interval.start,),
            )

        self.tables.run(delete)

    def pending(self) -> int:
        """Refusals counted and not yet in the log."""
        rows = self.tables.rows(f"SELECT COALESCE(SUM(refusals), 0) FROM {COUNT_TABLE}")
        return int(rows[0][0])

    def close(self) -> None:
        self.tables.close()


def _intervals(rows: Sequence[tuple[int, int, str, str, int]]) -> Iterator[CountedInterval]:
    current: list[tuple[str, str, int]] = []
    key: tuple[int, int] | None = None
    for start, end, reason, network, refusals in rows:
        if key is not None and key != (start, end):
            yield CountedInterval(key[0], key[1], tuple(current))
            current = []
        key = (int(start), int(end))
        current.append((reason, network, int(refusals)))
    if key is not None:
        yield CountedInterval(key[0], key[1], tuple(current))
