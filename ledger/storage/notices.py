"""The e-mail outbox and the addresses it mails, in tables beside the event store.

What is due to be sent is derived from the log's events (`ledger.notices`) into the outbox,
one row per message and recipient, keyed by what it is about and to whom, so that deriving
the same event twice (two workers, a restart) adds nothing. The events are followed by a
cursor kept here too. Sending is never on the write path: an approval commits whether or
not the mail server answers, and the sender delivers later.

A row goes `due` -> `claimed` -> `handing-over` -> `accepted` -> `sent`:

- `claimed`: one process took it (one short UPDATE, which the database serialises across
  processes and hosts) for `lease` seconds. A claim that lapses before the message was
  handed over (the process died while connecting) goes back to `due`: nothing was sent.
- `handing-over`: written just before the message itself (SMTP DATA) goes to the server.
  A row whose process dies here is never sent again: it becomes `uncertain`, since the
  server may have accepted the message. That is how a notice is sent at most once.
- `accepted`: the server took the message; the `NoticeSent` event is recorded next, by
  this process or, if it fails, by any process later (the event's id is the row's).
- `sent`: recorded; the address and name are cleared from the row, so that after sending
  the address is kept only in the event (`recipient_email`).

A refusal or a failure before the message was handed over puts the row back to `due` with
a later `next_try_ms` (a permanent refusal, 5xx, makes it `failed`); a notice that is no
longer true when its turn comes (the approval was made again meanwhile) becomes `moot`.

The contacts are the signatories' addresses from their last NemLog-in login (its e-mail
attribute), kept only while e-mail is on: who of a customer can be told about it.
"""

import hashlib
import os
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.evidence.database import DatabaseURL
from ledger.storage.tables_of_our_own import OwnTables

OUTBOX = "ledger_outbox"
CURSOR = "ledger_outbox_cursor"
CONTACTS = "ledger_contacts"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {OUTBOX} ("
    " notice_key TEXT NOT NULL PRIMARY KEY,"
    " notice_id TEXT NOT NULL,"
    " notice_kind TEXT NOT NULL,"
    " about_seq BIGINT NOT NULL,"
    " cvr TEXT NOT NULL,"
    " recipient_role TEXT NOT NULL,"
    " recipient_email TEXT,"
    " recipient_name TEXT,"
    " state TEXT NOT NULL,"
    " holder TEXT,"
    " until_ms BIGINT NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " next_try_ms BIGINT NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " accepted_ms BIGINT,"
    " problem TEXT)",
    f"CREATE INDEX IF NOT EXISTS {OUTBOX}_state ON {OUTBOX} (state, next_try_ms)",
    f"CREATE TABLE IF NOT EXISTS {CURSOR} (name TEXT NOT NULL PRIMARY KEY, seq BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CONTACTS} ("
    " person_uuid TEXT NOT NULL PRIMARY KEY,"
    " cvr TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " email TEXT NOT NULL,"
    " seen_ms BIGINT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {CONTACTS}_cvr ON {CONTACTS} (cvr)",
)
_CREATE_LOCK = int.from_bytes(b"ledgeroutbox", "big") >> 33

DUE = "due"
CLAIMED = "claimed"
HANDING_OVER = "handing-over"
ACCEPTED = "accepted"
SENT = "sent"
UNCERTAIN = "uncertain"
FAILED = "failed"
MOOT = "moot"
_CLAIM_AT_ONCE = 20


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class DueNotice:
    """One message to one recipient, as derived from an event: what it is about, the
    customer it concerns (its CVR), who gets it (a role, an address, a name to greet)."""

    notice_kind: str
    about_seq: int
    cvr: str
    recipient_role: str
    recipient_email: str
    recipient_name: str = ""

    @property
    def key(self) -> str:
        """The row's key: the same notice derived twice is one row. A hash, so the address
        is not the key that stays once the row has cleared it."""
        text = "\n".join(
            (self.notice_kind, str(self.about_seq), self.recipient_role, self.recipient_email)
        )
        return hashlib.sha256(text.lower().encode()).hexdigest()


@dataclass(frozen=True)
class OutboxRow:
    """A claimed (or accepted) notice as the sender reads it."""

    key: str
    notice_id: uuid.UUID
    notice: DueNotice
    attempts: int
    accepted_ms: int | None


@dataclass(frozen=True)
class Contact:
    person_uuid: str
    name: str
    email: str


class Outbox:
    """The outbox, its cursor over the log and the signatories' addresses."""

    def __init__(self, database: DatabaseURL, lease: float = 120.0) -> None:
        if lease <= 0:
            raise ValueError("a claim must hold for a positive time")
        self.tables = OwnTables(database, _CREATE, _CREATE_LOCK)
        self.p = self.tables.placeholder
        self.lease_ms = int(lease * 1000)
        self._nonce = secrets.token_hex(4)

    @property
    def holder(self) -> str:
        """This process: the pid is read at each claim, so a forked worker is another."""
        return f"{socket.gethostname()}:{os.getpid()}:{self._nonce}"

    def close(self) -> None:
        self.tables.close()

    # Following the log

    def cursor(self, start_at: int) -> int:
        """The last seq whose notices were derived; the first time, `start_at` (the log's
        end when e-mail was turned on: nothing from before is mailed)."""
        p = self.p
        found = self.tables.rows(f"SELECT seq FROM {CURSOR} WHERE name = 'log'")
        if found:  # a read, as nearly every round is: no write lock taken on SQLite
            return int(found[0][0])

        def start(cursor: Any) -> int:
            cursor.execute(
                f"INSERT INTO {CURSOR} (name, seq) VALUES ('log', {p}) "
                "ON CONFLICT (name) DO NOTHING",
                (start_at,),
            )
            cursor.execute(f"SELECT seq FROM {CURSOR} WHERE name = 'log'")
            return int(cursor.fetchone()[0])

        return self.tables.run(start)

    def add(self, notices: Iterable[DueNotice], *, through: int | None = None) -> int:
        """Add what is due (a notice already there stays as it is) and, with `through`,
        move the cursor on to that seq, in one transaction: the rows new here."""
        p = self.p
        rows = list(notices)
        if not rows and through is None:
            return 0
        now = _now_ms()

        def insert(cursor: Any) -> int:
            added = 0
            for notice in rows:
                cursor.execute(
                    f"INSERT INTO {OUTBOX} (notice_key, notice_id, notice_kind, about_seq, cvr,"
                    " recipient_role, recipient_email, recipient_name, state, until_ms,"
                    " attempts, next_try_ms, created_ms)"
                    f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, 0, 0, 0, {p})"
                    " ON CONFLICT (notice_key) DO NOTHING",
                    (
                        notice.key,
                        str(uuid.uuid4()),
                        notice.notice_kind,
                        notice.about_seq,
                        notice.cvr,
                        notice.recipient_role,
                        notice.recipient_email,
                        notice.recipient_name,
                        DUE,
                        now,
                    ),
                )
                added += cursor.rowcount
            if through is not None:
                cursor.execute(
                    f"UPDATE {CURSOR} SET seq = {p} WHERE name = 'log' AND seq < {p}",
                    (through, through),
                )
            return added

        return self.tables.run(insert)

    # Sending

    def claim(self, now_ms: int | None = None) -> list[OutboxRow]:
        """Due notices this process now holds for `lease`: each is claimed by one UPDATE
        that only one process can make, so no two send the same notice. A claim that
        lapsed before its message was handed over is taken again (nothing was sent)."""
        p = self.p
        now = _now_ms() if now_ms is None else now_ms
        due = f"(state = '{DUE}' AND next_try_ms <= {p})"
        lapsed = f"(state = '{CLAIMED}' AND until_ms < {p})"
        claimable = f"({due} OR {lapsed})"
        candidates = self.tables.rows(
            f"SELECT notice_key FROM {OUTBOX} WHERE {claimable} ORDER BY next_try_ms "
            f"LIMIT {_CLAIM_AT_ONCE}",
            (now, now),
        )
        claimed = []
        for (key,) in candidates:

            def take(cursor: Any, key: str = key) -> bool:
                cursor.execute(
                    f"UPDATE {OUTBOX} SET state = '{CLAIMED}', holder = {p}, until_ms = {p} "
                    f"WHERE notice_key = {p} AND {claimable}",
                    (self.holder, now + self.lease_ms, key, now, now),
                )
                return bool(cursor.rowcount == 1)

            if self.tables.run(take):
                claimed.append(key)
        return self._rows(claimed)

    def _rows(self, keys: list[str]) -> list[OutboxRow]:
        if not keys:
            return []
        places = ", ".join([self.p] * len(keys))
        found = self.tables.rows(
            "SELECT notice_key, notice_id, notice_kind, about_seq, cvr, recipient_role,"
            " recipient_email, recipient_name, attempts, accepted_ms"
            f" FROM {OUTBOX} WHERE notice_key IN ({places}) ORDER BY created_ms, notice_key",
            keys,
        )
        return [
            OutboxRow(
                key=row[0],
                notice_id=uuid.UUID(row[1]),
                notice=DueNotice(row[2], int(row[3]), row[4], row[5], row[6] or "", row[7] or ""),
                attempts=int(row[8]),
                accepted_ms=None if row[9] is None else int(row[9]),
            )
            for row in found
        ]

    def _move(
        self, key: str, before: tuple[str, ...], after: str, sets: str = "", params: tuple = ()
    ) -> bool:
        """Move a row this process holds from one of the states `before` to `after`: False
        when it is not (any more) this process's in one of them."""
        p = self.p
        states = ", ".join([p] * len(before))

        def move(cursor: Any) -> bool:
            cursor.execute(
                f"UPDATE {OUTBOX} SET state = {p}{sets} "
                f"WHERE notice_key = {p} AND state IN ({states}) AND holder = {p}",
                (after, *params, key, *before, self.holder),
            )
            return bool(cursor.rowcount == 1)

        return self.tables.run(move)

    def handing_over(self, key: str) -> bool:
        """Just before the message goes to the server: from here on a lost process means
        the notice may have been sent, and it is not sent again. False when this process no
        longer holds the claim (it lapsed and another took it): then nothing is sent."""
        p = self.p
        until = _now_ms() + self.lease_ms
        return self._move(key, (CLAIMED,), HANDING_OVER, f", until_ms = {p}", (until,))

    def accepted(self, key: str, at_ms: int) -> bool:
        """The server accepted the message at `at_ms`; the event is to be recorded next."""
        p = self.p
        return self._move(key, (HANDING_OVER,), ACCEPTED, f", accepted_ms = {p}", (at_ms,))

    def sent(self, key: str) -> None:
        """Recorded in the log: the row forgets the address (the event keeps it)."""
        p = self.p
        self.tables.run(
            lambda cursor: cursor.execute(
                f"UPDATE {OUTBOX} SET state = {p}, recipient_email = NULL, "
                f"recipient_name = NULL, holder = NULL WHERE notice_key = {p} AND state = {p}",
                (SENT, key, ACCEPTED),
            )
        )

    def retry(self, key: str, problem: str, next_try_ms: int) -> None:
        """Not handed over (the server refused for now, or could not be reached; or it
        answered DATA with a refusal): due again at `next_try_ms`."""
        p = self.p
        self._move(
            key,
            (CLAIMED, HANDING_OVER),
            DUE,
            f", holder = NULL, attempts = attempts + 1, next_try_ms = {p}, problem = {p}",
            (next_try_ms, problem[:200]),
        )

    def give_up(self, key: str, state: str, problem: str) -> None:
        """The notice will not be sent (`failed`, `moot`) or may have been (`uncertain`):
        the row forgets the address and says why."""
        p = self.p

        def close(cursor: Any) -> None:
            cursor.execute(
                f"UPDATE {OUTBOX} SET state = {p}, recipient_email = NULL, recipient_name = NULL,"
                f" holder = NULL, problem = {p} WHERE notice_key = {p} AND holder = {p}"
                f" AND state IN ('{CLAIMED}', '{HANDING_OVER}')",
                (state, problem[:200], key, self.holder),
            )

        self.tables.run(close)

    def lapse(self, now_ms: int | None = None) -> int:
        """Rows whose process was lost while handing the message over become `uncertain`
        (never sent again); the number of them."""
        p = self.p
        now = _now_ms() if now_ms is None else now_ms
        lost = f"state = '{HANDING_OVER}' AND until_ms < {p}"
        if not self.tables.rows(f"SELECT 1 FROM {OUTBOX} WHERE {lost} LIMIT 1", (now,)):
            return 0  # the usual answer, read without a write lock

        def lapse(cursor: Any) -> int:
            cursor.execute(
                f"UPDATE {OUTBOX} SET state = '{UNCERTAIN}', recipient_email = NULL,"
                f" recipient_name = NULL, holder = NULL,"
                f" problem = 'the process stopped while handing the message over'"
                f" WHERE {lost}",
                (now,),
            )
            return int(cursor.rowcount)

        return self.tables.run(lapse)

    def unrecorded(self, now_ms: int | None = None) -> list[OutboxRow]:
        """Accepted notices whose event is not recorded yet: this process's own, and those
        of a process that has been gone for its lease (the event's id is the row's, so
        recording one twice records it once)."""
        p = self.p
        now = _now_ms() if now_ms is None else now_ms
        rows = self.tables.rows(
            f"SELECT notice_key FROM {OUTBOX} WHERE state = '{ACCEPTED}' "
            f"AND (holder = {p} OR until_ms < {p}) LIMIT {_CLAIM_AT_ONCE}",
            (self.holder, now),
        )
        return self._rows([row[0] for row in rows])

    def counts(self) -> dict[str, int]:
        """How many notices are in each state (for the staff page)."""
        rows = self.tables.rows(f"SELECT state, COUNT(*) FROM {OUTBOX} GROUP BY state")
        return {state: int(count) for state, count in rows}

    # The signatories' addresses

    def remember_contact(self, *, person_uuid: str, cvr: str, name: str, email: str) -> None:
        """A signatory's address from their login, replacing what an earlier login said."""
        p = self.p
        self.tables.run(
            lambda cursor: cursor.execute(
                f"INSERT INTO {CONTACTS} (person_uuid, cvr, name, email, seen_ms) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (person_uuid) DO UPDATE SET "
                "cvr = excluded.cvr, name = excluded.name, email = excluded.email, "
                "seen_ms = excluded.seen_ms",
                (person_uuid, cvr, name, email, _now_ms()),
            )
        )

    def forget_contact(self, person_uuid: str) -> None:
        """A login without an address (or for no customer): the person is mailed no more."""
        p = self.p
        self.tables.run(
            lambda cursor: cursor.execute(
                f"DELETE FROM {CONTACTS} WHERE person_uuid = {p}", (person_uuid,)
            )
        )

    def contacts_of(self, cvr: str) -> list[Contact]:
        """The customer's signatories with an address, in the order they were last seen."""
        rows = self.tables.rows(
            f"SELECT person_uuid, name, email FROM {CONTACTS} WHERE cvr = {self.p} "
            "ORDER BY seen_ms, person_uuid",
            (cvr,),
        )
        return [Contact(*row) for row in rows]
