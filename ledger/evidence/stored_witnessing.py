"""`ledger verify` of the stored cosignatures and timestamp tokens, as a bundle's are checked.

The log keeps each witness's cosignature and each TSA token beside the checkpoint it is of.
Both were checked before they were kept, but the verifier trusts nothing it did not check
itself: a history rewritten and signed again with the log's key keeps the old cosignatures
and tokens only if they still hold over the new notes, and they do not. So every kept
cosignature of a trusted witness is verified over the stored note of its size
(`bad-cosignature`), and every kept token over the same bytes and against the TSA anchors
(`malformed-timestamp`, `timestamp-mismatch`, `timestamp-untrusted`), with the reason codes
a bundle's check gives.

Witnesses cosign the newest checkpoint when they are asked, not every one, and a witness
that cosigned size N has checked that N extends all it cosigned before: the quorum vouches
for the history up to the quorum-th largest size its witnesses validly cosigned. That falls
behind for a moment after each checkpoint, so `quorum-not-met` is said only of a checkpoint
made longer than the grace ago (LEDGER_WITNESS_QUORUM_GRACE, as the staff pages use it).

The tables are read with the verifier's read-only connection, a page at a time; a log that
has never kept a cosignature or a token has no such table, which is no problem.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from ledger.evidence.cosignature import WitnessPolicy
from ledger.evidence.database import DatabaseURL
from ledger.evidence.reasons import Reason
from ledger.evidence.tables import CHECKPOINTS_TABLE
from ledger.evidence.timestamp import TimestampError, check_token
from ledger.evidence.verify import Problem

# The tables ledger.storage.cosignatures and ledger.storage.timestamps keep.
COSIGNATURES_TABLE = "ledger_cosignatures"
TIMESTAMPS_TABLE = "ledger_timestamps"
PAGE_SIZE = 2000


@dataclass
class WitnessingReport:
    """What was checked, for the report's notes, and the problems found."""

    problems: list[Problem] = field(default_factory=list)
    cosignatures: int = 0  # trusted witnesses' lines verified (or found not to verify)
    untrusted_cosignatures: int = 0  # lines of witnesses not in the policy: not checked
    vouched_size: int | None = None  # the history the quorum vouches for, with a policy
    newest_size: int = 0
    timestamps: int = 0  # tokens checked against the anchors
    unchecked_timestamps: int = 0  # tokens present, not checked: no anchors given

    def add(self, reason: Reason, detail: str) -> None:
        self.problems.append(Problem(reason, None, None, None, detail))


def check_stored_witnessing(
    database: DatabaseURL,
    witnesses: WitnessPolicy | None,
    tsa_roots: list[x509.Certificate] | None,
    *,
    grace: float,
    now: datetime | None = None,
) -> WitnessingReport:
    """Check the kept cosignatures with `witnesses` (none checked without) and the kept
    tokens with `tsa_roots` (only counted without)."""
    report = WitnessingReport()
    connection = database.connect()
    try:
        reader = _Reader(connection, database.placeholder)
        newest = reader.rows(f"SELECT MAX(size) FROM {CHECKPOINTS_TABLE}")
        report.newest_size = int(newest[0][0] or 0) if newest else 0
        _check_cosignatures(reader, witnesses, report)
        if witnesses is not None:
            _check_quorum(reader, witnesses, grace, now or datetime.now(UTC), report)
        _check_timestamps(reader, tsa_roots, report)
    finally:
        connection.close()
    return report


class _Reader:
    def __init__(self, connection: Any, placeholder: str) -> None:
        self.connection = connection
        self.p = placeholder

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        cursor.execute(statement, params)
        return list(cursor.fetchall())

    def has(self, table: str) -> bool:
        if self.p == "?":
            found = self.rows(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            )
        else:
            found = self.rows("SELECT 1 WHERE to_regclass(%s) IS NOT NULL", (table,))
        return bool(found)

    def note(self, size: int) -> str | None:
        found = self.rows(f"SELECT note FROM {CHECKPOINTS_TABLE} WHERE size = {self.p}", (size,))
        return str(found[0][0]) if found else None

    def paged(self, table: str, columns: str) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of `table` grouped by size, smallest first, a page of sizes at a time."""
        after = -1
        while True:
            sizes = self.rows(
                f"SELECT DISTINCT size FROM {table} WHERE size > {self.p} "
                f"ORDER BY size LIMIT {self.p}",
                (after, PAGE_SIZE),
            )
            if not sizes:
                return
            last = int(sizes[-1][0])
            rows = self.rows(
                f"SELECT size, {columns} FROM {table} WHERE size > {self.p} AND size <= {self.p} "
                "ORDER BY size",
                (after, last),
            )
            group: list[tuple[Any, ...]] = []
            for row in rows:
                if group and group[0][0] != row[0]:
                    yield group
                    group = []
                group.append(row)
            if group:
                yield group
            if len(sizes) < PAGE_SIZE:
                return
            after = last


def _check_cosignatures(
    reader: _Reader, witnesses: WitnessPolicy | None, report: WitnessingReport
) -> None:
    if not reader.has(COSIGNATURES_TABLE):
        return
    trusted = {key.kid: key for key in witnesses.keys} if witnesses is not None else {}
    # For each trusted witness, the largest size it validly cosigned.
    largest: dict[str, int] = {}
    for group in reader.paged(COSIGNATURES_TABLE, "witness, kid, line"):
        size = int(group[0][0])
        lines = [(str(kid), str(line)) for _, _, kid, line in group if str(kid) in trusted]
        report.untrusted_cosignatures += len(group) - len(lines)
        if not lines:
            continue
        report.cosignatures += len(lines)
        note = reader.note(size)
        if note is None:
            report.add(
                Reason.BAD_COSIGNATURE,
                f"{len(lines)} kept cosignature(s) of size {size}, of which no checkpoint is "
                "stored",
            )
            continue
        assert witnesses is not None
        policy = WitnessPolicy(tuple(trusted[kid] for kid, _ in lines), 1)
        valid, findings = policy.check(
            note + "".join(line.rstrip("\n") + "\n" for _, line in lines)
        )
        for reason, detail in findings:
            if reason is Reason.BAD_COSIGNATURE:
                report.add(reason, f"the kept cosignature of checkpoint {size}: {detail}")
        # A line that verifies nothing at all (no finding, no cosignature) is a bad one too.
        verified = {cosignature.kid for cosignature in valid}
        failed = {kid for kid, _ in lines} - verified
        if failed and not any(r is Reason.BAD_COSIGNATURE for r, _ in findings):
            names = ", ".join(sorted(trusted[kid].name for kid in failed))
            report.add(
                Reason.BAD_COSIGNATURE,
                f"the kept cosignature of checkpoint {size} by {names} does not verify",
            )
        for cosignature in valid:
            largest[cosignature.kid] = max(largest.get(cosignature.kid, 0), size)
    if witnesses is not None:
        report.vouched_size = _vouched(witnesses, largest)


def _vouched(witnesses: WitnessPolicy, largest: dict[str, int]) -> int:
    sizes = sorted((largest.get(key.kid, 0) for key in witnesses.keys), reverse=True)
    return sizes[witnesses.quorum - 1]


def _check_quorum(
    reader: _Reader,
    witnesses: WitnessPolicy,
    grace: float,
    now: datetime,
    report: WitnessingReport,
) -> None:
    vouched = report.vouched_size or 0
    report.vouched_size = vouched
    if vouched >= report.newest_size:
        return
    # The first checkpoint beyond what the quorum vouches for, and when it was made.
    beyond = reader.rows(
        f"SELECT size, created_at FROM {CHECKPOINTS_TABLE} WHERE size > {reader.p} "
        "ORDER BY size LIMIT 1",
        (vouched,),
    )
    if not beyond:
        return
    size, created_at = int(beyond[0][0]), str(beyond[0][1])
    try:
        made = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        made = now - timedelta(seconds=grace + 1)
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    if (now - made).total_seconds() <= grace:
        return
    report.add(
        Reason.QUORUM_NOT_MET,
        f"the quorum of {witnesses.quorum} of the {len(witnesses.keys)} trusted witnesses "
        f"vouches for the history up to size {vouched}; checkpoint {size}, made at "
        f"{created_at}, more than {grace:g} s ago, and the {report.newest_size - vouched} "
        "leaves after it are not cosigned by the quorum",
    )


def _check_timestamps(
    reader: _Reader, roots: list[x509.Certificate] | None, report: WitnessingReport
) -> None:
    if not reader.has(TIMESTAMPS_TABLE):
        return
    for group in reader.paged(TIMESTAMPS_TABLE, "token"):
        for row in group:
            size, token = int(row[0]), bytes(row[1])
            if roots is None:
                report.unchecked_timestamps += 1
                continue
            report.timestamps += 1
            note = reader.note(size)
            if note is None:
                report.add(
                    Reason.TIMESTAMP_MISMATCH,
                    f"the kept token of size {size}: no checkpoint of that size is stored",
                )
                continue
            try:
                check_token(token, note, roots)
            except TimestampError as error:
                report.add(error.reason, f"the kept token of checkpoint {size}: {error}")
