"""Checkpoints at a cadence: the thread that covers every committed leaf within an interval.

A write commits its event and leaf and returns; it makes no checkpoint. This thread wakes
twice per interval, asks (one read, no lock) whether leaves exist that no checkpoint covers,
and if so signs one over all of them, as Certificate Transparency logs, Tessera and Rekor v2
integrate in batches and publish a checkpoint on an interval. A leaf committed just after a
wake-up is covered at the next one, half an interval later, plus the time the checkpoint
takes: within the interval even when no other write follows.

`ledger serve` runs one in every gunicorn worker, not one in the master. The master forks
the workers, and a thread holding database connections (SQLite's, or psycopg's pool with its
own threads) must not be running in a process that forks; the master also only supervises,
and stays the smallest part that has to keep running. Several checkpointers are harmless:
each makes its checkpoint under the lock `advance_checkpoint` takes (SQLite's write lock, a
PostgreSQL advisory lock), which serializes them across processes and hosts, and the one that
gets it second finds every leaf covered and signs nothing. Should every worker fail, a
receipt, a proof or `GET /api/v1/checkpoint` still makes the checkpoint they need at once.

A checkpointer that fails (the database away, a key missing) logs the kind of failure and
tries again at its next wake-up; writes never wait for it or see its errors.

With witnesses configured, the checkpointer starts and stops a `ledger.cosigning.Cosigning`
thread beside it and wakes that thread after each checkpoint it makes; the witnesses' time
is spent there, so a witness that is slow or down delays no checkpoint. With a timestamp
authority configured it does the same with a `ledger.timestamping.Timestamping` thread.
"""

import logging
import threading
from collections.abc import Callable

from ledger.cosigning import Cosigning
from ledger.evidence.database import DatabaseUnavailable
from ledger.keyring import KeyRingError
from ledger.signed_log import SignedLog
from ledger.storage import LogWriteError
from ledger.storage.checkpoints import StoredCheckpoint
from ledger.timestamping import Timestamping

logger = logging.getLogger(__name__)

# Our own errors say what went wrong without naming any event's content; any other is
# logged by its type alone, so that no personal data from a leaf or a driver reaches the log.
_DESCRIBED = (DatabaseUnavailable, KeyRingError, LogWriteError)


class Checkpointer:
    """A daemon thread that calls `advance` every half `interval` seconds until stopped."""

    def __init__(
        self,
        advance: Callable[[], StoredCheckpoint | None],
        interval: float,
        *,
        name: str = "ledger-checkpointer",
        cosigning: Cosigning | None = None,
        timestamping: Timestamping | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("the checkpoint interval must be positive")
        self.advance = advance
        self.interval = interval
        self.cosigning = cosigning
        self.timestamping = timestamping
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.failures = 0  # consecutive failed attempts, for the log and for tests

    @classmethod
    def for_log(cls, signed_log: SignedLog, interval: float) -> "Checkpointer":
        """The log's checkpointer, with its witnesses asked after each checkpoint if it
        has any."""
        cosigning = None
        if signed_log.witnesses and signed_log.cosignatures is not None:
            cosigning = Cosigning(signed_log, signed_log.witnesses, interval)
        timestamping = None
        if signed_log.tsa is not None and signed_log.timestamps is not None:
            timestamping = Timestamping(signed_log, signed_log.tsa, interval)
        return cls(
            signed_log.advance_checkpoint,
            interval,
            cosigning=cosigning,
            timestamping=timestamping,
        )

    def start(self) -> "Checkpointer":
        if self.cosigning is not None:
            self.cosigning.start()
        if self.timestamping is not None:
            self.timestamping.start()
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the checkpoint being made, if any, is done; waits at most `timeout`
        (and as long again for the witnesses' requests under way)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.cosigning is not None:
            self.cosigning.stop(timeout)
        if self.timestamping is not None:
            self.timestamping.stop(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run_once(self) -> StoredCheckpoint | None:
        """One attempt: the new checkpoint, or None when all was covered or it failed."""
        try:
            checkpoint = self.advance()
        except Exception as error:
            self.failures += 1
            reason = f"{type(error).__name__}: {error}" if isinstance(error, _DESCRIBED) else ""
            logger.warning(
                "no checkpoint this time (%s%s, %d in a row); trying again in %.2f s",
                type(error).__name__ if not reason else "",
                reason,
                self.failures,
                self.interval / 2,
            )
            return None
        if self.failures:
            logger.info("checkpoints made again after %d failed attempts", self.failures)
            self.failures = 0
        return checkpoint

    def _run(self) -> None:
        while not self._stop.wait(self.interval / 2):
            if self.run_once() is not None:
                if self.cosigning is not None:
                    self.cosigning.notify()
                if self.timestamping is not None:
                    self.timestamping.notify()
