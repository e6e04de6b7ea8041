"""The log as a witness client: after each checkpoint it asks every configured witness to
cosign it (C2SP `tlog-witness` v1), and keeps each cosignature once it is verified.

This runs in a thread of its own beside the checkpointer, never on the write path: a write
commits its leaf and returns, the checkpointer signs a checkpoint at its cadence and wakes
this thread, and this thread sends the newest stored checkpoint to each witness at once, one
request per witness, each with a timeout of about a second. A witness that is down, slow or
refusing delays nothing but its own cosignature: it is asked again at a later wake-up, less
often the longer it fails.

Of the log's processes, the one that claimed the checkpoint asks (`ledger.storage.asking`):
one request per witness and checkpoint, whichever worker made it. A witness answers 409
with the size it last cosigned when the log's idea of it is wrong (the first request of a
log that has kept no cosignature, a process that took over a lapsed claim): the request is
sent again once, from that size, with the consistency proof from it. A witness that has
cosigned a larger tree than the log now holds, or that refuses the proof (422), has seen
another history of this log: that is logged as an error, since it is what witnesses are for.
"""

import base64
import datetime
import http.client
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from ledger.evidence.cosignature import (
    Cosignature,
    CosignatureError,
    WitnessEntry,
    cosignatures_of,
)
from ledger.evidence.note import NoteError
from ledger.following import CheckpointFollower
from ledger.messages import quoted
from ledger.signed_log import SignedLog
from ledger.storage.asking import AskingClaims
from ledger.storage.checkpoints import StoredCheckpoint

logger = logging.getLogger(__name__)

TIMEOUT = 1.0  # seconds a witness has to answer one request
MAX_ANSWER = 64 * 1024  # more than any number of signature lines a witness would send
MAX_BACKOFF = 60.0  # seconds between attempts at a witness that keeps failing
# Requests for one checkpoint: the first, and again from the size a 409 names (twice, for
# when another process of the log moved the witness on in between).
_ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    """What one witness said of one checkpoint: `cosigned`, `already`, `failed` or
    `refused` (the witness has seen another history), with a detail for the log."""

    witness: str
    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Behind:
    """A witness that has not cosigned the checkpoint the quorum lacks: its name and when it
    last cosigned one (the time in its cosignature, its own clock), None if it never has."""

    witness: str
    last_cosigned_at: datetime.datetime | None


@dataclass(frozen=True)
class QuorumLapse:
    """The quorum has not cosigned the log's history for longer than the grace: since when
    (the first checkpoint it lacks was made then), that checkpoint's size, and the witnesses
    that have not cosigned it."""

    since: datetime.datetime
    size: int
    behind: tuple[Behind, ...]


def quorum_lapse(
    signed_log: SignedLog, grace: float, now: datetime.datetime | None = None
) -> QuorumLapse | None:
    """The lapse of the witness quorum when it has lasted longer than `grace` seconds, else
    None (also without witnesses).

    A witness that cosigned size N has checked that N extends everything it cosigned before,
    so it vouches for the first N leaves: the history the quorum vouches for ends at the
    quorum-th largest size the witnesses last cosigned. The lapse starts when the first
    checkpoint beyond it was made. One indexed row per witness and one checkpoint are read,
    however long the log, so a page may ask on every load."""
    store = signed_log.cosignatures
    if store is None or not signed_log.witnesses:
        return None
    last = {entry.name: store.last_cosigned(entry.name) for entry in signed_log.witnesses}
    sizes = sorted((found[0] if found else 0 for found in last.values()), reverse=True)
    quorum = max(1, min(signed_log.witness_quorum or len(sizes), len(sizes)))
    vouched = sizes[quorum - 1]
    pending = signed_log.read_tree(lambda tree: tree.covering(vouched + 1))
    if pending is None:
        return None
    since = datetime.datetime.fromisoformat(pending.created_at)
    if since.tzinfo is None:
        since = since.replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    if (now - since).total_seconds() <= grace:
        return None
    behind = tuple(
        Behind(name, datetime.datetime.fromtimestamp(found[1], datetime.UTC) if found else None)
        for name, found in sorted(last.items())
        if found is None or found[0] < pending.size
    )
    return QuorumLapse(since, pending.size, behind)


class WitnessClient:
    """One witness's HTTP endpoint, over one kept-alive connection (made again when it
    breaks), used by one thread at a time."""

    def __init__(self, entry: WitnessEntry, timeout: float = TIMEOUT) -> None:
        self.entry = entry
        self.timeout = timeout
        address = urlsplit(entry.url)
        self._https = address.scheme == "https"
        self._host = address.hostname or ""
        self._port = address.port
        self._path = (address.path.rstrip("/") or "") + "/add-checkpoint"
        self._connection: http.client.HTTPConnection | None = None

    def add_checkpoint(self, old: int, proof: list[bytes], note: str) -> tuple[int, str, str]:
        """POST add-checkpoint: the status, the content type and the body of the answer."""
        lines = [f"old {old}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
        body = ("".join(lines) + note).encode()
        for attempt in (1, 2):  # a kept connection the witness closed meanwhile: once more
            connection = self._connect()
            try:
                connection.request(
                    "POST",
                    self._path,
                    body=body,
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                )
                response = connection.getresponse()
                answer = response.read(MAX_ANSWER + 1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if response.will_close or len(answer) > MAX_ANSWER:
                self.close()
            content_type = response.getheader("Content-Type", "")
            return response.status, content_type, answer[:MAX_ANSWER].decode("utf-8", "replace")
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Cosigning(CheckpointFollower):
    """Asks the witnesses to cosign the newest stored checkpoint, in a thread of its own
    that wakes when `notify` is called (after each checkpoint) and every `interval`."""

    failed_round = "no cosignatures asked for this time"

    def __init__(
        self,
        signed_log: SignedLog,
        witnesses: tuple[WitnessEntry, ...],
        interval: float,
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        if signed_log.cosignatures is None:
            raise ValueError("the signed log keeps no cosignatures")
        self.signed_log = signed_log
        self.store = signed_log.cosignatures
        super().__init__(interval, "ledger-cosigning")
        self.clients = [WitnessClient(entry, timeout) for entry in witnesses]
        # The size each witness said it last cosigned (a 409), when the store knows less.
        self._told: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.clients)), thread_name_prefix="ledger-witness"
        )
        self.claims = AskingClaims(self.store.tables.database, self.lease)

    def stop(self, timeout: float | None = 10.0) -> None:
        super().stop(timeout)
        self._pool.shutdown(wait=True)
        for client in self.clients:
            client.close()
        self.claims.close()

    def run_once(self) -> list[Outcome]:
        """Ask every witness due for it to cosign the newest stored checkpoint, all at once;
        nothing when another process of the log has claimed that checkpoint."""
        checkpoint = self.signed_log.read_tree(lambda tree: tree.latest())
        if checkpoint is None or not self.claims.claim("cosign", checkpoint.size):
            return []
        now = time.monotonic()
        due = [c for c in self.clients if self._next_try.get(c.entry.name, 0.0) <= now]
        return list(self._pool.map(lambda client: self._ask(client, checkpoint), due))

    def _ask(self, client: WitnessClient, checkpoint: StoredCheckpoint) -> Outcome:
        name = client.entry.name
        try:
            outcome = self._exchange(client, checkpoint)
        except Exception as error:  # unreachable, timed out, or an answer we cannot read
            outcome = Outcome(name, "failed", f"{type(error).__name__}: {error}")
        if outcome.kind in ("cosigned", "already"):
            if self._failures.pop(name, 0):
                logger.info("witness %s cosigns again", name)
            self._next_try.pop(name, None)
            return outcome
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        wait = min(MAX_BACKOFF, self.interval * 2 ** min(failures - 1, 10))
        self._next_try[name] = time.monotonic() + wait
        log = logger.error if outcome.kind == "refused" else logger.warning
        log(
            "witness %s did not cosign checkpoint %d (%s; %d in a row); asking again in %.1f s",
            name,
            checkpoint.size,
            outcome.detail,
            failures,
            wait,
        )
        return outcome

    def _exchange(self, client: WitnessClient, checkpoint: StoredCheckpoint) -> Outcome:
        name = client.entry.name
        old = max(self.store.cosigned_size(name), self._told.get(name, 0))
        if old == checkpoint.size and name in self.store.witnesses(checkpoint.size):
            return Outcome(name, "already")
        for attempt in range(1, _ATTEMPTS + 1):
            if old > checkpoint.size:
                newest = self.signed_log.read_tree(lambda tree: tree.latest())
                if newest is not None and newest.size >= old:
                    # Another process of this log had a newer checkpoint cosigned meanwhile.
                    return Outcome(name, "already")
                return Outcome(
                    name,
                    "refused",
                    f"the witness has cosigned size {old}, more than this log's {checkpoint.size}",
                )
            proof = []
            if 0 < old < checkpoint.size:
                proof = self.signed_log.consistency_proof(old, checkpoint.size)
            status, content_type, body = client.add_checkpoint(old, proof, checkpoint.note)
            if status == 200:
                cosignature = self._verified(client.entry, checkpoint, body)
                self.store.add(checkpoint.size, cosignature)
                self._told[name] = checkpoint.size
                return Outcome(name, "cosigned")
            if status == 409 and content_type.split(";")[0].strip() == "text/x.tlog.size":
                told = body.strip()
                if not (told.isascii() and told.isdigit()):
                    return Outcome(
                        name, "failed", f"409 with a size that is no number: {quoted(told, 40)}"
                    )
                if int(told) == old:  # the same size with another root: two trees of one size
                    return Outcome(name, "refused", f"the witness holds another tree of size {old}")
                old = int(told)
                self._told[name] = old
                if attempt < _ATTEMPTS:
                    continue
            if status == 422:
                return Outcome(
                    name,
                    "refused",
                    f"the witness refuses the proof from size {old}: it has seen another "
                    f"history of this log: {quoted(body.strip(), 200)}",
                )
            return Outcome(name, "failed", f"HTTP {status}: {quoted(body.strip(), 200)}")
        raise AssertionError("unreachable")

    @staticmethod
    def _verified(entry: WitnessEntry, checkpoint: StoredCheckpoint, body: str) -> Cosignature:
        """The witness's cosignature among the lines it answered, verified with its key."""
        try:
            found = cosignatures_of(checkpoint.note + body, [entry.key])
        except (CosignatureError, NoteError) as error:
            raise CosignatureError(f"the witness's answer does not hold: {error}") from error
        if not found:
            raise CosignatureError("the witness answered no cosignature by its key")
        return found[0]
