"""A witness that others run: it cosigns a log's checkpoints only when each extends the last
one it cosigned of that log (C2SP `tlog-witness` v1, `POST /add-checkpoint`).

A municipality, an auditor firm or the Agency runs one on its own machine, with its own data
directory: its Ed25519 key (a witness key, never a log's), the file `logs` naming the logs it
witnesses (each by origin and verifier key), and its state, the size and root it last
cosigned of each log, in SQLite with `synchronous = FULL`. The state is checked and advanced
in one write transaction (BEGIN IMMEDIATE) that commits to the disk before the cosignature is
made, so two requests at once cannot roll a log back, a crash cannot make the witness
forget what it cosigned, and no size is ever cosigned with two roots: a split view (a log
showing one history to one party and another to the next) is refused at the witness.

The witness imports nothing of the portal or of the log's storage: it checks notes and
proofs with `ledger.evidence` alone. It keeps, besides its state, each validly signed
checkpoint it refused for a bad proof or a conflicting root (`refused`, once per tree: a log
asking again adds nothing), since it and the checkpoint cosigned before prove the log's
misbehaviour.
"""

import base64
import binascii
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.evidence import merkle
from ledger.evidence.cosignature import Cosigner
from ledger.evidence.keys import KeyFormatError, SigningKey, VerifierKey
from ledger.evidence.note import MAX_NOTE_SIZE, Checkpoint, NoteError, open_note, split_note

KEY_FILE = "witness-key.pem"
LOGS_FILE = "logs"
STATE_FILE = "witness.sqlite3"
MAX_PROOF_LINES = 63  # the most a client may send (tlog-witness)
# The old size line, 63 proof lines and the empty line, around a note of at most 1 MiB.
MAX_BODY = MAX_NOTE_SIZE + 64 * 46
SIZE_CONTENT_TYPE = "text/x.tlog.size"

_LOGS_TEMPLATE = """\
# The logs this witness cosigns, one verifier key a line: `<origin> <verifier key>`.
# A log's key is `<name>+<key hash>+<base64 key>` (its `keys/verifier-keys`, or
# GET /api/v1/keys); a log with several keys (after a rotation) has a line for each.
# Restart `ledger witness serve` after a change. A log taken off this list is answered 404,
# but what was cosigned of it is kept: the witness never forgets a log.
"""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cosigned ("
    " origin TEXT PRIMARY KEY,"
    " size INTEGER NOT NULL,"
    " root BLOB NOT NULL,"
    " note TEXT NOT NULL,"
    " cosigned_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS refused ("
    " origin TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " root BLOB NOT NULL,"
    " note TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " received_at INTEGER NOT NULL,"
    " UNIQUE (origin, size, root))",
)


class WitnessSetupError(Exception):
    """A witness directory, key or list of logs that cannot be used; says what to do."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer to `add-checkpoint`: status, body, content type."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def initialize(directory: Path, name: str) -> Cosigner:
    """Make a new witness's directory (0700), key (0600), list of logs and state. The
    directory is new, or empty: the witness's files are the only ones in it."""
    if (directory / KEY_FILE).exists():
        raise WitnessSetupError(f"{directory / KEY_FILE} exists already: this is a witness")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise WitnessSetupError(f"{directory} is not an empty directory; choose a new one")
    try:
        key = SigningKey.generate(name)
    except KeyFormatError as error:
        raise WitnessSetupError(f"--name: {error}") from error
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key.write(directory / KEY_FILE)
    descriptor = os.open(directory / LOGS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(_LOGS_TEMPLATE)
    WitnessState(directory / STATE_FILE).create()
    return Cosigner(key.name, key.private_key)


def parse_logs(text: str) -> dict[str, dict[str, VerifierKey]]:
    """The logs a witness knows: by origin, their verifier keys by key hash."""
    logs: dict[str, dict[str, VerifierKey]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) != 2:
            raise WitnessSetupError(f"line {number}: a log is <origin> <verifier key>")
        origin, key_line = parts
        try:
            key = VerifierKey.parse(key_line)
        except KeyFormatError as error:
            raise WitnessSetupError(f"line {number}: {error}") from error
        logs.setdefault(origin, {})[key.kid] = key
    return logs


class WitnessState:
    """The size and root last cosigned of each log, and the refused checkpoints.

    One connection per operation, so that any thread of any worker process may run one;
    SQLite's write lock makes each check-and-advance one at a time across all of them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA synchronous = FULL")
        return connection

    def create(self) -> None:
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(descriptor)
        connection = self._connect()
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            for statement in _SCHEMA:
                connection.execute(statement)
        finally:
            connection.close()

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The size and root last cosigned of the log, None before its first."""
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT size, root FROM cosigned WHERE origin = ?", (origin,)
            ).fetchone()
        finally:
            connection.close()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def refused(self, origin: str) -> list[tuple[int, str, str]]:
        """The checkpoints of a log refused so far: size, reason and the signed note."""
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT size, reason, note FROM refused WHERE origin = ? ORDER BY rowid",
                (origin,),
            ).fetchall()
        finally:
            connection.close()
        return [(int(size), reason, note) for size, reason, note in rows]

    def advance(
        self, checkpoint: Checkpoint, note: str, old: int, proof: list[bytes]
    ) -> Answer | None:
        """Check that `checkpoint` extends what was cosigned of its log from size `old`,
        and store it as the log's newest, durably; None then, else the refusal."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute(
                "SELECT size, root FROM cosigned WHERE origin = ?", (checkpoint.origin,)
            ).fetchone()
            size, root = (0, merkle.EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))
            refused = _refusal(checkpoint, old, proof, size, root)
            if refused is not None:
                connection.execute("ROLLBACK")
                refusal, is_evidence = refused
                if is_evidence:
                    self._keep_refused(connection, checkpoint, note, refusal)
                return refusal
            connection.execute(
                "INSERT INTO cosigned (origin, size, root, note, cosigned_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
                "size = excluded.size, root = excluded.root, note = excluded.note, "
                "cosigned_at = excluded.cosigned_at",
                (checkpoint.origin, checkpoint.size, checkpoint.root, note, int(time.time())),
            )
            connection.execute("COMMIT")
            return None
        finally:
            connection.close()

    @staticmethod
    def _keep_refused(
        connection: sqlite3.Connection, checkpoint: Checkpoint, note: str, refusal: Answer
    ) -> None:
        connection.execute(
            "INSERT INTO refused (origin, size, root, note, reason, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin, size, root) DO NOTHING",
            (
                checkpoint.origin,
                checkpoint.size,
                checkpoint.root,
                note,
                f"{refusal.status} {refusal.body.strip()}",
                int(time.time()),
            ),
        )


def _refusal(
    checkpoint: Checkpoint, old: int, proof: list[bytes], size: int, root: bytes
) -> tuple[Answer, bool] | None:
    """Why `checkpoint`, sent with old size `old` and `proof`, cannot be cosigned when the
    witness last cosigned `size` leaves with `root` (size 0: none yet), and whether the
    refusal is evidence against the log (its signed checkpoint contradicts what was
    cosigned) rather than a client that is behind; None when it can be cosigned."""
    if old != size:
        return Answer(409, f"{size}\n", SIZE_CONTENT_TYPE), False
    if old == checkpoint.size:
        if checkpoint.root != root:
            # The same size with another root: the log shows two trees of one size.
            return Answer(409, f"{size}\n", SIZE_CONTENT_TYPE), True
        if proof:
            return Answer(422, "the proof between equal sizes is empty\n"), False
        return None
    if old == 0:
        return None if not proof else (Answer(422, "a proof from size 0 is empty\n"), False)
    try:
        merkle.verify_consistency(old, checkpoint.size, root, checkpoint.root, proof)
    except merkle.ProofError as error:
        return Answer(422, f"{error}\n"), True
    return None


@dataclass(frozen=True)
class Submission:
    """A parsed `add-checkpoint` body: the old size, the proof and the note."""

    old: int
    proof: list[bytes]
    note: str


def parse_submission(body: bytes) -> Submission:
    """The body `old <size>\\n`, proof lines of base64 hashes, an empty line, the note;
    ValueError naming what is malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("the body is not UTF-8") from error
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise ValueError("the body has no empty line before the checkpoint")
    lines = head.split("\n")
    old_line, proof_lines = lines[0], lines[1:]
    keyword, _, number = old_line.partition(" ")
    if keyword != "old" or not _decimal(number):
        raise ValueError("the body starts with `old <size>`")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise ValueError(f"more than {MAX_PROOF_LINES} proof lines")
    proof = []
    for line in proof_lines:
        try:
            hash_ = base64.b64decode(line, validate=True)
        except binascii.Error as error:
            raise ValueError("a proof line is not base64") from error
        if len(hash_) != merkle.HASH_SIZE or not line:
            raise ValueError(f"a proof line is a {merkle.HASH_SIZE}-byte hash")
        proof.append(hash_)
    return Submission(int(number), proof, note)


def _decimal(text: str) -> bool:
    """ASCII digits without leading zeros (`0` alone), at most 2^63-1."""
    if not (text.isascii() and text.isdigit()) or (text != "0" and text.startswith("0")):
        return False
    return len(text) <= 19 and int(text) < 1 << 63


class Witness:
    """A witness's key, the logs it knows and its state, answering `add-checkpoint`."""

    def __init__(self, cosigner: Cosigner, logs: dict[str, dict[str, VerifierKey]], state: Path):
        self.cosigner = cosigner
        self.logs = logs
        self.state = WitnessState(state)

    @classmethod
    def open(cls, directory: Path) -> "Witness":
        """The witness of a directory `initialize` made."""
        if not (directory / KEY_FILE).is_file():
            raise WitnessSetupError(
                f"{directory} holds no witness key; run `ledger witness init --dir {directory}`"
            )
        try:
            key = SigningKey.read(directory / KEY_FILE)
            logs = parse_logs((directory / LOGS_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise WitnessSetupError(f"{directory}: {error}") from error
        state = directory / STATE_FILE
        WitnessState(state).create()  # the tables of an older witness, if any are new
        return cls(Cosigner(key.name, key.private_key), logs, state)

    def add_checkpoint(self, body: bytes) -> Answer:
        """The answer to one `POST /add-checkpoint`, in the order tlog-witness checks."""
        try:
            submission = parse_submission(body)
            text, _ = split_note(submission.note)
            checkpoint = Checkpoint.parse(text)
        except (ValueError, NoteError) as error:
            return Answer(400, f"malformed: {error}\n")
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            return Answer(404, f"this witness does not witness log {checkpoint.origin}\n")
        try:
            open_note(submission.note, keys)
        except NoteError as error:
            return Answer(403, f"no key of log {checkpoint.origin} signed it: {error}\n")
        if submission.old > checkpoint.size:
            return Answer(400, "the old size is larger than the checkpoint's\n")
        refusal = self.state.advance(checkpoint, submission.note, submission.old, submission.proof)
        if refusal is not None:
            return refusal
        return Answer(200, self.cosigner.cosign(text).line)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The WSGI application: `POST /add-checkpoint`, nothing else."""
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path != "/add-checkpoint":
            answer = Answer(404, "not found\n")
        elif method != "POST":
            answer = Answer(405, "add-checkpoint is a POST\n")
        else:
            answer = self._answer_body(environ)
        body = answer.body.encode()
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(body)))]
        if answer.status == 405:
            headers.append(("Allow", "POST"))
        start_response(f"{answer.status} {_REASONS[answer.status]}", headers)
        return [body]

    def _answer_body(self, environ: dict[str, Any]) -> Answer:
        length_text = environ.get("CONTENT_LENGTH") or ""
        if not length_text.isdigit():
            return Answer(411, "the request has a Content-Length\n")
        length = int(length_text)
        if length > MAX_BODY:
            return Answer(413, f"the body is at most {MAX_BODY} bytes\n")
        body = environ["wsgi.input"].read(length)
        if len(body) != length:
            return Answer(400, "the body ended before its Content-Length\n")
        return self.add_checkpoint(body)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    422: "Unprocessable Content",
}
