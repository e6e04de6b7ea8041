"""A thread that follows the checkpoints: woken when one is stored, and at an interval.

The witnesses' cosigning and the TSA's timestamping each ask an outside service about the
newest checkpoint, off the write path. What they share is here once: the thread, its wake
and stop, and that a failed round is logged by its type and tried again at the next wake.
Every process of the log runs one; each asks only about a checkpoint it has claimed
(`ledger.storage.asking`), so one process asks the service about each checkpoint.
"""

import logging
import threading
from typing import Any, Self

logger = logging.getLogger(__name__)


class CheckpointFollower:
    """Runs `run_once` on its own thread after each `notify` and every `interval` seconds."""

    # Said, with the error's type, when a round fails (the database away: the checkpointer
    # says so too).
    failed_round = "nothing asked for this time"

    def __init__(self, interval: float, thread_name: str) -> None:
        self.interval = interval
        # How long a process's claim to ask about a checkpoint holds (ledger.storage.asking):
        # renewed at each of its rounds, at least every interval, and past a round's
        # requests with their timeouts, so that only a stopped or hung process loses it.
        self.lease = max(10.0, 5 * interval)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def notify(self) -> None:
        """A new checkpoint is stored: run now."""
        self._wake.set()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> Any:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except Exception as error:
                logger.warning("%s (%s)", self.failed_round, type(error).__name__)
