"""Group commit: concurrent writers in one process share one transaction and one commit.

A database makes its own log durable this way: transactions that commit while another is
flushing wait for the next flush and are made durable together, so the flush (an fsync on
SQLite, a WAL flush and a round trip to PostgreSQL) is paid once per group, not once per
write. Here the same happens one level up, so that a group of saves also shares the write
lock, the reading of the last leaf and the signing's setup.

The writers combine as leader and follower. A writer that finds no write in progress leads:
it writes its own request at once, with no hand-off to another thread, so a single writer
pays only an uncontended lock for this. Only when the group before it had followers does it
first let go of the interpreter once: those writers are coming back with their next saves,
and without it one of them commits alone while the others wait a whole commit behind it
(at 16 writers, nearly every second commit carried a single event). A writer that finds a
write in progress queues its request and waits. When a write ends, the first queued writer
is woken to lead the next group: it takes every request queued by then (up to a bound),
writes them in one transaction, and wakes each with its own answer. Each leader writes the
group that formed while the previous one was writing, so groups grow with the load and never
wait for a timer.

Each request keeps the answer it would have had alone: its notification IDs, or its own
exception. The recorder finds the requests whose aggregate versions are taken (stored, or
claimed by an earlier request of the same group) and fails exactly those with the library's
IntegrityError; a group that fails for another reason is written again one request at a
time, so only the faulty request fails.
"""

import threading
import time
from _thread import LockType, allocate_lock
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent

# How much one group may carry: enough to absorb a burst from every thread of a worker, and
# few enough events that the conflict query's parameters stay within SQLite's limit.
MAX_GROUP_REQUESTS = 64
MAX_GROUP_EVENTS = 4096

Key = tuple[UUID, int]


class WriteRequest:
    """One `insert_events` call: its events, its options, and in the end its answer."""

    __slots__ = ("error", "events", "kwargs", "leading", "notification_ids", "settled", "wake")

    def __init__(self, events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> None:
        self.events = events
        self.kwargs = kwargs
        self.notification_ids: Sequence[int] | None = None
        self.error: BaseException | None = None
        self.settled = False
        self.leading = False
        # Made only when the request has to wait: a writer that leads never needs one. A
        # lock held from the start, which the waiter blocks on and its waker releases: one
        # system call each way, where an Event takes a condition and a second lock.
        self.wake: LockType | None = None

    @property
    def alone(self) -> bool:
        """Whether the request must have a transaction of its own: a key rotation (its
        last leaf names the next key, which every later leaf must be signed with) or any
        other option the library passes, whose meaning is one transaction's."""
        return not self.events or any(value is not None for value in self.kwargs.values())

    def versions(self) -> list[Key]:
        return [event_key(event) for event in self.events]

    def succeed(self, notification_ids: Sequence[int] | None) -> None:
        self.notification_ids, self.settled = notification_ids, True

    def fail(self, error: BaseException) -> None:
        self.error, self.settled = error, True

    def answer(self) -> Sequence[int] | None:
        if self.error is not None:
            raise self.error
        return self.notification_ids


def event_key(event: StoredEvent) -> Key:
    originator_id = event.originator_id
    if not isinstance(originator_id, UUID):
        originator_id = UUID(str(originator_id))
    return originator_id, event.originator_version


def refuse_taken(group: Sequence[WriteRequest], stored: Iterable[Key]) -> list[WriteRequest]:
    """The requests of a group that may be written, in order; each other request fails with
    IntegrityError, as it would alone: one of its aggregate versions is stored already or
    is claimed by an earlier request of the group (two clicks on one approval)."""
    taken = set(stored)
    accepted = []
    for request in group:
        keys = request.versions()
        if taken.intersection(keys) or len(set(keys)) < len(keys):
            request.fail(IntegrityError("another writer stored these aggregate versions first"))
            continue
        taken.update(keys)
        accepted.append(request)
    return accepted


def spread_ids(accepted: Sequence[WriteRequest], notification_ids: Sequence[int] | None) -> None:
    """Give each written request its own notification IDs, in the order it gave its events."""
    start = 0
    for request in accepted:
        end = start + len(request.events)
        request.succeed(None if notification_ids is None else list(notification_ids[start:end]))
        start = end


class GroupCommit:
    """Combines concurrent writes of one recorder into groups written in one transaction.

    `write_alone(events, **kwargs)` is the recorder's ordinary write of one request (its
    answer or exception is the request's). `write_together(group)` writes two or more
    requests in one transaction and settles each; an exception from it that is one of
    `retry_alone` means the group as a whole was refused (nothing of it is stored), and its
    requests are written again one at a time; any other exception is every request's answer.
    """

    def __init__(
        self,
        write_alone: Callable[..., Sequence[int] | None],
        write_together: Callable[[list[WriteRequest]], None],
        *,
        retry_alone: tuple[type[BaseException], ...],
        max_requests: int = MAX_GROUP_REQUESTS,
        max_events: int = MAX_GROUP_EVENTS,
    ) -> None:
        self._write_alone = write_alone
        self._write_together = write_together
        self._retry_alone = retry_alone
        self._max_requests = max_requests
        self._max_events = max_events
        self._lock = threading.Lock()
        self._queue: deque[WriteRequest] = deque()
        self._writing = False
        self._in_flight = 0
        self._others_writing = False  # whether the last group written had followers

    @property
    def in_flight(self) -> int:
        """How many writes have been asked for and not yet answered (written or queued)."""
        return self._in_flight

    def write(self, events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> Sequence[int] | None:
        request = WriteRequest(events, kwargs)
        with self._lock:
            self._in_flight += 1
            if self._writing:
                request.wake = allocate_lock()
                request.wake.acquire()
                self._queue.append(request)
            else:
                self._writing = True
                request.leading = True
        if request.wake is not None:
            try:
                request.wake.acquire()
            except BaseException:
                self._abandon(request)
                raise
        if request.leading:
            self._lead(request)
        return request.answer()

    def _abandon(self, request: WriteRequest) -> None:
        """A waiting writer was interrupted: its request leaves the queue unwritten, and if
        it had just been made the next leader, leadership passes on, so no writer waits for
        a leader that will never come. A request already in a group is written anyway, as a
        lone write interrupted after it was sent may be."""
        with self._lock:
            if request in self._queue:
                self._queue.remove(request)
                self._in_flight -= 1
                return
            if not request.leading:
                return
            self._in_flight -= 1
            following = self._queue.popleft() if self._queue else None
            if following is None:
                self._writing = False
            else:
                following.leading = True
        if following is not None:
            assert following.wake is not None
            following.wake.release()

    def _lead(self, first: WriteRequest) -> None:
        group = [first]
        try:
            if first.wake is None and self._others_writing:
                # It found no write in progress, but the last group had followers: they are
                # coming back with their next saves. It lets go of the interpreter once so
                # that they can queue, and takes them, instead of committing alone while
                # they wait a whole commit behind it.
                time.sleep(0)
            group = self._take(first)
            self._commit(group)
        except BaseException as error:  # an interrupt in the leader: no follower may hang
            for request in group:
                if not request.settled:
                    request.fail(error)
            raise
        finally:
            self._pass_on(group)

    def _take(self, first: WriteRequest) -> list[WriteRequest]:
        """The leader's own request and, unless it goes alone, those queued behind it."""
        group = [first]
        if first.alone:
            return group
        events = len(first.events)
        with self._lock:
            while self._queue and len(group) < self._max_requests:
                candidate = self._queue[0]
                if candidate.alone or events + len(candidate.events) > self._max_events:
                    break  # it leads the next group
                group.append(self._queue.popleft())
                events += len(candidate.events)
        return group

    def _commit(self, group: list[WriteRequest]) -> None:
        if len(group) > 1:
            try:
                self._write_together(group)
                return
            except Exception as error:
                for request in group:  # nothing of the group is stored: no answer stands
                    request.settled, request.error = False, None
                if not isinstance(error, self._retry_alone):
                    for request in group:
                        request.fail(error)
                    return
        for request in group:
            try:
                request.succeed(self._write_alone(request.events, **request.kwargs))
            except Exception as error:
                request.fail(error)

    def _pass_on(self, group: list[WriteRequest]) -> None:
        """Wake the group's followers with their answers, and the next leader, if any."""
        self._others_writing = len(group) > 1
        with self._lock:
            self._in_flight -= len(group)
            if self._queue:
                following = self._queue.popleft()
                following.leading = True
            else:
                following = None
                self._writing = False
        for request in group[1:]:
            assert request.wake is not None
            request.wake.release()
        if following is not None:
            assert following.wake is not None
            following.wake.release()
