"""`ledger verify`: check every stored row against the evidence format, reading bytes only.

The verifier trusts nothing but the verifier keys it is given. It streams the leaves in
`seq` order joined with their events, a range at a time (several ranges in parallel with
`jobs`), and checks each leaf's form and signature, the `prev` chain, gap-free `seq`, the
payload hash and topic against the stored event, and that leaf and event agree. SQL over
the whole tables finds events without a leaf, duplicated leaves and gaps in the versions
of an aggregate. Given the documents directory, every document a payload names must be
there with its hash. Every problem is reported with its reason code; none stops the run.
"""

import hashlib
import json
import multiprocessing
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.evidence import merkle
from ledger.evidence.database import DatabaseURL
from ledger.evidence.documents import document_path, document_problem, named_documents
from ledger.evidence.keys import VerifierKey, all_verify, parse_verifier_keys
from ledger.evidence.leaf import (
    GENESIS_PREV,
    EventFacts,
    chain_hash,
    check_leaf,
    held_but_signature,
)
from ledger.evidence.note import Checkpoint, NoteError, open_checkpoint
from ledger.evidence.personal import (
    ERASURE_TOPIC,
    PERSONAL_MARK,
    Committed,
    Erasure,
    commitments_in,
    covering,
    opens,
    read_erasure,
)
from ledger.evidence.reasons import STORED_CHECKPOINT, Reason
from ledger.evidence.tables import (
    CHECKPOINTS_TABLE,
    EVENT_INDEX_TABLE,
    EVENTS_TABLE,
    LEAVES_TABLE,
    PERSONAL_DATA_TABLE,
    TIME_ERASURES_TABLE,
)

PAGE_SIZE = 2000
MIN_CHUNK = 1024
MAX_CHUNK = 16384


@dataclass(frozen=True)
class Problem:
    reason: Reason
    seq: int | None
    originator_id: str | None
    originator_version: int | None
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "seq -"
        if self.originator_id is not None:
            where += f" {self.originator_id} v{self.originator_version}"
        return f"{self.reason}: {where}: {self.detail}"


@dataclass
class Report:
    leaves: int = 0
    events: int = 0
    documents: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Committed personal values (section 10), and how many of them an erasure took away.
    personal: int = 0
    erased: int = 0
    # Format 1 payloads an erasure replaced by redacted ones (section 10.4).
    redacted: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(p.reason for p in self.problems).items()))

    def summary(self) -> str:
        counts = ", ".join(f"{reason} {n}" for reason, n in self.counts().items())
        n = len(self.problems)
        verdict = "all holds" if self.ok else f"{n} problem{'s' * (n != 1)} ({counts})"
        checked = f"{self.leaves} leaves and {self.events} events"
        if self.documents:
            checked = f"{self.leaves} leaves, {self.events} events and {self.documents} documents"
        if self.personal:
            checked += f" ({self.personal} personal values, {self.erased} of them erased)"
        if self.redacted:
            checked += f" ({self.redacted} format 1 payloads redacted)"
        return f"checked {checked}: {verdict}"

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "leaves": self.leaves,
            "events": self.events,
            "documents": self.documents,
            "personal": self.personal,
            "erased": self.erased,
            "redacted": self.redacted,
            "counts": self.counts(),
            "problems": [asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class KeptEvidence:
    """What an auditor kept from earlier: a checkpoint, and maybe the leaves it covers."""

    checkpoint: Checkpoint
    leaves: Iterable[bytes] | None = None


_LOWER_HEX_32 = re.compile(r"[0-9a-f]{32}")


def _uuid_text(value: Any) -> str:
    """An aggregate id as the leaf writes it; a stored id that is no UUID stays as it is."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str) and _LOWER_HEX_32.fullmatch(value):  # as SQLite keeps them
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    try:
        return str(UUID(str(value)))
    except ValueError:
        return str(value)


class _Reader:
    """Queries over one connection, in the database's parameter style."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.connection = url.connect()
        self.p = url.placeholder

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        cursor.execute(statement, params)
        return list(cursor.fetchall())

    def close(self) -> None:
        self.connection.close()


@dataclass
class _Naming:
    """The first event that names a document, and how many events name it."""

    seq: int
    originator_id: str
    originator_version: int
    member: str
    events: int = 1


@dataclass(frozen=True)
class _Personal:
    """An event whose payload commits personal values (section 10)."""

    seq: int
    originator_id: str
    originator_version: int
    topic: str
    happened: Any
    committed: tuple[Committed, ...]


@dataclass(frozen=True)
class _Subtree:
    """The Merkle tree of one range's leaves, [start, start + size), where start is a
    multiple of a power of two at least as large as the range: the range's complete
    subtrees (`peaks`, (leaves, hash), largest first) and, for each stored checkpoint (and
    the kept one, with root None) whose size ends in the range, that size, its stored root
    and the root of the range's leaves up to it (`folded`), which the tree's parent folds
    with the peaks of the leaves before the range. `gap` when the range's leaves are not
    the seqs start, start + 1, ...: no root past it means anything."""

    start: int
    size: int
    peaks: list[tuple[int, bytes]]
    roots: list[tuple[int, bytes | None, bytes]]
    gap: bool


@dataclass
class _RangeResult:
    start: int
    leaves: int
    problems: list[Problem]
    documents: dict[str, _Naming] = field(default_factory=dict)
    personal: list[_Personal] = field(default_factory=list)
    erasures: list[Erasure] = field(default_factory=list)
    subtree: _Subtree | None = None


class _RangeTree:
    """Builds a range's `_Subtree` as its leaves pass by in `seq` order."""

    def __init__(self, reader: _Reader, start: int, stop: int, kept_size: int | None) -> None:
        self.start = start
        self.builder = merkle.RootBuilder()
        self.gap = False
        p = reader.p
        wanted: list[tuple[int, bytes | None]] = [
            (size, bytes(root))
            for size, root in reader.rows(
                f"SELECT size, root FROM {CHECKPOINTS_TABLE} WHERE size > {p} AND size <= {p} "
                "ORDER BY size",
                (start, stop),
            )
        ]
        if kept_size is not None and start < kept_size <= stop:
            wanted.append((kept_size, None))
            wanted.sort(key=lambda item: (item[0], item[1] is None))
        self._wanted = wanted
        self._next = 0
        self._next_size = wanted[0][0] - start if wanted else -1
        self.roots: list[tuple[int, bytes | None, bytes]] = []

    def add(self, seq: int, leaf: bytes) -> None:
        builder = self.builder
        if self.gap or seq != self.start + builder.size:
            self.gap = True
            return
        builder.append_hash(merkle.leaf_hash(leaf))
        while builder.size == self._next_size:
            size, stored = self._wanted[self._next]
            self.roots.append((size, stored, builder.root()))
            self._next += 1
            wanted = self._wanted
            self._next_size = wanted[self._next][0] - self.start if self._next < len(wanted) else -1

    def result(self) -> _Subtree:
        peaks = list(self.builder._stack)
        return _Subtree(self.start, self.builder.size, peaks, self.roots, self.gap)


class _Page:
    """One page of leaves joined with their events, checked in `seq` order from the leaf
    before it (`prev_hash`, `prev_seq`)."""

    def __init__(self, prev_hash: str, prev_seq: int) -> None:
        self.prev_hash = prev_hash
        self.prev_seq = prev_seq
        self.problems: list[Problem] = []
        self.namings: list[tuple[str, _Naming]] = []
        self.personal: list[_Personal] = []
        self.erasures: list[Erasure] = []

    def check(
        self,
        page: list[tuple[Any, ...]],
        keys: Mapping[str, VerifierKey],
        with_documents: bool,
        tree: _RangeTree | None,
        verified: Iterator[bool] | None,
    ) -> list[tuple[VerifierKey, bytes, bytes]]:
        """Check the page; a leaf whose every fact but its signature holds is taken to hold
        and its signature returned, to be verified with the page's others in one loop
        (`verified` None); when one of them did not verify, the page is checked again with
        each one's outcome in `verified`, in the same order, and the leaves it names fail
        in full as before."""
        pending: list[tuple[VerifierKey, bytes, bytes]] = []
        prev_hash, prev_seq = self.prev_hash, self.prev_seq
        problems, personal, erasures = self.problems, self.personal, self.erasures
        sha256 = hashlib.sha256
        for seq, oid, version, leaf, stored_hash, recorded_at, topic, state, has_event in page:
            leaf = bytes(leaf)
            if tree is not None:
                tree.add(seq, leaf)
            oid_text = _uuid_text(oid)
            leaf_hash = sha256(leaf).digest()
            payload = None if state is None else bytes(state)
            event = (topic, payload) if has_event else None
            held = False
            # The leaf that holds is seen to hold at once; any other is looked at in full,
            # which names every reason it fails.
            if (
                seq == prev_seq + 1
                and stored_hash is not None
                and bytes(stored_hash) == leaf_hash
                and has_event
                and payload is not None
            ):
                signed = held_but_signature(
                    leaf, keys, seq, oid_text, version, topic, payload, recorded_at, prev_hash
                )
                if signed is not None:
                    if verified is None:
                        pending.append(signed)
                        held = True
                    else:
                        held = next(verified)
            if not held:
                found = []
                if seq != prev_seq + 1:
                    found.append((Reason.SEQ_GAP, f"no leaf has seq {prev_seq + 1} to {seq - 1}"))
                if stored_hash is None or bytes(stored_hash) != leaf_hash:
                    found.append(
                        (Reason.LEAF_HASH_MISMATCH, "the stored leaf_hash is not the leaf's hash")
                    )
                found += _leaf_problems(
                    keys, seq, oid_text, version, leaf, recorded_at, prev_hash, event
                )
                if found:
                    problems.extend(Problem(r, seq, oid_text, version, d) for r, d in found)
                    # An erasure whose leaf does not hold accounts for nothing.
                    event = None if topic == ERASURE_TOPIC else event
            if event is not None and payload is not None:
                if PERSONAL_MARK in payload:
                    happened, committed = commitments_in(payload)
                    if committed:
                        personal.append(
                            _Personal(seq, oid_text, version, topic, happened, tuple(committed))
                        )
                if topic == ERASURE_TOPIC:
                    erasure = read_erasure(seq, payload)
                    if erasure is not None:
                        erasures.append(erasure)
                if with_documents:
                    for member, sha in named_documents(payload):
                        self.namings.append((sha, _Naming(seq, oid_text, version, member)))
            prev_hash = leaf_hash.hex()
            prev_seq = seq
        self.prev_hash, self.prev_seq = prev_hash, prev_seq
        return pending


def _check_range(
    reader: _Reader,
    keys: Mapping[str, VerifierKey],
    start: int,
    stop: int,
    with_documents: bool = False,
    kept_size: int | None = None,
) -> _RangeResult:
    """Check the leaves with `start <= seq < stop` and their events; `with_documents`
    collects the documents their payloads name. The range's Merkle tree is built as its
    leaves pass by (`_Subtree`; `start` a multiple of a power of two >= stop - start)."""
    p = reader.p
    problems: list[Problem] = []
    documents: dict[str, _Naming] = {}
    personal: list[_Personal] = []
    erasures: list[Erasure] = []
    tree = _RangeTree(reader, start, stop, kept_size)
    if start == 0:
        prev_hash, prev_seq = GENESIS_PREV, -1
    else:
        before = reader.rows(
            f"SELECT seq, leaf FROM {LEAVES_TABLE} WHERE seq < {p} ORDER BY seq DESC LIMIT 1",
            (start,),
        )
        prev_hash = chain_hash(bytes(before[0][1])).hex() if before else GENESIS_PREV
        prev_seq = before[0][0] if before else -1
    count = 0
    after = start - 1
    statement = (
        "SELECT l.seq, l.originator_id, l.originator_version, l.leaf, l.leaf_hash, "
        "l.recorded_at, e.topic, e.state, e.originator_version IS NOT NULL "
        f"FROM {LEAVES_TABLE} l LEFT JOIN {EVENTS_TABLE} e "
        "ON e.originator_id = l.originator_id AND e.originator_version = l.originator_version "
        f"WHERE l.seq > {p} AND l.seq < {p} ORDER BY l.seq LIMIT {p}"
    )
    while True:
        page = reader.rows(statement, (after, stop, PAGE_SIZE))
        checked = _Page(prev_hash, prev_seq)
        pending = checked.check(page, keys, with_documents, tree, None)
        if not all_verify(pending):
            outcomes = [key.verify(signature, message) for key, signature, message in pending]
            checked = _Page(prev_hash, prev_seq)
            checked.check(page, keys, with_documents, None, iter(outcomes))
        problems += checked.problems
        personal += checked.personal
        erasures += checked.erasures
        for sha256, naming in checked.namings:
            first = documents.get(sha256)
            if first is None:
                documents[sha256] = naming
            else:
                first.events += 1
        prev_hash, prev_seq = checked.prev_hash, checked.prev_seq
        count += len(page)
        if len(page) < PAGE_SIZE:
            break
        after = page[-1][0]
    return _RangeResult(start, count, problems, documents, personal, erasures, tree.result())


def _leaf_problems(
    keys: Mapping[str, VerifierKey],
    seq: int,
    originator_id: str,
    originator_version: int,
    leaf: bytes,
    recorded_at: str,
    prev_hash: str,
    event: tuple[str, bytes | None] | None,
) -> list[tuple[Reason, str]]:
    """(reason, detail) for each way one stored leaf and its event fail the format."""
    found = []
    if event is None:
        found.append((Reason.ORPHAN_LEAF, "no stored event has this leaf's id and version"))
    topic, payload = event if event is not None else (None, None)
    facts = EventFacts(seq, originator_id, originator_version, topic, payload, recorded_at)
    members, mismatches = check_leaf(leaf, keys, facts)
    if members is not None and members.prev != prev_hash:
        found.append((Reason.BROKEN_CHAIN, "prev is not the hash of the previous leaf"))
    if members is not None and event is not None and payload is None:
        found.append((Reason.PAYLOAD_MISMATCH, "the event has no stored payload"))
    return found + mismatches


def _check_tables(reader: _Reader) -> Iterator[Problem]:
    """What only a look across whole tables shows."""
    for seq, oid, version in reader.rows(
        f"SELECT seq, originator_id, originator_version FROM {LEAVES_TABLE} "
        "WHERE seq < 0 ORDER BY seq"
    ):
        yield Problem(
            Reason.SEQ_OUT_OF_RANGE,
            seq,
            _uuid_text(oid),
            version,
            "a leaf stored before seq 0 is outside the log",
        )
    for oid, version in reader.rows(
        f"SELECT e.originator_id, e.originator_version FROM {EVENTS_TABLE} e "
        f"LEFT JOIN {LEAVES_TABLE} l ON e.originator_id = l.originator_id "
        "AND e.originator_version = l.originator_version WHERE l.seq IS NULL "
        "ORDER BY e.originator_id, e.originator_version"
    ):
        yield Problem(Reason.MISSING_LEAF, None, _uuid_text(oid), version, "the event has no leaf")
    for seq, oid, version in reader.rows(
        f"SELECT l.seq, l.originator_id, l.originator_version FROM {LEAVES_TABLE} l JOIN "
        f"(SELECT originator_id, originator_version, MIN(seq) AS first FROM {LEAVES_TABLE} "
        "GROUP BY originator_id, originator_version HAVING COUNT(*) > 1) d "
        "ON l.originator_id = d.originator_id AND l.originator_version = d.originator_version "
        "WHERE l.seq > d.first ORDER BY l.seq"
    ):
        yield Problem(
            Reason.DUPLICATE_LEAF,
            seq,
            _uuid_text(oid),
            version,
            "an earlier leaf already stands for this event",
        )
    for oid, version, previous in reader.rows(
        "SELECT originator_id, originator_version, previous FROM ("
        "SELECT originator_id, originator_version, LAG(originator_version) OVER "
        "(PARTITION BY originator_id ORDER BY originator_version) AS previous "
        f"FROM {EVENTS_TABLE}) v WHERE (previous IS NULL AND originator_version <> 1) "
        "OR originator_version <> previous + 1 ORDER BY originator_id, originator_version"
    ):
        after = previous if previous is not None else 0
        yield Problem(
            Reason.VERSION_GAP,
            None,
            _uuid_text(oid),
            version,
            f"versions {after + 1} to {version - 1} of the aggregate are missing",
        )


_worker: tuple[_Reader, dict[str, VerifierKey], Path | None] | None = None


def _start_worker(url: str, key_lines: str, documents: Path | None) -> None:
    global _worker
    _worker = (_Reader(DatabaseURL.parse(url)), parse_verifier_keys(key_lines), documents)


def _work(bounds: tuple[int, int, int | None]) -> _RangeResult:
    assert _worker is not None
    reader, keys, documents = _worker
    start, stop, kept_size = bounds
    return _check_range(reader, keys, start, stop, documents is not None, kept_size)


def _ranges(end: int, jobs: int) -> list[tuple[int, int]]:
    """The ranges of seqs 0..end the jobs check: each a power of two of leaves long (its
    start a multiple of it, as `_Subtree` needs), about four a job, 1,024 to 16,384."""
    if jobs == 1:
        chunk = MAX_CHUNK
    else:
        wanted = max(MIN_CHUNK, min(MAX_CHUNK, (end + 1) // (jobs * 4) + 1))
        chunk = 1 << (wanted.bit_length() - 1)
    return [(start, min(start + chunk, end + 1)) for start in range(0, end + 1, chunk)]


def _start_method() -> str:
    """Workers are forked where that is safe (Linux): started in milliseconds with this
    process's modules, not a new interpreter each that imports them again (a spawned
    worker took 0.3 s of CPU and up to a second, longer than a small log's whole check)."""
    methods = multiprocessing.get_all_start_methods()
    return "fork" if sys.platform == "linux" and "fork" in methods else "spawn"


def _work_on_document(sha256: str) -> tuple[str, tuple[Reason, str] | None]:
    assert _worker is not None
    directory = _worker[2]
    assert directory is not None
    return sha256, document_problem(directory, sha256)


def verify_database(
    url: DatabaseURL,
    keys: Mapping[str, VerifierKey],
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    against: KeptEvidence | None = None,
    documents: Path | None = None,
) -> Report:
    """Check the whole stored log; `progress` hears how many leaves each step checked.

    `against` is a checkpoint (and, from a bundle, its leaves) that an auditor kept: the
    log must still hold exactly those leaves, so a truncated or rewritten history shows.
    `documents` is the directory of the documents the payloads name (`documents/` in the
    data directory): each must be there and hash to what the log says.
    """
    report = Report()
    named: dict[str, _Naming] = {}
    personal = _PersonalFound()
    with_documents = documents is not None
    kept_size = against.checkpoint.size if against is not None else None
    reader = _Reader(url)
    try:
        ((max_seq, leaf_count),) = reader.rows(f"SELECT MAX(seq), COUNT(*) FROM {LEAVES_TABLE}")
        ((report.events,),) = reader.rows(f"SELECT COUNT(*) FROM {EVENTS_TABLE}")
        if on_total:
            on_total(leaf_count)
        bounds = [(*b, kept_size) for b in _ranges(-1 if max_seq is None else max_seq, jobs)]
        # The tree is folded from each range's subtree, in seq order; its problems are
        # reported after those over whole tables.
        tree = _TreeCheck(reader, keys, against)
        if jobs == 1:
            results: Iterator[_RangeResult] = (
                _check_range(reader, keys, *b[:2], with_documents, kept_size) for b in bounds
            )
            _collect(report, results, progress, named, personal, tree)
            if documents is not None:
                checked: Iterable[tuple[str, tuple[Reason, str] | None]] = (
                    (sha256, document_problem(documents, sha256)) for sha256 in named
                )
                report.problems.extend(
                    _document_problems(report, named, checked, personal.documents())
                )
            _account_for_redactions(reader, report, personal)
            report.problems.extend(_personal_problems(reader, report, personal, documents))
            report.problems.extend(_check_tables(reader))
            report.problems.extend(tree.finish(reader))
        else:
            key_lines = "\n".join(key.line() for key in keys.values())
            context = multiprocessing.get_context(_start_method())
            # The checks over whole tables run in a thread of this process beside the
            # workers' ranges (SQL: the database does them while the thread waits), not
            # after them with every worker idle; the tree is the workers' subtrees folded.
            with (
                context.Pool(jobs, _start_worker, (url.url, key_lines, documents)) as pool,
                ThreadPoolExecutor(1) as thread,
            ):
                tables = thread.submit(_check_tables_apart, url)
                _collect(report, pool.imap(_work, bounds), progress, named, personal, tree)
                if documents is not None:
                    checked = pool.imap(_work_on_document, list(named), chunksize=16)
                    report.problems.extend(
                        _document_problems(report, named, checked, personal.documents())
                    )
                _account_for_redactions(reader, report, personal)
                report.problems.extend(_personal_problems(reader, report, personal, documents))
                report.problems.extend(tables.result())
                report.problems.extend(tree.finish(reader))
    finally:
        reader.close()
    return report


def _check_tables_apart(url: DatabaseURL) -> list[Problem]:
    """The checks over whole tables, on a connection of their own (a connection belongs
    to the thread that opened it)."""
    reader = _Reader(url)
    try:
        return list(_check_tables(reader))
    finally:
        reader.close()


def _stored_roots(reader: _Reader, after: int = -1) -> Iterator[tuple[int, bytes]]:
    """The stored checkpoints' (size, root) past size `after`, smallest first, a page at a
    time."""
    while True:
        page = reader.rows(
            f"SELECT size, root FROM {CHECKPOINTS_TABLE} WHERE size > {reader.p} "
            f"ORDER BY size LIMIT {reader.p}",
            (after, PAGE_SIZE),
        )
        yield from ((size, bytes(root)) for size, root in page)
        if len(page) < PAGE_SIZE:
            return
        after = page[-1][0]


def _check_checkpoints(
    reader: _Reader, keys: Mapping[str, VerifierKey], against: KeptEvidence | None
) -> list[Problem]:
    """Every stored checkpoint's root must be the root of the leaves it counts, and the
    newest must carry a signature by a trusted key; a kept checkpoint must still hold."""
    return _TreeCheck(reader, keys, against).finish(reader)


class _TreeCheck:
    """`_check_checkpoints` as the leaves pass by in `seq` order from 0: one at a time
    (`add`), or folded from the subtrees of the ranges the jobs checked (`add_subtree`), so
    the leaves are read once, not twice; `finish` reads those it was not handed (all of
    them, or any written since) and reports. Folded from subtrees, it tells only that all
    holds: a tree that does not hold is checked again leaf by leaf, which names each
    problem as it always has."""

    def __init__(
        self, reader: _Reader, keys: Mapping[str, VerifierKey], against: KeptEvidence | None
    ) -> None:
        self.problems: list[Problem] = list(_newest_checkpoint_problems(reader, keys))
        self._newest_problems = len(self.problems)
        self._keys = keys
        self._against = against
        self._stored = _stored_roots(reader)
        self._next_stored = next(self._stored, None)
        self._kept_size = against.checkpoint.size if against is not None else None
        self._kept_leaves = iter(against.leaves) if against and against.leaves is not None else None
        self._builder = merkle.RootBuilder()
        self._first_rewritten: int | None = None
        self._first_mismatch = 0
        self._mismatches = 0
        self.gap = False
        self._folded = False

    def add_subtree(self, subtree: _Subtree) -> None:
        """The next range's subtree in `seq` order: each root it names is its folded root
        under the peaks of the leaves before it."""
        builder = self._builder
        if self.gap or subtree.gap or subtree.start != builder.size:
            self.gap = True
            return
        self._folded = True
        self._kept_leaves = None  # compared only when the tree is checked leaf by leaf
        against = self._against
        stack = builder._stack
        for size, stored, folded in subtree.roots:
            h = folded
            for _, left in reversed(stack):
                h = merkle.node_hash(left, h)
            if stored is not None and stored != h:
                self._first_mismatch = self._first_mismatch or size
                self._mismatches += 1
            elif stored is None and against is not None and against.checkpoint.root != h:
                self._first_rewritten = -1  # only that it fails; the leaf check names it
        for size, h in subtree.peaks:
            builder.append_subtree(size, h)

    def add(self, seq: int, leaf: bytes) -> None:
        """The next leaf in `seq` order; past a gap no root means anything, so none is used
        (the range check reports the gap)."""
        builder = self._builder
        if self.gap or seq != builder.size:
            self.gap = True
            return
        if self._kept_leaves is not None and self._first_rewritten is None:
            kept = next(self._kept_leaves, None)
            if kept is not None and kept != leaf:
                self._first_rewritten = seq
        builder.append_hash(merkle.leaf_hash(leaf))
        next_stored = self._next_stored
        while next_stored is not None and next_stored[0] < builder.size:
            next_stored = next(self._stored, None)  # sizes the log never had, e.g. 0
        if next_stored is not None and next_stored[0] == builder.size:
            if next_stored[1] != builder.root():
                self._first_mismatch = self._first_mismatch or builder.size
                self._mismatches += 1
            next_stored = next(self._stored, None)
        self._next_stored = next_stored
        against = self._against
        if (
            against is not None
            and builder.size == self._kept_size
            and against.checkpoint.root != builder.root()
        ):
            detail = f"the first {self._kept_size} leaves no longer hash to the checkpoint you kept"
            if self._first_rewritten is not None:
                detail += f"; the first changed leaf is seq {self._first_rewritten}"
            self.problems.append(
                Problem(Reason.REWRITTEN_HISTORY, self._first_rewritten, None, None, detail)
            )

    def finish(self, reader: _Reader) -> list[Problem]:
        p = reader.p
        if self._folded:  # the checkpoints past the folded ranges, for leaves written since
            self._stored = _stored_roots(reader, after=self._builder.size)
            self._next_stored = next(self._stored, None)
        after = self._builder.size - 1
        while not self.gap:
            page = reader.rows(
                f"SELECT seq, leaf FROM {LEAVES_TABLE} WHERE seq > {p} ORDER BY seq LIMIT {p}",
                (after, PAGE_SIZE),
            )
            for seq, leaf in page:
                self.add(seq, bytes(leaf))
                if self.gap:
                    break
            if len(page) < PAGE_SIZE:
                break
            after = page[-1][0]
        problems = self.problems
        size = self._builder.size
        if self._mismatches:
            later = f" (and {self._mismatches - 1} later ones)" if self._mismatches > 1 else ""
            problems.append(
                Problem(
                    Reason.CHECKPOINT_ROOT_MISMATCH,
                    None,
                    None,
                    None,
                    f"the stored checkpoint of size {self._first_mismatch}{later} is not the "
                    "root of the stored leaves",
                )
            )
        ((largest,),) = reader.rows(f"SELECT MAX(size) FROM {CHECKPOINTS_TABLE}")
        if largest is not None and largest > size and not self.gap:
            problems.append(
                Problem(
                    Reason.TRUNCATED,
                    size,
                    None,
                    None,
                    f"stored checkpoints cover {largest} leaves; the log holds {size}",
                )
            )
        kept_size, first_rewritten = self._kept_size, self._first_rewritten
        if self._folded and (
            self.gap
            or len(problems) > self._newest_problems
            or first_rewritten is not None
            or (kept_size is not None and kept_size > size)
        ):
            return _check_checkpoints(reader, self._keys, self._against)
        if kept_size is not None and kept_size > size:
            if first_rewritten is not None:
                problems.append(
                    Problem(
                        Reason.REWRITTEN_HISTORY,
                        first_rewritten,
                        None,
                        None,
                        f"the leaves from seq {first_rewritten} on are not the ones in the "
                        "bundle you kept",
                    )
                )
            problems.append(
                Problem(
                    Reason.TRUNCATED,
                    size,
                    None,
                    None,
                    f"the log holds {size} leaves; the checkpoint you kept covers {kept_size}",
                )
            )
        return problems


def _newest_checkpoint_problems(
    reader: _Reader, keys: Mapping[str, VerifierKey]
) -> Iterator[Problem]:
    """The newest stored checkpoint must open with a trusted key and say its own size."""
    newest = reader.rows(f"SELECT size, note FROM {CHECKPOINTS_TABLE} ORDER BY size DESC LIMIT 1")
    if not newest:
        return
    size, note = newest[0]
    try:
        checkpoint = open_checkpoint(note, keys)
    except NoteError as error:
        yield Problem(
            STORED_CHECKPOINT[error.reason],
            None,
            None,
            None,
            f"the newest checkpoint (size {size}): {error}",
        )
        return
    if checkpoint.size != size:
        yield Problem(
            Reason.CHECKPOINT_MISMATCH,
            None,
            None,
            None,
            f"the stored note says size {checkpoint.size}",
        )


def _collect(
    report: Report,
    results: Iterator[_RangeResult],
    progress: Callable[[int], None] | None,
    named: dict[str, _Naming],
    personal: "_PersonalFound",
    tree: _TreeCheck,
) -> None:
    for result in results:
        if result.subtree is not None:
            tree.add_subtree(result.subtree)
        report.leaves += result.leaves
        report.problems.extend(result.problems)
        personal.events.extend(result.personal)
        personal.erasures.extend(result.erasures)
        for sha256, naming in result.documents.items():  # ranges arrive in seq order
            first = named.get(sha256)
            if first is None:
                named[sha256] = naming
            else:
                first.events += naming.events
        if progress:
            progress(result.leaves)


def _document_problems(
    report: Report,
    named: Mapping[str, _Naming],
    checked: Iterable[tuple[str, tuple[Reason, str] | None]],
    erased: frozenset[str] = frozenset(),
) -> Iterator[Problem]:
    """A problem for each named document that is not there as the log names it, at the
    first event that names it; a document an erasure event names is meant to be gone."""
    found = []
    for sha256, problem in checked:
        report.documents += 1
        if problem is None or (problem[0] == Reason.DOCUMENT_MISSING and sha256 in erased):
            continue
        naming = named[sha256]
        reason, detail = problem
        also = naming.events - 1
        later = f"; {also} later event{'s' * (also != 1)} name it too" if also else ""
        found.append(
            Problem(
                reason,
                naming.seq,
                naming.originator_id,
                naming.originator_version,
                f"{naming.member}: {detail}{later}",
            )
        )
    yield from sorted(found, key=lambda p: (p.seq or 0, p.detail))


@dataclass
class _PersonalFound:
    """The committed personal values and the erasure events of the whole log."""

    events: list[_Personal] = field(default_factory=list)
    erasures: list[Erasure] = field(default_factory=list)

    def documents(self) -> frozenset[str]:
        return frozenset(sha256 for erasure in self.erasures for sha256 in erasure.documents)


def _account_for_redactions(reader: _Reader, report: Report, found: _PersonalFound) -> None:
    """A format 1 payload that no longer hashes to its leaf holds only when a later erasure
    names the SHA-256 of the redacted payload stored (the `payload-mismatch` is then no
    problem); an erasure naming a redaction whose payload was left as it was is
    `erasure-incomplete`."""
    redactions = {
        seq: (erasure.seq, digest)
        for erasure in found.erasures
        for seq, digest in erasure.redacted.items()
        if seq < erasure.seq
    }
    if not redactions:
        return
    stored: dict[int, str | None] = {}
    for seq in redactions:
        rows = reader.rows(
            f"SELECT e.state FROM {LEAVES_TABLE} l JOIN {EVENTS_TABLE} e "
            "ON e.originator_id = l.originator_id AND e.originator_version = l.originator_version "
            f"WHERE l.seq = {reader.p}",
            (seq,),
        )
        state = rows[0][0] if rows else None
        stored[seq] = None if state is None else hashlib.sha256(bytes(state)).hexdigest()
    mismatched = {p.seq for p in report.problems if p.reason == Reason.PAYLOAD_MISMATCH}
    kept = []
    for problem in report.problems:
        if (
            problem.reason == Reason.PAYLOAD_MISMATCH
            and problem.seq in redactions
            and stored.get(problem.seq) == redactions[problem.seq][1]
        ):
            report.redacted += 1
            continue
        kept.append(problem)
    report.problems[:] = kept
    for seq, (erasure_seq, digest) in sorted(redactions.items()):
        if seq not in mismatched and stored.get(seq) is not None and stored[seq] != digest:
            report.problems.append(
                Problem(
                    Reason.ERASURE_INCOMPLETE,
                    erasure_seq,
                    None,
                    None,
                    f"it redacted the payload of seq {seq}, which is still stored as it was",
                )
            )


def _table_exists(reader: _Reader, table: str) -> bool:
    if reader.url.is_sqlite:
        statement = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        statement = "SELECT to_regclass(%s)"
    rows = reader.rows(statement, (table,))
    return bool(rows) and rows[0][0] is not None


def _personal_problems(
    reader: _Reader, report: Report, found: _PersonalFound, documents: Path | None
) -> Iterator[Problem]:
    """Section 10.6: each committed value opened by its stored opening or erased by an
    erasure event; each erasure carried out, and what it erased readable nowhere else."""
    openings: dict[str, tuple[str, str | None, str | None]] = {}
    if found.events and _table_exists(reader, PERSONAL_DATA_TABLE):
        for commitment, field_name, key, value in reader.rows(
            f"SELECT commitment, field, opening_key, opening_value FROM {PERSONAL_DATA_TABLE}"
        ):
            openings[commitment] = (field_name, key, value)
    erasures = sorted(found.erasures, key=lambda erasure: erasure.seq)
    still_there: list[tuple[_Personal, Committed]] = []
    # The erasures by time that account for an opening whose row is gone: readers find them
    # by their row in TIME_ERASURES_TABLE.
    took_by_time: set[int] = set()
    # The search index's person columns whose UUID an erasure took away, by seq.
    erased_people: dict[int, set[int]] = {}
    for event in found.events:
        for committed in event.committed:
            report.personal += 1
            where = (event.seq, event.originator_id, event.originator_version)
            stored = openings.get(committed.commitment)
            if stored is not None and stored[1] is not None:
                if not _opens(committed, stored):
                    yield Problem(
                        Reason.COMMITMENT_MISMATCH,
                        *where,
                        f"{committed.field}: the stored opening does not open its commitment",
                    )
                still_there.append((event, committed))
                continue
            erasure = covering(erasures, event.seq, committed.field, event.happened, event.topic)
            if erasure is None:
                yield Problem(
                    Reason.PERSONAL_DATA_MISSING,
                    *where,
                    f"{committed.field}: no opening is stored and no erasure event erased it",
                )
                continue
            report.erased += 1
            if stored is None and erasure.before is not None:
                took_by_time.add(erasure.seq)  # no row of the opening names its erasure
            column = _INDEX_COLUMN.get(committed.field)
            if column is not None:
                erased_people.setdefault(event.seq, set()).add(column)
    for event, committed in still_there:
        erasure = covering(erasures, event.seq, committed.field, event.happened, event.topic)
        if erasure is not None:
            yield Problem(
                Reason.ERASURE_INCOMPLETE,
                erasure.seq,
                None,
                None,
                f"it erased {committed.field} of seq {event.seq}, whose opening is still stored",
            )
    if documents is not None:
        for erasure in erasures:
            for sha256 in sorted(erasure.documents):
                if document_path(documents, sha256).exists():
                    yield Problem(
                        Reason.ERASED_DATA_READABLE,
                        erasure.seq,
                        None,
                        None,
                        f"the document {sha256} it erased is still in the documents directory",
                    )
    yield from _time_erasure_problems(reader, erasures, took_by_time)
    if erased_people and _table_exists(reader, EVENT_INDEX_TABLE):
        for seq, *people in reader.rows(
            f"SELECT seq, actor_uuid, subject_uuid FROM {EVENT_INDEX_TABLE} "
            "WHERE actor_uuid IS NOT NULL OR subject_uuid IS NOT NULL ORDER BY seq"
        ):
            if any(people[column] is not None for column in erased_people.get(seq, ())):
                yield Problem(
                    Reason.ERASED_DATA_READABLE,
                    seq,
                    None,
                    None,
                    "the search index still holds the UUID of the person erased from it",
                )


def _time_erasure_problems(
    reader: _Reader, erasures: list[Erasure], took: set[int]
) -> Iterator[Problem]:
    """Each row of TIME_ERASURES_TABLE, where the pages find which erasure took a value
    whose opening is gone, as its erasure event states it (section 10.3); each erasure by
    time that took openings, with its row. Otherwise `erasure-record-mismatch`: the pages
    name the wrong erasure, or none."""
    rows: dict[int, tuple[str, str, str, str]] = {}
    if _table_exists(reader, TIME_ERASURES_TABLE):
        rows = {
            int(seq): (rule, kind, cutoff, erased_at)
            for seq, rule, kind, cutoff, erased_at in reader.rows(
                f"SELECT seq, rule, kind, cutoff, erased_at FROM {TIME_ERASURES_TABLE}"
            )
        }
    by_seq = {erasure.seq: erasure for erasure in erasures if erasure.before is not None}

    def mismatch(seq: int, detail: str) -> Problem:
        return Problem(Reason.ERASURE_RECORD_MISMATCH, seq, None, None, detail)

    for seq in sorted(rows.keys() | took):
        row, erasure = rows.get(seq), by_seq.get(seq)
        if row is None:
            yield mismatch(seq, f"no row of {TIME_ERASURES_TABLE} names this erasure by time")
        elif erasure is None:
            yield mismatch(
                seq, f"a row of {TIME_ERASURES_TABLE} names seq {seq}, no erasure by time"
            )
        elif (row[0], row[1]) != (erasure.rule, erasure.rule) or not (
            _same_moment(row[2], erasure.before) and _same_moment(row[3], erasure.recorded)
        ):
            yield mismatch(seq, f"its row of {TIME_ERASURES_TABLE} differs from the event")


def _same_moment(text: str, moment: datetime | None) -> bool:
    try:
        return moment is not None and datetime.fromisoformat(text) == moment
    except ValueError:
        return False


# The search index's columns (0 actor_uuid, 1 subject_uuid) that hold a field's UUID.
_INDEX_COLUMN = {"actor.person_uuid": 0, "person_uuid": 1}


def _opens(committed: Committed, stored: tuple[str, str | None, str | None]) -> bool:
    field_name, key, value = stored
    if field_name != committed.field or key is None or value is None:
        return False
    try:
        return opens(bytes.fromhex(key), committed.field, json.loads(value), committed.commitment)
    except ValueError:
        return False
