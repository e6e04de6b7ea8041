"""Merkle tree building, proofs, and evidence-bundle verification, each next to a baseline.

Tree: `complete_subtrees` over every leaf hash into an in-memory dict store, plus `root`,
against a plain level-by-level RFC 6962 tree over the same leaf hashes (lists of
`hashlib.sha256` node hashes, the same complete subtrees, no store), which is what one would
write by hand.

Proofs: inclusion proofs (random leaf indices) and consistency proofs (random old sizes)
against the full tree, generated through the `read` callback from the in-memory dict store
(a database adds its own read cost on top) and verified with the RFC 9162 algorithms.
Inclusion verification is held against its hashing floor: the same SHA-256 calls over the
same bytes (one leaf hash and one node hash per proof step) with no logic around them.

Bundles: a full bundle of realistic signed, chained leaves (about 300-byte payloads) is
written once with `BundleWriter`; then `verify_bundle(..., signatures=False)` is held against
`hashlib.sha256` over every line of the same `entries.jsonl` and `payloads.jsonl`, and
`verify_bundle(..., signatures=True)` on a smaller full bundle (the first leaves of the same
log) against raw `cryptography` Ed25519 verification of exactly the same (message, signature)
pairs on one core.

Each round runs every measure, baseline first and ours right after (A B A B ...), after one
warm-up round; figures are medians over the rounds and each ratio is the median of the
per-round ratios, so that drift on a shared machine hits both sides of every ratio alike.

    .venv/bin/python bench/proofs.py [--quick] [--rounds N]
"""

import sys
from pathlib import Path

# `python bench/NAME.py` puts bench/ first on sys.path, where bench/http.py would stand in for
# the standard library's http; the repository goes there instead (common is bench.common).
sys.path[0] = str(Path(__file__).resolve().parents[1])

import dataclasses
import gc
import hashlib
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench.common import (
    Series,
    paired_ratio,
    parse_arguments,
    peak_rss_mib,
    summary_line,
    timed,
    verdict,
)
from ledger.evidence import merkle
from ledger.evidence.bundle import (
    ENTRIES_FILE,
    PAYLOADS_FILE,
    BundleWriter,
    verify_bundle,
)
from ledger.evidence.keys import SigningKey, VerifierKey
from ledger.evidence.leaf import GENESIS_PREV, parse_leaf, rfc3339, sign_leaf
from ledger.evidence.note import Checkpoint, sign_note

ORIGIN = "bench.example/ledger"
PAYLOAD_BYTES = 300
EVENTS_PER_AGGREGATE = 4
TOPICS = (
    "ledger.domain:Document.Submitted",
    "ledger.domain:Document.Reviewed",
    "ledger.domain:Document.Approved",
    "ledger.domain:Document.Archived",
)
SEED = 6962
GOALS: dict[str, float | None] = {
    "bundle_unsigned": 0.5,
    "bundle_signed": 0.85,
    "build_tree": None,
    "inclusion_verify": None,
}


@dataclass(frozen=True)
class Sizes:
    rounds: int
    leaves: int
    signed_leaves: int
    inclusion_proofs: int
    consistency_proofs: int


QUICK = Sizes(
    rounds=5, leaves=40_000, signed_leaves=4_000, inclusion_proofs=2_000, consistency_proofs=2_000
)
FULL = Sizes(
    rounds=5,
    leaves=1_000_000,
    signed_leaves=50_000,
    inclusion_proofs=20_000,
    consistency_proofs=20_000,
)


def dict_reader(store: dict[merkle.Node, bytes]) -> merkle.NodeReader:
    """The `read` callback over an in-memory store: the stored hashes among those asked for."""

    def read(nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
        return {node: store[node] for node in nodes if node in store}

    return read


# The log: signed, chained leaves written into two full bundles


@dataclass
class Log:
    """What the bench keeps of the generated log (the leaves themselves stay on disk)."""

    key: SigningKey
    verifier: VerifierKey
    leaf_hashes: list[bytes]
    root: bytes
    signed_root: bytes
    sample: dict[int, bytes]  # leaves at the indices whose inclusion is proved
    full_bundle: Path
    signed_bundle: Path
    leaf_bytes: int
    payload_bytes: int
    bundle_mib: float
    seconds: float


def make_payload(rng: random.Random, seq: int) -> bytes:
    """An event's stored bytes: JSON of about PAYLOAD_BYTES, different for every event."""
    head = {"seq": seq, "decision": rng.choice(("approved", "rejected", "returned"))}
    prefix = json.dumps(head, separators=(",", ":"))[:-1] + ',"comment":"'
    filler = PAYLOAD_BYTES - len(prefix) - 2
    return (prefix + rng.randbytes(filler // 2 + 1).hex()[:filler] + '"}').encode()


def write_checkpoint(writer: BundleWriter, key: SigningKey, size: int, root: bytes) -> None:
    writer.write("checkpoint", sign_note(Checkpoint(ORIGIN, size, root).text(), [key]))
    writer.write("keys", key.verifier_key.line() + "\n")
    writer.close()


def generate_log(workdir: Path, sizes: Sizes, sample_indices: set[int]) -> Log:
    """Sign and chain `sizes.leaves` leaves with `sign_leaf`, writing both bundles as we go."""
    started = time.perf_counter()
    rng = random.Random(SEED)
    key = SigningKey.generate(ORIGIN)
    full_path, signed_path = workdir / "full-bundle", workdir / "signed-bundle"
    full, signed = BundleWriter(full_path), BundleWriter(signed_path)
    builder = merkle.RootBuilder()
    leaf_hashes: list[bytes] = []
    sample: dict[int, bytes] = {}
    prev, originator, signed_root = GENESIS_PREV, "", b""
    epoch = datetime(2026, 11, 29, 7, 15, tzinfo=UTC)
    leaf_lengths, payload_lengths = [], []
    for seq in range(sizes.leaves):
        version = seq % EVENTS_PER_AGGREGATE + 1
        if version == 1:
            originator = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        payload = make_payload(rng, seq)
        leaf = sign_leaf(
            seq=seq,
            originator_id=originator,
            originator_version=version,
            topic=TOPICS[version - 1],
            payload=payload,
            prev=prev,
            recorded_at=rfc3339(epoch + timedelta(milliseconds=37 * seq)),
            key=key,
        )
        prev = hashlib.sha256(leaf).hexdigest()
        hashed = merkle.leaf_hash(leaf)
        leaf_hashes.append(hashed)
        builder.append_hash(hashed)
        full.entry(leaf, payload, seq)
        if seq < sizes.signed_leaves:
            signed.entry(leaf, payload, seq)
            if seq == sizes.signed_leaves - 1:
                signed_root = builder.root()
        if seq in sample_indices:
            sample[seq] = leaf
        if seq % 997 == 0:
            leaf_lengths.append(len(leaf))
            payload_lengths.append(len(payload))
    root = builder.root()
    write_checkpoint(full, key, sizes.leaves, root)
    write_checkpoint(signed, key, sizes.signed_leaves, signed_root)
    on_disk = sum(f.stat().st_size for f in full_path.iterdir())
    return Log(
        key=key,
        verifier=key.verifier_key,
        leaf_hashes=leaf_hashes,
        root=root,
        signed_root=signed_root,
        sample=sample,
        full_bundle=full_path,
        signed_bundle=signed_path,
        leaf_bytes=int(statistics.median(leaf_lengths)),
        payload_bytes=int(statistics.median(payload_lengths)),
        bundle_mib=on_disk / 2**20,
        seconds=time.perf_counter() - started,
    )


# Tree building


def build_store(leaf_hashes: list[bytes]) -> tuple[dict[merkle.Node, bytes], bytes]:
    """Ours: every complete subtree into a fresh dict store, then the root read back from it."""
    store: dict[merkle.Node, bytes] = {}
    read = dict_reader(store)
    store.update(merkle.complete_subtrees(leaf_hashes, 0, read))
    return store, merkle.root(len(leaf_hashes), read)


def plain_tree_root(leaf_hashes: list[bytes]) -> bytes:
    """Baseline: RFC 6962 level by level with hashlib, keeping every level (the same nodes)."""
    sha256 = hashlib.sha256
    levels = [leaf_hashes]
    level = leaf_hashes
    while len(level) > 1:
        level = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        levels.append(level)
    size = len(leaf_hashes)
    peaks, start = [], 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            peaks.append(levels[height][start >> height])
            start += 1 << height
    root = peaks[-1]
    for left in reversed(peaks[:-1]):
        root = sha256(b"\x01" + left + root).digest()
    return root


def build_rate(leaf_hashes: list[bytes], root: bytes) -> float:
    def build() -> int:
        _, built = build_store(leaf_hashes)
        if built != root:
            raise RuntimeError("the stored tree does not have the log's root")
        return len(leaf_hashes)

    return timed(build)


def plain_build_rate(leaf_hashes: list[bytes], root: bytes) -> float:
    def build() -> int:
        if plain_tree_root(leaf_hashes) != root:
            raise RuntimeError("the plain tree does not have the log's root")
        return len(leaf_hashes)

    return timed(build)


# Proofs


@dataclass(frozen=True)
class ProofFixture:
    read: merkle.NodeReader
    size: int
    root: bytes
    sample: dict[int, bytes]
    indices: list[int]
    old_sizes: list[int]
    old_roots: dict[int, bytes]
    inclusion: dict[int, list[bytes]]
    consistency: dict[int, list[bytes]]


def make_proof_fixture(log: Log, store: dict[merkle.Node, bytes], sizes: Sizes) -> ProofFixture:
    rng = random.Random(SEED + 1)
    read = dict_reader(store)
    size = len(log.leaf_hashes)
    indices = sorted(log.sample)
    rng.shuffle(indices)
    old_sizes = [rng.randrange(1, size) for _ in range(sizes.consistency_proofs)]
    return ProofFixture(
        read=read,
        size=size,
        root=log.root,
        sample=log.sample,
        indices=indices,
        old_sizes=old_sizes,
        old_roots={old: merkle.root(old, read) for old in old_sizes},
        inclusion={i: merkle.inclusion_proof(i, size, read) for i in indices},
        consistency={old: merkle.consistency_proof(old, size, read) for old in old_sizes},
    )


def inclusion_generation_rate(f: ProofFixture) -> float:
    def generate() -> int:
        for index in f.indices:
            merkle.inclusion_proof(index, f.size, f.read)
        return len(f.indices)

    return timed(generate)


def inclusion_verification_rate(f: ProofFixture) -> float:
    def verify() -> int:
        for index in f.indices:
            merkle.verify_inclusion(index, f.size, f.sample[index], f.inclusion[index], f.root)
        return len(f.indices)

    return timed(verify)


def inclusion_hashing_floor_rate(f: ProofFixture) -> float:
    """The SHA-256 calls an inclusion check cannot avoid, over the same bytes, nothing else."""
    sha256 = hashlib.sha256
    work = [(f.sample[i], f.inclusion[i]) for i in f.indices]

    def hash_only() -> int:
        for leaf, proof in work:
            h = sha256(b"\x00" + leaf).digest()
            for sibling in proof:
                h = sha256(b"\x01" + sibling + h).digest()
        return len(work)

    return timed(hash_only)


def consistency_generation_rate(f: ProofFixture) -> float:
    def generate() -> int:
        for old in f.old_sizes:
            merkle.consistency_proof(old, f.size, f.read)
        return len(f.old_sizes)

    return timed(generate)


def consistency_verification_rate(f: ProofFixture) -> float:
    def verify() -> int:
        for old in f.old_sizes:
            merkle.verify_consistency(old, f.size, f.old_roots[old], f.root, f.consistency[old])
        return len(f.old_sizes)

    return timed(verify)


# Bundles


def line_hash_rate(bundle: Path, events: int) -> float:
    """Baseline: hashlib.sha256 over every line of entries.jsonl and payloads.jsonl."""
    sha256 = hashlib.sha256

    def hash_lines() -> int:
        for name in (ENTRIES_FILE, PAYLOADS_FILE):
            with (bundle / name).open("rb") as file:
                for line in file:
                    sha256(line).digest()
        return events

    return timed(hash_lines)


def bundle_rate(bundle: Path, keys: dict[str, VerifierKey], events: int, signatures: bool) -> float:
    def verify() -> int:
        report = verify_bundle(bundle, keys, signatures=signatures)
        if not report.ok or report.entries != events or report.payloads != events:
            raise RuntimeError(f"the bench bundle does not verify: {report.summary()}")
        return report.entries

    return timed(verify)


def signed_pairs(bundle: Path) -> list[tuple[bytes, bytes]]:
    with (bundle / ENTRIES_FILE).open("rb") as file:
        signed = [parse_leaf(line.rstrip(b"\n")) for line in file]
    return [(s.message, s.signature) for s in signed]


def raw_verify_rate(public_key: Ed25519PublicKey, pairs: list[tuple[bytes, bytes]]) -> float:
    verify = public_key.verify

    def verify_all() -> int:
        for message, signature in pairs:
            verify(signature, message)
        return len(pairs)

    return timed(verify_all)


def _fresh_verify(bundle: str, key_line: str, signatures: bool) -> float:
    """In a fresh interpreter: verify the bundle once, return the process's peak RSS in MiB."""
    verifier = VerifierKey.parse(key_line)
    report = verify_bundle(Path(bundle), {verifier.kid: verifier}, signatures=signatures)
    if not report.ok:
        raise RuntimeError(report.summary())
    # Linux keeps ru_maxrss across exec, so a spawned child would report its parent's peak;
    # VmHWM is the peak of this process image alone.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_verify_peak_rss(bundle: Path, verifier: VerifierKey) -> float:
    """What an auditor's process peaks at verifying the full bundle (and importing the ledger)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_fresh_verify, (str(bundle), verifier.line(), False))


# The run


def traced_build(leaf_hashes: list[bytes]) -> tuple[dict[merkle.Node, bytes], float, float]:
    """Build the store once under tracemalloc: the memory the dict store holds, and the
    peak while building it (MiB of Python allocations)."""
    gc.collect()
    tracemalloc.start()
    store, _ = build_store(leaf_hashes)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return store, held / 2**20, peak / 2**20


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(__doc__, argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds is not None:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-proofs-"))
    names = (
        "plain_build",
        "build",
        "incl_gen",
        "incl_floor",
        "incl_verify",
        "cons_gen",
        "cons_verify",
        "line_hash",
        "bundle_unsigned",
        "raw_ed25519",
        "bundle_signed",
    )
    series = {name: Series() for name in names}
    try:
        sample_indices = set(
            random.Random(SEED).sample(range(sizes.leaves), sizes.inclusion_proofs)
        )
        log = generate_log(workdir, sizes, sample_indices)
        store, tree_mib, build_peak_mib = traced_build(log.leaf_hashes)
        proofs = make_proof_fixture(log, store, sizes)
        keys = {log.verifier.kid: log.verifier}
        pairs = signed_pairs(log.signed_bundle)
        public_key = Ed25519PublicKey.from_public_bytes(log.verifier.public_key)
        hashes, n, n_signed = log.leaf_hashes, sizes.leaves, sizes.signed_leaves
        for round_number in range(sizes.rounds + 1):
            rates = {
                "plain_build": plain_build_rate(hashes, log.root),
                "build": build_rate(hashes, log.root),
                "incl_gen": inclusion_generation_rate(proofs),
                "incl_floor": inclusion_hashing_floor_rate(proofs),
                "incl_verify": inclusion_verification_rate(proofs),
                "cons_gen": consistency_generation_rate(proofs),
                "cons_verify": consistency_verification_rate(proofs),
                "line_hash": line_hash_rate(log.full_bundle, n),
                "bundle_unsigned": bundle_rate(log.full_bundle, keys, n, signatures=False),
                "raw_ed25519": raw_verify_rate(public_key, pairs),
                "bundle_signed": bundle_rate(log.signed_bundle, keys, n_signed, signatures=True),
            }
            if round_number > 0:  # round 0 warms up
                for name, rate in rates.items():
                    series[name].rates.append(rate)
        auditor_rss = fresh_verify_peak_rss(log.full_bundle, log.verifier)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    ratios = {
        "bundle_unsigned": paired_ratio(series["bundle_unsigned"], series["line_hash"]),
        "bundle_signed": paired_ratio(series["bundle_signed"], series["raw_ed25519"]),
        "build_tree": paired_ratio(series["build"], series["plain_build"]),
        "inclusion_verify": paired_ratio(series["incl_verify"], series["incl_floor"]),
    }
    m = {name: s.median for name, s in series.items()}
    message_bytes = int(statistics.median(len(message) for message, _ in pairs))
    figures: dict[str, Any] = {
        "leaves": n,
        "build_seconds": n / m["build"],
        "build_leaves_per_s": m["build"],
        "plain_build_leaves_per_s": m["plain_build"],
        "tree_store_mib": tree_mib,
        "tree_build_peak_mib": build_peak_mib,
        "inclusion_proofs_per_s": m["incl_gen"],
        "inclusion_verifications_per_s": m["incl_verify"],
        "inclusion_hashing_floor_per_s": m["incl_floor"],
        "consistency_proofs_per_s": m["cons_gen"],
        "consistency_verifications_per_s": m["cons_verify"],
        "line_hash_events_per_s": m["line_hash"],
        "bundle_unsigned_events_per_s": m["bundle_unsigned"],
        "signed_leaves": n_signed,
        "raw_ed25519_verify_per_s": m["raw_ed25519"],
        "bundle_signed_events_per_s": m["bundle_signed"],
        "leaf_bytes": log.leaf_bytes,
        "signed_message_bytes": message_bytes,
        "payload_bytes": log.payload_bytes,
        "bundle_mib": log.bundle_mib,
        "peak_rss_mib": peak_rss_mib(),
        "auditor_peak_rss_mib": auditor_rss,
        "rounds": sizes.rounds,
        "generate_seconds": log.seconds,
        "seconds": time.perf_counter() - started,
    }

    print(
        f"proofs{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, bundles in {tempfile.gettempdir()}; "
        f"{sizes.rounds} rounds after a warm-up, medians"
    )
    print(
        f"tree and unsigned bundle: {n:,} leaves (leaf {log.leaf_bytes} B, payload "
        f"{log.payload_bytes} B, bundle {log.bundle_mib:,.0f} MiB); signed bundle: its first "
        f"{n_signed:,} leaves (signed message {message_bytes} B), smaller to keep the run short"
    )
    print(
        f"proofs: {len(proofs.indices):,} inclusion, {len(proofs.old_sizes):,} consistency per "
        f"round against the full tree, read from an in-memory dict store (a database adds its "
        f"own read cost)"
    )
    print()
    header = f"{'measure':<46}{'baseline/s':>12}{'ours/s':>12}{'ratio':>8}{'goal':>7}  verdict"
    print(header)
    print("-" * len(header))

    def row(label: str, baseline: float | None, ours: float, key: str | None) -> None:
        if key is None or baseline is None:
            print(f"{label:<46}{'-':>12}{ours:>12,.0f}")
            return
        goal = GOALS[key]
        goal_text = f"{goal:.2f}" if goal is not None else "-"
        print(
            f"{label:<46}{baseline:>12,.0f}{ours:>12,.0f}{ratios[key]:>8.2f}{goal_text:>7}  "
            f"{verdict(ratios[key], goal)}"
        )

    row("build tree + root, leaves (vs plain levels)", m["plain_build"], m["build"], "build_tree")
    row("inclusion proofs generated", None, m["incl_gen"], None)
    row("inclusion proofs verified (vs hashing floor)", m["incl_floor"], m["incl_verify"],
        "inclusion_verify")  # fmt: skip
    row("consistency proofs generated", None, m["cons_gen"], None)
    row("consistency proofs verified", None, m["cons_verify"], None)
    row("bundle, no signatures, events (vs sha256/line)", m["line_hash"], m["bundle_unsigned"],
        "bundle_unsigned")  # fmt: skip
    row("bundle, signatures, events (vs raw Ed25519)", m["raw_ed25519"], m["bundle_signed"],
        "bundle_signed")  # fmt: skip
    print()
    print(
        f"tree build from scratch: {figures['build_seconds']:.2f} s for {n:,} leaves "
        f"(dict store of {2 * n - 1:,} hashes: {tree_mib:,.0f} MiB of Python objects held, "
        f"{build_peak_mib:,.0f} MiB at the peak of building it)"
    )
    print(
        f"peak RSS: this process {figures['peak_rss_mib']:,.0f} MiB (holds the leaf hashes and "
        f"the tree store); a fresh process verifying the {n:,}-leaf bundle "
        f"{auditor_rss:,.0f} MiB; generating the log took {log.seconds:.0f} s, "
        f"the run {figures['seconds']:.0f} s"
    )
    print(summary_line("proofs", args.quick, figures, ratios, GOALS))


if __name__ == "__main__":
    main()
