"""The log's checkpoints timestamped by an RFC 3161 timestamp authority, off the write path.

A thread of its own beside the checkpointer (as the witnesses' `ledger.cosigning`), woken
after each checkpoint: it sends a TimeStampReq over the SHA-256 of the newest checkpoint's
log-signed note (`ledger.evidence.timestamp`), with a random nonce and certReq, as
`application/timestamp-query` with a timeout of about a second, and keeps the token beside
the checkpoint only once it holds: granted, over our hash, answering our nonce (and the
configured policy), signed by a TSA whose certificate chains to LEDGER_TSA_ROOTS with the
critical timeStamping usage. A token that does not hold is logged with its reason code and
not kept.

With LEDGER_TSA_INTERVAL the TSA is asked at most once per that many seconds, always for the
newest checkpoint then; checkpoints between are covered by the next one's token, since each
checkpoint extends the ones before it. A TSA that is down or slow delays no write and no
checkpoint: it is asked again at a later wake-up, less often the longer it fails. Of the
log's processes, only the one that claimed the checkpoint asks (`ledger.storage.asking`).
"""

import logging
import time
import urllib.request
from datetime import UTC, datetime

from ledger.config import TsaSettings
from ledger.evidence.reasons import Reason
from ledger.evidence.timestamp import (
    MAX_TOKEN,
    Timestamp,
    TimestampError,
    check_token,
    request_for,
    token_of_reply,
)
from ledger.following import CheckpointFollower
from ledger.messages import quoted
from ledger.signed_log import SignedLog
from ledger.storage.asking import AskingClaims
from ledger.storage.checkpoints import StoredCheckpoint
from ledger.storage.timestamps import TimestampStore

logger = logging.getLogger(__name__)

TIMEOUT = 1.0  # seconds the TSA has to answer
MAX_BACKOFF = 60.0  # seconds between attempts at a TSA that keeps failing


class Timestamping(CheckpointFollower):
    """Has the newest stored checkpoint timestamped, in a thread that wakes when `notify`
    is called (after each checkpoint) and every `interval` seconds."""

    failed_round = "no timestamp asked for this time"

    def __init__(
        self,
        signed_log: SignedLog,
        tsa: TsaSettings,
        interval: float,
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        if signed_log.timestamps is None:
            raise ValueError("the signed log keeps no timestamps")
        self.signed_log = signed_log
        self.store: TimestampStore = signed_log.timestamps
        self.tsa = tsa
        super().__init__(interval, "ledger-timestamping")
        self.timeout = timeout
        self.failures = 0
        self._next_try = 0.0
        self.claims = AskingClaims(self.store.tables.database, self.lease)

    def stop(self, timeout: float | None = 10.0) -> None:
        super().stop(timeout)
        self.claims.close()

    def run_once(self) -> Timestamp | None:
        """Timestamp the newest stored checkpoint if it has no token and one is due: the
        kept token, or None (nothing due, or the TSA failed: logged)."""
        if time.monotonic() < self._next_try:
            return None
        checkpoint = self.signed_log.read_tree(lambda tree: tree.latest())
        if checkpoint is None or self.store.token(checkpoint.size) is not None:
            return None
        newest = self.store.newest()
        if newest is not None and self.tsa.interval > 0:
            age = (datetime.now(UTC) - newest[1]).total_seconds()
            if 0 <= age < self.tsa.interval:
                return None
        if not self.claims.claim("timestamp", checkpoint.size):
            return None  # another process of the log asks the TSA about this checkpoint
        try:
            stamp = self.timestamp(checkpoint)
        except Exception as error:
            self._failed(checkpoint, error)
            return None
        self.store.add(checkpoint.size, stamp)
        if self.failures:
            logger.info("the TSA timestamps again after %d failed attempts", self.failures)
        self.failures = 0
        self._next_try = 0.0
        return stamp

    def timestamp(self, checkpoint: StoredCheckpoint) -> Timestamp:
        """The TSA's token of the checkpoint, checked against its request and the anchors."""
        request = request_for(checkpoint.note)
        # LEDGER_TSA_URL is an http:// or https:// URL (ledger.config), never file: or other.
        http_request = urllib.request.Request(  # noqa: S310
            self.tsa.url,
            data=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        with urllib.request.urlopen(http_request, timeout=self.timeout) as response:  # noqa: S310
            reply = response.read(MAX_TOKEN + 1)
        if len(reply) > MAX_TOKEN:
            raise TimestampError(Reason.MALFORMED_TIMESTAMP, "the TSA's reply is too large")
        return check_token(
            token_of_reply(reply),
            checkpoint.note,
            list(self.tsa.roots),
            nonce=request.nonce,
            policy=self.tsa.policy,
        )

    def _failed(self, checkpoint: StoredCheckpoint, error: Exception) -> None:
        self.failures += 1
        wait = min(MAX_BACKOFF, self.interval * 2 ** min(self.failures - 1, 10))
        self._next_try = time.monotonic() + wait
        if isinstance(error, TimestampError):
            # A reply that does not hold is not the TSA being down: it is said as an error.
            logger.error(
                "the TSA's token of checkpoint %d is refused (%s: %s); asking again in %.1f s",
                checkpoint.size,
                error.reason,
                quoted(str(error), 200),
                wait,
            )
            return
        logger.warning(
            "checkpoint %d not timestamped (%s: %s; %d in a row); asking again in %.1f s",
            checkpoint.size,
            type(error).__name__,
            quoted(str(error), 200),
            self.failures,
            wait,
        )
